//! How the follower thread is woken: file-system events from `notify`
//! (inotify), coalesced into sets of paths, or a stop request.
//!
//! Events are not queued one by one: a writer appending a million lines
//! makes a million events, and while the pipeline is slow (back-pressure)
//! they would pile up without bound. Instead each event marks its path, and
//! the follower takes the whole set when it wakes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use notify::EventKind;
use notify::event::ModifyKind;

/// Past this many distinct paths waiting, they are dropped for a full
/// rescan (bounded memory when a watched directory is very busy).
const MAX_PATHS: usize = 4096;

/// What happened since the follower last looked.
#[derive(Debug, Default)]
pub struct Woken {
    /// Paths whose content changed (written, truncated, opened, closed).
    pub data: HashSet<PathBuf>,
    /// Paths created, removed or renamed.
    pub structural: HashSet<PathBuf>,
    /// Look at everything (events were lost, or too many paths).
    pub rescan: bool,
    /// The input is stopping.
    pub stop: bool,
}

impl Woken {
    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.structural.is_empty() && !self.rescan && !self.stop
    }
}

/// Shared between the `notify` callback, the input's task and the follower.
#[derive(Debug, Default)]
pub struct Wake {
    state: Mutex<Woken>,
    cv: Condvar,
}

impl Wake {
    fn lock(&self) -> MutexGuard<'_, Woken> {
        // A panic while holding the lock leaves plain data behind: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one `notify` event (called on notify's thread).
    pub fn on_event(&self, res: notify::Result<notify::Event>) {
        let mut s = self.lock();
        match res {
            Ok(ev) if ev.need_rescan() => s.rescan = true,
            Ok(ev) => {
                let data = matches!(
                    ev.kind,
                    EventKind::Access(_)
                        | EventKind::Modify(
                            ModifyKind::Data(_)
                                | ModifyKind::Metadata(_)
                                | ModifyKind::Any
                                | ModifyKind::Other
                        )
                );
                if ev.paths.is_empty() {
                    s.rescan = true;
                }
                let set = if data { &mut s.data } else { &mut s.structural };
                for p in ev.paths {
                    set.insert(p);
                }
                if s.data.len() + s.structural.len() > MAX_PATHS {
                    s.data.clear();
                    s.structural.clear();
                    s.rescan = true;
                }
            }
            // The watcher had a problem (e.g. a lost watch): look at everything.
            Err(_) => s.rescan = true,
        }
        drop(s);
        self.cv.notify_one();
    }

    /// Asks the follower to stop.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.cv.notify_one();
    }

    /// Waits until something happens or `timeout` passes, and takes what
    /// happened (`stop` stays set).
    pub fn wait(&self, timeout: Duration) -> Woken {
        let guard = self.lock();
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |s| s.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        let stop = guard.stop;
        let mut taken = std::mem::take(&mut *guard);
        guard.stop = stop;
        taken.stop = stop;
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use notify::event::{CreateKind, DataChange};

    use super::*;

    #[test]
    fn events_are_coalesced_by_path() {
        let w = Wake::default();
        for _ in 0..1000 {
            w.on_event(Ok(notify::Event::new(EventKind::Modify(ModifyKind::Data(
                DataChange::Any,
            )))
            .add_path("/x/a.log".into())));
        }
        w.on_event(Ok(
            notify::Event::new(EventKind::Create(CreateKind::File)).add_path("/x/b.log".into())
        ));
        let got = w.wait(Duration::ZERO);
        assert_eq!(got.data.len(), 1);
        assert_eq!(got.structural.len(), 1);
        assert!(!got.rescan && !got.stop);
        assert!(w.wait(Duration::ZERO).data.is_empty());
    }

    #[test]
    fn too_many_paths_become_a_rescan() {
        let w = Wake::default();
        for i in 0..=MAX_PATHS {
            w.on_event(Ok(notify::Event::new(EventKind::Modify(ModifyKind::Any))
                .add_path(format!("/x/{i}").into())));
        }
        let got = w.wait(Duration::ZERO);
        assert!(got.rescan);
        assert!(got.data.is_empty());
    }

    #[test]
    fn stop_wakes_a_waiting_follower() {
        let w = Arc::new(Wake::default());
        let w2 = w.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || w2.wait(Duration::from_secs(60)));
        w.stop();
        assert!(t.join().unwrap().stop);
        assert!(start.elapsed() < Duration::from_secs(30));
        assert!(w.wait(Duration::ZERO).stop, "stop stays set");
    }
}
