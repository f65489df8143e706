//! earlyexit's own lines on stderr. Each is written with one `write()`, so that the lines of
//! runs sharing a terminal or a CI log never interleave mid-line; `eprintln!` writes the
//! prefix, the text and the newline separately.
//!
//! May import: nothing (a leaf).

use std::fmt::Display;
use std::io::Write;

/// Writes `earlyexit: MESSAGE` and a newline in one write.
pub fn say(message: impl Display) {
    let line = format!("earlyexit: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// An error and its causes on one line (`error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer`): libraries often say what failed in the error and why in
/// its source.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let text = error.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = error.source();
    }
    line
}

/// The longest user text (a pattern) quoted whole in a message.
const QUOTED: usize = 200;

/// `text` as a message quotes it: whole when short, otherwise its start and how long it is,
/// so that a 100 KB pattern does not become a 100 KB error line.
pub fn shortened(text: &str) -> String {
    if text.len() <= QUOTED {
        return text.to_string();
    }
    let mut end = QUOTED / 2;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_shortened() {
        assert_eq!(shortened("ERROR|FAIL"), "ERROR|FAIL");
        let long = "é".repeat(200);
        let short = shortened(&long);
        assert!(short.len() < 120, "{short}");
        assert!(short.ends_with("… (400 bytes)"), "{short}");
    }
}
