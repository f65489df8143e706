//! How a setting's text becomes its value: the two traits every key's type implements, and
//! the error that names what was expected. A leaf, so that the choices and the key table can
//! both build on it.

/// A value that does not parse as its key's type; `Display` is the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found '{found}'")]
pub struct InvalidValue {
    pub expected: String,
    pub found: String,
}

impl InvalidValue {
    pub fn new(expected: impl Into<String>, found: &str) -> InvalidValue {
        InvalidValue {
            expected: expected.into(),
            found: found.to_string(),
        }
    }
}

/// The type of a setting: how its text parses and how `telemetry status` shows it (never a
/// secret's value).
pub trait Value: Sized {
    fn parse(text: &str) -> Result<Self, InvalidValue>;
    fn show(&self) -> String;
}

/// The values shown as they print: the parse is theirs, the display the standard one.
pub trait Parse: Sized {
    fn from_text(text: &str) -> Result<Self, InvalidValue>;
}

impl<T: Parse + std::fmt::Display> Value for T {
    fn parse(text: &str) -> Result<T, InvalidValue> {
        T::from_text(text)
    }

    fn show(&self) -> String {
        self.to_string()
    }
}
