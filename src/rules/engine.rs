//! Runs rules with polars SQL over the `events` table and turns results into findings:
//! each result row of a SQL rule, each episode of a windowed rule ([`super::windowed`]).

use std::collections::HashMap;

use polars::prelude::*;
use polars::sql::SQLContext;
use serde_json::Value as Json;

use super::evidence::{self, Evidence};
use super::windowed::{self, BaselinePrior, GroupKey, Observation};
use super::{CompiledRule, Detection, policy};
use crate::findings::Finding;
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

/// What baseline rules' groups did before the events read: rule id -> group -> prior.
pub type Baselines = HashMap<String, HashMap<GroupKey, BaselinePrior>>;

/// A SQL context with `events` and keytrail's SQL functions (`policy_denies`).
pub fn context(events: &EventTable) -> SQLContext {
    let mut ctx = SQLContext::new().with_function_registry(policy::registry());
    ctx.register("events", events.lazy());
    ctx
}

/// The plan of `sql` over the `events` table.
pub fn plan(events: &EventTable, sql: &str) -> PolarsResult<LazyFrame> {
    context(events).execute(sql)
}

/// Runs `sql` against the `events` table and returns the result frame.
pub fn run_sql(events: &EventTable, sql: &str) -> PolarsResult<DataFrame> {
    events.collect(plan(events, sql)?)
}

/// Runs one rule (with no baselines) and returns its findings.
pub fn run_rule(rule: &CompiledRule, events: &EventTable) -> Result<Vec<Finding>, RuleRunError> {
    run_rule_with(rule, events, &Baselines::new())
}

/// Runs one rule; a baseline rule starts from what `baselines` knows of its groups.
pub fn run_rule_with(
    rule: &CompiledRule,
    events: &EventTable,
    baselines: &Baselines,
) -> Result<Vec<Finding>, RuleRunError> {
    let err = |reason: String| RuleRunError {
        rule: rule.id.clone(),
        origin: rule.origin.clone(),
        reason,
    };
    let found = match rule.detection {
        Detection::Sql => run_sql_rule(rule, events).map_err(err),
        _ => windowed::run(rule, events, baselines.get(&rule.id)).map_err(err),
    };
    if events.is_spilled() {
        // What one rule freed goes back to the system before the next one runs: otherwise
        // each rule's peak landed on top of the memory the ones before it had freed.
        crate::table::store::release_free_memory();
    }
    found
}

/// Runs every rule, in order.
pub fn run_rules(
    rules: &[CompiledRule],
    events: &EventTable,
    baselines: &Baselines,
) -> Result<Vec<Finding>, RuleRunError> {
    let mut out = Vec::new();
    for r in rules {
        out.extend(run_rule_with(r, events, baselines)?);
    }
    Ok(out)
}

/// What each baseline rule's groups did in `events` (for the job to remember).
pub fn observe(
    rules: &[CompiledRule],
    events: &EventTable,
) -> Result<Vec<(String, Observation)>, RuleRunError> {
    let mut out = Vec::new();
    for r in rules {
        let obs = windowed::observe(r, events).map_err(|reason| RuleRunError {
            rule: r.id.clone(),
            origin: r.origin.clone(),
            reason,
        })?;
        out.extend(obs.into_iter().map(|o| (r.id.clone(), o)));
    }
    Ok(out)
}

/// Each result row of a SQL rule becomes a finding.
fn run_sql_rule(rule: &CompiledRule, events: &EventTable) -> Result<Vec<Finding>, String> {
    let df = run_sql(events, &rule.sql).map_err(|e| e.to_string())?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let list_col = names.iter().position(|n| n == EVIDENCE_LIST);
    let one_col = names.iter().position(|n| n == EVIDENCE_ONE);
    let mut gathered = match &rule.evidence {
        Some(source) => {
            let keys = row_keys(&df, &source.by)?;
            Some(evidence::gather(&rule.id, source, events, keys)?.into_iter())
        }
        None if list_col.is_none() && one_col.is_none() => {
            return Err(format!(
                "result has no `{EVIDENCE_LIST}` or `{EVIDENCE_ONE}` column to name the evidence (or add `-- evidence: CTE BY COLUMN...`)"
            ));
        }
        None => None,
    };
    let cols = df.get_columns();
    let mut out = Vec::with_capacity(df.height());
    for row in 0..df.height() {
        let mut fields = serde_json::Map::new();
        for (i, (name, col)) in names.iter().zip(cols).enumerate() {
            if Some(i) == list_col {
                continue;
            }
            let v = any_to_json(&col.get(row).map_err(|e| e.to_string())?);
            fields.insert(name.clone(), v);
        }
        let evidence = match (gathered.as_mut().and_then(Iterator::next), list_col) {
            (Some(e), _) => e,
            (None, Some(i)) => evidence_from_list(&cols[i], &rule.id, row)?,
            (None, None) => Evidence::of(
                &rule.id,
                one_col
                    .and_then(|i| fields.get(&names[i]))
                    .and_then(Json::as_str),
            ),
        };
        out.push(evidence_finding(rule, evidence, fields));
    }
    Ok(out)
}

/// The values of columns `by` in each row of `df` (text; null stays null).
fn row_keys(df: &DataFrame, by: &[String]) -> Result<Vec<Vec<Option<String>>>, String> {
    let cols = by
        .iter()
        .map(|c| match df.column(c) {
            Ok(_) => windowed::text_column(df, c),
            Err(_) => Err(format!(
                "`-- evidence:` ties events to rows by `{c}`, but the result has no `{c}` column"
            )),
        })
        .collect::<Result<Vec<StringChunked>, String>>()?;
    Ok((0..df.height())
        .map(|r| cols.iter().map(|c| c.get(r).map(str::to_string)).collect())
        .collect())
}

/// The evidence ids of one row's `event_ids` list, read without building JSON.
fn evidence_from_list(c: &Column, rule_id: &str, row: usize) -> Result<Evidence, String> {
    let list = c.list().map_err(|_| {
        format!("`{EVIDENCE_LIST}` must be a list of event ids, e.g. ARRAY_AGG(event_id)")
    })?;
    let Some(s) = list.get_as_series(row) else {
        return Ok(Evidence::of(rule_id, Vec::<&str>::new()));
    };
    let s = s.cast(&DataType::String).map_err(|e| e.to_string())?;
    let ids = s.str().map_err(|e| e.to_string())?;
    Ok(Evidence::of(rule_id, ids.into_iter().flatten()))
}

/// Builds the finding of one SQL result row.
fn evidence_finding(
    rule: &CompiledRule,
    e: Evidence,
    fields: serde_json::Map<String, Json>,
) -> Finding {
    Finding {
        finding_id: e.finding_id,
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        description: rule.description.clone(),
        mitre: rule.mitre.clone(),
        evidence_event_ids: e.listed,
        evidence_count: e.count,
        fields,
    }
}
