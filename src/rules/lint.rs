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

    #[test]
    fn every_builtin_rule_passes_lint() {
        for r in builtin_rules() {
            check_rule(&r).unwrap_or_else(|e| panic!("{}: {e}", r.id));
        }
    }

    #[test]
    fn unknown_columns_and_bad_sql_are_reported() {
        let head = "-- id: a\n-- title: t\n-- severity: low\n-- description: d\n";
        let r = parse_rule(
            &format!("{head}SELECT no_such_column AS event_id FROM events"),
            "t",
        )
        .unwrap();
        assert!(check_rule(&r).is_err());
        let r = parse_rule(&format!("{head}SELEC event_id FROM events"), "t").unwrap();
        assert!(check_rule(&r).unwrap_err().contains("does not parse"));
        let r = parse_rule(&format!("{head}SELECT event_name FROM events"), "t").unwrap();
        assert!(check_rule(&r).unwrap_err().contains("evidence"));
    }

    #[test]
    fn unknown_parameters_and_missing_window_columns_are_reported() {
        let head = "-- id: a\n-- title: t\n-- severity: low\n-- description: d\n";
        let e = parse_rule(
            &format!("{head}SELECT event_id FROM events WHERE x > ${{limit}}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown parameter ${limit}"), "{e}");
        let e = parse_rule(
            &format!("{head}-- param: limit = 5\nSELECT event_id FROM events"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("never used"), "{e}");
        let r = parse_rule(
            &format!(
                "{head}-- window: 5m\n-- group_by: principal_arn\n-- having: COUNT(*) > 3\nSELECT event_id, event_time FROM events"
            ),
            "t",
        )
        .unwrap();
        let e = check_rule(&r).unwrap_err();
        assert!(e.contains("`principal_arn` is missing"), "{e}");
    }

    #[test]
    fn evidence_headers_whose_columns_do_not_match_are_reported() {
        let head = "-- id: a\n-- title: t\n-- severity: low\n-- description: d\n";
        let sql = "WITH u AS (SELECT user_name, event_id FROM events) \
                   SELECT user_name, COUNT(*) AS n FROM u GROUP BY user_name";
        let ok = parse_rule(&format!("{head}-- evidence: u BY user_name\n{sql}"), "t").unwrap();
        check_rule(&ok).unwrap();
        let r = parse_rule(&format!("{head}-- evidence: u BY account_id\n{sql}"), "t").unwrap();
        let e = check_rule(&r).unwrap_err();
        assert!(e.contains("the result has no `account_id` column"), "{e}");
        let no_id = "WITH u AS (SELECT user_name FROM events) \
                     SELECT user_name, COUNT(*) AS n FROM u GROUP BY user_name";
        let r = parse_rule(&format!("{head}-- evidence: u BY user_name\n{no_id}"), "t").unwrap();
        let e = check_rule(&r).unwrap_err();
        assert!(e.contains("must have these columns and `event_id`"), "{e}");
        let e = parse_rule(
            &format!("{head}-- evidence: u BY user_name\n-- window: 5m\n-- group_by: user_name\n-- having: COUNT(*) > 3\n{sql}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("windowed rule lists its evidence itself"), "{e}");
    }
}
