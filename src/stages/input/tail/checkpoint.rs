//! Where a followed file was left, as kept in the state store: the file's
//! identity (device, inode, and a fingerprint of its first bytes) and the
//! offset of the first line not yet handed to the pipeline.
//!
//! One row per followed path, keyed `tail:STAGE:PATH`, holding every file
//! still being read under that path, oldest first: usually one, two for a
//! while after a rotation (the renamed old file is still read to its end).

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// How many leading bytes the fingerprint covers.
pub const FINGERPRINT_BYTES: usize = 256;

/// At most this many directory entries are looked at when searching for a
/// rotated file: a huge log directory must not stall the follower.
const MAX_SIBLINGS: usize = 10_000;

/// Rotated files compressed by logrotate: never the plain-text file we look for.
const COMPRESSED: &[&str] = &["gz", "bz2", "xz", "zst", "lz4", "z"];

/// A file's identity in the file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A hash of a file's first bytes (up to [`FINGERPRINT_BYTES`]): an inode
/// reused by a new file, or a file truncated and written again, has other
/// first bytes, so it is not taken for the file we were reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// How many bytes were hashed (fewer than [`FINGERPRINT_BYTES`] while
    /// the file is shorter; it grows with the file).
    pub len: usize,
    /// FNV-1a 64 of those bytes: stable across versions, it is stored.
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of a file whose first bytes are `head`.
    pub fn of(head: &[u8]) -> Self {
        let head = &head[..head.len().min(FINGERPRINT_BYTES)];
        Self {
            len: head.len(),
            hash: fnv1a(head),
        }
    }

    /// True when a file starting with `head` starts with the bytes this
    /// fingerprint was taken of.
    pub fn matches(&self, head: &[u8]) -> bool {
        head.len() >= self.len && fnv1a(&head[..self.len]) == self.hash
    }
}

/// FNV-1a, 64 bits: tiny, and its output never changes (it is stored).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A file's first bytes (fewer when it is shorter), read without moving
/// its offset.
pub fn read_head(file: &File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; FINGERPRINT_BYTES];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// One file of a path, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePos {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Offset of the first line not yet handed to the pipeline.
    pub offset: u64,
    /// Bytes the fingerprint covers.
    pub fp_len: usize,
    /// The fingerprint's hash, 16 hex digits.
    pub fp: String,
}

impl FilePos {
    /// The position `offset` in the file `id` with fingerprint `fp`.
    pub fn new(id: FileId, fp: Fingerprint, offset: u64) -> Self {
        Self {
            dev: id.dev,
            ino: id.ino,
            offset,
            fp_len: fp.len,
            fp: format!("{:016x}", fp.hash),
        }
    }

    /// The file's identity.
    pub fn id(&self) -> FileId {
        FileId {
            dev: self.dev,
            ino: self.ino,
        }
    }

    /// The fingerprint; `None` when the stored one is malformed (edited by
    /// hand), so that no file matches it.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        if self.fp_len > FINGERPRINT_BYTES {
            return None;
        }
        let hash = u64::from_str_radix(&self.fp, 16).ok()?;
        Some(Fingerprint {
            len: self.fp_len,
            hash,
        })
    }

    /// True when the file `id`, starting with `head`, is this one.
    pub fn is(&self, id: FileId, head: &[u8]) -> bool {
        self.id() == id && self.fingerprint().is_some_and(|fp| fp.matches(head))
    }
}

/// What is stored for one followed path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathState {
    /// Files being read under this path, oldest first. Empty: the path was
    /// followed but has no file now (a file appearing there is new).
    pub files: Vec<FilePos>,
}

/// The state store key of `path` followed by stage `stage`.
pub fn key(stage: &str, path: &Path) -> String {
    format!("{}{}", key_prefix(stage), path.display())
}

/// The prefix shared by every key of stage `stage`.
pub fn key_prefix(stage: &str) -> String {
    format!("tail:{stage}:")
}

/// A file found next to a followed path that holds lines we had not read.
#[derive(Debug)]
pub struct Found {
    /// Where it is.
    pub path: PathBuf,
    /// The open file.
    pub file: File,
    /// Its metadata when found.
    pub meta: Metadata,
}

/// Looks next to `path` for the file `want` describes, when it is no
/// longer at `path`: renamed by a rotation (same inode), or the copy
/// `copytruncate` made before emptying the file (same first bytes, another
/// inode). Only names starting like `path`'s (`auth.log.1`,
/// `auth.log-20250101`, `auth-20250101.log`) and uncompressed are looked
/// at, and only files holding more than `want.offset` bytes (something is
/// left to read). Prefers the same inode, then the newest file.
pub fn find_rotated(path: &Path, want: &FilePos, exclude: Option<FileId>) -> Option<Found> {
    let fp = want.fingerprint()?;
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let stem = name.split('.').next().unwrap_or(name);
    let mut best: Option<(bool, SystemTime, Found)> = None;
    for entry in std::fs::read_dir(dir).ok()?.take(MAX_SIBLINGS) {
        let Ok(entry) = entry else { continue };
        let fname = entry.file_name();
        let Some(fname) = fname.to_str() else {
            continue;
        };
        if fname == name || !fname.starts_with(stem) {
            continue;
        }
        let ext = fname.rsplit('.').next().unwrap_or("");
        if COMPRESSED.iter().any(|c| ext.eq_ignore_ascii_case(c)) {
            continue;
        }
        let candidate = entry.path();
        // Not following symbolic links: a link is not a rotated file.
        let Ok(meta) = std::fs::symlink_metadata(&candidate) else {
            continue;
        };
        let id = FileId::of(&meta);
        if !meta.is_file() || meta.len() <= want.offset || Some(id) == exclude {
            continue;
        }
        let same_inode = id == want.id();
        if best.as_ref().is_some_and(|b| b.0 && !same_inode) {
            continue;
        }
        let Ok(file) = File::open(&candidate) else {
            continue;
        };
        let Ok(head) = read_head(&file) else { continue };
        if !fp.matches(&head) {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let better = match &best {
            None => true,
            Some((b_same, b_time, _)) => (same_inode && !b_same) || mtime > *b_time,
        };
        if better {
            best = Some((
                same_inode,
                mtime,
                Found {
                    path: candidate,
                    file,
                    meta,
                },
            ));
        }
    }
    best.map(|b| b.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_prefixes_only() {
        let fp = Fingerprint::of(b"hello");
        assert!(fp.matches(b"hello"));
        assert!(fp.matches(b"hello world"));
        assert!(!fp.matches(b"hell"));
        assert!(!fp.matches(b"jello"));
        let long = vec![b'x'; 1000];
        assert_eq!(Fingerprint::of(&long).len, FINGERPRINT_BYTES);
        // Pinned: the hash is stored, it must never change.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn positions_round_trip_as_json() {
        let id = FileId { dev: 1, ino: 2 };
        let pos = FilePos::new(id, Fingerprint::of(b"abc"), 42);
        let state = PathState {
            files: vec![pos.clone()],
        };
        let text = serde_json::to_string(&state).unwrap();
        let back: PathState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        assert!(pos.is(id, b"abcdef"));
        assert!(!pos.is(FileId { dev: 1, ino: 3 }, b"abcdef"));
        let bad = FilePos {
            fp: "zz".into(),
            ..pos
        };
        assert!(!bad.is(id, b"abc"));
    }

    #[test]
    fn finds_the_renamed_file_or_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"first line\nsecond line\n").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let want = FilePos::new(
            FileId::of(&meta),
            Fingerprint::of(b"first line\nsecond line\n"),
            11,
        );
        // Renamed: found by inode.
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&path, b"new file\n").unwrap();
        std::fs::write(dir.path().join("other.log"), b"first line\nsecond line\n").unwrap();
        std::fs::write(
            dir.path().join("app.log.2.gz"),
            b"first line\nsecond line\n",
        )
        .unwrap();
        let found = find_rotated(&path, &want, None).unwrap();
        assert_eq!(found.path, dir.path().join("app.log.1"));
        // A copy (another inode) with the same first bytes is found too.
        std::fs::rename(dir.path().join("app.log.1"), dir.path().join("x")).unwrap();
        std::fs::write(
            dir.path().join("app.log-2025"),
            b"first line\nsecond line\nmore\n",
        )
        .unwrap();
        let found = find_rotated(&path, &want, None).unwrap();
        assert_eq!(found.path, dir.path().join("app.log-2025"));
        // Nothing left to read: not found.
        let done = FilePos {
            offset: 1000,
            ..want
        };
        assert!(find_rotated(&path, &done, None).is_none());
    }
}
