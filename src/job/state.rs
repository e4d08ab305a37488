//! The job's state, in an embedded SQLite database: which S3 objects and local files were
//! read, where each LookupEvents query stopped, the relevant events kept for rules that span
//! runs, which (sink, rule, evidence event) pairs a sink has acknowledged, and the batch a
//! file sink began but did not finish.
//!
//! A state never resets silently: a missing or empty file is refused unless the run says it
//! is the first one ([`Open::Init`]); the database is opened in WAL mode and checked with
//! `PRAGMA quick_check`, and a damaged one is refused with what to do. A dry run opens the
//! state read-only (or not at all when it does not exist) and writes nothing.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::findings::Finding;

/// A state database that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state database {path} does not exist. If this is the job's first run, run it with --init (or set `init = true`); if a state existed before (a lost or unmounted volume), restore it first: a new state sends every finding of the last `history` to every sink again"
    )]
    Missing { path: String },
    #[error(
        "state database {path} is empty (0 bytes), as a lost volume or an interrupted copy leaves it. Restore it from a backup; or, knowing every finding of the last `history` goes to every sink again, run with --init to start a new state"
    )]
    Empty { path: String },
    #[error(
        "state database {path} is damaged ({reason}). Restore it from a backup (or the volume's snapshot); or, knowing every finding of the last `history` goes to every sink again, run with --init: the damaged file is kept as {path}.damaged-<time> and a new state started"
    )]
    Damaged { path: String, reason: String },
    #[error(
        "{path} is not a keytrail state database ({reason}); check `state` in the configuration (or --state)"
    )]
    Foreign { path: String, reason: String },
    #[error("state database {path}: {source}; check the path and its permissions")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state database {path}: the events to keep could not be read back: {reason}")]
    Events { path: String, reason: String },
    #[error("state database {path}: {source}; check the path and its permissions")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How a run opens the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// A normal run: the state must exist and be sound.
    Existing,
    /// A first run (`--init`, `init = true`): a missing or empty state is created; a damaged
    /// one is moved aside and a new one created; a sound one is used as it is.
    Init,
    /// A dry run: read-only, nothing created or changed; a missing state reads as empty.
    ReadOnly,
}

/// The open state.
pub struct State {
    conn: Connection,
    path: String,
    /// Messages for the run's report (a damaged file moved aside, a new state).
    pub notes: Vec<String>,
}

/// The tables, created in one place (other parts of the job append their own here).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS s3_objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, read_at INTEGER NOT NULL,
    PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS local_files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
    read_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lookup_marks (
    query TEXT PRIMARY KEY, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_key TEXT PRIMARY KEY, event_time INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivered (
    sink TEXT NOT NULL, rule_id TEXT NOT NULL, event_id TEXT NOT NULL,
    finding_id TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (sink, rule_id, event_id));
CREATE TABLE IF NOT EXISTS sink_batches (
    sink TEXT PRIMARY KEY, mark TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events (event_time);
";

/// A `file:` URI opening `path` read-only as an immutable file.
fn immutable_uri(path: &Path) -> String {
    let mut out = String::from("file:");
    for c in path.display().to_string().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out.push_str("?immutable=1");
    out
}

/// The state format written by this version.
const FORMAT: &str = "1";

/// What a finished read adds to the state in one transaction.
#[derive(Debug, Default)]
pub struct Progress {
    /// (bucket, key, etag) of objects read completely (or found corrupt).
    pub objects: Vec<(String, String, String)>,
    /// (path, size, mtime in seconds) of local files read.
    pub files: Vec<(String, u64, i64)>,
    /// (query input name, end of the window it read).
    pub marks: Vec<(String, i64)>,
}

impl State {
    /// Opens the state as `how` says (see [`Open`]).
    pub fn open(path: &Path, how: Open) -> Result<State, StateError> {
        let p = path.display().to_string();
        let mut notes = Vec::new();
        let len = match std::fs::metadata(path) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(StateError::Io { path: p, source }),
        };
        match (how, len) {
            (Open::ReadOnly, None) => return State::in_memory(p),
            (Open::ReadOnly | Open::Existing, Some(0)) => {
                return Err(StateError::Empty { path: p });
            }
            (Open::Existing, None) => return Err(StateError::Missing { path: p }),
            (Open::Init, None | Some(0)) => {
                notes.push(format!("state {p}: a new state (--init)"));
                return State::create(path, p, notes);
            }
            _ => {}
        }
        match State::open_existing(path, &p, how == Open::ReadOnly) {
            Ok(mut s) => {
                s.notes = notes;
                Ok(s)
            }
            Err(StateError::Damaged { reason, .. }) if how == Open::Init => {
                let aside = format!(
                    "{p}.damaged-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                );
                std::fs::rename(path, &aside).map_err(|source| StateError::Io {
                    path: p.clone(),
                    source,
                })?;
                for suffix in ["-wal", "-shm"] {
                    let side = format!("{p}{suffix}");
                    if Path::new(&side).exists() {
                        let _ = std::fs::rename(&side, format!("{aside}{suffix}"));
                    }
                }
                notes.push(format!(
                    "state {p} was damaged ({reason}): kept as {aside}; a new state (--init)"
                ));
                State::create(path, p, notes)
            }
            Err(e) => Err(e),
        }
    }

    /// An empty state in memory, for a dry run without a state file.
    fn in_memory(path: String) -> Result<State, StateError> {
        let conn = Connection::open_in_memory().map_err(|source| StateError::Sqlite {
            path: path.clone(),
            source,
        })?;
        conn.execute_batch(SCHEMA)
            .map_err(|source| StateError::Sqlite {
                path: path.clone(),
                source,
            })?;
        Ok(State {
            conn,
            notes: vec![format!(
                "state {path} does not exist: the dry run reads as a first run would (a real first run needs --init)"
            )],
            path,
        })
    }

    /// Creates a new state file (and its folder).
    fn create(path: &Path, p: String, notes: Vec<String>) -> Result<State, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: p.clone(),
                source,
            })?;
        }
        let sql = |source| StateError::Sqlite {
            path: p.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('format', ?1), ('created', ?2)",
            params![FORMAT, chrono::Utc::now().to_rfc3339()],
        )
        .map_err(sql)?;
        Ok(State {
            conn,
            path: p,
            notes,
        })
    }

    /// Opens an existing file: checks it is a sound SQLite database holding a keytrail state.
    fn open_existing(path: &Path, p: &str, read_only: bool) -> Result<State, StateError> {
        let damaged = |e: rusqlite::Error| StateError::Damaged {
            path: p.to_string(),
            reason: e.to_string(),
        };
        let sql = |source| StateError::Sqlite {
            path: p.to_string(),
            source,
        };
        let conn = if !read_only {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path, flags).map_err(sql)?
        } else if Path::new(&format!("{p}-wal")).exists() {
            // A run was cut short: read its log too (through the files it left).
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path, flags).map_err(sql)?
        } else {
            // No log to read: `immutable` opens the file as it is, creating no -wal or -shm.
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(immutable_uri(path), flags).map_err(sql)?
        };
        if !read_only {
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
                .map_err(damaged)?;
        }
        let check: Vec<String> = conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(damaged)?;
        if check.first().map(String::as_str) != Some("ok") {
            let reason = check.into_iter().take(3).collect::<Vec<_>>().join("; ");
            return Err(StateError::Damaged {
                path: p.to_string(),
                reason: format!("quick_check: {reason}"),
            });
        }
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(damaged)?;
        if !tables.iter().any(|t| t == "delivered") {
            return Err(StateError::Foreign {
                path: p.to_string(),
                reason: "it has no `delivered` table".into(),
            });
        }
        if !read_only {
            conn.execute_batch(SCHEMA).map_err(damaged)?;
        }
        Ok(State {
            conn,
            path: p.to_string(),
            notes: Vec::new(),
        })
    }

    /// The path, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The open database, for modules that keep their own tables in it (the baseline).
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Wraps a database error with the path.
    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The etag recorded for an object read before, if any.
    pub fn object_etag(&self, bucket: &str, key: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row(
                "SELECT etag FROM s3_objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every object read before, as (bucket, key) -> etag.
    pub fn objects(&self) -> Result<HashMap<(String, String), String>, StateError> {
        let mut st = self
            .conn
            .prepare("SELECT bucket, key, etag FROM s3_objects")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every local file read before, as path -> (size, mtime).
    pub fn files(&self) -> Result<HashMap<String, (u64, i64)>, StateError> {
        let mut st = self
            .conn
            .prepare("SELECT path, size, mtime FROM local_files")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, (r.get::<_, i64>(1)? as u64, r.get(2)?)))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Where each LookupEvents query stopped last time.
    pub fn marks(&self) -> Result<HashMap<String, i64>, StateError> {
        let mut st = self
            .conn
            .prepare("SELECT query, until FROM lookup_marks")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The raw records of the events kept from earlier runs, newer than `since`.
    pub fn for_each_history(
        &self,
        since: i64,
        each: &mut dyn FnMut(&str),
    ) -> Result<(), StateError> {
        let mut st = self
            .conn
            .prepare("SELECT record FROM events WHERE event_time >= ?1 ORDER BY event_time")
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([since]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let rec = row.get_ref(0).map_err(|e| self.err(e))?;
            each(rec.as_str().map_err(|e| self.err(e.into()))?);
        }
        Ok(())
    }

    /// True when `sink` acknowledged every evidence event of the finding for its rule.
    pub fn already_delivered(&self, sink: &str, f: &Finding) -> Result<bool, StateError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM delivered WHERE sink = ?1 AND rule_id = ?2 AND event_id = ?3",
            )
            .map_err(|e| self.err(e))?;
        for id in &f.evidence_event_ids {
            if !st
                .exists(params![sink, f.rule_id, id])
                .map_err(|e| self.err(e))?
            {
                return Ok(false);
            }
        }
        Ok(!f.evidence_event_ids.is_empty())
    }

    /// Records, in one transaction, that `sink` acknowledged these findings, and forgets the
    /// batch mark the sink left (the batch is done).
    pub fn record_delivered(
        &mut self,
        sink: &str,
        findings: &[&Finding],
        now: i64,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO delivered (sink, rule_id, event_id, finding_id, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for f in findings {
                for id in &f.evidence_event_ids {
                    st.execute(params![sink, f.rule_id, id, f.finding_id, now])
                        .map_err(err)?;
                }
            }
        }
        tx.execute("DELETE FROM sink_batches WHERE sink = ?1", [sink])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The mark of a batch `sink` began and never finished (a run killed in between).
    pub fn batch_mark(&self, sink: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row(
                "SELECT mark FROM sink_batches WHERE sink = ?1",
                [sink],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records (durably, before the batch is written) where `sink`'s next batch begins.
    pub fn begin_batch(&mut self, sink: &str, mark: &str, now: i64) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO sink_batches (sink, mark, at) VALUES (?1, ?2, ?3)",
                params![sink, mark, now],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Commits what a run read (with the new events `batches` yields, one batch at a time so
    /// memory holds one batch, not the run), and forgets events older than
    /// `keep_events_since` and object and file records older than `keep_objects_since`, in
    /// one transaction.
    pub fn commit(
        &mut self,
        p: &Progress,
        batches: &mut dyn Iterator<Item = Result<Vec<(String, i64, String)>, String>>,
        now: i64,
        keep_events_since: i64,
        keep_objects_since: i64,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut o = tx
                .prepare_cached("INSERT OR REPLACE INTO s3_objects (bucket, key, etag, read_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for (b, k, e) in &p.objects {
                o.execute(params![b, k, e, now]).map_err(err)?;
            }
            let mut f = tx
                .prepare_cached("INSERT OR REPLACE INTO local_files (path, size, mtime, read_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for (path, size, mtime) in &p.files {
                f.execute(params![path, *size as i64, mtime, now])
                    .map_err(err)?;
            }
            let mut m = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO lookup_marks (query, until) VALUES (?1, ?2)",
                )
                .map_err(err)?;
            for (q, t) in &p.marks {
                m.execute(params![q, t]).map_err(err)?;
            }
            let mut ev = tx
                .prepare_cached("INSERT OR IGNORE INTO events (event_key, event_time, record) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for batch in batches {
                let batch = batch.map_err(|reason| StateError::Events {
                    path: path.clone(),
                    reason,
                })?;
                for (k, t, r) in &batch {
                    ev.execute(params![k, t, r]).map_err(err)?;
                }
            }
        }
        tx.execute(
            "DELETE FROM events WHERE event_time < ?1",
            [keep_events_since],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM s3_objects WHERE read_at < ?1",
            [keep_objects_since],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every history record since `since`, collected.
    fn history(s: &State, since: i64) -> Vec<String> {
        let mut out = Vec::new();
        s.for_each_history(since, &mut |r| out.push(r.to_string()))
            .unwrap();
        out
    }

    fn finding(rule: &str, ids: &[&str]) -> Finding {
        Finding {
            finding_id: "f".into(),
            rule_id: rule.into(),
            title: String::new(),
            severity: crate::rules::Severity::High,
            description: String::new(),
            mitre: vec![],
            evidence_event_ids: ids.iter().map(|s| s.to_string()).collect(),
            evidence_count: ids.len() as u64,
            fields: Default::default(),
        }
    }

    #[test]
    fn deliveries_are_remembered_per_sink_rule_and_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("sub/state.sqlite"), Open::Init).unwrap();
        let f = finding("r1", &["e1", "e2"]);
        assert!(!s.already_delivered("hec", &f).unwrap());
        s.record_delivered("hec", &[&f], 1).unwrap();
        assert!(s.already_delivered("hec", &f).unwrap());
        assert!(!s.already_delivered("file", &f).unwrap());
        assert!(
            !s.already_delivered("hec", &finding("r1", &["e1", "e3"]))
                .unwrap()
        );
        assert!(!s.already_delivered("hec", &finding("r2", &["e1"])).unwrap());
    }

    #[test]
    fn a_commit_survives_reopening_and_prunes_old_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let mut s = State::open(&path, Open::Init).unwrap();
        let p = Progress {
            objects: vec![("b".into(), "k".into(), "\"etag\"".into())],
            files: vec![("/logs/a.json".into(), 10, 20)],
            marks: vec![("lookup:us-east-1/EventSource=x".into(), 50)],
        };
        let events = vec![
            ("old".into(), 5, "{}".into()),
            ("new".into(), 20, "{\"a\":1}".into()),
        ];
        s.commit(&p, &mut std::iter::once(Ok(events)), 100, 10, 0)
            .unwrap();
        drop(s);
        let s = State::open(&path, Open::Existing).unwrap();
        assert_eq!(
            s.object_etag("b", "k").unwrap().as_deref(),
            Some("\"etag\"")
        );
        assert_eq!(s.files().unwrap()["/logs/a.json"], (10, 20));
        assert_eq!(s.marks().unwrap()["lookup:us-east-1/EventSource=x"], 50);
        assert_eq!(history(&s, 0), vec!["{\"a\":1}".to_string()]);
    }

    #[test]
    fn a_missing_or_empty_state_is_refused_unless_init() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let e = State::open(&path, Open::Existing)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("does not exist") && e.contains("--init"), "{e}");
        assert!(!path.exists(), "nothing created");
        std::fs::write(&path, b"").unwrap();
        let e = State::open(&path, Open::Existing)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("empty") && e.contains("--init"), "{e}");
        let s = State::open(&path, Open::Init).unwrap();
        assert!(s.notes[0].contains("new state"), "{:?}", s.notes);
        drop(s);
        State::open(&path, Open::Existing).unwrap();
    }

    #[test]
    fn a_dry_run_creates_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/state.sqlite");
        let s = State::open(&path, Open::ReadOnly).unwrap();
        assert!(history(&s, 0).is_empty());
        drop(s);
        assert!(!dir.path().join("deep").exists(), "no folder, no file");

        let path = dir.path().join("state.sqlite");
        let mut s = State::open(&path, Open::Init).unwrap();
        s.record_delivered("k", &[&finding("r", &["e"])], 1)
            .unwrap();
        drop(s);
        let before = std::fs::read(&path).unwrap();
        let s = State::open(&path, Open::ReadOnly).unwrap();
        assert!(s.already_delivered("k", &finding("r", &["e"])).unwrap());
        drop(s);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "no -wal or -shm left beside the state");
    }

    #[test]
    fn a_damaged_state_is_refused_and_init_moves_it_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let e = State::open(&path, Open::Existing)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("damaged") && e.contains("Restore"), "{e}");
        let s = State::open(&path, Open::Init).unwrap();
        assert!(s.notes[0].contains(".damaged-"), "{:?}", s.notes);
        let kept = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".damaged-")
            })
            .count();
        assert_eq!(kept, 1);
    }

    #[test]
    fn damage_inside_a_page_is_found_by_quick_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let mut s = State::open(&path, Open::Init).unwrap();
        let events: Vec<(String, i64, String)> = (0..2000)
            .map(|i| (format!("k{i}"), i, format!("{{\"eventID\":\"{i}\"}}")))
            .collect();
        s.commit(
            &Progress::default(),
            &mut std::iter::once(Ok(events)),
            1,
            0,
            0,
        )
        .unwrap();
        s.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        drop(s);
        // Overwrite the middle of an index page: the header stays valid, the page does not.
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096;
        let pages = bytes.len() / page;
        assert!(pages > 4, "{pages} pages");
        for b in &mut bytes[(pages - 2) * page + 100..(pages - 2) * page + 1500] {
            *b = 0xFF;
        }
        std::fs::write(&path, bytes).unwrap();
        let e = State::open(&path, Open::Existing)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("damaged"), "{e}");
    }

    #[test]
    fn a_batch_mark_lasts_until_the_batch_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.sqlite"), Open::Init).unwrap();
        s.begin_batch("ndjson:/f", "1:2:300", 1).unwrap();
        assert_eq!(
            s.batch_mark("ndjson:/f").unwrap().as_deref(),
            Some("1:2:300")
        );
        s.record_delivered("ndjson:/f", &[&finding("r", &["e"])], 2)
            .unwrap();
        assert_eq!(s.batch_mark("ndjson:/f").unwrap(), None);
    }
}
