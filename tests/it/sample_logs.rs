//! Runs the binary on the bundled sample-logs and checks findings, events and exit codes.
//! JSON output is parsed back into structs with `deny_unknown_fields`, so the documented
//! schema is exactly what is printed.

use std::collections::BTreeMap;

use crate::common::schema::EventRow;
use crate::common::{keytrail, stderr, stdout};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    schema_version: u32,
    findings: Vec<Finding>,
    summary: Summary,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    finding_id: String,
    rule_id: String,
    title: String,
    severity: String,
    description: String,
    mitre: Vec<String>,
    evidence_event_ids: Vec<String>,
    evidence_count: u64,
    fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    inputs_read: u64,
    events_read: u64,
    events_kept: u64,
    digest_files_skipped: u64,
    files_ignored_by_name: u64,
    records_unreadable: u64,
    bytes_skipped: u64,
    records_with_odd_fields: u64,
    events_outside_time_window: u64,
    duplicate_events_dropped: u64,
    inputs_outside_time_window: u64,
    api_calls: u64,
    inputs_in_other_shards: u64,
    files_passed_over: std::collections::BTreeMap<String, u64>,
    inputs_skipped: Vec<serde_json::Value>,
}

/// Scans sample-logs as JSON and parses the report.
fn scan_json(extra: &[&str]) -> (i32, Report) {
    let mut args = vec!["scan", "sample-logs", "--format", "json"];
    args.extend_from_slice(extra);
    let o = keytrail(&args);
    let report: Report =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}\n{}", stderr(&o)));
    (o.status.code().unwrap(), report)
}

/// Reads sample-logs' events as NDJSON rows.
fn events(extra: &[&str]) -> Vec<EventRow> {
    let mut args = vec!["events", "sample-logs", "--format", "ndjson"];
    args.extend_from_slice(extra);
    let o = keytrail(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn scan_reports_every_rule_with_expected_counts() {
    let (code, r) = scan_json(&[]);
    assert_eq!(code, 0);
    assert_eq!(r.schema_version, 1);
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &r.findings {
        *per_rule.entry(f.rule_id.as_str()).or_default() += 1;
        assert!(
            !f.evidence_event_ids.is_empty(),
            "{} has no evidence",
            f.rule_id
        );
        assert!(f.evidence_count as usize >= f.evidence_event_ids.len());
        assert!(f.evidence_event_ids.len() <= 100);
        assert_eq!(f.finding_id.len(), 24);
        assert!(["info", "low", "medium", "high", "critical"].contains(&f.severity.as_str()));
        assert!(!f.title.is_empty() && !f.description.is_empty() && !f.mitre.is_empty());
    }
    // The table in sample-logs/README.md ("Rules exercised"): every built-in rule fires.
    let expected = BTreeMap::from([
        ("bearer_key_controls_changed", 3),
        ("bearer_key_destructive_action", 2),
        ("console_key_flow", 3),
        ("credential_change_service_unknown", 1),
        ("guardrail_weakened", 1),
        ("invocation_logging_changed", 1),
        ("key_creation_denied", 1),
        ("key_invocation_spike", 1),
        ("key_multi_region", 2),
        ("key_new_source", 1),
        ("key_used_after_revocation", 2),
        ("key_without_short_expiry", 2),
        ("llmjacking_enablement", 1),
        ("long_term_key_created", 4),
        ("long_term_key_use", 5),
        ("model_access_enabled", 1),
        ("model_probing_failures", 1),
        ("phantom_user_activity_outside_bedrock", 1),
        ("phantom_user_credentials_added", 2),
        ("recon_then_invoke", 2),
        ("revocation_misses_mantle", 1),
        ("scripted_bearer_client", 5),
        ("short_term_key_use", 3),
    ]);
    assert_eq!(per_rule, expected);
    let builtin = keytrail::rules::builtin_rules();
    assert_eq!(
        per_rule.len(),
        builtin.len(),
        "every built-in rule fires on the sample logs"
    );
    let readme =
        std::fs::read_to_string(crate::common::root().join("sample-logs/README.md")).unwrap();
    for (rule, n) in &expected {
        assert!(
            readme.contains(&format!("| `{rule}` | {n} |")),
            "README row for {rule}"
        );
    }
    let s = &r.summary;
    assert_eq!(
        (
            s.inputs_read,
            s.events_read,
            s.events_kept,
            s.digest_files_skipped
        ),
        (21, 327, 216, 1)
    );
    assert_eq!(
        (
            s.records_unreadable,
            s.bytes_skipped,
            s.records_with_odd_fields,
            s.duplicate_events_dropped,
            s.inputs_outside_time_window,
            s.api_calls
        ),
        (0, 0, 0, 0, 0, 0),
        "local files need no AWS calls"
    );
    assert_eq!(
        (s.files_ignored_by_name, s.events_outside_time_window),
        (1, 0)
    );
    assert!(s.inputs_skipped.is_empty());
    assert_eq!(s.inputs_in_other_shards, 0);
    assert!(s.files_passed_over.is_empty(), "{:?}", s.files_passed_over);
}

#[test]
fn key_used_after_revocation_names_both_keys_and_their_calls() {
    let (_, r) = scan_json(&[]);
    let hits: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.rule_id == "key_used_after_revocation")
        .collect();
    let users: Vec<&str> = hits
        .iter()
        .map(|f| f.fields["key_user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["BedrockAPIKey-x7k2", "ci-bot"]);
    assert_eq!(hits[0].fields["calls_after"], 2);
    assert_eq!(hits[0].fields["revocation"], "key_status_changed");
    assert_eq!(hits[1].fields["revocation"], "key_deleted");
    assert_eq!(hits[1].evidence_count, 1);
}

#[test]
fn long_term_use_is_grouped_per_principal() {
    let (_, r) = scan_json(&[]);
    let x7k2 = r
        .findings
        .iter()
        .find(|f| {
            f.rule_id == "long_term_key_use"
                && f.fields["principal"] == "arn:aws:iam::111122223333:user/BedrockAPIKey-x7k2"
        })
        .expect("x7k2 use");
    assert_eq!(
        (
            x7k2.fields["calls_ok"].as_i64(),
            x7k2.fields["calls_denied"].as_i64()
        ),
        (Some(11), Some(3))
    );
    assert_eq!(
        x7k2.fields["regions"],
        serde_json::json!(["us-east-1", "us-west-2"])
    );
    assert_eq!(x7k2.fields["first_seen"], "2026-11-17T09:30:12Z");
}

#[test]
fn events_carry_every_activity_value_and_all_columns() {
    let rows = events(&[]);
    assert_eq!(rows.len(), 216);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *counts
            .entry(r.activity.clone().unwrap_or_else(|| "null".into()))
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("bearer_long_term", 162),
        ("bearer_short_term", 14),
        ("key_create_failed", 1),
        ("key_created", 4),
        ("key_deleted", 1),
        ("key_reset", 1),
        ("key_status_changed", 1),
        ("null", 32),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, expected);
    let string_flag = rows
        .iter()
        .filter(|r| r.source.ends_with("lake-export.ndjson") && r.bearer_token)
        .count();
    assert!(string_flag >= 1, "the string \"true\" flag is read");
    assert!(rows.iter().any(
        |r| r.source.contains("lookup-events") && r.activity.as_deref() == Some("key_created")
    ));
}

#[test]
fn time_window_filters_events_and_is_counted() {
    let rows = events(&["--since", "2026-11-19T00:00:00Z", "--until", "2026-11-20"]);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| {
        r.event_time
            .as_deref()
            .is_some_and(|t| t.starts_with("2026-11-19"))
    }));
    let (_, r) = scan_json(&["--since", "2026-11-19T00:00:00Z", "--until", "2026-11-20"]);
    assert_eq!(r.summary.events_kept as usize, rows.len());
    assert_eq!(
        r.summary.events_kept + r.summary.events_outside_time_window,
        216
    );
}

#[test]
fn fail_on_sets_exit_code_one() {
    assert_eq!(scan_json(&["--fail-on", "critical"]).0, 1);
    let o = keytrail(&[
        "scan",
        "sample-logs/lookup-events",
        "--format",
        "ndjson",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn query_runs_user_sql_over_events() {
    let o = keytrail(&[
        "query",
        "sample-logs",
        "--format",
        "json",
        "--sql",
        "SELECT principal_arn, count(*) AS calls FROM events WHERE activity = 'bearer_long_term' GROUP BY principal_arn ORDER BY calls DESC",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        rows[0]["principal_arn"],
        "arn:aws:iam::111122223333:user/svc-summarizer"
    );
    assert_eq!(rows[0]["calls"], 134);
    let total: i64 = rows.iter().map(|r| r["calls"].as_i64().unwrap()).sum();
    assert_eq!(total, 162);
}

#[test]
fn bad_sql_is_a_fatal_error_with_a_hint() {
    let o = keytrail(&["query", "sample-logs", "--sql", "SELECT nope FROM events"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the table is `events`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn table_output_has_one_section_per_rule_and_a_summary() {
    let o = keytrail(&["scan", "sample-logs"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let sections = out
        .lines()
        .filter(|l| {
            ["[CRITICAL] ", "[HIGH] ", "[MEDIUM] ", "[LOW] ", "[INFO] "]
                .iter()
                .any(|t| l.starts_with(t))
        })
        .count();
    assert_eq!(sections, 23);
    assert!(out.contains(
        "[CRITICAL] Bedrock API key used after it was deactivated or deleted (key_used_after_revocation)"
    ));
    assert!(out.contains("events kept"));
}

#[test]
fn csv_and_output_file_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.csv");
    let o = keytrail(&[
        "scan",
        "sample-logs",
        "--format",
        "csv",
        "--output",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).is_empty());
    let mut r = csv::Reader::from_path(&path).unwrap();
    assert_eq!(r.headers().unwrap().get(1), Some("rule_id"));
    assert_eq!(r.records().count(), 46);
}

#[test]
fn rules_list_shows_builtins_and_lint_passes() {
    let o = keytrail(&["rules", "list"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("key_used_after_revocation"));
    let o = keytrail(&["rules", "lint", "queries"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("23 rule files ok"));
}

#[test]
fn stats_name_the_read_and_every_rule_on_stderr_and_leave_stdout_alone() {
    let plain = keytrail(&["scan", "sample-logs", "--format", "json"]);
    let with = keytrail(&["scan", "sample-logs", "--format", "json", "--stats"]);
    assert_eq!(plain.status.code(), with.status.code());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&plain)).unwrap()["findings"],
        serde_json::from_str::<serde_json::Value>(&stdout(&with)).unwrap()["findings"],
        "--stats changes no result"
    );
    let err = stderr(&with);
    let stats: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("keytrail: stats: "))
        .collect();
    // The built-in rules are the SQL files of queries/.
    let ids: Vec<String> = std::fs::read_dir(crate::common::root().join("queries"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    assert!(ids.len() > 20, "{ids:?}");
    assert!(
        stats[0].contains("read ") && stats[0].contains(" events in "),
        "{err}"
    );
    for id in &ids {
        assert!(
            stats
                .iter()
                .any(|l| l.contains(&format!("rule {id}: ")) && l.contains(" s")),
            "no stats line for {id}: {err}"
        );
    }
    assert!(
        stats.last().unwrap().contains("read and all rules"),
        "{err}"
    );
    assert!(!stderr(&plain).contains("stats:"), "stats only when asked");
}
