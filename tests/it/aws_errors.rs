//! AWS failures as a user meets them, against the tests' own servers (LookupEvents and STS
//! stand-ins), a closed port and a host name that cannot resolve: one line per failed input
//! saying what failed, why and what to do; permanent failures (unknown region, DNS, a refused
//! connection to a literal address, 4xx) at once, transient ones (5xx) retried with a status
//! line; the SDK's own text only with `-v`; never a secret.

use crate::common::lookup_server::{self, management_events};
use crate::common::sts_server;
use crate::common::{json_of, run_isolated, stderr};

const KEY_ID: &str = "AKIAKEYTRAILERRORS01";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYKEYTRAILSECRET";
const TOKEN: &str = "FwoGZXIvYXdzEKEYTRAILSESSIONTOKEN0000000000000000000000000000";

/// Static credentials (with a session token) and extra variables.
fn env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut e = vec![
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("AWS_REGION", "us-east-1"),
    ];
    e.extend_from_slice(extra);
    e
}

/// A local port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The stderr lines about `input` (the input named first, as the one-line form has it).
fn lines_about<'a>(err: &'a str, input: &str) -> Vec<&'a str> {
    err.lines()
        .filter(|l| l.starts_with(&format!("keytrail: {input}")))
        .collect()
}

/// Asserts stderr holds no secret and no Rust debug dump of an SDK error.
fn assert_clean(err: &str) {
    assert!(!err.contains(SECRET) && !err.contains(TOKEN), "{err}");
    for dump in ["DispatchFailure(", "ConnectorError {", "ServiceError {"] {
        assert!(!err.contains(dump), "debug dump {dump}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_regions_are_refused_before_any_call_with_the_closest_names() {
    let server = lookup_server::start(Vec::new(), 0).await;
    let ep = [("AWS_ENDPOINT_URL_CLOUDTRAIL", server.endpoint.as_str())];
    let out = run_isolated(&["events", "lookup:us-east-9"], &env(&ep)).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            r#"lookup:us-east-9: unknown region "us-east-9": did you mean us-east-1 or us-east-2?"#
        ),
        "{err}"
    );
    assert!(server.calls.lock().unwrap().is_empty(), "no call was made");

    let out = run_isolated(
        &["events", "lookup:all", "--regions", "us-east-1,eu-westt-1"],
        &env(&ep),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"unknown region "eu-westt-1": did you mean eu-west-1"#),
        "{}",
        stderr(&out)
    );
    let out = run_isolated(&["scan", "s3://trail", "--region", "us-east-9"], &env(&[])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean us-east-1"),
        "{}",
        stderr(&out)
    );
    assert!(server.calls.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_to_a_literal_address_is_one_line_and_not_retried() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run_isolated(
        // A local input beside it, so that the run reads something and reports its summary.
        &[
            "scan",
            "lookup:us-west-2",
            "sample-logs/AWSLogs",
            "--format",
            "json",
        ],
        &env(&[("AWS_ENDPOINT_URL_CLOUDTRAIL", &url)]),
    )
    .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "nothing was read: {err}");
    let report = json_of(&out);
    assert_eq!(report["summary"]["api_calls"], 1, "one attempt: {err}");
    let about = lines_about(&err, "lookup:us-west-2/EventSource=bedrock.amazonaws.com");
    assert_eq!(
        about,
        vec![format!(
            "keytrail: lookup:us-west-2/EventSource=bedrock.amazonaws.com: skipped: 127.0.0.1:{port} refused the connection for cloudtrail:LookupEvents on CloudTrail in us-west-2: nothing listens there; start the server or fix the endpoint override (--endpoint-url, AWS_ENDPOINT_URL*)"
        )],
        "{err}"
    );
    assert!(!err.contains("trying again"), "{err}");
    assert!(!err.contains("AWS SDK:"), "{err}");
    assert_clean(&err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_does_not_resolve_ends_the_bucket_at_once_in_one_line() {
    let out = run_isolated(
        &[
            "scan",
            "s3://trail",
            "sample-logs/AWSLogs",
            "--force-path-style",
            "--format",
            "json",
        ],
        &env(&[("AWS_ENDPOINT_URL_S3", "http://keytrail-test.invalid:9000")]),
    )
    .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert_eq!(json_of(&out)["summary"]["api_calls"], 1, "{err}");
    let about = lines_about(&err, "s3://trail/");
    assert_eq!(about.len(), 1, "{err}");
    assert!(
        about[0].ends_with("skipped: cannot resolve keytrail-test.invalid for s3:ListBucket on arn:aws:s3:::trail: check the host name in the endpoint override (--endpoint-url, AWS_ENDPOINT_URL*, the profile) and the network's DNS"),
        "{err}"
    );
    assert_clean(&err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_answer_is_reported_after_one_call() {
    let server = lookup_server::start_failing(
        management_events(),
        vec![(400, "InvalidLookupAttributesException")],
    )
    .await;
    let out = run_isolated(
        &["events", "lookup:us-west-2"],
        &env(&[("AWS_ENDPOINT_URL_CLOUDTRAIL", &server.endpoint)]),
    )
    .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert_eq!(server.calls.lock().unwrap().len(), 1, "not retried: {err}");
    let about = lines_about(&err, "lookup:us-west-2/EventSource=bedrock.amazonaws.com");
    assert_eq!(
        about,
        vec![
            "keytrail: lookup:us-west-2/EventSource=bedrock.amazonaws.com: skipped: cloudtrail:LookupEvents on CloudTrail in us-west-2 was refused with HTTP 400 (not retried): check the input and the endpoint [InvalidLookupAttributesException: failure scripted by the test]"
        ],
        "{err}"
    );
    assert_clean(&err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_answer_is_retried_with_a_status_line_and_the_run_completes() {
    let server = lookup_server::start_failing(
        management_events(),
        vec![(500, "InternalFailure"), (502, "BadGateway")],
    )
    .await;
    let out = run_isolated(
        &["events", "lookup:us-west-2", "--format", "ndjson"],
        &env(&[("AWS_ENDPOINT_URL_CLOUDTRAIL", &server.endpoint)]),
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The same run against a server that fails nothing: the two failures cost two calls.
    let clean = lookup_server::start(management_events(), 0).await;
    let baseline = run_isolated(
        &["events", "lookup:us-west-2", "--format", "ndjson"],
        &env(&[("AWS_ENDPOINT_URL_CLOUDTRAIL", &clean.endpoint)]),
    )
    .await;
    assert_eq!(baseline.status.code(), Some(0), "{}", stderr(&baseline));
    let clean_calls = clean.calls.lock().unwrap().len();
    assert_eq!(server.calls.lock().unwrap().len(), clean_calls + 2, "{err}");
    assert_eq!(
        out.stdout, baseline.stdout,
        "the retried run read the same events"
    );
    assert!(!out.stdout.is_empty());
    // The second wait (up to 2 s, after 1 s of the first) passes the 2 s mark: a status line.
    assert!(
        err.contains(
            "keytrail: lookup:us-west-2: cloudtrail:LookupEvents HTTP 502 BadGateway (attempt 2 of 5); trying again in 2 s"
        ),
        "{err}"
    );
    assert!(
        !err.contains("(attempt 1 of 5)"),
        "the first wait is short: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_assume_role_is_asked_once_and_named_in_one_line_per_input() {
    let sts = sts_server::start_denying("111122223333").await;
    let server = lookup_server::start(management_events(), 0).await;
    let args = [
        "events",
        "lookup:us-east-1,us-west-2",
        "--role-arn",
        "arn:aws:iam::111122223333:role/Audit",
        "--external-id",
        "wrong-external-id",
    ];
    let out = run_isolated(
        &args,
        &env(&[
            ("AWS_ENDPOINT_URL_STS", &sts.endpoint),
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", &server.endpoint),
        ]),
    )
    .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    let skipped: Vec<&str> = err.lines().filter(|l| l.contains(": skipped: ")).collect();
    assert!(!skipped.is_empty(), "{err}");
    for l in &skipped {
        assert!(
            l.contains("skipped: resolving the AWS credentials failed:")
                && l.contains("not authorized to perform: sts:AssumeRole")
                && l.contains(
                    "check the profile, the role (--role-arn, its trust policy, --external-id)"
                ),
            "{l}"
        );
    }
    assert_eq!(
        sts.calls.lock().unwrap().len(),
        1,
        "AssumeRole asked once: {err}"
    );
    assert!(server.calls.lock().unwrap().is_empty(), "{err}");
    assert_clean(&err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_adds_the_sdk_text_without_secrets() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let sts = sts_server::start_denying("111122223333").await;
    for (args, extra) in [
        (
            vec!["-v", "events", "lookup:us-west-2"],
            vec![("AWS_ENDPOINT_URL_CLOUDTRAIL", url.as_str())],
        ),
        (
            vec![
                "events",
                "lookup:us-west-2",
                "--verbose",
                "--role-arn",
                "arn:aws:iam::111122223333:role/Audit",
            ],
            vec![("AWS_ENDPOINT_URL_STS", sts.endpoint.as_str())],
        ),
    ] {
        let out = run_isolated(&args, &env(&extra)).await;
        let err = stderr(&out);
        assert!(err.contains("\n    AWS SDK: "), "{args:?}: {err}");
        assert!(!err.contains(SECRET) && !err.contains(TOKEN), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_names_each_input_s_own_call_when_a_shared_endpoint_refuses() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let ep = [("AWS_ENDPOINT_URL", url.as_str())];
    let expect = |err: &str| {
        let s3 = lines_about(err, "s3://trail/");
        assert_eq!(s3.len(), 1, "{err}");
        assert!(
            s3[0].ends_with(&format!(
                "skipped: 127.0.0.1:{port} refused the connection for s3:ListBucket on arn:aws:s3:::trail: nothing listens there; start the server or fix the endpoint override (--endpoint-url, AWS_ENDPOINT_URL*)"
            )),
            "{err}"
        );
        let lookup = lines_about(err, "lookup:us-west-2/EventSource=bedrock.amazonaws.com");
        assert_eq!(lookup.len(), 1, "{err}");
        assert!(
            lookup[0].ends_with(&format!(
                "skipped: 127.0.0.1:{port} refused the connection for cloudtrail:LookupEvents on CloudTrail in us-west-2: nothing listens there; start the server or fix the endpoint override (--endpoint-url, AWS_ENDPOINT_URL*)"
            )),
            "the lookup input is told about its own call: {err}"
        );
        assert!(!err.contains("trying again"), "{err}");
        assert_clean(err);
    };
    let inputs = ["s3://trail", "lookup:us-west-2", "--force-path-style"];
    for cmd in [
        vec!["scan"],
        vec!["events"],
        vec!["keys"],
        vec!["investigate", "--access-key-id", "AKIAIOSFODNN7EXAMPLE"],
    ] {
        let args: Vec<&str> = cmd.iter().copied().chain(inputs).collect();
        let out = run_isolated(&args, &env(&ep)).await;
        let err = stderr(&out);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{args:?}: nothing was read: {err}"
        );
        expect(&err);
    }

    // The scheduled job: the same lines, one per input.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keytrail.toml");
    std::fs::write(
        &config,
        format!(
            "inputs = [\"s3://trail\", \"lookup:us-west-2\"]\nstate = \"{}\"\n[aws]\nforce_path_style = true\n[[sink]]\nkind = \"ndjson\"\npath = \"{}\"\n",
            dir.path().join("state.sqlite").display(),
            dir.path().join("findings.ndjson").display()
        ),
    )
    .unwrap();
    let out = run_isolated(
        &["run", "--config", config.to_str().unwrap(), "--init"],
        &env(&ep),
    )
    .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    expect(&err);
}

#[test]
fn an_endpoint_that_accepts_but_never_answers_gets_a_waiting_status_line() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    // Connections are accepted and held open; no byte is ever answered.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let home = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(crate::common::keytrail_exe())
        .args(["events", "lookup:us-west-2"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env(&[("AWS_ENDPOINT_URL_CLOUDTRAIL", &url)]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The status line comes after 2 s of silence; 40 s only bounds a broken build's wait.
    let want = format!(
        "keytrail: lookup:us-west-2: waiting for the endpoint {url} to answer cloudtrail:LookupEvents (2 s so far)"
    );
    let mut seen = Vec::new();
    let found = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(40)) {
            Ok(line) if line == want => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no status line {want:?} in: {seen:#?}");
    assert!(
        seen.iter()
            .all(|l| !l.contains(SECRET) && !l.contains(TOKEN))
    );
}
