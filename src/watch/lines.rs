//! Splits a byte stream into lines with a bounded buffer.
//!
//! Only the unfinished last line of a chunk is copied; complete lines are handed over in place,
//! and a block of them can be skipped in one step when the matcher says none can match. A line
//! longer than [`MAX_LINE_BYTES`] is handed over truncated and its remainder discarded, so memory
//! stays bounded whatever the input (the bytes themselves are passed through by the caller).

use std::ops::ControlFlow;

use memchr::{memchr, memchr_iter, memrchr};

/// The longest line that is matched as a whole; the rest of a longer line is not matched.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Receives what the splitter finds in a chunk.
pub trait LineHandler {
    /// A block of complete lines, newlines included. Return true to receive them one by one
    /// through [`LineHandler::line`], false to have them counted only.
    fn wants_lines(&mut self, block: &[u8]) -> bool;
    /// The number of lines in a block that was not handed over line by line.
    fn skipped_lines(&mut self, count: u64);
    /// One line without its terminator. `end` is the offset in the current chunk just past the
    /// line. `Break` stops the stream: nothing after `end` is to be passed on.
    fn line(&mut self, line: &[u8], end: usize) -> ControlFlow<()>;
}

/// The state of one stream between chunks.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// The current line outgrew the buffer and was already handed over; skip to its newline.
    discarding: bool,
}

impl LineSplitter {
    /// Feeds one chunk. `Break(end)` means a handler stopped the stream after `chunk[..end]`.
    pub fn feed(&mut self, chunk: &[u8], handler: &mut impl LineHandler) -> ControlFlow<usize> {
        let mut pos = 0;
        if !self.partial.is_empty() || self.discarding {
            let Some(newline) = memchr(b'\n', chunk) else {
                return self.keep_partial(chunk, chunk.len(), handler);
            };
            if self.discarding {
                self.discarding = false;
            } else {
                self.partial.extend_from_slice(&chunk[..newline]);
                let line = std::mem::take(&mut self.partial);
                let result = handler.line(strip_terminator(&line), newline + 1);
                self.partial = line;
                self.partial.clear();
                if result.is_break() {
                    return ControlFlow::Break(newline + 1);
                }
            }
            pos = newline + 1;
        }
        if let Some(last) = memrchr(b'\n', &chunk[pos..]) {
            let block_end = pos + last + 1;
            let block = &chunk[pos..block_end];
            if handler.wants_lines(block) {
                let mut line_start = pos;
                for newline in memchr_iter(b'\n', block) {
                    let end = pos + newline + 1;
                    let line = &chunk[line_start..end - 1];
                    if handler.line(strip_terminator(line), end).is_break() {
                        return ControlFlow::Break(end);
                    }
                    line_start = end;
                }
            } else {
                handler.skipped_lines(memchr_iter(b'\n', block).count() as u64);
            }
            pos = block_end;
        }
        self.keep_partial(&chunk[pos..], chunk.len(), handler)
    }

    /// At end of input, an unterminated last line is still a line.
    pub fn finish(&mut self, handler: &mut impl LineHandler) {
        if !self.partial.is_empty() && !self.discarding {
            let line = std::mem::take(&mut self.partial);
            let _ = handler.line(strip_terminator(&line), 0);
        }
    }

    fn keep_partial(
        &mut self,
        bytes: &[u8],
        chunk_len: usize,
        handler: &mut impl LineHandler,
    ) -> ControlFlow<usize> {
        if self.discarding {
            return ControlFlow::Continue(());
        }
        let room = MAX_LINE_BYTES - self.partial.len();
        if bytes.len() < room {
            self.partial.extend_from_slice(bytes);
            return ControlFlow::Continue(());
        }
        self.partial.extend_from_slice(&bytes[..room]);
        self.discarding = true;
        let line = std::mem::take(&mut self.partial);
        let result = handler.line(&line, chunk_len);
        self.partial = line;
        self.partial.clear();
        match result {
            ControlFlow::Break(()) => ControlFlow::Break(chunk_len),
            ControlFlow::Continue(()) => ControlFlow::Continue(()),
        }
    }
}

fn strip_terminator(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        lines: Vec<Vec<u8>>,
        skipped: u64,
        line_by_line: bool,
        stop_at: Option<&'static [u8]>,
    }

    impl LineHandler for Recorder {
        fn wants_lines(&mut self, _: &[u8]) -> bool {
            self.line_by_line
        }
        fn skipped_lines(&mut self, count: u64) {
            self.skipped += count;
        }
        fn line(&mut self, line: &[u8], _: usize) -> ControlFlow<()> {
            self.lines.push(line.to_vec());
            if self.stop_at == Some(line) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }

    fn recorder() -> Recorder {
        Recorder {
            line_by_line: true,
            ..Recorder::default()
        }
    }

    #[test]
    fn lines_across_chunks_and_crlf() {
        let mut splitter = LineSplitter::default();
        let mut r = recorder();
        for chunk in [&b"one\r\ntw"[..], b"o", b"\nthree\nfo", b"ur"] {
            assert!(splitter.feed(chunk, &mut r).is_continue());
        }
        splitter.finish(&mut r);
        assert_eq!(r.lines, [&b"one"[..], b"two", b"three", b"four"]);
    }

    #[test]
    fn skipped_blocks_are_counted() {
        let mut splitter = LineSplitter::default();
        let mut r = Recorder::default();
        let _ = splitter.feed(b"a\nb\nc", &mut r);
        let _ = splitter.feed(b"\nd\n", &mut r);
        assert_eq!(r.skipped, 3);
        assert_eq!(r.lines, [b"c"]);
    }

    #[test]
    fn break_reports_where_to_cut() {
        let mut splitter = LineSplitter::default();
        let mut r = recorder();
        r.stop_at = Some(b"b");
        assert_eq!(splitter.feed(b"a\nb\nc\n", &mut r), ControlFlow::Break(4));
    }

    #[test]
    fn overlong_line_is_bounded_and_handed_over_once() {
        let mut splitter = LineSplitter::default();
        let mut r = recorder();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..40 {
            let _ = splitter.feed(&chunk, &mut r);
        }
        assert!(splitter.partial.capacity() <= 2 * MAX_LINE_BYTES);
        let _ = splitter.feed(b"tail\nnext\n", &mut r);
        assert_eq!(r.lines.len(), 2);
        assert_eq!(r.lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(r.lines[1], b"next");
    }
}
