//! `keytrail completions SHELL`: the shell completion script, from the clap definitions.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::Outcome;
use crate::cli::{Cli, CompletionsArgs};

/// Writes the completion script for the shell (stdout or `--output FILE`).
pub fn run(a: &CompletionsArgs) -> Result<Outcome> {
    let mut w = crate::output::open_output(a.out.output.as_deref()).context("opening output")?;
    clap_complete::generate(a.shell, &mut Cli::command(), "keytrail", &mut w);
    w.flush()?;
    Ok(Outcome::default())
}
