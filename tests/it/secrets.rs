//! Secrets inside CloudTrail records (a leaked key in an error message or user agent, the
//! session token STS responses log, a secret access key in a response, a presigned URL's
//! signature) never reach any output: every command, every format, every file export, and
//! stderr. `--no-redact` keeps them, and only for a local file.

use std::path::Path;

use crate::common::tokens::{self, at};
use crate::common::{keytrail, stderr, stdout};

/// Secrets planted in the fixture, which no output may contain.
struct Planted {
    secrets: Vec<String>,
}

/// Writes a delivery file whose Bedrock-relevant records carry secrets.
fn fixture(dir: &Path) -> Planted {
    let (absk, absk_secret) = tokens::long_term("BedrockAPIKey-lk42-at-111122223333", 9);
    let short = tokens::short_term(
        "ASIAQYLPMN5HFEXAMPLE",
        true,
        "us-east-1",
        at("2026-11-18T10:00:00Z"),
        43200,
    );
    let session_token = "IQoJb3JpZ2luX2VjEPlantedSessionToken/abc+def==";
    let secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTEDSECRET";
    let signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    let user = "BedrockAPIKey-lk42";
    let arn = format!("arn:aws:iam::111122223333:user/{user}");
    let ident = serde_json::json!({
        "type": "IAMUser", "principalId": "AIDAEXAMPLEPLANTED", "arn": arn,
        "accountId": "111122223333", "userName": user, "accessKeyId": "AKIAEXAMPLEPLANTED1"
    });
    let base = |id: &str, time: &str, name: &str, source: &str| {
        serde_json::json!({
            "eventVersion": "1.09", "eventID": id, "eventTime": time, "eventName": name,
            "eventSource": source, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
            "userIdentity": ident, "recipientAccountId": "111122223333",
            "eventType": "AwsApiCall"
        })
    };
    let mut denied = base(
        "11111111-0000-4000-8000-000000000001",
        "2026-11-18T10:01:00Z",
        "InvokeModel",
        "bedrock.amazonaws.com",
    );
    denied["errorCode"] = "AccessDeniedException".into();
    denied["errorMessage"] = format!("The bearer token {absk} is not valid").into();
    denied["additionalEventData"] = serde_json::json!({"callWithBearerToken": true});
    denied["userAgent"] = format!("curl/8.5.0 key={}", short.token).into();
    let mut sts = base(
        "11111111-0000-4000-8000-000000000002",
        "2026-11-18T10:02:00Z",
        "GetSessionToken",
        "sts.amazonaws.com",
    );
    sts["responseElements"] = serde_json::json!({
        "credentials": {"accessKeyId": "ASIAEXAMPLEPLANTED2", "sessionToken": session_token,
                        "secretAccessKey": secret_key, "expiration": "Nov 18, 2026, 10:02:00 PM"}
    });
    let mut presigned = base(
        "11111111-0000-4000-8000-000000000003",
        "2026-11-18T10:03:00Z",
        "InvokeModel",
        "bedrock.amazonaws.com",
    );
    presigned["additionalEventData"] = serde_json::json!({"callWithBearerToken": true});
    presigned["requestParameters"] = serde_json::json!({
        "modelId": "amazon.nova-pro-v1:0",
        "inputUri": format!("https://example/?X-Amz-Security-Token={session_token}&X-Amz-Signature={signature}&X-Amz-Date=20261118T100000Z")
    });
    let doc = serde_json::json!({"Records": [denied, sts, presigned]});
    std::fs::write(
        dir.join("111122223333_CloudTrail_us-east-1_20261118T1005Z_planted.json"),
        serde_json::to_vec(&doc).unwrap(),
    )
    .unwrap();
    let mut secrets = vec![
        absk.clone(),
        absk_secret,
        short.token.clone(),
        short.signature.clone(),
        session_token.to_string(),
        secret_key.to_string(),
        signature.to_string(),
    ];
    // The bodies of the keys alone must not appear either.
    secrets.push(absk["ABSK".len()..].to_string());
    secrets.push(short.token["bedrock-api-key-".len()..].to_string());
    if let Some(t) = short.session_token {
        secrets.push(t);
    }
    Planted { secrets }
}

/// Fails naming the command and the secret when `text` holds one.
fn assert_clean(p: &Planted, what: &str, text: &str) {
    for s in &p.secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} printed a planted secret ({}...): {text}",
            &s[..s.len().min(12)]
        );
    }
}

#[test]
fn planted_secrets_reach_no_command_format_export_or_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = fixture(dir.path());
    let d = dir.path().to_str().unwrap();
    let file = |n: &str| out.path().join(n).to_str().unwrap().to_string();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for cmd in ["scan", "events", "keys"] {
        for f in ["table", "json", "ndjson", "csv"] {
            if cmd == "keys" && f == "csv" {
                continue;
            }
            runs.push(vec![cmd.into(), d.into(), "--format".into(), f.into()]);
            runs.push(vec![
                cmd.into(),
                d.into(),
                "--all-events".into(),
                "--format".into(),
                f.into(),
            ]);
        }
    }
    for f in ["table", "json", "ndjson"] {
        runs.push(
            [
                "investigate",
                d,
                "--user",
                "BedrockAPIKey-lk42",
                "--format",
                f,
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    runs.push(
        [
            "query",
            d,
            "--all-events",
            "--format",
            "json",
            "--sql",
            "SELECT * FROM events",
        ]
        .map(String::from)
        .to_vec(),
    );
    for export in ["ndjson", "ocsf"] {
        runs.push(
            ["scan", d, "--all-events", "--export", export]
                .map(String::from)
                .to_vec(),
        );
    }
    for args in &runs {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = keytrail(&a);
        assert!(
            matches!(o.status.code(), Some(0..=4)),
            "{a:?}: {}",
            stderr(&o)
        );
        assert!(!stdout(&o).is_empty(), "{a:?} printed nothing");
        assert_clean(&p, &format!("{a:?} stdout"), &stdout(&o));
        assert_clean(&p, &format!("{a:?} stderr"), &stderr(&o));
    }
    // Files: the OCSF export with raw evidence, and Parquet read back.
    let ocsf = file("f.ocsf.json");
    let o = keytrail(&[
        "scan",
        d,
        "--all-events",
        "--export",
        "ocsf",
        "--output",
        &ocsf,
    ]);
    assert!(
        o.status.success() || o.status.code() == Some(1),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&ocsf).unwrap();
    assert!(
        text.contains("[redacted sha256:"),
        "evidence keeps a marker: {text}"
    );
    assert_clean(&p, "OCSF file", &text);
    let pq = file("e.parquet");
    let o = keytrail(&[
        "events",
        d,
        "--all-events",
        "--format",
        "parquet",
        "-o",
        &pq,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let back = keytrail(&["events", &pq, "--format", "ndjson"]);
    assert_clean(&p, "Parquet read back", &stdout(&back));
    assert!(stdout(&back).contains("[redacted sha256:"));
}

#[test]
fn no_redact_keeps_secrets_only_in_a_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let p = fixture(dir.path());
    let d = dir.path().to_str().unwrap();
    let refused = keytrail(&["events", d, "--no-redact", "--format", "ndjson"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("--output"),
        "{}",
        stderr(&refused)
    );
    assert_clean(&p, "refusal", &stderr(&refused));
    let export = keytrail(&["scan", d, "--no-redact", "--export", "ocsf", "-o", "x.json"]);
    assert_eq!(export.status.code(), Some(2));
    let path = out.path().join("forensic.ndjson");
    let o = keytrail(&[
        "events",
        d,
        "--all-events",
        "--no-redact",
        "--format",
        "ndjson",
        "--output",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_clean(&p, "stdout of a --no-redact run", &stdout(&o));
    let kept = std::fs::read_to_string(&path).unwrap();
    assert!(
        p.secrets.iter().any(|s| kept.contains(s.as_str())),
        "the forensic copy keeps what the records hold"
    );
}
