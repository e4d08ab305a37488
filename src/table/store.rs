//! The store behind the `events` table while it is being filled: chunks are held in memory
//! up to a budget, then spilled to disk as sorted runs; finishing sorts (merging the runs when
//! there are any) and drops exact duplicate deliveries.
//!
//! Memory is bounded by the budget, not by the number of events kept: past half the budget
//! the held chunks are sorted and written as one run (the other half is room for the sort).
//! A run is written by a thread of its own while the next chunks come in; the next run waits
//! for it, so at most one run is in memory besides the chunks held.
//! Finishing a spilled store merges the runs in rounds that hold one batch per run, at most
//! [`MAX_FAN_IN`] runs at a time, writing the table's final files as it goes.

use std::cmp::Ordering;

use polars::prelude::*;

use super::EventTable;
use super::spill::{SpillDir, SpillError, SpillFile, SpillWriter};

/// Rows per record batch written to a run (and per merge round and run).
pub const RUN_BATCH_ROWS: usize = 16 * 1024;
/// Runs merged at once; more are first merged in groups.
pub const MAX_FAN_IN: usize = 16;
/// Rows per final table file (each holds several record batches). Polars memory-maps the
/// files it scans and the mapped pages count as the process's resident memory until the
/// file is done: small files keep that to the few files in flight. With a million rows per
/// file, the mapped table (280 MB at 3M dense events, measured when spill files were Arrow
/// IPC; the Parquet files are smaller) made memory grow with the corpus.
const FINAL_FILE_ROWS: usize = 1 << 17;

/// Gives the memory freed so far back to the system. Called when a spilled table is finished
/// and after each rule over one: reading leaves hundreds of megabytes free in the allocator,
/// and each rule's peak otherwise lands on top of the memory the ones before it freed (this
/// was glibc's `malloc_trim` before jemalloc). jemalloc returns freed pages itself after a
/// delay; the purge brought the 10M dense scan's peak from 666 to 648 MB (one run each), and
/// cost 0.1-0.3 s on 1M dense events (5.52-5.53 s in two runs, against 5.22-5.41 s in three).
///
/// The binary's allocator is jemalloc (`src/main.rs`): this purges all its arenas (the
/// `mallctl` "arena.<MALLCTL_ARENAS_ALL>.purge"). Under another allocator (unit tests) it only
/// asks jemalloc, which then holds nothing.
pub fn release_free_memory() {
    #[cfg(not(target_env = "msvc"))]
    {
        /// `MALLCTL_ARENAS_ALL` (jemalloc.h): the command applies to every arena.
        const PURGE_ALL: &std::ffi::CStr = c"arena.4096.purge";
        // SAFETY: a documented mallctl name that takes no old and no new value.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                PURGE_ALL.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        debug_assert_eq!(rc, 0, "jemalloc refused {PURGE_ALL:?}");
    }
}

/// How much memory the table may hold, and where spill files go.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    /// Bytes of table data held in memory at most (about half for rows, half for sorting).
    pub bytes: usize,
    /// Where spill files go.
    pub spill: SpillDir,
}

impl MemoryBudget {
    /// The default: 512 MiB (with the rules' working memory, a scan fits a 2 GB container).
    pub const DEFAULT_BYTES: usize = 512 << 20;
}

impl MemoryBudget {
    /// A budget of `bytes` with spill files in `$TMPDIR`.
    pub fn of(bytes: usize) -> MemoryBudget {
        MemoryBudget {
            bytes,
            spill: SpillDir::default(),
        }
    }

    /// Parses a size: a number of bytes, or with a unit `K`, `M`, `G` (powers of 1024;
    /// `KB`/`KiB` and lowercase forms too), e.g. `512M`, `1.5G`.
    pub fn parse_size(s: &str) -> Result<usize, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a size: use a number with K, M or G (512M, 2G)"))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => 1024.0 * 1024.0,
            "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("{s:?}: unknown unit {other:?}; use K, M or G")),
        };
        let bytes = n * mult;
        if !(bytes.is_finite() && bytes >= 1.0 && bytes <= usize::MAX as f64) {
            return Err(format!("{s:?} is not a usable size"));
        }
        Ok(bytes as usize)
    }
}

/// The memory limit of the container (cgroup v2 `memory.max`, else v1), when there is one.
pub fn container_memory_limit() -> Option<usize> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let raw = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))?;
    let v: u64 = raw.trim().parse().ok()?;
    // "max" does not parse; v1 reports "no limit" as a huge number.
    (v < (1 << 50)).then_some(v as usize)
}

impl MemoryBudget {
    /// Lowers the budget to a quarter of the container's memory limit when it is set above
    /// that (the rest is room for the rules, the inputs in flight and the runtime); returns
    /// a note saying so.
    pub fn fit_to(&mut self, container: Option<usize>) -> Option<String> {
        let limit = container?;
        let fair = limit / 4;
        if self.bytes <= fair {
            return None;
        }
        let note = format!(
            "--memory-limit {} MiB is more than a quarter of this container's {} MiB: using {} MiB",
            self.bytes >> 20,
            limit >> 20,
            fair >> 20
        );
        self.bytes = fair.max(1 << 20);
        Some(note)
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            bytes: Self::DEFAULT_BYTES,
            spill: SpillDir::default(),
        }
    }
}

/// Why the table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Spill(#[from] SpillError),
    #[error("building the events table: {0}")]
    Polars(#[from] PolarsError),
}

/// Chunks received so far.
pub struct Store {
    budget: MemoryBudget,
    held: Vec<DataFrame>,
    held_bytes: usize,
    runs: Vec<SpillFile>,
    /// The last run, still being written by its thread while more chunks come in.
    writing: Option<RunOutput>,
}

/// The finished table and what finishing it dropped.
pub struct Finished {
    pub table: EventTable,
    /// Exact duplicate deliveries dropped (same eventID, name, source, time and account).
    pub duplicates: u64,
    /// True when some rows went through disk.
    pub spilled: bool,
}

impl Store {
    /// An empty store with a memory budget.
    pub fn new(budget: MemoryBudget) -> Store {
        Store {
            budget,
            held: Vec::new(),
            held_bytes: 0,
            runs: Vec::new(),
            writing: None,
        }
    }

    /// Adds a chunk (the table's columns and `raw`) that holds `bytes` of memory.
    pub fn add(&mut self, chunk: DataFrame, bytes: usize) -> Result<(), StoreError> {
        if chunk.height() == 0 {
            return Ok(());
        }
        self.held.push(chunk);
        self.held_bytes += bytes;
        if self.held_bytes > self.budget.bytes / 2 {
            self.spill_held()?;
        }
        Ok(())
    }

    /// Sorts the held chunks and starts writing them as one run; the run before it is
    /// finished first, so memory holds at most one run being written and one being filled.
    fn spill_held(&mut self) -> Result<(), StoreError> {
        self.finish_writing()?;
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let sorted = sort_events(concat(held)?)?;
        let mut out = RunOutput::new(self.budget.spill.clone(), usize::MAX)?;
        out.write(sorted)?;
        self.writing = Some(out);
        Ok(())
    }

    /// Waits for the run being written, if any.
    fn finish_writing(&mut self) -> Result<(), StoreError> {
        if let Some(out) = self.writing.take() {
            self.runs.extend(out.finish()?);
        }
        Ok(())
    }

    /// Sorts everything by time, drops exact duplicates and returns the table.
    pub fn finish(mut self) -> Result<Finished, StoreError> {
        if self.runs.is_empty() && self.writing.is_none() {
            let sorted = sort_events(concat(std::mem::take(&mut self.held))?)?;
            let (df, duplicates) = drop_duplicates(sorted)?;
            return Ok(Finished {
                table: EventTable::in_memory(df),
                duplicates,
                spilled: false,
            });
        }
        if !self.held.is_empty() {
            self.spill_held()?;
        }
        self.finish_writing()?;
        let mut duplicates = 0;
        let mut runs = std::mem::take(&mut self.runs);
        while runs.len() > MAX_FAN_IN {
            let rest = runs.split_off(MAX_FAN_IN);
            let mut out = RunOutput::new(self.budget.spill.clone(), usize::MAX)?;
            duplicates += merge(runs, &mut out)?;
            runs = rest;
            runs.extend(out.finish()?);
        }
        let mut out = RunOutput::new(self.budget.spill.clone(), FINAL_FILE_ROWS)?;
        duplicates += merge(runs, &mut out)?;
        Ok(Finished {
            table: EventTable::spilled(out.finish()?)
                .map_err(|e| SpillError::Read(format!("reopening the table's spill files: {e}")))?,
            duplicates,
            spilled: true,
        })
    }
}

/// Concatenates chunks of one schema (an empty table when there is none).
fn concat(chunks: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    if chunks.is_empty() {
        return super::EventTable::empty_frame();
    }
    let mut chunks = chunks.into_iter();
    let mut df = chunks.next().expect("not empty");
    for c in chunks {
        df.vstack_mut_owned(c)?;
    }
    df.rechunk_mut();
    Ok(df)
}

/// Sorts rows by (event_time, event_id, source), nulls first, keeping each input's record
/// order among equals: the order does not depend on which input finished first.
pub fn sort_events(df: DataFrame) -> PolarsResult<DataFrame> {
    df.sort(
        ["event_time", "event_id", "source"],
        SortMultipleOptions::default()
            .with_maintain_order(true)
            .with_nulls_last(false),
    )
}

/// Consecutive slices of at most `rows` rows.
fn slices(df: &DataFrame, rows: usize) -> impl Iterator<Item = DataFrame> + '_ {
    (0..df.height().div_ceil(rows)).map(move |i| df.slice((i * rows) as i64, rows))
}

/// Drops exact duplicate deliveries from rows sorted by (event_time, event_id, ...): rows with the
/// same eventID, name, source, time and account; rows without an eventID are all kept.
pub fn drop_duplicates(df: DataFrame) -> PolarsResult<(DataFrame, u64)> {
    let keep = keep_mask(&df)?;
    let dropped = keep.len() - keep.sum().unwrap_or(0) as usize;
    if dropped == 0 {
        return Ok((df, 0));
    }
    Ok((df.filter(&keep)?, dropped as u64))
}

/// True for each row that is not a repeat of an earlier row of its (time, id) group.
fn keep_mask(df: &DataFrame) -> PolarsResult<BooleanChunked> {
    let time = df.column("event_time")?.datetime()?.physical();
    let (id, name, source, account) = (
        df.column("event_id")?.str()?,
        df.column("event_name")?.str()?,
        df.column("event_source")?.str()?,
        df.column("account_id")?.str()?,
    );
    type Rest<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let mut group: Vec<Rest> = Vec::new();
    let mut prev: Option<(Option<i64>, Option<&str>)> = None;
    let mut keep = Vec::with_capacity(df.height());
    let rows = time
        .iter()
        .zip(id.iter())
        .zip(name.iter().zip(source.iter()).zip(account.iter()));
    for ((t, i), ((n, s), a)) in rows {
        if prev != Some((t, i)) {
            group.clear();
            prev = Some((t, i));
        }
        let rest = (n, s, a);
        let dup = i.is_some() && group.contains(&rest);
        if !dup {
            group.push(rest);
        }
        keep.push(!dup);
    }
    Ok(BooleanChunked::from_slice("keep".into(), &keep))
}

#[cfg(test)]
mod size_tests {
    use super::MemoryBudget;

    #[test]
    fn sizes_take_units_and_refuse_nonsense() {
        assert_eq!(MemoryBudget::parse_size("512M"), Ok(512 << 20));
        assert_eq!(MemoryBudget::parse_size("2g"), Ok(2 << 30));
        assert_eq!(MemoryBudget::parse_size("300MiB"), Ok(300 << 20));
        assert_eq!(MemoryBudget::parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(MemoryBudget::parse_size("4096"), Ok(4096));
        assert!(MemoryBudget::parse_size("lots").is_err());
        assert!(MemoryBudget::parse_size("12X").is_err());
        assert!(MemoryBudget::parse_size("0").is_err());
    }

    #[test]
    fn a_budget_above_the_container_is_lowered_with_a_note() {
        let mut b = MemoryBudget::of(512 << 20);
        assert!(b.fit_to(None).is_none());
        assert!(b.fit_to(Some(4 << 30)).is_none());
        let note = b.fit_to(Some(1 << 30)).unwrap();
        assert_eq!(b.bytes, 256 << 20);
        assert!(note.contains("1024 MiB"), "{note}");
    }
}

/// The merge key of a row: (event_time, event_id), nulls first. Rows are sorted by more
/// (`source` too), but a merge round emits whole (time, id) groups, so exact duplicates
/// (same time and id, any input) are always compared in the same round.
type Key = (Option<i64>, Option<String>);

/// The merge key of row `i`.
fn key_at(df: &DataFrame, i: usize) -> PolarsResult<Key> {
    let t = df.column("event_time")?.datetime()?.physical().get(i);
    let id = df.column("event_id")?.str()?.get(i).map(str::to_string);
    Ok((t, id))
}

/// Compares row `i` of `df` with a key.
fn cmp_row(df: &DataFrame, i: usize, key: &Key) -> PolarsResult<Ordering> {
    Ok(key_at(df, i)?.cmp(key))
}

/// How many leading rows of the sorted `df` have a key below `bound`.
fn rows_below(df: &DataFrame, bound: &Key) -> PolarsResult<usize> {
    let (mut lo, mut hi) = (0, df.height());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if cmp_row(df, mid, bound)? == Ordering::Less {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// One sorted run being merged: the rows of its current batch not yet emitted.
struct Cursor {
    batches: super::spill::SpillBatches,
    buf: Option<DataFrame>,
    done: bool,
}

impl Cursor {
    /// Loads the next batch, appending it to what is left of the current one.
    fn load(&mut self) -> Result<(), StoreError> {
        match self.batches.next() {
            Some(b) => {
                let b = b?;
                self.buf = Some(match self.buf.take() {
                    Some(rest) => concat(vec![rest, b])?,
                    None => b,
                });
            }
            None => self.done = true,
        }
        Ok(())
    }

    /// The key of the last row held.
    fn last_key(&self) -> PolarsResult<Option<Key>> {
        match &self.buf {
            Some(b) if b.height() > 0 => key_at(b, b.height() - 1).map(Some),
            _ => Ok(None),
        }
    }
}

/// Merges sorted runs into `out`, dropping duplicates; returns how many were dropped.
///
/// Each round emits, from every run, the rows below the smallest last key among the runs
/// that still have batches to read: no unread row can sort before them, and rows equal to
/// that key (possible duplicates) wait for the next round.
fn merge(runs: Vec<SpillFile>, out: &mut RunOutput) -> Result<u64, StoreError> {
    let mut cursors = runs
        .iter()
        .map(|r| {
            Ok(Cursor {
                batches: r.batches(),
                buf: None,
                done: false,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut dropped = 0;
    loop {
        for c in cursors.iter_mut() {
            while !c.done && c.buf.as_ref().is_none_or(|b| b.height() == 0) {
                c.load()?;
            }
        }
        if cursors
            .iter()
            .all(|c| c.buf.as_ref().is_none_or(|b| b.height() == 0))
        {
            break;
        }
        let mut bound: Option<Key> = None;
        for c in cursors.iter().filter(|c| !c.done) {
            if let Some(k) = c.last_key()?
                && bound.as_ref().is_none_or(|b| k < *b)
            {
                bound = Some(k);
            }
        }
        let mut parts = Vec::new();
        for c in cursors.iter_mut() {
            let Some(buf) = c.buf.take() else { continue };
            let n = match &bound {
                Some(b) => rows_below(&buf, b)?,
                None => buf.height(),
            };
            parts.push(buf.slice(0, n));
            c.buf = Some(buf.slice(n as i64, usize::MAX));
        }
        let emitted: usize = parts.iter().map(DataFrame::height).sum();
        if emitted == 0 {
            // Every held row equals the bound: read further in the runs that set it.
            for c in cursors.iter_mut().filter(|c| !c.done) {
                if c.last_key()? == bound {
                    c.load()?;
                }
            }
            continue;
        }
        let (df, d) = drop_duplicates(sort_events(concat(parts)?)?)?;
        dropped += d;
        out.write(df)?;
    }
    Ok(dropped)
}

/// Sorted output written as spill files of at most `file_rows` rows each, by a thread of its
/// own: encoding, compressing and writing a batch overlap with producing the next (the
/// merge of the runs would otherwise leave a core idle). At most [`WRITE_AHEAD`] frames wait.
struct RunOutput {
    tx: Option<std::sync::mpsc::SyncSender<DataFrame>>,
    writer: Option<std::thread::JoinHandle<Result<Vec<SpillFile>, StoreError>>>,
    /// The spill directory, for messages.
    dir: String,
}

/// Frames handed to a [`RunOutput`]'s thread and not yet written.
const WRITE_AHEAD: usize = 2;

impl RunOutput {
    /// Output into files of at most `file_rows` rows.
    fn new(spill: SpillDir, file_rows: usize) -> Result<RunOutput, StoreError> {
        let dir = spill.path().display().to_string();
        let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(WRITE_AHEAD);
        let writer = std::thread::Builder::new()
            .name("keytrail-spill".into())
            .spawn(move || write_files(&spill, file_rows, rx))
            .map_err(|e| SpillError::Write {
                dir: dir.clone(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(RunOutput {
            tx: Some(tx),
            writer: Some(writer),
            dir,
        })
    }

    /// Appends sorted rows. A failure of the writer thread comes back here or from
    /// [`RunOutput::finish`].
    fn write(&mut self, df: DataFrame) -> Result<(), StoreError> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(df).is_ok());
        if !sent {
            // The thread stopped early: it failed, and joining it says why.
            self.tx = None;
            return self.join().map(|_| ());
        }
        Ok(())
    }

    /// The finished files, in order.
    fn finish(mut self) -> Result<Vec<SpillFile>, StoreError> {
        self.tx = None;
        self.join()
    }

    /// Waits for the writer thread and returns what it wrote.
    fn join(&mut self) -> Result<Vec<SpillFile>, StoreError> {
        let stopped = |reason: &str| {
            StoreError::Spill(SpillError::Write {
                dir: self.dir.clone(),
                reason: reason.to_string(),
            })
        };
        match self.writer.take() {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err(stopped("the writer thread stopped unexpectedly"))),
            None => Err(stopped("the writer thread failed earlier")),
        }
    }
}

/// The body of a [`RunOutput`]'s thread: writes the frames received, in order, into files
/// of at most `file_rows` rows.
fn write_files(
    spill: &SpillDir,
    file_rows: usize,
    rx: std::sync::mpsc::Receiver<DataFrame>,
) -> Result<Vec<SpillFile>, StoreError> {
    let mut files = Vec::new();
    let mut current: Option<SpillWriter> = None;
    for df in rx {
        for part in slices(&df, RUN_BATCH_ROWS) {
            let w = match current.as_mut() {
                Some(w) => w,
                None => current.insert(spill.writer()?),
            };
            w.write(part)?;
            if w.rows() >= file_rows {
                let full = current.take().expect("writer present");
                files.push(full.finish()?);
            }
        }
    }
    if let Some(w) = current.take() {
        files.push(w.finish()?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::event::EventRef;
    use crate::table::builder::ChunkBuilder;

    /// A chunk of events `(time, id, source)`.
    fn chunk(rows: &[(i64, &str, &str)]) -> (DataFrame, usize) {
        let mut b = ChunkBuilder::new();
        for (t, id, source) in rows {
            b.push(&EventRef {
                event_id: Some(Cow::Owned(id.to_string())),
                event_time: Some(*t),
                event_name: Some(Cow::Borrowed("InvokeModel")),
                source: Cow::Owned(source.to_string()),
                ..EventRef::default()
            });
        }
        let bytes = b.held_bytes();
        (b.finish().unwrap(), bytes)
    }

    /// Feeds `n` inputs of interleaved times (with duplicates across inputs) to a store.
    fn fill(budget: usize, n: usize) -> Finished {
        let spill = tempfile::tempdir().unwrap();
        let mut store = Store::new(MemoryBudget {
            bytes: budget,
            spill: SpillDir::new(spill.path()),
        });
        for i in 0..n {
            let rows: Vec<(i64, String, String)> = (0..50)
                .map(|j| {
                    let t = ((j * 7 + (i % 5) * 3) % 97) as i64;
                    // Every input repeats the events of input i % 5: exact duplicates.
                    (t, format!("e{}-{j}", i % 5), format!("s{}", i % 5))
                })
                .collect();
            let refs: Vec<(i64, &str, &str)> = rows
                .iter()
                .map(|(t, id, s)| (*t, id.as_str(), s.as_str()))
                .collect();
            let (df, bytes) = chunk(&refs);
            store.add(df, bytes).unwrap();
        }
        store.finish().unwrap()
    }

    /// The rows' (time, id, source), in table order.
    fn keys(t: &EventTable) -> Vec<(Option<i64>, Option<String>, String)> {
        t.to_events()
            .unwrap()
            .into_iter()
            .map(|e| (e.event_time, e.event_id, e.source))
            .collect()
    }

    #[test]
    fn merged_runs_equal_the_in_memory_table() {
        let fit = fill(1 << 30, 40);
        assert!(!fit.spilled);
        // A tiny budget: a run per input, more runs than one merge takes (two levels).
        let spilled = fill(1, 40);
        assert!(spilled.spilled);
        assert_eq!(keys(&fit.table), keys(&spilled.table));
        assert_eq!(fit.duplicates, spilled.duplicates);
        assert_eq!(fit.table.len(), 5 * 50);
        assert_eq!(fit.duplicates, 35 * 50);
        let k = keys(&fit.table);
        assert!(k.windows(2).all(|w| w[0] <= w[1]), "sorted");
    }

    #[test]
    fn a_spilled_table_answers_sql_through_the_streaming_engine() {
        let spilled = fill(1, 20);
        let t = &spilled.table;
        let df = t
            .collect(
                t.lazy()
                    .group_by([col("source")])
                    .agg([len().alias("n")])
                    .sort(["source"], Default::default()),
            )
            .unwrap();
        assert_eq!(df.height(), 5);
        let n: Vec<u32> = df
            .column("n")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(n, vec![50; 5]);
    }

    #[test]
    fn a_spill_directory_that_cannot_be_written_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("no-such-dir");
        let mut store = Store::new(MemoryBudget {
            bytes: 1,
            spill: SpillDir::new(&gone),
        });
        // The run is written by its own thread: its failure comes back by `finish`.
        let mut first_error = None;
        for i in 0..3 {
            let (df, bytes) = chunk(&[(i, "e", "s")]);
            if let Err(e) = store.add(df, bytes) {
                first_error = Some(e);
                break;
            }
        }
        let err = match first_error {
            Some(e) => e,
            None => store
                .finish()
                .err()
                .expect("finishing reports the failed write"),
        };
        let msg = err.to_string();
        assert!(msg.contains("no-such-dir"), "{msg}");
        assert!(msg.contains("TMPDIR"), "{msg}");
    }
}
