//! Output: writers for findings, events and query results in table, JSON, NDJSON, CSV,
//! HTML (`scan`) and Parquet (events and query results), and for the forensics commands
//! (`forensics`). Everything goes through a `Write` handed in by the command; nothing
//! prints directly. Tables for people are laid out by `layout` for the `term::Screen`.
//!
//! - `term`: screen width and colour decisions (`--color`, `NO_COLOR`).
//! - `layout`: tables that fit the screen, or records; words are never cut.
//! - `report`: the `scan` table report (severity headline, sections by rule).
//! - `summary`: the ingest summary as a table and as one line, printed generically.
//! - `html`: the one-file HTML report with a timeline per key.

pub mod forensics;
pub mod html;
pub mod layout;
pub mod report;
pub mod summary;
pub mod term;
pub mod values;

use std::io::{self, Write};
use std::path::Path;

use polars::prelude::{DataFrame, ParquetWriter};
use serde::Serialize;
use serde_json::Value as Json;

use crate::findings::{Finding, SCHEMA_VERSION};
use crate::pipeline::Summary;
use crate::table::EventTable;
use layout::{Cell, Grid};
pub use summary::{summary_line, write_summary};
use term::Screen;
use values::{cell_text, frame_rows, json_text};

/// Output formats; each command accepts the ones it writes (see `cli`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
    /// Apache Parquet (events and query results; needs --output FILE).
    Parquet,
    /// One self-contained HTML page (`scan`).
    Html,
}

/// Opens `--output FILE`, or stdout.
pub fn open_output(path: Option<&Path>) -> io::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}

/// Writes findings for `scan` as JSON, NDJSON or CSV (the table and HTML reports are in
/// `report` and `html`).
pub fn write_findings(
    w: &mut dyn Write,
    format: Format,
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    match format {
        Format::Json => {
            // Borrowed, not a copy of every finding (dense corpora give thousands of them).
            #[derive(Serialize)]
            struct Doc<'a> {
                schema_version: u32,
                findings: &'a [Finding],
                summary: &'a Summary,
            }
            let doc = Doc {
                schema_version: SCHEMA_VERSION,
                findings,
                summary,
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
        Format::Table | Format::Html | Format::Parquet => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "write_findings writes json, ndjson or csv",
        )),
    }
}

/// Writes a frame as Parquet.
pub fn write_parquet(w: &mut dyn Write, df: &DataFrame) -> io::Result<()> {
    let mut df = df.clone();
    ParquetWriter::new(w)
        .finish(&mut df)
        .map(|_| ())
        .map_err(io::Error::other)
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

/// The columns of [`EVENT_TABLE_COLUMNS`] left out first on a narrow screen.
const EVENT_TABLE_DROPS: &[usize] = &[9, 6, 1, 2, 7, 8, 4];

/// Where the reader finds the columns a narrow table leaves out.
pub const JSON_HINT: &str = "--format json or ndjson has every column";

/// Writes the table's events in the chosen format, batch by batch; JSON objects carry
/// every table column.
pub fn write_events(
    w: &mut dyn Write,
    format: Format,
    table: &EventTable,
    screen: &Screen,
) -> io::Result<()> {
    let batches = table.batches().map(|b| b.map_err(io::Error::other));
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
            for batch in batches {
                for e in &batch? {
                    serde_json::to_writer(&mut *w, e)?;
                    writeln!(w)?;
                }
            }
            Ok(())
        }
        Format::Json => {
            // One array, written element by element so no batch is held twice.
            write!(w, "[")?;
            let mut first = true;
            for batch in batches {
                for e in &batch? {
                    write!(w, "{}\n  ", if first { "" } else { "," })?;
                    serde_json::to_writer(&mut *w, e)?;
                    first = false;
                }
            }
            writeln!(w, "{}]", if first { "" } else { "\n" })
        }
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            for batch in batches {
                for e in &batch? {
                    c.serialize(e)?;
                }
            }
            c.flush()
        }
        Format::Table | Format::Html => {
            let mut g = Grid::new(EVENT_TABLE_COLUMNS.iter().copied());
            for batch in batches {
                for e in &batch? {
                    let v = serde_json::to_value(e)?;
                    g.row(
                        EVENT_TABLE_COLUMNS
                            .iter()
                            .map(|k| Cell::from(cell_text(&v[*k]))),
                    );
                }
            }
            g.droppable(EVENT_TABLE_DROPS, JSON_HINT);
            if !g.is_empty() {
                g.write(w, screen)?;
            }
            writeln!(w, "{} events", g.len())
        }
    }
}

/// Writes a query result frame in the chosen format.
pub fn write_frame(
    w: &mut dyn Write,
    format: Format,
    df: &DataFrame,
    screen: &Screen,
) -> io::Result<()> {
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
        Format::Csv | Format::Table | Format::Html => {
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
            let mut g = Grid::new(names.iter().cloned());
            for r in &rows {
                g.row(names.iter().map(|n| Cell::from(cell_text(&r[n]))));
            }
            if !g.is_empty() {
                g.write(w, screen)?;
            }
            writeln!(w, "{} rows", rows.len())
        }
    }
}
