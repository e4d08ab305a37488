//! `keytrail events`: print the kept events, normalized.

use std::io::Write;

use anyhow::{Context, Result};

use super::{Outcome, check_parquet_output, load};
use crate::cli::EventsArgs;
use crate::output;

/// Reads the inputs and writes the kept events (Parquet only to a file).
pub fn run(a: &EventsArgs, err: &mut dyn Write) -> Result<Outcome> {
    check_parquet_output(&a.input)?;
    let ingested = load(&a.input, err)?;
    let mut w = output::open_output(a.input.output.as_deref()).context("opening output")?;
    output::write_events(&mut *w, a.input.format, &ingested.table)?;
    w.flush()?;
    writeln!(err, "{}", output::summary_line(&ingested.summary))?;
    Ok(Outcome {
        findings_hit: false,
        partial: !ingested.summary.inputs_skipped.is_empty(),
        ..Outcome::default()
    })
}
