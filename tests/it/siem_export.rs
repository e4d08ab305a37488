//! `keytrail scan --export` against receivers started by the tests (Splunk HEC and
//! Elasticsearch stand-ins, syslog listeners), the OCSF file format checked against OCSF
//! 1.3.0 Detection Finding, secrets kept out of every output, and the events table
//! exported to Parquet and CSV. Input: the bundled sample-logs.

use std::collections::BTreeSet;
use std::process::Output;

use base64::Engine;
use keytrail::findings::Finding;
use serde_json::{Value, json};

use crate::common::receivers::{Seen, http_receiver, tcp_syslog, udp_syslog};
use crate::common::{run_isolated, stderr, stdout};
use ocsf::DetectionFinding;

const HEC_TOKEN: &str = "hec-5f3a9c1e-7b2d-4e8f-a1c6-token";
const ES_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";
const ES_PASSWORD: &str = "es-pass-93kd8s";
/// Retries wait 10 ms in the tests.
const FAST: (&str, &str) = ("KEYTRAIL_RETRY_DELAY", "10ms");

/// Runs `keytrail scan sample-logs/ ARGS` with `env`.
async fn scan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut a = vec!["scan", "sample-logs/"];
    a.extend_from_slice(args);
    run_isolated(&a, env).await
}

/// The sample findings in the stable schema, as `scan --format ndjson` prints them.
async fn sample_findings() -> Vec<Finding> {
    let o = scan(&["--format", "ndjson"], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out: Vec<Finding> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a finding"))
        .collect();
    assert!(out.len() >= 8, "sample-logs yields findings for every rule");
    out
}

/// The JSON values concatenated in a body (HEC batches).
fn concatenated(body: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(|v| v.expect("concatenated JSON"))
        .collect()
}

/// The (action, document) pairs of a bulk body.
fn bulk_pairs(r: &Seen) -> Vec<(Value, Value)> {
    let text = r.text();
    assert!(text.ends_with('\n'), "a bulk body ends with a newline");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    assert_eq!(lines.len() % 2, 0, "action and document lines pair up");
    lines
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

/// A bulk response with one item per document of `r`, statuses from `status(i)`.
fn bulk_answer(r: &Seen, status: impl Fn(usize) -> u16) -> String {
    let items: Vec<Value> = bulk_pairs(r)
        .iter()
        .enumerate()
        .map(|(i, (action, _))| {
            let id = action["create"]["_id"].clone();
            let s = status(i);
            let mut item = json!({"_index": "keytrail-findings", "_id": id, "status": s});
            match s {
                429 => item["error"] = json!({"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}),
                400 => item["error"] = json!({"type": "mapper_parsing_exception", "reason": "failed to parse field [keytrail.fields.first_seen]"}),
                _ => {}
            }
            json!({ "create": item })
        })
        .collect();
    let errors = items
        .iter()
        .any(|i| i["create"]["status"].as_u64().unwrap() >= 300);
    json!({"took": 3, "errors": errors, "items": items}).to_string()
}

// ---- OCSF 1.3.0 Detection Finding, as the tests read it back --------------------------

/// OCSF 1.3.0 objects with the attribute names keytrail emits, for reading the output back
/// with `deny_unknown_fields`: a misspelt or invented attribute fails to parse. Not every
/// field is asserted on, hence `dead_code`.
#[allow(dead_code)]
mod ocsf {
    use keytrail::findings::Finding;
    use serde::Deserialize;
    use serde_json::Value;

    /// Class 2004 with the attributes keytrail emits; required ones are not optional here.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DetectionFinding {
        pub activity_id: u8,
        pub activity_name: Option<String>,
        pub category_uid: u8,
        pub category_name: Option<String>,
        pub class_uid: u16,
        pub class_name: Option<String>,
        pub type_uid: u32,
        pub type_name: Option<String>,
        pub severity_id: u8,
        pub severity: Option<String>,
        pub status_id: Option<u8>,
        pub status: Option<String>,
        pub time: i64,
        pub start_time: Option<i64>,
        pub end_time: Option<i64>,
        pub count: Option<u64>,
        pub message: Option<String>,
        pub metadata: Metadata,
        pub finding_info: FindingInfo,
        pub cloud: Cloud,
        pub api: Option<Api>,
        #[serde(default)]
        pub resources: Vec<ResourceDetails>,
        #[serde(default)]
        pub evidences: Vec<Evidences>,
        pub unmapped: Unmapped,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Metadata {
        pub version: String,
        pub product: Product,
        pub profiles: Vec<String>,
        pub uid: Option<String>,
        pub log_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Product {
        pub name: Option<String>,
        pub uid: Option<String>,
        pub vendor_name: String,
        pub version: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FindingInfo {
        pub uid: String,
        pub title: String,
        pub desc: Option<String>,
        pub created_time: Option<i64>,
        pub first_seen_time: Option<i64>,
        pub last_seen_time: Option<i64>,
        pub types: Option<Vec<String>>,
        pub analytic: Option<Analytic>,
        #[serde(default)]
        pub attacks: Vec<Attack>,
        pub data_sources: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Analytic {
        pub uid: Option<String>,
        pub name: Option<String>,
        pub desc: Option<String>,
        pub type_id: u8,
        #[serde(rename = "type")]
        pub type_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Attack {
        pub technique: Option<Entity>,
        pub sub_technique: Option<Entity>,
        pub tactic: Option<Entity>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Entity {
        pub uid: Option<String>,
        pub name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Cloud {
        pub provider: String,
        pub account: Option<Account>,
        pub region: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Account {
        pub uid: Option<String>,
        pub name: Option<String>,
        pub type_id: Option<u8>,
        #[serde(rename = "type")]
        pub type_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Api {
        pub operation: String,
        pub service: Option<Entity>,
        pub response: Option<ApiResponse>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ApiResponse {
        pub error: Option<String>,
        pub error_message: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ResourceDetails {
        #[serde(rename = "type")]
        pub type_name: Option<String>,
        pub uid: Option<String>,
        pub name: Option<String>,
        pub region: Option<String>,
        pub cloud_partition: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Evidences {
        pub actor: Option<Actor>,
        pub api: Option<Api>,
        pub src_endpoint: Option<NetworkEndpoint>,
        pub data: Option<Value>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Actor {
        pub user: Option<User>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct User {
        pub name: Option<String>,
        pub uid: Option<String>,
        pub uid_alt: Option<String>,
        #[serde(rename = "type")]
        pub type_name: Option<String>,
        pub type_id: Option<u8>,
        pub account: Option<Account>,
        pub credential_uid: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct NetworkEndpoint {
        pub ip: Option<String>,
        pub hostname: Option<String>,
        pub name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Unmapped {
        pub keytrail: Finding,
    }
}

/// The attributes OCSF 1.3.0 requires in a Detection Finding: the base event's
/// classification and occurrence (`activity_id`, `category_uid`, `class_uid`, `type_uid`,
/// `severity_id`, `time`), `metadata` with `version` and `product.vendor_name`, the finding
/// class's `finding_info` with `uid` and `title`, and `cloud.provider` of the cloud profile
/// the events declare in `metadata.profiles`.
const REQUIRED: &[&str] = &[
    "activity_id",
    "category_uid",
    "class_uid",
    "type_uid",
    "severity_id",
    "time",
    "metadata/version",
    "metadata/product/vendor_name",
    "finding_info/uid",
    "finding_info/title",
    "cloud/provider",
];

/// Checks one OCSF event: required attributes, values, constraints; returns it typed.
fn check_ocsf(v: &Value) -> DetectionFinding {
    for path in REQUIRED {
        let p = format!("/{path}");
        assert!(
            v.pointer(&p).is_some_and(|x| !x.is_null()),
            "required attribute {path} missing in {v}"
        );
    }
    let d: DetectionFinding = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("not an OCSF Detection Finding as expected: {e}\n{v}"));
    assert_eq!(d.class_uid, 2004);
    assert_eq!(d.category_uid, 2);
    assert_eq!(d.activity_id, 1);
    assert_eq!(d.type_uid, 2004 * 100 + d.activity_id as u32);
    assert_eq!(d.class_name.as_deref(), Some("Detection Finding"));
    assert_eq!(d.category_name.as_deref(), Some("Findings"));
    assert_eq!(d.activity_name.as_deref(), Some("Create"));
    assert_eq!(d.type_name.as_deref(), Some("Detection Finding: Create"));
    let f = &d.unmapped.keytrail;
    let (sev_id, sev) = match f.severity.as_str() {
        "info" => (1, "Informational"),
        "low" => (2, "Low"),
        "medium" => (3, "Medium"),
        "high" => (4, "High"),
        _ => (5, "Critical"),
    };
    assert_eq!((d.severity_id, d.severity.as_deref()), (sev_id, Some(sev)));
    assert_eq!((d.status_id, d.status.as_deref()), (Some(1), Some("New")));
    assert!(
        d.time > 1_700_000_000_000,
        "time is in milliseconds: {}",
        d.time
    );
    assert_eq!(d.metadata.version, "1.3.0");
    assert!(d.metadata.profiles.contains(&"cloud".to_string()));
    assert_eq!(d.metadata.product.vendor_name, "keytrail");
    assert!(d.metadata.product.name.is_some() || d.metadata.product.uid.is_some());
    assert_eq!(d.finding_info.uid, f.finding_id);
    assert_eq!(d.finding_info.title, f.title);
    let analytic = d
        .finding_info
        .analytic
        .as_ref()
        .expect("the rule as analytic");
    assert_eq!(
        (analytic.uid.as_deref(), analytic.type_id),
        (Some(f.rule_id.as_str()), 1)
    );
    assert_eq!(d.finding_info.attacks.len(), f.mitre.len());
    for a in &d.finding_info.attacks {
        assert!(
            a.technique.is_some() || a.sub_technique.is_some() || a.tactic.is_some(),
            "an attack needs a tactic, technique or sub-technique"
        );
    }
    assert_eq!(d.cloud.provider, "AWS");
    let account = d.cloud.account.as_ref().expect("the AWS account");
    assert!(account.uid.as_deref().is_some_and(|u| u.len() == 12));
    assert!(d.cloud.region.is_some());
    for r in &d.resources {
        assert!(
            r.uid.is_some() || r.name.is_some(),
            "a resource needs a uid or name"
        );
    }
    // Every evidence event is there, with its raw CloudTrail record.
    assert_eq!(d.evidences.len(), f.evidence_event_ids.len());
    for (e, id) in d.evidences.iter().zip(&f.evidence_event_ids) {
        assert!(
            e.actor.is_some() || e.api.is_some() || e.src_endpoint.is_some() || e.data.is_some(),
            "an evidence needs at least one artifact"
        );
        let raw = e.data.as_ref().expect("the raw record as evidence data");
        assert_eq!(raw["eventID"].as_str(), Some(id));
        if let Some(api) = &e.api {
            assert_eq!(Some(api.operation.as_str()), raw["eventName"].as_str());
        }
    }
    if let (Some(first), Some(last)) = (
        d.finding_info.first_seen_time,
        d.finding_info.last_seen_time,
    ) {
        assert!(first <= last && last == d.time);
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsf_export_has_every_attribute_class_2004_requires_and_parses_back() {
    let expected = sample_findings().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("findings.ocsf.json");
    let o = scan(
        &["--export", "ocsf", "--output", path.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("summary"),
        "with --output the export takes the file and the report stays on stdout"
    );
    assert!(stderr(&o).contains("findings delivered"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    let back: Vec<Finding> = text
        .lines()
        .map(|l| check_ocsf(&serde_json::from_str(l).expect("one OCSF event per line")))
        .map(|d| d.unmapped.keytrail)
        .collect();
    assert_eq!(
        back, expected,
        "unmapped.keytrail holds each finding unchanged, in order"
    );

    // Without --output the export replaces the report on stdout.
    let o = scan(&["--export", "ocsf"], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), expected.len());
    lines.iter().for_each(|v| {
        check_ocsf(v);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_export_posts_bounded_batches_of_envelopes_with_the_token() {
    let expected = sample_findings().await;
    let hec = http_receiver(|_, _| (200, r#"{"text":"Success","code":0}"#.into())).await;
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
            "3",
        ],
        &[("SPLUNK_HEC_TOKEN", HEC_TOKEN)],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("summary"),
        "the table report stays on stdout"
    );
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "splunk-hec:{}: {} findings delivered",
            hec.url,
            expected.len()
        )),
        "{err}"
    );
    let reqs = hec.requests();
    assert_eq!(
        reqs.len(),
        expected.len().div_ceil(3),
        "batches of at most 3"
    );
    let mut got = Vec::new();
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/services/collector/event");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Splunk {HEC_TOKEN}").as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        let envelopes = concatenated(&r.body);
        assert!(!envelopes.is_empty() && envelopes.len() <= 3);
        for e in envelopes {
            let keys: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
            let want: BTreeSet<&str> = ["time", "host", "source", "sourcetype", "index", "event"]
                .into_iter()
                .collect();
            assert!(keys.is_subset(&want) && keys.len() >= 5, "{keys:?}");
            assert!(e["time"].as_f64().unwrap() > 1.7e9, "epoch seconds");
            assert_eq!(e["source"], "keytrail");
            assert_eq!(e["sourcetype"], "keytrail:finding");
            assert_eq!(e["index"], "security");
            got.push(serde_json::from_value::<Finding>(e["event"].clone()).unwrap());
        }
    }
    assert_eq!(
        got, expected,
        "every finding once, in order, in the stable schema"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_is_retried_after_a_503_and_then_delivers() {
    let hec = http_receiver(|n, _| match n {
        0 => (503, r#"{"text":"Server is busy","code":9}"#.into()),
        _ => (200, r#"{"text":"Success","code":0}"#.into()),
    })
    .await;
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            &hec.url,
            "--hec-token-env",
            "T",
        ],
        &[("T", HEC_TOKEN), FAST],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("findings delivered"), "{}", stderr(&o));
    let reqs = hec.requests();
    assert_eq!(reqs.len(), 2, "one 503, then the same batch again");
    assert_eq!(reqs[0].body, reqs[1].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_permanent_400_is_reported_by_sink_name_with_exit_5() {
    let expected = sample_findings().await;
    let hec =
        http_receiver(|_, _| (400, r#"{"text":"Invalid data format","code":6}"#.into())).await;
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            &hec.url,
            "--hec-token-env",
            "T",
            "--format",
            "json",
        ],
        &[("T", HEC_TOKEN), FAST],
    )
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "splunk-hec:{}: {n} of {n} findings NOT delivered: HTTP 400 Bad Request: {{\"text\":\"Invalid data format\",\"code\":6}}",
            hec.url,
            n = expected.len()
        )),
        "{err}"
    );
    assert!(
        err.contains(&expected[0].finding_id),
        "the undelivered findings are named: {err}"
    );
    assert_eq!(hec.requests().len(), 1, "a 400 is not retried");
    let report: Value = serde_json::from_slice(&o.stdout).expect("the report still goes to stdout");
    assert_eq!(report["findings"].as_array().unwrap().len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elastic_export_bulk_creates_ecs_documents_with_the_api_key() {
    let expected = sample_findings().await;
    let es = http_receiver(|_, r| (200, bulk_answer(r, |_| 201))).await;
    let o = scan(
        &[
            "--export",
            "ecs",
            "--elastic-url",
            &es.url,
            "--index",
            "keytrail-findings",
            "--elastic-api-key-env",
            "ES_KEY",
        ],
        &[("ES_KEY", ES_KEY)],
    )
    .await;
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
    let reqs = es.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/_bulk");
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("ApiKey {ES_KEY}").as_str())
    );
    let pairs = bulk_pairs(r);
    assert_eq!(pairs.len(), expected.len());
    for ((action, doc), f) in pairs.iter().zip(&expected) {
        let obj = action.as_object().unwrap();
        assert_eq!(
            obj.keys().collect::<Vec<_>>(),
            vec!["create"],
            "only create actions"
        );
        assert_eq!(action["create"]["_id"], f.finding_id.as_str());
        assert_eq!(action["create"]["_index"], "keytrail-findings");
        assert!(doc["@timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["id"], f.finding_id.as_str());
        assert!((1..=5).contains(&doc["event"]["severity"].as_u64().unwrap()));
        assert_eq!(doc["rule"]["id"], f.rule_id.as_str());
        assert_eq!(doc["rule"]["name"], f.title.as_str());
        assert_eq!(doc["rule"]["description"], f.description.as_str());
        assert_eq!(doc["cloud"]["provider"], "aws");
        assert!(doc["cloud"]["account"]["id"].as_str().is_some());
        assert!(doc["related"]["ip"].is_array() && doc["related"]["user"].is_array());
        let back: Finding = serde_json::from_value(doc["keytrail"].clone()).unwrap();
        assert_eq!(&back, f);
    }
    assert!(
        pairs.iter().any(|(_, d)| d["source"]["ip"].is_string()
            && d["user"]["name"].is_string()
            && d["user_agent"]["original"].is_string()),
        "bearer findings carry source.ip, user.name and user_agent.original"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elastic_retries_a_503_and_429_items_and_reports_a_400_item_with_exit_5() {
    let expected = sample_findings().await;
    let es = http_receiver(|n, r| match n {
        0 => (503, r#"{"error":"unavailable","status":503}"#.into()),
        1 => (
            200,
            bulk_answer(r, |i| match i {
                0 => 429,
                1 => 400,
                _ => 201,
            }),
        ),
        _ => (200, bulk_answer(r, |_| 201)),
    })
    .await;
    let o = scan(
        &[
            "--export",
            "ecs",
            "--elastic-url",
            &es.url,
            "--index",
            "keytrail-findings",
        ],
        &[FAST],
    )
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let reqs = es.requests();
    assert_eq!(reqs.len(), 3, "503, then items, then the 429 item again");
    assert_eq!(reqs[0].body, reqs[1].body);
    assert!(
        reqs[0].header("authorization").is_none(),
        "no credentials given, none sent"
    );
    let again = bulk_pairs(&reqs[2]);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0["create"]["_id"], expected[0].finding_id.as_str());
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "1 of {} findings NOT delivered: a document was refused: HTTP 400 mapper_parsing_exception: failed to parse field [keytrail.fields.first_seen]",
            expected.len()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("not delivered: {}", expected[1].finding_id)),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elastic_permanent_400_with_basic_auth_is_reported_with_exit_5() {
    let es = http_receiver(|_, _| {
        (
            400,
            r#"{"error":{"type":"illegal_argument_exception","reason":"no such pipeline"},"status":400}"#.into(),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{ES_PASSWORD}\n")).unwrap();
    let o = scan(
        &[
            "--export",
            "ecs",
            "--elastic-url",
            &es.url,
            "--index",
            "keytrail-findings",
            "--elastic-user",
            "keytrail",
            "--elastic-password-file",
            pw.to_str().unwrap(),
        ],
        &[FAST],
    )
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let reqs = es.requests();
    assert_eq!(reqs.len(), 1, "a 400 is not retried");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("keytrail:{ES_PASSWORD}"));
    assert_eq!(
        reqs[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert!(
        stderr(&o)
            .contains("HTTP 400 Bad Request: {\"error\":{\"type\":\"illegal_argument_exception\""),
        "{}",
        stderr(&o)
    );
}

/// Splits a CEF header on unescaped `|`: the 7 header fields and the extension.
fn cef_fields(cef: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = cef.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if out.len() < 8 => {
                let n = chars.next().unwrap();
                out.last_mut().unwrap().push(n);
            }
            '|' if out.len() < 8 => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Checks one RFC 5424 message carrying CEF and returns (rule id, extension).
fn check_syslog_cef(m: &str) -> (String, String) {
    assert!(!m.contains('\n'), "one line: {m}");
    let (pri, rest) = m.strip_prefix('<').unwrap().split_once('>').unwrap();
    let pri: u8 = pri.parse().unwrap();
    assert_eq!(pri / 8, 20, "facility local4");
    let parts: Vec<&str> = rest.splitn(7, ' ').collect();
    assert_eq!(parts[0], "1", "RFC 5424 version");
    assert!(
        chrono::DateTime::parse_from_rfc3339(parts[1]).is_ok(),
        "{}",
        parts[1]
    );
    assert!(!parts[2].is_empty() && !parts[2].contains(' '));
    assert_eq!(parts[3], "keytrail");
    assert!(parts[4].parse::<u32>().is_ok(), "PROCID is the pid");
    assert_eq!(parts[5], "finding");
    let (sd, msg) = parts[6].split_once(' ').unwrap();
    assert_eq!(sd, "-");
    let f = cef_fields(msg);
    assert_eq!(f.len(), 8, "7 header fields and the extension: {msg}");
    assert_eq!(&f[..3], &["CEF:0", "keytrail", "keytrail"]);
    let sev: u8 = f[6].parse().unwrap();
    assert!(sev <= 10);
    let syslog_sev = pri % 8;
    assert!((2..=6).contains(&syslog_sev));
    (f[4].clone(), f[7].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_over_tcp_is_octet_counted_rfc5424_with_escaped_cef() {
    let expected = sample_findings().await;
    let listener = tcp_syslog().await;
    let o = scan(&["--export", "cef", "--syslog", &listener.address], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "syslog:{}: {} findings delivered",
            listener.address,
            expected.len()
        )),
        "{}",
        stderr(&o)
    );
    // The sink closed the connection; give the listener a moment to parse the stream.
    let mut msgs = listener.messages();
    for _ in 0..50 {
        if msgs.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        msgs = listener.messages();
    }
    assert_eq!(
        msgs.len(),
        expected.len(),
        "one octet-counted frame per finding"
    );
    for (m, f) in msgs.iter().zip(&expected) {
        let (rule, ext) = check_syslog_cef(m);
        assert_eq!(rule, f.rule_id);
        assert!(
            ext.contains(&format!("externalId={}", f.finding_id)),
            "{ext}"
        );
        assert!(ext.contains(&format!("cn1Label=evidenceCount cn1={}", f.evidence_count)));
        // `=` inside a value is escaped, so every unescaped `=` follows a key.
        for (i, _) in ext.match_indices('=') {
            let before = &ext[..i];
            if before.ends_with('\\') {
                continue;
            }
            let key = before.rsplit(' ').next().unwrap();
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric()),
                "unescaped = after {key:?} in {ext}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_over_udp_sends_one_message_per_datagram() {
    let expected = sample_findings().await;
    let listener = udp_syslog().await;
    let o = scan(&["--export", "cef", "--syslog", &listener.address], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut msgs = listener.messages();
    for _ in 0..50 {
        if msgs.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        msgs = listener.messages();
    }
    assert_eq!(msgs.len(), expected.len());
    let rules: Vec<String> = msgs.iter().map(|m| check_syslog_cef(m).0).collect();
    let want: Vec<String> = expected.iter().map(|f| f.rule_id.clone()).collect();
    assert_eq!(rules, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_keys_and_passwords_never_appear_in_output_even_on_errors() {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("keytrail:{ES_PASSWORD}"));
    let secrets = [HEC_TOKEN, ES_KEY, ES_PASSWORD, basic.as_str()];
    let check = |o: &Output, code: i32, what: &str| {
        assert_eq!(o.status.code(), Some(code), "{what}: {}", stderr(o));
        for s in &secrets {
            assert!(
                !stderr(o).contains(s),
                "{what}: a secret in stderr: {}",
                stderr(o)
            );
            assert!(!stdout(o).contains(s), "{what}: a secret in stdout");
        }
    };
    // Receivers that echo the Authorization header back in an error body.
    let echo = |status: u16| {
        move |_: usize, r: &Seen| {
            let auth = r.header("authorization").unwrap_or("").to_string();
            (
                status,
                json!({"text": format!("Invalid token: {auth}"), "code": 4}).to_string(),
            )
        }
    };
    let hec = http_receiver(echo(403)).await;
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            &hec.url,
            "--hec-token-env",
            "T",
        ],
        &[("T", HEC_TOKEN), FAST],
    )
    .await;
    check(&o, 5, "HEC 403 echoing the header");
    assert!(
        stderr(&o).contains("Invalid token: Splunk ***"),
        "{}",
        stderr(&o)
    );

    let es = http_receiver(echo(500)).await;
    let o = scan(
        &[
            "--export",
            "ecs",
            "--elastic-url",
            &es.url,
            "--index",
            "k",
            "--elastic-api-key-env",
            "K",
            "--retries",
            "1",
        ],
        &[("K", ES_KEY), FAST],
    )
    .await;
    check(&o, 5, "Elasticsearch 500 echoing the API key");
    assert_eq!(es.requests().len(), 2, "a 500 is retried (--retries 1)");

    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, ES_PASSWORD).unwrap();
    let es = http_receiver(echo(401)).await;
    let o = scan(
        &[
            "--export",
            "ecs",
            "--elastic-url",
            &es.url,
            "--index",
            "k",
            "--elastic-user",
            "keytrail",
            "--elastic-password-file",
            pw.to_str().unwrap(),
        ],
        &[FAST],
    )
    .await;
    check(&o, 5, "Elasticsearch 401 echoing basic credentials");

    // Unreachable, missing variable, credentials in the URL: refused, nothing leaked.
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            "http://127.0.0.1:9",
            "--hec-token-env",
            "T",
            "--retries",
            "0",
        ],
        &[("T", HEC_TOKEN)],
    )
    .await;
    check(&o, 5, "unreachable collector");
    assert!(stderr(&o).contains("cannot reach"), "{}", stderr(&o));
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            &hec.url,
            "--hec-token-env",
            "NOT_SET",
        ],
        &[("T", HEC_TOKEN)],
    )
    .await;
    check(&o, 2, "missing variable");
    assert!(stderr(&o).contains("NOT_SET"), "{}", stderr(&o));
    let url = format!("http://keytrail:{ES_PASSWORD}@127.0.0.1:9200");
    let o = scan(
        &["--export", "ecs", "--elastic-url", &url, "--index", "k"],
        &[],
    )
    .await;
    check(&o, 2, "password in the URL");
    assert!(
        stderr(&o).contains("credentials in the URL"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_flags_that_do_not_fit_are_refused_before_reading() {
    let o = scan(
        &["--export", "splunk-hec", "--hec-url", "http://127.0.0.1:9"],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--hec-token-env VAR"), "{}", stderr(&o));
    let o = scan(&["--export", "cef", "--hec-url", "http://x"], &[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--hec-url does not apply to --export cef"),
        "{}",
        stderr(&o)
    );
    let o = scan(&["--syslog", "udp://127.0.0.1:514"], &[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--syslog is only used with --export"),
        "{}",
        stderr(&o)
    );
    let o = scan(&["--export", "cef", "--syslog", "127.0.0.1:514"], &[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tcp://host:port"), "{}", stderr(&o));
}

// ---- The events table to Parquet and CSV ----------------------------------------------

/// `keytrail events sample-logs/ --format ndjson` as JSON rows.
async fn ndjson_events() -> Vec<serde_json::Map<String, Value>> {
    let o = run_isolated(&["events", "sample-logs/", "--format", "ndjson"], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_parquet_has_the_rows_and_columns_of_ndjson() {
    use polars::prelude::*;
    let rows = ndjson_events().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    let o = run_isolated(
        &[
            "events",
            "sample-logs/",
            "--format",
            "parquet",
            "--output",
            path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), rows.len());
    assert_eq!(rows.len(), 216, "the Bedrock-relevant sample events");
    let cols: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let keys: Vec<String> = rows[0].keys().cloned().collect();
    assert_eq!(cols, keys);
    assert_eq!(
        cols,
        keytrail::event::COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        df.column("event_time").unwrap().dtype(),
        DataType::Datetime(TimeUnit::Microseconds, _)
    ));
    assert_eq!(
        keytrail::output::values::frame_rows(&df),
        rows,
        "every cell agrees"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_is_refused_without_an_output_file() {
    let o = run_isolated(&["events", "sample-logs/", "--format", "parquet"], &[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty(), "nothing binary on stdout");
    assert!(
        stderr(&o).contains("--output FILE.parquet"),
        "{}",
        stderr(&o)
    );
    let o = run_isolated(
        &[
            "scan",
            "sample-logs/",
            "--format",
            "parquet",
            "-o",
            "/tmp/x.parquet",
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("[possible values: table, json, ndjson, csv, html]"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_csv_round_trips_to_the_rows_of_ndjson() {
    let rows = ndjson_events().await;
    let o = run_isolated(&["events", "sample-logs/", "--format", "csv"], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut r = csv::Reader::from_reader(o.stdout.as_slice());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        keytrail::event::COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    let records: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(records.len(), rows.len());
    for (rec, row) in records.iter().zip(&rows) {
        for (cell, col) in rec.iter().zip(&header) {
            assert_eq!(
                cell,
                keytrail::output::values::json_text(&row[col]),
                "column {col}"
            );
        }
    }
}

// ---- Permanent and transient failures ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_are_reported_at_once_without_retries() {
    // A name that does not resolve, nothing listening on a literal address: with the default
    // 4 retries from 1 s these would wait 15 s each if they were retried.
    for (url, why) in [
        ("http://no-such-host.invalid:8088", "does not resolve"),
        ("http://127.0.0.1:9", "nothing listens there"),
    ] {
        let started = std::time::Instant::now();
        let o = scan(
            &[
                "--export",
                "splunk-hec",
                "--hec-url",
                url,
                "--hec-token-env",
                "T",
            ],
            &[("T", HEC_TOKEN)],
        )
        .await;
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(5), "{err}");
        assert!(err.contains(why) && !err.contains("gave up"), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{url}: not retried ({:?})",
            started.elapsed()
        );
    }
    let o = scan(&["--export", "cef", "--syslog", "tcp://127.0.0.1:9"], &[]).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.contains("nothing listens there") && !err.contains("gave up"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_of_two_seconds_or_more_is_told_on_stderr() {
    let hec = http_receiver(|n, _| match n {
        0 => (503, r#"{"text":"Server is busy","code":9}"#.into()),
        _ => (200, r#"{"text":"Success","code":0}"#.into()),
    })
    .await;
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            &hec.url,
            "--hec-token-env",
            "T",
            "--retry-delay",
            "2s",
        ],
        &[("T", HEC_TOKEN)],
    )
    .await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "keytrail: splunk-hec:{}: HTTP 503, retry 1 of 4 in 2s",
            hec.url
        )),
        "{err}"
    );
    assert_eq!(hec.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syslog_address_with_a_password_is_refused_and_never_echoed() {
    let o = scan(
        &[
            "--export",
            "cef",
            "--syslog",
            "tcp://siem:S3cretPass@127.0.0.1:6514",
        ],
        &[],
    )
    .await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        !err.contains("S3cretPass") && !stdout(&o).contains("S3cretPass"),
        "{err}"
    );
    assert!(err.contains("tcp://siem:***@127.0.0.1:6514"), "{err}");
    let o = scan(
        &[
            "--export",
            "splunk-hec",
            "--hec-url",
            "https://admin:S3cretPass@splunk.example:8088",
            "--hec-token-env",
            "T",
        ],
        &[("T", HEC_TOKEN)],
    )
    .await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        !err.contains("S3cretPass") && err.contains("admin:***@"),
        "{err}"
    );
}
