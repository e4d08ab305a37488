//! OCSF 1.3.0 Detection Finding (class_uid 2004, category Findings) for a keytrail finding.
//!
//! Every attribute the class requires in 1.3.0 is set: `activity_id`, `category_uid`,
//! `class_uid`, `type_uid`, `severity_id`, `time`, `metadata` (`version`, `product` with
//! `vendor_name`), `finding_info` (`uid`, `title`), and `cloud` (`provider`), which the
//! applied `cloud` profile requires. In 1.3.0 `actor` and `src_endpoint` are not attributes
//! of the class itself: they describe each CloudTrail event, so they sit in `evidences[]`,
//! one entry per evidence event, next to its `api` call and the raw record (`data`). The
//! keytrail finding itself (stable schema) is kept whole under `unmapped.keytrail`.

use std::net::IpAddr;

use serde::Serialize;

use super::{ExportContext, distinct, finding_time, first, seen_range, severity_number};
use crate::event::Event;
use crate::findings::Finding;
use crate::rules::Severity;

/// The OCSF schema version the output follows.
pub const OCSF_VERSION: &str = "1.3.0";
/// Detection Finding.
pub const CLASS_UID: u16 = 2004;
/// Findings.
pub const CATEGORY_UID: u8 = 2;
/// Create.
pub const ACTIVITY_ID: u8 = 1;
/// `class_uid * 100 + activity_id`.
pub const TYPE_UID: u32 = 200_401;
/// Resources listed per finding at most.
const MAX_RESOURCES: usize = 50;

/// One Detection Finding event.
#[derive(Debug, Serialize)]
pub struct DetectionFinding<'a> {
    pub activity_id: u8,
    pub activity_name: &'static str,
    pub category_uid: u8,
    pub category_name: &'static str,
    pub class_uid: u16,
    pub class_name: &'static str,
    pub type_uid: u32,
    pub type_name: &'static str,
    pub severity_id: u8,
    pub severity: &'static str,
    pub status_id: u8,
    pub status: &'static str,
    /// Milliseconds since the epoch: the last evidence event (else the export time).
    pub time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub count: u64,
    pub message: &'a str,
    pub metadata: Metadata,
    pub finding_info: FindingInfo<'a>,
    pub cloud: Cloud,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidences: Vec<EvidenceArtifact>,
    pub unmapped: Unmapped<'a>,
}

/// `metadata`: schema version and the product that made the finding.
#[derive(Debug, Serialize)]
pub struct Metadata {
    pub version: &'static str,
    pub product: Product,
    pub profiles: Vec<&'static str>,
    pub uid: String,
    pub log_name: &'static str,
}

/// `metadata.product`.
#[derive(Debug, Serialize)]
pub struct Product {
    pub name: &'static str,
    pub vendor_name: &'static str,
    pub version: &'static str,
}

/// `finding_info`.
#[derive(Debug, Serialize)]
pub struct FindingInfo<'a> {
    pub uid: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    pub created_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_time: Option<i64>,
    pub types: Vec<String>,
    pub analytic: Analytic<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<Attack>,
    pub data_sources: Vec<&'static str>,
}

/// `finding_info.analytic`: the rule.
#[derive(Debug, Serialize)]
pub struct Analytic<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    pub desc: &'a str,
    pub type_id: u8,
    #[serde(rename = "type")]
    pub type_name: &'static str,
}

/// `finding_info.attacks[]`: a MITRE ATT&CK technique (and sub-technique).
#[derive(Debug, Serialize)]
pub struct Attack {
    pub technique: Uid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_technique: Option<Uid>,
}

/// An object known by its uid only.
#[derive(Debug, Serialize)]
pub struct Uid {
    pub uid: String,
}

/// `cloud`.
#[derive(Debug, Serialize)]
pub struct Cloud {
    pub provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// An AWS account.
#[derive(Debug, Serialize)]
pub struct Account {
    pub uid: String,
    pub type_id: u8,
    #[serde(rename = "type")]
    pub type_name: &'static str,
}

/// `api`: the CloudTrail call.
#[derive(Debug, Serialize)]
pub struct Api {
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ApiResponse>,
}

/// `api.service`: the event source.
#[derive(Debug, Serialize)]
pub struct Service {
    pub name: String,
}

/// `api.response`: the error of a failed call.
#[derive(Debug, Serialize)]
pub struct ApiResponse {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// `resources[]`: an IAM user, a Bedrock credential or a model the finding is about.
#[derive(Debug, Serialize, PartialEq)]
pub struct Resource {
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub cloud_partition: &'static str,
}

/// `evidences[]`: one CloudTrail event (OCSF 1.3.0 gives the object no `uid` or `name`:
/// the event id is in `data`, the raw record, as `eventID`).
#[derive(Debug, Serialize)]
pub struct EvidenceArtifact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<Endpoint>,
    /// The raw CloudTrail record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// `actor`: who made the call.
#[derive(Debug, Serialize)]
pub struct Actor {
    pub user: User,
}

/// `actor.user`: the CloudTrail identity.
#[derive(Debug, Serialize)]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_alt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub type_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_uid: Option<String>,
}

/// `src_endpoint`: where the call came from (an IP, or an AWS service name).
#[derive(Debug, Serialize)]
pub struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `unmapped`: what OCSF has no attribute for.
#[derive(Debug, Serialize)]
pub struct Unmapped<'a> {
    /// The finding in keytrail's stable schema (version 1).
    pub keytrail: &'a Finding,
}

/// The OCSF severity caption.
pub fn severity_caption(s: Severity) -> &'static str {
    match s {
        Severity::Info => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// The Detection Finding for `f`, given the events behind it.
pub fn detection_finding<'a>(
    f: &'a Finding,
    events: &[&Event],
    ctx: &ExportContext,
) -> DetectionFinding<'a> {
    let range = seen_range(events);
    DetectionFinding {
        activity_id: ACTIVITY_ID,
        activity_name: "Create",
        category_uid: CATEGORY_UID,
        category_name: "Findings",
        class_uid: CLASS_UID,
        class_name: "Detection Finding",
        type_uid: TYPE_UID,
        type_name: "Detection Finding: Create",
        severity_id: severity_number(f.severity),
        severity: severity_caption(f.severity),
        status_id: 1,
        status: "New",
        time: finding_time(events, ctx),
        start_time: range.map(|r| r.0),
        end_time: range.map(|r| r.1),
        count: f.evidence_count,
        message: &f.title,
        metadata: Metadata {
            version: OCSF_VERSION,
            product: Product {
                name: "keytrail",
                vendor_name: "keytrail",
                version: ctx.version,
            },
            profiles: vec!["cloud"],
            uid: f.finding_id.clone(),
            log_name: "CloudTrail",
        },
        finding_info: FindingInfo {
            uid: &f.finding_id,
            title: &f.title,
            desc: &f.description,
            created_time: ctx.now_ms,
            first_seen_time: range.map(|r| r.0),
            last_seen_time: range.map(|r| r.1),
            types: types(f, events),
            analytic: Analytic {
                uid: &f.rule_id,
                name: &f.title,
                desc: &f.description,
                type_id: 1,
                type_name: "Rule",
            },
            attacks: f.mitre.iter().filter_map(|t| attack(t)).collect(),
            data_sources: vec!["AWS CloudTrail"],
        },
        cloud: cloud(f, events),
        api: common_api(events),
        resources: resources(events),
        evidences: events.iter().map(|e| evidence(e)).collect(),
        unmapped: Unmapped { keytrail: f },
    }
}

/// The finding's types: the key activities of its evidence, or the rule id.
fn types(f: &Finding, events: &[&Event]) -> Vec<String> {
    let t: Vec<String> = distinct(events, |e| e.activity)
        .into_iter()
        .map(str::to_string)
        .collect();
    if t.is_empty() {
        vec![f.rule_id.clone()]
    } else {
        t
    }
}

/// `T1078.004` as technique T1078 with sub-technique T1078.004.
fn attack(id: &str) -> Option<Attack> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    Some(match id.split_once('.') {
        Some((tech, _)) => Attack {
            technique: Uid { uid: tech.into() },
            sub_technique: Some(Uid { uid: id.into() }),
        },
        None => Attack {
            technique: Uid { uid: id.into() },
            sub_technique: None,
        },
    })
}

/// The AWS account and region of the evidence (or of the rule's `account_id` column).
fn cloud(f: &Finding, events: &[&Event]) -> Cloud {
    let account = first(events, |e| e.account_id.as_deref())
        .map(str::to_string)
        .or_else(|| {
            f.fields
                .get("account_id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        });
    Cloud {
        provider: "AWS",
        account: account.map(aws_account),
        region: first(events, |e| e.aws_region.as_deref()).map(str::to_string),
    }
}

/// An AWS account id as an OCSF account.
fn aws_account(uid: String) -> Account {
    Account {
        uid,
        type_id: 10,
        type_name: "AWS Account",
    }
}

/// The API call of one event.
fn api(e: &Event) -> Option<Api> {
    Some(Api {
        operation: e.event_name.clone()?,
        service: e.event_source.clone().map(|name| Service { name }),
        response: e.error_code.clone().map(|error| ApiResponse {
            error,
            error_message: e.error_message.clone(),
        }),
    })
}

/// The API call when every evidence event made the same one.
fn common_api(events: &[&Event]) -> Option<Api> {
    let ops = distinct(events, |e| e.event_name.as_deref());
    let svcs = distinct(events, |e| e.event_source.as_deref());
    if ops.len() != 1 || svcs.len() > 1 {
        return None;
    }
    Some(Api {
        operation: ops[0].to_string(),
        service: svcs.first().map(|s| Service {
            name: s.to_string(),
        }),
        response: None,
    })
}

/// The IAM users, Bedrock credentials and models the evidence touches.
fn resources(events: &[&Event]) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::new();
    let mut add = |r: Resource| {
        if out.len() < MAX_RESOURCES
            && !out
                .iter()
                .any(|x| x.type_name == r.type_name && x.uid == r.uid)
        {
            out.push(r);
        }
    };
    for e in events {
        if let Some(user) = e.target_user.as_deref().filter(|u| !u.is_empty()) {
            let uid = match e.account_id.as_deref() {
                Some(acct) => format!("arn:aws:iam::{acct}:user/{user}"),
                None => user.to_string(),
            };
            add(Resource {
                type_name: "AWS::IAM::User",
                uid,
                name: Some(user.to_string()),
                region: None,
                cloud_partition: "aws",
            });
        }
        if let Some(id) = e.credential_id.as_deref().filter(|c| !c.is_empty()) {
            add(Resource {
                type_name: "AWS::IAM::ServiceSpecificCredential",
                uid: id.to_string(),
                name: e.target_user.clone(),
                region: None,
                cloud_partition: "aws",
            });
        }
        if let Some(model) = e.model_id.as_deref().filter(|m| !m.is_empty()) {
            add(Resource {
                type_name: "AWS::Bedrock::Model",
                uid: model.to_string(),
                name: None,
                region: e.aws_region.clone(),
                cloud_partition: "aws",
            });
        }
    }
    out
}

/// One evidence event: who, what call, from where, and the raw record.
fn evidence(e: &Event) -> EvidenceArtifact {
    EvidenceArtifact {
        actor: actor(e),
        api: api(e),
        src_endpoint: e.source_ip.as_deref().and_then(endpoint),
        data: e.raw.as_deref().map(raw_data),
    }
}

/// The raw record as JSON; a record JSON cannot take back (nested deeper than serde_json's
/// 128 levels, which keytrail reads up to its own 512) travels as its text, never dropped.
fn raw_data(r: &str) -> serde_json::Value {
    serde_json::from_str(r).unwrap_or_else(|_| serde_json::Value::String(r.to_string()))
}

/// The identity behind an event.
fn actor(e: &Event) -> Option<Actor> {
    let name = e.user_name.clone().or_else(|| {
        e.principal_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_string)
    });
    if name.is_none() && e.principal_arn.is_none() && e.principal_id.is_none() {
        return None;
    }
    Some(Actor {
        user: User {
            name,
            uid: e.principal_arn.clone(),
            uid_alt: e.principal_id.clone(),
            type_id: user_type_id(e.identity_type.as_deref()),
            type_name: e.identity_type.clone(),
            account: e.account_id.clone().map(aws_account),
            credential_uid: e.access_key_id.clone(),
        },
    })
}

/// OCSF user `type_id` for a CloudTrail identity type: User, Admin (root), System, Other.
fn user_type_id(t: Option<&str>) -> u8 {
    match t {
        None => 0,
        Some("IAMUser") => 1,
        Some("Root") => 2,
        Some("AWSService") => 3,
        Some(_) => 99,
    }
}

/// `sourceIPAddress` as an endpoint: an IP, a host name (AWS services) or just a name.
fn endpoint(src: &str) -> Option<Endpoint> {
    let s = src.trim();
    if s.is_empty() {
        return None;
    }
    let hostlike = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    Some(if s.parse::<IpAddr>().is_ok() {
        Endpoint {
            ip: Some(s.into()),
            hostname: None,
            name: None,
        }
    } else if hostlike {
        Endpoint {
            ip: None,
            hostname: Some(s.into()),
            name: None,
        }
    } else {
        Endpoint {
            ip: None,
            hostname: None,
            name: Some(s.into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testdata;

    fn ctx() -> ExportContext {
        ExportContext {
            host: Some("h".into()),
            version: "9.9.9",
            now_ms: 42,
        }
    }

    #[test]
    fn a_record_too_deep_for_serde_json_travels_as_text() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(raw_data(&deep), serde_json::Value::String(deep.clone()));
        assert!(raw_data("{\"a\":1}").is_object());
    }

    #[test]
    fn a_finding_maps_to_detection_finding_with_its_required_attributes() {
        let events = testdata::events();
        let refs: Vec<&Event> = events.iter().collect();
        let f = testdata::finding();
        let v = serde_json::to_value(detection_finding(&f, &refs, &ctx())).unwrap();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["category_uid"], 2);
        assert_eq!(v["activity_id"], 1);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["severity_id"], 5);
        assert_eq!(v["severity"], "Critical");
        assert_eq!(v["time"], 1_795_144_209_000i64);
        assert_eq!(v["metadata"]["version"], "1.3.0");
        assert_eq!(v["metadata"]["product"]["vendor_name"], "keytrail");
        assert_eq!(v["finding_info"]["uid"], f.finding_id.as_str());
        assert_eq!(
            v["finding_info"]["analytic"]["uid"],
            "key_used_after_revocation"
        );
        assert_eq!(v["finding_info"]["attacks"][0]["technique"]["uid"], "T1078");
        assert_eq!(
            v["finding_info"]["attacks"][0]["sub_technique"]["uid"],
            "T1078.004"
        );
        assert_eq!(v["finding_info"]["types"][0], "bearer_long_term");
        assert_eq!(v["cloud"]["provider"], "AWS");
        assert_eq!(v["cloud"]["account"]["uid"], "111122223333");
        assert_eq!(v["api"]["operation"], "InvokeModel");
        assert_eq!(v["evidences"].as_array().unwrap().len(), 2);
        let ev = &v["evidences"][0];
        assert_eq!(ev["src_endpoint"]["ip"], "203.0.113.45");
        assert_eq!(ev["actor"]["user"]["name"], "BedrockAPIKey-x7k2");
        assert_eq!(ev["data"]["eventID"], "e-1");
        assert_eq!(v["resources"][0]["uid"], "amazon.nova-pro-v1:0");
        assert_eq!(
            v["unmapped"]["keytrail"]["finding_id"],
            f.finding_id.as_str()
        );
    }

    #[test]
    fn severities_map_to_ocsf_ids() {
        let ids: Vec<u8> = [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .map(severity_number)
        .collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert_eq!(severity_caption(Severity::Info), "Informational");
    }

    #[test]
    fn source_addresses_become_ip_host_or_name() {
        assert_eq!(
            endpoint("2001:db8::1").unwrap().ip.as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            endpoint("bedrock.amazonaws.com")
                .unwrap()
                .hostname
                .as_deref(),
            Some("bedrock.amazonaws.com")
        );
        assert_eq!(
            endpoint("AWS Internal").unwrap().name.as_deref(),
            Some("AWS Internal")
        );
        assert!(endpoint(" ").is_none());
    }

    #[test]
    fn a_finding_without_known_events_still_has_every_required_attribute() {
        let f = testdata::finding();
        let v = serde_json::to_value(detection_finding(&f, &[], &ctx())).unwrap();
        assert_eq!(v["time"], 42);
        assert_eq!(v["cloud"]["provider"], "AWS");
        assert!(v.get("evidences").is_none());
        assert_eq!(v["finding_info"]["types"][0], "key_used_after_revocation");
    }
}
