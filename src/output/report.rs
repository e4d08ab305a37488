//! The `scan` report for people: a headline with the count of findings per severity, a
//! table of the rules that fired (most severe first), one section per rule with its
//! findings in time order, then the ingest summary.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::Value as Json;

use super::layout::{Cell, Grid, wrap};
use super::summary::write_summary;
use super::term::{Screen, Tone};
use super::values::cell_text;
use crate::findings::Finding;
use crate::pipeline::Summary;
use crate::rules::Severity;
use crate::rules::engine::EVIDENCE_ONE;

/// The first and last evidence event time of each finding (milliseconds), by finding id.
pub type FindingTimes = HashMap<String, (i64, i64)>;

/// Every severity, most severe first.
pub const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// The findings of one rule, in the order they are shown.
pub struct RuleGroup<'a> {
    pub rule_id: &'a str,
    pub title: &'a str,
    pub severity: Severity,
    pub findings: Vec<&'a Finding>,
}

/// When a finding's evidence starts (the latest possible time when unknown).
fn first_time(f: &Finding, times: &FindingTimes) -> i64 {
    times.get(&f.finding_id).map_or(i64::MAX, |t| t.0)
}

/// Groups findings by rule: the most severe rules first, then the rule whose first
/// finding is earliest; in a rule, findings by their first evidence time.
pub fn group_by_rule<'a>(findings: &'a [Finding], times: &FindingTimes) -> Vec<RuleGroup<'a>> {
    let mut groups: Vec<RuleGroup> = Vec::new();
    for f in findings {
        match groups.iter_mut().find(|g| g.rule_id == f.rule_id.as_str()) {
            Some(g) => g.findings.push(f),
            None => groups.push(RuleGroup {
                rule_id: &f.rule_id,
                title: &f.title,
                severity: f.severity,
                findings: vec![f],
            }),
        }
    }
    for g in &mut groups {
        g.findings.sort_by_key(|f| first_time(f, times));
    }
    groups.sort_by_key(|g| {
        (
            std::cmp::Reverse(g.severity),
            g.findings
                .first()
                .map_or(i64::MAX, |f| first_time(f, times)),
            g.rule_id.to_string(),
        )
    });
    groups
}

/// How many findings there are of each severity, most severe first (zeros left out).
pub fn severity_counts(findings: &[Finding]) -> Vec<(Severity, usize)> {
    SEVERITIES
        .iter()
        .map(|s| (*s, findings.iter().filter(|f| f.severity == *s).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// `n finding`/`n findings`.
pub fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The headline: the count of findings per severity, or why there are none.
pub fn headline(findings: &[Finding], summary: &Summary, color: bool) -> String {
    if findings.is_empty() {
        let mut s = format!(
            "No findings in {} kept from {} read.",
            plural(summary.events_kept as usize, "event"),
            plural(summary.inputs_read as usize, "input")
        );
        if !summary.inputs_skipped.is_empty() {
            s.push_str(&format!(
                " {} could not be read completely: the results are partial (see below).",
                plural(summary.inputs_skipped.len(), "input")
            ));
        }
        return s;
    }
    let parts: Vec<String> = severity_counts(findings)
        .into_iter()
        .map(|(s, n)| Tone::Severity(s).paint(&format!("{n} {}", s.as_str()), color))
        .collect();
    format!(
        "{}: {}",
        Tone::Bold.paint(&plural(findings.len(), "finding"), color),
        parts.join(", ")
    )
}

/// The severity as a tag: `CRITICAL`, `HIGH`...
pub fn severity_tag(s: Severity) -> String {
    s.as_str().to_uppercase()
}

/// Writes the whole report. `filters` says what `--rule`/`--min-severity` left out.
pub fn write_scan_table(
    w: &mut dyn Write,
    findings: &[Finding],
    times: &FindingTimes,
    summary: &Summary,
    filters: Option<&str>,
    screen: &Screen,
) -> io::Result<()> {
    writeln!(w, "{}", headline(findings, summary, screen.color))?;
    if let Some(f) = filters {
        writeln!(w, "{}", Tone::Dim.paint(f, screen.color))?;
    }
    let groups = group_by_rule(findings, times);
    if !groups.is_empty() {
        writeln!(w)?;
        let mut g = Grid::new(["severity", "count", "rule", "title"]);
        g.plain();
        for r in &groups {
            g.titled_row(
                Cell::new(
                    format!("{} {}", severity_tag(r.severity), r.rule_id),
                    Tone::Severity(r.severity),
                ),
                [
                    Cell::new(severity_tag(r.severity), Tone::Severity(r.severity)),
                    Cell::from(r.findings.len().to_string()),
                    Cell::from(r.rule_id),
                    Cell::from(r.title),
                ],
            );
        }
        g.write(w, screen)?;
    }
    for r in &groups {
        writeln!(w)?;
        write_group(w, r, screen)?;
    }
    writeln!(w)?;
    write_summary(w, summary, screen)
}

/// One rule's section: a heading, then its findings as a table or as records.
fn write_group(w: &mut dyn Write, r: &RuleGroup, screen: &Screen) -> io::Result<()> {
    let tag = format!("[{}]", severity_tag(r.severity));
    let heading = format!(
        "{tag} {} ({}): {}",
        r.title,
        r.rule_id,
        plural(r.findings.len(), "finding")
    );
    for (i, line) in wrap(&heading, screen.width).iter().enumerate() {
        match line.strip_prefix(&tag) {
            Some(rest) if i == 0 => writeln!(
                w,
                "{}{}",
                Tone::Severity(r.severity).paint(&tag, screen.color),
                Tone::Bold.paint(rest, screen.color)
            )?,
            _ => writeln!(w, "{}", Tone::Bold.paint(line, screen.color))?,
        }
    }
    let columns = columns(&r.findings);
    let mut header: Vec<String> = columns.clone();
    header.push("evidence".into());
    let mut g = Grid::new(header);
    let n = r.findings.len();
    for (i, f) in r.findings.iter().enumerate() {
        let mut cells: Vec<Cell> = columns
            .iter()
            .map(|k| Cell::from(cell_text(f.fields.get(k).unwrap_or(&Json::Null))))
            .collect();
        cells.push(Cell::from(evidence_text(f)));
        let title = format!(
            "{} {} · finding {} of {n} · {}",
            severity_tag(r.severity),
            r.rule_id,
            i + 1,
            f.finding_id
        );
        g.titled_row(Cell::new(title, Tone::Severity(r.severity)), cells);
    }
    g.write(w, screen)
}

/// The field columns of a rule's findings, in the rule's order; `event_id` is left out
/// when it is the evidence (the evidence column shows it).
fn columns(findings: &[&Finding]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for f in findings {
        for k in f.fields.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let evidence_is_event_id = findings.iter().all(|f| match f.fields.get(EVIDENCE_ONE) {
        Some(Json::String(id)) => f.evidence_event_ids.contains(id),
        Some(Json::Null) | None => true,
        _ => false,
    });
    if evidence_is_event_id {
        cols.retain(|c| c != EVIDENCE_ONE);
    }
    cols
}

/// The evidence cell: the event id, or the count and the first id.
fn evidence_text(f: &Finding) -> String {
    let first = f.evidence_event_ids.first().unwrap_or("");
    match f.evidence_count {
        0 => String::new(),
        1 => first.to_string(),
        n => format!("{n} events, first:\n{first}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, sev: Severity, id: &str, fields: serde_json::Value) -> Finding {
        Finding {
            finding_id: id.into(),
            rule_id: rule.into(),
            title: format!("title of {rule}"),
            severity: sev,
            description: String::new(),
            mitre: vec![],
            evidence_event_ids: [format!("ev-{id}")].into_iter().collect(),
            evidence_count: 1,
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn rules_are_ordered_by_severity_then_time_and_findings_by_time() {
        let fs = vec![
            finding("low_rule", Severity::Low, "a", serde_json::json!({})),
            finding("crit_rule", Severity::Critical, "b", serde_json::json!({})),
            finding("high_late", Severity::High, "c", serde_json::json!({})),
            finding("high_early", Severity::High, "d", serde_json::json!({})),
            finding("crit_rule", Severity::Critical, "e", serde_json::json!({})),
        ];
        let times: FindingTimes = [("a", 1), ("b", 50), ("c", 40), ("d", 30), ("e", 10)]
            .into_iter()
            .map(|(k, t)| (k.to_string(), (t, t)))
            .collect();
        let g = group_by_rule(&fs, &times);
        let order: Vec<&str> = g.iter().map(|g| g.rule_id).collect();
        assert_eq!(order, ["crit_rule", "high_early", "high_late", "low_rule"]);
        let crit: Vec<&str> = g[0]
            .findings
            .iter()
            .map(|f| f.finding_id.as_str())
            .collect();
        assert_eq!(crit, ["e", "b"]);
    }

    #[test]
    fn the_headline_counts_each_severity() {
        let fs = vec![
            finding("r", Severity::High, "a", serde_json::json!({})),
            finding("r", Severity::High, "b", serde_json::json!({})),
            finding("s", Severity::Critical, "c", serde_json::json!({})),
        ];
        assert_eq!(
            headline(&fs, &Summary::default(), false),
            "3 findings: 1 critical, 2 high"
        );
        let empty = Summary {
            inputs_read: 2,
            events_kept: 5,
            ..Summary::default()
        };
        assert_eq!(
            headline(&[], &empty, false),
            "No findings in 5 events kept from 2 inputs read."
        );
    }

    #[test]
    fn event_id_is_not_repeated_beside_the_evidence() {
        let f = finding(
            "r",
            Severity::High,
            "a",
            serde_json::json!({"user": "u", "event_id": "ev-a"}),
        );
        assert_eq!(columns(&[&f]), ["user"]);
    }
}
