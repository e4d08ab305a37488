//! `keytrail scan --export` against real receivers (installed from the registries by
//! `.ci/receivers.sh`, started here on 127.0.0.1): Splunk HEC through Tenzir's
//! `accept_splunk` (the token checked, a wrong one refused), the Elasticsearch bulk API
//! through Fluent Bit's `elasticsearch` input (each item read back), CEF through rsyslog
//! over TCP and UDP (each message read back raw and as rsyslog parsed it); OCSF output
//! validated against the official OCSF 1.3.0 schema and ECS documents against the ECS field
//! set of @elastic/ecs. Input: the bundled sample-logs.

use std::collections::BTreeSet;
use std::process::Output;

use keytrail::findings::Finding;
use serde_json::Value;

use crate::common::real::{self, Rsyslog, Tenzir};
use crate::common::{keytrail_isolated, stderr, stdout};

const TOKEN: &str = "2a7d1c9e-hec-token-real-0f3b";

/// `keytrail scan sample-logs/ ARGS` with `env`.
fn scan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut a = vec!["scan", "sample-logs/"];
    a.extend_from_slice(args);
    keytrail_isolated(&a, env)
}

/// The sample findings in the stable schema.
fn sample_findings() -> Vec<Finding> {
    let o = scan(&["--format", "ndjson"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out: Vec<Finding> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a finding"))
        .collect();
    assert!(out.len() >= 8, "sample-logs yields findings for every rule");
    out
}

/// A HEC event as Tenzir's `accept_splunk` hands it on: the envelope's fields, the event,
/// and where it came from.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HecEvent {
    event: Finding,
    time: String,
    host: Option<String>,
    source: String,
    sourcetype: String,
    index: Option<String>,
    receiver: Value,
}

/// A finding without its null-valued fields.
fn without_nulls(mut f: Finding) -> Finding {
    f.fields.retain(|_, v| !v.is_null());
    f
}

#[test]
fn splunk_hec_export_reaches_tenzir_accept_splunk_and_a_wrong_token_is_refused() {
    let expected = sample_findings();
    let hec = Tenzir::splunk(TOKEN);
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            &hec.url,
            "--hec-token-env",
            "SPLUNK_HEC_TOKEN",
            "--hec-index",
            "security",
            "--batch-size",
            "4",
        ],
        &[("SPLUNK_HEC_TOKEN", TOKEN)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "splunk-hec:{}: {} findings delivered",
            hec.url,
            expected.len()
        )),
        "{}",
        stderr(&o)
    );
    let events = hec.wait_events(expected.len());
    assert_eq!(events.len(), expected.len(), "{events:#?}");
    let mut got: Vec<Finding> = Vec::new();
    for e in events {
        let ev: HecEvent =
            serde_json::from_value(e.clone()).unwrap_or_else(|err| panic!("{err}: {e}"));
        assert_eq!(ev.source, "keytrail");
        assert_eq!(ev.sourcetype, "keytrail:finding");
        assert_eq!(ev.index.as_deref(), Some("security"));
        assert!(ev.time.starts_with("2026-11-"), "{}", ev.time);
        assert!(ev.host.is_none_or(|h| !h.is_empty()));
        assert_eq!(ev.receiver["peer_ip"], "127.0.0.1");
        got.push(ev.event);
    }
    // Tenzir gives the events of a batch one schema, so a field one finding lacks comes back
    // as null, and it reads some strings as typed values ("365 days" becomes a duration,
    // printed "365d"): compare without nulls, and string fields by name only.
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.into_iter().zip(expected.iter().cloned()) {
        let (mut g, mut e) = (without_nulls(g), without_nulls(e));
        assert_eq!(
            g.fields.keys().collect::<BTreeSet<_>>(),
            e.fields.keys().collect::<BTreeSet<_>>()
        );
        for f in [&mut g, &mut e] {
            f.fields.retain(|_, v| !v.is_string());
        }
        assert_eq!(g, e, "every finding once, in order, unchanged");
    }

    // A wrong token: Splunk's 403 "Invalid token" (code 4), reported, not retried, no secret shown.
    let wrong = "wrong-token-5e1f";
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            &hec.url,
            "--hec-token-env",
            "T",
        ],
        &[("T", wrong), ("KEYTRAIL_RETRY_DELAY", "10ms")],
    );
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("HTTP 403 Forbidden") && err.contains("Invalid token"),
        "{err}"
    );
    assert!(!err.contains(wrong) && !stdout(&o).contains(wrong));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(hec.events().len(), expected.len(), "nothing more was taken");
}

#[test]
fn elastic_export_reaches_fluent_bits_bulk_input_item_by_item_with_ecs_documents() {
    let expected = sample_findings();
    let es = Tenzir::elasticsearch();
    let o = scan(
        &[
            "--export",
            "ecs",
            "--elastic-url",
            &es.url,
            "--index",
            "keytrail-findings",
            "--batch-size",
            "5",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "elastic:{}/keytrail-findings: {} findings delivered",
            es.url,
            expected.len()
        )),
        "{}",
        stderr(&o)
    );
    let records = es.wait_events(expected.len());
    assert_eq!(records.len(), expected.len());
    let dir = tempfile::tempdir().unwrap();
    let docs_file = dir.path().join("docs.ndjson");
    let mut docs = String::new();
    let mut ids = Vec::new();
    for r in &records {
        let mut doc = r["message"].clone();
        let meta = doc
            .as_object_mut()
            .unwrap()
            .remove("@meta")
            .expect("the bulk action");
        let action = meta.as_object().unwrap();
        assert_eq!(action.keys().collect::<Vec<_>>(), vec!["create"]);
        assert_eq!(meta["create"]["_index"], "keytrail-findings");
        assert_eq!(meta["create"]["_id"], doc["event"]["id"]);
        let back: Finding = serde_json::from_value(doc["keytrail"].clone()).unwrap();
        ids.push(back.finding_id.clone());
        assert_eq!(meta["create"]["_id"], back.finding_id.as_str());
        docs.push_str(&doc.to_string());
        docs.push('\n');
    }
    let want: Vec<String> = expected.iter().map(|f| f.finding_id.clone()).collect();
    assert_eq!(ids, want, "each finding once, in order, its id as _id");
    std::fs::write(&docs_file, docs).unwrap();
    let check = real::ecs_check(&docs_file);
    assert!(
        check.status.success(),
        "ECS check failed:\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(
        stdout(&check).starts_with(&format!("ok {} 8.11", expected.len())),
        "{}",
        stdout(&check)
    );
}

/// Checks what rsyslog parsed from one message keytrail sent.
fn check_parsed(m: &Value, input: &str) -> String {
    assert_eq!(m["input"], input, "{m}");
    assert_eq!(m["version"], "1", "RFC 5424: {m}");
    assert_eq!(m["facility"], "20", "local4: {m}");
    assert!(
        ["2", "3", "4", "5", "6"].contains(&m["severity"].as_str().unwrap()),
        "{m}"
    );
    assert_eq!(m["app"], "keytrail");
    assert_eq!(m["msgid"], "finding");
    assert_eq!(m["sd"], "-");
    assert!(m["procid"].as_str().unwrap().parse::<u32>().is_ok());
    assert!(
        chrono::DateTime::parse_from_rfc3339(m["timestamp"].as_str().unwrap()).is_ok(),
        "{m}"
    );
    let msg = m["msg"].as_str().unwrap();
    assert!(msg.starts_with("CEF:0|keytrail|keytrail|"), "{msg}");
    assert!(
        m["raw"].as_str().unwrap().ends_with(msg),
        "the raw message carries the CEF record whole"
    );
    let ext = msg
        .split("externalId=")
        .nth(1)
        .expect("externalId in the extension");
    ext.split(' ').next().unwrap().to_string()
}

#[test]
fn cef_reaches_rsyslog_over_tcp_and_udp_and_parses_as_rfc5424() {
    let expected = sample_findings();
    let want: BTreeSet<String> = expected.iter().map(|f| f.finding_id.clone()).collect();
    let rsyslog = Rsyslog::start();

    let o = scan(&["--export", "cef", "--syslog", &rsyslog.tcp], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let tcp = rsyslog.wait_messages(expected.len());
    assert_eq!(
        tcp.len(),
        expected.len(),
        "one message per finding: {tcp:#?}"
    );
    let ids: Vec<String> = tcp.iter().map(|m| check_parsed(m, "imtcp")).collect();
    assert_eq!(
        ids,
        expected
            .iter()
            .map(|f| f.finding_id.clone())
            .collect::<Vec<_>>(),
        "in order, octet-counted frames split exactly"
    );

    let o = scan(&["--export", "cef", "--syslog", &rsyslog.udp], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let all = rsyslog.wait_messages(2 * expected.len());
    let udp: Vec<&Value> = all.iter().filter(|m| m["input"] == "imudp").collect();
    assert_eq!(udp.len(), expected.len());
    let got: BTreeSet<String> = udp.iter().map(|m| check_parsed(m, "imudp")).collect();
    assert_eq!(got, want);
}

#[test]
fn ocsf_export_validates_against_the_official_ocsf_1_3_0_schema() {
    let expected = sample_findings();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("findings.ocsf.json");
    let o = scan(
        &["--export", "ocsf", "--output", path.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["metadata"]["version"], "1.3.0");
        assert_eq!(v["metadata"]["profiles"], serde_json::json!(["cloud"]));
    }
    let check = real::ocsf_validate(&path);
    assert!(
        check.status.success(),
        "not valid OCSF 1.3.0 Detection Finding:\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert_eq!(stdout(&check).trim(), format!("ok {}", expected.len()));

    // The validator does refuse what the schema does not allow.
    let mut bad: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    bad["severity_id"] = Value::from("high");
    bad["invented_attribute"] = Value::from(1);
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, format!("{bad}\n")).unwrap();
    let check = real::ocsf_validate(&bad_path);
    assert!(!check.status.success());
    let out = stdout(&check);
    assert!(
        out.contains("severity_id") && out.contains("invented_attribute"),
        "{out}"
    );
}
