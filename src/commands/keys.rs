//! `keytrail keys`: the inventory of Bedrock API keys rebuilt from the logs.

use std::io::Write;

use anyhow::{Context, Result};

use super::{Outcome, load, screen};
use crate::cli::{KeysArgs, ReportFormat};
use crate::keys::inventory;
use crate::output::{self, forensics};

/// Reads the inputs and writes every key with its state and use.
pub fn run(a: &KeysArgs, err: &mut dyn Write) -> Result<Outcome> {
    let ingested = load(&a.input, &a.out, err)?;
    let inv = inventory::build_from_table(&ingested.table)?;
    let mut w = output::open_output(a.out.output.as_deref()).context("opening output")?;
    forensics::write_inventory(&mut *w, a.format, &inv, &ingested.summary, &screen(&a.out))?;
    w.flush()?;
    if a.format != ReportFormat::Table && !a.out.quiet {
        writeln!(err, "{}", output::summary_line(&ingested.summary))?;
    }
    Ok(Outcome {
        partial: !ingested.summary.inputs_skipped.is_empty(),
        ..Outcome::default()
    })
}
