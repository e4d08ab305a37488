//! Credential resolution as the AWS CLI does it, with the machine's own AWS set-up shut
//! out: static keys from the environment, a profile in a config file, and `--role-arn`
//! role assumption (with an external id) against an STS stand-in; plus `keytrail doctor`.

use crate::common;

use crate::common::lookup_server::{self, LookupServer};
use crate::common::s3_server;
use crate::common::sts_server::{self, SESSION_KEY_ID};
use crate::common::{run_isolated, stderr, stdout};

/// The access key ids that signed the LookupEvents calls.
fn signers(server: &LookupServer) -> Vec<String> {
    let mut k: Vec<String> = server
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.access_key_id.clone())
        .collect();
    k.dedup();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_environment_keys_sign_the_calls() {
    let server = lookup_server::start(Vec::new(), 0).await;
    let out = run_isolated(
        &["events", "lookup:us-west-2"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAKEYTRAILSTATIC01"),
            ("AWS_SECRET_ACCESS_KEY", "static-secret"),
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", &server.endpoint),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(signers(&server), vec!["AKIAKEYTRAILSTATIC01"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_profile_from_the_config_file_is_used() {
    let server = lookup_server::start(Vec::new(), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[default]\nregion = eu-west-1\n\n[profile audit]\nregion = us-west-2\naws_access_key_id = AKIAKEYTRAILPROFILE1\naws_secret_access_key = profile-secret\nendpoint_url = {}\n",
            server.endpoint
        ),
    )
    .unwrap();
    let out = run_isolated(
        &["events", "lookup:us-west-2", "--profile", "audit"],
        &[("AWS_CONFIG_FILE", config.to_str().unwrap())],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(signers(&server), vec!["AKIAKEYTRAILPROFILE1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_arn_assumes_the_role_with_the_external_id_and_uses_its_session() {
    let server = lookup_server::start(Vec::new(), 0).await;
    let sts = sts_server::start("111122223333").await;
    let out = run_isolated(
        &[
            "events",
            "lookup:us-east-1",
            "--role-arn",
            "arn:aws:iam::111122223333:role/Audit",
            "--external-id",
            "ext-4242",
            "--role-session-name",
            "keytrail-test",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAKEYTRAILBASE0001"),
            ("AWS_SECRET_ACCESS_KEY", "base-secret"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL_STS", &sts.endpoint),
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", &server.endpoint),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let calls = sts.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c.action, "AssumeRole");
    assert_eq!(c.signed_by, "AKIAKEYTRAILBASE0001");
    let param = |k: &str| {
        c.params
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        param("RoleArn"),
        Some("arn:aws:iam::111122223333:role/Audit")
    );
    assert_eq!(param("ExternalId"), Some("ext-4242"));
    assert_eq!(param("RoleSessionName"), Some("keytrail-test"));
    assert_eq!(signers(&server), vec![SESSION_KEY_ID]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_identity_region_and_each_permission() {
    let s3 = s3_server::start().await;
    s3.put(
        "trail",
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0000Z_x.json.gz",
        &common::gzip(br#"{"Records":[]}"#),
    );
    let server = lookup_server::start(Vec::new(), 0).await;
    let sts = sts_server::start("111122223333").await;
    let env = [
        ("AWS_ACCESS_KEY_ID", s3_server::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", s3_server::SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", server.endpoint.as_str()),
        // Wide enough that no detail wraps (the phrases below are read whole).
        ("COLUMNS", "400"),
    ];
    let out = run_isolated(
        &[
            "doctor",
            "s3://trail",
            "lookup:us-east-1",
            "s3://missing",
            "--force-path-style",
        ],
        &env,
    )
    .await;
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one check fails: {text}{}",
        stderr(&out)
    );
    assert!(
        text.contains("account 111122223333, arn:aws:iam::111122223333:user/auditor"),
        "{text}"
    );
    assert!(text.contains("AKIA…ST01"), "{text}");
    assert!(!text.contains(s3_server::ACCESS_KEY) && !text.contains(s3_server::SECRET_KEY));
    for check in [
        "s3:ListBucket",
        "s3:GetObject",
        "cloudtrail:LookupEvents",
        "identity",
        "region",
    ] {
        assert!(text.contains(check), "{check}: {text}");
    }
    assert!(text.contains("bucket missing does not exist"), "{text}");
    assert!(text.contains("1 check(s) failed"), "{text}");
}
