//! The ingest summary for people: a table after the results, or one line on stderr.
//!
//! Both are built from the summary's JSON form, so a count added to
//! [`crate::pipeline::Summary`] shows up without a change here (with its field name as the
//! label until it gets one below). Counts of zero are left out, except the three that say
//! what was read.

use std::io::{self, Write};

use serde_json::Value as Json;

use super::layout::{Cell, Grid};
use super::term::{Screen, Tone};
use crate::pipeline::Summary;

/// Always shown, zero or not.
const ALWAYS: &[&str] = &["inputs_read", "events_read", "events_kept"];

/// Labels (and why a thing was passed over) for the known counts.
const LABELS: &[(&str, &str)] = &[
    ("inputs_read", "inputs read"),
    ("events_read", "events read"),
    ("events_kept", "events kept"),
    (
        "digest_files_skipped",
        "digest files passed over (they hold hashes, not events)",
    ),
    (
        "files_ignored_by_name",
        "files passed over by name (not a log file's name: README, Inputs)",
    ),
    ("records_unreadable", "records unreadable (skipped)"),
    (
        "bytes_skipped",
        "bytes passed over (could not be read as records)",
    ),
    ("records_with_odd_fields", "records with odd fields (kept)"),
    (
        "events_outside_time_window",
        "events outside --since/--until",
    ),
    (
        "inputs_outside_time_window",
        "S3 objects outside --since/--until (not fetched)",
    ),
    ("duplicate_events_dropped", "duplicate deliveries dropped"),
    ("api_calls", "AWS API calls"),
    (
        "inputs_skipped",
        "inputs skipped as bad (results are partial)",
    ),
];

/// A count's label: the known one, else the field name with spaces.
pub fn label(key: &str) -> String {
    if let Some(reason) = key.strip_prefix("files_passed_over.") {
        return format!("files passed over: {reason}");
    }
    LABELS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| key.replace(['_', '.'], " "))
}

/// The summary's counts in field order: numbers as they are, lists by their length,
/// nested objects flattened (`a.b`).
pub fn counts(s: &Summary) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if let Ok(Json::Object(o)) = serde_json::to_value(s) {
        flatten("", &o, &mut out);
    }
    out
}

/// Collects the numeric leaves of an object.
fn flatten(prefix: &str, o: &serde_json::Map<String, Json>, out: &mut Vec<(String, u64)>) {
    for (k, v) in o {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Json::Number(n) => out.push((key, n.as_u64().unwrap_or(0))),
            Json::Array(a) => out.push((key, a.len() as u64)),
            Json::Object(inner) => flatten(&key, inner, out),
            _ => {}
        }
    }
}

/// The counts worth showing: the three that say what was read, and every other non-zero.
fn shown(s: &Summary) -> Vec<(String, u64)> {
    counts(s)
        .into_iter()
        .filter(|(k, v)| *v > 0 || ALWAYS.contains(&k.as_str()))
        .collect()
}

/// The summary as a table, then one line per input skipped as bad.
pub fn write_summary(w: &mut dyn Write, s: &Summary, screen: &Screen) -> io::Result<()> {
    let mut g = Grid::new(["summary", "count"]);
    g.plain();
    for (k, v) in shown(s) {
        let tone = if k == "inputs_skipped" {
            Tone::Bad
        } else {
            Tone::Plain
        };
        g.row([Cell::from(label(&k)), Cell::new(v.to_string(), tone)]);
    }
    g.write(w, screen)?;
    for skip in &s.inputs_skipped {
        let line = format!("skipped {}: {}", skip.input, skip.reason);
        writeln!(w, "{}", Tone::Bad.paint(&line, screen.color))?;
    }
    Ok(())
}

/// The summary as one line, for stderr when stdout carries machine-readable output.
pub fn summary_line(s: &Summary) -> String {
    let parts: Vec<String> = shown(s)
        .into_iter()
        .map(|(k, v)| {
            let short = match k.as_str() {
                "inputs_read" => "inputs".to_string(),
                "events_read" => "events read".to_string(),
                "events_kept" => "kept".to_string(),
                "inputs_skipped" => "inputs skipped as bad".to_string(),
                "api_calls" => "AWS API calls".to_string(),
                other => match other.strip_prefix("files_passed_over.") {
                    // The reason is prose ("a .log, .txt or extensionless file"): as is.
                    Some(reason) => format!("files passed over: {reason}"),
                    None => other.replace(['_', '.'], " "),
                },
            };
            format!("{v} {short}")
        })
        .collect();
    format!("keytrail: {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::SkippedInput;

    fn sample() -> Summary {
        Summary {
            inputs_read: 13,
            events_read: 177,
            events_kept: 67,
            digest_files_skipped: 1,
            files_ignored_by_name: 2,
            inputs_skipped: vec![SkippedInput {
                input: "bad.json.gz".into(),
                reason: "truncated gzip".into(),
            }],
            ..Summary::default()
        }
    }

    #[test]
    fn the_line_names_what_was_read_and_every_non_zero_count() {
        assert_eq!(
            summary_line(&sample()),
            "keytrail: 13 inputs, 177 events read, 67 kept, 1 digest files skipped, 2 files ignored by name, 1 inputs skipped as bad"
        );
        assert_eq!(
            summary_line(&Summary::default()),
            "keytrail: 0 inputs, 0 events read, 0 kept"
        );
    }

    #[test]
    fn the_line_keeps_the_reason_files_were_passed_over_as_written() {
        let mut s = Summary::default();
        let why = "not CloudTrail JSON (a .log, .txt or extensionless file)";
        s.files_passed_over.insert(why.to_string(), 3);
        let line = summary_line(&s);
        assert!(
            line.ends_with(&format!(", 3 files passed over: {why}")),
            "{line}"
        );
    }

    #[test]
    fn the_table_says_why_things_were_passed_over_and_lists_skipped_inputs() {
        let mut out = Vec::new();
        write_summary(&mut out, &sample(), &Screen::default()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("files passed over by name (not a log file's name"),
            "{out}"
        );
        assert!(out.contains("digest files passed over (they hold hashes, not events)"));
        assert!(out.contains("skipped bad.json.gz: truncated gzip"));
        assert!(
            !out.contains("AWS API calls"),
            "zero counts are left out: {out}"
        );
    }
}
