//! `earlyexit` and its short name `ee`: the same program.
//!
//! No Rust `fn main`: the C `main` below skips Rust's runtime start-up, which earlyexit does
//! not need (see [`earlyexit::app::enter`]).
#![no_main]

#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    earlyexit::app::enter()
}
