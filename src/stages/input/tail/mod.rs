//! `tail`: follow files and globs as they grow, across rotations, resuming
//! where it stopped.
//!
//! A follower thread ([`follower`]) watches the files' directories with
//! inotify (or polls), reads new lines and hands them over in batches,
//! each with the positions its lines reach. This stage's task sends the
//! batches into the pipeline and only then counts those positions as
//! reached ("committed"); once a second, and when the pipeline stops, it
//! saves them to the state store ([`checkpoint`]). So a clean stop re-reads
//! nothing and loses nothing, and a crash re-reads at most the last second.

mod checkpoint;
mod follower;
mod tracked;
mod wake;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};

use self::checkpoint::PathState;
use self::follower::{GlobSource, Source, StartAt, ToPump, WatcherKind};
use super::file;
use super::lines::DEFAULT_MAX_LINE_BYTES;
use crate::duration::FiniteSpan;
use crate::pipeline::{
    BoxFuture, BuildContext, BuildError, BuiltStage, ErrorRecord, Input, InputContext,
    StageCounters, StageError,
};
use crate::stages::{Module, ModuleKind};
use crate::state::{StateError, StateStore, open_for_checkpoints};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "tail",
    kind: ModuleKind::Input,
    summary: "follow files and globs as they grow, across rotations",
    build,
};

/// How often committed positions are saved (and at shutdown).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Batches between the follower and this stage's task: enough to read the
/// next batch while one is being sent, few enough to bound memory.
const QUEUE: usize = 2;

/// The shortest `poll_interval` accepted: below that, polling is a busy loop.
const MIN_POLL: Duration = Duration::from_millis(10);

/// Options of `tail`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TailConfig {
    /// Files and globs, relative to the configuration's directory.
    paths: Vec<String>,
    /// Where a file found at start-up without a checkpoint starts.
    #[serde(default)]
    start_at: StartAt,
    /// Longer lines are truncated (and counted).
    #[serde(default = "default_max")]
    max_line_bytes: usize,
    /// inotify (with a periodic check) or polling only.
    #[serde(default)]
    watcher: WatcherKind,
    /// How often every file is checked without waiting for an event.
    #[serde(default = "default_poll")]
    poll_interval: FiniteSpan,
    /// How long a rotated file is still read after it last grew.
    #[serde(default = "default_rotate_wait")]
    rotate_wait: FiniteSpan,
}

fn default_max() -> usize {
    DEFAULT_MAX_LINE_BYTES
}

fn default_poll() -> FiniteSpan {
    FiniteSpan(Duration::from_secs(1))
}

fn default_rotate_wait() -> FiniteSpan {
    FiniteSpan(Duration::from_secs(5))
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    TailInput::configure(ctx).map(BuiltStage::input)
}

/// Resolves one configured path or glob.
fn source(ctx: &BuildContext, text: &str) -> Result<Source, String> {
    match file::source(ctx, text)? {
        file::Source::Path(p) => Ok(Source::Path(p)),
        file::Source::Glob(pattern) => {
            let matcher =
                glob::Pattern::new(&pattern).map_err(|e| format!("bad glob `{text}`: {e}"))?;
            let dir_pattern = match (text.rsplit_once('/'), pattern.rsplit_once('/')) {
                (Some((dir_text, _)), Some((dir_pattern, _))) if has_wildcard(dir_text) => {
                    Some(dir_pattern.to_string())
                }
                _ => None,
            };
            Ok(Source::Glob(GlobSource {
                base: literal_base(ctx, text),
                pattern,
                matcher,
                dir_pattern,
            }))
        }
    }
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// The directory before a glob's first wildcard (`/var/log/nginx` for
/// `/var/log/nginx/*.log`): where new matching files may appear.
fn literal_base(ctx: &BuildContext, text: &str) -> PathBuf {
    let mut base = PathBuf::new();
    let mut parts = Path::new(text).components().peekable();
    while let Some(c) = parts.next() {
        // The last part is a name (or a wildcard), not a directory.
        if parts.peek().is_none() || c.as_os_str().to_str().is_some_and(has_wildcard) {
            break;
        }
        base.push(c);
    }
    if base.as_os_str().is_empty() {
        ctx.base_dir.to_path_buf()
    } else {
        ctx.resolve(base)
    }
}

#[derive(Debug)]
struct TailInput {
    settings: follower::Settings,
    state_path: Option<PathBuf>,
}

impl TailInput {
    fn configure(ctx: &BuildContext) -> Result<Self, BuildError> {
        let cfg: TailConfig = ctx.options()?;
        let sources = file::sources(ctx, &cfg.paths, cfg.max_line_bytes, source)?;
        if cfg.poll_interval.0 < MIN_POLL {
            return Err(BuildError::field("poll_interval", "must be at least 10ms"));
        }
        Ok(Self {
            settings: follower::Settings {
                stage: ctx.stage.to_string(),
                sources,
                start_at: cfg.start_at,
                max_line_bytes: cfg.max_line_bytes,
                poll_interval: cfg.poll_interval.0,
                rotate_wait: cfg.rotate_wait.0,
                watcher: cfg.watcher,
            },
            state_path: ctx.settings.state_path.as_ref().map(|p| ctx.resolve(p)),
        })
    }
}

impl Input for TailInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), StageError>> {
        Box::pin(self.follow(ctx))
    }
}

/// What was loaded at start: the store, this stage's checkpoints by path,
/// and rows that could not be read.
type Loaded = (Option<StateStore>, HashMap<PathBuf, PathState>, Vec<String>);

/// Opens the state store and reads this stage's checkpoints.
fn load(state_path: Option<&Path>, stage: &str) -> Result<Loaded, StateError> {
    let Some(store) = open_for_checkpoints(state_path)? else {
        return Ok((None, HashMap::new(), Vec::new()));
    };
    let prefix = checkpoint::key_prefix(stage);
    let mut saved = HashMap::new();
    let mut bad = Vec::new();
    for (key, position) in store.checkpoints_with_prefix(&prefix)? {
        let path = PathBuf::from(&key[prefix.len()..]);
        match serde_json::from_str::<PathState>(&position) {
            Ok(state) => {
                saved.insert(path, state);
            }
            Err(e) => bad.push(format!(
                "checkpoint `{key}` in {} is unreadable ({e}); {} is read as if new",
                store.path().display(),
                path.display()
            )),
        }
    }
    Ok((Some(store), saved, bad))
}

impl TailInput {
    async fn follow(self: Box<Self>, mut ctx: InputContext) -> Result<(), StageError> {
        let stage = self.settings.stage.clone();
        let (store, saved, bad) = {
            let stage = stage.clone();
            let state_path = self.state_path.clone();
            tokio::task::spawn_blocking(move || load(state_path.as_deref(), &stage))
                .await
                .map_err(|e| StageError::new(format!("loading checkpoints crashed: {e}")))?
                .map_err(|e| StageError::new(e.to_string()))?
        };
        for message in bad {
            report(&ctx, message).await;
        }
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let wake = follower::spawn(self.settings, saved, tx)
            .map_err(|e| StageError::new(format!("cannot start following files: {e}")))?;
        let mut saver = Saver::new(store, &stage);
        let truncated = ctx.counters.extra("lines_truncated");
        let mut shutdown = ctx.shutdown.clone();
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break Ok(()),
                done = async {
                    match saver.in_flight.as_mut() {
                        Some(h) => h.await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(message) = saver.done(done) {
                        report(&ctx, message).await;
                    }
                }
                msg = rx.recv() => match msg {
                    None => break Err(StageError::new("the file follower stopped unexpectedly")),
                    Some(ToPump::Error(message)) => report(&ctx, message).await,
                    Some(ToPump::Chunk(chunk)) => {
                        StageCounters::add(&ctx.counters.lines_in, chunk.events.len() as u64);
                        StageCounters::add(&ctx.counters.bytes_in, chunk.bytes);
                        if chunk.truncated > 0 {
                            truncated.fetch_add(chunk.truncated, Ordering::Relaxed);
                            report(&ctx, format!(
                                "{} line(s) longer than the limit were truncated",
                                chunk.truncated
                            )).await;
                        }
                        // Not raced against shutdown: a batch is sent whole
                        // (the pipeline drains), then its positions count.
                        if ctx.out.send(chunk.events).await.is_err() {
                            break Ok(());
                        }
                        saver.record(chunk.positions);
                    }
                },
                _ = tick.tick() => saver.start(),
            }
        };
        wake.stop();
        // Batches read but not sent are dropped: their lines are after the
        // saved positions, so they are read again next time.
        drop(rx);
        if let Some(message) = saver.finish().await {
            report(&ctx, message).await;
        }
        end
    }
}

async fn report(ctx: &InputContext, message: String) {
    ctx.errors
        .report(ErrorRecord {
            message,
            input: None,
        })
        .await;
}

/// What a checkpoint save hands back: the store (moved to a blocking
/// thread and back) and how it went.
type Saved = (StateStore, Result<(), StateError>);

/// Keeps the committed positions and saves them in the background, at
/// most one save at a time.
struct Saver {
    stage: String,
    /// `None` while a save runs, or when there is no store.
    store: Option<StateStore>,
    in_flight: Option<JoinHandle<Saved>>,
    /// Paths being saved by the save in flight (dirty again if it fails).
    saving: Vec<PathBuf>,
    committed: HashMap<PathBuf, PathState>,
    dirty: HashSet<PathBuf>,
    /// A failure was reported; the next is reported after a success.
    failing: bool,
}

impl Saver {
    fn new(store: Option<StateStore>, stage: &str) -> Self {
        Self {
            stage: stage.to_string(),
            store,
            in_flight: None,
            saving: Vec::new(),
            committed: HashMap::new(),
            dirty: HashSet::new(),
            failing: false,
        }
    }

    /// Positions reached by lines that are now in the pipeline.
    fn record(&mut self, positions: Vec<(PathBuf, PathState)>) {
        for (path, state) in positions {
            self.dirty.insert(path.clone());
            self.committed.insert(path, state);
        }
    }

    /// Starts saving what changed, unless a save is running.
    fn start(&mut self) {
        if self.dirty.is_empty() || self.in_flight.is_some() {
            return;
        }
        let Some(mut store) = self.store.take() else {
            return;
        };
        self.saving = self.dirty.drain().collect();
        let entries: Vec<(String, String)> = self
            .saving
            .iter()
            .filter_map(|p| {
                let state = self.committed.get(p)?;
                let text = serde_json::to_string(state).ok()?;
                Some((checkpoint::key(&self.stage, p), text))
            })
            .collect();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let r = store.save_checkpoints(&entries, jiff::Timestamp::now().as_millisecond());
            (store, r)
        }));
    }

    /// A save ended; a message for `errors` when it failed.
    fn done(&mut self, joined: Result<Saved, JoinError>) -> Option<String> {
        self.in_flight = None;
        let saving = std::mem::take(&mut self.saving);
        let error = match joined {
            Ok((store, result)) => {
                self.store = Some(store);
                result.err().map(|e| e.to_string())
            }
            // The store went down with the thread: no more checkpoints.
            Err(e) => Some(format!("checkpoint saving crashed: {e}")),
        };
        match error {
            None => {
                self.failing = false;
                None
            }
            Some(e) => {
                self.dirty.extend(saving);
                let first = !self.failing;
                self.failing = true;
                first.then(|| format!("cannot save checkpoints: {e}"))
            }
        }
    }

    /// At shutdown: waits for the save in flight, then saves the rest.
    async fn finish(&mut self) -> Option<String> {
        let mut message = None;
        if let Some(h) = self.in_flight.take() {
            message = self.done(h.await);
        }
        self.failing = false;
        self.start();
        if let Some(h) = self.in_flight.take() {
            message = self.done(h.await).or(message);
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn build_at(base: &Path, yaml: &str) -> Result<TailInput, BuildError> {
        let opts: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(yaml).unwrap();
        TailInput::configure(&BuildContext {
            stage: "in",
            options: &opts,
            base_dir: base,
            counters: Arc::new(StageCounters::default()),
            settings: &crate::config::Settings::default(),
        })
    }

    #[test]
    fn options_and_defaults() {
        let t = build_at(Path::new("/etc/logbus"), "paths: [a.log]").unwrap();
        assert_eq!(t.settings.start_at, StartAt::End);
        assert_eq!(t.settings.watcher, WatcherKind::Inotify);
        assert_eq!(t.settings.poll_interval, Duration::from_secs(1));
        assert_eq!(t.settings.rotate_wait, Duration::from_secs(5));
        assert!(
            matches!(&t.settings.sources[..], [Source::Path(p)] if p == Path::new("/etc/logbus/a.log"))
        );
        let t = build_at(
            Path::new("/"),
            "paths: [/x/a.log]\nstart_at: beginning\nwatcher: poll\npoll_interval: 250ms\nrotate_wait: 1m",
        )
        .unwrap();
        assert_eq!(t.settings.start_at, StartAt::Beginning);
        assert_eq!(t.settings.watcher, WatcherKind::Poll);
        assert_eq!(t.settings.poll_interval, Duration::from_millis(250));
        assert_eq!(t.settings.rotate_wait, Duration::from_secs(60));
    }

    #[test]
    fn globs_know_their_directories() {
        let t = build_at(
            Path::new("/srv/[x]"),
            "paths: [\"logs/*.log\", \"/var/log/*/access.log\", \"*.txt\"]",
        )
        .unwrap();
        let globs: Vec<&GlobSource> = t
            .settings
            .sources
            .iter()
            .filter_map(|s| match s {
                Source::Glob(g) => Some(g),
                Source::Path(_) => None,
            })
            .collect();
        assert_eq!(globs[0].base, Path::new("/srv/[x]/logs"));
        assert_eq!(globs[0].pattern, "/srv/[[]x[]]/logs/*.log");
        assert_eq!(globs[0].dir_pattern, None);
        assert!(
            globs[0]
                .matcher
                .matches_path_with(Path::new("/srv/[x]/logs/a.log"), follower::GLOB_OPTIONS)
        );
        assert_eq!(globs[1].base, Path::new("/var/log"));
        assert_eq!(globs[1].dir_pattern.as_deref(), Some("/var/log/*"));
        assert_eq!(globs[2].base, Path::new("/srv/[x]"));
    }

    #[test]
    fn bad_options_name_the_field() {
        let e = build_at(Path::new("/"), "paths: []").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("paths"));
        let e = build_at(Path::new("/"), "paths: [a, \"x/[z-a\"]").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("paths.1"));
        let e = build_at(Path::new("/"), "paths: [a]\nstart_at: middle").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("start_at"));
        let e = build_at(Path::new("/"), "paths: [a]\npoll_interval: 1ms").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("poll_interval"));
        let e = build_at(Path::new("/"), "paths: [a]\nwatcher: fanotify").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("watcher"));
        let e = build_at(Path::new("/"), "paths: [a]\nmax_line_bytes: 0").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("max_line_bytes"));
        let e = build_at(Path::new("/"), "paths: [a]\nfollow: true").unwrap_err();
        assert!(e.message.contains("follow"), "{e}");
    }
}
