//! The ingest pipeline: inputs -> records -> normalized, classified, filtered events ->
//! the columnar `events` table.
//!
//! Inputs are decoded in parallel (rayon, all cores). Each record is first checked with a
//! cheap case-insensitive keyword scan; only records that may be Bedrock-relevant (or every
//! record with `--all-events`) are parsed with simd-json. A kept event goes straight into
//! its input's column builder (`table::builder`); finished chunks flow, as inputs finish,
//! into the table's store, which holds them up to a memory budget and spills the rest to
//! disk. Memory is bounded by that budget plus the inputs in flight.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};

use aho_corasick::AhoCorasick;
use indicatif::ProgressBar;
use polars::prelude::{DataFrame, PolarsResult};
use rayon::prelude::*;
use simd_json::prelude::*;

use std::borrow::Cow;

use crate::event::{Event, EventRef};
use crate::redact;
use crate::sources::local::{self, Expanded};
use crate::sources::pool::Pool;
use crate::sources::prefilter::Prefilter;
use crate::sources::scanner::{self, Framing, Piece};
use crate::sources::{Input, parquet};
use crate::table::EventTable;
use crate::table::builder::ChunkBuilder;
use crate::table::store::{MemoryBudget, Store, StoreError};
use crate::transforms::classify::{self, CredentialServices};
use crate::transforms::normalize::{RecordError, Value, normalize};

/// Record-level messages printed per input before the rest are only counted.
const MESSAGES_PER_INPUT: usize = 3;

/// Finds the records that may contain one of the words every Bedrock-relevant record has.
static PREFILTER: LazyLock<Prefilter> =
    LazyLock::new(|| Prefilter::new(classify::RELEVANT_KEYWORDS, true));

/// What to keep while reading.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Keep every event, not only Bedrock-relevant ones.
    pub all_events: bool,
    /// Keep events at or after this time (micros since epoch).
    pub since: Option<i64>,
    /// Keep events before this time (micros since epoch).
    pub until: Option<i64>,
    /// Keep each kept event's raw CloudTrail record in [`Event::raw`] (evidence, job state).
    pub keep_raw: bool,
    /// Also keep records that contain one of these words (an investigation's user name or
    /// access key id), relevant or not.
    pub also_keep: Option<Keywords>,
    /// How much memory the events table may hold before it spills to disk.
    pub budget: MemoryBudget,
    /// Read only this shard's share of the inputs (`--shard K/N`).
    pub shard: Option<crate::sources::shard::Shard>,
    /// Keep secrets found inside records (keys, session tokens, signatures) as they are,
    /// for forensic copies to local files (`--no-redact`); they are redacted otherwise.
    pub no_redact: bool,
}

/// Words whose records are kept besides the Bedrock-relevant ones (case-sensitive): the
/// prefilter picks the records to parse, the matcher decides on the parsed ones.
#[derive(Debug, Clone)]
pub struct Keywords(AhoCorasick, Prefilter);

impl Keywords {
    /// Builds the matcher; None when there is no non-empty word.
    pub fn new(words: &[String]) -> Option<Keywords> {
        let words: Vec<&String> = words.iter().filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            return None;
        }
        let pre = Prefilter::new(&words, false);
        AhoCorasick::new(words).ok().map(|m| Keywords(m, pre))
    }

    /// True when `raw` contains one of the words.
    fn hit(&self, raw: &[u8]) -> bool {
        self.0.is_match(raw)
    }
}

impl IngestOptions {
    /// True when a record must be parsed: every record, a possibly relevant one, or one
    /// with a word to keep.
    fn wants(&self, raw: &[u8]) -> bool {
        self.all_events
            || PREFILTER.is_candidate(raw)
            || self
                .also_keep
                .as_ref()
                .is_some_and(|k| k.1.is_candidate(raw))
    }
}

/// An input that could not be read completely, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedInput {
    pub input: String,
    pub reason: String,
}

/// Counts of what was read, kept and skipped; every dropped record is accounted for here.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub inputs_read: u64,
    pub events_read: u64,
    pub events_kept: u64,
    pub digest_files_skipped: u64,
    pub files_ignored_by_name: u64,
    pub records_unreadable: u64,
    /// Bytes passed over because they could not be read as records (decoded JSON, plus the
    /// compressed bytes of corrupt gzip members).
    #[serde(default)]
    pub bytes_skipped: u64,
    pub records_with_odd_fields: u64,
    pub events_outside_time_window: u64,
    pub duplicate_events_dropped: u64,
    /// S3 objects not fetched because their names put them outside `--since/--until`.
    pub inputs_outside_time_window: u64,
    /// AWS API calls made to read the inputs (0 for local files).
    pub api_calls: u64,
    /// Inputs left to the other shards of a `--shard K/N` run.
    pub inputs_in_other_shards: u64,
    /// Files inside directories passed over on purpose, by reason (special files; `.log`,
    /// `.txt` or extensionless files whose content is not CloudTrail).
    pub files_passed_over: std::collections::BTreeMap<String, u64>,
    pub inputs_skipped: Vec<SkippedInput>,
}

/// The pipeline's result: the kept events (the `events` table, in time order), the summary
/// and diagnostics.
#[derive(Debug)]
pub struct Ingested {
    pub table: EventTable,
    pub summary: Summary,
    /// One line per problem, each naming the input and the reason.
    pub messages: Vec<String>,
}

/// What one input produced.
#[derive(Default)]
struct InputResult {
    /// The kept events, as columns.
    chunk: ChunkBuilder,
    /// Credential lifecycle changes, attributed once every input is read.
    aside: Vec<Event>,
    creds: CredentialServices,
    records: u64,
    digest: bool,
    bad: Option<String>,
    unreadable: u64,
    bytes_skipped: u64,
    odd: u64,
    outside: u64,
    messages: Vec<String>,
    suppressed: u64,
    seen_top_level: bool,
    prefilter: AdaptivePrefilter,
}

/// Records of an input tested by the keyword prefilter before one decides whether to keep
/// testing.
const PREFILTER_TRIAL: u32 = 64;

/// Whether an input's records still go through the keyword prefilter.
///
/// On an input whose records nearly all pass it (an account whose applications call Bedrock
/// all day), testing each record only costs time, the more so when the first keyword comes
/// late in the record (after a long `userIdentity`). After [`PREFILTER_TRIAL`] records of
/// which at least 15 in 16 passed, the rest of the input is parsed untested. (On the bench's
/// dense corpus the keyword comes early, in the user name, and the test was already cheap.)
/// Results do not change: an untested record that turns out to be irrelevant is dropped
/// after parsing, and one that turns out to be unreadable is reported only if the prefilter
/// would have let it through (see [`InputResult::unreadable_record`]).
#[derive(Default)]
struct AdaptivePrefilter {
    tested: u32,
    passed: u32,
    off: bool,
    /// True when the current record was not tested.
    bypassed: bool,
}

impl AdaptivePrefilter {
    /// True when the record must be parsed (see [`IngestOptions::wants`]).
    fn wants(&mut self, opts: &IngestOptions, raw: &[u8]) -> bool {
        self.bypassed = self.off;
        if self.off {
            return true;
        }
        let wanted = opts.wants(raw);
        self.tested += 1;
        self.passed += u32::from(wanted);
        if self.tested == PREFILTER_TRIAL {
            self.off = self.passed * 16 >= self.tested * 15;
        }
        wanted
    }
}

impl InputResult {
    /// Counts a parsed record that could not be read, with a message; unless it was parsed
    /// untested and the prefilter would have passed over it (then it is only a record read,
    /// as if tested).
    fn unreadable_record(&mut self, name: &str, raw: &[u8], opts: &IngestOptions, msg: String) {
        if self.prefilter.bypassed && !opts.wants(raw) {
            return;
        }
        self.unreadable += 1;
        self.note(name, msg);
    }

    /// Adds a record-level message, keeping only the first few per input.
    fn note(&mut self, name: &str, msg: String) {
        if self.messages.len() < MESSAGES_PER_INPUT {
            self.messages.push(format!("{name}: {msg}"));
        } else {
            self.suppressed += 1;
        }
    }
}

/// The result of reading one input (a file, an S3 object, a LookupEvents query), ready to be
/// merged with the others by [`assemble`].
pub struct InputOutcome {
    name: String,
    result: InputResult,
    /// The kept events as a finished chunk, and the memory it holds.
    chunk: Option<(DataFrame, usize)>,
    /// The input could not be fetched (not a content problem): worth trying again later.
    retry_later: bool,
    /// Not an input: kept events of earlier inputs that readers carried (see
    /// [`ScratchPool::read_stream_carrying`]); only `chunk` counts.
    rows_only: bool,
}

impl InputOutcome {
    /// An input that could not be read at all (open or fetch failed), with the reason.
    pub fn failed(name: impl Into<String>, reason: impl Into<String>) -> Self {
        InputOutcome {
            name: name.into(),
            result: InputResult {
                bad: Some(reason.into()),
                ..InputResult::default()
            },
            chunk: None,
            retry_later: false,
            rows_only: false,
        }
    }

    /// The outcome of an input read to its end (or cut short, as `result` says): the kept
    /// events become a finished chunk here, on the worker that read them.
    fn read(name: String, mut result: InputResult, retry_later: bool) -> Self {
        let builder = std::mem::take(&mut result.chunk);
        let chunk = if builder.is_empty() {
            None
        } else {
            let bytes = builder.held_bytes();
            match builder.finish() {
                Ok(df) => Some((df, bytes)),
                Err(e) => {
                    result.bad = Some(format!("its events could not be stored: {e}"));
                    None
                }
            }
        };
        InputOutcome {
            name,
            result,
            chunk,
            retry_later,
            rows_only: false,
        }
    }

    /// Kept events carried from several inputs of `source`; a failure to make them a chunk
    /// (a bug) is reported as `source` skipped.
    fn rows(source: &str, chunk: PolarsResult<(DataFrame, usize)>) -> Self {
        match chunk {
            Ok(chunk) => InputOutcome {
                name: source.to_string(),
                result: InputResult::default(),
                chunk: Some(chunk),
                retry_later: false,
                rows_only: true,
            },
            Err(e) => InputOutcome::failed(
                source,
                format!("the events of several of its inputs could not be stored: {e}"),
            ),
        }
    }

    /// True when this is not an input's outcome but events carried from several (no input
    /// to count or show progress for).
    pub fn rows_only(&self) -> bool {
        self.rows_only
    }

    /// An input that could not be fetched this time (access, network): try it again later.
    pub fn unavailable(name: impl Into<String>, reason: impl Into<String>) -> Self {
        InputOutcome {
            retry_later: true,
            ..Self::failed(name, reason)
        }
    }

    /// True when the input could not be fetched and should be tried again.
    pub fn retry_later(&self) -> bool {
        self.retry_later
    }

    /// The input's name, as used in messages and the `source` column.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why the input was (partly) skipped, if it was.
    pub fn problem(&self) -> Option<&str> {
        self.result.bad.as_deref()
    }

    /// How many records were read from the input.
    pub fn records(&self) -> u64 {
        self.result.records
    }

    /// The console-key users (`BedrockAPIKey-*`) named in the input's kept events, as
    /// actor or target (for follow-up LookupEvents queries by user name).
    pub fn console_key_users(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        if let Some((df, _)) = &self.chunk {
            for col in ["user_name", "target_user"] {
                if let Ok(c) = df.column(col).and_then(|c| c.str().cloned()) {
                    out.extend(
                        c.into_iter()
                            .flatten()
                            .filter(|n| classify::is_console_key_user(n))
                            .map(str::to_string),
                    );
                }
            }
        }
        for e in &self.result.aside {
            for n in [&e.user_name, &e.target_user] {
                if let Some(n) = n.as_deref().filter(|n| classify::is_console_key_user(n)) {
                    out.insert(n.to_string());
                }
            }
        }
        out
    }
}

/// Feeds records one at a time (for sources that already hold each record, such as
/// LookupEvents pages) through the same checks as streamed files.
pub struct RecordFeed<'o> {
    name: String,
    opts: &'o IngestOptions,
    result: InputResult,
    scratch: ParseScratch,
}

impl<'o> RecordFeed<'o> {
    /// Starts an input named `name` (shown in messages and the `source` column).
    pub fn new(name: impl Into<String>, opts: &'o IngestOptions) -> Self {
        RecordFeed {
            name: name.into(),
            opts,
            result: InputResult::default(),
            scratch: ParseScratch::default(),
        }
    }

    /// Processes one CloudTrail event given as JSON text.
    pub fn record(&mut self, raw: &[u8]) {
        if scanner::nests_deeper_than(raw, scanner::MAX_DEPTH) {
            let reason = scanner::SkipReason::TooDeep.to_string();
            return self.unreadable(reason);
        }
        on_record(
            &self.name,
            raw,
            Framing::Wrapped,
            self.opts,
            &mut self.result,
            &mut self.scratch,
        );
    }

    /// Counts a record that could not be read, with the reason.
    pub fn unreadable(&mut self, reason: String) {
        self.result.records += 1;
        self.result.unreadable += 1;
        let n = self.result.records;
        self.result
            .note(&self.name, format!("record {n} skipped: {reason}"));
    }

    /// Marks the input as cut short, with the reason (records fed so far are kept).
    pub fn fail(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        self.result.bad = Some(if self.result.records > 0 {
            format!(
                "{reason} (kept the {} records read before it)",
                self.result.records
            )
        } else {
            reason
        });
    }

    /// Ends the input.
    pub fn finish(self) -> InputOutcome {
        let retry = self.result.bad.is_some();
        InputOutcome::read(self.name, self.result, retry)
    }
}

/// What a source counted besides its inputs: names passed over and API calls made.
#[derive(Debug, Default, Clone)]
pub struct SourceCounts {
    /// Digest files or objects recognized by name and not read.
    pub digests_by_name: u64,
    /// Files or objects passed over because their names are not log files.
    pub ignored_by_name: u64,
    /// AWS API calls made (S3, CloudTrail, STS).
    pub api_calls: u64,
    /// Objects not fetched because their names put them outside the time window.
    pub outside_window: u64,
    /// Inputs left to other shards (`--shard`).
    pub other_shards: u64,
    /// Files passed over on purpose, by reason.
    pub passed_over: std::collections::BTreeMap<String, u64>,
    /// Entries that could not be walked or read, with the reason (skipped inputs).
    pub unwalkable: Vec<(String, String)>,
    /// Messages about the source as a whole (not about one input).
    pub messages: Vec<String>,
}

impl SourceCounts {
    /// Adds another source's counts.
    pub fn merge(&mut self, other: SourceCounts) {
        self.digests_by_name += other.digests_by_name;
        self.ignored_by_name += other.ignored_by_name;
        self.api_calls += other.api_calls;
        self.outside_window += other.outside_window;
        self.other_shards += other.other_shards;
        for (k, v) in other.passed_over {
            *self.passed_over.entry(k).or_default() += v;
        }
        self.unwalkable.extend(other.unwalkable);
        self.messages.extend(other.messages);
    }
}

/// Reads every local input in parallel (all cores), handing each outcome to `asm` as soon
/// as it is ready (so memory holds the inputs in flight, not all of them). Parquet files
/// (the `events` table written by `events --format parquet`, e.g. by shards) are read back
/// a slice at a time.
pub fn read_local(
    expanded: &Expanded,
    opts: &IngestOptions,
    progress: Option<&ProgressBar>,
    asm: &mut Assembler,
) {
    read_local_observed(expanded, opts, progress, asm, |_| {});
}

/// [`read_local`], showing each input's outcome to `seen` before it joins the table (the
/// scheduled job records which files were read through).
pub fn read_local_observed(
    expanded: &Expanded,
    opts: &IngestOptions,
    progress: Option<&ProgressBar>,
    asm: &mut Assembler,
    mut seen: impl FnMut(&InputOutcome),
) {
    let (tables, logs): (Vec<&Input>, Vec<&Input>) = expanded
        .inputs
        .iter()
        .partition(|i| matches!(i, Input::File(p) if parquet::is_parquet(p)));
    for input in tables {
        if let Input::File(path) = input {
            asm.add_parquet(path, opts);
        }
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<InputOutcome>(2 * rayon::current_num_threads());
    std::thread::scope(|scope| {
        let readers = scope.spawn(move || {
            // Reader threads take their buffers from one pool, file after file.
            let memory = ScratchPool::default();
            logs.par_iter().for_each_with(tx, |tx, input| {
                let r = read_input(input, opts, &memory);
                if let Some(p) = progress {
                    p.inc(1);
                }
                // The receiver lives until every sender is gone.
                let _ = tx.send(r);
            });
            memory.carried("local files")
        });
        for o in rx {
            seen(&o);
            asm.add(o);
        }
        match readers.join() {
            Ok(rest) => rest.into_iter().for_each(|o| asm.add(o)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
}

/// Reads every local input and returns the kept, classified events.
pub fn ingest(
    expanded: &Expanded,
    opts: &IngestOptions,
    progress: Option<&ProgressBar>,
) -> Result<Ingested, StoreError> {
    let mut asm = Assembler::new(opts.budget.clone());
    asm.counts(expanded.counts());
    read_local(expanded, opts, progress, &mut asm);
    asm.finish()
}

/// Reads records from an arbitrary stream (used by tests and `-`).
pub fn ingest_reader(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    opts: &IngestOptions,
) -> Result<Ingested, StoreError> {
    let r = read_stream(name, reader, opts);
    assemble(opts.budget.clone(), SourceCounts::default(), vec![r])
}

/// Merges per-input outcomes: lifecycle attribution, dedup, time order, summary.
pub fn assemble(
    budget: MemoryBudget,
    counts: SourceCounts,
    outcomes: Vec<InputOutcome>,
) -> Result<Ingested, StoreError> {
    let mut a = Assembler::new(budget);
    a.counts(counts);
    outcomes.into_iter().for_each(|o| a.add(o));
    a.finish()
}

/// Folds input outcomes in as they finish (their chunks go to the table's store, which
/// spills past its budget), then attributes lifecycle events, drops duplicates and sorts.
pub struct Assembler {
    store: Store,
    summary: Summary,
    /// Messages about sources as a whole.
    messages: Vec<String>,
    /// Per-input messages, keyed by input name so the final order does not depend on timing.
    input_messages: Vec<(String, String)>,
    creds: CredentialServices,
    aside: Vec<Event>,
    /// The first failure to store a chunk (a spill that could not be written): fatal.
    failure: Option<StoreError>,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new(MemoryBudget::default())
    }
}

impl Assembler {
    /// An empty assembler whose table holds at most `budget` in memory.
    pub fn new(budget: MemoryBudget) -> Self {
        Assembler {
            store: Store::new(budget),
            summary: Summary::default(),
            messages: Vec::new(),
            input_messages: Vec::new(),
            creds: CredentialServices::default(),
            aside: Vec::new(),
            failure: None,
        }
    }

    /// Adds what a source counted besides its inputs.
    pub fn counts(&mut self, c: SourceCounts) {
        let s = &mut self.summary;
        s.digest_files_skipped += c.digests_by_name;
        s.files_ignored_by_name += c.ignored_by_name;
        s.api_calls += c.api_calls;
        s.inputs_outside_time_window += c.outside_window;
        s.inputs_in_other_shards += c.other_shards;
        for (reason, n) in c.passed_over {
            *s.files_passed_over.entry(reason).or_default() += n;
        }
        for (input, reason) in c.unwalkable {
            self.messages.push(format!("{input}: skipped: {reason}"));
            s.inputs_skipped.push(SkippedInput { input, reason });
        }
        self.messages.extend(c.messages);
    }

    /// Adds one input's outcome.
    pub fn add(&mut self, o: InputOutcome) {
        let InputOutcome {
            name,
            result: r,
            chunk,
            rows_only,
            ..
        } = o;
        if rows_only {
            self.store_chunk(chunk);
            return;
        }
        let s = &mut self.summary;
        if r.digest {
            s.digest_files_skipped += 1;
            return;
        }
        s.inputs_read += 1;
        s.events_read += r.records;
        s.records_unreadable += r.unreadable;
        s.bytes_skipped += r.bytes_skipped;
        s.records_with_odd_fields += r.odd;
        s.events_outside_time_window += r.outside;
        for m in r.messages {
            self.input_messages.push((name.clone(), m));
        }
        if r.suppressed > 0 {
            let m = format!("{name}: ... and {} more record problems", r.suppressed);
            self.input_messages.push((name.clone(), m));
        }
        if let Some(reason) = r.bad {
            self.input_messages
                .push((name.clone(), format!("{name}: skipped: {reason}")));
            s.inputs_skipped.push(SkippedInput {
                input: name,
                reason,
            });
        }
        self.creds.merge(r.creds);
        self.aside.extend(r.aside);
        self.store_chunk(chunk);
    }

    /// Adds a finished chunk to the table; the first failure to store one is kept (fatal).
    fn store_chunk(&mut self, chunk: Option<(DataFrame, usize)>) {
        if let Some((df, bytes)) = chunk
            && self.failure.is_none()
            && let Err(e) = self.store.add(df, bytes)
        {
            self.failure = Some(e);
        }
    }

    /// Adds a Parquet file of `events` rows (as `events --format parquet` writes them), a
    /// slice at a time: create events teach the credential services, lifecycle changes are
    /// attributed again with everything read (another shard may hold their create event).
    pub fn add_parquet(&mut self, path: &std::path::Path, opts: &IngestOptions) {
        let name = path.display().to_string();
        let (mut read, mut outside) = (0u64, 0u64);
        let result = parquet::read_slices(path, opts, |df, total| {
            read += total as u64;
            outside += (total - df.height()) as u64;
            self.add_rows(df);
            Ok(())
        });
        let s = &mut self.summary;
        s.inputs_read += 1;
        s.events_read += read;
        s.events_outside_time_window += outside;
        if let Err(reason) = result {
            self.input_messages
                .push((name.clone(), format!("{name}: skipped: {reason}")));
            self.summary.inputs_skipped.push(SkippedInput {
                input: name,
                reason,
            });
        }
    }

    /// Adds rows that already have the table's columns (read back from Parquet); a failure
    /// to store them is fatal, as for any chunk.
    fn add_rows(&mut self, df: polars::prelude::DataFrame) {
        if self.failure.is_none()
            && let Err(e) = self.try_add_rows(df)
        {
            self.failure = Some(e);
        }
    }

    /// [`Assembler::add_rows`], failing on the first error.
    fn try_add_rows(&mut self, df: polars::prelude::DataFrame) -> Result<(), StoreError> {
        let name = df.column("event_name")?.str()?.clone();
        let special: polars::prelude::BooleanChunked = name
            .iter()
            .map(|n| {
                Some(matches!(
                    n,
                    Some(
                        "CreateServiceSpecificCredential"
                            | "UpdateServiceSpecificCredential"
                            | "ResetServiceSpecificCredential"
                            | "DeleteServiceSpecificCredential"
                    )
                ))
            })
            .collect();
        let (rest, special_rows) = if special.any() {
            let rows = df.filter(&special)?;
            let rest = df.filter(&!&special)?;
            (rest, crate::table::frame_events(&rows)?)
        } else {
            (df, Vec::new())
        };
        let mut creates = ChunkBuilder::new();
        for e in special_rows {
            let r = e.borrowed();
            self.creds.observe(&r);
            if classify::is_lifecycle_change(&r) {
                self.aside.push(e);
            } else {
                creates.push(&r);
            }
        }
        if !creates.is_empty() {
            let bytes = creates.held_bytes();
            let chunk = creates.finish()?;
            self.store.add(chunk, bytes)?;
        }
        let bytes = rest.estimated_size();
        self.store.add(rest, bytes)
    }

    /// Attributes lifecycle events, drops exact duplicates, sorts, and builds the table.
    pub fn finish(mut self) -> Result<Ingested, StoreError> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        let dropped_aside = self.attribute_aside()?;
        let finished = self.store.finish()?;
        if finished.spilled {
            crate::table::store::release_free_memory();
        }
        let mut input_messages = self.input_messages;
        input_messages.sort_by(|a, b| a.0.cmp(&b.0));
        let mut messages = self.messages;
        messages.extend(input_messages.into_iter().map(|(_, m)| m));
        let mut summary = self.summary;
        summary.inputs_skipped.sort_by(|a, b| a.input.cmp(&b.input));
        summary.duplicate_events_dropped = finished.duplicates + dropped_aside;
        summary.events_kept = finished.table.len() as u64;
        Ok(Ingested {
            table: finished.table,
            summary,
            messages,
        })
    }

    /// Attributes the lifecycle changes kept aside now that every create event is known,
    /// drops their exact duplicates and stores them; returns how many were dropped.
    fn attribute_aside(&mut self) -> Result<u64, StoreError> {
        let mut aside = std::mem::take(&mut self.aside);
        let mut seen = HashSet::new();
        let before = aside.len();
        aside.retain_mut(|e| {
            self.creds.attribute(e);
            match &e.event_id {
                Some(id) => seen.insert((
                    id.clone(),
                    e.event_name.clone(),
                    e.event_source.clone(),
                    e.event_time,
                    e.account_id.clone(),
                )),
                None => true,
            }
        });
        let dropped = (before - aside.len()) as u64;
        if !aside.is_empty() {
            let mut b = ChunkBuilder::new();
            for e in &aside {
                b.push(&e.borrowed());
            }
            let bytes = b.held_bytes();
            self.store.add(b.finish()?, bytes)?;
        }
        Ok(dropped)
    }
}

/// Opens and reads one input; an open failure marks the input as skipped.
fn read_input(input: &Input, opts: &IngestOptions, memory: &ScratchPool) -> InputOutcome {
    let name = input.name();
    match local::open(input, &memory.gzip) {
        Ok(reader) => memory.read_stream_carrying(&name, reader, opts),
        Err(e) => InputOutcome::failed(name, format!("cannot open: {e}")),
    }
}

/// Splits a stream into records and processes each one.
pub fn read_stream(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    opts: &IngestOptions,
) -> InputOutcome {
    ScratchPool::default().read_stream(name, reader, opts)
}

/// [`read_stream`] with buffers kept from an earlier input, appending the kept events to
/// `rows` (rows of earlier inputs, or none).
fn read_stream_in(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    opts: &IngestOptions,
    scratch: &mut Scratch,
    rows: ChunkBuilder,
) -> InputResult {
    let mut r = InputResult {
        chunk: rows,
        ..InputResult::default()
    };
    let Scratch { split, parse } = scratch;
    let mut first_skip = None;
    let end = scanner::split_records_in(reader, split, &mut |piece| {
        if r.digest || r.bad.is_some() {
            return;
        }
        match piece {
            Piece::Record { bytes, framing, .. } => {
                on_record(name, bytes, framing, opts, &mut r, parse)
            }
            // Not records read (`events_read`): only counted as unreadable.
            Piece::NotObject { offset, kind, .. } => {
                r.unreadable += 1;
                first_skip.get_or_insert_with(|| format!("{kind}, not an object"));
                r.note(
                    name,
                    format!("element skipped: {kind} at byte {offset}, not an object"),
                );
            }
            Piece::Skipped {
                offset,
                len,
                lost,
                reason,
            } => {
                r.unreadable += 1;
                r.bytes_skipped += len + lost;
                first_skip.get_or_insert_with(|| reason.to_string());
                let lost = if lost > 0 {
                    format!(" and {lost} compressed bytes")
                } else {
                    String::new()
                };
                r.note(
                    name,
                    format!("skipped {len} bytes from byte {offset}{lost}: {reason}"),
                );
            }
        }
    });
    if let Some(e) = end.cut_short
        && r.bad.is_none()
    {
        r.bad = Some(match e {
            scanner::ScanError::Empty => "empty input: no JSON found".to_string(),
            other if r.records > 0 => {
                format!("{other} (kept the {} records read before it)", r.records)
            }
            other => other.to_string(),
        });
    }
    if r.unreadable > 0 && r.bad.is_none() && !r.digest {
        r.bad = Some(format!(
            "{} unreadable record(s) ({}), {} bytes passed over; the rest was read",
            r.unreadable,
            first_skip.as_deref().unwrap_or("the reasons are on stderr"),
            r.bytes_skipped
        ));
    }
    r
}

/// Reader memory shared by the threads that read inputs (local files, S3 objects): each
/// read takes a [`Scratch`] and gives it back, and gzip readers take their buffer from
/// `gzip`, so buffers are not made per input.
#[derive(Default)]
pub struct ScratchPool {
    scratch: Pool<Scratch>,
    pub gzip: crate::sources::gzip::BufferPool,
    /// Kept events of earlier inputs not yet made a chunk (see
    /// [`ScratchPool::read_stream_carrying`]); never dropped, unlike the pooled buffers.
    carried: Mutex<Vec<ChunkBuilder>>,
}

impl ScratchPool {
    /// Reads a stream like [`read_stream`], with memory from the pool.
    pub fn read_stream(
        &self,
        name: &str,
        reader: Box<dyn std::io::Read + Send>,
        opts: &IngestOptions,
    ) -> InputOutcome {
        let r = self.read_onto(name, reader, opts, ChunkBuilder::new());
        InputOutcome::read(name.to_string(), r, false)
    }

    /// Reads a stream with a [`Scratch`] from the pool, appending its kept events to `rows`.
    fn read_onto(
        &self,
        name: &str,
        reader: Box<dyn std::io::Read + Send>,
        opts: &IngestOptions,
        rows: ChunkBuilder,
    ) -> InputResult {
        let mut scratch = self.scratch.take();
        let r = read_stream_in(name, reader, opts, &mut scratch, rows);
        self.scratch.give(scratch);
        r
    }

    /// [`ScratchPool::read_stream`] for an input whose outcome is final (a local file, or an
    /// S3 object read whole: it is never read again and its rows never taken back). Its kept
    /// events join those of earlier inputs, and they become a chunk of the table together
    /// once they hold [`carry_limit`] bytes; [`ScratchPool::carried`] finishes the rest. The
    /// table is then built from a few large chunks, not one small chunk per file. On the
    /// bench's sparse corpus (1M events in 2,299 files) putting the per-file chunks together
    /// was 5.8% of the profile; carrying took the scan from 1.36 to 1.08 s (median of 5) and
    /// its peak from 160-178 to 66-67 MB. The table's order does not change: rows sort by
    /// (time, id, input) and keep their order within an input.
    pub fn read_stream_carrying(
        &self,
        name: &str,
        reader: Box<dyn std::io::Read + Send>,
        opts: &IngestOptions,
    ) -> InputOutcome {
        let rows = self.carried_lock().pop().unwrap_or_default();
        let mut r = self.read_onto(name, reader, opts, rows);
        // A digest's outcome is not stored (`Assembler::add`): the rows wait for the next input.
        if r.digest || r.chunk.held_bytes() < carry_limit(&opts.budget) {
            let rows = std::mem::take(&mut r.chunk);
            self.carried_lock().push(rows);
        }
        InputOutcome::read(name.to_string(), r, false)
    }

    /// The events still carried, as outcomes holding only rows (see
    /// [`InputOutcome::rows_only`]) of `source` (what was read). Call once every input is
    /// read.
    pub fn carried(&self, source: &str) -> Vec<InputOutcome> {
        std::mem::take(&mut *self.carried_lock())
            .into_iter()
            .filter(|b| !b.is_empty())
            .map(|b| {
                let bytes = b.held_bytes();
                InputOutcome::rows(source, b.finish().map(|df| (df, bytes)))
            })
            .collect()
    }

    /// The carried rows, also after a reader thread panicked holding the lock (the rows
    /// are still whole: each push and pop is one step).
    fn carried_lock(&self) -> std::sync::MutexGuard<'_, Vec<ChunkBuilder>> {
        self.carried.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Bytes of kept events a reader thread carries from input to input before they become a
/// chunk: all reader threads (rayon's, one per core) together carry at most an eighth of the
/// table's budget (which spills at half of it), each at most 16 MiB.
fn carry_limit(budget: &MemoryBudget) -> usize {
    let readers = rayon::current_num_threads().max(1);
    (budget.bytes / 8 / readers).min(16 << 20)
}

/// Memory an input is read with, kept for the next one: the splitter's read buffer, and the
/// memory records are parsed in.
#[derive(Default)]
struct Scratch {
    split: Vec<u8>,
    parse: ParseScratch,
}

/// Memory records are parsed in, reused from record to record: a copy of the record
/// (simd-json parses in place) and the parser's buffers.
struct ParseScratch {
    bytes: Vec<u8>,
    buffers: simd_json::Buffers,
}

impl Default for ParseScratch {
    fn default() -> Self {
        ParseScratch {
            bytes: Vec::new(),
            buffers: simd_json::Buffers::new(4096),
        }
    }
}

/// Handles one raw record: prefilter, parse, unwrap LookupEvents, normalize, keep or drop.
fn on_record(
    name: &str,
    raw: &[u8],
    framing: Framing,
    opts: &IngestOptions,
    r: &mut InputResult,
    scratch: &mut ParseScratch,
) {
    let first_top = framing == Framing::TopLevel && !r.seen_top_level;
    if framing == Framing::TopLevel {
        r.seen_top_level = true;
    }
    r.prefilter.bypassed = false;
    if !first_top && !r.prefilter.wants(opts, raw) {
        r.records += 1;
        return;
    }
    let ParseScratch { bytes, buffers } = scratch;
    bytes.clear();
    bytes.extend_from_slice(raw);
    let tape = match simd_json::to_tape_with_buffers(bytes, buffers) {
        Ok(t) => t,
        Err(e) => {
            r.records += 1;
            let msg = format!("record {} skipped: invalid JSON: {e}", r.records);
            r.unreadable_record(name, raw, opts, msg);
            return;
        }
    };
    let value = tape.as_value();
    if first_top {
        if is_digest(value) {
            r.digest = true;
            return;
        }
        if let Some(items) = value
            .get("Records")
            .or_else(|| value.get("Events"))
            .and_then(|v| v.as_array())
        {
            // A wrapper whose array is not its first member: handle each element.
            let mut inner = ParseScratch::default();
            for item in &items {
                let text = item.encode();
                on_record(name, text.as_bytes(), Framing::Wrapped, opts, r, &mut inner);
            }
            return;
        }
        if value.is_object()
            && value.get("eventName").is_none()
            && value.get("eventSource").is_none()
            && value.get("CloudTrailEvent").is_none()
        {
            r.bad =
                Some("not a CloudTrail file: no Records, Events or eventName found".to_string());
            return;
        }
        if !r.prefilter.wants(opts, raw) {
            r.records += 1;
            return;
        }
    }
    r.records += 1;
    if let Some(inner) = value.get("CloudTrailEvent") {
        match inner.as_str() {
            Some(s) if scanner::nests_deeper_than(s.as_bytes(), scanner::MAX_DEPTH) => {
                let reason = scanner::SkipReason::TooDeep;
                let msg = format!("record {} skipped: CloudTrailEvent {reason}", r.records);
                r.unreadable_record(name, raw, opts, msg);
            }
            Some(s) => {
                let mut buf = s.as_bytes().to_vec();
                match simd_json::to_tape(&mut buf) {
                    Ok(t) => keep_event(name, t.as_value(), raw, Some(s), opts, r),
                    Err(e) => {
                        let msg = format!(
                            "record {} skipped: CloudTrailEvent is not valid JSON: {e}",
                            r.records
                        );
                        r.unreadable_record(name, raw, opts, msg);
                    }
                }
            }
            None if inner.is_object() => keep_event(name, inner, raw, None, opts, r),
            None => {
                let msg = format!(
                    "record {} skipped: CloudTrailEvent is not a JSON string",
                    r.records
                );
                r.unreadable_record(name, raw, opts, msg);
            }
        }
        return;
    }
    // simd-json accepted `raw`, so it is UTF-8; checked again only when the text is kept.
    let text = if opts.keep_raw {
        std::str::from_utf8(raw).ok()
    } else {
        None
    };
    keep_event(name, value, raw, text, opts, r);
}

/// Replaces the secrets in an event's text fields and raw record (see [`redact`]).
fn redact_event(e: &mut EventRef<'_>) {
    for field in e.record_text_mut() {
        if let Some(v) = field.as_deref()
            && let Cow::Owned(hidden) = redact::redact_secrets(v)
        {
            *field = Some(Cow::Owned(hidden));
        }
    }
}

/// True for the body of a CloudTrail digest file.
fn is_digest(v: Value) -> bool {
    v.get("digestStartTime").is_some()
        || (v.get("logFiles").is_some() && v.get("digestEndTime").is_some())
}

/// Normalizes and classifies a parsed event, then keeps it if relevant (or wanted by
/// `also_keep`) and in the window. `raw` is the record as read (for `also_keep`), `text`
/// the event's own JSON when it is at hand (kept as the raw record with `keep_raw`).
fn keep_event(
    name: &str,
    v: Value,
    raw: &[u8],
    text: Option<&str>,
    opts: &IngestOptions,
    r: &mut InputResult,
) {
    let n = match normalize(v, name) {
        Ok(n) => n,
        Err(e @ (RecordError::NotObject | RecordError::NotCloudTrail)) => {
            let msg = format!("record {} skipped: {e}", r.records);
            r.unreadable_record(name, raw, opts, msg);
            return;
        }
    };
    let mut e: EventRef = n.event;
    let relevant = classify::is_relevant(&e);
    let wanted = || opts.also_keep.as_ref().is_some_and(|k| k.hit(raw));
    if !relevant && !opts.all_events && !wanted() {
        return;
    }
    if !n.oddities.is_empty() {
        r.odd += 1;
        let id = e.event_id.as_deref().unwrap_or("?");
        r.note(
            name,
            format!(
                "record {} (eventID {id}) kept with odd fields: {}",
                r.records,
                n.oddities.join("; ")
            ),
        );
    }
    r.creds.observe(&e);
    let in_window = match e.event_time {
        Some(t) => opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t < u),
        None => opts.since.is_none() && opts.until.is_none(),
    };
    if !in_window {
        r.outside += 1;
        return;
    }
    classify::classify_event(&mut e);
    if opts.keep_raw {
        e.raw = Some(match text {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(v.encode()),
        });
    }
    if !opts.no_redact && redact::may_hold_secret(raw) {
        redact_event(&mut e);
    }
    if classify::is_lifecycle_change(&e) {
        r.aside.push(e.to_event());
    } else {
        r.chunk.push(&e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delivery file of `n` Bedrock calls made with a long-term API key.
    fn delivery(first: usize, n: usize) -> Box<dyn std::io::Read + Send> {
        let records: Vec<String> = (first..first + n)
            .map(|i| {
                format!(
                    r#"{{"eventVersion":"1.09","eventTime":"2026-11-01T00:00:{:02}Z","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1","eventID":"id-{i}","userIdentity":{{"type":"IAMUser","userName":"BedrockAPIKey-ab12","accountId":"111122223333"}},"additionalEventData":{{"callWithBearerToken":true}},"recipientAccountId":"111122223333"}}"#,
                    i % 60
                )
            })
            .collect();
        let text = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        Box::new(std::io::Cursor::new(text.into_bytes()))
    }

    /// A CloudTrail digest file (read, recognized, not stored).
    fn digest() -> Box<dyn std::io::Read + Send> {
        let text = r#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-01T00:00:00Z","digestEndTime":"2026-11-01T01:00:00Z","logFiles":[]}"#;
        Box::new(std::io::Cursor::new(text.as_bytes().to_vec()))
    }

    fn opts(budget: usize) -> IngestOptions {
        IngestOptions {
            budget: MemoryBudget::of(budget),
            ..IngestOptions::default()
        }
    }

    #[test]
    fn events_carried_from_input_to_input_all_reach_the_table_also_past_a_digest() {
        let (pool, opts) = (ScratchPool::default(), opts(MemoryBudget::DEFAULT_BYTES));
        let outcomes = [
            pool.read_stream_carrying("a.json", delivery(0, 3), &opts),
            pool.read_stream_carrying("digest.json", digest(), &opts),
            pool.read_stream_carrying("b.json", delivery(3, 2), &opts),
        ];
        for o in &outcomes {
            assert!(o.chunk.is_none(), "{}: its rows are carried", o.name);
        }
        let rest = pool.carried("test files");
        assert_eq!(rest.len(), 1, "one reader thread, one carried chunk");
        assert!(rest[0].rows_only());
        assert!(pool.carried("test files").is_empty(), "taken once");

        let mut asm = Assembler::new(opts.budget.clone());
        outcomes.into_iter().chain(rest).for_each(|o| asm.add(o));
        let got = asm.finish().unwrap();
        assert_eq!(got.table.len(), 5, "every kept event, none twice");
        assert_eq!(
            got.summary.inputs_read, 2,
            "the carried rows are not an input"
        );
        assert_eq!(got.summary.digest_files_skipped, 1);
        assert_eq!(got.summary.events_read, 5);
    }

    #[test]
    fn carried_events_become_a_chunk_once_they_reach_the_carry_limit() {
        // A 1 KiB budget carries at most 128 bytes: every input's events go out with it.
        let (pool, opts) = (ScratchPool::default(), opts(1024));
        let a = pool.read_stream_carrying("a.json", delivery(0, 3), &opts);
        let b = pool.read_stream_carrying("b.json", delivery(3, 2), &opts);
        assert_eq!(a.chunk.as_ref().map(|(df, _)| df.height()), Some(3));
        assert_eq!(b.chunk.as_ref().map(|(df, _)| df.height()), Some(2));
        assert!(
            pool.carried("test files").is_empty(),
            "nothing left carried"
        );
    }
}
