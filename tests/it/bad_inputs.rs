//! A folder mixing bad and good inputs: every bad one gets a clear line naming it and the
//! reason, every good event (including good records before a break) is still processed.

use crate::common;

use std::io::Write;
use std::path::Path;

use crate::common::{keytrail, stderr, stdout};
use flate2::Compression;
use flate2::write::GzEncoder;

/// A bearer-token Bedrock call with the given id.
fn bearer(id: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/BedrockAPIKey-ab12","accountId":"111122223333","userName":"BedrockAPIKey-ab12"}},"eventTime":"2026-11-18T10:00:00Z","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.5","userAgent":"curl/8.5.0","requestParameters":{{"modelId":"amazon.nova-pro-v1:0"}},"responseElements":null,"additionalEventData":{{"callWithBearerToken":true}},"eventID":"{id}","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#
    )
}

/// Gzips bytes.
fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes the mixed folder and returns it.
fn mixed_folder(dir: &Path) {
    let w = |name: &str, data: &[u8]| std::fs::write(dir.join(name), data).unwrap();
    w(
        "good.json",
        format!(
            r#"{{"Records":[{},{}]}}"#,
            bearer("good-1"),
            bearer("good-2")
        )
        .as_bytes(),
    );
    // Truncated gzip: the first records are recovered.
    let many: Vec<String> = (1..=40).map(|i| bearer(&format!("trunc-{i}"))).collect();
    let full = gz(format!(r#"{{"Records":[{}]}}"#, many.join(",")).as_bytes());
    w("truncated.json.gz", &full[..full.len() * 2 / 3]);
    // Invalid JSON inside one record: the records around it are kept.
    let bad_mid = bearer("mid-bad").replace(r#""readOnly":true"#, r#""readOnly":tru"#);
    w(
        "invalid.json",
        format!(
            r#"{{"Records":[{},{},{}]}}"#,
            bearer("around-1"),
            bad_mid,
            bearer("around-2")
        )
        .as_bytes(),
    );
    w("empty.json", b"");
    w(
        "other.json",
        br#"{"name":"not cloudtrail","items":[1,2,3]}"#,
    );
    w("notjson.json", b"hello, world\n");
    w(
        "renamed-digest.json",
        br#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-18T00:00:00Z","digestEndTime":"2026-11-18T01:00:00Z","logFiles":[]}"#,
    );
    // Odd field types: numbers for strings, null identity, missing eventTime.
    let odd = bearer("odd-1")
        .replace(
            r#""recipientAccountId":"111122223333""#,
            r#""recipientAccountId":111122223333"#,
        )
        .replace(
            r#""sourceIPAddress":"203.0.113.5""#,
            r#""sourceIPAddress":12345"#,
        );
    let null_identity = bearer("odd-2").replace(
        r#""userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/BedrockAPIKey-ab12","accountId":"111122223333","userName":"BedrockAPIKey-ab12"}"#,
        r#""userIdentity":null"#,
    );
    let no_time = bearer("odd-3").replace(r#""eventTime":"2026-11-18T10:00:00Z","#, "");
    w(
        "odd.ndjson",
        format!("{odd}\n{null_identity}\n{no_time}\n").as_bytes(),
    );
    let mut big = String::from(r#"{"Records":["#);
    big.push_str(&bearer("huge-1").replace(
        r#""userAgent":"curl/8.5.0""#,
        &format!(r#""userAgent":"{}""#, "x".repeat(40 << 20)),
    ));
    big.push_str("]}");
    w("huge.json", big.as_bytes());
}

#[test]
fn mixed_bad_and_good_inputs_are_reported_and_good_events_kept() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    let o = keytrail(&["events", dir.path().to_str().unwrap(), "--format", "ndjson"]);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(3),
        "partial input exit code; stderr:\n{err}"
    );
    let ids: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    for id in [
        "good-1", "good-2", "trunc-1", "around-1", "around-2", "odd-1", "odd-2", "odd-3",
    ] {
        assert!(ids.contains(&id.to_string()), "{id} missing from {ids:?}");
    }
    assert!(!ids.contains(&"mid-bad".to_string()));
    let line = |file: &str, why: &str| {
        assert!(
            err.lines().any(|l| l.contains(file) && l.contains(why)),
            "no line naming {file} with {why:?} in:\n{err}"
        )
    };
    line("truncated.json.gz", "truncated");
    line("invalid.json", "invalid JSON");
    line("empty.json", "empty input");
    line("other.json", "not a CloudTrail file");
    line("notjson.json", "not JSON");
    line("odd.ndjson", "recipientAccountId is a number");
    line("odd.ndjson", "userIdentity is null");
    line("odd.ndjson", "eventTime is missing");
    line("huge.json", "larger than 32 MiB");
    assert!(
        !err.contains("renamed-digest.json"),
        "digests are not errors:\n{err}"
    );
}

#[test]
fn summary_counts_what_was_skipped() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    let o = keytrail(&["scan", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let s = &v["summary"];
    assert_eq!(s["digest_files_skipped"], 1);
    // The invalid record, the record the gzip truncation cut, the record over 32 MiB.
    assert_eq!(s["records_unreadable"], 3);
    assert!(s["bytes_skipped"].as_u64().unwrap() > 40 << 20, "{s}");
    assert_eq!(s["records_with_odd_fields"], 3);
    let skipped: Vec<&str> = s["inputs_skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["input"].as_str().unwrap())
        .collect();
    // Every input with something unreadable: truncated, invalid, empty, other, notjson, huge.
    assert_eq!(skipped.len(), 6, "{skipped:?}");
}

/// Scans one file in a folder of its own; returns the summary and stderr.
fn scan_one(name: &str, data: &str) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), data).unwrap();
    let o = keytrail(&["scan", dir.path().to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    (v["summary"].clone(), stderr(&o))
}

#[test]
fn records_parsed_untested_late_in_a_bedrock_heavy_input_are_judged_as_if_tested() {
    // After 64 records that all mention Bedrock, the rest of the input is parsed without the
    // keyword test. A broken record with no keyword must still go unreported (the test would
    // have passed over it unparsed), a broken Bedrock record must still be reported, and a
    // record of another service must still be dropped.
    let broken_plain = r#"{"eventSource":"s3.amazonaws.com" "eventName":"GetObject"}"#;
    let broken_bedrock = r#"{"eventSource":"bedrock.amazonaws.com" "eventName":"InvokeModel"}"#;
    let other = r#"{"eventTime":"2026-11-18T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"s3-1","awsRegion":"us-east-1","userIdentity":{"type":"IAMUser"}}"#;
    let heavy: Vec<String> = (0..100).map(|i| bearer(&format!("b-{i}"))).collect();
    let odd = [broken_plain, broken_bedrock, other].join(",");
    let late = format!(r#"{{"Records":[{},{odd}]}}"#, heavy.join(","));
    let early = format!(r#"{{"Records":[{odd},{}]}}"#, heavy.join(","));
    let (late_summary, late_err) = scan_one("late.json", &late);
    let (early_summary, early_err) = scan_one("early.json", &early);
    for (summary, err) in [(&late_summary, &late_err), (&early_summary, &early_err)] {
        assert_eq!(summary["events_read"], 103, "{summary}");
        assert_eq!(summary["events_kept"], 100, "{summary}");
        assert_eq!(summary["records_unreadable"], 1, "{summary}");
        let invalid: Vec<&str> = err.lines().filter(|l| l.contains("invalid JSON")).collect();
        assert_eq!(invalid.len(), 1, "{err}");
    }
    assert!(
        late_err.contains("record 102 skipped: invalid JSON"),
        "{late_err}"
    );
    assert!(
        early_err.contains("record 2 skipped: invalid JSON"),
        "{early_err}"
    );
}

#[test]
fn stdin_is_read_with_dash() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_keytrail"))
        .args(["events", "-", "--format", "ndjson"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let data = gz(format!("{}\n{}\n", bearer("s-1"), bearer("s-2")).as_bytes());
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 2);
}

#[test]
fn a_missing_path_is_fatal_and_named() {
    let o = keytrail(&["scan", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/dir"));
}

#[test]
fn closed_stdout_pipe_is_not_an_error() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_keytrail"))
        .args([
            "events",
            "sample-logs",
            "--format",
            "ndjson",
            "--all-events",
        ])
        .current_dir(common::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn broken_rule_files_are_named_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let w = |n: &str, t: &str| std::fs::write(dir.path().join(n), t).unwrap();
    let head = "-- id: ok_rule\n-- title: t\n-- severity: low\n-- description: d\n";
    w(
        "a_ok.sql",
        &format!("{head}SELECT event_id FROM events WHERE bearer_token"),
    );
    w(
        "b_header.sql",
        "-- title: no id\nSELECT event_id FROM events",
    );
    w(
        "c_sql.sql",
        &format!("{}SELEC event_id FROM", head.replace("ok_rule", "c")),
    );
    w(
        "d_column.sql",
        &format!(
            "{}SELECT event_id, nonexistent_col FROM events",
            head.replace("ok_rule", "d")
        ),
    );
    let o = keytrail(&["rules", "lint", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("ok      ") && out.contains("a_ok.sql"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("b_header.sql") && l.contains("missing header line `-- id:`")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("c_sql.sql") && l.contains("does not parse")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("d_column.sql") && l.contains("nonexistent_col")),
        "{out}"
    );
    let o = keytrail(&[
        "scan",
        "sample-logs",
        "--queries",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("b_header.sql"));
}

#[test]
fn extra_rules_from_queries_dir_produce_findings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scripted.sql"),
        "-- id: my_scripted_client\n-- title: Scripted client used a Bedrock key\n-- severity: high\n-- description: curl or python-requests with a bearer token\nSELECT user_agent, event_id FROM events WHERE bearer_token AND (user_agent LIKE 'curl/%' OR user_agent LIKE 'python-requests%')",
    )
    .unwrap();
    let o = keytrail(&[
        "scan",
        "sample-logs",
        "--queries",
        dir.path().to_str().unwrap(),
        "--format",
        "ndjson",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let n = stdout(&o)
        .lines()
        .filter(|l| l.contains("\"rule_id\":\"my_scripted_client\""))
        .count();
    assert!(n >= 4, "{n}");
}
