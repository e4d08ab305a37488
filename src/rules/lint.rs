//! `rules lint`: checks rule files without any logs: header, parameters, SQL syntax, known
//! columns, that the result names its evidence, and for windowed rules the columns their
//! header needs.

use super::engine::{EVIDENCE_LIST, EVIDENCE_ONE, context};
use super::evidence::EvidenceSource;
use super::windowed::TIME;
use super::{Detection, Rule};
use crate::table::EventTable;
use polars::prelude::Schema;

/// Checks that a parsed rule (with its default parameter values) plans against the events
/// schema and returns what its detection needs.
pub fn check_rule(rule: &Rule) -> Result<(), String> {
    let compiled = rule.compile(None).map_err(|e| e.to_string())?;
    let mut lf = context(&EventTable::empty())
        .execute(&compiled.sql)
        .map_err(|e| format!("SQL does not parse or plan: {e}"))?;
    let schema = lf
        .collect_schema()
        .map_err(|e| format!("SQL refers to something unknown: {e}"))?;
    if let Some(source) = &compiled.evidence {
        return check_evidence(source, &schema);
    }
    if compiled.detection == Detection::Sql {
        if !schema.contains(EVIDENCE_LIST) && !schema.contains(EVIDENCE_ONE) {
            return Err(format!(
                "result has no `{EVIDENCE_LIST}` (list) or `{EVIDENCE_ONE}` column naming the evidence"
            ));
        }
        return Ok(());
    }
    let mut need = vec![EVIDENCE_ONE.to_string(), TIME.to_string()];
    need.extend(compiled.detection.required_columns());
    if let Some(m) = need.iter().find(|c| !schema.contains(c.as_str())) {
        return Err(format!(
            "a windowed rule's SQL must return one row per event with `event_id`, `event_time` and the columns its header names ({}); `{m}` is missing",
            need.join(", ")
        ));
    }
    if schema.contains(EVIDENCE_LIST) {
        return Err(format!(
            "a windowed rule returns events, not groups: drop `{EVIDENCE_LIST}` (the sweep lists the evidence)"
        ));
    }
    Ok(())
}

/// A rule with `-- evidence:` returns its groups with the `BY` columns, and its evidence
/// query plans.
fn check_evidence(source: &EvidenceSource, result: &Schema) -> Result<(), String> {
    if let Some(c) = source.by.iter().find(|c| !result.contains(c.as_str())) {
        return Err(format!(
            "`-- evidence:` ties events to rows by `{c}`, but the result has no `{c}` column"
        ));
    }
    if result.contains(EVIDENCE_LIST) {
        return Err(format!(
            "the result lists `{EVIDENCE_LIST}` and the header names `-- evidence:`: keep one"
        ));
    }
    context(&EventTable::empty())
        .execute(&source.sql)
        .and_then(|mut lf| lf.collect_schema())
        .map_err(|e| {
            format!(
                "`-- evidence: {} BY {}`: `{}` must have these columns and `{EVIDENCE_ONE}`: {e}",
                source.cte,
                source.by.join(", "),
                source.cte
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{builtin_rules, parse_rule};

    /// The required header lines, then `rest` (more header lines and the SQL).
    fn text(rest: &str) -> String {
        format!("-- id: a\n-- title: t\n-- severity: low\n-- description: d\n{rest}")
    }

    /// A rule that parses.
    fn rule(rest: &str) -> Rule {
        parse_rule(&text(rest), "t").unwrap()
    }

    /// Why a rule does not parse.
    fn parse_error(rest: &str) -> String {
        parse_rule(&text(rest), "t").unwrap_err().to_string()
    }

    /// Why a rule that parses does not pass lint.
    fn lint_error(rest: &str) -> String {
        check_rule(&rule(rest)).unwrap_err()
    }

    #[test]
    fn every_builtin_rule_passes_lint() {
        for r in builtin_rules() {
            check_rule(&r).unwrap_or_else(|e| panic!("{}: {e}", r.id));
        }
    }

    #[test]
    fn unknown_columns_and_bad_sql_are_reported() {
        assert!(check_rule(&rule("SELECT no_such_column AS event_id FROM events")).is_err());
        assert!(lint_error("SELEC event_id FROM events").contains("does not parse"));
        assert!(lint_error("SELECT event_name FROM events").contains("evidence"));
    }

    #[test]
    fn unknown_parameters_and_missing_window_columns_are_reported() {
        let e = parse_error("SELECT event_id FROM events WHERE x > ${limit}");
        assert!(e.contains("unknown parameter ${limit}"), "{e}");
        let e = parse_error("-- param: limit = 5\nSELECT event_id FROM events");
        assert!(e.contains("never used"), "{e}");
        let e = lint_error(
            "-- window: 5m\n-- group_by: principal_arn\n-- having: COUNT(*) > 3\nSELECT event_id, event_time FROM events",
        );
        assert!(e.contains("`principal_arn` is missing"), "{e}");
    }

    #[test]
    fn evidence_headers_whose_columns_do_not_match_are_reported() {
        let sql = "WITH u AS (SELECT user_name, event_id FROM events) \
                   SELECT user_name, COUNT(*) AS n FROM u GROUP BY user_name";
        check_rule(&rule(&format!("-- evidence: u BY user_name\n{sql}"))).unwrap();
        let e = lint_error(&format!("-- evidence: u BY account_id\n{sql}"));
        assert!(e.contains("the result has no `account_id` column"), "{e}");
        let no_id = "WITH u AS (SELECT user_name FROM events) \
                     SELECT user_name, COUNT(*) AS n FROM u GROUP BY user_name";
        let e = lint_error(&format!("-- evidence: u BY user_name\n{no_id}"));
        assert!(e.contains("must have these columns and `event_id`"), "{e}");
        let e = parse_error(&format!(
            "-- evidence: u BY user_name\n-- window: 5m\n-- group_by: user_name\n-- having: COUNT(*) > 3\n{sql}"
        ));
        assert!(e.contains("windowed rule lists its evidence itself"), "{e}");
    }
}
