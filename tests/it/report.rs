//! The `scan` table report for people (issue 12): severity headline first, rules most
//! severe first, values never broken mid-token, a width cap when not on a terminal, a
//! record layout when a table does not fit, no colour in a pipe unless asked, and the
//! --min-severity / --rule filters (which --fail-on and the JSON see too).

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::{keytrail, keytrail_exe, root, stderr, stdout};

/// Runs keytrail with extra environment variables, stdout a pipe.
fn keytrail_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(keytrail_exe());
    c.args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run keytrail")
}

/// Every string in the findings' fields and evidence that has no space: account ids,
/// ARNs, UUIDs, key ids. Each must show whole in the table text.
fn tokens(findings: &[Value]) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if !s.contains(' ') && s.len() >= 12 => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for f in findings {
        walk(&f["fields"], &mut out);
        out.push(f["evidence_event_ids"][0].as_str().unwrap().to_string());
    }
    out.sort();
    out.dedup();
    out
}

/// The JSON findings of sample-logs.
fn json_findings(extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["scan", "sample-logs", "--format", "json"];
    args.extend_from_slice(extra);
    let o = keytrail(&args);
    let doc: Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    doc["findings"].as_array().unwrap().clone()
}

#[test]
fn the_table_keeps_every_value_whole_at_80_columns_and_in_a_file() {
    let toks = tokens(&json_findings(&[]));
    assert!(toks.iter().any(|t| t.starts_with("arn:aws:iam::")));
    for (env, width) in [(vec![("COLUMNS", "80")], 80), (vec![], 120)] {
        let o = keytrail_env(&["scan", "sample-logs"], &env);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out = stdout(&o);
        for t in &toks {
            assert!(
                out.contains(t.as_str()),
                "{t} is broken or missing at {width} columns:\n{out}"
            );
        }
        for line in out.lines() {
            assert!(
                line.chars().count() <= width,
                "wider than {width}: {line:?}"
            );
        }
        assert!(!out.contains('\x1b'), "no colour in a pipe");
    }
}

#[test]
fn a_narrow_screen_gets_records_and_a_wide_one_tables() {
    let narrow = stdout(&keytrail_env(
        &["scan", "sample-logs"],
        &[("COLUMNS", "80")],
    ));
    // long_term_key_use has many columns: one record per finding at 80 columns.
    assert!(
        narrow.contains("MEDIUM long_term_key_use · finding 1 of"),
        "{narrow}"
    );
    let wide = stdout(&keytrail_env(
        &["scan", "sample-logs"],
        &[("COLUMNS", "400")],
    ));
    assert!(
        !wide.contains("· finding 1 of"),
        "everything fits in tables at 400 columns"
    );
}

#[test]
fn the_headline_counts_severities_and_rules_come_most_severe_first() {
    let findings = json_findings(&[]);
    let count = |s: &str| findings.iter().filter(|f| f["severity"] == s).count();
    let out = stdout(&keytrail(&["scan", "sample-logs"]));
    let first = out.lines().next().unwrap();
    let mut expected = format!("{} findings: ", findings.len());
    let parts: Vec<String> = ["critical", "high", "medium", "low", "info"]
        .iter()
        .filter(|s| count(s) > 0)
        .map(|s| format!("{} {s}", count(s)))
        .collect();
    expected.push_str(&parts.join(", "));
    assert_eq!(first, expected);
    let order: Vec<usize> = ["[CRITICAL]", "[HIGH]", "[MEDIUM]", "[LOW]"]
        .iter()
        .map(|t| out.find(t).unwrap_or_else(|| panic!("{t} missing:\n{out}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(out.contains("events kept"), "the summary closes the report");
}

#[test]
fn color_always_colours_a_pipe_and_json_is_never_coloured() {
    let o = keytrail_env(
        &["scan", "sample-logs", "--color", "always"],
        &[("NO_COLOR", "1")],
    );
    assert!(
        stdout(&o).contains("\x1b[1;97;41m"),
        "--color always wins over NO_COLOR"
    );
    let o = keytrail_env(
        &[
            "scan",
            "sample-logs",
            "--color",
            "always",
            "--format",
            "json",
        ],
        &[],
    );
    assert!(!stdout(&o).contains('\x1b'));
    serde_json::from_str::<Value>(&stdout(&o)).expect("plain JSON");
}

#[test]
fn min_severity_and_rule_filter_what_is_reported_exported_and_failed_on() {
    let all = json_findings(&[]);
    let high = json_findings(&["--min-severity", "high"]);
    let expect = all
        .iter()
        .filter(|f| f["severity"] == "high" || f["severity"] == "critical")
        .count();
    assert_eq!(high.len(), expect);
    assert!(expect > 0 && expect < all.len());
    let one = json_findings(&["--rule", "long_term_key_created,key_creation_denied"]);
    assert!(one.iter().all(|f| {
        f["rule_id"] == "long_term_key_created" || f["rule_id"] == "key_creation_denied"
    }));
    assert_eq!(
        one.len(),
        all.iter()
            .filter(|f| f["rule_id"] == "long_term_key_created"
                || f["rule_id"] == "key_creation_denied")
            .count()
    );
    // --fail-on sees the reported (filtered) findings only.
    let o = keytrail(&[
        "scan",
        "sample-logs",
        "--rule",
        "key_creation_denied",
        "--fail-on",
        "high",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = keytrail(&["scan", "sample-logs", "--fail-on", "high", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    // The export carries the filtered set too.
    let o = keytrail(&[
        "scan",
        "sample-logs",
        "--min-severity",
        "critical",
        "--export",
        "ndjson",
    ]);
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty() && lines.iter().all(|f| f["severity"] == "critical"));
    // The table says what was filtered.
    let out = stdout(&keytrail(&[
        "scan",
        "sample-logs",
        "--min-severity",
        "high",
    ]));
    assert!(
        out.contains("Filtered: only severity high and above."),
        "{out}"
    );
}

#[test]
fn an_unknown_rule_id_is_refused_with_the_known_ones() {
    let o = keytrail(&["scan", "sample-logs", "--rule", "no_such_rule"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("--rule no_such_rule: no such rule") && e.contains("long_term_key_created"),
        "{e}"
    );
}

#[test]
fn events_and_timelines_leave_out_columns_rather_than_wrap_at_80() {
    // us-west-2's event names fit a narrowed table at 80 columns (us-east-1 has names such
    // as ListFoundationModelAgreementOffers that do not: those events come as records).
    let o = keytrail_env(
        &[
            "events",
            "sample-logs/AWSLogs/111122223333/CloudTrail/us-west-2",
        ],
        &[("COLUMNS", "80")],
    );
    let out = stdout(&o);
    // The note wraps like any text: read it whole.
    let at = out
        .find("(not shown at 80 columns: ")
        .unwrap_or_else(|| panic!("{out}"));
    let note = out[at..].split(')').next().unwrap().replace('\n', " ");
    assert!(
        note.contains("event_id") && note.contains("--format json"),
        "{note}"
    );
    let rows = out.lines().filter(|l| l.starts_with('│')).count();
    assert_eq!(
        rows, 62,
        "one line per event (61) plus the header at 80 columns:\n{out}"
    );
    assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
    let o = keytrail_env(
        &["investigate", "sample-logs", "--user", "BedrockAPIKey-x7k2"],
        &[("COLUMNS", "140")],
    );
    let out = stdout(&o);
    assert!(out.contains("Timeline:"), "{}", stderr(&o));
    let timeline = &out[out.find("Timeline:").unwrap()..];
    let rows = timeline.lines().filter(|l| l.starts_with('│')).count();
    let events: usize = timeline
        .lines()
        .rev()
        .find_map(|l| l.strip_suffix(" events").and_then(|n| n.parse().ok()))
        .unwrap();
    assert_eq!(
        rows,
        events + 1,
        "one line per event at 140 columns (plus the header):\n{timeline}"
    );
}
