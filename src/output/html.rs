//! `scan --format html`: one self-contained page (inline CSS and SVG, no script, no
//! network at view time: a Content-Security-Policy forbids every load). It holds the
//! severity headline, the rules that fired, the findings by rule, a timeline per key (its
//! bearer calls, ok and denied, with its lifecycle events marked) and what was read.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::Value as Json;

use super::report::{FindingTimes, SEVERITIES, group_by_rule, plural, severity_tag};
use super::summary;
use super::values::json_text;
use crate::event::Event;
use crate::findings::Finding;
use crate::keys::inventory::Inventory;
use crate::pipeline::Summary;
use crate::rules::Severity;
use crate::timefmt::format_micros;

/// The policy that keeps the page offline: inline styles only, nothing fetched.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// One key's calls and lifecycle, for its plot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTimeline {
    /// `long-term key ACCA... (user)` or `short-term keys signed by ARN`.
    pub label: String,
    /// Account, status, creation: one line under the label.
    pub detail: String,
    /// Bearer calls: time and whether it went through.
    pub calls: Vec<(i64, bool)>,
    /// Lifecycle events: time and what happened (`created`, `reset`, `Inactive`, ...).
    pub marks: Vec<(i64, String)>,
}

/// The timelines of every key in the inventory. `events` are the Bedrock-relevant events
/// (at least every event with an activity).
pub fn key_timelines(inv: &Inventory, events: &[Event]) -> Vec<KeyTimeline> {
    let by_id: HashMap<&str, &Event> = events
        .iter()
        .filter_map(|e| e.event_id.as_deref().map(|id| (id, e)))
        .collect();
    let mut out = Vec::new();
    for k in &inv.long_term {
        let mut t = KeyTimeline {
            label: format!(
                "long-term key {} ({})",
                k.credential_id.as_deref().unwrap_or("(id unknown)"),
                k.user_name
            ),
            detail: format!(
                "account {} · status {} · created {} · {} ok / {} denied calls",
                k.account_id.as_deref().unwrap_or("?"),
                k.status,
                k.created_at
                    .map(format_micros)
                    .unwrap_or_else(|| "outside the logs read".into()),
                k.usage.calls_ok,
                k.usage.calls_denied
            ),
            calls: Vec::new(),
            marks: Vec::new(),
        };
        for e in k.event_ids.iter().filter_map(|id| by_id.get(id.as_str())) {
            let Some(time) = e.event_time else { continue };
            match e.activity {
                Some("bearer_long_term") => t.calls.push((time, e.error_code.is_none())),
                Some(a) => t.marks.push((time, mark_label(a, e))),
                None => {}
            }
        }
        out.push(t);
    }
    for s in &inv.short_term {
        let mut t = KeyTimeline {
            label: format!("short-term keys signed by {}", s.signer),
            detail: format!(
                "account {} · {} · {} ok / {} denied calls",
                s.account_id.as_deref().unwrap_or("?"),
                plural(s.access_key_ids.len(), "access key id"),
                s.usage.calls_ok,
                s.usage.calls_denied
            ),
            calls: Vec::new(),
            marks: Vec::new(),
        };
        for e in events
            .iter()
            .filter(|e| e.activity == Some("bearer_short_term"))
        {
            let signer = e
                .session_issuer_arn
                .as_deref()
                .or(e.principal_arn.as_deref());
            if signer == Some(s.signer.as_str())
                && e.account_id == s.account_id
                && let Some(time) = e.event_time
            {
                t.calls.push((time, e.error_code.is_none()));
            }
        }
        out.push(t);
    }
    for t in &mut out {
        t.calls.sort();
        t.marks.sort();
    }
    out
}

/// What a lifecycle event is called on the plot.
fn mark_label(activity: &str, e: &Event) -> String {
    match activity {
        "key_created" => "created".into(),
        "key_reset" => "reset".into(),
        "key_deleted" => "deleted".into(),
        "key_status_changed" => e
            .credential_status
            .clone()
            .unwrap_or_else(|| "status changed".into()),
        other => other.replace('_', " "),
    }
}

/// What the page says about its making.
pub struct PageInfo<'a> {
    pub version: &'a str,
    pub generated_at: i64,
    pub inputs: &'a [String],
    /// What `--rule`/`--min-severity` left out, if anything.
    pub filters: Option<&'a str>,
}

/// Writes the page.
pub fn write_report(
    w: &mut dyn Write,
    findings: &[Finding],
    times: &FindingTimes,
    summary: &Summary,
    timelines: &[KeyTimeline],
    info: &PageInfo,
) -> io::Result<()> {
    let mut h = String::with_capacity(64 * 1024);
    head(&mut h);
    let _ = write!(
        h,
        "<header><h1>keytrail report</h1><p class=\"meta\">{} · generated {} by keytrail {}</p>",
        esc(&info.inputs.join(", ")),
        esc(&format_micros(info.generated_at)),
        esc(info.version)
    );
    if let Some(f) = info.filters {
        let _ = write!(h, "<p class=\"meta\">{}</p>", esc(f));
    }
    h.push_str("</header>\n");
    headline(&mut h, findings, summary);
    let groups = group_by_rule(findings, times);
    if !groups.is_empty() {
        h.push_str("<section id=\"rules\"><h2>Rules that fired</h2><table><thead><tr><th>severity</th><th>rule</th><th>findings</th><th>title</th></tr></thead><tbody>");
        for g in &groups {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><a href=\"#rule-{}\">{}</a></td><td class=\"num\">{}</td><td>{}</td></tr>",
                badge(g.severity),
                esc(g.rule_id),
                esc(g.rule_id),
                g.findings.len(),
                esc(g.title)
            );
        }
        h.push_str("</tbody></table></section>\n");
    }
    timelines_section(&mut h, timelines);
    if !groups.is_empty() {
        h.push_str("<section id=\"findings\"><h2>Findings by rule</h2>");
        for g in &groups {
            rule_section(&mut h, g.severity, g.rule_id, g.title, &g.findings);
        }
        h.push_str("</section>\n");
    }
    summary_section(&mut h, summary);
    h.push_str("</body></html>\n");
    w.write_all(h.as_bytes())
}

/// The document head with the inline style sheet.
fn head(h: &mut String) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>keytrail report</title><style>{STYLE}</style></head><body>\n"
    );
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 2px;overflow-wrap:anywhere}
.meta{color:#57606a;margin:2px 0;overflow-wrap:anywhere}
.counts{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0}
.count{border-radius:6px;padding:8px 14px;min-width:90px;border:1px solid #d0d7de}
.count b{display:block;font-size:24px}
.sev{display:inline-block;border-radius:4px;padding:0 6px;font-weight:600;font-size:12px;color:#fff}
.critical{background:#8b0000;color:#fff}.high{background:#d1242f;color:#fff}.medium{background:#bf8700;color:#fff}
.low{background:#0969da;color:#fff}.info{background:#6e7781;color:#fff}.zero{background:#f6f8fa;color:#57606a}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td{word-break:normal;overflow-wrap:normal}
.scroll{overflow-x:auto}
td.num{text-align:right}
details{margin:10px 0;border:1px solid #d0d7de;border-radius:6px;padding:6px 10px}
summary{cursor:pointer;font-weight:600}
.ids{font-family:ui-monospace,monospace;font-size:12px;color:#57606a}
svg{display:block;max-width:100%;height:auto;background:#fbfcfd;border:1px solid #eaeef2;border-radius:4px}
.legend{font-size:12px;color:#57606a}
.ok{fill:#1a7f37}.denied{fill:#cf222e}
.axis{stroke:#8c959f;stroke-width:1}.lbl{font:11px system-ui,sans-serif;fill:#57606a}
.mark{stroke-width:1.5;stroke-dasharray:4 2}.mark-created{stroke:#0969da}.mark-reset{stroke:#8250df}
.mark-deleted{stroke:#1b1f24}.mark-status{stroke:#bc4c00}
";

/// Counts per severity, every severity shown.
fn headline(h: &mut String, findings: &[Finding], summary: &Summary) {
    h.push_str("<section id=\"headline\">");
    if findings.is_empty() {
        let _ = write!(
            h,
            "<p><b>No findings</b> in {} kept from {} read.</p>",
            plural(summary.events_kept as usize, "event"),
            plural(summary.inputs_read as usize, "input")
        );
    } else {
        let _ = write!(h, "<p><b>{}</b></p>", plural(findings.len(), "finding"));
    }
    h.push_str("<div class=\"counts\">");
    for s in SEVERITIES {
        let n = findings.iter().filter(|f| f.severity == s).count();
        let class = if n == 0 { "zero" } else { s.as_str() };
        let _ = write!(
            h,
            "<div class=\"count {class}\" id=\"count-{}\"><b>{n}</b>{}</div>",
            s.as_str(),
            s.as_str()
        );
    }
    h.push_str("</div>");
    if !summary.inputs_skipped.is_empty() {
        let _ = write!(
            h,
            "<p><b>{} could not be read completely: results are partial.</b></p>",
            plural(summary.inputs_skipped.len(), "input")
        );
    }
    h.push_str("</section>\n");
}

/// A severity badge.
fn badge(s: Severity) -> String {
    format!(
        "<span class=\"sev {}\">{}</span>",
        s.as_str(),
        severity_tag(s)
    )
}

/// One rule's findings as a table.
fn rule_section(h: &mut String, sev: Severity, rule_id: &str, title: &str, findings: &[&Finding]) {
    let _ = write!(
        h,
        "<details open id=\"rule-{}\"><summary>{} {} <span class=\"meta\">({}): {}</span></summary>",
        esc(rule_id),
        badge(sev),
        esc(title),
        esc(rule_id),
        plural(findings.len(), "finding")
    );
    if let Some(f) = findings.first() {
        let _ = write!(h, "<p class=\"meta\">{}", esc(&f.description));
        if !f.mitre.is_empty() {
            let _ = write!(h, " · MITRE ATT&amp;CK {}", esc(&f.mitre.join(", ")));
        }
        h.push_str("</p>");
    }
    let mut cols: Vec<&str> = Vec::new();
    for f in findings {
        for k in f.fields.keys() {
            if !cols.contains(&k.as_str()) {
                cols.push(k);
            }
        }
    }
    h.push_str("<div class=\"scroll\"><table><thead><tr>");
    for c in &cols {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("<th>evidence</th></tr></thead><tbody>");
    for f in findings {
        h.push_str("<tr>");
        for c in &cols {
            let v = f.fields.get(*c).unwrap_or(&Json::Null);
            let text = match v {
                Json::Array(a) => a
                    .iter()
                    .map(|x| esc(&json_text(x)))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                other => esc(&json_text(other)),
            };
            let _ = write!(h, "<td>{text}</td>");
        }
        let _ = write!(
            h,
            "<td>{} <div class=\"ids\">{}</div></td></tr>",
            plural(f.evidence_count as usize, "event"),
            f.evidence_event_ids
                .iter()
                .map(esc)
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    h.push_str("</tbody></table></div></details>\n");
}

/// The per-key plots.
fn timelines_section(h: &mut String, timelines: &[KeyTimeline]) {
    h.push_str("<section id=\"keys\"><h2>Keys: calls over time</h2>");
    if timelines.is_empty() {
        h.push_str("<p>No Bedrock API key was created, changed or used in the events read.</p>");
    } else {
        h.push_str("<p class=\"legend\">Bars above the line: calls that went through; below: denied calls (per time slot). Dashed lines: the key's lifecycle events.</p>");
    }
    for t in timelines {
        let _ = write!(
            h,
            "<article class=\"key\"><h3>{}</h3><p class=\"meta\">{}</p>",
            esc(&t.label),
            esc(&t.detail)
        );
        plot(h, t);
        h.push_str("</article>\n");
    }
    h.push_str("</section>\n");
}

/// Plot geometry.
const W: f64 = 960.0;
const H: f64 = 150.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 22.0;
const BINS: usize = 96;

/// One key's SVG: call counts per time slot (ok up, denied down) and lifecycle marks.
fn plot(h: &mut String, t: &KeyTimeline) {
    let times = t
        .calls
        .iter()
        .map(|c| c.0)
        .chain(t.marks.iter().map(|m| m.0));
    let (mut t0, mut t1) = times.fold((i64::MAX, i64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    if t0 > t1 {
        let _ = write!(h, "<p class=\"meta\">No timed events.</p>");
        return;
    }
    if t1 - t0 < 3_600_000_000 {
        t0 -= 1_800_000_000;
        t1 += 1_800_000_000;
    }
    let pad = (t1 - t0) / 50;
    // Whole minutes at both ends, so the axis reads cleanly.
    const MINUTE: i64 = 60_000_000;
    let (t0, t1) = (
        (t0 - pad).div_euclid(MINUTE) * MINUTE,
        (t1 + pad).div_euclid(MINUTE) * MINUTE + MINUTE,
    );
    let plot_w = W - LEFT - RIGHT;
    let x = |t: i64| LEFT + plot_w * ((t - t0) as f64 / (t1 - t0) as f64);
    let mid = TOP + (H - TOP - BOTTOM) / 2.0;
    let half = (H - TOP - BOTTOM) / 2.0 - 2.0;
    let slot = |t: i64| {
        (((t - t0) as f64 / (t1 - t0) as f64) * BINS as f64).min(BINS as f64 - 1.0) as usize
    };
    let mut ok = [0u32; BINS];
    let mut denied = [0u32; BINS];
    for (time, good) in &t.calls {
        if *good {
            ok[slot(*time)] += 1;
        } else {
            denied[slot(*time)] += 1;
        }
    }
    let max = ok.iter().chain(&denied).copied().max().unwrap_or(0).max(1) as f64;
    let _ = write!(
        h,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"calls over time\">"
    );
    let _ = write!(
        h,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{mid}\" x2=\"{}\" y2=\"{mid}\"/>\
<text class=\"lbl\" x=\"4\" y=\"{}\">ok</text><text class=\"lbl\" x=\"4\" y=\"{}\">denied</text>",
        W - RIGHT,
        mid - half / 2.0,
        mid + half / 2.0 + 8.0
    );
    let bw = plot_w / BINS as f64;
    let span = (t1 - t0) / BINS as i64;
    for i in 0..BINS {
        let bx = LEFT + bw * i as f64 + 0.5;
        let from = format_micros(t0 + span * i as i64);
        let to = format_micros(t0 + span * (i as i64 + 1));
        for (n, up, class, what) in [
            (ok[i], true, "ok", "ok"),
            (denied[i], false, "denied", "denied"),
        ] {
            if n == 0 {
                continue;
            }
            let bh = (half * (n as f64 / max).sqrt()).max(3.0);
            let y = if up { mid - bh } else { mid };
            let _ = write!(
                h,
                "<rect class=\"{class}\" x=\"{bx:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>{from} to {to}: {n} {what}</title></rect>",
                (bw - 1.0).max(1.0)
            );
        }
    }
    for (i, (time, what)) in t.marks.iter().enumerate() {
        let mx = x(*time);
        let class = match what.as_str() {
            "created" => "mark-created",
            "reset" => "mark-reset",
            "deleted" => "mark-deleted",
            _ => "mark-status",
        };
        let ly = if i % 2 == 0 { 12.0 } else { 24.0 };
        let _ = write!(
            h,
            "<line class=\"mark {class}\" x1=\"{mx:.1}\" y1=\"{:.1}\" x2=\"{mx:.1}\" y2=\"{:.1}\"><title>{} {}</title></line>\
<text class=\"lbl\" x=\"{:.1}\" y=\"{ly}\">{}</text>",
            ly + 2.0,
            H - BOTTOM,
            esc(what),
            format_micros(*time),
            (mx + 3.0).min(W - 60.0),
            esc(what)
        );
    }
    let _ = write!(
        h,
        "<text class=\"lbl\" x=\"{LEFT}\" y=\"{}\">{}</text><text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text></svg>",
        H - 6.0,
        format_micros(t0),
        W - RIGHT,
        H - 6.0,
        format_micros(t1)
    );
}

/// What was read, as a table.
fn summary_section(h: &mut String, s: &Summary) {
    h.push_str("<section id=\"summary\"><h2>What was read</h2><table><tbody>");
    for (k, v) in summary::counts(s) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{v}</td></tr>",
            esc(&summary::label(&k))
        );
    }
    h.push_str("</tbody></table>");
    if !s.inputs_skipped.is_empty() {
        h.push_str("<ul>");
        for i in &s.inputs_skipped {
            let _ = write!(h, "<li>skipped {}: {}</li>", esc(&i.input), esc(&i.reason));
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_plot_has_bars_for_ok_and_denied_calls_and_its_marks() {
        let t = KeyTimeline {
            label: "k".into(),
            detail: String::new(),
            calls: vec![
                (1_000_000_000, true),
                (2_000_000_000, false),
                (9_000_000_000, true),
            ],
            marks: vec![
                (500_000_000, "created".into()),
                (5_000_000_000, "Inactive".into()),
            ],
        };
        let mut h = String::new();
        plot(&mut h, &t);
        assert_eq!(h.matches("<rect class=\"ok\"").count(), 2, "{h}");
        assert_eq!(h.matches("<rect class=\"denied\"").count(), 1);
        assert!(h.contains("mark-created") && h.contains("mark-status"));
        assert!(h.starts_with("<svg") && h.ends_with("</svg>"));
    }
}
