//! `keytrail run`: the scheduled job. Reads what is new, delivers new findings, commits the
//! state, and ends with a one-line summary on stderr and an exit code a scheduler can act on.

use std::collections::HashSet;
use std::io::Write;

use anyhow::Result;

use super::Outcome;
use crate::cli::RunArgs;
use crate::job::{self, RunReport, config};

/// Runs the job once.
pub fn run(a: &RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let mut cfg = config::load(&a.config)?;
    if let Some(s) = &a.state {
        cfg.state = s.clone();
    }
    cfg.aws.verbose = a.verbose;
    let mode = job::RunMode {
        dry_run: a.dry_run,
        init: a.init,
    };
    let report = job::run(&cfg, mode, err)?;
    for m in &report.messages {
        writeln!(err, "keytrail: {m}")?;
    }
    if a.dry_run {
        write_pending(out, &report)?;
    }
    writeln!(
        err,
        "{}",
        summary_line(&report, &cfg.state.display().to_string())
    )?;
    Ok(Outcome {
        findings_hit: false,
        partial: !report.summary.inputs_skipped.is_empty(),
        delivery_failed: report.delivery_failed(),
    })
}

/// `--dry-run`: the findings some sink has not acknowledged yet, one JSON object per line.
fn write_pending(out: &mut dyn Write, r: &RunReport) -> Result<()> {
    let mut seen = HashSet::new();
    for f in &r.pending {
        if seen.insert(&f.finding_id) {
            serde_json::to_writer(&mut *out, f)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The one-line summary: what was read, what was found, what each sink got.
pub fn summary_line(r: &RunReport, state: &str) -> String {
    let s = &r.summary;
    let sinks: Vec<String> = r
        .sinks
        .iter()
        .map(|k| match (&k.error, r.committed) {
            (_, false) => format!("{}: {} would be sent", k.name, k.pending),
            (None, true) => format!("{}: {} sent", k.name, k.pending),
            (Some(e), true) if k.delivered > 0 => format!(
                "{}: {} sent, {} NOT delivered ({e})",
                k.name,
                k.delivered,
                k.pending - k.delivered
            ),
            (Some(e), true) => format!("{}: {} NOT delivered ({e})", k.name, k.pending),
        })
        .collect();
    format!(
        "keytrail run: {} new inputs, {} events read, {} kept ({} replayed from state), {} findings; {}; {} inputs skipped; {} AWS API calls; state {}{}",
        s.inputs_read,
        s.events_read,
        s.events_kept,
        r.history_events,
        r.findings.len(),
        if sinks.is_empty() {
            "no sinks".to_string()
        } else {
            sinks.join(", ")
        },
        s.inputs_skipped.len(),
        s.api_calls,
        state,
        if r.committed {
            ""
        } else {
            " (dry run: nothing delivered or committed)"
        }
    )
}
