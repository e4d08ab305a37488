//! The S3 source against a real S3-compatible server (s3s + s3s-fs, in-process, signatures
//! checked): same answers as local files, layout pruning (organization trail, custom prefix,
//! accounts, regions, dates), digests and corrupt objects, paging, and error messages.

use crate::common::s3_server::{self, ACCESS_KEY, S3Server, SECRET_KEY};
use crate::common::{
    assert_same_rows, gzip, json_of, keytrail, root, run_isolated, sample_delivery_files, stderr,
    stdout,
};

const ORG: &str = "o-a1b2c3d4e5";

/// The environment pointing keytrail at the server with the right keys.
fn env(s3: &S3Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()),
    ]
}

/// Runs keytrail against the server.
async fn run(s3: &S3Server, args: &[&str]) -> std::process::Output {
    let e = env(s3);
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = args.to_vec();
    a.push("--force-path-style");
    run_isolated(&a, &e).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bucket_gives_the_same_findings_and_rows_as_the_local_files() {
    let s3 = s3_server::start().await;
    s3.put_tree(
        "trail-bucket",
        "AWSLogs/",
        &root().join("sample-logs/AWSLogs"),
    );

    let remote = run(&s3, &["scan", "s3://trail-bucket", "--format", "json"]).await;
    let local = keytrail(&["scan", "sample-logs/AWSLogs", "--format", "json"]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let (r, l) = (json_of(&remote), json_of(&local));
    assert_eq!(r["findings"], l["findings"]);
    assert!(!r["findings"].as_array().unwrap().is_empty());
    let (rs, ls) = (&r["summary"], &l["summary"]);
    for k in ["inputs_read", "events_read", "events_kept"] {
        assert_eq!(rs[k], ls[k], "{k}");
    }
    // Digests live under CloudTrail-Digest/, which the S3 source never lists.
    assert_eq!(rs["digest_files_skipped"], 0);
    assert!(s3.listed_prefixes().iter().all(|p| !p.contains("Digest")));
    assert!(rs["api_calls"].as_u64().unwrap() > 11, "{rs}");

    let remote = run(&s3, &["events", "s3://trail-bucket", "--format", "ndjson"]).await;
    let local = keytrail(&["events", "sample-logs/AWSLogs", "--format", "ndjson"]);
    assert_same_rows(&stdout(&remote), &stdout(&local));
    assert!(
        stdout(&remote).contains("\"source\":\"s3://trail-bucket/AWSLogs/111122223333/CloudTrail/")
    );
    // The digest object was never fetched.
    assert!(
        s3.fetched("trail-bucket")
            .iter()
            .all(|k| !k.contains("Digest"))
    );
}

/// Seeds an organization trail under a custom prefix: two accounts, three regions, objects
/// outside the window, a corrupt object, a digest and a non-log object.
fn seed_org_trail(s3: &S3Server) -> Vec<String> {
    let base = format!("custom/prefix/AWSLogs/{ORG}/");
    let mut in_window = Vec::new();
    for f in sample_delivery_files() {
        let rel = f
            .strip_prefix(root().join("sample-logs/AWSLogs/"))
            .unwrap()
            .to_string_lossy()
            .to_string();
        let key = format!("{base}{rel}");
        s3.put("org-bucket", &key, &std::fs::read(&f).unwrap());
        // The same file under a second account of the organization.
        let other = key.replace("111122223333", "444455556666");
        s3.put("org-bucket", &other, &std::fs::read(&f).unwrap());
        in_window.push(key);
    }
    let day = |region: &str, d: &str| format!("{base}111122223333/CloudTrail/{region}/2026/{d}/");
    let old = format!(
        "{}111122223333_CloudTrail_us-east-1_20261001T1200Z_old0000000000000.json.gz",
        day("us-east-1", "10/01")
    );
    let late = format!(
        "{}111122223333_CloudTrail_us-east-1_20261125T1200Z_new0000000000000.json.gz",
        day("us-east-1", "11/25")
    );
    let body = std::fs::read(&sample_delivery_files()[3]).unwrap();
    s3.put("org-bucket", &old, &body);
    s3.put("org-bucket", &late, &body);
    let corrupt = format!(
        "{}111122223333_CloudTrail_us-east-1_20261118T0900Z_corrupt000000000.json.gz",
        day("us-east-1", "11/18")
    );
    let gz = gzip(br#"{"Records":[{"eventVersion":"1.09","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel"}]}"#);
    s3.put("org-bucket", &corrupt, &gz[..gz.len() / 2]);
    s3.put(
        "org-bucket",
        &format!("{}notes.txt", day("us-east-1", "11/18")),
        b"not a log",
    );
    s3.put(
        "org-bucket",
        &format!("{base}111122223333/CloudTrail-Digest/us-east-1/2026/11/18/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261118T010000Z.json.gz"),
        &gzip(br#"{"digestStartTime":"x"}"#),
    );
    in_window
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_trail_under_a_custom_prefix_is_pruned_by_account_region_and_date() {
    let s3 = s3_server::start().await;
    seed_org_trail(&s3);
    let args = [
        "events",
        "s3://org-bucket/custom/prefix",
        "--accounts",
        "111122223333",
        "--regions",
        "us-east-1,us-west-2",
        "--since",
        "2026-11-17",
        "--until",
        "2026-11-19",
        "--format",
        "ndjson",
    ];
    let out = run(&s3, &args).await;
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a corrupt object makes the run partial: {err}"
    );
    assert!(err.contains("_corrupt000000000.json.gz: skipped:"), "{err}");

    // Listing: two discovery calls, then only the day folders of the window (with the one-day
    // margins) in the two regions of the one account; never the whole bucket.
    let listed = s3.listed_prefixes();
    let base = format!("custom/prefix/AWSLogs/{ORG}/111122223333/CloudTrail/");
    let mut expected = vec![
        "custom/prefix/AWSLogs/".to_string(),
        format!("custom/prefix/AWSLogs/{ORG}/"),
    ];
    for r in ["us-east-1", "us-west-2"] {
        for d in ["16", "17", "18", "19"] {
            expected.push(format!("{base}{r}/2026/11/{d}/"));
        }
    }
    let mut got = listed.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    // Fetching: only log objects named inside the window.
    let fetched = s3.fetched("org-bucket");
    assert!(!fetched.is_empty());
    for k in &fetched {
        assert!(k.starts_with(&base), "{k}");
        assert!(
            !k.contains("444455556666") && !k.contains("eu-central-1"),
            "{k}"
        );
        assert!(
            !k.contains("_20261001T") && !k.contains("_20261125T"),
            "{k}"
        );
        assert!(!k.ends_with("notes.txt") && !k.contains("Digest"), "{k}");
    }

    // Same rows as the same files read locally with the same window.
    let prefix = format!("custom/prefix/AWSLogs/{ORG}/");
    let files: Vec<String> = fetched
        .iter()
        .filter(|k| !k.contains("corrupt"))
        .map(|k| format!("sample-logs/AWSLogs/{}", &k[prefix.len()..]))
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    let mut args: Vec<&str> = vec!["events"];
    args.extend(files.iter().map(String::as_str));
    args.extend([
        "--since",
        "2026-11-17",
        "--until",
        "2026-11-19",
        "--format",
        "ndjson",
    ]);
    let local = keytrail(&args);
    assert_same_rows(&stdout(&out), &stdout(&local));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_counts_objects_passed_over_and_the_corrupt_one() {
    let s3 = s3_server::start().await;
    seed_org_trail(&s3);
    let out = run(
        &s3,
        &[
            "scan",
            "s3://org-bucket/custom/prefix",
            "--since",
            "2026-11-15",
            "--until",
            "2026-11-21",
            "--format",
            "json",
        ],
    )
    .await;
    let v = json_of(&out);
    let s = &v["summary"];
    // 2 accounts x 13 files in the window, plus the corrupt object; the second account's
    // copies are the same events (same recipient account), dropped as duplicates.
    assert_eq!(s["inputs_read"], 27, "{s}");
    assert_eq!(s["events_kept"], 197, "{s}");
    assert_eq!(s["duplicate_events_dropped"], 197, "{s}");
    // The digest sits under CloudTrail-Digest/: never listed, never fetched.
    assert_eq!(s["digest_files_skipped"], 0, "{s}");
    assert!(
        s3.fetched("org-bucket")
            .iter()
            .all(|k| !k.contains("Digest"))
    );
    assert_eq!(s["files_ignored_by_name"], 1, "{s}");
    let skipped = s["inputs_skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0]["input"]
            .as_str()
            .unwrap()
            .ends_with("_corrupt000000000.json.gz")
    );
    assert!(
        skipped[0]["reason"].as_str().unwrap().contains("gzip"),
        "{skipped:?}"
    );
    assert!(s["api_calls"].as_u64().unwrap() > 23);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_objects_than_one_listing_page_are_all_read() {
    let s3 = s3_server::start().await;
    let template = r#"{"Records":[{"eventVersion":"1.09","eventID":"ID","eventTime":"2026-11-20T10:00:00Z","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","userName":"BedrockAPIKey-abcd","accountId":"111122223333"},"additionalEventData":{"callWithBearerToken":true}}]}"#;
    for i in 0..1050 {
        let key = format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1000Z_{i:016}.json.gz"
        );
        s3.put(
            "big",
            &key,
            &gzip(template.replace("ID", &format!("evt-{i}")).as_bytes()),
        );
    }
    let out = run(
        &s3,
        &[
            "events",
            "s3://big",
            "--format",
            "ndjson",
            "--concurrency",
            "32",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1050);
    let pages = s3
        .listed_prefixes()
        .iter()
        .filter(|p| p.ends_with("us-east-1/"))
        .count();
    assert_eq!(pages, 2, "1050 keys need two ListObjectsV2 pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_missing_buckets_get_messages_that_say_what_to_do() {
    let s3 = s3_server::start().await;
    s3.bucket("exists");
    let wrong = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.as_str()),
    ];
    let out = run_isolated(&["scan", "s3://exists", "--force-path-style"], &wrong).await;
    let err = stderr(&out);
    // The only input failed: nothing was read, which is fatal (2), never "clean" or partial.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nothing could be read"), "{err}");
    assert!(err.contains("AWS rejected the credentials"), "{err}");
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(!err.contains("not-the-secret"));

    let out = run(&s3, &["scan", "s3://no-such-bucket"]).await;
    let err = stderr(&out);
    assert!(
        err.contains("bucket no-such-bucket does not exist: check the name"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_inventory_from_s3_equals_the_one_from_local_files() {
    let s3 = s3_server::start().await;
    s3.put_tree("trail", "AWSLogs/", &root().join("sample-logs/AWSLogs"));
    let remote = run(&s3, &["keys", "s3://trail", "--format", "json"]).await;
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local = keytrail(&["keys", "sample-logs/AWSLogs", "--format", "json"]);
    let (r, l) = (json_of(&remote), json_of(&local));
    assert_eq!(r["long_term"], l["long_term"]);
    assert_eq!(r["short_term"], l["short_term"]);
    assert_eq!(r["long_term"].as_array().unwrap().len(), 4);
}
