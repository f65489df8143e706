//! Inputs for the property tests of "no input reaches a panic", which sit beside the code they
//! test: texts like those users type into flags, variables and config files, and arbitrary
//! ones. `PROPTEST_CASES` sets how many inputs each property tries (256 by default; CI runs
//! more).
//!
//! May import: nothing (a leaf).

use proptest::prelude::*;

/// Texts that look like what users type (durations, numbers, URLs), and arbitrary ones.
pub fn typed_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}(\\.[0-9]{0,12})?(ms|s|m|h|d|x)?",
        "-?[0-9e.+-]{0,30}",
        "(https?|ftp)://[^ ]{0,40}",
    ]
}
