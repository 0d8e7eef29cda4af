//! Splitting a TCP byte stream into syslog messages (RFC 6587).
//!
//! Two framings share one stream, detected per frame:
//! - **octet counting**: `LEN SP MSG`, where LEN is the decimal length of
//!   MSG. A frame that starts with digits followed by a space is one.
//! - **non-transparent framing**: MSG ends at LF (a CR before it is
//!   dropped).
//!
//! LF and CR between frames are skipped, so `LEN SP MSG LF` (senders that
//! add a newline after a counted frame) and blank lines are harmless.
//!
//! The framer never holds more than `max + HEADER_ROOM` bytes, and scans
//! each byte for a newline once, so a client dribbling a long frame a byte
//! at a time costs linear time, not quadratic.

use std::fmt;

use thiserror::Error;

/// Bytes a frame may take on top of its message: an octet count (at most
/// [`MAX_COUNT_DIGITS`] digits) and its space, or CR LF.
pub const HEADER_ROOM: usize = MAX_COUNT_DIGITS + 1;

/// Most digits an octet count may have: 10 is enough for any size a
/// `u32` holds, far above any sane message limit.
const MAX_COUNT_DIGITS: usize = 10;

/// A run of leading digits this long is no count and no syslog line either.
const DIGIT_RUN_LIMIT: usize = 20;

/// The buffer a connection starts with; it grows (up to the limit) only
/// for a client that sends frames that long.
const INITIAL_BUFFER: usize = 16 * 1024;

/// Why a client's stream is not syslog; the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A frame starts with a control byte (TLS, SSH binary packets, random
    /// data): no syslog message starts that way.
    #[error("binary data (byte {0:#04x} where a frame should start)")]
    Binary(u8),
    /// An octet count that is zero, too long or above the limit.
    #[error("bad octet count `{text}` (must be 1 to {max})")]
    BadOctetCount {
        /// The count as sent (at most [`DIGIT_RUN_LIMIT`] digits of it).
        text: String,
        /// The largest count accepted.
        max: usize,
    },
    /// A newline-framed message longer than the limit.
    #[error("frame longer than max_message_bytes ({0}) without a newline")]
    Overlong(usize),
    /// The client closed the connection in the middle of an octet-counted
    /// frame.
    #[error("connection closed {got} bytes into a frame of {expected}")]
    Incomplete {
        /// The count the frame announced.
        expected: usize,
        /// The bytes of it received.
        got: usize,
    },
}

/// Reassembles frames from a stream read in arbitrary pieces.
pub struct Framer {
    buf: Vec<u8>,
    /// First byte of the current (unfinished) frame.
    start: usize,
    /// End of the data read so far.
    end: usize,
    /// Bytes before this index (from `start`) hold no LF: where the next
    /// newline search resumes.
    scanned: usize,
    /// Longest message accepted.
    max: usize,
    /// Largest the buffer ever grows.
    limit: usize,
}

impl fmt::Debug for Framer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framer")
            .field("pending", &(self.end - self.start))
            .field("max", &self.max)
            .finish()
    }
}

/// What the framer found at the start of the pending data.
enum Shape {
    /// Nothing decidable yet.
    NeedMore,
    /// An octet-counted frame: header length and message length.
    Counted(usize, usize),
    /// A newline-terminated frame.
    Line,
}

impl Framer {
    /// A framer accepting messages of up to `max` bytes.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            max,
            limit: max + HEADER_ROOM,
        }
    }

    /// Where the next read goes. Empty only when the buffer is full, which
    /// [`next_frame`](Self::next_frame) prevents by failing first (a frame
    /// that cannot fit is an error before the buffer fills).
    pub fn read_space(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.scanned = self.scanned.saturating_sub(self.start);
                self.start = 0;
            }
            if self.end == self.buf.len() && self.buf.len() < self.limit {
                let size = (self.buf.len() * 2).clamp(INITIAL_BUFFER.min(self.limit), self.limit);
                self.buf.resize(size, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`read_space`](Self::read_space).
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The next complete message, `None` when more data is needed.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        while self.start < self.end && matches!(self.buf[self.start], b'\n' | b'\r') {
            self.start += 1;
        }
        self.scanned = self.scanned.max(self.start);
        if self.start == self.end {
            return Ok(None);
        }
        let first = self.buf[self.start];
        if is_binary_start(first) {
            return Err(FrameError::Binary(first));
        }
        match self.shape()? {
            Shape::NeedMore => Ok(None),
            Shape::Counted(header, len) => {
                let total = header + len;
                if self.end - self.start < total {
                    return Ok(None);
                }
                let from = self.start + header;
                self.start += total;
                self.scanned = self.start;
                Ok(Some(&self.buf[from..from + len]))
            }
            Shape::Line => {
                let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..self.end]) else {
                    self.scanned = self.end;
                    // The message plus the CR that may precede the LF.
                    if self.end - self.start > self.max + 1 {
                        return Err(FrameError::Overlong(self.max));
                    }
                    return Ok(None);
                };
                let lf = self.scanned + i;
                let from = self.start;
                let mut to = lf;
                if to > from && self.buf[to - 1] == b'\r' {
                    to -= 1;
                }
                if to - from > self.max {
                    return Err(FrameError::Overlong(self.max));
                }
                self.start = lf + 1;
                self.scanned = self.start;
                Ok(Some(&self.buf[from..to]))
            }
        }
    }

    /// At end of stream, after [`next_frame`](Self::next_frame) returned
    /// `None`: the last message when it lacks its newline (a client may
    /// close without one). A counted frame cut short is an error.
    pub fn finish(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if self.start >= self.end {
            return Ok(None);
        }
        if let Shape::Counted(header, len) = self.shape()? {
            return Err(FrameError::Incomplete {
                expected: len,
                got: (self.end - self.start).saturating_sub(header),
            });
        }
        let from = self.start;
        let mut to = self.end;
        if self.buf[to - 1] == b'\r' {
            to -= 1;
        }
        if to - from > self.max {
            return Err(FrameError::Overlong(self.max));
        }
        self.start = self.end;
        Ok(Some(&self.buf[from..to]))
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Decides the framing of the pending frame from its first bytes.
    fn shape(&self) -> Result<Shape, FrameError> {
        let data = &self.buf[self.start..self.end];
        let digits = data
            .iter()
            .take(DIGIT_RUN_LIMIT)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return Ok(Shape::Line);
        }
        let bad = || FrameError::BadOctetCount {
            text: String::from_utf8_lossy(&data[..digits]).into_owned(),
            max: self.max,
        };
        if digits == DIGIT_RUN_LIMIT {
            return Err(bad());
        }
        match data.get(digits) {
            None => Ok(Shape::NeedMore),
            Some(b' ') => {
                if digits > MAX_COUNT_DIGITS {
                    return Err(bad());
                }
                // At most 10 ASCII digits: always a valid u64.
                let len = data[..digits]
                    .iter()
                    .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                match usize::try_from(len) {
                    Ok(len) if len >= 1 && len <= self.max => Ok(Shape::Counted(digits + 1, len)),
                    _ => Err(bad()),
                }
            }
            Some(_) => Ok(Shape::Line),
        }
    }
}

/// A byte no syslog frame starts with: C0 controls but TAB (LF and CR are
/// skipped before this is asked), and DEL. Checked at frame starts only,
/// never inside a message: a daemon may log a control character that an
/// attacker chose, and that must not get its line thrown away.
fn is_binary_start(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; the messages (as text) and
    /// the error that ended the stream, if any.
    fn frames(input: &[u8], max: usize, step: usize) -> (Vec<String>, Option<FrameError>) {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            loop {
                match f.next_frame() {
                    Ok(Some(m)) => out.push(String::from_utf8_lossy(m).into_owned()),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
            if rest.is_empty() {
                break;
            }
            let space = f.read_space();
            assert!(!space.is_empty(), "buffer full after {out:?}");
            let n = step.min(rest.len()).min(space.len());
            space[..n].copy_from_slice(&rest[..n]);
            f.filled(n);
            rest = &rest[n..];
        }
        match f.finish() {
            Ok(Some(m)) => out.push(String::from_utf8_lossy(m).into_owned()),
            Ok(None) => {}
            Err(e) => return (out, Some(e)),
        }
        (out, None)
    }

    fn all_steps(input: &[u8], max: usize) -> (Vec<String>, Option<FrameError>) {
        let whole = frames(input, max, input.len().max(1));
        for step in [1, 2, 3, 7, 64] {
            assert_eq!(frames(input, max, step), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn newline_framing() {
        let (m, e) = all_steps(b"<13>one\n<13>two\r\n\n\r\nthree\nlast", 100);
        assert_eq!(m, ["<13>one", "<13>two", "three", "last"]);
        assert_eq!(e, None);
    }

    #[test]
    fn octet_counting_mixed_with_newlines() {
        let input = b"7 <13>one8 <13>two\n\nplain line\n3 abc\n11 has\nnewline";
        let (m, e) = all_steps(input, 100);
        assert_eq!(
            m,
            ["<13>one", "<13>two\n", "plain line", "abc", "has\nnewline"]
        );
        assert_eq!(e, None);
    }

    #[test]
    fn digits_without_a_space_are_a_line() {
        let (m, e) = all_steps(b"2024-01-01 text\n123\n", 100);
        assert_eq!(m, ["2024-01-01 text", "123"]);
        assert_eq!(e, None);
    }

    #[test]
    fn bogus_counts_are_errors() {
        let (m, e) = all_steps(b"<13>ok\n99999999999 <13>x", 100);
        assert_eq!(m, ["<13>ok"]);
        assert_eq!(
            e,
            Some(FrameError::BadOctetCount {
                text: "99999999999".into(),
                max: 100
            })
        );
        let (_, e) = all_steps(b"0 x", 100);
        assert!(matches!(e, Some(FrameError::BadOctetCount { .. })), "{e:?}");
        let (_, e) = all_steps(b"101 x", 100);
        assert_eq!(
            e,
            Some(FrameError::BadOctetCount {
                text: "101".into(),
                max: 100
            })
        );
        let (m, e) = all_steps(b"100 ", 100);
        assert!(m.is_empty());
        assert_eq!(
            e,
            Some(FrameError::Incomplete {
                expected: 100,
                got: 0
            })
        );
        let (_, e) = all_steps(&[b'1'; 40], 100);
        assert!(matches!(e, Some(FrameError::BadOctetCount { .. })), "{e:?}");
    }

    #[test]
    fn limits() {
        // Exactly max is fine, with or without CR; one more is not.
        let ok = format!("{}\r\n{}\n", "a".repeat(10), "b".repeat(10));
        assert_eq!(
            all_steps(ok.as_bytes(), 10).0,
            ["a".repeat(10), "b".repeat(10)]
        );
        let (m, e) = all_steps(format!("x\n{}\n", "a".repeat(11)).as_bytes(), 10);
        assert_eq!(m, ["x"]);
        assert_eq!(e, Some(FrameError::Overlong(10)));
        // A never-ending line fails once it passes the limit, not later.
        let (_, e) = frames(&vec![b'a'; 1_000_000], 1000, 4096);
        assert_eq!(e, Some(FrameError::Overlong(1000)));
        let counted = format!("10 {}", "c".repeat(10));
        assert_eq!(all_steps(counted.as_bytes(), 10).0, ["c".repeat(10)]);
    }

    #[test]
    fn binary_starts_are_errors() {
        let (m, e) = all_steps(b"<13>fine\n\x16\x03\x01\x00\xa5\x01\x00", 100);
        assert_eq!(m, ["<13>fine"]);
        assert_eq!(e, Some(FrameError::Binary(0x16)));
        let (_, e) = all_steps(b"\0<13>x\n", 100);
        assert_eq!(e, Some(FrameError::Binary(0)));
        // Control bytes inside a message are the message's business.
        let (m, e) = all_steps(b"<13>a\x01b\tc\x1b[0m\n\tindented\n", 100);
        assert_eq!(m, ["<13>a\u{1}b\tc\u{1b}[0m", "\tindented"]);
        assert_eq!(e, None);
    }

    /// Random streams over the bytes that matter to framing, cut into
    /// random pieces: never a panic, the same frames however the stream is
    /// cut, and no message over the limit.
    #[test]
    fn random_streams_frame_the_same_however_cut() {
        let alphabet = b"0123456789  \n\n\r<>a\0\x16\xff";
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..2000 {
            let len = rng.usize(0..200);
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let max = rng.usize(1..40);
            let whole = frames(&input, max, input.len().max(1));
            for step in [1, 2, 5, rng.usize(1..50)] {
                assert_eq!(
                    frames(&input, max, step),
                    whole,
                    "round {round} step {step}"
                );
            }
            // Each byte is one char here (0xff becomes one U+FFFD).
            assert!(
                whole.0.iter().all(|m| m.chars().count() <= max),
                "round {round}: {whole:?}"
            );
        }
    }

    #[test]
    fn buffer_stays_bounded() {
        let mut f = Framer::new(100);
        let line = b"<13>0123456789\n";
        for _ in 0..10_000 {
            let space = f.read_space();
            let n = line.len().min(space.len());
            space[..n].copy_from_slice(&line[..n]);
            f.filled(n);
            while let Ok(Some(_)) = f.next_frame() {}
        }
        assert!(f.buf.len() <= 100 + HEADER_ROOM, "{}", f.buf.len());
    }
}
