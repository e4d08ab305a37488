//! An STS stand-in (AWS query protocol, XML answers) for AssumeRole and GetCallerIdentity.
//! It hands out fixed session credentials (or, started with [`start_denying`], refuses
//! AssumeRole as IAM does) and records who asked for what.

use std::sync::{Arc, Mutex};

use super::http::{Req, respond, serve, sigv4_scope};

/// The session credentials AssumeRole returns.
pub const SESSION_KEY_ID: &str = "ASIAKEYTRAILSESSION1";
pub const SESSION_SECRET: &str = "keytrail-session-secret-0000000000000000";
pub const SESSION_TOKEN: &str = "keytrail-session-token-FwoGZXIvYXdzEXAMPLE";

/// One STS call: the action, its form parameters, and the key that signed it.
#[derive(Debug, Clone)]
pub struct StsCall {
    pub action: String,
    pub params: Vec<(String, String)>,
    pub signed_by: String,
}

/// The running server.
pub struct StsServer {
    pub endpoint: String,
    pub calls: Arc<Mutex<Vec<StsCall>>>,
}

/// Starts the server; identities are reported in `account`.
pub async fn start(account: &'static str) -> StsServer {
    start_with(account, false).await
}

/// Starts a server that answers every AssumeRole with 403 AccessDenied (the caller is not
/// allowed to assume the role, or the external id is wrong).
pub async fn start_denying(account: &'static str) -> StsServer {
    start_with(account, true).await
}

/// Starts the server, refusing AssumeRole when `deny` is set.
async fn start_with(account: &'static str, deny: bool) -> StsServer {
    let calls: Arc<Mutex<Vec<StsCall>>> = Arc::default();
    let log = calls.clone();
    let addr = serve(move |req| handle(&req, account, deny, &log)).await;
    StsServer {
        endpoint: format!("http://{addr}"),
        calls,
    }
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

/// Percent-decoding (and `+` as space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 3 <= b.len() => {
                let h = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?');
                out.push(h);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers one STS request.
fn handle(req: &Req, account: &str, deny: bool, log: &Mutex<Vec<StsCall>>) -> super::http::Resp {
    let Some((akid, _, _)) = sigv4_scope(req) else {
        return respond(
            403,
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code><Message>Request is missing Authentication Token</Message></Error></ErrorResponse>",
        );
    };
    let params = form(req.body());
    let get = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let action = get("Action").unwrap_or_default();
    log.lock().unwrap().push(StsCall {
        action: action.clone(),
        params: params.clone(),
        signed_by: akid.clone(),
    });
    let ns = "https://sts.amazonaws.com/doc/2011-06-15/";
    match action.as_str() {
        "AssumeRole" if deny => respond(
            403,
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::{account}:user/auditor is not authorized to perform: sts:AssumeRole on resource: {}</Message></Error><RequestId>33333333-3333-4333-8333-333333333333</RequestId></ErrorResponse>",
                get("RoleArn").unwrap_or_default()
            ),
        ),
        "AssumeRole" => {
            let role = get("RoleArn").unwrap_or_default();
            let session = get("RoleSessionName").unwrap_or_default();
            let role_name = role.rsplit('/').next().unwrap_or("role");
            respond(
                200,
                "text/xml",
                format!(
                    "<AssumeRoleResponse xmlns=\"{ns}\"><AssumeRoleResult><Credentials><AccessKeyId>{SESSION_KEY_ID}</AccessKeyId><SecretAccessKey>{SESSION_SECRET}</SecretAccessKey><SessionToken>{SESSION_TOKEN}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAKEYTRAILTEST:{session}</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/{role_name}/{session}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>11111111-1111-4111-8111-111111111111</RequestId></ResponseMetadata></AssumeRoleResponse>"
                ),
            )
        }
        "GetCallerIdentity" => respond(
            200,
            "text/xml",
            format!(
                "<GetCallerIdentityResponse xmlns=\"{ns}\"><GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/auditor</Arn><UserId>AIDAKEYTRAILTEST</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>22222222-2222-4222-8222-222222222222</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            ),
        ),
        _ => respond(
            400,
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>unknown action</Message></Error></ErrorResponse>",
        ),
    }
}
