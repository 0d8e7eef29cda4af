//! The follower: one thread per `tail` stage that watches directories,
//! notices new, rotated and truncated files, reads lines and hands them to
//! the stage's task in batches, each with the positions it reached.
//!
//! Reads happen only here, and a batch is handed over with a blocking send
//! into a small bounded queue: when the pipeline is slow, the follower
//! waits, and reads nothing ahead (bounded memory).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::checkpoint::{FileId, FilePos, PathState, find_rotated, read_head};
use super::tracked::{Check, Role, Tracked, last_line_start, open_regular};
use super::wake::Wake;
use crate::duration::FiniteSpan;
use crate::event::Batch;
use crate::stages::BATCH_SIZE;
use crate::stages::input::lines::BATCH_BYTES;

/// Where to start in a file found at start-up that has no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// At its end: only lines written from now on (like fail2ban).
    #[default]
    End,
    /// At its start.
    Beginning,
}

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatcherKind {
    /// inotify events (through `notify`), plus a check every `poll_interval`.
    #[default]
    Inotify,
    /// Only a check every `poll_interval`.
    Poll,
}

/// A glob of `paths:`.
#[derive(Debug, Clone)]
pub struct GlobSource {
    /// The pattern, with the configuration's directory escaped in.
    pub pattern: String,
    /// The same, compiled, to test paths from events.
    pub matcher: glob::Pattern,
    /// The directory before the first wildcard: watched for new files.
    pub base: PathBuf,
    /// The pattern of the directories, when they have wildcards too.
    pub dir_pattern: Option<String>,
}

/// One entry of `paths:`.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file, followed whether or not it exists yet.
    Path(PathBuf),
    /// Every file a glob matches, now or later.
    Glob(GlobSource),
}

/// How globs match, as in the `file` input and the shell.
pub const GLOB_OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// What the follower is told.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The stage's name (for logs).
    pub stage: String,
    /// What to follow.
    pub sources: Vec<Source>,
    /// Where files without a checkpoint start, at start-up.
    pub start_at: StartAt,
    /// Longer lines are truncated.
    pub max_line_bytes: usize,
    /// How often everything is looked at without an event.
    pub poll_interval: Duration,
    /// How long a rotated file is kept open after it last grew.
    pub rotate_wait: Duration,
    /// inotify or polling.
    pub watcher: WatcherKind,
}

/// Lines read, ready for the pipeline, and where reading got to.
#[derive(Debug, Default)]
pub struct Chunk {
    /// One event per line.
    pub events: Batch,
    /// Bytes consumed by those lines.
    pub bytes: u64,
    /// Lines cut to `max_line_bytes`.
    pub truncated: u64,
    /// The positions of the paths that moved, once these events are sent.
    pub positions: Vec<(PathBuf, PathState)>,
    /// Text held (what the batch costs in memory).
    held: usize,
}

impl Chunk {
    fn full(&self) -> bool {
        self.events.len() >= BATCH_SIZE || self.held >= BATCH_BYTES
    }
}

/// What the follower sends to the stage's task.
#[derive(Debug)]
pub enum ToPump {
    /// Lines (maybe none) and positions.
    Chunk(Chunk),
    /// A problem for the `errors` channel.
    Error(String),
}

/// The stage's task is gone: stop.
#[derive(Debug)]
struct Gone;

/// How one read of a file ended.
enum ReadEnd {
    /// Nothing more to read now.
    End,
    /// The batch is full: send it, then come back.
    Full,
    /// A file was inserted before this one (the copy of a copytruncate):
    /// look at the list again.
    Inserted,
}

/// Starts the follower thread. `saved` holds the checkpoints of this stage
/// by path. The thread ends when `stop` is asked or the receiver is gone.
pub fn spawn(
    settings: Settings,
    saved: HashMap<PathBuf, PathState>,
    tx: mpsc::Sender<ToPump>,
) -> io::Result<Arc<Wake>> {
    let wake = Arc::new(Wake::default());
    let follower = Follower {
        s: settings,
        tx,
        wake: wake.clone(),
        watcher: None,
        watched: HashMap::new(),
        files: Vec::new(),
        saved,
        reported: HashMap::new(),
        waiting: HashSet::new(),
        chunk: Chunk::default(),
        touched: HashSet::new(),
    };
    std::thread::Builder::new()
        .name(format!("tail-{}", follower.s.stage))
        .spawn(move || follower.run())?;
    Ok(wake)
}

struct Follower {
    s: Settings,
    tx: mpsc::Sender<ToPump>,
    wake: Arc<Wake>,
    watcher: Option<RecommendedWatcher>,
    /// Watched directories and their identity (a directory removed and
    /// made again must be watched again).
    watched: HashMap<PathBuf, FileId>,
    /// Open files; for one path, older files come first.
    files: Vec<Tracked>,
    /// Checkpoints loaded at start, used by the first scan.
    saved: HashMap<PathBuf, PathState>,
    /// Problems reported per path, so that each is reported once.
    reported: HashMap<PathBuf, String>,
    /// Configured files that do not exist (yet), logged once.
    waiting: HashSet<PathBuf>,
    chunk: Chunk,
    /// Paths whose position changed since the last batch.
    touched: HashSet<PathBuf>,
}

impl Follower {
    fn run(mut self) {
        // `Gone` means the stage's task stopped listening: nothing to do.
        let _ = self.follow();
    }

    fn follow(&mut self) -> Result<(), Gone> {
        if self.s.watcher == WatcherKind::Inotify {
            self.start_watcher()?;
        }
        // Watches first, then the scan: nothing written in between is missed.
        self.watch_dirs()?;
        self.rescan(true)?;
        self.read_dirty()?;
        self.send()?;
        let mut next_poll = Instant::now() + self.s.poll_interval;
        loop {
            let woken = self
                .wake
                .wait(next_poll.saturating_duration_since(Instant::now()));
            if woken.stop {
                return Ok(());
            }
            let now = Instant::now();
            let poll = now >= next_poll;
            if poll {
                next_poll = now + self.s.poll_interval;
            }
            if poll || woken.rescan || woken.structural.iter().any(|p| self.relevant(p)) {
                self.watch_dirs()?;
                self.rescan(false)?;
                for f in &mut self.files {
                    f.dirty = true;
                }
            } else {
                self.mark_written(&woken.data);
            }
            self.read_dirty()?;
            self.close_rotated(now)?;
            self.send()?;
        }
    }

    /// Marks the files written to; a write to a file we do not know by
    /// that name may be a late write to a rotated file (now under its new
    /// name), so those are looked at too.
    fn mark_written(&mut self, paths: &HashSet<PathBuf>) {
        let mut unknown = false;
        for p in paths {
            let mut hit = false;
            for f in self.files.iter_mut().filter(|f| f.path == *p) {
                f.dirty = true;
                hit = true;
            }
            unknown |= !hit;
        }
        if unknown {
            for f in self.files.iter_mut().filter(|f| f.role == Role::Rotated) {
                f.dirty = true;
            }
        }
    }

    // ----- reporting -----

    /// Sends a problem to the `errors` channel (and the log).
    fn report(&self, message: String) -> Result<(), Gone> {
        tracing::warn!(stage = %self.s.stage, "{message}");
        self.tx
            .blocking_send(ToPump::Error(message))
            .map_err(|_| Gone)
    }

    /// Reports a problem with `path`, unless this one was already reported.
    fn problem(&mut self, path: &Path, message: String) -> Result<(), Gone> {
        if self.reported.get(path) == Some(&message) {
            return Ok(());
        }
        self.reported.insert(path.to_path_buf(), message.clone());
        self.report(message)
    }

    // ----- watching -----

    fn start_watcher(&mut self) -> Result<(), Gone> {
        let wake = self.wake.clone();
        match notify::recommended_watcher(move |res| wake.on_event(res)) {
            Ok(w) => {
                self.watcher = Some(w);
                Ok(())
            }
            Err(e) => self.fall_back(&e.to_string()),
        }
    }

    /// inotify cannot be used (no instance left, watch limit reached):
    /// poll from now on.
    fn fall_back(&mut self, why: &str) -> Result<(), Gone> {
        self.watcher = None;
        self.watched.clear();
        self.report(format!(
            "cannot watch files with inotify ({why}); polling every {} instead",
            FiniteSpan(self.s.poll_interval)
        ))
    }

    /// The directories whose changes matter: those of the configured
    /// files, the globs' directories, and those of the open files.
    fn wanted_dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        for src in &self.s.sources {
            match src {
                Source::Path(p) => {
                    if let Some(d) = p.parent() {
                        dirs.insert(d.to_path_buf());
                    }
                }
                Source::Glob(g) => {
                    dirs.insert(g.base.clone());
                    if let Some(dp) = &g.dir_pattern
                        && let Ok(found) = glob::glob_with(dp, GLOB_OPTIONS)
                    {
                        dirs.extend(found.flatten().filter(|d| d.is_dir()));
                    }
                }
            }
        }
        for f in &self.files {
            if let Some(d) = f.path.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        dirs
    }

    /// Adds watches for directories not watched yet. A directory that does
    /// not exist is looked at by the periodic check until it does.
    fn watch_dirs(&mut self) -> Result<(), Gone> {
        if self.watcher.is_none() {
            return Ok(());
        }
        for dir in self.wanted_dirs() {
            let Ok(meta) = fs::metadata(&dir) else {
                self.watched.remove(&dir);
                continue;
            };
            let id = FileId::of(&meta);
            if !meta.is_dir() || self.watched.get(&dir) == Some(&id) {
                continue;
            }
            let Some(w) = self.watcher.as_mut() else {
                break;
            };
            match w.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir, id);
                }
                Err(e) => {
                    if out_of_watches(&e) {
                        return self.fall_back(&format!("{}: {e}", dir.display()));
                    }
                    if !matches!(e.kind, notify::ErrorKind::PathNotFound) {
                        // E.g. no permission: the periodic check covers it.
                        let msg = format!(
                            "cannot watch {} ({e}); it is checked every {}",
                            dir.display(),
                            FiniteSpan(self.s.poll_interval)
                        );
                        self.problem(&dir, msg)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// True when a created, removed or renamed `path` may be one of ours.
    fn relevant(&self, path: &Path) -> bool {
        self.files.iter().any(|f| f.path == path)
            || self.s.sources.iter().any(|s| match s {
                Source::Path(p) => p.starts_with(path),
                Source::Glob(g) => {
                    g.matcher.matches_path_with(path, GLOB_OPTIONS)
                        || g.base.starts_with(path)
                        || (g.dir_pattern.is_some() && path.starts_with(&g.base))
                }
            })
    }

    /// True when `path` is (still) one of the paths to follow.
    fn wanted(&self, path: &Path) -> bool {
        self.s.sources.iter().any(|s| match s {
            Source::Path(p) => p == path,
            Source::Glob(g) => g.matcher.matches_path_with(path, GLOB_OPTIONS),
        })
    }

    // ----- scanning -----

    /// The paths to follow now: every configured file (existing or not),
    /// every file the globs match; `true` for configured files.
    fn current_paths(&self) -> Vec<(PathBuf, bool)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for src in &self.s.sources {
            match src {
                Source::Path(p) => {
                    if seen.insert(p.clone()) {
                        out.push((p.clone(), true));
                    }
                }
                Source::Glob(g) => {
                    let Ok(found) = glob::glob_with(&g.pattern, GLOB_OPTIONS) else {
                        continue;
                    };
                    // Unreadable directories are skipped; files in them
                    // cannot be followed anyway.
                    for p in found.flatten() {
                        if !p.is_dir() && seen.insert(p.clone()) {
                            out.push((p, false));
                        }
                    }
                }
            }
        }
        out
    }

    /// Looks at every path: rotations (the path names another file, or
    /// none), new files. `initial`: the first scan, where files without a
    /// checkpoint start where `start_at` says (later ones are new, and are
    /// read from their start).
    fn rescan(&mut self, initial: bool) -> Result<(), Gone> {
        let now = Instant::now();
        for f in &mut self.files {
            if f.role != Role::Active {
                continue;
            }
            match fs::metadata(&f.path) {
                Ok(m) if FileId::of(&m) == f.id => continue,
                Err(e) if e.kind() != io::ErrorKind::NotFound => continue,
                _ => {}
            }
            tracing::info!(
                stage = %self.s.stage,
                "{} was rotated or removed; reading the old file to its end",
                f.path.display()
            );
            f.role = Role::Rotated;
            f.last_growth = now;
            f.dirty = true;
            self.touched.insert(f.path.clone());
        }
        for (path, explicit) in self.current_paths() {
            if self
                .files
                .iter()
                .any(|f| f.role == Role::Active && f.path == path)
            {
                continue;
            }
            self.open_path(&path, explicit, initial)?;
        }
        if initial {
            // Paths followed before whose file was rotated away while
            // logbus was stopped, and that have no file now.
            let saved: Vec<(PathBuf, PathState)> = self.saved.drain().collect();
            for (path, state) in saved {
                if self.wanted(&path) {
                    for pos in &state.files {
                        self.resume_rotated(&path, pos, None)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts following the file at `path`.
    fn open_path(&mut self, path: &Path, explicit: bool, initial: bool) -> Result<(), Gone> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if explicit && self.waiting.insert(path.to_path_buf()) {
                    tracing::info!(stage = %self.s.stage, "waiting for {} to appear", path.display());
                }
                return Ok(());
            }
            Err(e) => return self.problem(path, format!("cannot read {}: {e}", path.display())),
        };
        if meta.is_dir() && !explicit {
            return Ok(());
        }
        if !meta.is_file() {
            let why = if meta.is_dir() {
                "is a directory"
            } else {
                "not a regular file"
            };
            return self.problem(path, format!("cannot read {}: {why}", path.display()));
        }
        let id = FileId::of(&meta);
        if let Some(f) = self.files.iter_mut().find(|f| f.id == id) {
            // The same file under another name: a rotated file renamed to a
            // name a glob matches is read on where it was, never twice.
            if f.role == Role::Rotated {
                tracing::info!(
                    stage = %self.s.stage,
                    "{} is {} renamed; following it there",
                    path.display(),
                    f.path.display()
                );
                self.touched.insert(f.path.clone());
                f.rename(path);
                f.role = Role::Active;
                f.dirty = true;
                self.touched.insert(path.to_path_buf());
            }
            return Ok(());
        }
        let opened = open_regular(path).and_then(|(file, meta)| {
            let head = read_head(&file)?;
            Ok((file, meta, head))
        });
        let (file, meta, head) = match opened {
            Ok(x) => x,
            Err(e) => return self.problem(path, format!("cannot read {}: {e}", path.display())),
        };
        let id = FileId::of(&meta);
        let offset = match self.saved.remove(path) {
            Some(state) => {
                let mut resume = None;
                for pos in &state.files {
                    if resume.is_none() && pos.is(id, &head) && meta.len() >= pos.offset {
                        resume = Some(pos.offset);
                    } else {
                        self.resume_rotated(path, pos, Some(id))?;
                    }
                }
                // No match: the file was made after the checkpoint, all of it is new.
                resume.unwrap_or(0)
            }
            None if initial && self.s.start_at == StartAt::End => {
                match last_line_start(&file, meta.len()) {
                    Ok(o) => o,
                    Err(e) => {
                        return self.problem(path, format!("cannot read {}: {e}", path.display()));
                    }
                }
            }
            None => 0,
        };
        match Tracked::new(
            path,
            file,
            id,
            &head,
            offset,
            self.s.max_line_bytes,
            Role::Active,
        ) {
            Ok(t) => {
                tracing::info!(
                    stage = %self.s.stage,
                    "following {} from offset {offset}",
                    path.display()
                );
                self.files.push(t);
                self.touched.insert(path.to_path_buf());
                self.reported.remove(path);
                self.waiting.remove(path);
                Ok(())
            }
            Err(e) => self.problem(path, format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Finds the file a checkpoint names when it is no longer at `path`
    /// (renamed, or copied by copytruncate) and reads the rest of it.
    fn resume_rotated(
        &mut self,
        path: &Path,
        pos: &FilePos,
        exclude: Option<FileId>,
    ) -> Result<(), Gone> {
        let Some(found) = find_rotated(path, pos, exclude) else {
            return Ok(());
        };
        let id = FileId::of(&found.meta);
        if self.files.iter().any(|f| f.id == id) {
            return Ok(());
        }
        let head = match read_head(&found.file) {
            Ok(h) => h,
            Err(e) => {
                return self.problem(
                    &found.path,
                    format!("cannot read {}: {e}", found.path.display()),
                );
            }
        };
        tracing::info!(
            stage = %self.s.stage,
            "reading the rest of {} (rotated from {}) from offset {}",
            found.path.display(),
            path.display(),
            pos.offset
        );
        match Tracked::new(
            path,
            found.file,
            id,
            &head,
            pos.offset,
            self.s.max_line_bytes,
            Role::Rotated,
        ) {
            Ok(t) => {
                // Before the file now at `path`: its lines are older.
                let at = self
                    .files
                    .iter()
                    .position(|f| f.path == path && f.role == Role::Active)
                    .unwrap_or(self.files.len());
                self.files.insert(at, t);
                self.touched.insert(path.to_path_buf());
                Ok(())
            }
            Err(e) => self.problem(
                &found.path,
                format!("cannot read {}: {e}", found.path.display()),
            ),
        }
    }

    // ----- reading -----

    /// Reads every file marked dirty to its end, sending full batches on
    /// the way. Lines of an older file of a path go before the newer one's.
    fn read_dirty(&mut self) -> Result<(), Gone> {
        while self.files.iter().any(|f| f.dirty) {
            let mut i = 0;
            while i < self.files.len() {
                let f = &self.files[i];
                if !f.dirty || self.files[..i].iter().any(|o| o.dirty && o.path == f.path) {
                    i += 1;
                    continue;
                }
                match self.read_one(i)? {
                    ReadEnd::End => {
                        self.files[i].dirty = false;
                        i += 1;
                    }
                    ReadEnd::Full => {
                        self.send()?;
                        i += 1;
                    }
                    // Look at index `i` again: the inserted file.
                    ReadEnd::Inserted => {}
                }
            }
        }
        Ok(())
    }

    /// Reads file `i` until its end or a full batch.
    fn read_one(&mut self, i: usize) -> Result<ReadEnd, Gone> {
        let f = &mut self.files[i];
        match f.check() {
            Ok(Check::Same) => {}
            Ok(Check::Restarted { before }) => {
                tracing::info!(
                    stage = %self.s.stage,
                    "{} was truncated or rewritten; reading it again from its start",
                    f.path.display()
                );
                f.error_reported = false;
                let path = f.path.clone();
                let id = f.id;
                let role = f.role;
                self.touched.insert(path.clone());
                if role == Role::Active {
                    // copytruncate: the lines not read yet are in the copy.
                    let before_len = self.files.len();
                    self.resume_rotated(&path, &before, Some(id))?;
                    if self.files.len() > before_len {
                        return Ok(ReadEnd::Inserted);
                    }
                }
            }
            Err(e) => {
                self.read_error(i, &e)?;
                return Ok(ReadEnd::End);
            }
        }
        let Self {
            files,
            chunk,
            touched,
            ..
        } = self;
        let f = &mut files[i];
        // Bytes pulled from the file (it grew) and lines taken (the position
        // moved) differ: read-ahead may hold lines taken on a later call.
        let start = f.consumed();
        let mut lines = 0usize;
        let mut end = ReadEnd::End;
        let mut failed = None;
        loop {
            if chunk.full() {
                end = ReadEnd::Full;
                break;
            }
            match f.next_line(false) {
                Ok(Some(line)) => {
                    chunk.bytes += line.raw_len;
                    chunk.truncated += u64::from(line.truncated);
                    chunk.held += line.text.len();
                    chunk.events.push(f.event(line));
                    lines += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if f.consumed() != start {
            f.last_growth = Instant::now();
        }
        if lines > 0 {
            touched.insert(f.path.clone());
        }
        if let Some(e) = failed {
            self.read_error(i, &e)?;
        }
        Ok(end)
    }

    /// Reports a read error once per file; the file is tried again at the
    /// next change or check.
    fn read_error(&mut self, i: usize, e: &io::Error) -> Result<(), Gone> {
        let f = &mut self.files[i];
        if f.error_reported {
            return Ok(());
        }
        f.error_reported = true;
        let msg = format!("cannot read {}: {e}", f.path.display());
        self.report(msg)
    }

    /// Closes rotated files quiet for `rotate_wait`, after a last look.
    fn close_rotated(&mut self, now: Instant) -> Result<(), Gone> {
        let mut i = 0;
        while i < self.files.len() {
            let f = &self.files[i];
            if f.role != Role::Rotated
                || f.dirty
                || now.saturating_duration_since(f.last_growth) < self.s.rotate_wait
            {
                i += 1;
                continue;
            }
            let quiet_since = f.last_growth;
            self.files[i].dirty = true;
            // (Only active files get a copy inserted, so `Inserted` cannot
            // happen here.)
            while let ReadEnd::Full = self.read_one(i)? {
                self.send()?;
            }
            let f = &mut self.files[i];
            f.dirty = false;
            if f.last_growth != quiet_since {
                i += 1;
                continue;
            }
            // The file is done: a last line without a newline is a line now.
            if f.has_partial() {
                match f.next_line(true) {
                    Ok(Some(line)) => {
                        self.chunk.bytes += line.raw_len;
                        self.chunk.truncated += u64::from(line.truncated);
                        self.chunk.held += line.text.len();
                        self.chunk.events.push(f.event(line));
                    }
                    Ok(None) => {}
                    Err(e) => self.read_error(i, &e)?,
                }
            }
            let f = self.files.remove(i);
            tracing::info!(
                stage = %self.s.stage,
                "done with the rotated file that was {}",
                f.path.display()
            );
            self.touched.insert(f.path);
            if self.chunk.full() {
                self.send()?;
            }
        }
        Ok(())
    }

    /// Hands the batch and the positions reached to the stage's task
    /// (waiting for room: back-pressure).
    fn send(&mut self) -> Result<(), Gone> {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.positions = self
            .touched
            .drain()
            .map(|p| {
                let files = self
                    .files
                    .iter()
                    .filter(|f| f.path == p)
                    .map(Tracked::position)
                    .collect();
                (p, PathState { files })
            })
            .collect();
        if chunk.events.is_empty() && chunk.positions.is_empty() {
            return Ok(());
        }
        self.tx
            .blocking_send(ToPump::Chunk(chunk))
            .map_err(|_| Gone)
    }
}

/// True when inotify itself ran out (watch or instance limit): then only
/// polling works.
fn out_of_watches(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => matches!(io.raw_os_error(), Some(ENOSPC | EMFILE)),
        _ => false,
    }
}

/// Linux errno values, spelled out rather than adding a libc dependency
/// for two numbers: the watch limit, the per-process instance limit.
const ENOSPC: i32 = 28;
const EMFILE: i32 = 24;
