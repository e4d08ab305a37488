//! The job's state, in an embedded SQLite database: which S3 objects were read, where each
//! LookupEvents query stopped, the relevant events kept for rules that span runs, and which
//! (sink, rule, evidence event) pairs a sink has acknowledged.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::findings::Finding;

/// A state database that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "state database {path}: {source}; check the path and its permissions (or delete a corrupt file to start over)"
)]
pub struct StateError {
    pub path: String,
    #[source]
    pub source: rusqlite::Error,
}

/// The open state.
pub struct State {
    conn: Connection,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS s3_objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, read_at INTEGER NOT NULL,
    PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS lookup_marks (
    query TEXT PRIMARY KEY, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_key TEXT PRIMARY KEY, event_time INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivered (
    sink TEXT NOT NULL, rule_id TEXT NOT NULL, event_id TEXT NOT NULL,
    finding_id TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (sink, rule_id, event_id));
CREATE INDEX IF NOT EXISTS events_time ON events (event_time);
";

/// What a finished read adds to the state in one transaction.
#[derive(Debug, Default)]
pub struct Progress {
    /// (bucket, key, etag) of objects read completely (or found corrupt).
    pub objects: Vec<(String, String, String)>,
    /// (query input name, end of the window it read).
    pub marks: Vec<(String, i64)>,
    /// (event key, event time, raw record) of the relevant events read.
    pub events: Vec<(String, i64, String)>,
}

impl State {
    /// Opens (or creates) the database and its tables.
    pub fn open(path: &Path) -> Result<State, StateError> {
        let p = path.display().to_string();
        let err = |source| StateError {
            path: p.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(State { conn, path: p })
    }

    /// The open database, for modules that keep their own tables in it (the baseline).
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Wraps a database error with the path.
    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError {
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
    pub fn objects(
        &self,
    ) -> Result<std::collections::HashMap<(String, String), String>, StateError> {
        let mut st = self
            .conn
            .prepare("SELECT bucket, key, etag FROM s3_objects")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Where each LookupEvents query stopped last time.
    pub fn marks(&self) -> Result<std::collections::HashMap<String, i64>, StateError> {
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
    pub fn history(&self, since: i64) -> Result<Vec<String>, StateError> {
        let mut st = self
            .conn
            .prepare("SELECT record FROM events WHERE event_time >= ?1 ORDER BY event_time")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([since], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
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

    /// Records, in one transaction, that `sink` acknowledged these findings.
    pub fn record_delivered(
        &mut self,
        sink: &str,
        findings: &[Finding],
        now: i64,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = |source| StateError {
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
        tx.commit().map_err(err)
    }

    /// Commits what a run read, and forgets events older than `keep_events_since` and object
    /// records older than `keep_objects_since`, in one transaction.
    pub fn commit(
        &mut self,
        p: &Progress,
        now: i64,
        keep_events_since: i64,
        keep_objects_since: i64,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = |source| StateError {
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
            for (k, t, r) in &p.events {
                ev.execute(params![k, t, r]).map_err(err)?;
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
        let mut s = State::open(&dir.path().join("sub/state.sqlite")).unwrap();
        let f = finding("r1", &["e1", "e2"]);
        assert!(!s.already_delivered("hec", &f).unwrap());
        s.record_delivered("hec", &[f.clone()], 1).unwrap();
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
        let mut s = State::open(&path).unwrap();
        let p = Progress {
            objects: vec![("b".into(), "k".into(), "\"etag\"".into())],
            marks: vec![("lookup:us-east-1/EventSource=x".into(), 50)],
            events: vec![
                ("old".into(), 5, "{}".into()),
                ("new".into(), 20, "{\"a\":1}".into()),
            ],
        };
        s.commit(&p, 100, 10, 0).unwrap();
        drop(s);
        let s = State::open(&path).unwrap();
        assert_eq!(
            s.object_etag("b", "k").unwrap().as_deref(),
            Some("\"etag\"")
        );
        assert_eq!(s.marks().unwrap()["lookup:us-east-1/EventSource=x"], 50);
        assert_eq!(s.history(0).unwrap(), vec!["{\"a\":1}".to_string()]);
    }
}
