//! The ingest pipeline: inputs -> records -> normalized, classified, filtered events.
//!
//! Inputs are decoded in parallel (rayon, all cores). Each record is first checked with a
//! cheap case-insensitive keyword scan; only records that may be Bedrock-relevant (or every
//! record with `--all-events`) are parsed with simd-json. Memory is bounded by the events
//! kept plus one decode buffer per worker.

use std::collections::HashSet;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use indicatif::ProgressBar;
use rayon::prelude::*;
use simd_json::BorrowedValue as Value;
use simd_json::prelude::*;

use crate::event::Event;
use crate::sources::Input;
use crate::sources::local::{self, Expanded};
use crate::sources::prefilter::Prefilter;
use crate::sources::scanner::{self, Framing, Piece};
use crate::table::EventTable;
use crate::transforms::classify::{self, CredentialServices};
use crate::transforms::normalize::{RecordError, normalize};

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
            || self.also_keep.as_ref().is_some_and(|k| k.1.is_candidate(raw))
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

/// What the assembler gathers before the table is built.
#[derive(Debug, Default)]
struct Gathered {
    events: Vec<Event>,
    summary: Summary,
    messages: Vec<String>,
}

/// What one input produced.
#[derive(Default)]
struct InputResult {
    events: Vec<Event>,
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
}

impl InputResult {
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
    /// The input could not be fetched (not a content problem): worth trying again later.
    retry_later: bool,
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
            retry_later: false,
        }
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
}

/// Feeds records one at a time (for sources that already hold each record, such as
/// LookupEvents pages) through the same checks as streamed files.
pub struct RecordFeed<'o> {
    name: String,
    opts: &'o IngestOptions,
    result: InputResult,
    scratch: Vec<u8>,
}

impl<'o> RecordFeed<'o> {
    /// Starts an input named `name` (shown in messages and the `source` column).
    pub fn new(name: impl Into<String>, opts: &'o IngestOptions) -> Self {
        RecordFeed {
            name: name.into(),
            opts,
            result: InputResult::default(),
            scratch: Vec::new(),
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
        InputOutcome {
            name: self.name,
            retry_later: self.result.bad.is_some(),
            result: self.result,
        }
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
        self.messages.extend(other.messages);
    }
}

/// Reads every local input in parallel (all cores) and returns the outcomes in input order.
pub fn read_local(
    expanded: &Expanded,
    opts: &IngestOptions,
    progress: Option<&ProgressBar>,
) -> Vec<InputOutcome> {
    expanded
        .inputs
        .par_iter()
        .map(|input| {
            let r = read_input(input, opts);
            if let Some(p) = progress {
                p.inc(1);
            }
            r
        })
        .collect()
}

/// Reads every local input and returns the kept, classified events.
pub fn ingest(
    expanded: &Expanded,
    opts: &IngestOptions,
    progress: Option<&ProgressBar>,
) -> Result<Ingested, polars::error::PolarsError> {
    let outcomes = read_local(expanded, opts, progress);
    assemble(expanded.counts(), outcomes)
}

/// Reads records from an arbitrary stream (used by tests and `-`).
pub fn ingest_reader(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    opts: &IngestOptions,
) -> Result<Ingested, polars::error::PolarsError> {
    let r = read_stream(name, reader, opts);
    assemble(SourceCounts::default(), vec![r])
}

/// Merges per-input outcomes: lifecycle attribution, dedup, time order, summary.
pub fn assemble(
    counts: SourceCounts,
    outcomes: Vec<InputOutcome>,
) -> Result<Ingested, polars::error::PolarsError> {
    let mut a = Assembler::new();
    a.counts(counts);
    outcomes.into_iter().for_each(|o| a.add(o));
    a.finish()
}

/// Folds input outcomes in as they finish (so memory holds kept events and counts, not
/// every outcome), then attributes lifecycle events, drops duplicates and sorts by time.
#[derive(Default)]
pub struct Assembler {
    out: Gathered,
    creds: CredentialServices,
    /// Per-input messages, keyed by input name so the final order does not depend on timing.
    messages: Vec<(String, String)>,
}

impl Assembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds what a source counted besides its inputs.
    pub fn counts(&mut self, c: SourceCounts) {
        let s = &mut self.out.summary;
        s.digest_files_skipped += c.digests_by_name;
        s.files_ignored_by_name += c.ignored_by_name;
        s.api_calls += c.api_calls;
        s.inputs_outside_time_window += c.outside_window;
        self.out.messages.extend(c.messages);
    }

    /// Adds one input's outcome.
    pub fn add(&mut self, o: InputOutcome) {
        let InputOutcome {
            name, result: r, ..
        } = o;
        let s = &mut self.out.summary;
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
            self.messages.push((name.clone(), m));
        }
        if r.suppressed > 0 {
            let m = format!("{name}: ... and {} more record problems", r.suppressed);
            self.messages.push((name.clone(), m));
        }
        if let Some(reason) = r.bad {
            self.messages
                .push((name.clone(), format!("{name}: skipped: {reason}")));
            s.inputs_skipped.push(SkippedInput {
                input: name,
                reason,
            });
        }
        self.creds.merge(r.creds);
        self.out.events.extend(r.events);
    }

    /// Attributes lifecycle events, drops exact duplicates, sorts, and builds the table.
    pub fn finish(self) -> Result<Ingested, polars::error::PolarsError> {
        let Assembler {
            mut out,
            creds,
            mut messages,
        } = self;
        messages.sort_by(|a, b| a.0.cmp(&b.0));
        out.messages.extend(messages.into_iter().map(|(_, m)| m));
        out.summary
            .inputs_skipped
            .sort_by(|a, b| a.input.cmp(&b.input));
        let mut seen = HashSet::new();
        let before = out.events.len();
        out.events.retain_mut(|e| {
            creds.attribute(e);
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
        let s = &mut out.summary;
        s.duplicate_events_dropped = (before - out.events.len()) as u64;
        out.events
            .sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
        s.events_kept = out.events.len() as u64;
        Ok(Ingested {
            table: EventTable::from_events(&out.events)?,
            summary: out.summary,
            messages: out.messages,
        })
    }
}

/// Opens and reads one input; an open failure marks the input as skipped.
fn read_input(input: &Input, opts: &IngestOptions) -> InputOutcome {
    let name = input.name();
    match local::open(input) {
        Ok(reader) => read_stream(&name, reader, opts),
        Err(e) => InputOutcome::failed(name, format!("cannot open: {e}")),
    }
}

/// Splits a stream into records and processes each one.
pub fn read_stream(
    name: &str,
    reader: Box<dyn std::io::Read + Send>,
    opts: &IngestOptions,
) -> InputOutcome {
    let mut r = InputResult::default();
    let mut scratch = Vec::new();
    let end = scanner::split_records(reader, &mut |piece| {
        if r.digest || r.bad.is_some() {
            return;
        }
        match piece {
            Piece::Record { bytes, framing, .. } => {
                on_record(name, bytes, framing, opts, &mut r, &mut scratch)
            }
            Piece::NotObject { offset, kind, .. } => {
                r.records += 1;
                r.unreadable += 1;
                let n = r.records;
                r.note(name, format!("record {n} skipped: {kind} at byte {offset}, not an object"));
            }
            Piece::Skipped {
                offset,
                len,
                lost,
                reason,
            } => {
                r.records += 1;
                r.unreadable += 1;
                r.bytes_skipped += len + lost;
                let n = r.records;
                let lost = if lost > 0 {
                    format!(" and {lost} compressed bytes")
                } else {
                    String::new()
                };
                r.note(
                    name,
                    format!("record {n} skipped: {reason} ({len} bytes from byte {offset}{lost} passed over)"),
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
            "{} of {} records unreadable, {} bytes passed over; the other records were read",
            r.unreadable, r.records, r.bytes_skipped
        ));
    }
    InputOutcome {
        name: name.to_string(),
        result: r,
        retry_later: false,
    }
}

/// Handles one raw record: prefilter, parse, unwrap LookupEvents, normalize, keep or drop.
fn on_record(
    name: &str,
    raw: &[u8],
    framing: Framing,
    opts: &IngestOptions,
    r: &mut InputResult,
    scratch: &mut Vec<u8>,
) {
    let first_top = framing == Framing::TopLevel && !r.seen_top_level;
    if framing == Framing::TopLevel {
        r.seen_top_level = true;
    }
    if !first_top && !opts.wants(raw) {
        r.records += 1;
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(raw);
    let value = match simd_json::to_borrowed_value(scratch) {
        Ok(v) => v,
        Err(e) => {
            r.records += 1;
            r.unreadable += 1;
            r.note(
                name,
                format!("record {} skipped: invalid JSON: {e}", r.records),
            );
            return;
        }
    };
    if first_top {
        if is_digest(&value) {
            r.digest = true;
            return;
        }
        if let Some(items) = value
            .get("Records")
            .or_else(|| value.get("Events"))
            .and_then(|v| v.as_array())
        {
            // A wrapper whose array is not its first member: handle each element.
            for item in items {
                let text = simd_json::to_string(item).unwrap_or_default();
                let mut buf = Vec::new();
                on_record(name, text.as_bytes(), Framing::Wrapped, opts, r, &mut buf);
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
        if !opts.wants(raw) {
            r.records += 1;
            return;
        }
    }
    r.records += 1;
    if let Some(inner) = value.get("CloudTrailEvent") {
        match inner.as_str() {
            Some(s) if scanner::nests_deeper_than(s.as_bytes(), scanner::MAX_DEPTH) => {
                r.unreadable += 1;
                let reason = scanner::SkipReason::TooDeep;
                r.note(name, format!("record {} skipped: CloudTrailEvent {reason}", r.records));
            }
            Some(s) => {
                let mut buf = s.as_bytes().to_vec();
                match simd_json::to_borrowed_value(&mut buf) {
                    Ok(v) => keep_event(name, &v, raw, opts, r),
                    Err(e) => {
                        r.unreadable += 1;
                        r.note(
                            name,
                            format!(
                                "record {} skipped: CloudTrailEvent is not valid JSON: {e}",
                                r.records
                            ),
                        );
                    }
                }
            }
            None if inner.is_object() => keep_event(name, inner, raw, opts, r),
            None => {
                r.unreadable += 1;
                r.note(
                    name,
                    format!(
                        "record {} skipped: CloudTrailEvent is not a JSON string",
                        r.records
                    ),
                );
            }
        }
        return;
    }
    keep_event(name, &value, raw, opts, r);
}

/// True for the body of a CloudTrail digest file.
fn is_digest(v: &Value) -> bool {
    v.get("digestStartTime").is_some()
        || (v.get("logFiles").is_some() && v.get("digestEndTime").is_some())
}

/// Normalizes and classifies a parsed event (`raw` is its text), then keeps it if relevant
/// (or wanted by `also_keep`) and in the window.
fn keep_event(name: &str, v: &Value, raw: &[u8], opts: &IngestOptions, r: &mut InputResult) {
    let n = match normalize(v, name) {
        Ok(n) => n,
        Err(e @ (RecordError::NotObject | RecordError::NotCloudTrail)) => {
            r.unreadable += 1;
            r.note(name, format!("record {} skipped: {e}", r.records));
            return;
        }
    };
    let mut e = n.event;
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
        e.raw = Some(simd_json::to_string(v).unwrap_or_default());
    }
    r.events.push(e);
}
