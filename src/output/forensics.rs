//! Writers for the forensics commands: decoded tokens, the key inventory, investigations
//! and remediation plans, as tables (or text), JSON and NDJSON.

use std::collections::BTreeSet;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::layout::{Cell, Grid};
use super::term::{Screen, Tone};
use super::values::json_text;
use crate::cli::{PlanFormat, ReportFormat};
use crate::keys::inventory::{Inventory, LongTermKey, ShortTermSigner, Usage};
use crate::keys::investigate::Investigation;
use crate::keys::remediate::Plan;
use crate::keys::report::TokenReport;
use crate::pipeline::Summary;
use crate::timefmt::format_micros;

/// The forensics JSON documents' schema version.
pub const FORENSICS_SCHEMA_VERSION: u32 = 1;

/// A token-like string that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenProblem {
    /// Where it was found: an argument, `<stdin>` or a file.
    pub input: String,
    pub line: usize,
    /// The prefix and first characters only.
    pub redacted: String,
    pub reason: String,
}

/// `decode --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeReport {
    pub schema_version: u32,
    pub tokens: Vec<TokenReport>,
    pub problems: Vec<TokenProblem>,
}

/// Writes decoded tokens; problems go to the JSON document or, otherwise, to the caller.
pub fn write_tokens(
    w: &mut dyn Write,
    format: ReportFormat,
    r: &DecodeReport,
    screen: &Screen,
) -> io::Result<()> {
    match format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, r)?;
            writeln!(w)
        }
        ReportFormat::Ndjson => {
            for t in &r.tokens {
                serde_json::to_writer(&mut *w, t)?;
                writeln!(w)?;
            }
            Ok(())
        }
        ReportFormat::Table => {
            for (i, t) in r.tokens.iter().enumerate() {
                let title = format!("Key {} of {}: {}", i + 1, r.tokens.len(), t.product.label());
                writeln!(w, "{}", Tone::Bold.paint(&title, screen.color))?;
                field_table(&serde_json::to_value(t)?).write(w, screen)?;
                writeln!(w)?;
            }
            Ok(())
        }
    }
}

/// A two-column table of an object's non-null fields (lists joined).
fn field_table(v: &Json) -> Grid {
    let mut t = Grid::new(["field", "value"]);
    if let Some(o) = v.as_object() {
        for (k, v) in o {
            if v.is_null() || v.as_array().is_some_and(|a| a.is_empty()) {
                continue;
            }
            let text = match v.as_array() {
                Some(a) => a.iter().map(json_text).collect::<Vec<_>>().join("\n"),
                None => json_text(v),
            };
            t.row([Cell::from(k.replace('_', " ")), Cell::from(text)]);
        }
    }
    t
}

/// `keys --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct KeysReport<'a> {
    pub schema_version: u32,
    pub long_term: &'a [LongTermKey],
    pub short_term: &'a [ShortTermSigner],
    pub summary: &'a Summary,
}

/// Writes the key inventory: long-term keys, then short-term use by signer.
pub fn write_inventory(
    w: &mut dyn Write,
    format: ReportFormat,
    inv: &Inventory,
    summary: &Summary,
    screen: &Screen,
) -> io::Result<()> {
    match format {
        ReportFormat::Json => {
            let doc = KeysReport {
                schema_version: FORENSICS_SCHEMA_VERSION,
                long_term: &inv.long_term,
                short_term: &inv.short_term,
                summary,
            };
            serde_json::to_writer_pretty(&mut *w, &doc)?;
            writeln!(w)
        }
        ReportFormat::Ndjson => {
            for k in &inv.long_term {
                write_tagged(w, "long_term_key", k)?;
            }
            for s in &inv.short_term {
                write_tagged(w, "short_term_signer", s)?;
            }
            Ok(())
        }
        ReportFormat::Table => {
            let head = format!("Long-term Bedrock API keys: {}", inv.long_term.len());
            writeln!(w, "{}", Tone::Bold.paint(&head, screen.color))?;
            if !inv.long_term.is_empty() {
                long_term_table(&inv.long_term).write(w, screen)?;
            }
            let head = format!(
                "Short-term Bedrock API key use by signing principal: {}",
                inv.short_term.len()
            );
            writeln!(w, "\n{}", Tone::Bold.paint(&head, screen.color))?;
            if !inv.short_term.is_empty() {
                signer_table(&inv.short_term).write(w, screen)?;
            }
            writeln!(w)?;
            super::write_summary(w, summary, screen)
        }
    }
}

/// One NDJSON line: the row with a `record` field naming its kind.
fn write_tagged(w: &mut dyn Write, record: &str, row: &impl Serialize) -> io::Result<()> {
    let mut v = serde_json::to_value(row)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("record".into(), Json::String(record.into()));
    }
    serde_json::to_writer(&mut *w, &v)?;
    writeln!(w)
}

/// A time, or `unknown`.
fn time_or(t: Option<i64>, none: &str) -> String {
    t.map(format_micros).unwrap_or_else(|| none.into())
}

/// A set as lines.
fn lines(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join("\n")
}

/// Text cut to `max` characters for a table cell (JSON keeps it whole).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut c: String = s.chars().take(max - 1).collect();
    c.push('…');
    c
}

/// A set of user agents as lines, each clipped.
fn agents(s: &BTreeSet<String>) -> String {
    s.iter().map(|a| clip(a, 40)).collect::<Vec<_>>().join("\n")
}

/// Use columns shared by both tables.
fn usage_cells(u: &Usage) -> Vec<Cell> {
    let calls = format!("{} ok / {} denied", u.calls_ok, u.calls_denied);
    let tone = if u.calls_denied > 0 {
        Tone::Bad
    } else {
        Tone::Plain
    };
    let mut cells = vec![Cell::new(calls, tone)];
    let rest = vec![
        format!(
            "{}\n{}",
            time_or(u.first_use, "-"),
            time_or(u.last_use, "-")
        ),
        lines(&u.regions),
        lines(&u.models),
        lines(&u.source_ips),
        agents(&u.user_agents),
    ];
    cells.extend(rest.into_iter().map(Cell::from));
    cells
}

/// The long-term keys table.
fn long_term_table(keys: &[LongTermKey]) -> Grid {
    let mut t = Grid::new([
        "credential / user",
        "account",
        "created (by)",
        "expires",
        "status",
        "last reset",
        "calls",
        "first / last use",
        "regions",
        "models",
        "source IPs",
        "user agents",
    ]);
    for k in keys {
        let status_tone = match k.status.as_str() {
            "Active" => Tone::Good,
            "Inactive" | "Deleted" => Tone::Dim,
            _ => Tone::Plain,
        };
        let mut row: Vec<Cell> = vec![
            Cell::from(format!(
                "{}\n{}",
                k.credential_id.as_deref().unwrap_or("(id unknown)"),
                k.user_name
            )),
            Cell::from(k.account_id.clone().unwrap_or_default()),
            Cell::from(match k.created_at {
                Some(c) => format!(
                    "{}\n{}",
                    format_micros(c),
                    k.created_by.as_deref().unwrap_or("?")
                ),
                None => "unknown".into(),
            }),
            Cell::from(k.expires.clone().unwrap_or_else(|| "unknown".into())),
            Cell::new(
                match k.status_since {
                    Some(s) if k.status != "unknown" => {
                        format!("{}\nsince {}", k.status, format_micros(s))
                    }
                    _ => k.status.clone(),
                },
                status_tone,
            ),
            Cell::from(time_or(k.last_reset, "-")),
        ];
        row.extend(usage_cells(&k.usage));
        let title = format!(
            "{} ({})",
            k.credential_id.as_deref().unwrap_or("(id unknown)"),
            k.user_name
        );
        t.titled_row(Cell::new(title, Tone::Bold), row);
    }
    t
}

/// The short-term signers table.
fn signer_table(signers: &[ShortTermSigner]) -> Grid {
    let mut t = Grid::new([
        "signer",
        "account",
        "access key ids",
        "calls",
        "first / last use",
        "regions",
        "models",
        "source IPs",
        "user agents",
    ]);
    for s in signers {
        let mut row = vec![
            Cell::from(s.signer.clone()),
            Cell::from(s.account_id.clone().unwrap_or_default()),
            Cell::from(lines(&s.access_key_ids)),
        ];
        row.extend(usage_cells(&s.usage));
        t.titled_row(Cell::new(s.signer.clone(), Tone::Bold), row);
    }
    t
}

/// The columns of [`TIMELINE_COLUMNS`] left out first on a narrow screen.
const TIMELINE_DROPS: &[usize] = &[10, 8, 3, 1, 5, 2, 7, 9];

/// Columns of the investigation timeline table.
const TIMELINE_COLUMNS: &[&str] = &[
    "event_time",
    "account_id",
    "aws_region",
    "event_source",
    "event_name",
    "principal_arn",
    "activity",
    "source_ip",
    "user_agent",
    "error_code",
    "event_id",
];

/// Writes an investigation: header, rules fired and the timeline (NDJSON: timeline only).
pub fn write_investigation(
    w: &mut dyn Write,
    format: ReportFormat,
    inv: &Investigation,
    screen: &Screen,
) -> io::Result<()> {
    match format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, inv)?;
            writeln!(w)
        }
        ReportFormat::Ndjson => {
            for e in &inv.timeline {
                serde_json::to_writer(&mut *w, e)?;
                writeln!(w)?;
            }
            Ok(())
        }
        ReportFormat::Table => write_investigation_table(w, inv, screen),
    }
}

/// The human view of an investigation.
fn write_investigation_table(
    w: &mut dyn Write,
    inv: &Investigation,
    screen: &Screen,
) -> io::Result<()> {
    let head = format!("Investigation: {}", inv.subject);
    writeln!(w, "{}", Tone::Bold.paint(&head, screen.color))?;
    if let Some(t) = &inv.token {
        field_table(&serde_json::to_value(t)?).write(w, screen)?;
    }
    if !inv.keys.is_empty() {
        writeln!(w, "\nThe key in the logs:")?;
        long_term_table(&inv.keys).write(w, screen)?;
    }
    if !inv.signers.is_empty() {
        writeln!(w, "\nShort-term key use by the signer:")?;
        signer_table(&inv.signers).write(w, screen)?;
    }
    let s = &inv.summary;
    writeln!(
        w,
        "\n{} events from {} to {}; {} bearer calls ok, {} denied (first use {}, last use {}); {} outside Bedrock; {} errors",
        s.events,
        time_or(s.first_event, "-"),
        time_or(s.last_event, "-"),
        s.bearer_calls_ok,
        s.bearer_calls_denied,
        time_or(s.first_use, "-"),
        time_or(s.last_use, "-"),
        s.outside_bedrock,
        s.errors
    )?;
    if !s.regions.is_empty() {
        writeln!(
            w,
            "regions: {}; source IPs: {}",
            s.regions.iter().cloned().collect::<Vec<_>>().join(", "),
            s.source_ips.iter().cloned().collect::<Vec<_>>().join(", ")
        )?;
    }
    if inv.rules_fired.is_empty() {
        writeln!(w, "\nNo rule fired on these events.")?;
    } else {
        let mut t = Grid::new(["severity", "rule", "title", "events here", "finding"]);
        for h in &inv.rules_fired {
            let tone = crate::rules::Severity::parse(&h.severity)
                .map(Tone::Severity)
                .unwrap_or_default();
            t.titled_row(
                Cell::new(format!("{} {}", h.severity.to_uppercase(), h.rule_id), tone),
                [
                    Cell::new(h.severity.to_uppercase(), tone),
                    Cell::from(h.rule_id.clone()),
                    Cell::from(h.title.clone()),
                    Cell::from(h.events_in_timeline.to_string()),
                    Cell::from(h.finding_id.clone()),
                ],
            );
        }
        writeln!(w, "\nRules that fired on these events:")?;
        t.write(w, screen)?;
    }
    for n in &inv.notes {
        writeln!(w, "note: {n}")?;
    }
    writeln!(w, "\nTimeline:")?;
    let mut t = Grid::new(TIMELINE_COLUMNS.iter().copied());
    for e in &inv.timeline {
        let v = serde_json::to_value(e)?;
        let denied = e.error_code.is_some();
        t.row(TIMELINE_COLUMNS.iter().map(|k| {
            let text = json_text(&v[*k]);
            // User agents are long prose; the JSON keeps them whole.
            let text = if *k == "user_agent" {
                clip(&text, 40)
            } else {
                text
            };
            let tone = if denied && *k == "error_code" {
                Tone::Bad
            } else {
                Tone::Plain
            };
            Cell::new(text, tone)
        }));
    }
    t.droppable(TIMELINE_DROPS, super::JSON_HINT);
    if !t.is_empty() {
        t.write(w, screen)?;
    }
    writeln!(w, "{} events", inv.timeline.len())
}

/// Writes a remediation plan as numbered steps (text) or JSON.
pub fn write_plan(w: &mut dyn Write, format: PlanFormat, p: &Plan) -> io::Result<()> {
    if format == PlanFormat::Json {
        serde_json::to_writer_pretty(&mut *w, p)?;
        return writeln!(w);
    }
    writeln!(w, "# Revoking a {}", p.subject)?;
    if let Some(a) = &p.account_id {
        writeln!(w, "# account {a}")?;
    }
    writeln!(w, "# keytrail prints these steps; it never runs them.\n")?;
    for (i, s) in p.steps.iter().enumerate() {
        writeln!(w, "# {}. {}", i + 1, s.title)?;
        writeln!(w, "#    {}", s.why)?;
        if let Some(c) = &s.command {
            writeln!(w, "{c}")?;
        }
        writeln!(w)?;
    }
    for n in &p.notes {
        writeln!(w, "# note: {n}")?;
    }
    Ok(())
}
