//! Real public CloudTrail files from `../shared/datasets/`: every event parsed, counts
//! asserted, and zero key findings (none of them holds Bedrock API key activity).

use crate::common::{keytrail, shared_datasets, stderr, stdout};

/// Runs `events --all-events` on a dataset folder and returns (exit code, rows, stderr).
fn all_events(dir: &str) -> (i32, Vec<serde_json::Value>, String) {
    let o = keytrail(&["events", dir, "--all-events", "--format", "ndjson"]);
    let rows = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (o.status.code().unwrap(), rows, stderr(&o))
}

#[test]
fn invictus_delivery_files_parse_completely_with_no_key_findings() {
    let Some(ds) = shared_datasets() else { return };
    let dir = ds.join("invictus-aws/CloudTrail");
    let (code, rows, err) = all_events(dir.to_str().unwrap());
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows.len(), 2900, "{err}");
    assert!(
        rows.iter()
            .all(|r| r["event_time"].is_string() && r["event_name"].is_string())
    );
    assert!(rows.iter().all(|r| r["account_id"] == "123837392027"));
    assert!(rows.iter().all(|r| r["activity"].is_null()));
    let o = keytrail(&["scan", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
    assert_eq!(v["summary"]["events_read"], 2900);
    assert_eq!(v["summary"]["inputs_read"], 55);
}

#[test]
fn stratus_bare_arrays_with_quirks_parse_completely() {
    let Some(ds) = shared_datasets() else { return };
    let dir = ds.join("stratus-detonation");
    let (code, rows, err) = all_events(dir.to_str().unwrap());
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows.len(), 312, "{err}");
    // The non-ISO eventTime is read, leading-zero IPs stay text.
    assert!(
        rows.iter()
            .any(|r| r["event_time"] == "2025-03-26T17:22:33Z")
    );
    assert!(rows.iter().any(|r| {
        r["source_ip"]
            .as_str()
            .is_some_and(|ip| ip.starts_with('0'))
    }));
    assert!(
        rows.iter().all(|r| r["event_time"].is_string()),
        "every event has a time"
    );
    // Three different events share one eventID: none is lost.
    for name in [
        "DeleteTrail",
        "DeleteModelInvocationLoggingConfiguration",
        "DeleteGuardrail",
    ] {
        assert!(rows.iter().any(|r| r["event_name"] == name), "{name}");
    }
    assert!(rows.iter().all(|r| r["activity"].is_null()));
    let o = keytrail(&["scan", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // Stratus' real Bedrock detonations raise only control-plane rules (checked one by one
    // in rules.rs): no key finding in real data.
    let key_findings: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !crate::rules::CONTROL_PLANE_RULES.contains(&f["rule_id"].as_str().unwrap()))
        .collect();
    assert!(
        key_findings.is_empty(),
        "no key findings in real data: {key_findings:#?}"
    );
    assert_eq!(v["summary"]["events_read"], 312);
    assert!(
        v["summary"]["events_kept"].as_u64().unwrap() > 0,
        "the Bedrock control-plane events are kept"
    );
}
