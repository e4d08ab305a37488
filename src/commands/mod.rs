//! One module per subcommand, plus what they share: reading inputs into events.

pub mod decode;
pub mod doctor;
pub mod events;
pub mod investigate;
pub mod keys;
pub mod query;
pub mod remediate;
pub mod rules;
pub mod run;
pub mod scan;

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::aws;
use crate::cli::InputArgs;
use crate::pipeline::{Assembler, IngestOptions, Ingested, read_local};
use crate::sources::lookup::LookupPlan;
use crate::sources::shard::Shard;
use crate::sources::{Spec, local, read_cloud};
use crate::table::store::MemoryBudget;
use crate::timefmt::parse_time_bound;

/// How a command ended, for the exit code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// A finding at or above `--fail-on` exists.
    pub findings_hit: bool,
    /// Some input was skipped as bad.
    pub partial: bool,
    /// Some findings could not be delivered.
    pub delivery_failed: bool,
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
    if a.no_redact && a.output.is_none() {
        anyhow::bail!(
            "--no-redact keeps secrets found in the records: it writes only to a local file; add --output FILE"
        );
    }
    Ok(IngestOptions {
        all_events: a.all_events,
        since: bound(&a.since, "--since")?,
        until: bound(&a.until, "--until")?,
        keep_raw: a.keep_raw,
        also_keep: None,
        no_redact: a.no_redact,
        shard: a
            .shard
            .as_deref()
            .map(Shard::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        budget: MemoryBudget::of(
            MemoryBudget::parse_size(&a.memory_limit)
                .map_err(anyhow::Error::msg)
                .context("bad --memory-limit")?,
        ),
    })
}

/// Refuses `--format parquet` without `--output FILE`: Parquet is binary and never goes to
/// stdout (a terminal or a pipe alike).
pub fn check_parquet_output(a: &InputArgs) -> Result<()> {
    if a.format == crate::output::Format::Parquet && a.output.is_none() {
        anyhow::bail!(
            "--format parquet writes a binary file: add --output FILE.parquet (Parquet is never written to stdout)"
        );
    }
    Ok(())
}

/// Reads the inputs named on the command line, printing diagnostics to `err`.
pub fn load(a: &InputArgs, err: &mut dyn Write) -> Result<Ingested> {
    let plan = if a.all_events {
        LookupPlan::Everything
    } else {
        LookupPlan::Relevant
    };
    load_with(a, &plan, &ingest_options(a)?, err)
}

/// Like [`load`], with the events to ask LookupEvents for and the ingest options
/// (investigations widen both to the subject's own events).
pub fn load_with(
    a: &InputArgs,
    plan: &LookupPlan,
    opts: &IngestOptions,
    err: &mut dyn Write,
) -> Result<Ingested> {
    let specs = Spec::parse_all(&a.paths).map_err(anyhow::Error::msg)?;
    let mut opts = opts.clone();
    if let Some(note) = opts
        .budget
        .fit_to(crate::table::store::container_memory_limit())
    {
        writeln!(err, "keytrail: {note}")?;
    }
    let opts = &opts;
    let locals: Vec<String> = specs
        .iter()
        .filter_map(|s| match s {
            Spec::Local(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let show = !a.quiet && std::io::stderr().is_terminal();
    let mut asm = Assembler::new(opts.budget.clone());
    if !locals.is_empty() {
        let mut expanded = local::expand(&locals)?;
        if let Some(shard) = opts.shard {
            expanded.keep_shard(shard);
        }
        let bar = (show && expanded.inputs.len() > 20).then(|| {
            bar_with(
                ProgressBar::new(expanded.inputs.len() as u64),
                "{bar:40} {pos}/{len} files {elapsed} ETA {eta}",
            )
        });
        asm.counts(expanded.counts());
        read_local(&expanded, opts, bar.as_ref(), &mut asm);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    if specs.iter().any(Spec::is_cloud) {
        let bar = show.then(|| {
            bar_with(
                ProgressBar::new_spinner(),
                "{spinner} {pos} objects/queries read {elapsed}",
            )
        });
        let tick = || {
            if let Some(b) = &bar {
                b.inc(1);
            }
        };
        runtime()?.block_on(async {
            let ctx = aws::load_context(&a.aws).await;
            read_cloud(&ctx, &specs, plan, opts, &mut asm, &tick).await;
        });
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    let ingested = asm.finish().context("building the events table")?;
    if ingested.table.is_spilled() {
        writeln!(
            err,
            "keytrail: the events table ({} events) outgrew --memory-limit {}: spilled to temporary files in {} (removed on exit)",
            ingested.table.len(),
            a.memory_limit,
            opts.budget.spill.path().display()
        )?;
    }
    for m in &ingested.messages {
        writeln!(err, "keytrail: {m}")?;
    }
    Ok(ingested)
}

/// The forensics commands' formats: no CSV (their rows hold lists); the others one to one.
pub fn report_format(f: crate::output::Format) -> Result<crate::cli::ReportFormat> {
    use crate::cli::ReportFormat;
    use crate::output::Format;
    match f {
        Format::Table => Ok(ReportFormat::Table),
        Format::Json => Ok(ReportFormat::Json),
        Format::Ndjson => Ok(ReportFormat::Ndjson),
        other => anyhow::bail!(
            "this command writes table, json or ndjson, not {other:?}; use `keytrail events` or `query` for CSV"
        ),
    }
}

/// A progress bar with the given template.
fn bar_with(b: ProgressBar, template: &str) -> ProgressBar {
    b.set_style(ProgressStyle::with_template(template).expect("static template"));
    b
}

/// The async runtime for AWS calls: one worker per core.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
