//! `keytrail query`: run the user's SQL over the `events` table.

use std::io::Write;

use anyhow::{Context, Result};

use super::{Outcome, check_parquet_output, load};
use crate::cli::QueryArgs;
use crate::output;
use crate::rules::engine::run_sql;

/// Reads the inputs, runs the SQL and writes the result (Parquet only to a file).
pub fn run(a: &QueryArgs, err: &mut dyn Write) -> Result<Outcome> {
    check_parquet_output(&a.input)?;
    let ingested = load(&a.input, err)?;
    let result = run_sql(&ingested.table, &a.sql).with_context(|| {
        "the SQL failed; the table is `events` and its columns are listed in the README".to_string()
    })?;
    let mut w = output::open_output(a.input.output.as_deref()).context("opening output")?;
    output::write_frame(&mut *w, a.input.format, &result)?;
    w.flush()?;
    writeln!(err, "{}", output::summary_line(&ingested.summary))?;
    Ok(Outcome {
        findings_hit: false,
        partial: !ingested.summary.inputs_skipped.is_empty(),
        ..Outcome::default()
    })
}
