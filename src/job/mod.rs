//! The scheduled detection job (`keytrail run`): each run reads only what is new, runs the
//! rules over the new events plus the relevant events kept from earlier runs, and delivers
//! to each sink the findings it has not acknowledged yet.
//!
//! New: S3 objects not read before (per bucket and key, with their etag; the day folders
//! of the last `lookback` are listed again each run, so late deliveries are picked up), local
//! files not read before with their size and modification time, and for LookupEvents each
//! query from `lookup_overlap` before where it stopped. Deliveries are recorded per sink and
//! per batch, the moment the sink acknowledges the batch; what was read is committed after
//! delivery. A run killed at any point and started again re-reads what was not committed,
//! finds the same findings and sends each sink only what it has not acknowledged: at most
//! the batch in flight goes again (and a file sink cuts that batch off first).

pub mod baseline;
pub mod config;
pub mod deliver;
pub mod state;

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use crate::aws::load_context;
use crate::event::Event;
use crate::findings::Finding;
use crate::pipeline::{Assembler, IngestOptions, InputOutcome, RecordFeed, SourceCounts, Summary};
use crate::rules::engine;
use crate::sinks::{Evidence, ExportContext, RetryPolicy, Sink, Tracker};
use crate::sources::lookup::{self, LookupPlan};
use crate::sources::s3::{self, ObjectFilter, ObjectRef};
use crate::sources::{Input, Spec, local};
use crate::table::store::MemoryBudget;
use crate::timefmt::parse_relative;
use config::JobConfig;
use state::{Open, Progress, State};

/// The source name of events replayed from the state.
pub const HISTORY_SOURCE: &str = "keytrail-state:history";

/// How one sink fared in a run.
#[derive(Debug, Clone)]
pub struct SinkReport {
    pub name: String,
    /// Findings this sink had not acknowledged before.
    pub pending: usize,
    /// Of those, how many it acknowledged this run.
    pub delivered: usize,
    /// Empty when all were delivered; the reasons otherwise.
    pub error: Option<String>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Counts for the new inputs (history not included).
    pub summary: Summary,
    pub history_events: u64,
    pub findings: Vec<Finding>,
    /// The findings some sink had not acknowledged (what a dry run prints).
    pub pending: Vec<Finding>,
    pub sinks: Vec<SinkReport>,
    pub messages: Vec<String>,
    /// False for `--dry-run`: nothing delivered, nothing committed.
    pub committed: bool,
}

impl RunReport {
    /// True when some sink did not acknowledge its findings.
    pub fn delivery_failed(&self) -> bool {
        self.sinks.iter().any(|s| s.error.is_some())
    }
}

/// A duration setting such as `2d` in micros.
fn duration(name: &str, v: &str) -> Result<i64> {
    parse_relative(v.trim())
        .with_context(|| format!("`{name} = {v:?}` is not a duration: use 30m, 24h, 2d, 1w"))
}

/// How a run goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunMode {
    /// Compute what would be sent; deliver nothing, write nothing (the state is opened
    /// read-only, or not at all when it does not exist).
    pub dry_run: bool,
    /// This is a first run: a missing or empty state is created, a damaged one moved aside.
    pub init: bool,
}

/// Runs the job once; status lines (a sink's retry waits) go to `status` as they happen.
/// With `mode.dry_run`, the pending findings are computed and returned but nothing is
/// delivered or committed.
pub fn run(cfg: &JobConfig, mode: RunMode, status: &mut dyn Write) -> Result<RunReport> {
    let dry_run = mode.dry_run;
    let now = chrono::Utc::now().timestamp_micros();
    let lookback = duration("lookback", &cfg.lookback)?;
    let overlap = duration("lookup_overlap", &cfg.lookup_overlap)?;
    let history = duration("history", &cfg.history)?;
    let specs = Spec::parse_all(&cfg.inputs).map_err(anyhow::Error::msg)?;
    if specs
        .iter()
        .any(|s| matches!(s, Spec::Local(p) if p == "-"))
    {
        bail!(
            "`-` (standard input) is not a job input: name files, folders, s3:// or lookup: inputs"
        );
    }
    let rules = crate::commands::scan::collect_rules(&cfg.queries, &cfg.param_settings()?)?;
    let retry = RetryPolicy::from_settings(cfg.retries, cfg.retry_delay.as_deref())
        .map_err(anyhow::Error::msg)
        .context("`retry_delay`")?;
    let ctx = ExportContext {
        now_ms: now.div_euclid(1000),
        ..ExportContext::now()
    };
    // Every table is checked; secrets are read (and clients set up) only to deliver.
    for table in &cfg.sinks {
        deliver::spec(table)
            .map_err(anyhow::Error::msg)
            .context("in the [[sink]] tables")?;
    }
    let sinks: Vec<Box<dyn Sink>> = if dry_run {
        Vec::new()
    } else {
        cfg.sinks
            .iter()
            .map(|s| deliver::build(s, &ctx, retry))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)
            .context("in the [[sink]] tables")?
    };
    if cfg.sinks.is_empty() && !dry_run {
        bail!("no [[sink]] in the configuration: add one, or use --dry-run");
    }
    let how = match (dry_run, mode.init || cfg.init) {
        (true, _) => Open::ReadOnly,
        (false, true) => Open::Init,
        (false, false) => Open::Existing,
    };
    let mut state = State::open(&cfg.state, how)?;
    let mut budget = MemoryBudget::of(
        MemoryBudget::parse_size(cfg.memory_limit.as_deref().unwrap_or("512M"))
            .map_err(anyhow::Error::msg)
            .context("`memory_limit`")?,
    );
    if let Some(note) = budget.fit_to(crate::table::store::container_memory_limit()) {
        state.notes.push(note);
    }
    let opts = IngestOptions {
        since: Some(now - lookback),
        keep_raw: true,
        budget,
        ..IngestOptions::default()
    };
    let rt = crate::commands::runtime()?;
    let mut read = NewRead {
        asm: Assembler::new(opts.budget.clone()),
        progress: Progress::default(),
    };
    read_local_files(&specs, &state, &opts, &mut read)?;
    if specs.iter().any(Spec::is_cloud) {
        rt.block_on(read_new(
            cfg, &specs, &opts, &state, now, overlap, &mut read,
        ))?;
    }
    let mut asm = read.asm;
    let (history_events, history_parts) = replay_history(&state, now - history, &mut asm)?;
    let ingested = asm.finish().context("building the events table")?;
    // The summary speaks of the new inputs: the replayed history is reported apart.
    let mut summary = ingested.summary.clone();
    summary.inputs_read = summary.inputs_read.saturating_sub(history_parts);
    summary.events_read = summary.events_read.saturating_sub(history_events);

    let progress = read.progress;

    let baselines = baseline::load(state.connection(), &rules)?;
    let mut findings = engine::run_rules(&rules, &ingested.table, &baselines)?;
    findings.retain(|f| cfg.min_severity.is_none_or(|m| f.severity >= m));

    let mut messages = std::mem::take(&mut state.notes);
    messages.extend(ingested.messages.iter().cloned());
    let mut report = RunReport {
        summary,
        history_events,
        messages,
        committed: !dry_run,
        ..RunReport::default()
    };
    let evidence_events = ingested
        .table
        .events_by_id(&crate::sinks::evidence_ids(&findings))?;
    let evidence = Evidence::new(&evidence_events);
    for (i, table) in cfg.sinks.iter().enumerate() {
        let name = table.state_name();
        let mut pending: Vec<Finding> = Vec::new();
        for f in &findings {
            if !state.already_delivered(&name, f)? {
                pending.push(f.clone());
            }
        }
        for f in &pending {
            if !report.pending.iter().any(|p| p.finding_id == f.finding_id) {
                report.pending.push(f.clone());
            }
        }
        let mut r = SinkReport {
            name: name.clone(),
            pending: pending.len(),
            delivered: 0,
            error: None,
        };
        if let Some(sink) = sinks.get(i).filter(|_| !pending.is_empty()) {
            let mut tracker = JobTracker {
                state: &mut state,
                sink: &name,
                pending: &pending,
                now,
                status: &mut *status,
            };
            let d = rt.block_on(sink.send(&pending, &evidence, &mut tracker));
            r.delivered = d.acknowledged.len();
            if !d.complete(pending.len()) || !d.errors.is_empty() {
                let mut why = d.errors.join("; ");
                if why.is_empty() {
                    why = "not acknowledged".into();
                }
                r.error = Some(why);
            }
        }
        report.sinks.push(r);
    }
    if !dry_run {
        let seen = engine::observe(&rules, &ingested.table)?;
        baseline::fold(state.connection(), &rules, &seen, now)?;
        // The new events go to the state batch by batch, read back from the table.
        let mut new_events = ingested.table.batches().map(|batch| {
            batch.map_err(|e| e.to_string()).map(|events| {
                events
                    .into_iter()
                    .filter(|e| e.source != HISTORY_SOURCE)
                    .filter_map(|e| Some((event_key(&e), e.event_time?, e.raw?)))
                    .collect::<Vec<_>>()
            })
        });
        state.commit(
            &progress,
            &mut new_events,
            now,
            now - history,
            now - lookback - 86_400_000_000,
        )?;
    }
    report.findings = findings;
    Ok(report)
}

/// Records each batch a sink acknowledges in the state at once, keeps a file sink's batch
/// mark, and passes status lines on.
struct JobTracker<'a> {
    state: &'a mut State,
    sink: &'a str,
    /// The findings handed to the sink (acknowledgements index into them).
    pending: &'a [Finding],
    now: i64,
    status: &'a mut dyn Write,
}

impl Tracker for JobTracker<'_> {
    fn acknowledged(&mut self, indices: &[usize]) -> Result<(), String> {
        let acked: Vec<&Finding> = indices
            .iter()
            .filter_map(|i| self.pending.get(*i))
            .collect();
        self.state
            .record_delivered(self.sink, &acked, self.now)
            .map_err(|e| format!("delivered, but not recorded (they may be sent again): {e}"))
    }

    fn begin(&mut self, mark: &str) -> Result<(), String> {
        self.state
            .begin_batch(self.sink, mark, self.now)
            .map_err(|e| format!("not sent: the batch could not be recorded: {e}"))
    }

    fn unfinished(&self) -> Option<String> {
        self.state.batch_mark(self.sink).ok().flatten()
    }

    fn status(&mut self, line: &str) {
        let _ = writeln!(self.status, "keytrail: {line}");
    }
}

/// What reading the new inputs produced.
struct NewRead {
    asm: Assembler,
    progress: Progress,
}

/// Reads the local files (named, or under named folders) not read before with their
/// current size and modification time; they are read whole (`lookback` is for cloud inputs).
fn read_local_files(
    specs: &[Spec],
    state: &State,
    opts: &IngestOptions,
    read: &mut NewRead,
) -> Result<()> {
    let paths: Vec<String> = specs
        .iter()
        .filter_map(|s| match s {
            Spec::Local(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    if paths.is_empty() {
        return Ok(());
    }
    let mut expanded = local::expand(&paths)?;
    let known = state.files()?;
    let mut seen = Vec::new();
    expanded.inputs.retain(|input| {
        let Input::File(p) = input else { return false };
        let Some((size, mtime)) = size_and_mtime(p) else {
            return true;
        };
        let key = p.display().to_string();
        let new = known.get(&key) != Some(&(size, mtime));
        if new {
            seen.push((key, size, mtime));
        }
        new
    });
    read.asm.counts(expanded.counts());
    let opts = IngestOptions {
        keep_raw: true,
        since: None,
        ..opts.clone()
    };
    let mut done: Vec<String> = Vec::new();
    crate::pipeline::read_local_observed(&expanded, &opts, None, &mut read.asm, |o| {
        if !o.retry_later() {
            done.push(o.name().to_string());
        }
    });
    for name in done {
        if let Some(i) = seen.iter().position(|(k, _, _)| *k == name) {
            read.progress.files.push(seen.swap_remove(i));
        }
    }
    Ok(())
}

/// A file's size and modification time (seconds), when it can be read.
fn size_and_mtime(p: &std::path::Path) -> Option<(u64, i64)> {
    let m = std::fs::metadata(p).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Some((m.len(), mtime))
}

/// Reads the S3 objects not read before and each LookupEvents query from where it stopped.
async fn read_new(
    cfg: &JobConfig,
    specs: &[Spec],
    opts: &IngestOptions,
    state: &State,
    now: i64,
    overlap: i64,
    read: &mut NewRead,
) -> Result<()> {
    let ctx = load_context(&cfg.aws.to_args()).await;
    let calls_before = ctx.calls.get();
    let known = Arc::new(state.objects()?);
    let marks = state.marks()?;
    let resume = |name: &str| marks.get(name).map(|t| t - overlap);
    let asm = &mut read.asm;
    let progress = &mut read.progress;
    let mut unavailable: HashSet<String> = HashSet::new();
    let mut finished: Vec<String> = Vec::new();
    for spec in specs {
        let mut sink = |o: InputOutcome| {
            if o.retry_later() {
                unavailable.insert(o.name().to_string());
            } else {
                finished.push(o.name().to_string());
            }
            asm.add(o);
        };
        match spec {
            Spec::S3(url) => {
                let admitted: Arc<Mutex<Vec<ObjectRef>>> = Arc::default();
                let filter: ObjectFilter = {
                    let (known, admitted, bucket) =
                        (known.clone(), admitted.clone(), url.bucket.clone());
                    Arc::new(move |o: &ObjectRef| {
                        let etag = o.etag.clone().unwrap_or_default();
                        let new = known.get(&(bucket.clone(), o.key.clone())) != Some(&etag);
                        if new {
                            admitted.lock().expect("admitted list").push(o.clone());
                        }
                        new
                    })
                };
                let counts = s3::read(&ctx, url, opts, Some(filter), &mut sink).await;
                asm.counts(counts);
                for o in admitted.lock().expect("admitted list").drain(..) {
                    if !unavailable.contains(&url.key_url(&o.key)) {
                        let etag = o.etag.unwrap_or_default();
                        progress.objects.push((url.bucket.clone(), o.key, etag));
                    }
                }
            }
            Spec::Lookup(regions) => {
                let counts = lookup::read(
                    &ctx,
                    regions,
                    &LookupPlan::Relevant,
                    opts,
                    Some(&resume),
                    &mut sink,
                )
                .await;
                asm.counts(counts);
            }
            Spec::Local(_) => {}
        }
    }
    progress.marks = finished
        .into_iter()
        .filter(|n| n.starts_with("lookup:"))
        .map(|n| (n, now))
        .collect();
    asm.counts(SourceCounts {
        api_calls: ctx.calls.get() - calls_before,
        ..SourceCounts::default()
    });
    Ok(())
}

/// Feeds the relevant events kept from earlier runs back through the pipeline.
fn replay_history(state: &State, since: i64, asm: &mut Assembler) -> Result<(u64, u64)> {
    let opts = IngestOptions {
        keep_raw: true,
        ..IngestOptions::default()
    };
    let (mut records, mut parts, mut in_part) = (0u64, 0u64, 0usize);
    let mut feed = RecordFeed::new(HISTORY_SOURCE, &opts);
    state.for_each_history(since, &mut |rec: &str| {
        feed.record(rec.as_bytes());
        records += 1;
        in_part += 1;
        if in_part == REPLAY_PART_EVENTS {
            let full = std::mem::replace(&mut feed, RecordFeed::new(HISTORY_SOURCE, &opts));
            asm.add(full.finish());
            parts += 1;
            in_part = 0;
        }
    })?;
    asm.add(feed.finish());
    Ok((records, parts + 1))
}

/// Events replayed from the state per part: each part is a chunk the table can spill, so
/// a long, busy history stays within the memory budget.
const REPLAY_PART_EVENTS: usize = 65_536;

/// The identity of an event across deliveries (as the pipeline deduplicates).
fn event_key(e: &Event) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        e.event_id.as_deref().unwrap_or(""),
        e.event_name.as_deref().unwrap_or(""),
        e.event_source.as_deref().unwrap_or(""),
        e.event_time.unwrap_or(0),
        e.account_id.as_deref().unwrap_or("")
    )
}
