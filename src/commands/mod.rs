//! One module per subcommand, plus what they share: reading inputs into events, refusing
//! a run that read nothing, and the screen tables are laid out for.

pub mod completions;
pub mod decode;
pub mod doctor;
pub mod events;
pub mod investigate;
pub mod keys;
pub mod man;
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
use crate::cli::{InputArgs, OutputArgs};
use crate::output::term::Screen;
use crate::pipeline::{Assembler, IngestOptions, Ingested, Summary, read_local};
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
pub fn ingest_options(a: &InputArgs, output: Option<&std::path::Path>) -> Result<IngestOptions> {
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
    if a.no_redact && output.is_none() {
        anyhow::bail!(
            "--no-redact keeps secrets found in the records: it writes only to a local file; add --output FILE"
        );
    }
    let since = bound(&a.since, "--since")?;
    let until = bound(&a.until, "--until")?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(NothingRead::EmptyWindow {
            since: crate::timefmt::format_micros(s),
            until: crate::timefmt::format_micros(u),
        }
        .into());
    }
    Ok(IngestOptions {
        all_events: a.all_events,
        since,
        until,
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

/// Why a run is refused for having nothing to read: exit code 2, never "no findings".
#[derive(Debug, thiserror::Error)]
pub enum NothingRead {
    #[error(
        "--since {since} is not before --until {until}: the time window is empty; swap them or widen the window"
    )]
    EmptyWindow { since: String, until: String },
    #[error("nothing was read from {inputs}: no input to read{why}")]
    NoInputs { inputs: String, why: String },
    #[error(
        "nothing could be read: {failed} (the reasons are above); fix what they name (credentials, network, paths, files) and run again"
    )]
    AllFailed { failed: String },
}

/// Refuses a run that read nothing: no input at all once directories were walked and
/// buckets listed, or every input failed without giving a record. What was passed over is
/// said, with why.
pub fn ensure_read(ingested: &Ingested, paths: &[String]) -> Result<(), NothingRead> {
    let s = &ingested.summary;
    if s.inputs_read == 0 {
        return Err(NothingRead::NoInputs {
            inputs: paths.join(", "),
            why: passed_over(s),
        });
    }
    if s.events_read == 0 && s.inputs_skipped.len() as u64 >= s.inputs_read {
        let failed = if s.inputs_read == 1 {
            format!("the one input, {}, failed", s.inputs_skipped[0].input)
        } else {
            format!("all {} inputs failed", s.inputs_read)
        };
        return Err(NothingRead::AllFailed { failed });
    }
    Ok(())
}

/// `; passed over: ...` with every non-zero count besides the read ones, or a hint.
fn passed_over(s: &Summary) -> String {
    let parts: Vec<String> = crate::output::summary::counts(s)
        .into_iter()
        .filter(|(k, v)| {
            *v > 0 && !["inputs_read", "events_read", "events_kept"].contains(&k.as_str())
        })
        .map(|(k, v)| format!("{v} {}", crate::output::summary::label(&k)))
        .collect();
    if parts.is_empty() {
        "; check the path, bucket, prefix or time window".into()
    } else {
        format!(
            "; passed over: {} (a file named on the command line is read whatever its name)",
            parts.join("; ")
        )
    }
}

/// Refuses `--format parquet` without `--output FILE`: Parquet is binary and never goes to
/// stdout (a terminal or a pipe alike).
pub fn check_parquet_output(format: crate::output::Format, o: &OutputArgs) -> Result<()> {
    if format == crate::output::Format::Parquet && o.output.is_none() {
        anyhow::bail!(
            "--format parquet writes a binary file: add --output FILE.parquet (Parquet is never written to stdout)"
        );
    }
    Ok(())
}

/// The screen tables are laid out for: the terminal, or a file (capped width, no colour).
pub fn screen(o: &OutputArgs) -> Screen {
    Screen::detect(o.color, o.output.is_some())
}

/// Reads the inputs named on the command line, printing diagnostics to `err`; a run that
/// read nothing is refused ([`ensure_read`]).
pub fn load(a: &InputArgs, out: &OutputArgs, err: &mut dyn Write) -> Result<Ingested> {
    let plan = if a.all_events {
        LookupPlan::Everything
    } else {
        LookupPlan::Relevant
    };
    let ingested = load_with(
        a,
        &plan,
        &ingest_options(a, out.output.as_deref())?,
        out.quiet,
        err,
    )?;
    ensure_read(&ingested, &a.paths)?;
    Ok(ingested)
}

/// Like [`load`], with the events to ask LookupEvents for and the ingest options
/// (investigations widen both to the subject's own events).
pub fn load_with(
    a: &InputArgs,
    plan: &LookupPlan,
    opts: &IngestOptions,
    quiet: bool,
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
    let show = !quiet && std::io::stderr().is_terminal();
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
            let mut ctx = aws::load_context(&a.aws).await;
            if let Some(b) = &bar {
                // Ticking on while keytrail waits (retries, rate limits); status lines above it.
                b.enable_steady_tick(std::time::Duration::from_millis(250));
                let b = b.clone();
                ctx.status = aws::Status::new(move |line| {
                    b.suspend(|| eprintln!("keytrail: {line}"));
                });
            }
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
