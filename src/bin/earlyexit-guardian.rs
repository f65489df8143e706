//! `earlyexit-guardian GROUP`: kills process group GROUP when its standard input reaches end of
//! file, and leaves it alone when a byte arrives. earlyexit starts it beside every command; a
//! program of its own starts in a fraction of earlyexit's time (see `watch::guardian`).

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(earlyexit::watch::guardian::guard(&args))
}
