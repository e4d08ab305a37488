//! The job's memory for baseline rules (`key_new_source`): what each group (principal)
//! used, per value (source IP) and time bucket, kept in the state database across runs.
//! A run starts its baseline rules from it, so a new source is judged against weeks of
//! history without reading those weeks again; after delivery the run folds in what it saw.
//!
//! Buckets are a day wide (or the rule's history, when shorter) and hold the first and
//! last use in them, which tells exactly whether a value was used in the history before
//! any moment. Folding is an idempotent min/max upsert, so a run that is killed and run
//! again, or that sees replayed events, leaves the same baseline and finds the same
//! findings.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::rules::CompiledRule;
use crate::rules::engine::Baselines;
use crate::rules::windowed::{BaselinePrior, BaselineUse, GroupKey, Observation};

/// The tables, created when missing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS baseline_uses (
    rule_id TEXT NOT NULL, group_key TEXT NOT NULL, value TEXT NOT NULL,
    bucket_start INTEGER NOT NULL, bucket_width INTEGER NOT NULL,
    first_use INTEGER NOT NULL, last_use INTEGER NOT NULL,
    PRIMARY KEY (rule_id, group_key, value, bucket_start));
CREATE TABLE IF NOT EXISTS baseline_groups (
    rule_id TEXT NOT NULL, group_key TEXT NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
    PRIMARY KEY (rule_id, group_key));
";

/// Groups idle this long are forgotten (a year).
const FORGET_GROUPS_AFTER: i64 = 366 * 86_400_000_000;

/// A baseline table that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error(
    "the baseline in the state database: {0}; check the state file (see `keytrail run --help`)"
)]
pub struct BaselineError(#[from] rusqlite::Error);

/// The group key as stored: a JSON array of the group's values.
fn encode(g: &GroupKey) -> String {
    serde_json::to_string(g).unwrap_or_default()
}

/// The group key read back.
fn decode(s: &str) -> Option<GroupKey> {
    serde_json::from_str(s).ok()
}

/// Creates the tables when missing.
pub fn ensure(conn: &Connection) -> Result<(), BaselineError> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// The baselines of the baseline rules among `rules`.
pub fn load(conn: &Connection, rules: &[CompiledRule]) -> Result<Baselines, BaselineError> {
    let mut out = Baselines::new();
    let exists: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('baseline_uses', 'baseline_groups')",
        [],
        |r| r.get(0),
    )?;
    if exists < 2 {
        return Ok(out);
    }
    for r in rules.iter().filter(|r| is_baseline(r)) {
        let mut groups: HashMap<GroupKey, BaselinePrior> = HashMap::new();
        let mut st = conn.prepare_cached(
            "SELECT group_key, first_seen FROM baseline_groups WHERE rule_id = ?1",
        )?;
        let rows = st.query_map([&r.id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (g, first) = row?;
            if let Some(g) = decode(&g) {
                groups.entry(g).or_default().first_seen = first;
            }
        }
        let mut st = conn.prepare_cached(
            "SELECT group_key, value, bucket_start, bucket_width, first_use, last_use FROM baseline_uses WHERE rule_id = ?1",
        )?;
        let rows = st.query_map([&r.id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                BaselineUse {
                    value: row.get(1)?,
                    start: row.get(2)?,
                    width: row.get(3)?,
                    first: row.get(4)?,
                    last: row.get(5)?,
                },
            ))
        })?;
        for row in rows {
            let (g, u) = row?;
            if let Some(g) = decode(&g)
                && let Some(p) = groups.get_mut(&g)
            {
                p.uses.push(u);
            }
        }
        if !groups.is_empty() {
            out.insert(r.id.clone(), groups);
        }
    }
    Ok(out)
}

/// True for a rule with a `-- baseline:` header.
fn is_baseline(r: &CompiledRule) -> bool {
    matches!(r.detection, crate::rules::Detection::NewValue { .. })
}

/// Folds what a run saw into the baseline (earliest first use, latest last use), then
/// forgets buckets older than each rule's history before `now` and groups idle for a year.
pub fn fold(
    conn: &mut Connection,
    rules: &[CompiledRule],
    seen: &[(String, Observation)],
    now: i64,
) -> Result<(), BaselineError> {
    ensure(conn)?;
    let tx = conn.transaction()?;
    {
        let mut uses = tx.prepare_cached(
            "INSERT INTO baseline_uses (rule_id, group_key, value, bucket_start, bucket_width, first_use, last_use)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (rule_id, group_key, value, bucket_start) DO UPDATE SET
               first_use = MIN(first_use, excluded.first_use),
               last_use = MAX(last_use, excluded.last_use)",
        )?;
        let mut groups = tx.prepare_cached(
            "INSERT INTO baseline_groups (rule_id, group_key, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (rule_id, group_key) DO UPDATE SET
               first_seen = MIN(first_seen, excluded.first_seen),
               last_seen = MAX(last_seen, excluded.last_seen)",
        )?;
        for (rule, o) in seen {
            let g = encode(&o.group);
            let u = &o.used;
            uses.execute(params![rule, g, u.value, u.start, u.width, u.first, u.last])?;
            groups.execute(params![rule, g, u.first, u.last])?;
        }
        for r in rules.iter().filter(|r| is_baseline(r)) {
            if let crate::rules::Detection::NewValue { history, .. } = &r.detection {
                tx.execute(
                    "DELETE FROM baseline_uses WHERE rule_id = ?1 AND bucket_start + bucket_width < ?2",
                    params![r.id, now - history.micros],
                )?;
            }
        }
        tx.execute(
            "DELETE FROM baseline_groups WHERE last_seen < ?1",
            [now - FORGET_GROUPS_AFTER],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{builtin_rules, parse_rule};

    fn new_source_rule() -> CompiledRule {
        builtin_rules()
            .into_iter()
            .find(|r| r.id == "key_new_source")
            .expect("built-in")
            .compile(None)
            .unwrap()
    }

    fn obs(ip: &str, start: i64, first: i64, last: i64) -> (String, Observation) {
        (
            "key_new_source".into(),
            Observation {
                group: vec![Some("111122223333".into()), Some("arn:p".into())],
                used: BaselineUse {
                    value: ip.into(),
                    start,
                    width: 10,
                    first,
                    last,
                },
            },
        )
    }

    #[test]
    fn folding_keeps_the_earliest_and_latest_use_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        let rules = vec![new_source_rule()];
        let seen = vec![
            obs("192.0.2.1", 100, 101, 105),
            obs("192.0.2.1", 100, 103, 108),
        ];
        fold(&mut conn, &rules, &seen, 200).unwrap();
        fold(&mut conn, &rules, &seen, 200).unwrap();
        let b = load(&conn, &rules).unwrap();
        let p = &b["key_new_source"][&vec![Some("111122223333".into()), Some("arn:p".into())]];
        assert_eq!(p.first_seen, 101);
        assert_eq!(p.uses.len(), 1);
        assert_eq!((p.uses[0].first, p.uses[0].last), (101, 108));
    }

    #[test]
    fn buckets_older_than_the_history_are_forgotten_but_the_group_is_not() {
        let mut conn = Connection::open_in_memory().unwrap();
        let rules = vec![new_source_rule()];
        let week = 7 * 86_400_000_000i64;
        fold(&mut conn, &rules, &[obs("192.0.2.1", 0, 1, 2)], 2 * week).unwrap();
        let b = load(&conn, &rules).unwrap();
        let p = b["key_new_source"].values().next().unwrap();
        assert_eq!(p.first_seen, 1);
        assert!(p.uses.is_empty());
        let plain = parse_rule(
            "-- id: x\n-- title: t\n-- severity: low\n-- description: d\nSELECT event_id FROM events",
            "t",
        )
        .unwrap()
        .compile(None)
        .unwrap();
        assert!(load(&conn, &[plain]).unwrap().is_empty());
    }
}
