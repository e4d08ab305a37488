//! Reads one parsed CloudTrail record into an [`EventRef`] (text borrowed from the parsed
//! record, nothing copied), tolerating odd field types.
//!
//! Records are read from simd-json's tape (a flat list of nodes over the input), not from a
//! tree of hash maps: building one map per object was a fifth of the time spent reading
//! dense corpora. The top-level fields are found in one pass over the record's members
//! ([`Top`]); the nested ones by a short scan of their object.

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

/// The top-level members a record is read from, found in one pass over its members (the
/// first of a repeated name, as a lookup by name would find).
#[derive(Default)]
struct Top<'t, 'i> {
    event_name: Option<Value<'t, 'i>>,
    event_source: Option<Value<'t, 'i>>,
    event_id: Option<Value<'t, 'i>>,
    event_time: Option<Value<'t, 'i>>,
    event_type: Option<Value<'t, 'i>>,
    aws_region: Option<Value<'t, 'i>>,
    source_ip: Option<Value<'t, 'i>>,
    user_agent: Option<Value<'t, 'i>>,
    error_code: Option<Value<'t, 'i>>,
    error_message: Option<Value<'t, 'i>>,
    read_only: Option<Value<'t, 'i>>,
    user_identity: Option<Value<'t, 'i>>,
    recipient_account_id: Option<Value<'t, 'i>>,
    request_parameters: Option<Value<'t, 'i>>,
    response_elements: Option<Value<'t, 'i>>,
    additional_event_data: Option<Value<'t, 'i>>,
}

impl<'t, 'i> Top<'t, 'i> {
    /// The members of object `v`.
    fn of(v: Value<'t, 'i>) -> Top<'t, 'i> {
        let mut top = Top::default();
        let Some(obj) = v.as_object() else {
            return top;
        };
        for (k, x) in obj.iter() {
            let slot = match k {
                "eventName" => &mut top.event_name,
                "eventSource" => &mut top.event_source,
                "eventID" => &mut top.event_id,
                "eventTime" => &mut top.event_time,
                "eventType" => &mut top.event_type,
                "awsRegion" => &mut top.aws_region,
                "sourceIPAddress" => &mut top.source_ip,
                "userAgent" => &mut top.user_agent,
                "errorCode" => &mut top.error_code,
                "errorMessage" => &mut top.error_message,
                "readOnly" => &mut top.read_only,
                "userIdentity" => &mut top.user_identity,
                "recipientAccountId" => &mut top.recipient_account_id,
                "requestParameters" => &mut top.request_parameters,
                "responseElements" => &mut top.response_elements,
                "additionalEventData" => &mut top.additional_event_data,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(x);
            }
        }
        top
    }
}

/// Reads the text field at `keys` under `at`, the member named `name` (for messages; `keys`
/// empty reads `at` itself); numbers and booleans become text (noted as odd), null/absent is
/// None.
fn text<'i>(
    at: Option<Value<'_, 'i>>,
    name: &str,
    keys: &[&str],
    odd: &mut Vec<String>,
) -> Option<Cow<'i, str>> {
    let x = path(at?, keys)?;
    if let Some(s) = x.into_string() {
        return Some(Cow::Borrowed(s));
    }
    if x.is_null() {
        return None;
    }
    let full = || {
        std::iter::once(name)
            .chain(keys.iter().copied())
            .collect::<Vec<_>>()
            .join(".")
    };
    if let Some(b) = x.as_bool() {
        odd.push(format!("{} is a boolean, read as text", full()));
        return Some(Cow::Owned(b.to_string()));
    }
    if x.is_number() {
        odd.push(format!("{} is a number, read as text", full()));
        return Some(Cow::Owned(x.encode()));
    }
    odd.push(format!("{} is {}, ignored", full(), kind(x)));
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
fn flag(at: Option<Value>, keys: &[&str]) -> bool {
    match at.and_then(|v| path(v, keys)) {
        Some(x) => {
            x.as_bool().unwrap_or(false)
                || x.as_str()
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case("true"))
        }
        None => false,
    }
}

/// Reads an integer that may be a number or a numeric string.
fn int(at: Option<Value>, keys: &[&str]) -> Option<i64> {
    let x = path(at?, keys)?;
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
    let top = Top::of(v);
    let mut odd = Vec::new();
    let o = &mut odd;
    let event_name = text(top.event_name, "eventName", &[], o);
    let event_source = text(top.event_source, "eventSource", &[], o);
    if event_name.is_none() && event_source.is_none() {
        return Err(RecordError::NotCloudTrail);
    }
    let mut e = EventRef {
        event_name,
        event_source,
        source: Cow::Borrowed(source),
        ..EventRef::default()
    };
    e.event_id = text(top.event_id, "eventID", &[], o);
    match text(top.event_time, "eventTime", &[], o) {
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
    e.event_type = text(top.event_type, "eventType", &[], o);
    e.aws_region = text(top.aws_region, "awsRegion", &[], o);
    e.source_ip = text(top.source_ip, "sourceIPAddress", &[], o);
    e.user_agent = text(top.user_agent, "userAgent", &[], o);
    e.error_code = text(top.error_code, "errorCode", &[], o);
    e.error_message = text(top.error_message, "errorMessage", &[], o);
    e.read_only = top.read_only.and_then(|x| {
        x.as_bool()
            .or_else(|| x.as_str().and_then(|s| s.parse::<bool>().ok()))
    });
    read_identity(top.user_identity, &mut e, o);
    e.account_id = text(top.recipient_account_id, "recipientAccountId", &[], o)
        .or_else(|| text(top.user_identity, "userIdentity", &["accountId"], o));
    read_request(&top, &mut e, o);
    Ok(Normalized {
        event: e,
        oddities: odd,
    })
}

/// Fills the identity columns from `userIdentity` (`ui`).
fn read_identity<'i>(ui: Option<Value<'_, 'i>>, e: &mut EventRef<'i>, o: &mut Vec<String>) {
    match ui {
        None => o.push("userIdentity is missing".to_string()),
        Some(x) if x.is_null() => o.push("userIdentity is null".to_string()),
        Some(x) if !x.is_object() => o.push(format!("userIdentity is {}, ignored", kind(x))),
        Some(_) => {}
    }
    let id = |keys: &[&str], o: &mut Vec<String>| text(ui, "userIdentity", keys, o);
    e.identity_type = id(&["type"], o);
    e.principal_id = id(&["principalId"], o);
    e.principal_arn = id(&["arn"], o);
    e.access_key_id = id(&["accessKeyId"], o).filter(|s| !s.is_empty());
    e.session_issuer_arn = id(&["sessionContext", "sessionIssuer", "arn"], o);
    e.user_name = id(&["userName"], o)
        .or_else(|| id(&["sessionContext", "sessionIssuer", "userName"], o))
        .or_else(|| match e.principal_arn.as_ref()? {
            Cow::Borrowed(arn) => user_from_arn(arn).map(Cow::Borrowed),
            Cow::Owned(arn) => user_from_arn(arn).map(|u| Cow::Owned(u.to_string())),
        });
}

/// Fills the request-derived columns: bearer flag, model, credential and policy fields.
fn read_request<'i>(top: &Top<'_, 'i>, e: &mut EventRef<'i>, o: &mut Vec<String>) {
    let (rp, extra) = (top.request_parameters, top.additional_event_data);
    let req = |k: &str, o: &mut Vec<String>| text(rp, "requestParameters", &[k], o);
    let cred = top
        .response_elements
        .and_then(|r| r.get("serviceSpecificCredential"));
    let resp = |k: &str, o: &mut Vec<String>| {
        text(cred, "responseElements.serviceSpecificCredential", &[k], o)
    };
    e.bearer_token = flag(extra, &["callWithBearerToken"]) || flag(rp, &["callWithBearerToken"]);
    e.bearer_token_type = req("bearerTokenType", o)
        .or_else(|| text(extra, "additionalEventData", &["bearerTokenType"], o));
    e.model_id = req("modelId", o).or_else(|| req("model", o));
    e.target_user = req("userName", o);
    e.target_role = req("roleName", o);
    e.service_name = req("serviceName", o).or_else(|| resp("serviceName", o));
    e.credential_id =
        req("serviceSpecificCredentialId", o).or_else(|| resp("serviceSpecificCredentialId", o));
    e.service_user_name = resp("serviceUserName", o);
    e.credential_status = req("status", o).or_else(|| resp("status", o));
    e.credential_age_days = int(rp, &["credentialAgeDays"]);
    e.credential_expiration = resp("expirationDate", o).and_then(|s| parse_timestamp(&s));
    if e.credential_expiration.is_none()
        && let (Some(days), Some(t)) = (e.credential_age_days, e.event_time)
        && e.error_code.is_none()
    {
        e.credential_expiration = days
            .checked_mul(86_400_000_000)
            .and_then(|d| t.checked_add(d));
    }
    e.policy_arn = req("policyArn", o);
    let name = e.event_name.as_deref().unwrap_or("");
    if name.contains("Policy")
        && let Some(rp) = rp
    {
        e.policy_mentions_bearer = mentions_bearer_controls(rp);
        e.policy_document =
            policy_text(rp, "policyDocument").or_else(|| policy_text(rp, "content"));
    }
}

/// A policy document in `requestParameters.<key>` (`rp`): the JSON text as written, or an
/// object written back as JSON.
fn policy_text<'i>(rp: Value<'_, 'i>, key: &str) -> Option<Cow<'i, str>> {
    let x = rp.get(key)?;
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
