//! `earlyexit` and its short name `ee`: the same program.
//!
//! No Rust `fn main`: the C `main` below skips Rust's runtime start-up, which earlyexit does
//! not need (see [`earlyexit::app::enter`]).
#![no_main]

#[no_mangle]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    // SAFETY: the C runtime passes main `argc` valid NUL-terminated strings in `argv`.
    unsafe { earlyexit::app::enter(argc, argv) }
}
