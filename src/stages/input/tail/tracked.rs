//! One open file being followed.

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::{FileId, FilePos, Fingerprint, read_head};
use crate::event::Event;
use crate::stages::input::lines::{Line, LineReader, line_event};

/// Read buffer per followed file: large enough for bulk catch-up, small
/// enough for hundreds of files.
const READ_BUFFER: usize = 64 * 1024;

/// At most this much of a file's end is searched for the last newline when
/// starting at the end.
const LAST_LINE_SEARCH: u64 = 64 * 1024;

/// What a followed file is to its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The file at the path now.
    Active,
    /// A file that was at the path (renamed or removed by a rotation, or
    /// the copy `copytruncate` made): read to its end, kept open while it
    /// still grows (a writer that reopens late), closed after `rotate_wait`
    /// of quiet.
    Rotated,
}

/// What [`Tracked::check`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// The same file, maybe longer.
    Same,
    /// The file was truncated, or rewritten with other first bytes (same
    /// inode): reading starts over at 0. `before` is where we were.
    Restarted {
        /// The position before the restart.
        before: FilePos,
    },
}

/// A followed file.
pub struct Tracked {
    /// The path it is followed under: `log.file.path` and checkpoint key.
    pub path: PathBuf,
    label: String,
    /// Its identity.
    pub id: FileId,
    fp: Fingerprint,
    reader: LineReader<File>,
    /// Active or rotated.
    pub role: Role,
    /// When it last grew (or was rotated): rotated files close after
    /// `rotate_wait` of quiet.
    pub last_growth: Instant,
    /// Set when something may have happened to it; cleared at its end.
    pub dirty: bool,
    /// A read error was reported (once per file, not once per wake-up).
    pub error_reported: bool,
}

impl Tracked {
    /// Starts following `file` (opened from `path`, described by `head`,
    /// its first bytes) at `offset`.
    pub fn new(
        path: &Path,
        mut file: File,
        id: FileId,
        head: &[u8],
        offset: u64,
        max_line_bytes: usize,
        role: Role,
    ) -> io::Result<Self> {
        file.seek(SeekFrom::Start(offset))?;
        Ok(Self {
            label: path.to_string_lossy().into_owned(),
            path: path.to_path_buf(),
            id,
            fp: Fingerprint::of(head),
            reader: LineReader::new(
                BufReader::with_capacity(READ_BUFFER, file),
                max_line_bytes,
                offset,
            ),
            role,
            last_growth: Instant::now(),
            dirty: true,
            error_reported: false,
        })
    }

    /// Renames it (a rotated file picked up under a name a glob matches).
    pub fn rename(&mut self, path: &Path) {
        self.path = path.to_path_buf();
        self.label = path.to_string_lossy().into_owned();
    }

    /// Where it stands: the offset of the next line not yet read.
    pub fn position(&self) -> FilePos {
        FilePos::new(self.id, self.fp, self.reader.offset())
    }

    /// Bytes consumed from the file so far.
    pub fn consumed(&self) -> u64 {
        self.reader.stream_position()
    }

    /// Looks at the file before reading: a file now shorter than what was
    /// read, or whose first bytes changed, was truncated (copytruncate) or
    /// rewritten, and is read again from its start. A file still shorter
    /// than the fingerprint's length gets a longer fingerprint as it grows.
    pub fn check(&mut self) -> io::Result<Check> {
        let file = self.reader.get_ref();
        let size = file.metadata()?.len();
        let head = read_head(file)?;
        if size < self.consumed() || !self.fp.matches(&head) {
            let before = self.position();
            self.reader.seek_to(0)?;
            self.fp = Fingerprint::of(&head);
            return Ok(Check::Restarted { before });
        }
        if head.len() > self.fp.len {
            self.fp = Fingerprint::of(&head);
        }
        Ok(Check::Same)
    }

    /// The next line; a partial last line is returned only with
    /// `take_partial` (the file is being closed).
    pub fn next_line(&mut self, take_partial: bool) -> io::Result<Option<Line>> {
        self.reader.next_line(take_partial)
    }

    /// True while part of a line (no newline yet) is held back.
    pub fn has_partial(&self) -> bool {
        self.reader.has_partial()
    }

    /// The event for one of its lines.
    pub fn event(&self, line: Line) -> Event {
        line_event(line, Some(&self.label))
    }
}

/// Where `start_at: end` starts in a file of `size` bytes: after its last
/// newline, so that a line being written when we start is read whole once
/// its newline comes. A file with no newline in its last 64 KiB starts at
/// its end (or at 0 when it is that short: one line being written).
pub fn last_line_start(file: &File, size: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let from = size.saturating_sub(LAST_LINE_SEARCH);
    let mut buf = vec![0u8; usize::try_from(size - from).unwrap_or(0)];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], from + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(match memchr::memrchr(b'\n', &buf) {
        Some(i) => from + i as u64 + 1,
        None if from == 0 => 0,
        None => size,
    })
}

/// `O_NONBLOCK` (Linux): opening a FIFO must not wait for a writer. It
/// changes nothing for regular files, the only ones read.
const O_NONBLOCK: i32 = 0o4000;

/// Opens a file to follow; only regular files (a FIFO would block the
/// follower, a directory cannot be read).
pub fn open_regular(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::other("is a directory"));
    }
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok((file, meta))
}

/// Drains a reader (tests).
#[cfg(test)]
pub fn read_all(t: &mut Tracked) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(l) = t.next_line(false).unwrap() {
        out.push(l.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn track(path: &Path, offset: u64) -> Tracked {
        let (file, meta) = open_regular(path).unwrap();
        let head = read_head(&file).unwrap();
        Tracked::new(
            path,
            file,
            FileId::of(&meta),
            &head,
            offset,
            1000,
            Role::Active,
        )
        .unwrap()
    }

    #[test]
    fn follows_growth_and_keeps_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\ntw").unwrap();
        let mut t = track(&path, 0);
        assert_eq!(t.check().unwrap(), Check::Same);
        assert_eq!(read_all(&mut t), ["one"]);
        assert!(t.has_partial());
        assert_eq!(t.position().offset, 4);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"o\nthree\n").unwrap();
        assert_eq!(t.check().unwrap(), Check::Same);
        assert_eq!(read_all(&mut t), ["two", "three"]);
        assert_eq!(t.position().offset, 14);
    }

    #[test]
    fn truncation_and_rewrite_restart_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "line 1\nline 2\n").unwrap();
        let mut t = track(&path, 0);
        assert_eq!(read_all(&mut t), ["line 1", "line 2"]);
        // Truncated (copytruncate): shorter than what was read.
        std::fs::write(&path, "new\n").unwrap();
        assert!(matches!(t.check().unwrap(), Check::Restarted { before } if before.offset == 14));
        assert_eq!(read_all(&mut t), ["new"]);
        // Rewritten, longer, same inode: the first bytes differ.
        std::fs::write(&path, "other 1\nother 2\n").unwrap();
        assert!(matches!(t.check().unwrap(), Check::Restarted { .. }));
        assert_eq!(read_all(&mut t), ["other 1", "other 2"]);
    }

    #[test]
    fn start_at_end_starts_after_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\ntwo\nthr").unwrap();
        let f = File::open(&path).unwrap();
        assert_eq!(last_line_start(&f, 11).unwrap(), 8);
        std::fs::write(&path, "partial").unwrap();
        assert_eq!(last_line_start(&File::open(&path).unwrap(), 7).unwrap(), 0);
        std::fs::write(&path, "").unwrap();
        assert_eq!(last_line_start(&File::open(&path).unwrap(), 0).unwrap(), 0);
    }
}
