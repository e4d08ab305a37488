//! One module per subcommand, plus what they share: reading inputs into events.

pub mod events;
pub mod query;
pub mod rules;
pub mod scan;

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::InputArgs;
use crate::pipeline::{IngestOptions, Ingested, ingest};
use crate::sources::local;
use crate::timefmt::parse_time_bound;

/// How a command ended, for the exit code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// A finding at or above `--fail-on` exists.
    pub findings_hit: bool,
    /// Some input was skipped as bad.
    pub partial: bool,
}

/// Turns `--since/--until/--all-events` into ingest options.
pub fn ingest_options(a: &InputArgs) -> Result<IngestOptions> {
    let now = Utc::now();
    let bound = |v: &Option<String>, flag: &str| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| {
                parse_time_bound(s, now)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("bad {flag}"))
            })
            .transpose()
    };
    Ok(IngestOptions {
        all_events: a.all_events,
        since: bound(&a.since, "--since")?,
        until: bound(&a.until, "--until")?,
    })
}

/// Reads the inputs named on the command line, printing diagnostics to `err`.
pub fn load(a: &InputArgs, err: &mut dyn Write) -> Result<Ingested> {
    let opts = ingest_options(a)?;
    let expanded = local::expand(&a.paths)?;
    let bar =
        (!a.quiet && std::io::stderr().is_terminal() && expanded.inputs.len() > 20).then(|| {
            let b = ProgressBar::new(expanded.inputs.len() as u64);
            b.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed} ETA {eta}")
                    .expect("template"),
            );
            b
        });
    let ingested = ingest(&expanded, &opts, bar.as_ref());
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for m in &ingested.messages {
        writeln!(err, "keytrail: {m}")?;
    }
    Ok(ingested)
}
