//! `rules lint`: checks rule files without any logs: header, SQL syntax, known columns,
//! and that the result names its evidence.

use polars::sql::SQLContext;

use super::Rule;
use super::engine::{EVIDENCE_LIST, EVIDENCE_ONE};
use crate::table::EventTable;

/// Checks that a parsed rule plans against the events schema and names evidence.
pub fn check_rule(rule: &Rule) -> Result<(), String> {
    let mut ctx = SQLContext::new();
    ctx.register("events", EventTable::empty().lazy());
    let mut lf = ctx
        .execute(&rule.sql)
        .map_err(|e| format!("SQL does not parse or plan: {e}"))?;
    let schema = lf
        .collect_schema()
        .map_err(|e| format!("SQL refers to something unknown: {e}"))?;
    if !schema.contains(EVIDENCE_LIST) && !schema.contains(EVIDENCE_ONE) {
        return Err(format!(
            "result has no `{EVIDENCE_LIST}` (list) or `{EVIDENCE_ONE}` column naming the evidence"
        ));
    }
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
}
