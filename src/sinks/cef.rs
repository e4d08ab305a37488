//! ArcSight Common Event Format (CEF:0) for findings:
//! `CEF:0|keytrail|keytrail|<version>|<rule_id>|<title>|<0-10>|<extension>`, with CEF
//! escaping (header: `\` and `|`; extension values: `\`, `=`, CR and LF as `\r`, `\n`).

use std::fmt::Write;
use std::net::IpAddr;

use super::{ExportContext, distinct, finding_time, first, seen_range};
use crate::event::Event;
use crate::findings::Finding;
use crate::rules::Severity;

/// Evidence event ids listed in `cs3` at most (`cn1` has the full count).
const MAX_IDS: usize = 10;
/// Longest `msg` value, in characters.
const MAX_MSG: usize = 1000;

/// Escapes a header field: `\` and `|`; line breaks become spaces (a header is one line).
pub fn escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an extension value: `\`, `=`, and CR/LF as `\r`/`\n`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A keytrail severity on CEF's 0-10 scale.
pub fn severity(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

/// The CEF record for `f`, given the events behind it.
pub fn record(f: &Finding, events: &[&Event], ctx: &ExportContext) -> String {
    let mut ext: Vec<(&str, String)> = vec![("rt", finding_time(events, ctx).to_string())];
    if let Some((start, end)) = seen_range(events) {
        ext.push(("start", start.to_string()));
        ext.push(("end", end.to_string()));
    }
    ext.push(("externalId", f.finding_id.clone()));
    ext.push(("msg", f.description.chars().take(MAX_MSG).collect()));
    if let Some(u) = first(events, |e| e.user_name.as_deref()) {
        ext.push(("suser", u.to_string()));
    }
    if let Some(id) = first(events, |e| e.principal_id.as_deref()) {
        ext.push(("suid", id.to_string()));
    }
    if let Some(ip) =
        first(events, |e| e.source_ip.as_deref()).filter(|s| s.parse::<IpAddr>().is_ok())
    {
        ext.push(("src", ip.to_string()));
    }
    if let Some(ua) = first(events, |e| e.user_agent.as_deref()) {
        ext.push(("requestClientApplication", ua.to_string()));
    }
    let account = first(events, |e| e.account_id.as_deref())
        .or_else(|| f.fields.get("account_id").and_then(|v| v.as_str()));
    let ids: Vec<&str> = f.evidence_event_ids.iter().take(MAX_IDS).collect();
    let custom: [(&'static str, &'static str, &str, Option<String>); 5] = [
        (
            "cs1Label",
            "cs1",
            "awsAccountId",
            account.map(str::to_string),
        ),
        (
            "cs2Label",
            "cs2",
            "awsRegion",
            first(events, |e| e.aws_region.as_deref()).map(str::to_string),
        ),
        ("cs3Label", "cs3", "evidenceEventIds", Some(ids.join(" "))),
        ("cs4Label", "cs4", "mitre", Some(f.mitre.join(" "))),
        (
            "cs5Label",
            "cs5",
            "keyActivity",
            Some(distinct(events, |e| e.activity).join(" ")),
        ),
    ];
    for (label_key, key, label, value) in custom {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            ext.push((label_key, label.to_string()));
            ext.push((key, v));
        }
    }
    ext.push(("cn1Label", "evidenceCount".into()));
    ext.push(("cn1", f.evidence_count.to_string()));

    let mut out = format!(
        "CEF:0|keytrail|keytrail|{}|{}|{}|{}|",
        escape_header(ctx.version),
        escape_header(&f.rule_id),
        escape_header(&f.title),
        severity(f.severity)
    );
    for (i, (k, v)) in ext.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(out, "{sep}{k}={}", escape_value(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testdata;

    #[test]
    fn header_and_extension_values_are_escaped() {
        assert_eq!(escape_header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(escape_header("two\nlines"), "two lines");
        assert_eq!(escape_value("a=b\\c\r\nd|e"), r"a\=b\\c\r\nd|e");
    }

    #[test]
    fn a_finding_becomes_one_cef_record() {
        let events = testdata::events();
        let refs: Vec<&Event> = events.iter().collect();
        let f = testdata::finding();
        let ctx = ExportContext {
            host: None,
            version: "0.1.0",
            now_ms: 0,
        };
        let r = record(&f, &refs, &ctx);
        assert!(
            r.starts_with(
                r"CEF:0|keytrail|keytrail|0.1.0|key_used_after_revocation|Key used \| after revocation|10|rt=1795144209000 "
            ),
            "{r}"
        );
        assert!(
            r.contains(r"msg=A key \= revoked\nwas used \\ again suser="),
            "{r}"
        );
        assert!(r.contains(" src=203.0.113.45 "), "{r}");
        assert!(
            r.contains(" cs1Label=awsAccountId cs1=111122223333 "),
            "{r}"
        );
        assert!(
            r.contains(" cs3Label=evidenceEventIds cs3=e-1 e-2 e-missing "),
            "{r}"
        );
        assert!(r.ends_with(" cn1Label=evidenceCount cn1=3"), "{r}");
        assert!(!r.contains('\n'));
    }
}
