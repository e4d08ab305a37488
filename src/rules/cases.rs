//! Rule test cases: CloudTrail records that must fire a rule and records that must not,
//! kept in `<rule file stem>.test.json` beside the rule and run by `keytrail rules test`.
//!
//! ```json
//! {
//!   "template": { "eventSource": "bedrock.amazonaws.com", "recipientAccountId": "111122223333" },
//!   "cases": [
//!     {
//!       "name": "two regions 10 minutes apart across an hour boundary",
//!       "params": { "window": "30m" },
//!       "events": [
//!         { "eventID": "a1", "eventTime": "2026-11-18T12:55:00Z", "awsRegion": "us-east-1" },
//!         { "eventID": "a2", "eventTime": "2026-11-18T13:05:00Z", "awsRegion": "us-west-2" },
//!         { "eventID": "s", "eventTime": "2026-11-18T14:00:00Z", "repeat": 101, "every": "2s" }
//!       ],
//!       "fire": ["a1", "a2"],
//!       "quiet": ["s-1"],
//!       "findings": 1
//!     }
//!   ]
//! }
//! ```
//!
//! Each event is the `template` with the event's own top-level fields put in its place
//! (a field given replaces the template's whole value; `null` writes a JSON null). `repeat: N` with `every: DURATION` makes N events,
//! `ID-1` ... `ID-N`, each `every` later than the one before. The events go through the
//! same ingest as log files (so a record the pipeline does not keep cannot fire). `fire`
//! names events that must be evidence of a finding, `quiet` events that must not;
//! `findings` is the exact number of findings (0 when no `fire` is given).

use std::io::Cursor;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::engine::run_rule;
use super::params::parse_duration;
use super::{Rule, RuleError};
use crate::pipeline::{IngestOptions, ingest_reader};
use crate::timefmt::{format_micros, parse_timestamp};

/// The file name of a rule's cases: the rule file's stem plus this.
pub const CASES_SUFFIX: &str = ".test.json";

/// A rule's test cases, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the cases cover (free text).
    #[serde(default)]
    pub description: Option<String>,
    /// Fields every event starts from.
    #[serde(default)]
    pub template: Map<String, Json>,
    pub cases: Vec<Case>,
}

/// One test case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// Parameter values for this case (default: the rule's defaults).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, Json>,
    pub events: Vec<Map<String, Json>>,
    /// Event ids that must be evidence of some finding.
    #[serde(default)]
    pub fire: Vec<String>,
    /// Event ids that must not be evidence of any finding.
    #[serde(default)]
    pub quiet: Vec<String>,
    /// The exact number of findings (default: 0 when `fire` is empty, else not checked).
    #[serde(default)]
    pub findings: Option<usize>,
}

/// What one case did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub rule: String,
    pub case: String,
    /// Empty when the case passed; otherwise each failure, naming the event.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// True when the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Parses a cases file.
pub fn parse_cases(text: &str) -> Result<CaseFile, String> {
    let f: CaseFile =
        serde_json::from_str(text).map_err(|e| format!("not a test-case file: {e}"))?;
    if f.cases.is_empty() {
        return Err("no cases: `cases` is empty".into());
    }
    for c in &f.cases {
        if c.events.is_empty() {
            return Err(format!("case {:?} has no events", c.name));
        }
    }
    Ok(f)
}

/// Puts the event's own top-level fields over the template's.
fn merge(base: &mut Map<String, Json>, over: &Map<String, Json>) {
    for (k, v) in over {
        base.insert(k.clone(), v.clone());
    }
}

/// The records of a case: the template merged with each event, repeats expanded.
pub fn expand(file: &CaseFile, case: &Case) -> Result<Vec<Json>, String> {
    let mut out = Vec::new();
    for (n, ev) in case.events.iter().enumerate() {
        let mut rec = file.template.clone();
        let mut own = ev.clone();
        let repeat = own.remove("repeat");
        let every = own.remove("every");
        merge(&mut rec, &own);
        if !rec.contains_key("eventID") {
            rec.insert("eventID".into(), Json::String(format!("e{}", n + 1)));
        }
        let Some(times) = repeat else {
            out.push(Json::Object(rec));
            continue;
        };
        let times = times
            .as_u64()
            .filter(|t| (1..=100_000).contains(t))
            .ok_or_else(|| {
                format!(
                    "event {}: `repeat` must be a number from 1 to 100000",
                    n + 1
                )
            })?;
        let step = match every.as_ref().and_then(Json::as_str) {
            Some(s) => parse_duration(s)
                .ok_or_else(|| format!("event {}: `every` {s:?} is not a duration", n + 1))?,
            None => 0,
        };
        let id = rec["eventID"].as_str().unwrap_or("e").to_string();
        let start = rec
            .get("eventTime")
            .and_then(Json::as_str)
            .and_then(parse_timestamp)
            .ok_or_else(|| format!("event {id}: a repeated event needs an `eventTime`"))?;
        for i in 0..times {
            let mut r = rec.clone();
            r.insert("eventID".into(), Json::String(format!("{id}-{}", i + 1)));
            r.insert(
                "eventTime".into(),
                Json::String(format_micros(start + i as i64 * step)),
            );
            out.push(Json::Object(r));
        }
    }
    Ok(out)
}

/// Runs one case of `rule` and says what failed, naming the rule, the case and the event.
pub fn run_case(rule: &Rule, file: &CaseFile, case: &Case) -> CaseResult {
    let failures = match check_case(rule, file, case) {
        Ok(f) => f,
        Err(e) => vec![e],
    };
    CaseResult {
        rule: rule.id.clone(),
        case: case.name.clone(),
        failures,
    }
}

/// The failures of one case (an error when the case cannot run at all).
fn check_case(rule: &Rule, file: &CaseFile, case: &Case) -> Result<Vec<String>, String> {
    let values: std::collections::BTreeMap<String, String> = case
        .params
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    let compiled = rule
        .compile(Some(&values))
        .map_err(|e| format!("parameters: {e}"))?;
    let records = expand(file, case)?;
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records }))
        .map_err(|e| e.to_string())?;
    let name = format!("rule test {}/{}", rule.id, case.name);
    let ingested = ingest_reader(
        &name,
        Box::new(Cursor::new(body)),
        &IngestOptions::default(),
    )
    .map_err(|e| format!("building the events table: {e}"))?;
    if let Some(m) = ingested.messages.first() {
        return Err(format!("the events did not read cleanly: {m}"));
    }
    let findings = run_rule(&compiled, &ingested.table).map_err(|e| e.reason)?;
    let kept: std::collections::HashSet<String> = ingested
        .table
        .to_events()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|e| e.event_id)
        .collect();
    let mut failures = Vec::new();
    let fired = |id: &str| findings.iter().find(|f| f.evidence_event_ids.contains(id));
    for id in &case.fire {
        if fired(id).is_some() {
            continue;
        }
        if !kept.contains(id) {
            failures.push(format!(
                "event {id} must fire, but the pipeline did not keep it (not Bedrock-relevant, or no such eventID in the case)"
            ));
        } else {
            failures.push(format!(
                "event {id} must fire, but it is not in the evidence of any of the {} findings",
                findings.len()
            ));
        }
    }
    for id in &case.quiet {
        if let Some(f) = fired(id) {
            failures.push(format!(
                "event {id} must not fire, but it is evidence of finding {} ({})",
                f.finding_id,
                serde_json::Value::Object(f.fields.clone())
            ));
        }
    }
    let expected = case.findings.or(case.fire.is_empty().then_some(0));
    if let Some(n) = expected
        && findings.len() != n
    {
        let ids: Vec<String> = findings
            .iter()
            .map(|f| f.evidence_event_ids.first().unwrap_or_default().to_string())
            .collect();
        failures.push(format!(
            "expected {n} findings, got {} (first evidence events: {})",
            findings.len(),
            if ids.is_empty() {
                "none".into()
            } else {
                ids.join(", ")
            }
        ));
    }
    Ok(failures)
}

/// Runs every case of a rule.
pub fn run_file(rule: &Rule, text: &str) -> Vec<CaseResult> {
    match parse_cases(text) {
        Ok(f) => f.cases.iter().map(|c| run_case(rule, &f, c)).collect(),
        Err(e) => vec![CaseResult {
            rule: rule.id.clone(),
            case: "(file)".into(),
            failures: vec![e],
        }],
    }
}

/// The built-in rules with their cases' text (None for a rule without cases).
pub fn builtin() -> Vec<(Rule, Option<&'static str>)> {
    super::builtin_rules()
        .into_iter()
        .zip(super::BUILTIN)
        .map(|(r, (file, _))| {
            let stem = file.trim_end_matches(".sql");
            let cases = super::BUILTIN_CASES
                .iter()
                .find(|(f, _)| f.trim_end_matches(CASES_SUFFIX) == stem)
                .map(|(_, t)| *t);
            (r, cases)
        })
        .collect()
}

/// A rule file's name with the rule and the text of its cases file (None when it has none),
/// or why the rule could not be read.
pub type RuleWithCases = (String, Result<(Rule, Option<String>), RuleError>);

/// The rules in `dir` with the text of their cases files (None when a rule has none).
pub fn load_dir(dir: &std::path::Path) -> Result<Vec<RuleWithCases>, RuleError> {
    Ok(super::load_dir(dir)?
        .into_iter()
        .map(|(name, rule)| {
            let r = rule.and_then(|r| {
                let path = std::path::Path::new(&name).with_extension("");
                let cases = path.with_file_name(format!(
                    "{}{CASES_SUFFIX}",
                    path.file_name()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default()
                ));
                match std::fs::read_to_string(&cases) {
                    Ok(t) => Ok((r, Some(t))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((r, None)),
                    Err(e) => Err(RuleError::Io(format!("{}: {e}", cases.display()))),
                }
            });
            (name, r)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_rule_has_cases_and_they_pass() {
        let mut failed = Vec::new();
        for (rule, cases) in builtin() {
            let Some(text) = cases else {
                failed.push(format!("{}: no {CASES_SUFFIX} file", rule.id));
                continue;
            };
            let results = run_file(&rule, text);
            assert!(!results.is_empty(), "{}", rule.id);
            for r in results.into_iter().filter(|r| !r.passed()) {
                failed.push(format!(
                    "{} / {}: {}",
                    r.rule,
                    r.case,
                    r.failures.join("; ")
                ));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    #[test]
    fn templates_merge_and_repeats_expand() {
        let f = parse_cases(
            r#"{"template":{"userIdentity":{"type":"IAMUser","userName":"u"},"eventName":"InvokeModel"},
                "cases":[{"name":"c","events":[
                  {"eventID":"x","eventTime":"2026-11-18T12:00:00Z","userIdentity":{"userName":"v"}},
                  {"eventID":"s","eventTime":"2026-11-18T12:00:00Z","repeat":3,"every":"2s"}]}]}"#,
        )
        .unwrap();
        let recs = expand(&f, &f.cases[0]).unwrap();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[0]["userIdentity"]["type"], serde_json::Value::Null);
        assert_eq!(recs[0]["userIdentity"]["userName"], "v");
        assert_eq!(recs[1]["userIdentity"]["type"], "IAMUser");
        assert_eq!(recs[0]["eventName"], "InvokeModel");
        assert_eq!(recs[3]["eventID"], "s-3");
        assert_eq!(recs[3]["eventTime"], "2026-11-18T12:00:04Z");
        assert!(parse_cases(r#"{"cases":[]}"#).is_err());
        assert!(parse_cases(r#"{"cases":[{"name":"n","events":[],"extra":1}]}"#).is_err());
    }

    #[test]
    fn a_failing_case_names_the_rule_the_case_and_the_event() {
        let rule = super::super::parse_rule(
            "-- id: invoke_seen\n-- title: t\n-- severity: low\n-- description: d\nSELECT event_id FROM events WHERE event_name = 'InvokeModel'",
            "t",
        )
        .unwrap();
        let text = r#"{"template":{"eventSource":"bedrock.amazonaws.com","eventTime":"2026-11-18T12:00:00Z","userIdentity":{"type":"IAMUser","userName":"u"}},
            "cases":[{"name":"wrong on purpose","events":[
                {"eventID":"inv","eventName":"InvokeModel"},
                {"eventID":"lst","eventName":"ListFoundationModels"},
                {"eventID":"s3","eventSource":"s3.amazonaws.com","eventName":"GetObject"}],
              "fire":["lst","s3"],"quiet":["inv"]}]}"#;
        let r = &run_file(&rule, text)[0];
        assert_eq!(
            (r.rule.as_str(), r.case.as_str()),
            ("invoke_seen", "wrong on purpose")
        );
        let all = r.failures.join("\n");
        assert!(all.contains("event lst must fire"), "{all}");
        assert!(
            all.contains("event s3 must fire, but the pipeline did not keep it"),
            "{all}"
        );
        assert!(all.contains("event inv must not fire"), "{all}");
    }
}
