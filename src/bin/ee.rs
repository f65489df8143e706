//! `ee`: the short name of `earlyexit`.

fn main() {
    std::process::exit(earlyexit::app::main(std::env::args_os().collect()))
}
