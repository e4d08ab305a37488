//! `keytrail events`: print the kept events, normalized.

use std::io::Write;

use anyhow::{Context, Result};

use super::{Outcome, check_parquet_output, load, screen};
use crate::cli::EventsArgs;
use crate::output::{self, Format};

/// Reads the inputs and writes the kept events (Parquet only to a file).
pub fn run(a: &EventsArgs, err: &mut dyn Write) -> Result<Outcome> {
    let format = Format::from(a.format);
    check_parquet_output(format, &a.out)?;
    let ingested = load(&a.input, &a.out, err)?;
    let mut w = output::open_output(a.out.output.as_deref()).context("opening output")?;
    output::write_events(&mut *w, format, &ingested.table, &screen(&a.out))?;
    w.flush()?;
    if !a.out.quiet {
        writeln!(err, "{}", output::summary_line(&ingested.summary))?;
    }
    Ok(Outcome {
        findings_hit: false,
        partial: !ingested.summary.inputs_skipped.is_empty(),
        ..Outcome::default()
    })
}
