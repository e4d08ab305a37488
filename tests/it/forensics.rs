//! Key forensics end to end: `decode` on keys built in the tests (long-term from known
//! fields, short-term SigV4-presigned), keys inside text, malformed and truncated keys;
//! `keys`, `investigate` and `remediate` on sample-logs with exact expected rows; and no
//! output ever holding a secret, a signature or a session token.

use std::collections::BTreeSet;

use crate::common::schema::EventRow;
use crate::common::tokens::{self, at};
use crate::common::{keytrail, keytrail_stdin, stderr, stdout};
use keytrail::output::forensics::DecodeReport;
use keytrail::pipeline::Summary;
use serde::Deserialize;

/// A long-term key row of `keys --format json`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KeyRow {
    credential_id: Option<String>,
    user_name: String,
    account_id: Option<String>,
    service_user_name: Option<String>,
    created_at: Option<String>,
    created_by: Option<String>,
    expires: Option<String>,
    status: String,
    status_since: Option<String>,
    last_reset: Option<String>,
    calls_ok: u64,
    calls_denied: u64,
    first_use: Option<String>,
    last_use: Option<String>,
    regions: Vec<String>,
    models: Vec<String>,
    source_ips: Vec<String>,
    user_agents: Vec<String>,
    use_attribution: String,
}

/// A short-term signer row of `keys --format json`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SignerRow {
    signer: String,
    identity_type: Option<String>,
    account_id: Option<String>,
    access_key_ids: Vec<String>,
    calls_ok: u64,
    calls_denied: u64,
    first_use: Option<String>,
    last_use: Option<String>,
    regions: Vec<String>,
    models: Vec<String>,
    source_ips: Vec<String>,
    user_agents: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KeysDoc {
    schema_version: u32,
    long_term: Vec<KeyRow>,
    short_term: Vec<SignerRow>,
    summary: Summary,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TimelineSummary {
    events: u64,
    first_event: Option<String>,
    last_event: Option<String>,
    first_use: Option<String>,
    last_use: Option<String>,
    bearer_calls_ok: u64,
    bearer_calls_denied: u64,
    outside_bedrock: u64,
    errors: u64,
    regions: Vec<String>,
    source_ips: Vec<String>,
    user_agents: Vec<String>,
    event_names: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RuleHit {
    rule_id: String,
    severity: String,
    title: String,
    finding_id: String,
    events_in_timeline: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct InvestigationDoc {
    schema_version: u32,
    subject: String,
    token: Option<keytrail::keys::report::TokenReport>,
    keys: Vec<KeyRow>,
    signers: Vec<SignerRow>,
    summary: TimelineSummary,
    rules_fired: Vec<RuleHit>,
    notes: Vec<String>,
    timeline: Vec<EventRow>,
}

/// Parses JSON stdout into `T`, showing stderr when it fails.
fn parse<T: serde::de::DeserializeOwned>(o: &std::process::Output) -> T {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}; exit {:?}\nstdout: {}\nstderr: {}",
            o.status.code(),
            stdout(o),
            stderr(o)
        )
    })
}

/// The long-term key of the phantom user in sample-logs.
fn q9zp() -> (String, String) {
    tokens::long_term("BedrockAPIKey-q9zp-at-111122223333", 3)
}

/// A short-term key signed with bedrock-app-role's session key seen in sample-logs.
fn app_role_key() -> tokens::ShortTerm {
    tokens::short_term(
        "ASIAP6O2ZSITVS2ET91K",
        true,
        "us-east-1",
        at("2026-11-18T08:55:00Z"),
        43_200,
    )
}

#[test]
fn decode_reads_a_long_term_key_built_from_known_fields() {
    let (token, secret) = tokens::long_term("BedrockAPIKey-x7k2+1-at-111122223333", 1);
    let o = keytrail(&["decode", "--format", "json", &token]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: DecodeReport = parse(&o);
    assert!(r.problems.is_empty());
    let t = &r.tokens[0];
    assert_eq!(t.kind, "long_term");
    assert_eq!(t.user_name.as_deref(), Some("BedrockAPIKey-x7k2"));
    assert_eq!(t.key_slot.as_deref(), Some("secondary"));
    assert_eq!(t.account_id.as_deref(), Some("111122223333"));
    assert_eq!(t.account_basis.as_deref(), Some("token"));
    assert_eq!(
        t.service_user_name.as_deref(),
        Some("BedrockAPIKey-x7k2+1-at-111122223333")
    );
    assert_eq!(t.secret_length, Some(44));
    assert_eq!(t.length, token.len());
    assert_eq!(t.fingerprint, keytrail::keys::token::fingerprint(&token));
    assert!(!stdout(&o).contains(&secret));
}

#[test]
fn decode_reads_a_sigv4_presigned_short_term_key() {
    let k = tokens::short_term(
        "ASIAQNZGKIQY56JQ7WML",
        true,
        "eu-central-1",
        at("2026-11-18T08:55:00Z"),
        86_400,
    );
    let o = keytrail(&["decode", "--format", "json", &k.token]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: DecodeReport = parse(&o);
    let t = &r.tokens[0];
    assert_eq!(t.kind, "short_term");
    assert_eq!(t.access_key_id.as_deref(), Some("ASIAQNZGKIQY56JQ7WML"));
    assert!(t.signer.as_deref().unwrap().contains("STS session"));
    assert_eq!(t.account_id.as_deref(), Some("029608264753"));
    assert_eq!(t.account_basis.as_deref(), Some("access_key_id"));
    assert_eq!(t.region.as_deref(), Some("eu-central-1"));
    assert_eq!(t.issued_at.as_deref(), Some("2026-11-18T08:55:00Z"));
    assert_eq!(
        t.lifetime_seconds,
        Some(43_200),
        "X-Amz-Expires is capped at 12 h"
    );
    assert_eq!(t.expires_at.as_deref(), Some("2026-11-18T20:55:00Z"));
    assert_eq!(t.expired, Some(true));
    assert_eq!(t.session_token_present, Some(true));

    // Signed a minute ago with an IAM user's own key: not expired, no session token.
    let fresh = tokens::short_term(
        "AKIAQNZGKIQY56JQ7WML",
        false,
        "us-west-2",
        std::time::SystemTime::now() - std::time::Duration::from_secs(60),
        3600,
    );
    let r: DecodeReport = parse(&keytrail(&["decode", "-f", "json", &fresh.token]));
    let t = &r.tokens[0];
    assert_eq!(t.expired, Some(false));
    assert_eq!(t.session_token_present, Some(false));
    assert_eq!(t.lifetime_seconds, Some(3600));
    assert!(t.signer.as_deref().unwrap().contains("IAM user's own"));
}

#[test]
fn decode_finds_keys_inside_text_from_files_and_stdin() {
    let (lt, _) = q9zp();
    let st = app_role_key();
    let text = format!(
        "# app config\nAWS_BEARER_TOKEN_BEDROCK={lt}\n2026-11-19 WARN retry with header Authorization: Bearer {} failed\nnot a key: ABSKILL\n",
        st.token
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leak.env");
    std::fs::write(&file, &text).unwrap();
    let o = keytrail(&["decode", "--file", file.to_str().unwrap(), "-f", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: DecodeReport = parse(&o);
    let kinds: Vec<&str> = r.tokens.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["long_term", "short_term"]);

    let o = keytrail_stdin(&["decode", "-f", "ndjson"], &text);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2);
    let o = keytrail_stdin(&["decode"], &text);
    let out = stdout(&o);
    assert!(out.contains("Key 1 of 2: Amazon Bedrock API key"), "{out}");
    assert!(out.contains("BedrockAPIKey-q9zp"), "{out}");
}

#[test]
fn malformed_and_truncated_keys_get_a_message_that_says_what_is_wrong() {
    let (lt, _) = q9zp();
    let st = app_role_key();
    let cut_short = &st.token[..st.token.len() * 2 / 3];
    let cases: Vec<(String, &str)> = vec![
        (lt[..50].to_string(), "truncated"),
        (format!("{}#", &lt[..60]), "truncated"),
        (cut_short.to_string(), "truncated"),
        ("ABSK@@@@".to_string(), "not valid base64"),
        (
            "bedrock-api-key-".to_string(),
            "nothing after the bedrock-api-key- prefix",
        ),
        (
            "sk-ant-api03-not-a-bedrock-key".to_string(),
            "not a Bedrock API key",
        ),
    ];
    for (bad, why) in &cases {
        let o = keytrail(&["decode", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(why), "{bad}: {err}");
    }
    // One good key and one bad: the good one is printed, the exit code says partial (3).
    let o = keytrail(&["decode", "-f", "json", &lt, &st.token[..200]]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let r: DecodeReport = parse(&o);
    assert_eq!((r.tokens.len(), r.problems.len()), (1, 1));
    assert_eq!(r.problems[0].input, "argument 2");
}

#[test]
fn claude_platform_keys_are_recognized_and_labelled() {
    let secret = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([9u8; 44])
    };
    let ident = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(format!("claude-dev-at-444455556666:{secret}"))
    };
    let o = keytrail(&["decode", "-f", "json", &format!("AEAA{ident}")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: DecodeReport = parse(&o);
    assert_eq!(
        serde_json::to_value(r.tokens[0].product).unwrap(),
        "claude_platform"
    );
    let table = stdout(&keytrail(&["decode", &format!("AEAA{ident}")]));
    assert!(
        table.contains("Claude Platform on AWS key (not a Bedrock key)"),
        "{table}"
    );
}

/// `keys sample-logs --format json`, with extra arguments.
fn keys_json(extra: &[&str]) -> KeysDoc {
    let mut args = vec!["keys", "sample-logs", "--format", "json"];
    args.extend_from_slice(extra);
    let o = keytrail(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    parse(&o)
}

/// Strings from literals.
fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn keys_rebuilds_every_long_term_key_with_state_and_use() {
    let doc = keys_json(&[]);
    assert_eq!(doc.schema_version, 1);
    assert_eq!(doc.summary.events_kept, 216);
    let ids: Vec<Option<&str>> = doc
        .long_term
        .iter()
        .map(|k| k.credential_id.as_deref())
        .collect();
    assert_eq!(
        ids,
        [
            Some("ACCAMS25GXRJWBF2AK26V"),
            Some("ACCAEXAMPLEQ4RTV9X7K2"),
            Some("ACCA1DPQS5HNQNPP3Z5PF"),
            None,
            Some("ACCABHDIGQELR18TP6GA6")
        ]
    );
    // A key in use whose creation is before the logs: known by its user, state unknown.
    let leaked = &doc.long_term[3];
    assert_eq!(leaked.user_name, "svc-summarizer");
    assert_eq!(leaked.status, "unknown");
    assert!(leaked.created_at.is_none() && leaked.calls_ok > 0);
    let ci = &doc.long_term[0];
    assert_eq!(ci.user_name, "ci-bot");
    assert_eq!(ci.created_at.as_deref(), Some("2026-11-16T14:05:12Z"));
    assert_eq!(
        ci.created_by.as_deref(),
        Some("arn:aws:iam::111122223333:user/ci-bot")
    );
    assert_eq!(ci.expires.as_deref(), Some("never"));
    assert_eq!(ci.status, "Deleted");
    assert_eq!(ci.status_since.as_deref(), Some("2026-11-20T10:00:00Z"));
    assert!(ci.last_reset.as_deref().unwrap().starts_with("2026-11-18T"));
    assert_eq!((ci.calls_ok, ci.calls_denied), (5, 0));
    assert_eq!(ci.first_use.as_deref(), Some("2026-11-16T14:20:41Z"));
    assert_eq!(ci.last_use.as_deref(), Some("2026-11-20T11:00:00Z"));
    assert_eq!(ci.regions, v(&["us-east-1"]));
    assert_eq!(ci.source_ips, v(&["192.0.2.10"]));
    assert_eq!(
        ci.models,
        v(&[
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0"
        ])
    );

    let x7 = &doc.long_term[1];
    assert_eq!(x7.user_name, "BedrockAPIKey-x7k2");
    assert_eq!(
        x7.service_user_name.as_deref(),
        Some("BedrockAPIKey-x7k2-at-111122223333")
    );
    assert_eq!(
        x7.created_by.as_deref(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    assert_eq!(x7.created_at.as_deref(), Some("2026-11-17T09:14:03Z"));
    assert_eq!(x7.status, "Inactive");
    assert_eq!(x7.status_since.as_deref(), Some("2026-11-19T14:00:00Z"));
    assert_eq!((x7.calls_ok, x7.calls_denied), (11, 3));
    assert_eq!(x7.regions, v(&["us-east-1", "us-west-2"]));
    assert_eq!(x7.source_ips, v(&["198.51.100.23", "203.0.113.45"]));
    assert_eq!(x7.first_use.as_deref(), Some("2026-11-17T09:30:12Z"));
    assert_eq!(x7.last_use.as_deref(), Some("2026-11-20T03:10:09Z"));
    assert!(x7.user_agents.iter().any(|u| u.starts_with("curl/8.5.0")));
    assert_eq!(x7.use_attribution, "user");

    let q9 = &doc.long_term[2];
    assert_eq!(q9.user_name, "BedrockAPIKey-q9zp");
    assert_eq!(q9.status, "Active");
    assert_eq!((q9.calls_ok, q9.calls_denied), (3, 0));
    assert_eq!(q9.regions, v(&["eu-central-1"]));
    assert!(q9.expires.as_deref().unwrap().starts_with("2027-11-18"));

    let m3 = &doc.long_term[4];
    assert_eq!(m3.account_id.as_deref(), Some("444455556666"));
    assert_eq!(m3.user_name, "BedrockAPIKey-m3n4");
    assert_eq!((m3.calls_ok, m3.calls_denied), (5, 1));
    assert_eq!(m3.regions, v(&["eu-central-1", "us-east-1"]));
    assert_eq!(m3.first_use.as_deref(), Some("2026-11-19T13:45:02Z"));
    assert_eq!(m3.last_use.as_deref(), Some("2026-11-20T09:21:37Z"));

    let signers: Vec<(&str, u64, u64, usize)> = doc
        .short_term
        .iter()
        .map(|s| {
            (
                s.signer.as_str(),
                s.calls_ok,
                s.calls_denied,
                s.access_key_ids.len(),
            )
        })
        .collect();
    assert_eq!(
        signers,
        [
            ("arn:aws:iam::111122223333:role/bedrock-app-role", 7, 1, 2),
            ("arn:aws:iam::111122223333:role/data-science", 3, 0, 1),
            ("arn:aws:iam::444455556666:role/support-bot-role", 3, 0, 2),
        ]
    );
    let app = &doc.short_term[0];
    assert_eq!(app.regions, v(&["eu-central-1", "us-east-1"]));
    assert_eq!(app.source_ips, v(&["192.0.2.50", "192.0.2.51"]));
    assert_eq!(app.first_use.as_deref(), Some("2026-11-18T09:01:22Z"));
    assert_eq!(app.last_use.as_deref(), Some("2026-11-19T09:20:05Z"));
}

#[test]
fn keys_whose_creation_is_outside_the_window_still_appear_as_created_unknown() {
    let doc = keys_json(&["--since", "2026-11-18"]);
    let x7 = doc
        .long_term
        .iter()
        .find(|k| k.user_name == "BedrockAPIKey-x7k2")
        .expect("x7k2 is used in the window");
    assert_eq!(x7.credential_id.as_deref(), Some("ACCAEXAMPLEQ4RTV9X7K2"));
    assert_eq!(x7.created_at, None);
    assert_eq!(x7.expires, None);
    assert_eq!(x7.status, "Inactive");
    let ci = doc
        .long_term
        .iter()
        .find(|k| k.user_name == "ci-bot")
        .unwrap();
    assert_eq!(ci.created_at, None);
    assert_eq!(ci.status, "Deleted");
    // The table says so in words.
    let o = keytrail(&["keys", "sample-logs", "--since", "2026-11-18"]);
    assert!(stdout(&o).contains("unknown"), "{}", stdout(&o));
}

#[test]
fn investigate_a_leaked_long_term_key_shows_the_phantom_users_actions() {
    let (token, _) = q9zp();
    let o = keytrail(&[
        "investigate",
        "sample-logs",
        "--token",
        &token,
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: InvestigationDoc = parse(&o);
    assert_eq!(doc.schema_version, 1);
    assert!(
        doc.subject.contains("BedrockAPIKey-q9zp"),
        "{}",
        doc.subject
    );
    assert_eq!(
        doc.token.as_ref().unwrap().user_name.as_deref(),
        Some("BedrockAPIKey-q9zp")
    );
    assert_eq!(doc.keys.len(), 1);
    assert_eq!(
        doc.keys[0].credential_id.as_deref(),
        Some("ACCA1DPQS5HNQNPP3Z5PF")
    );
    assert_eq!(
        doc.keys[0].created_by.as_deref(),
        Some("arn:aws:iam::111122223333:user/mallory")
    );
    let names: BTreeSet<&str> = doc
        .timeline
        .iter()
        .filter_map(|e| e.event_name.as_deref())
        .collect();
    for n in [
        "CreateUser",
        "CreateServiceSpecificCredential",
        "CreateLoginProfile",
        "CreateAccessKey",
    ] {
        assert!(names.contains(n), "{n} missing from {names:?}");
    }
    assert_eq!(doc.summary.bearer_calls_ok, 3);
    assert_eq!(doc.summary.bearer_calls_denied, 0);
    assert!(
        doc.summary.outside_bedrock >= 1,
        "CreateAccessKey is outside Bedrock"
    );
    let rules: BTreeSet<&str> = doc.rules_fired.iter().map(|r| r.rule_id.as_str()).collect();
    for r in [
        "long_term_key_created",
        "key_without_short_expiry",
        "long_term_key_use",
    ] {
        assert!(rules.contains(r), "{r} not in {rules:?}");
    }
    // Every timeline event belongs to the user, in time order.
    let times: Vec<&str> = doc
        .timeline
        .iter()
        .map(|e| e.event_time.as_deref().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert!(doc.timeline.iter().all(|e| {
        e.user_name.as_deref() == Some("BedrockAPIKey-q9zp")
            || e.target_user.as_deref() == Some("BedrockAPIKey-q9zp")
    }));
}

#[test]
fn investigate_a_short_term_key_follows_its_signing_access_key() {
    let k = app_role_key();
    let o = keytrail_stdin(
        &["investigate", "sample-logs", "--token", "-", "-f", "json"],
        &k.token,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: InvestigationDoc = parse(&o);
    assert_eq!(doc.timeline.len(), 5);
    assert!(
        doc.timeline
            .iter()
            .all(|e| e.access_key_id.as_deref() == Some("ASIAP6O2ZSITVS2ET91K"))
    );
    assert_eq!(doc.signers.len(), 1);
    assert_eq!(
        doc.signers[0].signer,
        "arn:aws:iam::111122223333:role/bedrock-app-role"
    );
    assert!(
        doc.rules_fired
            .iter()
            .any(|r| r.rule_id == "short_term_key_use")
    );
}

#[test]
fn investigate_by_user_access_key_credential_and_ip_agree_with_the_logs() {
    let ndjson = |flag: &str, value: &str| -> Vec<EventRow> {
        let o = keytrail(&["investigate", "sample-logs", flag, value, "-f", "ndjson"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // ci-bot: its own calls (bearer and background) and the changes made to its key.
    let by_user = ndjson("--user", "ci-bot");
    assert!(
        by_user
            .iter()
            .any(|e| e.activity.as_deref() == Some("key_deleted"))
    );
    assert!(by_user.iter().any(
        |e| !e.event_source.as_deref().unwrap().starts_with("bedrock")
            && e.user_name.as_deref() == Some("ci-bot")
    ));
    let by_cred = ndjson("--credential-id", "ACCAMS25GXRJWBF2AK26V");
    assert_eq!(
        by_cred.len(),
        by_user.len(),
        "the credential brings in its user"
    );
    let by_key = ndjson("--access-key-id", "AKIAWJQ5YHKZ6T5NV9AY");
    assert_eq!(by_key.len(), 21);
    let by_ip = ndjson("--source-ip", "203.0.113.77");
    assert!(!by_ip.is_empty());
    assert!(
        by_ip
            .iter()
            .all(|e| e.source_ip.as_deref() == Some("203.0.113.77"))
    );
    // The table view has the header, rules and the timeline.
    let o = keytrail(&["investigate", "sample-logs", "--user", "BedrockAPIKey-x7k2"]);
    let out = stdout(&o);
    assert!(
        out.contains("Investigation: IAM user BedrockAPIKey-x7k2"),
        "{out}"
    );
    assert!(out.contains("key_used_after_revocation"), "{out}");
    assert!(out.contains("Inactive"), "{out}");
}

#[test]
fn remediate_fills_in_the_credential_id_from_the_logs_or_says_to_look_it_up() {
    let (token, _) = q9zp();
    let o = keytrail(&["remediate", "--token", &token, "sample-logs"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(
        "aws iam update-service-specific-credential --user-name BedrockAPIKey-q9zp --service-specific-credential-id ACCA1DPQS5HNQNPP3Z5PF --status Inactive"
    ), "{out}");
    assert!(out.contains("aws iam reset-service-specific-credential --user-name BedrockAPIKey-q9zp --service-specific-credential-id ACCA1DPQS5HNQNPP3Z5PF"), "{out}");
    assert!(out.contains("aws iam delete-service-specific-credential --user-name BedrockAPIKey-q9zp --service-specific-credential-id ACCA1DPQS5HNQNPP3Z5PF"), "{out}");
    assert!(
        out.contains("aws iam put-user-policy --user-name BedrockAPIKey-q9zp"),
        "{out}"
    );
    assert!(out.contains("bedrock:CallWithBearerToken"), "{out}");
    assert!(!out.contains("list-service-specific-credentials"), "{out}");

    // Without logs the credential id must be looked up first.
    let o = keytrail(&["remediate", "--token", &token, "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let first = plan["steps"][0]["command"].as_str().unwrap();
    assert_eq!(
        first,
        "aws iam list-service-specific-credentials --user-name BedrockAPIKey-q9zp --service-name bedrock.amazonaws.com"
    );
    assert!(
        plan["steps"][1]["command"]
            .as_str()
            .unwrap()
            .contains("<CREDENTIAL_ID>")
    );
}

#[test]
fn remediate_a_short_term_key_revokes_the_signing_roles_sessions_from_the_right_time() {
    let k = app_role_key();
    let o = keytrail_stdin(
        &["remediate", "--token", "-", "sample-logs", "-f", "json"],
        &k.token,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let revoke = plan["steps"][0]["command"].as_str().unwrap();
    assert!(
        revoke.starts_with("aws iam put-role-policy --role-name bedrock-app-role --policy-name keytrail-revoke-sessions-20261118T085501Z"),
        "{revoke}"
    );
    assert!(
        revoke.contains(r#""aws:TokenIssueTime":"2026-11-18T08:55:01Z""#),
        "{revoke}"
    );
    let deny = plan["steps"][1]["command"].as_str().unwrap();
    assert!(deny.contains("--role-name bedrock-app-role"), "{deny}");
    assert!(deny.contains("bedrock:CallWithBearerToken"), "{deny}");
}

#[test]
fn no_output_ever_contains_a_secret_a_signature_or_a_session_token() {
    let (lt, secret) = q9zp();
    let st = app_role_key();
    let forbidden: Vec<(&str, String)> = vec![
        ("long-term key", lt.clone()),
        ("long-term secret", secret.clone()),
        ("long-term key body", lt[40..].to_string()),
        ("short-term key", st.token.clone()),
        ("short-term key body", st.token[60..].to_string()),
        ("signature", st.signature.clone()),
        ("session token", st.session_token.clone().unwrap()),
        (
            "session token (url-encoded)",
            st.session_token
                .clone()
                .unwrap()
                .replace('+', "%2B")
                .replace('/', "%2F"),
        ),
    ];
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!("k1={lt}\nk2={}\nk3={}\n", st.token, &st.token[..300]),
    )
    .unwrap();
    let f = file.path().to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["decode", &lt, &st.token],
        vec!["decode", "-f", "json", &lt, &st.token],
        vec!["decode", "-f", "ndjson", "--file", f],
        vec!["decode", "-f", "json", "--file", f],
        vec!["investigate", "sample-logs", "--token", &lt],
        vec!["investigate", "sample-logs", "--token", &lt, "-f", "json"],
        vec![
            "investigate",
            "sample-logs",
            "--token",
            &st.token,
            "-f",
            "json",
        ],
        vec![
            "investigate",
            "sample-logs",
            "--token-file",
            f,
            "-f",
            "ndjson",
        ],
        vec!["remediate", "--token", &lt, "sample-logs"],
        vec!["remediate", "--token", &st.token, "-f", "json"],
        vec!["decode", &lt[..70]],
        vec!["decode", &st.token[..st.token.len() - 30]],
    ];
    for args in runs {
        let o = keytrail(&args);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.is_empty());
        for (what, s) in &forbidden {
            assert!(
                !all.contains(s.as_str()),
                "{what} printed by `keytrail {}`",
                args.iter()
                    .map(|a| &a[..a.len().min(24)])
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
}
