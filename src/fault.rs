//! Injected faults, in test builds only: the integration tests prove with them that a panic
//! inside telemetry never changes the command's exit code. A release build compiles them away.
//!
//! May import: nothing (a leaf).

/// Panics here when `EARLYEXIT_TEST_PANIC` names `point` (test builds only).
#[cfg(debug_assertions)]
pub fn inject(point: &str) {
    if std::env::var("EARLYEXIT_TEST_PANIC").as_deref() == Ok(point) {
        panic!("fault injected at {point}");
    }
}

/// Nothing, in a release build.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn inject(_point: &str) {}
