//! `keytrail query`: run the user's SQL over the `events` table.

use std::io::Write;

use anyhow::{Context, Result};

use super::{Outcome, check_parquet_output, load, screen};
use crate::cli::QueryArgs;
use crate::output::{self, Format};
use crate::rules::engine::run_sql;

/// Reads the inputs, runs the SQL and writes the result (Parquet only to a file).
pub fn run(a: &QueryArgs, err: &mut dyn Write) -> Result<Outcome> {
    let format = Format::from(a.format);
    check_parquet_output(format, &a.out)?;
    let ingested = load(&a.input, &a.out, err)?;
    let result = run_sql(&ingested.table, &a.sql).with_context(|| {
        "the SQL failed; the table is `events` and its columns are listed in the README".to_string()
    })?;
    let mut w = output::open_output(a.out.output.as_deref()).context("opening output")?;
    output::write_frame(&mut *w, format, &result, &screen(&a.out))?;
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
