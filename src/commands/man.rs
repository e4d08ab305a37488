//! `keytrail man`: the man page (roff) from the clap definitions: `keytrail.1` on stdout,
//! or with `--dir DIR` that page and one `keytrail-COMMAND.1` per command.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::Outcome;
use crate::cli::{Cli, ManArgs};

/// Writes the page(s).
pub fn run(a: &ManArgs, err: &mut dyn Write) -> Result<Outcome> {
    let cmd = Cli::command();
    match &a.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
            if !a.out.quiet {
                writeln!(
                    err,
                    "keytrail: wrote keytrail.1 and keytrail-COMMAND.1 pages to {}",
                    dir.display()
                )?;
            }
        }
        None => {
            let mut w =
                crate::output::open_output(a.out.output.as_deref()).context("opening output")?;
            clap_mangen::Man::new(cmd).render(&mut w)?;
            w.flush()?;
        }
    }
    Ok(Outcome::default())
}
