//! The evidence of SQL rules that return groups, gathered in memory bounded by the findings.
//!
//! A rule can list its evidence itself (`ARRAY_AGG(event_id) AS event_ids`), but polars
//! holds every row of such a gather in memory: on an account that calls Bedrock all day
//! that is every event id of the corpus. A rule that names its evidence instead,
//!
//! ```sql
//! -- evidence: uses BY principal, account_id
//! ```
//!
//! returns only its groups. keytrail then streams `SELECT principal, account_id, event_id
//! FROM uses` (the rule's own `WITH` clause, in table order) and keeps, per result row, the
//! number of events and the latest [`MAX_EVIDENCE_IDS`] ids: memory grows with the findings,
//! not with the events behind them.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use polars::prelude::*;
use sqlparser::ast::Statement;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use super::detection::is_column;
use super::engine::{EVIDENCE_ONE, plan};
use super::windowed::{for_each_batch, text_column};
use crate::findings::{EventIds, MAX_EVIDENCE_IDS, finding_id};
use crate::table::EventTable;

/// A `-- evidence:` header: where a rule's evidence events are and how they map to its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceSource {
    /// The common table expression whose rows are the evidence events.
    pub cte: String,
    /// Columns that both the CTE and the result have: equal values tie an event to a row.
    pub by: Vec<String>,
    /// `WITH ... SELECT by..., event_id FROM cte`, built from the rule's SQL.
    pub sql: String,
}

impl EvidenceSource {
    /// Reads `CTE BY col[, col...]` and builds the evidence query from the rule's `sql`.
    pub fn parse(header: &str, sql: &str) -> Result<EvidenceSource, String> {
        let usage = "write `-- evidence: CTE BY COLUMN[, COLUMN...]`, e.g. `-- evidence: uses BY principal, account_id`";
        let (cte, by) =
            split_by(header).ok_or_else(|| format!("`-- evidence: {header}`: {usage}"))?;
        let by: Vec<String> = by.split(',').map(|c| c.trim().to_string()).collect();
        if !is_column(cte) || by.iter().any(|c| !is_column(c)) {
            return Err(format!("`-- evidence: {header}`: {usage}"));
        }
        let sql = evidence_sql(sql, cte, &by)?;
        Ok(EvidenceSource {
            cte: cte.to_string(),
            by,
            sql,
        })
    }
}

/// Splits `CTE BY cols` at the keyword `BY` (any case).
fn split_by(header: &str) -> Option<(&str, &str)> {
    let h = header.trim();
    let at = h.to_ascii_lowercase().find(" by ")?;
    Some((h[..at].trim(), h[at + 4..].trim()))
}

/// One SQL statement, parsed as polars parses it.
fn parse_query(sql: &str) -> Result<sqlparser::ast::Query, String> {
    let mut stmts = Parser::new(&GenericDialect)
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| format!("SQL does not parse: {e}"))?;
    match (stmts.pop(), stmts.is_empty()) {
        (Some(Statement::Query(q)), true) => Ok(*q),
        _ => Err("the SQL must be one query".into()),
    }
}

/// The rule's `WITH` clause followed by `SELECT by..., event_id FROM cte`.
fn evidence_sql(sql: &str, cte: &str, by: &[String]) -> Result<String, String> {
    let rule = parse_query(sql)?;
    let with = rule.with.ok_or_else(|| {
        format!("`-- evidence: {cte} BY ...` needs a `WITH {cte} AS (...)` in the SQL")
    })?;
    if !with
        .cte_tables
        .iter()
        .any(|c| c.alias.name.value.eq_ignore_ascii_case(cte))
    {
        return Err(format!(
            "`-- evidence:` names `{cte}`, but the SQL's WITH clause has no `{cte} AS (...)`"
        ));
    }
    let mut q = parse_query(&format!(
        "SELECT {}, {EVIDENCE_ONE} FROM {cte}",
        by.join(", ")
    ))?;
    q.with = Some(with);
    Ok(q.to_string())
}

/// One result row's evidence: its finding id, the event ids listed and how many there are.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub finding_id: String,
    pub listed: EventIds,
    pub count: u64,
}

impl Evidence {
    /// The evidence of ids in table (time) order: repeats next to each other count once,
    /// the latest [`MAX_EVIDENCE_IDS`] are listed (the recent activity is what a reader
    /// triages), and the finding id covers the rule and the ids listed.
    pub fn of<S: AsRef<str>>(rule_id: &str, ids: impl IntoIterator<Item = S>) -> Evidence {
        let mut acc = Latest::default();
        for id in ids {
            acc.push(id.as_ref());
        }
        acc.finish(rule_id)
    }
}

/// The count and latest ids of one group, as its events stream by.
#[derive(Debug, Default)]
struct Latest {
    count: u64,
    ids: VecDeque<String>,
}

impl Latest {
    /// Adds the next id (a repeat of the one before is the same event read twice).
    fn push(&mut self, id: &str) {
        if self.ids.back().is_some_and(|b| b == id) {
            return;
        }
        self.count += 1;
        if self.ids.len() == MAX_EVIDENCE_IDS {
            // Reuse the oldest id's string: no allocation per event once the list is full.
            let mut s = self.ids.pop_front().unwrap_or_default();
            s.clear();
            s.push_str(id);
            self.ids.push_back(s);
        } else {
            self.ids.push_back(id.to_string());
        }
    }

    /// The evidence, with its finding id.
    fn finish(self, rule_id: &str) -> Evidence {
        let listed: EventIds = self.ids.into_iter().collect();
        Evidence {
            finding_id: finding_id(rule_id, &listed),
            listed,
            count: self.count,
        }
    }
}

/// The rows being gathered for: their keys, looked up by hash, and what each collected.
struct Gather {
    by: Vec<String>,
    hasher: PlRandomState,
    /// Key hash -> result rows with that hash.
    index: PlHashMap<u64, Vec<u32>>,
    keys: Vec<Vec<Option<String>>>,
    found: Vec<Latest>,
}

impl Gather {
    fn new(by: Vec<String>, keys: Vec<Vec<Option<String>>>) -> Gather {
        let hasher = PlRandomState::default();
        let mut index: PlHashMap<u64, Vec<u32>> = PlHashMap::default();
        for (i, k) in keys.iter().enumerate() {
            let borrowed: Vec<Option<&str>> = k.iter().map(Option::as_deref).collect();
            index
                .entry(hasher.hash_one(&borrowed))
                .or_default()
                .push(i as u32);
        }
        let found = keys.iter().map(|_| Latest::default()).collect();
        Gather {
            by,
            hasher,
            index,
            keys,
            found,
        }
    }

    /// The result row whose key is `key`.
    fn row_of(&self, key: &[Option<&str>]) -> Option<usize> {
        let rows = self.index.get(&self.hasher.hash_one(key))?;
        rows.iter().map(|&r| r as usize).find(|&r| {
            self.keys[r]
                .iter()
                .map(Option::as_deref)
                .eq(key.iter().copied())
        })
    }
}

/// Adds one batch of evidence events.
fn gather_batch(g: &mut Gather, df: &DataFrame) -> Result<bool, String> {
    let cols =
        g.by.iter()
            .map(|c| text_column(df, c))
            .collect::<Result<Vec<_>, _>>()?;
    let ids = text_column(df, EVIDENCE_ONE)?;
    let mut iters: Vec<_> = cols.iter().map(|c| c.into_iter()).collect();
    let mut key: Vec<Option<&str>> = Vec::with_capacity(iters.len());
    for id in ids.into_iter() {
        key.clear();
        key.extend(iters.iter_mut().map(|it| it.next().flatten()));
        let Some(id) = id else { continue };
        if let Some(r) = g.row_of(&key) {
            g.found[r].push(id);
        }
    }
    Ok(true)
}

/// The evidence of each result row, whose `by` values are `keys`, from the events of the
/// rule's evidence CTE (streamed in table order).
pub fn gather(
    rule_id: &str,
    source: &EvidenceSource,
    events: &EventTable,
    keys: Vec<Vec<Option<String>>>,
) -> Result<Vec<Evidence>, String> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let lf = plan(events, &source.sql).map_err(|e| format!("evidence query: {e}"))?;
    let by = source.by.clone();
    let g = for_each_batch(
        lf,
        move || Gather::new(by.clone(), keys.clone()),
        gather_batch,
    )?;
    if let Some(r) = g.found.iter().position(|l| l.count == 0) {
        let key: Vec<String> = source
            .by
            .iter()
            .zip(&g.keys[r])
            .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("NULL")))
            .collect();
        return Err(format!(
            "no event of `{}` has {}: the `-- evidence:` columns must hold the same values in `{}` and in the result",
            source.cte,
            key.join(", "),
            source.cte
        ));
    }
    Ok(g.found.into_iter().map(|l| l.finish(rule_id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evidence_query_keeps_the_rules_with_clause_and_selects_the_named_cte() {
        let sql = "WITH uses AS (SELECT user_name AS who, event_id FROM events WHERE bearer_token), \
                   n AS (SELECT who, COUNT(*) AS calls FROM uses GROUP BY who) \
                   SELECT who, calls FROM n ORDER BY who";
        let s = EvidenceSource::parse("uses BY who", sql).unwrap();
        assert_eq!(s.cte, "uses");
        assert_eq!(s.by, ["who"]);
        assert!(s.sql.starts_with("WITH uses AS ("), "{}", s.sql);
        assert!(
            s.sql.ends_with("SELECT who, event_id FROM uses"),
            "{}",
            s.sql
        );
    }

    #[test]
    fn a_bad_evidence_header_says_how_to_write_it() {
        let sql = "WITH uses AS (SELECT event_id FROM events) SELECT 1 AS x FROM uses";
        for bad in ["uses", "uses BY", "uses BY a b", "1x BY a"] {
            let e = EvidenceSource::parse(bad, sql).unwrap_err();
            assert!(e.contains("-- evidence: CTE BY COLUMN"), "{bad}: {e}");
        }
        let e = EvidenceSource::parse("other BY x", sql).unwrap_err();
        assert!(e.contains("no `other AS (...)`"), "{e}");
        let e = EvidenceSource::parse("uses BY x", "SELECT event_id FROM events").unwrap_err();
        assert!(e.contains("needs a `WITH uses AS (...)`"), "{e}");
    }

    #[test]
    fn latest_ids_are_listed_and_every_distinct_event_is_counted() {
        let ids: Vec<String> = (0..250).map(|i| format!("e{i:03}")).collect();
        let doubled = ids.iter().flat_map(|i| [i, i]);
        let e = Evidence::of("r", doubled);
        assert_eq!(e.count, 250);
        assert_eq!(e.listed.len(), MAX_EVIDENCE_IDS);
        assert_eq!(e.listed.first(), Some("e150"));
        assert_eq!(e.listed.iter().last(), Some("e249"));
        assert_eq!(
            e.finding_id,
            finding_id("r", ids[150..].iter().map(String::as_str))
        );
    }

    #[test]
    fn keys_with_nulls_find_their_row_and_others_find_none() {
        let g = Gather::new(
            vec!["a".into(), "b".into()],
            vec![
                vec![Some("x".into()), None],
                vec![Some("x".into()), Some("y".into())],
            ],
        );
        assert_eq!(g.row_of(&[Some("x"), None]), Some(0));
        assert_eq!(g.row_of(&[Some("x"), Some("y")]), Some(1));
        assert_eq!(g.row_of(&[None, Some("y")]), None);
    }

    /// A table of `n` events of user `who`, one second apart, ids `who-000`...
    fn events(who: &[(&str, usize)]) -> EventTable {
        let mut evs = Vec::new();
        for (w, n) in who {
            for i in 0..*n {
                evs.push(crate::event::Event {
                    event_id: Some(format!("{w}-{i:03}")),
                    event_time: Some(1_700_000_000_000_000 + i as i64 * 1_000_000),
                    user_name: Some(w.to_string()),
                    ..Default::default()
                });
            }
        }
        EventTable::from_events(&evs).unwrap()
    }

    fn compiled(sql: &str) -> super::super::CompiledRule {
        let text = format!(
            "-- id: r\n-- title: t\n-- severity: low\n-- description: d\n-- evidence: u BY user_name\n{sql}"
        );
        super::super::parse_rule(&text, "t")
            .unwrap()
            .compile(None)
            .unwrap()
    }

    #[test]
    fn a_rule_with_an_evidence_header_lists_each_groups_latest_events() {
        let t = events(&[("alice", 150), ("bob", 2)]);
        let rule = compiled(
            "WITH u AS (SELECT user_name, event_id, event_time FROM events) \
             SELECT user_name, COUNT(*) AS n FROM u GROUP BY user_name ORDER BY user_name",
        );
        let f = super::super::engine::run_rule(&rule, &t).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].evidence_count, f[1].evidence_count), (150, 2));
        assert_eq!(f[0].evidence_event_ids.len(), MAX_EVIDENCE_IDS);
        assert_eq!(&f[0].evidence_event_ids[0], "alice-050");
        assert_eq!(&f[0].evidence_event_ids[99], "alice-149");
        assert_eq!(
            f[1].evidence_event_ids.iter().collect::<Vec<_>>(),
            ["bob-000", "bob-001"]
        );
        assert_eq!(f[0].fields["n"], 150);
    }

    #[test]
    fn a_result_row_that_no_evidence_event_matches_is_an_error_naming_it() {
        let t = events(&[("alice", 3)]);
        let rule = compiled(
            "WITH u AS (SELECT user_name, event_id FROM events) \
             SELECT UPPER(user_name) AS user_name, COUNT(*) AS n FROM u GROUP BY user_name",
        );
        let e = super::super::engine::run_rule(&rule, &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no event of `u` has user_name=ALICE"), "{e}");
    }
}
