//! The state store: one SQLite file (WAL) holding bans, ban history and
//! input checkpoints. It is the source of truth for bans: on start, every
//! unexpired ban is re-applied to the firewall.
//!
//! Schema (read it with `sqlite3 /var/lib/logbus/state.db`; times are
//! milliseconds since the Unix epoch, the `bans_readable` view shows them as
//! UTC text):
//!
//! ```sql
//! bans(ip, ban_group, rule, reason, failures, first_seen, last_seen,
//!      since, until /* NULL = forever */, previous_bans, source /* auto|manual */,
//!      applied /* 1 once the firewall accepted it */)   PRIMARY KEY (ip, ban_group)
//! ban_history(ip, ban_group, since, until)             -- every ban ever made, for escalation
//! ban_evidence(ip, ban_group, since, at, rule, line)   -- the failures behind each ban
//! checkpoints(input, position, updated)                -- where each input stopped reading
//! meta(key, value)                                     -- schema_version
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use thiserror::Error;

use crate::duration::Span;
use crate::fail2ban::book::{BanDecision, Evidence};

/// Current schema version.
const SCHEMA_VERSION: i64 = 1;

/// A state-store failure.
#[derive(Debug, Error)]
pub enum StateError {
    /// The database could not be opened or created.
    #[error("cannot open state store {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The file belongs to a newer logbus.
    #[error("state store {path} has schema version {found}; this logbus knows {SCHEMA_VERSION}")]
    Version {
        /// The file.
        path: PathBuf,
        /// What it has.
        found: i64,
    },
    /// A query failed.
    #[error("state store: {0}")]
    Query(#[from] rusqlite::Error),
}

/// How often opening the store is tried when SQLite reports a lock
/// conflict that waiting cannot resolve (about 2.5 s in all).
const SETUP_ATTEMPTS: u32 = 100;

/// SQLite's "busy" / "locked".
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Where the store lives when `state_path` is not configured.
pub const DEFAULT_STATE_PATH: &str = "/var/lib/logbus/state.db";

/// Opens the store an input keeps its checkpoints in: `state_path` when
/// configured (failing is an error: the user asked for it), else the
/// default path when it can be opened (as root), else none, with a warning:
/// the input then starts where its `start_at` says on every run.
pub fn open_for_checkpoints(state_path: Option<&Path>) -> Result<Option<StateStore>, StateError> {
    match state_path {
        Some(p) => StateStore::open(p).map(Some),
        None => match StateStore::open(Path::new(DEFAULT_STATE_PATH)) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                tracing::warn!("no checkpoints (set `state_path` to keep them): {e}");
                Ok(None)
            }
        },
    }
}

/// A ban as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBan {
    /// The decision.
    pub decision: BanDecision,
    /// `auto` (from rules) or `manual` (from `logbus bans add`).
    pub source: String,
    /// True once the firewall accepted it.
    pub applied: bool,
}

/// The SQLite state file.
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish()
    }
}

impl StateStore {
    /// Opens (creating when missing) the store at `path`. The parent
    /// directory is created with mode 0700; the file holds addresses and
    /// is readable by its owner only.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let open_err = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    open_err(rusqlite::Error::InvalidPath(PathBuf::from(format!(
                        "{}: {e}",
                        dir.display()
                    ))))
                })?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        restrict_mode(path);
        Self::init(conn, path)
    }

    /// A store in memory (tests, `logbus match`).
    pub fn in_memory() -> Result<Self, StateError> {
        let conn = Connection::open_in_memory()?;
        Self::init(conn, Path::new(":memory:"))
    }

    fn init(mut conn: Connection, path: &Path) -> Result<Self, StateError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Stages open the store side by side at start (fail2ban, the inputs'
        // checkpoints). Two connections setting up a new file can deadlock,
        // and SQLite then answers "busy" at once instead of waiting; every
        // step of the setup can simply be done again.
        let mut attempts = 0;
        loop {
            match Self::set_up(&mut conn, path) {
                Err(StateError::Query(e)) if is_busy(&e) && attempts < SETUP_ATTEMPTS => {
                    attempts += 1;
                    // Jitter, so that the contenders do not retry in step.
                    std::thread::sleep(Duration::from_millis(5 + fastrand::u64(0..45)));
                }
                done => {
                    done?;
                    break;
                }
            }
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Sets the file up (journal mode, tables, schema version); idempotent.
    fn set_up(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
        // WAL: readers (`logbus bans list`, sqlite3) never block the writer;
        // synchronous=FULL: a ban acknowledged is on disk, even after a crash.
        set_wal(conn)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // One write transaction: two stages creating the file at once (the
        // fail2ban stage and an input's checkpoints) take turns.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS bans (
               ip TEXT NOT NULL, ban_group TEXT NOT NULL, rule TEXT NOT NULL,
               reason TEXT NOT NULL, failures INTEGER NOT NULL,
               first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
               since INTEGER NOT NULL, until INTEGER, previous_bans INTEGER NOT NULL,
               bantime TEXT NOT NULL, source TEXT NOT NULL, applied INTEGER NOT NULL DEFAULT 0,
               PRIMARY KEY (ip, ban_group));
             CREATE TABLE IF NOT EXISTS ban_history (
               ip TEXT NOT NULL, ban_group TEXT NOT NULL, since INTEGER NOT NULL, until INTEGER);
             CREATE INDEX IF NOT EXISTS ban_history_ip ON ban_history(ip, since);
             CREATE TABLE IF NOT EXISTS ban_evidence (
               ip TEXT NOT NULL, ban_group TEXT NOT NULL, since INTEGER NOT NULL,
               at INTEGER NOT NULL, rule TEXT NOT NULL, line TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS ban_evidence_ip ON ban_evidence(ip, since);
             CREATE TABLE IF NOT EXISTS checkpoints (
               input TEXT PRIMARY KEY, position TEXT NOT NULL, updated INTEGER NOT NULL);
             CREATE VIEW IF NOT EXISTS bans_readable AS
               SELECT ip, ban_group, rule, failures, source,
                      datetime(since / 1000, 'unixepoch') AS since_utc,
                      CASE WHEN until IS NULL THEN 'forever'
                           ELSE datetime(until / 1000, 'unixepoch') END AS until_utc,
                      previous_bans, applied, reason
               FROM bans;",
        )?;
        let found: Option<i64> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|v| v.parse().ok());
        match found {
            None => {
                // OR IGNORE: another stage may be creating the same new
                // store at this moment and have written it first.
                tx.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StateError::Version {
                    path: path.to_path_buf(),
                    found: v,
                });
            }
            Some(_) => {}
        }
        tx.commit()?;
        Ok(())
    }

    /// A transaction that takes the write lock at its start. Several
    /// connections share the file (the fail2ban stage, the inputs'
    /// checkpoints): a deferred transaction that reads, then writes after
    /// another connection committed, fails at once with "database is
    /// locked" (SQLite cannot wait there, its snapshot is stale); one that
    /// starts with the lock waits for it (`busy_timeout`).
    fn write_transaction(&mut self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records bans (replacing an earlier ban of the same ip and group) and
    /// their history, in one transaction: when this returns, they are on disk.
    pub fn record_bans(&mut self, bans: &[BanDecision], source: &str) -> Result<(), StateError> {
        let tx = self.write_transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO bans (ip, ban_group, rule, reason, failures, first_seen,
                   last_seen, since, until, previous_bans, bantime, source, applied)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0)",
            )?;
            let mut hist = tx.prepare_cached(
                "INSERT INTO ban_history (ip, ban_group, since, until) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut evid = tx.prepare_cached(
                "INSERT INTO ban_evidence (ip, ban_group, since, at, rule, line)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for d in bans {
                let ip = d.ip.to_string();
                put.execute(params![
                    ip,
                    d.group,
                    d.rule,
                    d.reason,
                    d.count,
                    d.first_seen_ms,
                    d.last_seen_ms,
                    d.since_ms,
                    d.until_ms,
                    d.previous_bans,
                    d.bantime.to_string(),
                    source,
                ])?;
                hist.execute(params![ip, d.group, d.since_ms, d.until_ms])?;
                for e in &d.evidence {
                    evid.execute(params![ip, d.group, d.since_ms, e.at_ms, e.rule, e.line])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks bans as accepted by the firewall.
    pub fn mark_applied(&mut self, keys: &[(IpAddr, String)]) -> Result<(), StateError> {
        let tx = self.write_transaction()?;
        {
            let mut st =
                tx.prepare_cached("UPDATE bans SET applied = 1 WHERE ip = ?1 AND ban_group = ?2")?;
            for (ip, group) in keys {
                st.execute(params![ip.to_string(), group])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Bans in force at `now_ms` (all of them when `group` is None).
    pub fn active_bans(
        &self,
        now_ms: i64,
        group: Option<&str>,
    ) -> Result<Vec<StoredBan>, StateError> {
        let mut st = self.conn.prepare_cached(
            "SELECT ip, ban_group, rule, reason, failures, first_seen, last_seen, since, until,
                    previous_bans, bantime, source, applied
             FROM bans WHERE (until IS NULL OR until > ?1) AND (?2 IS NULL OR ban_group = ?2)
             ORDER BY since, ip",
        )?;
        let rows = st.query_map(params![now_ms, group], row_to_ban)?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(b) = r? {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Deletes bans that ended by `now_ms` and history older than
    /// `keep_history`; returns the ended bans.
    pub fn expire(
        &mut self,
        now_ms: i64,
        keep_history: Duration,
    ) -> Result<Vec<StoredBan>, StateError> {
        let tx = self.write_transaction()?;
        let ended = {
            let mut st = tx.prepare_cached(
                "SELECT ip, ban_group, rule, reason, failures, first_seen, last_seen, since, until,
                        previous_bans, bantime, source, applied
                 FROM bans WHERE until IS NOT NULL AND until <= ?1",
            )?;
            let rows = st.query_map([now_ms], row_to_ban)?;
            let mut v = Vec::new();
            for r in rows {
                if let Some(b) = r? {
                    v.push(b);
                }
            }
            v
        };
        tx.execute(
            "DELETE FROM bans WHERE until IS NOT NULL AND until <= ?1",
            [now_ms],
        )?;
        let horizon =
            now_ms.saturating_sub(i64::try_from(keep_history.as_millis()).unwrap_or(i64::MAX));
        tx.execute("DELETE FROM ban_history WHERE since < ?1", [horizon])?;
        tx.execute("DELETE FROM ban_evidence WHERE since < ?1", [horizon])?;
        tx.commit()?;
        Ok(ended)
    }

    /// Removes the bans of `ip` (in `group`, or all groups); returns them.
    pub fn remove_ban(
        &mut self,
        ip: IpAddr,
        group: Option<&str>,
    ) -> Result<Vec<StoredBan>, StateError> {
        let tx = self.write_transaction()?;
        let removed = {
            let mut st = tx.prepare_cached(
                "SELECT ip, ban_group, rule, reason, failures, first_seen, last_seen, since, until,
                        previous_bans, bantime, source, applied
                 FROM bans WHERE ip = ?1 AND (?2 IS NULL OR ban_group = ?2)",
            )?;
            let rows = st.query_map(params![ip.to_string(), group], row_to_ban)?;
            let mut v = Vec::new();
            for r in rows {
                if let Some(b) = r? {
                    v.push(b);
                }
            }
            v
        };
        tx.execute(
            "DELETE FROM bans WHERE ip = ?1 AND (?2 IS NULL OR ban_group = ?2)",
            params![ip.to_string(), group],
        )?;
        tx.commit()?;
        Ok(removed)
    }

    /// Start times of the bans of `ip` since `since_ms` (for escalation).
    pub fn ban_history(&self, ip: IpAddr, since_ms: i64) -> Result<Vec<i64>, StateError> {
        let mut st = self.conn.prepare_cached(
            "SELECT since FROM ban_history WHERE ip = ?1 AND since >= ?2 ORDER BY since",
        )?;
        let rows = st.query_map(params![ip.to_string(), since_ms], |r| r.get::<_, i64>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every (ip, since) of the history since `since_ms` (to seed escalation at start).
    pub fn all_history(&self, since_ms: i64) -> Result<Vec<(IpAddr, i64)>, StateError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT ip, since FROM ban_history WHERE since >= ?1 ORDER BY since")?;
        let rows = st.query_map([since_ms], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (ip, since) = r?;
            if let Ok(ip) = ip.parse() {
                out.push((ip, since));
            }
        }
        Ok(out)
    }

    /// The failures behind the bans of `ip`, newest ban first:
    /// (group, ban start, evidence).
    pub fn evidence(&self, ip: IpAddr) -> Result<Vec<(String, i64, Evidence)>, StateError> {
        let mut st = self.conn.prepare_cached(
            "SELECT ban_group, since, at, rule, line FROM ban_evidence
             WHERE ip = ?1 ORDER BY since DESC, at",
        )?;
        let rows = st.query_map([ip.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                Evidence {
                    at_ms: r.get(2)?,
                    rule: r.get(3)?,
                    line: r.get(4)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The saved position of an input.
    pub fn checkpoint(&self, input: &str) -> Result<Option<String>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT position FROM checkpoints WHERE input = ?1",
                [input],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Saves the position of an input.
    pub fn save_checkpoint(
        &mut self,
        input: &str,
        position: &str,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO checkpoints (input, position, updated) VALUES (?1, ?2, ?3)
             ON CONFLICT(input) DO UPDATE SET position = excluded.position, updated = excluded.updated",
            params![input, position, now_ms],
        )?;
        Ok(())
    }

    /// The saved positions of every input whose name starts with `prefix`
    /// (an input that follows many files keeps one row per file).
    pub fn checkpoints_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StateError> {
        let mut st = self.conn.prepare_cached(
            "SELECT input, position FROM checkpoints
             WHERE substr(input, 1, length(?1)) = ?1 ORDER BY input",
        )?;
        let rows = st.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Saves several positions in one transaction (one disk sync).
    pub fn save_checkpoints(
        &mut self,
        entries: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StateError> {
        let tx = self.write_transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO checkpoints (input, position, updated) VALUES (?1, ?2, ?3)
                 ON CONFLICT(input) DO UPDATE SET position = excluded.position, updated = excluded.updated",
            )?;
            for (input, position) in entries {
                st.execute(params![input, position, now_ms])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Turns a row into a ban; rows with an unparseable address are skipped
/// (someone edited the file by hand).
fn row_to_ban(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<StoredBan>> {
    let ip: String = r.get(0)?;
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return Ok(None);
    };
    let bantime: String = r.get(10)?;
    let until: Option<i64> = r.get(8)?;
    let bantime = Span::parse(&bantime).unwrap_or(match until {
        Some(_) => Span::Finite(Duration::ZERO),
        None => Span::Forever,
    });
    Ok(Some(StoredBan {
        decision: BanDecision {
            ip,
            group: r.get(1)?,
            rule: r.get(2)?,
            reason: r.get(3)?,
            count: r.get(4)?,
            first_seen_ms: r.get(5)?,
            last_seen_ms: r.get(6)?,
            since_ms: r.get(7)?,
            until_ms: until,
            previous_bans: r.get(9)?,
            bantime,
            evidence: Vec::new(),
        },
        source: r.get(11)?,
        applied: r.get::<_, i64>(12)? != 0,
    }))
}

/// How long a connection waits for another one's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Switches to WAL. While another connection is switching the same new
/// file, SQLite answers "busy" at once instead of waiting (the busy
/// handler is not called for a journal mode change), so this waits itself.
fn set_wal(conn: &Connection) -> Result<(), StateError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.map_err(StateError::from),
        }
    }
}

fn restrict_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for p in [
        path.to_path_buf(),
        PathBuf::from(format!("{}-wal", path.display())),
    ] {
        if p.exists() {
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(ip: &str, group: &str, since: i64, until: Option<i64>) -> BanDecision {
        BanDecision {
            ip: ip.parse().unwrap(),
            group: group.into(),
            rule: "r".into(),
            count: 3,
            first_seen_ms: since - 10,
            last_seen_ms: since,
            since_ms: since,
            until_ms: until,
            bantime: until.map_or(Span::Forever, |u| {
                Span::Finite(Duration::from_millis((u - since) as u64))
            }),
            previous_bans: 0,
            reason: "3 failures".into(),
            evidence: vec![crate::fail2ban::book::Evidence::new(
                since,
                "r",
                "bad login",
            )],
        }
    }

    #[test]
    fn bans_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        {
            let mut s = StateStore::open(&path).unwrap();
            s.record_bans(
                &[
                    decision("192.0.2.1", "ssh", 1000, Some(5000)),
                    decision("2001:db8::1", "web", 1000, None),
                ],
                "auto",
            )
            .unwrap();
            s.mark_applied(&[("192.0.2.1".parse().unwrap(), "ssh".into())])
                .unwrap();
        }
        let s = StateStore::open(&path).unwrap();
        let active = s.active_bans(2000, None).unwrap();
        assert_eq!(active.len(), 2);
        // Evidence is read separately (`evidence`), not with every ban.
        let mut expected = decision("192.0.2.1", "ssh", 1000, Some(5000));
        expected.evidence.clear();
        assert_eq!(active[0].decision, expected);
        assert!(active[0].applied);
        assert!(!active[1].applied);
        assert_eq!(active[1].decision.until_ms, None);
        assert_eq!(s.active_bans(2000, Some("web")).unwrap().len(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }

    #[test]
    fn expiry_removes_ended_bans_but_keeps_history() {
        let mut s = StateStore::in_memory().unwrap();
        s.record_bans(&[decision("192.0.2.1", "ssh", 1000, Some(5000))], "auto")
            .unwrap();
        s.record_bans(&[decision("192.0.2.2", "ssh", 1000, Some(9000))], "auto")
            .unwrap();
        assert!(
            s.expire(4999, Duration::from_secs(3600))
                .unwrap()
                .is_empty()
        );
        let ended = s.expire(5000, Duration::from_secs(3600)).unwrap();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].decision.ip.to_string(), "192.0.2.1");
        assert_eq!(s.active_bans(5000, None).unwrap().len(), 1);
        assert_eq!(
            s.ban_history("192.0.2.1".parse().unwrap(), 0).unwrap(),
            vec![1000]
        );
        // History older than the retention goes.
        s.expire(10_000_000, Duration::from_secs(1)).unwrap();
        assert!(
            s.ban_history("192.0.2.1".parse().unwrap(), 0)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn remove_by_ip_and_group() {
        let mut s = StateStore::in_memory().unwrap();
        s.record_bans(
            &[
                decision("192.0.2.1", "ssh", 1, None),
                decision("192.0.2.1", "web", 1, None),
            ],
            "manual",
        )
        .unwrap();
        assert_eq!(
            s.remove_ban("192.0.2.1".parse().unwrap(), Some("web"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(s.active_bans(2, None).unwrap().len(), 1);
        assert_eq!(
            s.remove_ban("192.0.2.1".parse().unwrap(), None)
                .unwrap()
                .len(),
            1
        );
        assert!(s.active_bans(2, None).unwrap().is_empty());
    }

    #[test]
    fn rebanning_replaces_the_row() {
        let mut s = StateStore::in_memory().unwrap();
        s.record_bans(&[decision("192.0.2.1", "ssh", 1, Some(10))], "auto")
            .unwrap();
        s.record_bans(&[decision("192.0.2.1", "ssh", 20, Some(40))], "auto")
            .unwrap();
        let a = s.active_bans(21, None).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].decision.since_ms, 20);
        assert_eq!(
            s.ban_history("192.0.2.1".parse().unwrap(), 0).unwrap(),
            vec![1, 20]
        );
    }

    #[test]
    fn evidence_is_kept_with_the_ban() {
        let mut s = StateStore::in_memory().unwrap();
        s.record_bans(&[decision("192.0.2.1", "ssh", 1000, Some(5000))], "auto")
            .unwrap();
        let ev = s.evidence("192.0.2.1".parse().unwrap()).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (ev[0].0.as_str(), ev[0].1, ev[0].2.line.as_str()),
            ("ssh", 1000, "bad login")
        );
        assert!(s.evidence("192.0.2.2".parse().unwrap()).unwrap().is_empty());
        s.expire(10_000_000, Duration::from_secs(1)).unwrap();
        assert!(s.evidence("192.0.2.1".parse().unwrap()).unwrap().is_empty());
    }

    #[test]
    fn checkpoints() {
        let mut s = StateStore::in_memory().unwrap();
        assert_eq!(s.checkpoint("tail:a").unwrap(), None);
        s.save_checkpoint("tail:a", "{\"offset\":1}", 5).unwrap();
        s.save_checkpoint("tail:a", "{\"offset\":2}", 6).unwrap();
        assert_eq!(
            s.checkpoint("tail:a").unwrap().as_deref(),
            Some("{\"offset\":2}")
        );
        s.save_checkpoints(
            &[
                ("tail:b:/x".into(), "1".into()),
                ("tail:b:/y".into(), "2".into()),
            ],
            7,
        )
        .unwrap();
        s.save_checkpoint("tail:bb:/z", "3", 8).unwrap();
        assert_eq!(
            s.checkpoints_with_prefix("tail:b:").unwrap(),
            [
                ("tail:b:/x".to_string(), "1".to_string()),
                ("tail:b:/y".to_string(), "2".to_string())
            ]
        );
    }

    /// Regression: the fail2ban stage failed at start with "database is
    /// locked" while a `tail` input saved checkpoints to the same file.
    #[test]
    fn two_connections_write_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        StateStore::open(&path).unwrap();
        let other = {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = StateStore::open(&path).unwrap();
                for i in 0..300 {
                    s.save_checkpoints(&[("tail:a:/x".into(), i.to_string())], i)
                        .unwrap();
                }
            })
        };
        let mut s = StateStore::open(&path).unwrap();
        for i in 0..300 {
            s.expire(i, Duration::from_secs(1)).unwrap();
            s.record_bans(&[decision("192.0.2.1", "ssh", i, None)], "auto")
                .unwrap();
        }
        other.join().unwrap();
    }

    /// Two stages opening a store that does not exist yet, at once.
    #[test]
    fn two_connections_create_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..50 {
            let path = dir.path().join(format!("s{i}.db"));
            let p2 = path.clone();
            let t = std::thread::spawn(move || {
                let mut s = StateStore::open(&p2).unwrap();
                s.save_checkpoints(&[("tail:a:/x".into(), "1".into())], 1)
                    .unwrap();
            });
            let mut s = StateStore::open(&path).unwrap();
            s.expire(1, Duration::from_secs(1)).unwrap();
            t.join().unwrap();
        }
    }

    /// Regression: stages opening a new store at the same moment (the
    /// fail2ban stage and an input's checkpoints) both found no schema
    /// version and both inserted it; the second failed on `meta.key`.
    #[test]
    fn a_new_store_may_be_opened_by_many_at_once() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let opens: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        StateStore::open(&path).map(|_| ())
                    })
                })
                .collect();
            for o in opens {
                o.join().unwrap().unwrap();
            }
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        StateStore::open(&path).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(c);
        let e = StateStore::open(&path).unwrap_err();
        assert!(e.to_string().contains("schema version 99"), "{e}");
    }
}
