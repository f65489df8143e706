//! `earlyexit` and its short name `ee` (`src/bin/ee.rs`): the same program.

fn main() {
    std::process::exit(earlyexit::app::main(std::env::args_os().collect()))
}
