//! "Nothing read" is never "clean" (issue 12): no input to read, every input failed, or an
//! empty time window is exit code 2 with a message that says why, for every command and
//! format; partial reads stay exit code 3.

use crate::common::{keytrail, keytrail_isolated, stderr, stdout};

/// A valid CloudTrail delivery file with one Bedrock event.
const GOOD: &str = r#"{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/BedrockAPIKey-ab12","accountId":"111122223333","userName":"BedrockAPIKey-ab12"},"eventTime":"2026-11-18T10:00:00Z","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.5","requestParameters":{"modelId":"amazon.nova-pro-v1:0"},"additionalEventData":{"callWithBearerToken":true},"eventID":"e-1","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}]}"#;

/// Asserts exit code 2, nothing on stdout, and a reason containing `why` on stderr.
fn refused(args: &[&str], why: &str) {
    let o = keytrail(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    assert!(
        stderr(&o).contains(why),
        "{args:?}: expected {why:?} in:\n{}",
        stderr(&o)
    );
    assert!(
        !stdout(&o).contains("No findings"),
        "{args:?}: {}",
        stdout(&o)
    );
}

#[test]
fn an_empty_folder_is_refused_for_every_command_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_str().unwrap();
    for format in ["table", "json", "ndjson", "csv"] {
        refused(&["scan", p, "--format", format], "nothing was read from");
    }
    refused(&["events", p], "no input to read");
    refused(&["keys", p, "--format", "json"], "no input to read");
    refused(
        &["query", p, "--sql", "SELECT * FROM events"],
        "no input to read",
    );
    refused(&["investigate", p, "--user", "x"], "no input to read");
}

#[test]
fn a_folder_of_logs_with_other_names_is_read_when_cloudtrail_and_passed_over_otherwise() {
    // CloudTrail saved as .log/.txt (a SIEM export) inside a folder is read.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trail.log"), GOOD).unwrap();
    std::fs::write(dir.path().join("trail.txt"), GOOD.replace("e-1", "e-2")).unwrap();
    let o = keytrail(&["scan", dir.path().to_str().unwrap(), "-f", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("long_term_key_use"), "{}", stdout(&o));
    // Other text under those names is passed over, and a run that read nothing says why.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("app.log"), "GET / 200\n").unwrap();
    std::fs::write(other.path().join("notes.md"), "# notes\n").unwrap();
    refused(
        &["scan", other.path().to_str().unwrap()],
        "files passed over: not CloudTrail JSON (a .log, .txt or extensionless file)",
    );
    refused(
        &["scan", other.path().to_str().unwrap()],
        "1 files passed over by name",
    );
    // Named explicitly, a CloudTrail file is read whatever its name.
    let o = keytrail(&[
        "scan",
        dir.path().join("trail.log").to_str().unwrap(),
        "-f",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn every_input_failing_is_refused_and_one_failing_is_partial() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), b"hello, world\n").unwrap();
    std::fs::write(dir.path().join("b.json.gz"), [0x1f, 0x8b, 8, 0, 0]).unwrap();
    refused(
        &["scan", dir.path().to_str().unwrap()],
        "all 2 inputs failed",
    );
    std::fs::write(dir.path().join("c.json"), GOOD).unwrap();
    let o = keytrail(&["scan", dir.path().to_str().unwrap(), "-f", "json"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "partial, not fatal: {}",
        stderr(&o)
    );
}

#[test]
fn an_inverted_or_empty_time_window_is_an_error() {
    refused(
        &[
            "scan",
            "sample-logs",
            "--since",
            "2026-11-20",
            "--until",
            "2026-11-19",
        ],
        "the time window is empty",
    );
    refused(
        &[
            "events",
            "sample-logs",
            "--since",
            "2026-11-19",
            "--until",
            "2026-11-19",
        ],
        "is not before --until",
    );
}

#[test]
fn an_s3_input_that_cannot_be_reached_is_refused_not_clean() {
    // A closed port on loopback: the listing fails after the SDK's retries.
    let o = keytrail_isolated(
        &[
            "scan",
            "s3://trail-bucket",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--force-path-style",
            "--region",
            "us-east-1",
            "--format",
            "json",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nothing could be read"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}
