//! Runs rules with polars SQL over the `events` table and turns result rows into findings.

use polars::prelude::*;
use polars::sql::SQLContext;
use serde_json::Value as Json;

use super::Rule;
use crate::findings::{Finding, MAX_EVIDENCE_IDS, finding_id};
use crate::output::values::any_to_json;
use crate::table::EventTable;

/// Column a rule returns to name its evidence: a list of event ids, or one id per row.
pub const EVIDENCE_LIST: &str = "event_ids";
pub const EVIDENCE_ONE: &str = "event_id";

/// A rule that failed to run.
#[derive(Debug, thiserror::Error)]
#[error("rule {rule} ({origin}): {reason}")]
pub struct RuleRunError {
    pub rule: String,
    pub origin: String,
    pub reason: String,
}

/// Runs `sql` against the `events` table and returns the result frame.
pub fn run_sql(events: &EventTable, sql: &str) -> PolarsResult<DataFrame> {
    let mut ctx = SQLContext::new();
    ctx.register("events", events.lazy());
    ctx.execute(sql)?.collect()
}

/// Runs one rule and converts its rows into findings.
pub fn run_rule(rule: &Rule, events: &EventTable) -> Result<Vec<Finding>, RuleRunError> {
    let err = |reason: String| RuleRunError {
        rule: rule.id.clone(),
        origin: rule.origin.clone(),
        reason,
    };
    let df = run_sql(events, &rule.sql).map_err(|e| err(e.to_string()))?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !names
        .iter()
        .any(|n| n == EVIDENCE_LIST || n == EVIDENCE_ONE)
    {
        return Err(err(format!(
            "result has no `{EVIDENCE_LIST}` or `{EVIDENCE_ONE}` column to name the evidence"
        )));
    }
    let cols = df.get_columns();
    let mut out = Vec::with_capacity(df.height());
    for row in 0..df.height() {
        let mut fields = serde_json::Map::new();
        let mut evidence = Vec::new();
        for (name, col) in names.iter().zip(cols) {
            let v = any_to_json(&col.get(row).map_err(|e| err(e.to_string()))?);
            if name == EVIDENCE_LIST || (name == EVIDENCE_ONE && evidence.is_empty()) {
                collect_ids(&v, &mut evidence);
                if name == EVIDENCE_LIST {
                    continue;
                }
            }
            fields.insert(name.clone(), v);
        }
        evidence.dedup();
        let count = evidence.len() as u64;
        let id = finding_id(&rule.id, &evidence);
        evidence.truncate(MAX_EVIDENCE_IDS);
        out.push(Finding {
            finding_id: id,
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            description: rule.description.clone(),
            mitre: rule.mitre.clone(),
            evidence_event_ids: evidence,
            evidence_count: count,
            fields,
        });
    }
    Ok(out)
}

/// Gathers event ids from a string or a list of strings.
fn collect_ids(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::String(s) => out.push(s.clone()),
        Json::Array(a) => a.iter().for_each(|x| collect_ids(x, out)),
        _ => {}
    }
}
