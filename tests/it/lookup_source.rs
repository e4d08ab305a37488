//! The LookupEvents source against a stand-in speaking AWS JSON 1.1 (SigV4 header required,
//! NextToken paging, MaxResults at most 50, ThrottlingException above 2 calls per second):
//! the same findings and rows as the same events read from files, the rate limit held,
//! throttling retried, and the 90-day limit explained.

use std::collections::BTreeSet;

use crate::common::lookup_server::{self, LookupServer, Served, management_events};
use crate::common::{assert_same_rows, json_of, keytrail, run_isolated, stderr, stdout};

/// Writes the events as one delivery file per region, for the local comparison.
fn as_files(events: &[Served]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut regions: Vec<&str> = events.iter().map(|e| e.region.as_str()).collect();
    regions.sort();
    regions.dedup();
    for r in regions {
        let recs: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e.region == r)
            .map(|e| &e.raw)
            .collect();
        let doc = serde_json::json!({ "Records": recs });
        std::fs::write(dir.path().join(format!("{r}.json")), doc.to_string()).unwrap();
    }
    dir
}

/// Static keys and the server as the CloudTrail endpoint.
fn env(server: &LookupServer) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIAKEYTRAILLOOKUP01".to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "keytrail-lookup-secret".to_string(),
        ),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", server.endpoint.clone()),
    ]
}

/// Runs keytrail against the server.
async fn run(server: &LookupServer, args: &[&str]) -> std::process::Output {
    let e = env(server);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_isolated(args, &e).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_gives_the_same_findings_and_rows_as_files_and_keeps_the_rate_limit() {
    let events = management_events();
    let files = as_files(&events);
    let server = lookup_server::start(events, 0).await;
    let regions = "lookup:us-east-1,us-west-2,eu-central-1";

    let remote = run(&server, &["scan", regions, "--format", "json"]).await;
    let dir = files.path().to_str().unwrap();
    let local = keytrail(&["scan", dir, "--format", "json"]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let (r, l) = (json_of(&remote), json_of(&local));
    assert!(!r["findings"].as_array().unwrap().is_empty());
    let differ: Vec<String> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !l["findings"].as_array().unwrap().contains(f))
        .map(|f| format!("{}: {}", f["rule_id"], f["fields"]))
        .collect();
    assert!(differ.is_empty(), "from LookupEvents only: {differ:?}");
    assert_eq!(r["findings"], l["findings"]);
    assert_eq!(r["summary"]["events_kept"], l["summary"]["events_kept"]);

    // The limiter is per process: give the API the second a new process would wait anyway.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let remote = run(&server, &["events", regions, "--format", "ndjson"]).await;
    let local = keytrail(&["events", dir, "--format", "ndjson"]);
    assert_same_rows(&stdout(&remote), &stdout(&local));
    assert!(
        stdout(&remote)
            .contains("\"source\":\"lookup:us-east-1/EventName=CreateServiceSpecificCredential\"")
    );

    // Every call was signed, used lookup attributes, and the rate never went over 2/s.
    assert_eq!(server.rate_violations(), 0);
    assert!(server.max_calls_per_second() <= 2);
    let calls = server.calls.lock().unwrap().clone();
    assert!(
        calls
            .iter()
            .all(|c| c.access_key_id == "AKIAKEYTRAILLOOKUP01")
    );
    assert!(calls.iter().all(|c| c.attribute.is_some()));
    // The console-key users the first pass names are asked for by name in every region
    // (LookupEvents has no prefix match): what they did outside Bedrock is read too.
    let asked = |r: &str| -> BTreeSet<(String, String)> {
        calls
            .iter()
            .filter(|c| c.region == r)
            .filter_map(|c| c.attribute.clone())
            .collect()
    };
    let users: BTreeSet<String> = asked("us-west-2")
        .into_iter()
        .filter(|(k, _)| k == "Username")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        users,
        BTreeSet::from(["BedrockAPIKey-q9zp".into(), "BedrockAPIKey-x7k2".into()])
    );
    let by_name = |r: &str| {
        calls
            .iter()
            .filter(|c| c.region == r)
            .filter(|c| c.attribute.as_ref().is_some_and(|(k, _)| k == "Username"))
            .count()
    };
    assert_eq!(by_name("us-west-2"), 2 * users.len(), "once a run");
    assert_eq!(by_name("us-east-1"), 2 * users.len(), "once a run");
    let west = asked("us-west-2");
    assert!(west.contains(&("EventSource".into(), "bedrock.amazonaws.com".into())));
    assert_eq!(
        west.len(),
        1 + users.len(),
        "Bedrock and the users: {west:?}"
    );
    let east = asked("us-east-1");
    assert_eq!(
        east.len(),
        1 + keytrail::sources::lookup::IAM_EVENT_NAMES.len() + users.len(),
        "Bedrock + the IAM event names + the users: {east:?}"
    );
    assert!(
        stderr(&remote).contains("lookup:us-east-1 (BedrockAPIKey-* users): 2 LookupEvents calls"),
        "{}",
        stderr(&remote)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_followed_and_throttling_is_retried_with_backoff() {
    let template = management_events()
        .into_iter()
        .find(|e| {
            e.raw["eventSource"] == "bedrock.amazonaws.com"
                && e.raw["additionalEventData"]["callWithBearerToken"] == true
        })
        .unwrap();
    let events: Vec<Served> = (0..1000)
        .map(|i| {
            let mut e = template.clone();
            e.region = "us-west-2".into();
            e.time += i as f64;
            e.raw["eventID"] = format!("evt-{i:04}").into();
            e.raw["awsRegion"] = "us-west-2".into();
            e.raw["eventTime"] = chrono::DateTime::from_timestamp(e.time as i64, 0)
                .unwrap()
                .to_rfc3339()
                .into();
            e
        })
        .collect();
    let server = lookup_server::start(events, 2).await;
    let out = run(
        &server,
        &["events", "lookup:us-west-2", "--format", "ndjson"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1000);
    // 1,000 Bedrock events take 20 pages of 50; the first 2 calls were throttled and retried.
    assert!(
        stderr(&out).contains("lookup:us-west-2: 22 LookupEvents calls (2 throttled), 1000 events"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.rate_violations(), 0);
    assert!(server.max_calls_per_second() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_past_90_days_is_explained_and_clamped() {
    let server = lookup_server::start(Vec::new(), 0).await;
    let out = run(
        &server,
        &[
            "events",
            "lookup:eu-west-1",
            "--since",
            "200d",
            "--format",
            "ndjson",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("LookupEvents keeps only the last 90 days"),
        "{err}"
    );
    assert!(err.contains("read the trail's S3 bucket"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_are_reported_with_the_fix() {
    let server = lookup_server::start(Vec::new(), 0).await;
    let out = run_isolated(
        &["events", "lookup:us-east-1"],
        &[("AWS_ENDPOINT_URL_CLOUDTRAIL", server.endpoint.as_str())],
    )
    .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("no AWS credentials found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn investigate_through_lookup_asks_by_user_and_sees_the_same_timeline_as_files() {
    let events = management_events();
    let files = as_files(&events);
    let server = lookup_server::start(events, 0).await;
    let args = |input: &str| -> Vec<String> {
        [
            "investigate",
            input,
            "--user",
            "BedrockAPIKey-q9zp",
            "--format",
            "ndjson",
        ]
        .map(String::from)
        .to_vec()
    };
    let remote_args = args("lookup:us-east-1,eu-central-1");
    let a: Vec<&str> = remote_args.iter().map(String::as_str).collect();
    let remote = run(&server, &a).await;
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local_args = args(files.path().to_str().unwrap());
    let a: Vec<&str> = local_args.iter().map(String::as_str).collect();
    let local = keytrail(&a);
    assert_same_rows(&stdout(&remote), &stdout(&local));
    // The phantom user's own CreateAccessKey (not Bedrock) came through the Username query.
    assert!(stdout(&remote).contains("\"event_name\":\"CreateAccessKey\""));
    let calls = server.calls.lock().unwrap();
    assert!(
        calls.iter().any(
            |c| c.attribute == Some(("Username".to_string(), "BedrockAPIKey-q9zp".to_string()))
        )
    );
    drop(calls);
    assert_eq!(server.rate_violations(), 0);
}
