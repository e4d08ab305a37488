//! Elastic Common Schema (ECS 8.x) documents for findings: one alert document per finding,
//! with `@timestamp`, `event.*` (kind `alert`), `rule.*`, `threat.*`, `cloud.*`, `user.*`,
//! `source.*`, `user_agent.*`, `related.*`, and the finding itself under `keytrail`.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::{ExportContext, distinct, finding_time, first, seen_range, severity_number};
use crate::event::Event;
use crate::findings::Finding;
use crate::timefmt::format_micros;

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// Milliseconds as an RFC 3339 UTC string.
fn rfc3339(ms: i64) -> String {
    format_micros(ms.saturating_mul(1000))
}

/// The ECS alert document for `f`, given the events behind it.
pub fn document(f: &Finding, events: &[&Event], ctx: &ExportContext) -> Value {
    let mut event = Map::new();
    event.insert("kind".into(), "alert".into());
    event.insert("category".into(), json!(["iam"]));
    event.insert("type".into(), json!(["info"]));
    event.insert("id".into(), f.finding_id.clone().into());
    event.insert("severity".into(), severity_number(f.severity).into());
    event.insert("module".into(), "keytrail".into());
    event.insert("dataset".into(), "keytrail.finding".into());
    event.insert("provider".into(), "keytrail".into());
    event.insert("created".into(), rfc3339(ctx.now_ms).into());
    if let Some((start, end)) = seen_range(events) {
        event.insert("start".into(), rfc3339(start).into());
        event.insert("end".into(), rfc3339(end).into());
    }
    let mut doc = Map::new();
    doc.insert(
        "@timestamp".into(),
        rfc3339(finding_time(events, ctx)).into(),
    );
    doc.insert("message".into(), f.title.clone().into());
    doc.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    doc.insert("event".into(), Value::Object(event));
    doc.insert(
        "rule".into(),
        json!({
            "id": f.rule_id,
            "name": f.title,
            "description": f.description,
            "ruleset": "keytrail",
        }),
    );
    if !f.mitre.is_empty() {
        doc.insert(
            "threat".into(),
            json!({ "framework": "MITRE ATT&CK", "technique": { "id": f.mitre } }),
        );
    }
    doc.insert("cloud".into(), cloud(f, events));
    if let Some(name) = first(events, |e| e.user_name.as_deref()) {
        let mut user = Map::new();
        user.insert("name".into(), name.into());
        if let Some(id) = first(events, |e| e.principal_id.as_deref()) {
            user.insert("id".into(), id.into());
        }
        doc.insert("user".into(), Value::Object(user));
    }
    if let Some(src) = first(events, |e| e.source_ip.as_deref()) {
        doc.insert("source".into(), source(src));
    }
    if let Some(ua) = first(events, |e| e.user_agent.as_deref()) {
        doc.insert("user_agent".into(), json!({ "original": ua }));
    }
    doc.insert("related".into(), related(events));
    doc.insert("keytrail".into(), json!(f));
    Value::Object(doc)
}

/// `cloud.*`: provider, account and region of the evidence.
fn cloud(f: &Finding, events: &[&Event]) -> Value {
    let mut c = Map::new();
    c.insert("provider".into(), "aws".into());
    let account = first(events, |e| e.account_id.as_deref())
        .or_else(|| f.fields.get("account_id").and_then(|v| v.as_str()));
    if let Some(a) = account {
        c.insert("account".into(), json!({ "id": a }));
    }
    if let Some(r) = first(events, |e| e.aws_region.as_deref()) {
        c.insert("region".into(), r.into());
    }
    Value::Object(c)
}

/// `source.*`: `ip` only when the address is one (AWS services appear by name).
fn source(src: &str) -> Value {
    if src.parse::<IpAddr>().is_ok() {
        json!({ "ip": src, "address": src })
    } else {
        json!({ "address": src, "domain": src })
    }
}

/// `related.*`: every IP and user name in the evidence.
fn related(events: &[&Event]) -> Value {
    let ips: Vec<&str> = distinct(events, |e| e.source_ip.as_deref())
        .into_iter()
        .filter(|s| s.parse::<IpAddr>().is_ok())
        .collect();
    let mut users = distinct(events, |e| e.user_name.as_deref());
    for u in distinct(events, |e| e.target_user.as_deref()) {
        if !users.contains(&u) {
            users.push(u);
        }
    }
    json!({ "ip": ips, "user": users })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testdata;

    #[test]
    fn a_finding_becomes_an_ecs_alert_document() {
        let events = testdata::events();
        let refs: Vec<&Event> = events.iter().collect();
        let f = testdata::finding();
        let ctx = ExportContext {
            host: None,
            version: "0",
            now_ms: 0,
        };
        let d = document(&f, &refs, &ctx);
        assert_eq!(d["@timestamp"], "2026-11-20T03:10:09Z");
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(d["event"]["id"], f.finding_id.as_str());
        assert_eq!(d["event"]["severity"], 5);
        assert_eq!(d["event"]["start"], "2026-11-19T18:22:00Z");
        assert_eq!(d["rule"]["id"], "key_used_after_revocation");
        assert_eq!(d["threat"]["technique"]["id"][0], "T1078.004");
        assert_eq!(d["cloud"]["provider"], "aws");
        assert_eq!(d["cloud"]["account"]["id"], "111122223333");
        assert_eq!(d["user"]["name"], "BedrockAPIKey-x7k2");
        assert_eq!(d["source"]["ip"], "203.0.113.45");
        assert_eq!(d["user_agent"]["original"], "curl/8.5.0");
        assert_eq!(d["related"]["ip"], json!(["203.0.113.45", "198.51.100.23"]));
        assert_eq!(d["keytrail"]["rule_id"], "key_used_after_revocation");
    }

    #[test]
    fn a_service_source_is_not_an_ip() {
        assert_eq!(
            source("bedrock.amazonaws.com"),
            json!({"address": "bedrock.amazonaws.com", "domain": "bedrock.amazonaws.com"})
        );
    }
}
