//! Reads one parsed CloudTrail record into an [`EventRef`] (text borrowed from the parsed
//! record, nothing copied), tolerating odd field types.
//!
//! Records are read from simd-json's tape (a flat list of nodes over the input), not from a
//! tree of hash maps: building one map per object was a fifth of the time spent reading
//! dense corpora, while a record is asked for about 40 fields, each found by a short scan.

use std::borrow::Cow;

use simd_json::prelude::*;

/// A parsed JSON value: a view into a tape of `'i` input.
pub type Value<'t, 'i> = simd_json::tape::Value<'t, 'i>;

use crate::event::EventRef;
use crate::timefmt::parse_timestamp;

/// Why a record could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is not a JSON object")]
    NotObject,
    #[error("record has no eventName or eventSource: not a CloudTrail event")]
    NotCloudTrail,
}

/// A record read into an event, with notes about fields that had unexpected shapes (each
/// names the field, never its value: a field may hold a secret).
pub struct Normalized<'v> {
    pub event: EventRef<'v>,
    pub oddities: Vec<String>,
}

/// Looks up a dotted path in nested objects.
fn path<'t, 'i>(v: Value<'t, 'i>, keys: &[&str]) -> Option<Value<'t, 'i>> {
    let mut cur = v;
    for k in keys {
        cur = cur.get(*k)?;
    }
    Some(cur)
}

/// Reads a text field; numbers and booleans become text (noted as odd), null/absent is None.
fn text<'i>(v: Value<'_, 'i>, keys: &[&str], odd: &mut Vec<String>) -> Option<Cow<'i, str>> {
    let x = path(v, keys)?;
    if let Some(s) = x.into_string() {
        return Some(Cow::Borrowed(s));
    }
    if x.is_null() {
        return None;
    }
    if let Some(b) = x.as_bool() {
        odd.push(format!("{} is a boolean, read as text", keys.join(".")));
        return Some(Cow::Owned(b.to_string()));
    }
    if x.is_number() {
        odd.push(format!("{} is a number, read as text", keys.join(".")));
        return Some(Cow::Owned(x.encode()));
    }
    odd.push(format!("{} is {}, ignored", keys.join("."), kind(x)));
    None
}

/// A short name for a value's JSON type.
fn kind(v: Value) -> &'static str {
    if v.is_array() {
        "an array"
    } else if v.is_object() {
        "an object"
    } else {
        "an unexpected type"
    }
}

/// Reads a flag that may be a JSON boolean or the string "true"/"false".
fn flag(v: Value, keys: &[&str]) -> bool {
    match path(v, keys) {
        Some(x) => {
            x.as_bool().unwrap_or(false)
                || x.as_str()
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case("true"))
        }
        None => false,
    }
}

/// Reads an integer that may be a number or a numeric string.
fn int(v: Value, keys: &[&str]) -> Option<i64> {
    let x = path(v, keys)?;
    x.as_i64()
        .or_else(|| x.as_f64().map(|f| f as i64))
        .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Returns the last path segment of a user ARN (`arn:aws:iam::1:user/path/name` -> `name`).
fn user_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":user/")?.1;
    rest.rsplit('/').next()
}

/// Converts one parsed record into an [`EventRef`]. `source` names the file, object or page.
pub fn normalize<'i>(v: Value<'_, 'i>, source: &'i str) -> Result<Normalized<'i>, RecordError> {
    if !v.is_object() {
        return Err(RecordError::NotObject);
    }
    let mut odd = Vec::new();
    let o = &mut odd;
    let event_name = text(v, &["eventName"], o);
    let event_source = text(v, &["eventSource"], o);
    if event_name.is_none() && event_source.is_none() {
        return Err(RecordError::NotCloudTrail);
    }
    let mut e = EventRef {
        event_name,
        event_source,
        source: Cow::Borrowed(source),
        ..EventRef::default()
    };
    e.event_id = text(v, &["eventID"], o);
    match text(v, &["eventTime"], o) {
        Some(t) => {
            e.event_time = parse_timestamp(&t);
            if e.event_time.is_none() {
                o.push(format!(
                    "eventTime is not a timestamp ({} characters)",
                    t.chars().count()
                ));
            }
        }
        None => o.push("eventTime is missing".to_string()),
    }
    e.event_type = text(v, &["eventType"], o);
    e.aws_region = text(v, &["awsRegion"], o);
    e.source_ip = text(v, &["sourceIPAddress"], o);
    e.user_agent = text(v, &["userAgent"], o);
    e.error_code = text(v, &["errorCode"], o);
    e.error_message = text(v, &["errorMessage"], o);
    e.read_only = path(v, &["readOnly"]).and_then(|x| {
        x.as_bool()
            .or_else(|| x.as_str().and_then(|s| s.parse::<bool>().ok()))
    });
    read_identity(v, &mut e, o);
    e.account_id =
        text(v, &["recipientAccountId"], o).or_else(|| text(v, &["userIdentity", "accountId"], o));
    read_request(v, &mut e, o);
    Ok(Normalized {
        event: e,
        oddities: odd,
    })
}

/// Fills the identity columns from `userIdentity`.
fn read_identity<'i>(v: Value<'_, 'i>, e: &mut EventRef<'i>, o: &mut Vec<String>) {
    match v.get("userIdentity") {
        None => o.push("userIdentity is missing".to_string()),
        Some(x) if x.is_null() => o.push("userIdentity is null".to_string()),
        Some(x) if !x.is_object() => o.push(format!("userIdentity is {}, ignored", kind(x))),
        Some(_) => {}
    }
    e.identity_type = text(v, &["userIdentity", "type"], o);
    e.principal_id = text(v, &["userIdentity", "principalId"], o);
    e.principal_arn = text(v, &["userIdentity", "arn"], o);
    e.access_key_id = text(v, &["userIdentity", "accessKeyId"], o).filter(|s| !s.is_empty());
    e.session_issuer_arn = text(
        v,
        &["userIdentity", "sessionContext", "sessionIssuer", "arn"],
        o,
    );
    e.user_name = text(v, &["userIdentity", "userName"], o)
        .or_else(|| {
            text(
                v,
                &[
                    "userIdentity",
                    "sessionContext",
                    "sessionIssuer",
                    "userName",
                ],
                o,
            )
        })
        .or_else(|| match e.principal_arn.as_ref()? {
            Cow::Borrowed(arn) => user_from_arn(arn).map(Cow::Borrowed),
            Cow::Owned(arn) => user_from_arn(arn).map(|u| Cow::Owned(u.to_string())),
        });
}

/// Fills the request-derived columns: bearer flag, model, credential and policy fields.
fn read_request<'i>(v: Value<'_, 'i>, e: &mut EventRef<'i>, o: &mut Vec<String>) {
    e.bearer_token = flag(v, &["additionalEventData", "callWithBearerToken"])
        || flag(v, &["requestParameters", "callWithBearerToken"]);
    e.bearer_token_type = text(v, &["requestParameters", "bearerTokenType"], o)
        .or_else(|| text(v, &["additionalEventData", "bearerTokenType"], o));
    e.model_id = text(v, &["requestParameters", "modelId"], o)
        .or_else(|| text(v, &["requestParameters", "model"], o));
    e.target_user = text(v, &["requestParameters", "userName"], o);
    e.target_role = text(v, &["requestParameters", "roleName"], o);
    let cred = &["responseElements", "serviceSpecificCredential"];
    let resp = |k: &str, o: &mut Vec<String>| text(v, &[cred[0], cred[1], k], o);
    e.service_name =
        text(v, &["requestParameters", "serviceName"], o).or_else(|| resp("serviceName", o));
    e.credential_id = text(v, &["requestParameters", "serviceSpecificCredentialId"], o)
        .or_else(|| resp("serviceSpecificCredentialId", o));
    e.service_user_name = resp("serviceUserName", o);
    e.credential_status =
        text(v, &["requestParameters", "status"], o).or_else(|| resp("status", o));
    e.credential_age_days = int(v, &["requestParameters", "credentialAgeDays"]);
    e.credential_expiration = resp("expirationDate", o).and_then(|s| parse_timestamp(&s));
    if e.credential_expiration.is_none()
        && let (Some(days), Some(t)) = (e.credential_age_days, e.event_time)
        && e.error_code.is_none()
    {
        e.credential_expiration = days
            .checked_mul(86_400_000_000)
            .and_then(|d| t.checked_add(d));
    }
    e.policy_arn = text(v, &["requestParameters", "policyArn"], o);
    let name = e.event_name.as_deref().unwrap_or("");
    if name.contains("Policy")
        && let Some(rp) = v.get("requestParameters")
    {
        e.policy_mentions_bearer = mentions_bearer_controls(rp);
        e.policy_document = policy_text(v, "policyDocument").or_else(|| policy_text(v, "content"));
    }
}

/// A policy document in `requestParameters.<key>`: the JSON text as written, or an object
/// written back as JSON.
fn policy_text<'i>(v: Value<'_, 'i>, key: &str) -> Option<Cow<'i, str>> {
    let x = path(v, &["requestParameters", key])?;
    match x.into_string() {
        Some(s) => Some(Cow::Borrowed(s)),
        None if x.is_object() => Some(Cow::Owned(x.encode())),
        None => None,
    }
}

/// True when any string inside `v` names a Bedrock API key control condition or action.
fn mentions_bearer_controls(v: Value) -> bool {
    if let Some(s) = v.as_str() {
        let l = s.to_ascii_lowercase();
        return l.contains("callwithbearertoken")
            || l.contains("bearertokentype")
            || l.contains("servicespecificcredentialservicename");
    }
    if let Some(a) = v.as_array() {
        return a.iter().any(mentions_bearer_controls);
    }
    if let Some(obj) = v.as_object() {
        return obj.values().any(mentions_bearer_controls);
    }
    false
}
