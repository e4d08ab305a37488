//! Remediation plans for a compromised key, following the AWS guide for compromised
//! Bedrock API keys: the exact `aws` commands and policies, filled in, printed and never
//! run. Where the logs cannot tell a value (a credential id, the role behind a session) the
//! plan says how to look it up first.

use serde::Serialize;

use super::account::KeyIdKind;
use super::token::ShortTermKey;
use crate::timefmt::format_micros;

/// The inline policy name keytrail suggests for the bearer-token deny.
pub const DENY_BEARER_POLICY: &str = "keytrail-deny-bedrock-bearer-token";

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub title: String,
    pub why: String,
    /// The command to run (AWS CLI), if the step has one.
    pub command: Option<String>,
}

/// A remediation plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub subject: String,
    pub account_id: Option<String>,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

/// What is known about a long-term key to revoke.
#[derive(Debug, Clone, Default)]
pub struct LongTermTarget {
    pub user_name: String,
    pub account_id: Option<String>,
    /// `<user>[+1]-at-<account>`, to pick the right credential when looking it up.
    pub service_user_name: Option<String>,
    /// Known from the logs, or None (must be looked up).
    pub credential_id: Option<String>,
    /// Last status the logs show, if any.
    pub status: Option<String>,
}

/// What is known about a short-term key to revoke: the decoded key, or only the access
/// key id that signed it.
#[derive(Debug, Clone)]
pub struct ShortTermTarget {
    pub access_key_id: String,
    /// The decoded key, when the token itself was given.
    pub key: Option<ShortTermKey>,
    pub account_id: Option<String>,
    /// The role (session issuer ARN) or user ARN the logs show behind the access key.
    pub signer_arn: Option<String>,
    /// Now (micros): the revocation time when the key's signing time is not known.
    pub now: i64,
}

/// The actions a Bedrock API key deny must name: Bedrock and Bedrock Mantle both accept
/// the keys, and a deny of the first alone leaves them working on Mantle.
pub const BEARER_ACTIONS: [&str; 2] = [
    "bedrock:CallWithBearerToken",
    "bedrock-mantle:CallWithBearerToken",
];

/// The policy that denies calls made with any Bedrock API key, on both planes.
pub fn deny_bearer_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyBedrockApiKeys",
            "Effect": "Deny",
            "Action": BEARER_ACTIONS,
            "Resource": "*"
        }]
    })
}

/// The policy that invalidates every session of an identity issued before `before`.
pub fn revoke_sessions_policy(before: i64) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "RevokeSessionsIssuedBefore",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": format_micros(before)}}
        }]
    })
}

/// Quotes a value for a POSIX shell.
fn sh(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-:/".contains(&b))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// The placeholder for a credential id still to be looked up.
const CREDENTIAL_PLACEHOLDER: &str = "<CREDENTIAL_ID>";

/// The plan for a long-term key: deactivate, deny, then reset or delete.
pub fn long_term(t: &LongTermTarget) -> Plan {
    let user = sh(&t.user_name);
    let id = t
        .credential_id
        .clone()
        .unwrap_or_else(|| CREDENTIAL_PLACEHOLDER.into());
    let id_arg = format!("--service-specific-credential-id {}", sh(&id));
    let mut steps = Vec::new();
    let mut notes = vec![
        "Run these with your own AWS credentials for the key's account (an admin or security role), not with a Bedrock API key: the IAM API does not accept API keys.".to_string(),
    ];
    if t.credential_id.is_none() {
        let which = t
            .service_user_name
            .as_deref()
            .map(|s| format!(" Pick the credential whose ServiceUserName is {s}."))
            .unwrap_or_default();
        steps.push(Step {
            title: "Look up the credential id first".into(),
            why: format!(
                "The logs read do not name the key's credential id (ACCA...); the commands below need it in place of {CREDENTIAL_PLACEHOLDER}.{which}"
            ),
            command: Some(format!(
                "aws iam list-service-specific-credentials --user-name {user} --service-name bedrock.amazonaws.com"
            )),
        });
    }
    steps.push(Step {
        title: "Deactivate the key now".into(),
        why: "Inactive keys are refused at once; this can be undone with --status Active."
            .into(),
        command: Some(format!(
            "aws iam update-service-specific-credential --user-name {user} {id_arg} --status Inactive"
        )),
    });
    steps.push(Step {
        title: "Deny calls with Bedrock API keys for the user".into(),
        why: "An inline deny of bedrock:CallWithBearerToken and bedrock-mantle:CallWithBearerToken stops the user's keys (both slots) on both planes, Bedrock and Bedrock Mantle, even before the credential is found.".into(),
        command: Some(format!(
            "aws iam put-user-policy --user-name {user} --policy-name {DENY_BEARER_POLICY} --policy-document {}",
            sh(&deny_bearer_policy().to_string())
        )),
    });
    steps.push(Step {
        title: "Reset the key if it must keep working".into(),
        why: "A reset gives the credential a new secret; the leaked one stops working. Hand the new key out through a secret store.".into(),
        command: Some(format!(
            "aws iam reset-service-specific-credential --user-name {user} {id_arg}"
        )),
    });
    steps.push(Step {
        title: "Or delete the key for good".into(),
        why: "Deletion cannot be undone; do it once the investigation no longer needs the key."
            .into(),
        command: Some(format!(
            "aws iam delete-service-specific-credential --user-name {user} {id_arg}"
        )),
    });
    steps.push(Step {
        title: "Check what else the user can do".into(),
        why: "A key's IAM user may have been given access keys or a console password (a phantom user); remove what is not needed.".into(),
        command: Some(format!(
            "aws iam list-access-keys --user-name {user} && aws iam get-login-profile --user-name {user} && aws iam list-attached-user-policies --user-name {user}"
        )),
    });
    if let Some(s) = &t.status {
        notes.push(format!("The logs read show the key's last status as {s}."));
    }
    Plan {
        subject: format!("long-term Bedrock API key of IAM user {}", t.user_name),
        account_id: t.account_id.clone(),
        steps,
        notes,
    }
}

/// The plan for a short-term key: revoke the signing session (or deactivate the signing
/// user's access key), and deny bearer calls for the signer.
pub fn short_term(t: &ShortTermTarget) -> Plan {
    let akid_raw = &t.access_key_id;
    let akid = sh(akid_raw);
    let region = t.key.as_ref().map_or("us-east-1", |k| k.region.as_str());
    let mut steps = Vec::new();
    let mut notes = vec![match &t.key {
        Some(k) => format!(
            "The key is valid in {} until {} at the latest; it cannot be revoked on its own, only through the credentials that signed it.",
            k.region,
            format_micros(k.expires_at())
        ),
        None => "Without the key itself its signing time is unknown: sessions issued before now are revoked.".to_string(),
    }];
    let (kind, name) = signer_identity(t.signer_arn.as_deref());
    let placeholder = match KeyIdKind::of(akid_raw) {
        KeyIdKind::UserKey => "<USER_NAME>",
        _ => "<ROLE_NAME>",
    };
    let name_arg = sh(name.as_deref().unwrap_or(placeholder));
    if name.is_none() {
        steps.push(Step {
            title: "Find the identity that signed the key".into(),
            why: format!(
                "The logs read do not show who used {akid_raw}; CloudTrail does (or `keytrail investigate ... --access-key-id {akid_raw}`). Put the name in place of {placeholder} below."
            ),
            command: Some(match KeyIdKind::of(akid_raw) {
                KeyIdKind::UserKey => {
                    format!("aws iam get-access-key-last-used --access-key-id {akid}")
                }
                _ => format!(
                    "aws cloudtrail lookup-events --region {} --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={akid} --max-results 1",
                    sh(region)
                ),
            }),
        });
    }
    match KeyIdKind::of(akid_raw) {
        KeyIdKind::UserKey => {
            steps.push(Step {
                title: "Deactivate the IAM user's access key that signed the key".into(),
                why: "The key was signed with a long-term access key, not a session: aws:TokenIssueTime does not apply, and the key works until the access key is deactivated or the 12 h run out. Rotate the access key afterwards.".into(),
                command: Some(format!(
                    "aws iam update-access-key --user-name {name_arg} --access-key-id {akid} --status Inactive"
                )),
            });
            steps.push(deny_step("user", &name_arg));
        }
        _ => {
            let signed = t.key.as_ref().map(|k| k.issued_at);
            let before = signed.map_or(t.now, |s| s + 1_000_000);
            let when = match signed {
                Some(s) => format!(
                    "{} (one second after the key was signed at {})",
                    format_micros(before),
                    format_micros(s)
                ),
                None => format!("{} (now)", format_micros(before)),
            };
            let verb = if kind == "user" {
                "put-user-policy --user-name"
            } else {
                "put-role-policy --role-name"
            };
            steps.push(Step {
                title: "Invalidate the sessions that signed the key".into(),
                why: format!(
                    "Denies every action to sessions of this identity issued before {when}, so the session behind the key and the key itself stop working; sessions issued later are unaffected."
                ),
                command: Some(format!(
                    "aws iam {verb} {name_arg} --policy-name keytrail-revoke-sessions-{} --policy-document {}",
                    chrono::DateTime::from_timestamp_micros(before)
                        .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
                        .unwrap_or_default(),
                    sh(&revoke_sessions_policy(before).to_string())
                )),
            });
            steps.push(deny_step(kind, &name_arg));
        }
    }
    if t.key.as_ref().is_some_and(|k| k.session_token) {
        notes.push("The key embeds a session token: the session credentials themselves leaked with it, so revoke the session even if the key has expired.".into());
    }
    Plan {
        subject: match &t.key {
            Some(k) => format!(
                "short-term Bedrock API key signed by {akid_raw} in {}",
                k.region
            ),
            None => format!("short-term Bedrock API keys signed by {akid_raw}"),
        },
        account_id: t.account_id.clone(),
        steps,
        notes,
    }
}

/// The deny of bearer calls for a role or user.
fn deny_step(kind: &str, name_arg: &str) -> Step {
    let verb = if kind == "user" {
        "put-user-policy --user-name"
    } else {
        "put-role-policy --role-name"
    };
    Step {
        title: format!("Deny calls with Bedrock API keys for the {kind}"),
        why: format!(
            "Stops every Bedrock API key this {kind} signs, old or new, on Bedrock and on Bedrock Mantle (bedrock:CallWithBearerToken and bedrock-mantle:CallWithBearerToken), until the policy is removed."
        ),
        command: Some(format!(
            "aws iam {verb} {name_arg} --policy-name {DENY_BEARER_POLICY} --policy-document {}",
            sh(&deny_bearer_policy().to_string())
        )),
    }
}

/// `("role", name)` for a role or assumed-role ARN, `("user", name)` for a user ARN.
fn signer_identity(arn: Option<&str>) -> (&'static str, Option<String>) {
    let Some(arn) = arn else {
        return ("role", None);
    };
    let last = |rest: &str| rest.rsplit('/').next().map(str::to_string);
    if let Some((_, rest)) = arn.split_once(":role/") {
        return ("role", last(rest));
    }
    if let Some((_, rest)) = arn.split_once(":assumed-role/") {
        return ("role", rest.split('/').next().map(str::to_string));
    }
    if let Some((_, rest)) = arn.split_once(":user/") {
        return ("user", last(rest));
    }
    ("role", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(akid: &str) -> ShortTermKey {
        ShortTermKey {
            product: super::super::token::Product::Bedrock,
            access_key_id: akid.into(),
            region: "us-east-1".into(),
            service: "bedrock".into(),
            issued_at: 1_795_000_000_000_000,
            expires_param: Some(43_200),
            session_token: true,
            truncation_hint: None,
        }
    }

    #[test]
    fn an_unknown_credential_id_is_looked_up_first() {
        let p = long_term(&LongTermTarget {
            user_name: "BedrockAPIKey-x7k2".into(),
            service_user_name: Some("BedrockAPIKey-x7k2-at-111122223333".into()),
            ..LongTermTarget::default()
        });
        assert_eq!(p.steps[0].title, "Look up the credential id first");
        assert!(
            p.steps[1]
                .command
                .as_deref()
                .unwrap()
                .contains("<CREDENTIAL_ID>")
        );
    }

    #[test]
    fn a_session_signed_key_gets_a_token_issue_time_policy_for_its_role() {
        let p = short_term(&ShortTermTarget {
            access_key_id: "ASIAQNZGKIQY56JQ7WML".into(),
            key: Some(key("ASIAQNZGKIQY56JQ7WML")),
            account_id: None,
            signer_arn: Some("arn:aws:iam::111122223333:role/app/bedrock-app-role".into()),
            now: 0,
        });
        let cmd = p.steps[0].command.clone().unwrap();
        assert!(
            cmd.starts_with("aws iam put-role-policy --role-name bedrock-app-role"),
            "{cmd}"
        );
        assert!(cmd.contains("aws:TokenIssueTime"), "{cmd}");
        assert!(cmd.contains(&format_micros(1_795_000_001_000_000)), "{cmd}");
    }

    #[test]
    fn a_user_key_signed_key_gets_the_access_key_deactivated() {
        let p = short_term(&ShortTermTarget {
            access_key_id: "AKIAQNZGKIQY56JQ7WML".into(),
            key: Some(key("AKIAQNZGKIQY56JQ7WML")),
            account_id: None,
            signer_arn: None,
            now: 0,
        });
        assert!(
            p.steps[0]
                .command
                .as_deref()
                .unwrap()
                .contains("get-access-key-last-used")
        );
        assert!(
            p.steps[1]
                .command
                .as_deref()
                .unwrap()
                .contains("update-access-key")
        );
    }

    #[test]
    fn every_deny_names_both_planes() {
        let lt = long_term(&LongTermTarget {
            user_name: "BedrockAPIKey-x7k2".into(),
            credential_id: Some("ACCAX".into()),
            ..LongTermTarget::default()
        });
        let st = short_term(&ShortTermTarget {
            access_key_id: "ASIAQNZGKIQY56JQ7WML".into(),
            key: Some(key("ASIAQNZGKIQY56JQ7WML")),
            account_id: None,
            signer_arn: Some("arn:aws:iam::111122223333:role/app".into()),
            now: 0,
        });
        let denies: Vec<String> = lt
            .steps
            .iter()
            .chain(&st.steps)
            .filter_map(|s| s.command.clone())
            .filter(|c| c.contains(DENY_BEARER_POLICY))
            .collect();
        assert_eq!(denies.len(), 2);
        for d in denies {
            for action in BEARER_ACTIONS {
                assert!(d.contains(action), "{d}");
            }
        }
    }

    #[test]
    fn shell_values_are_quoted() {
        assert_eq!(sh("BedrockAPIKey-x7k2"), "BedrockAPIKey-x7k2");
        assert_eq!(sh("{\"a\":1}"), "'{\"a\":1}'");
        assert_eq!(sh("it's"), "'it'\\''s'");
    }
}
