//! The detection pack through the binary: `rules list|lint|test`, `--set`, the windowed
//! findings on the sample logs, and the job's baseline across runs.

use std::path::Path;

use crate::common::s3_server::{self, ACCESS_KEY, S3Server, SECRET_KEY};
use crate::common::{gzip, keytrail, run_isolated, stderr, stdout};

/// Writes `files` (name, text) into a new temporary directory.
fn rule_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    d
}

const HEAD: &str = "-- id: my_rule\n-- title: t\n-- severity: low\n-- description: d\n";

#[test]
fn rules_test_runs_every_builtin_case_and_all_pass() {
    let o = keytrail(&["rules", "test"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(!out.contains("FAILED"), "{out}");
    let summary = out.lines().last().unwrap();
    assert!(
        summary.ends_with("0 failed; 0 rules without cases"),
        "{summary}"
    );
    let cases: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(cases >= 72, "{summary}");
    // Every built-in rule has passing cases.
    let list = stdout(&keytrail(&["rules", "list"]));
    for id in [
        "phantom_user_credentials_added",
        "key_multi_region",
        "revocation_misses_mantle",
        "key_new_source",
        "long_term_key_created",
    ] {
        assert!(list.contains(id), "{id}");
        assert!(out.contains(&format!("ok      {id}: ")), "{id}");
    }
}

#[test]
fn a_failing_user_case_names_the_rule_the_case_and_the_event() {
    let rule = format!(
        "{HEAD}SELECT event_id FROM events WHERE event_name = 'InvokeModel' AND bearer_token"
    );
    let cases = r#"{"template":{"eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","eventTime":"2026-11-18T12:00:00Z",
        "recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","userName":"BedrockAPIKey-t3st"},
        "additionalEventData":{"callWithBearerToken":true}},
      "cases":[
        {"name":"bearer invoke fires","events":[{"eventID":"a"}],"fire":["a"],"findings":1},
        {"name":"sigv4 is wrongly expected to fire","events":[{"eventID":"b","additionalEventData":null}],"fire":["b"]}]}"#;
    let d = rule_dir(&[("my_rule.sql", &rule), ("my_rule.test.json", cases)]);
    let o = keytrail(&["rules", "test", d.path().to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("ok      my_rule: bearer invoke fires"),
        "{out}"
    );
    assert!(
        out.contains("FAILED  my_rule: sigv4 is wrongly expected to fire: event b must fire"),
        "{out}"
    );
    assert!(out.contains("2 cases: 1 passed, 1 failed"), "{out}");
    assert!(stderr(&o).contains("1 rule test cases failed"));
}

#[test]
fn rules_list_shows_every_parameter_with_its_default() {
    let o = keytrail(&["rules", "list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for p in [
        "threshold = 100",
        "window = 5m",
        "window = 30m",
        "min_regions = 2",
        "min_actions = 6",
        "window = 24h",
        "window = 15m",
        "threshold = 10",
        "window = 10m",
        "history = 7d",
    ] {
        assert!(out.contains(p), "{p} missing from:\n{out}");
    }
    assert!(
        out.contains("COUNT(DISTINCT aws_region) >= 2 within 30m"),
        "{out}"
    );
}

#[test]
fn lint_rejects_unknown_and_unused_parameters_and_missing_window_columns() {
    let d = rule_dir(&[
        (
            "a.sql",
            &format!("{HEAD}SELECT event_id FROM events WHERE x > ${{limit}}"),
        ),
        (
            "b.sql",
            "-- id: b\n-- title: t\n-- severity: low\n-- description: d\n-- param: limit = 5\nSELECT event_id FROM events",
        ),
        (
            "c.sql",
            "-- id: c\n-- title: t\n-- severity: low\n-- description: d\n-- window: 5m\n-- group_by: principal\n-- having: COUNT(*) > 3\nSELECT event_id, event_time FROM events",
        ),
        ("c.test.json", "{\"cases\": []}"),
    ]);
    let o = keytrail(&["rules", "lint", d.path().to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("unknown parameter ${limit}"), "{out}");
    assert!(out.contains("declared but never used"), "{out}");
    assert!(out.contains("`principal` is missing"), "{out}");
    assert!(out.contains("c.test.json: no cases"), "{out}");
}

/// Scans the sample logs as JSON with extra arguments.
fn scan(extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut args = vec!["scan", "sample-logs", "--format", "json"];
    args.extend_from_slice(extra);
    let o = keytrail(&args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code().unwrap(), v, stderr(&o))
}

/// The findings of one rule.
fn of_rule<'a>(report: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == rule)
        .collect()
}

#[test]
fn a_windowed_rule_whose_sql_reorders_its_events_finds_the_same_episode() {
    // Newest first: the sweep cannot stream them, so it collects and sorts them instead.
    let sql = std::fs::read_to_string("queries/key_invocation_spike.sql")
        .unwrap()
        .replace("-- id: key_invocation_spike", "-- id: spike_newest_first")
        + "\nORDER BY event_time DESC\n";
    let d = rule_dir(&[("spike_newest_first.sql", &sql)]);
    let dir = d.path().to_str().unwrap();
    let rules = "key_invocation_spike,spike_newest_first";
    let (code, r, err) = scan(&["--queries", dir, "--rule", rules]);
    assert_eq!(code, 0, "{err}");
    let (streamed, sorted) = (
        of_rule(&r, "key_invocation_spike"),
        of_rule(&r, "spike_newest_first"),
    );
    assert_eq!((streamed.len(), sorted.len()), (1, 1));
    for key in ["fields", "evidence_event_ids", "evidence_count"] {
        assert_eq!(streamed[0][key], sorted[0][key], "{key}");
    }
}

#[test]
fn a_spike_is_one_episode_naming_its_first_and_last_event() {
    let (code, r, err) = scan(&[]);
    assert_eq!(code, 0, "{err}");
    let spike = of_rule(&r, "key_invocation_spike");
    assert_eq!(spike.len(), 1);
    let f = &spike[0]["fields"];
    assert_eq!(
        f["principal"],
        "arn:aws:iam::111122223333:user/svc-summarizer"
    );
    assert_eq!(f["event_count"], 105);
    assert_eq!(f["peak_count"], 105);
    assert_eq!(f["first_event_time"], "2026-11-20T01:20:00Z");
    assert_eq!(f["last_event_time"], "2026-11-20T01:23:28Z");
    assert_eq!(f["window"], "5m");
    assert_eq!(
        f["aws_region"],
        serde_json::json!(["us-east-1", "us-west-2"])
    );
    assert_eq!(spike[0]["evidence_count"], 105);
    let listed = spike[0]["evidence_event_ids"].as_array().unwrap();
    assert_eq!(listed.len(), 100, "first 50 and last 50");
    assert_eq!(listed[0], f["first_event_id"]);
    assert_eq!(listed[99], f["last_event_id"]);

    let region = of_rule(&r, "key_multi_region");
    let mut principals: Vec<&str> = region
        .iter()
        .map(|f| f["fields"]["principal"].as_str().unwrap())
        .collect();
    principals.sort();
    assert_eq!(
        principals,
        [
            "arn:aws:iam::111122223333:user/svc-summarizer",
            "arn:aws:iam::444455556666:user/BedrockAPIKey-m3n4"
        ]
    );
    let new_source = of_rule(&r, "key_new_source");
    assert_eq!(new_source.len(), 1);
    assert_eq!(new_source[0]["fields"]["source_ip"], "203.0.113.201");
    assert_eq!(
        new_source[0]["fields"]["known_values"],
        serde_json::json!(["192.0.2.70"])
    );
    let mantle = of_rule(&r, "revocation_misses_mantle");
    assert_eq!(mantle.len(), 1);
    assert_eq!(mantle[0]["fields"]["mantle_calls_after"], 1);
    assert_eq!(mantle[0]["evidence_count"], 2);
}

#[test]
fn set_changes_a_parameter_and_an_unknown_target_lists_the_valid_ones() {
    let (code, r, err) = scan(&["--set", "key_invocation_spike.threshold=105"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        of_rule(&r, "key_invocation_spike").is_empty(),
        "105 is not more than 105"
    );
    let (_, r, _) = scan(&[
        "--set",
        "key_invocation_spike.threshold=104",
        "--set",
        "key_multi_region.window=1h",
    ]);
    assert_eq!(of_rule(&r, "key_invocation_spike").len(), 1);
    assert!(of_rule(&r, "key_multi_region").len() >= 2);
    let (code, _, err) = scan(&["--set", "key_spike.threshold=5"]);
    assert_eq!(code, 2);
    assert!(err.contains("there is no rule \"key_spike\""), "{err}");
    assert!(err.contains("key_invocation_spike.threshold"), "{err}");
    let (code, _, err) = scan(&["--set", "key_multi_region.window=soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a duration"), "{err}");
}

#[test]
fn investigate_runs_the_pack_and_takes_set() {
    let o = keytrail(&[
        "investigate",
        "sample-logs",
        "--user",
        "svc-summarizer",
        "--format",
        "json",
        "--set",
        "key_new_source.history=3d",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let fired: Vec<&str> = v["rules_fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["rule_id"].as_str().unwrap())
        .collect();
    for r in [
        "key_invocation_spike",
        "key_multi_region",
        "key_new_source",
        "model_probing_failures",
        "recon_then_invoke",
        "revocation_misses_mantle",
    ] {
        assert!(fired.contains(&r), "{r} not in {fired:?}");
    }
}

/// A bearer call by `svc-bot` from `ip` at `t` (micros), as a delivery file body.
fn bearer_call(id: &str, t: i64, ip: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": keytrail::timefmt::format_micros(t),
        "eventSource": "bedrock.amazonaws.com", "eventName": "InvokeModel", "awsRegion": "us-east-1",
        "sourceIPAddress": ip, "recipientAccountId": "111122223333", "userAgent": "Boto3/1.39.3",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLESVCBOT0001",
                         "arn": "arn:aws:iam::111122223333:user/svc-bot", "accountId": "111122223333",
                         "userName": "svc-bot"},
        "requestParameters": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
        "additionalEventData": {"callWithBearerToken": true}
    })
}

/// Puts one delivery file holding `records` under the trail's us-east-1 folder of `day`.
fn put_records(s3: &S3Server, name: &str, day: i64, records: Vec<serde_json::Value>) {
    let d = chrono::DateTime::from_timestamp_micros(day).unwrap();
    let key = format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/{}/111122223333_CloudTrail_us-east-1_{}_{name}.json.gz",
        d.format("%Y/%m/%d"),
        d.format("%Y%m%dT%H%MZ")
    );
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    s3.put("trail", &key, &gzip(&body));
}

/// Runs the job once against the server.
async fn run_job(s3: &S3Server, cfg: &Path) -> std::process::Output {
    run_job_with(s3, cfg, &[]).await
}

/// Runs the job with extra flags (`--init` for the first run).
async fn run_job_with(s3: &S3Server, cfg: &Path, extra: &[&str]) -> std::process::Output {
    let env = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()),
    ];
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["run", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_isolated(&args, &e).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_judges_a_new_source_against_the_baseline_kept_in_its_state() {
    const DAY: i64 = 86_400_000_000;
    let now = chrono::Utc::now().timestamp_micros();
    let s3 = s3_server::start().await;
    // Nine days of calls from one address, read by the first run.
    let old: Vec<serde_json::Value> = (1..=9)
        .map(|d| bearer_call(&format!("old-{d}"), now - (10 - d) * DAY, "192.0.2.70"))
        .collect();
    put_records(&s3, "old0000000000000", now - DAY, old);
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("findings.ndjson");
    // The job keeps only an hour of events: the nine days live on in the baseline alone.
    let cfg = dir.path().join("keytrail.toml");
    std::fs::write(
        &cfg,
        format!(
            "inputs = [\"s3://trail\"]\nstate = \"{}\"\nlookback = \"12d\"\nhistory = \"1h\"\n[aws]\nforce_path_style = true\n[[sink]]\nkind = \"ndjson\"\npath = \"{}\"\n",
            dir.path().join("state.sqlite").display(),
            sink.display()
        ),
    )
    .unwrap();
    let first = run_job_with(&s3, &cfg, &["--init"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let count = |rule: &str| {
        std::fs::read_to_string(&sink)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("\"rule_id\":\"{rule}\"")))
            .count()
    };
    assert_eq!(count("key_new_source"), 0);

    // A later run reads only a new object: a call from a new address.
    put_records(
        &s3,
        "new0000000000000",
        now,
        vec![bearer_call("new-1", now - 60_000_000, "203.0.113.99")],
    );
    let second = run_job(&s3, &cfg).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(count("key_new_source"), 1, "{}", stderr(&second));
    let line = std::fs::read_to_string(&sink).unwrap();
    let f: serde_json::Value = line
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|f| f["rule_id"] == "key_new_source")
        .unwrap();
    assert_eq!(f["evidence_event_ids"], serde_json::json!(["new-1"]));
    assert_eq!(
        f["fields"]["known_values"],
        serde_json::json!(["192.0.2.70"])
    );

    // Without the baseline the same new object alone is too young to judge.
    let fresh = tempfile::tempdir().unwrap();
    let (cfg2, sink2) = (fresh.path().join("k.toml"), fresh.path().join("f.ndjson"));
    std::fs::write(
        &cfg2,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("lookback = \"12d\"", "lookback = \"2h\"")
            .replace(
                &dir.path().join("state.sqlite").display().to_string(),
                &fresh.path().join("state.sqlite").display().to_string(),
            )
            .replace(&sink.display().to_string(), &sink2.display().to_string()),
    )
    .unwrap();
    let alone = run_job_with(&s3, &cfg2, &["--init"]).await;
    assert_eq!(alone.status.code(), Some(0), "{}", stderr(&alone));
    let got = std::fs::read_to_string(&sink2).unwrap_or_default();
    assert!(!got.contains("key_new_source"), "{got}");
}

/// The rules about the Bedrock control plane rather than keys: real Stratus detonations
/// may raise these, and nothing else.
pub const CONTROL_PLANE_RULES: &[&str] = &[
    "model_access_enabled",
    "invocation_logging_changed",
    "guardrail_weakened",
    "llmjacking_enablement",
];

#[test]
fn stratus_bedrock_detonations_raise_exactly_the_right_control_plane_findings() {
    let Some(ds) = crate::common::shared_datasets() else {
        return;
    };
    let dir = ds.join("stratus-detonation");
    let o = keytrail(&["scan", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut got: Vec<(String, Vec<String>)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut names: Vec<String> = f["fields"]
                .get("event_name")
                .or_else(|| f["fields"].get("actions"))
                .map(|n| match n {
                    serde_json::Value::Array(a) => {
                        a.iter().map(|x| x.as_str().unwrap().to_string()).collect()
                    }
                    other => vec![other.as_str().unwrap().to_string()],
                })
                .unwrap_or_default();
            names.sort();
            (f["rule_id"].as_str().unwrap().to_string(), names)
        })
        .collect();
    got.sort();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            ("guardrail_weakened".to_string(), s(&["DeleteGuardrail"])),
            (
                "invocation_logging_changed".to_string(),
                s(&["DeleteModelInvocationLoggingConfiguration"])
            ),
            (
                "llmjacking_enablement".to_string(),
                s(&[
                    "CreateFoundationModelAgreement",
                    "GetFoundationModelAvailability",
                    "InvokeModel",
                    "ListFoundationModelAgreementOffers",
                    "PutFoundationModelEntitlement",
                    "PutUseCaseForModelAccess"
                ])
            ),
            (
                "model_access_enabled".to_string(),
                s(&[
                    "CreateFoundationModelAgreement",
                    "PutFoundationModelEntitlement",
                    "PutUseCaseForModelAccess"
                ])
            ),
        ]
    );
    for f in v["findings"].as_array().unwrap() {
        assert!(CONTROL_PLANE_RULES.contains(&f["rule_id"].as_str().unwrap()));
    }
}
