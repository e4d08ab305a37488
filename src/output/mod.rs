//! Output: writers for findings, events and query results in table, JSON, NDJSON, CSV and
//! (events and query results) Parquet, and for the forensics commands (`forensics`).
//! Everything goes through a `Write` handed in by the command; nothing prints directly.

pub mod forensics;
pub mod values;

use std::io::{self, Write};
use std::path::Path;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use polars::prelude::{DataFrame, ParquetWriter};
use serde_json::Value as Json;

use crate::findings::{Finding, SCHEMA_VERSION, ScanReport};
use crate::pipeline::Summary;
use crate::table::EventTable;
use values::{frame_rows, json_text};

/// Output formats shared by the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
    /// Apache Parquet (events and query results; needs --output FILE).
    Parquet,
}

/// Opens `--output FILE`, or stdout.
pub fn open_output(path: Option<&Path>) -> io::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}

/// A comfy-table with keytrail's look.
pub(crate) fn new_table(header: Vec<String>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    t
}

/// Writes findings for `scan` in the chosen format (table includes the summary).
pub fn write_findings(
    w: &mut dyn Write,
    format: Format,
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let doc = ScanReport {
                schema_version: SCHEMA_VERSION,
                findings: findings.to_vec(),
                summary: summary.clone(),
            };
            serde_json::to_writer_pretty(&mut *w, &doc)?;
            writeln!(w)
        }
        Format::Ndjson => {
            for f in findings {
                serde_json::to_writer(&mut *w, f)?;
                writeln!(w)?;
            }
            Ok(())
        }
        Format::Csv => write_findings_csv(w, findings),
        Format::Table => write_findings_tables(w, findings, summary),
        Format::Parquet => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            PARQUET_FINDINGS,
        )),
    }
}

/// Why findings are not written as Parquet.
pub const PARQUET_FINDINGS: &str = "findings are not written as Parquet: use --format json, ndjson or csv (or --export ocsf); Parquet is for `keytrail events` and `keytrail query`";

/// Writes a frame as Parquet.
pub fn write_parquet(w: &mut dyn Write, df: &DataFrame) -> io::Result<()> {
    let mut df = df.clone();
    ParquetWriter::new(w)
        .finish(&mut df)
        .map(|_| ())
        .map_err(io::Error::other)
}

/// One table per rule that fired, then the summary.
fn write_findings_tables(
    w: &mut dyn Write,
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    let mut i = 0;
    while i < findings.len() {
        let rule = &findings[i].rule_id;
        let group: Vec<&Finding> = findings[i..]
            .iter()
            .take_while(|f| &f.rule_id == rule)
            .collect();
        i += group.len();
        let f0 = group[0];
        writeln!(
            w,
            "[{}] {} ({}): {} finding(s)",
            f0.severity.as_str().to_uppercase(),
            f0.title,
            f0.rule_id,
            group.len()
        )?;
        let mut header: Vec<String> = f0.fields.keys().cloned().collect();
        header.push("evidence".into());
        let mut t = new_table(header.clone());
        for f in &group {
            let mut row: Vec<String> = header[..header.len() - 1]
                .iter()
                .map(|k| json_text(f.fields.get(k).unwrap_or(&Json::Null)))
                .collect();
            row.push(evidence_text(f));
            t.add_row(row);
        }
        writeln!(w, "{t}\n")?;
    }
    if findings.is_empty() {
        writeln!(w, "No findings.\n")?;
    }
    write_summary_table(w, summary)
}

/// Short evidence text: the count and the first event ids.
fn evidence_text(f: &Finding) -> String {
    let shown: Vec<&str> = f
        .evidence_event_ids
        .iter()
        .take(2)
        .map(String::as_str)
        .collect();
    match f.evidence_count {
        0 => String::new(),
        1 => shown.join(""),
        n => format!("{n} events: {}, ...", shown.join(", ")),
    }
}

/// The summary of inputs and events as a table.
pub fn write_summary_table(w: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let mut t = new_table(vec!["summary".into(), "count".into()]);
    for (k, v) in [
        ("inputs read", s.inputs_read),
        ("events read", s.events_read),
        ("events kept", s.events_kept),
        ("digest files skipped", s.digest_files_skipped),
        ("files ignored by name", s.files_ignored_by_name),
        ("records unreadable", s.records_unreadable),
        ("bytes skipped (unreadable)", s.bytes_skipped),
        ("records with odd fields", s.records_with_odd_fields),
        ("events outside time window", s.events_outside_time_window),
        (
            "objects outside time window (not fetched)",
            s.inputs_outside_time_window,
        ),
        ("AWS API calls", s.api_calls),
        ("duplicate events dropped", s.duplicate_events_dropped),
        ("inputs skipped as bad", s.inputs_skipped.len() as u64),
    ] {
        t.add_row(vec![k.to_string(), v.to_string()]);
    }
    writeln!(w, "{t}")?;
    for skip in &s.inputs_skipped {
        writeln!(w, "skipped {}: {}", skip.input, skip.reason)?;
    }
    Ok(())
}

/// The summary as one line, for stderr when stdout carries machine-readable output.
pub fn summary_line(s: &Summary) -> String {
    format!(
        "keytrail: {} inputs, {} events read, {} kept, {} digest files skipped, {} inputs skipped as bad, {} unreadable records, {} outside time window{}",
        s.inputs_read,
        s.events_read,
        s.events_kept,
        s.digest_files_skipped,
        s.inputs_skipped.len(),
        s.records_unreadable,
        s.events_outside_time_window,
        if s.api_calls > 0 {
            format!(", {} AWS API calls", s.api_calls)
        } else {
            String::new()
        }
    )
}

/// Findings as CSV: fixed columns, rule-specific fields as a JSON object.
fn write_findings_csv(w: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    let mut c = csv::Writer::from_writer(w);
    c.write_record([
        "finding_id",
        "rule_id",
        "severity",
        "title",
        "evidence_count",
        "evidence_event_ids",
        "fields",
    ])?;
    for f in findings {
        c.write_record([
            f.finding_id.as_str(),
            &f.rule_id,
            f.severity.as_str(),
            &f.title,
            &f.evidence_count.to_string(),
            &f.evidence_event_ids.join(" "),
            &serde_json::to_string(&f.fields)?,
        ])?;
    }
    c.flush()
}

/// Columns shown by `events --format table` (all columns go to the other formats).
const EVENT_TABLE_COLUMNS: &[&str] = &[
    "event_time",
    "account_id",
    "aws_region",
    "event_name",
    "user_name",
    "activity",
    "key_kind",
    "source_ip",
    "error_code",
    "event_id",
];

/// Writes the table's events in the chosen format; JSON objects carry every table column.
/// Every format but `table` streams: memory holds one batch of rows, not the table.
pub fn write_events(w: &mut dyn Write, format: Format, table: &EventTable) -> io::Result<()> {
    match format {
        Format::Parquet => {
            let mut frames = table.frames();
            let first = match frames.next() {
                Some(f) => f.map_err(io::Error::other)?,
                None => EventTable::empty()
                    .lazy()
                    .collect()
                    .map_err(io::Error::other)?,
            };
            let mut pw = ParquetWriter::new(w)
                .batched(first.schema())
                .map_err(io::Error::other)?;
            pw.write_batch(&first).map_err(io::Error::other)?;
            for f in frames {
                pw.write_batch(&f.map_err(io::Error::other)?)
                    .map_err(io::Error::other)?;
            }
            pw.finish().map(|_| ()).map_err(io::Error::other)
        }
        Format::Ndjson => {
            for batch in table.batches() {
                for e in batch.map_err(io::Error::other)? {
                    serde_json::to_writer(&mut *w, &e)?;
                    writeln!(w)?;
                }
            }
            Ok(())
        }
        Format::Json => {
            write!(w, "[")?;
            let mut first = true;
            for batch in table.batches() {
                for e in batch.map_err(io::Error::other)? {
                    write!(w, "{}\n  ", if first { "" } else { "," })?;
                    first = false;
                    serde_json::to_writer(&mut *w, &e)?;
                }
            }
            writeln!(w, "{}]", if first { "" } else { "\n" })
        }
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            for batch in table.batches() {
                for e in batch.map_err(io::Error::other)? {
                    c.serialize(&e)?;
                }
            }
            c.flush()
        }
        Format::Table => {
            let events = table.to_events().map_err(io::Error::other)?;
            let mut t = new_table(EVENT_TABLE_COLUMNS.iter().map(|s| s.to_string()).collect());
            for e in &events {
                let v = serde_json::to_value(e)?;
                t.add_row(
                    EVENT_TABLE_COLUMNS
                        .iter()
                        .map(|k| json_text(&v[*k]))
                        .collect::<Vec<_>>(),
                );
            }
            writeln!(w, "{t}")?;
            writeln!(w, "{} events", events.len())
        }
    }
}

/// Writes a query result frame in the chosen format.
pub fn write_frame(w: &mut dyn Write, format: Format, df: &DataFrame) -> io::Result<()> {
    match format {
        Format::Parquet => write_parquet(w, df),
        Format::Ndjson => {
            for r in &frame_rows(df) {
                serde_json::to_writer(&mut *w, r)?;
                writeln!(w)?;
            }
            Ok(())
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &frame_rows(df))?;
            writeln!(w)
        }
        Format::Csv | Format::Table => {
            let rows = frame_rows(df);
            let names: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|s| s.to_string())
                .collect();
            let cells = |r: &serde_json::Map<String, Json>| {
                names.iter().map(|n| json_text(&r[n])).collect::<Vec<_>>()
            };
            if format == Format::Csv {
                let mut c = csv::Writer::from_writer(w);
                c.write_record(&names)?;
                for r in &rows {
                    c.write_record(cells(r))?;
                }
                return c.flush();
            }
            let mut t = new_table(names.clone());
            for r in &rows {
                t.add_row(cells(r));
            }
            writeln!(w, "{t}")?;
            writeln!(w, "{} rows", rows.len())
        }
    }
}
