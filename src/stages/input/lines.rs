//! Splitting a byte stream into lines, safely: bounded line length, invalid
//! UTF-8 replaced, CR before LF dropped, byte offsets tracked.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use crate::event::{Batch, Event, fields};
use crate::pipeline::{InputContext, StageCounters, StageError};
use crate::stages::BATCH_SIZE;

/// Default longest line kept, in bytes; longer lines are truncated.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// A batch is sent once its lines hold this much text, even if it has fewer
/// than [`BATCH_SIZE`] events: queues are bounded in batches, so this keeps
/// a queue of long lines to ~16 MiB rather than 16 × 512 × 64 KiB = 512 MiB.
pub const BATCH_BYTES: usize = 1024 * 1024;

/// One line read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text; invalid UTF-8 is replaced by U+FFFD.
    pub text: String,
    /// Byte offset of the line's first byte in the stream.
    pub offset: u64,
    /// Bytes the line took in the stream, terminator included.
    pub raw_len: u64,
    /// True when the line was longer than the limit and was cut.
    pub truncated: bool,
}

/// Reads lines from a buffered reader without ever holding more than
/// `max_line_bytes` of one line in memory.
pub struct LineReader<R> {
    inner: BufReader<R>,
    max: usize,
    offset: u64,
    buf: Vec<u8>,
    /// Bytes of the current line consumed so far (kept or discarded).
    pending_len: u64,
    truncated: bool,
}

impl<R: Read> LineReader<R> {
    /// A reader starting at `offset` (for `log.offset`).
    pub fn new(inner: BufReader<R>, max_line_bytes: usize, offset: u64) -> Self {
        Self {
            inner,
            max: max_line_bytes.max(1),
            offset,
            buf: Vec::new(),
            pending_len: 0,
            truncated: false,
        }
    }

    /// True when the reader holds no buffered bytes, so the next read may
    /// block: the moment to send what we have.
    pub fn is_drained(&self) -> bool {
        self.inner.buffer().is_empty()
    }

    /// The offset of the next unread line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The position in the underlying stream: the bytes consumed so far
    /// (complete lines, a pending partial line, and read-ahead).
    pub fn stream_position(&self) -> u64 {
        self.offset + self.pending_len + self.inner.buffer().len() as u64
    }

    /// True while part of a line (no newline yet) is held back.
    pub fn has_partial(&self) -> bool {
        self.pending_len > 0
    }

    /// The underlying reader (e.g. the file, for `fstat`).
    pub fn get_ref(&self) -> &R {
        self.inner.get_ref()
    }

    /// The next complete line. At end of stream a last line without a
    /// newline is returned when `take_partial` is set; otherwise it stays
    /// pending (a tailed file may still be written), and `None` is returned.
    pub fn next_line(&mut self, take_partial: bool) -> io::Result<Option<Line>> {
        Ok(self
            .read_raw(take_partial)?
            .map(|had_newline| self.finish_line(had_newline)))
    }

    /// Like [`next_line`](Self::next_line), but the text borrows the
    /// reader's buffer when it is valid UTF-8: no allocation per line, for
    /// callers that look at most lines and keep few (`logbus match`).
    pub fn next_text(&mut self, take_partial: bool) -> io::Result<Option<Cow<'_, str>>> {
        let Some(had_newline) = self.read_raw(take_partial)? else {
            return Ok(None);
        };
        if had_newline && self.buf.last() == Some(&b'\r') && !self.truncated {
            self.buf.pop();
        }
        self.offset += self.pending_len;
        self.pending_len = 0;
        self.truncated = false;
        // The validating fast path first: lossy decoding walks the bytes in
        // chunks and costs several times more on the (common) valid line.
        Ok(Some(match std::str::from_utf8(&self.buf) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&self.buf),
        }))
    }

    /// Reads the next line's bytes into `buf`; `Some(had_newline)` once a
    /// line is complete (or, with `take_partial`, at the end of the stream).
    fn read_raw(&mut self, take_partial: bool) -> io::Result<Option<bool>> {
        if self.pending_len == 0 {
            // The last line may still sit there (returned by reference).
            self.buf.clear();
        }
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if take_partial && self.pending_len > 0 {
                    return Ok(Some(false));
                }
                return Ok(None);
            }
            let (used, done, cut) = take_line_piece(chunk, &mut self.buf, self.max);
            self.truncated |= cut;
            self.pending_len += used as u64;
            self.inner.consume(used);
            if done {
                return Ok(Some(true));
            }
        }
    }

    /// Moves to `offset` in a seekable stream, dropping read-ahead and any
    /// partial line (a tailed file that was truncated starts over).
    pub fn seek_to(&mut self, offset: u64) -> io::Result<()>
    where
        R: Seek,
    {
        self.inner.seek(SeekFrom::Start(offset))?;
        self.offset = offset;
        self.buf.clear();
        self.pending_len = 0;
        self.truncated = false;
        Ok(())
    }

    fn finish_line(&mut self, had_newline: bool) -> Line {
        if had_newline && self.buf.last() == Some(&b'\r') && !self.truncated {
            self.buf.pop();
        }
        let text = decode(&self.buf);
        self.buf.clear();
        let line = Line {
            text,
            offset: self.offset,
            raw_len: self.pending_len,
            truncated: self.truncated,
        };
        self.offset += self.pending_len;
        self.pending_len = 0;
        self.truncated = false;
        line
    }
}

/// Moves the next piece of a line from `chunk` into `buf`, keeping at most
/// `max` bytes of the line (the rest is dropped, never buffered). Returns
/// the bytes of `chunk` used (newline included), whether the line is
/// complete, and whether something was cut.
pub(crate) fn take_line_piece(chunk: &[u8], buf: &mut Vec<u8>, max: usize) -> (usize, bool, bool) {
    let (used, done) = match memchr::memchr(b'\n', chunk) {
        Some(i) => (i + 1, true),
        None => (chunk.len(), false),
    };
    let body = if done { &chunk[..used - 1] } else { chunk };
    let room = max.saturating_sub(buf.len());
    buf.extend_from_slice(&body[..body.len().min(room)]);
    (used, done, body.len() > room)
}

/// Lines read by a reader thread, ready to send.
#[derive(Debug, Default)]
pub struct ReadBatch {
    /// One event per line.
    pub events: Batch,
    /// Bytes consumed from the stream.
    pub bytes: u64,
    /// Lines that were cut to the limit.
    pub truncated: u64,
}

/// Makes the event for one line: `message`, plus `log.file.path` and
/// `log.offset` when reading a file.
pub fn line_event(line: Line, path: Option<&str>) -> Event {
    let mut e = Event::from_message(line.text);
    if let Some(path) = path {
        e.set(&fields::LOG_FILE_PATH, path);
        e.set(&fields::LOG_OFFSET, line.offset);
    }
    e
}

/// Reads `reader` to its end on a dedicated thread, sending batches of line
/// events. A thread (not the runtime's blocking pool) because a read from a
/// terminal or pipe may block forever and must not hold up process exit.
pub fn spawn_reader<R: Read + Send + 'static>(
    thread_name: String,
    reader: BufReader<R>,
    max_line_bytes: usize,
    path: Option<String>,
) -> io::Result<mpsc::Receiver<io::Result<ReadBatch>>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let mut lines = LineReader::new(reader, max_line_bytes, 0);
            let mut batch = ReadBatch::default();
            // Text held by the batch: what it costs in memory. It may exceed
            // `batch.bytes` (invalid UTF-8 grows when replaced).
            let mut held = 0;
            loop {
                match lines.next_line(true) {
                    Ok(Some(line)) => {
                        batch.bytes += line.raw_len;
                        batch.truncated += u64::from(line.truncated);
                        held += line.text.len();
                        batch.events.push(line_event(line, path.as_deref()));
                        let full = batch.events.len() >= BATCH_SIZE || held >= BATCH_BYTES;
                        if full || lines.is_drained() {
                            held = 0;
                            if tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
                                return;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.blocking_send(Ok(std::mem::take(&mut batch)));
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
            let _ = tx.blocking_send(Ok(batch));
        })?;
    Ok(rx)
}

/// What ended a [`pump`].
#[derive(Debug, PartialEq, Eq)]
pub enum PumpEnd {
    /// The stream ended.
    Eof,
    /// The pipeline is stopping.
    Shutdown,
    /// Nobody reads this input any more.
    Closed,
}

/// Forwards batches from a reader thread into the pipeline, counting lines,
/// bytes and truncations, until the stream ends or the pipeline stops.
/// A read error is reported on `errors` and ends the stream.
pub async fn pump(
    rx: &mut mpsc::Receiver<io::Result<ReadBatch>>,
    ctx: &mut InputContext,
    what: &str,
) -> Result<PumpEnd, StageError> {
    let truncated = ctx.counters.extra("lines_truncated");
    loop {
        let msg = tokio::select! {
            biased;
            _ = ctx.shutdown.wait() => return Ok(PumpEnd::Shutdown),
            msg = rx.recv() => msg,
        };
        match msg {
            None => return Ok(PumpEnd::Eof),
            Some(Ok(b)) => {
                let n = b.events.len() as u64;
                StageCounters::add(&ctx.counters.lines_in, n);
                StageCounters::add(&ctx.counters.bytes_in, b.bytes);
                if b.truncated > 0 {
                    truncated.fetch_add(b.truncated, Ordering::Relaxed);
                    ctx.errors
                        .report(crate::pipeline::ErrorRecord {
                            message: format!(
                                "{what}: {} line(s) longer than the limit were truncated",
                                b.truncated
                            ),
                            input: None,
                        })
                        .await;
                }
                if ctx.out.send(b.events).await.is_err() {
                    return Ok(PumpEnd::Closed);
                }
            }
            Some(Err(e)) => {
                ctx.errors
                    .report(crate::pipeline::ErrorRecord {
                        message: format!("{what}: read error: {e}"),
                        input: None,
                    })
                    .await;
                return Ok(PumpEnd::Eof);
            }
        }
    }
}

/// Bytes to text, replacing invalid UTF-8 (and a code point cut by truncation).
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize, partial: bool) -> Vec<Line> {
        let mut r = LineReader::new(io::BufReader::with_capacity(7, input), max, 0);
        let mut out = Vec::new();
        while let Some(l) = r.next_line(partial).unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn splits_and_tracks_offsets() {
        let lines = all(b"one\r\ntwo\n\nthree", 100, true);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "", "three"]);
        let offsets: Vec<u64> = lines.iter().map(|l| l.offset).collect();
        assert_eq!(offsets, [0, 5, 9, 10]);
    }

    #[test]
    fn partial_line_waits_unless_asked() {
        let lines = all(b"a\nb", 100, false);
        assert_eq!(lines.len(), 1);
    }

    #[test]
    fn long_lines_are_cut_and_flagged() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n");
        let lines = all(&input, 10, true);
        assert_eq!(lines[0].text, "x".repeat(10));
        assert!(lines[0].truncated);
        assert_eq!(lines[0].raw_len, 51);
        assert_eq!(lines[1].text, "ok");
        assert_eq!(lines[1].offset, 51);
        assert!(!lines[1].truncated);
    }

    /// The sizes of the batches `spawn_reader` sends for `input`, read
    /// through a buffer large enough that it never runs dry mid-stream (so
    /// only the batch limits cut batches).
    fn batch_sizes(input: Vec<u8>) -> Vec<(usize, usize)> {
        let reader = BufReader::with_capacity(input.len() + 1, io::Cursor::new(input));
        let mut rx = spawn_reader("test".into(), reader, DEFAULT_MAX_LINE_BYTES, None).unwrap();
        let mut sizes = Vec::new();
        while let Some(batch) = rx.blocking_recv() {
            let batch = batch.unwrap();
            if batch.events.is_empty() {
                continue; // the end of the stream may send an empty batch
            }
            let text: usize = batch.events.iter().map(Event::message_len).sum();
            sizes.push((batch.events.len(), text));
        }
        sizes
    }

    /// Regression: batches were cut only at 512 events, so with 64 KiB lines
    /// one batch held 32 MiB and a 16-batch queue 512 MiB.
    #[test]
    fn long_lines_cut_batches_at_one_mib() {
        let line = "x".repeat(DEFAULT_MAX_LINE_BYTES);
        let input = format!("{line}\n").repeat(100).into_bytes();
        let sizes = batch_sizes(input);
        let counts: Vec<usize> = sizes.iter().map(|s| s.0).collect();
        assert_eq!(counts, [16, 16, 16, 16, 16, 16, 4]);
        assert!(sizes.iter().all(|s| s.1 <= BATCH_BYTES), "{sizes:?}");
    }

    #[test]
    fn short_lines_still_batch_by_count() {
        let n = 2 * BATCH_SIZE + 76;
        let sizes = batch_sizes(b"short line\n".repeat(n));
        let counts: Vec<usize> = sizes.iter().map(|s| s.0).collect();
        assert_eq!(counts, [BATCH_SIZE, BATCH_SIZE, 76]);
    }

    #[test]
    fn text_by_reference_matches_owned_lines() {
        let input = b"one\r\ntwo \xff\n\nlong line here\nlast";
        let owned: Vec<String> = all(input, 6, true).into_iter().map(|l| l.text).collect();
        let mut r = LineReader::new(io::BufReader::with_capacity(3, &input[..]), 6, 0);
        let mut borrowed = Vec::new();
        while let Some(t) = r.next_text(true).unwrap() {
            borrowed.push(t.into_owned());
        }
        assert_eq!(borrowed, owned);
        assert_eq!(borrowed, ["one", "two \u{fffd}", "", "long l", "last"]);
        assert_eq!(r.offset(), input.len() as u64);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let lines = all(b"a\xffb\n", 100, true);
        assert_eq!(lines[0].text, "a\u{fffd}b");
    }
}
