//! Private keys over several lines: a PEM block (`-----BEGIN … PRIVATE KEY-----` to its
//! `-----END`) is one secret, but scrubbing sees one matched line at a time, and a body line
//! alone names no secret. A stream's lines go through a [`PrivateKeyBlock`], which says of
//! each whether it is inside such a block, so that a matched line there is kept as
//! `[REDACTED]` whole.
//!
//! The state changes only at a `-----BEGIN` line: a reader that skips blocks of lines it has
//! no use for (see `watch`) asks [`PrivateKeyBlock::may_change`] first, a memchr-speed search.
//!
//! May import: nothing (a leaf).

/// Where a stream stands: inside a private key block or not, and for how many lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct PrivateKeyBlock {
    inside: bool,
    lines_inside: u32,
}

/// Lines a block may span before it is taken to have ended without its `-----END` line
/// (a key is some 50 lines; a log that never closes one must not hide the rest of the run).
const MAX_BLOCK_LINES: u32 = 200;

impl PrivateKeyBlock {
    /// False only when no line of `lines` (complete lines) can start a block or be inside one.
    pub fn may_change(&self, lines: &[u8]) -> bool {
        self.inside || memchr::memmem::find(lines, b"-----BEGIN").is_some()
    }

    /// Whether `line` is part of a private key block (its BEGIN and END lines included).
    pub fn line(&mut self, line: &[u8]) -> bool {
        let has = |needle: &[u8]| memchr::memmem::find(line, needle).is_some();
        if !self.inside {
            let begins = has(b"-----BEGIN") && has(b"PRIVATE KEY");
            self.inside = begins && !has(b"-----END");
            self.lines_inside = 0;
            return begins;
        }
        self.lines_inside += 1;
        if has(b"-----END") || self.lines_inside > MAX_BLOCK_LINES {
            self.inside = false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_private_key_is_a_block_and_a_certificate_is_not() {
        let mut lines = PrivateKeyBlock::default();
        let text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc==\n-----END RSA PRIVATE KEY-----\nafter\n-----BEGIN CERTIFICATE-----\nMIIB\n";
        let inside: Vec<bool> = text.lines().map(|l| lines.line(l.as_bytes())).collect();
        assert_eq!(inside, [false, true, true, true, true, false, false, false]);
        assert!(!lines.may_change(b"plain\nlines\n"));
        assert!(lines.may_change(b"x\n-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    }

    #[test]
    fn a_block_without_its_end_ends_after_a_bound() {
        let mut lines = PrivateKeyBlock::default();
        assert!(lines.line(b"-----BEGIN PRIVATE KEY-----"));
        for _ in 0..MAX_BLOCK_LINES {
            assert!(lines.line(b"AAAA"));
        }
        assert!(
            lines.line(b"AAAA"),
            "the line past the bound is the block's last"
        );
        assert!(!lines.line(b"the log goes on"));
    }
}
