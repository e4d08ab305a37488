//! The columnar `events` table (polars) that rules, queries and the forensics commands read.
//!
//! [`EventTable`] is the one way to reach the events after ingest: [`EventTable::lazy`] for
//! SQL and polars plans (rules, `query`), [`EventTable::batches`] for consumers that walk the
//! rows in time order (`events`, `keys`, `investigate`, the job's state), and
//! [`EventTable::events_by_id`] for the evidence behind findings. Callers never assume the
//! whole table is one frame in memory: past its memory budget it lives in spill files
//! (`store`, `spill`), built from chunks of one or more inputs (`builder`).

pub mod builder;
pub mod spill;
pub mod store;

use std::collections::HashSet;

use polars::prelude::*;

use crate::event::{COLUMNS, Event};
use spill::SpillFile;

/// The hidden column holding each event's raw CloudTrail record (when kept).
pub const RAW_COLUMN: &str = "raw";
/// Rows per batch handed to row consumers.
pub const BATCH_ROWS: usize = 8192;

/// Polars streaming settings, unless the user set them (see [`bound_streaming_buffers`]).
const STREAMING_SETTINGS: [(&str, &str); 3] = [
    ("POLARS_MAX_CONCURRENT_SCANS", "1"),
    ("POLARS_NUM_READERS_PRE_INIT", "1"),
    ("POLARS_JOIN_SAMPLE_LIMIT", "100000"),
];

/// Keeps polars' streaming engine from piling up batches, so a rule over a spilled table
/// holds its working set, not a share of the corpus. Call once, first thing in `main`
/// (polars reads these settings from the environment).
///
/// - Scans: by default polars opens and reads several spill files ahead, and when the
///   consumer (a windowed rule's sweep) is slower than the reading, the batches read ahead
///   pile up. On 10M dense events that held 800 MB, growing with the corpus; with one
///   reader it stayed near 150 MB.
/// - Joins: before choosing which side to build its hash table on, a join buffers up to
///   10M rows of each side as a sample. A rule joining a few revocations to millions of
///   key uses buffered the uses while the revocations were still being read: 845 MB on
///   10M dense events, 321 MB (the reading's own peak) with 100,000-row samples.
pub fn bound_streaming_buffers() {
    for (name, value) in STREAMING_SETTINGS {
        if std::env::var_os(name).is_none() {
            // SAFETY: called before any other thread starts, so nothing reads the
            // environment at the same time.
            unsafe { std::env::set_var(name, value) };
        }
    }
}

/// Runs a plan with polars' streaming engine. Some plans reach an unfinished part of it
/// (polars 0.52 panics with "not yet implemented" on `IN (SELECT ...)`): that panic becomes
/// an error saying what to do, not a crash.
pub fn collect_streaming(lf: LazyFrame) -> PolarsResult<DataFrame> {
    let run = std::panic::AssertUnwindSafe(|| lf.collect_with_engine(Engine::Streaming));
    std::panic::catch_unwind(run).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "it stopped".to_string());
        Err(polars_err!(ComputeError:
            "polars' streaming engine cannot run this query over the events table spilled to disk ({why}); raise --memory-limit so the table stays in memory, or rewrite the query (a JOIN instead of IN (SELECT ...))"))
    })
}

/// Builds a string column from a field of every event.
fn str_col(events: &[Event], name: &str, f: impl Fn(&Event) -> Option<&str>) -> Column {
    let v: Vec<Option<&str>> = events.iter().map(f).collect();
    Column::new(name.into(), v)
}

/// Builds a UTC datetime column (microseconds) from a field of every event.
fn time_col(events: &[Event], name: &str, f: impl Fn(&Event) -> Option<i64>) -> Column {
    let ca: Int64Chunked = events.iter().map(f).collect();
    ca.with_name(name.into())
        .into_datetime(TimeUnit::Microseconds, None)
        .into_series()
        .into()
}

/// The `events` columns for `events`, in [`COLUMNS`] order.
pub fn events_frame(events: &[Event]) -> PolarsResult<DataFrame> {
    let e = events;
    let cols = vec![
        str_col(e, "event_id", |x| x.event_id.as_deref()),
        time_col(e, "event_time", |x| x.event_time),
        str_col(e, "event_source", |x| x.event_source.as_deref()),
        str_col(e, "event_name", |x| x.event_name.as_deref()),
        str_col(e, "event_type", |x| x.event_type.as_deref()),
        str_col(e, "aws_region", |x| x.aws_region.as_deref()),
        str_col(e, "account_id", |x| x.account_id.as_deref()),
        str_col(e, "source_ip", |x| x.source_ip.as_deref()),
        str_col(e, "user_agent", |x| x.user_agent.as_deref()),
        str_col(e, "error_code", |x| x.error_code.as_deref()),
        str_col(e, "error_message", |x| x.error_message.as_deref()),
        Column::new(
            "read_only".into(),
            e.iter().map(|x| x.read_only).collect::<Vec<_>>(),
        ),
        str_col(e, "identity_type", |x| x.identity_type.as_deref()),
        str_col(e, "principal_id", |x| x.principal_id.as_deref()),
        str_col(e, "principal_arn", |x| x.principal_arn.as_deref()),
        str_col(e, "access_key_id", |x| x.access_key_id.as_deref()),
        str_col(e, "user_name", |x| x.user_name.as_deref()),
        str_col(e, "session_issuer_arn", |x| x.session_issuer_arn.as_deref()),
        Column::new(
            "bearer_token".into(),
            e.iter().map(|x| x.bearer_token).collect::<Vec<_>>(),
        ),
        str_col(e, "bearer_token_type", |x| x.bearer_token_type.as_deref()),
        str_col(e, "model_id", |x| x.model_id.as_deref()),
        str_col(e, "target_user", |x| x.target_user.as_deref()),
        str_col(e, "service_name", |x| x.service_name.as_deref()),
        str_col(e, "credential_id", |x| x.credential_id.as_deref()),
        str_col(e, "service_user_name", |x| x.service_user_name.as_deref()),
        str_col(e, "credential_status", |x| x.credential_status.as_deref()),
        Column::new(
            "credential_age_days".into(),
            e.iter().map(|x| x.credential_age_days).collect::<Vec<_>>(),
        ),
        time_col(e, "credential_expiration", |x| x.credential_expiration),
        str_col(e, "policy_arn", |x| x.policy_arn.as_deref()),
        Column::new(
            "policy_mentions_bearer".into(),
            e.iter()
                .map(|x| x.policy_mentions_bearer)
                .collect::<Vec<_>>(),
        ),
        str_col(e, "policy_document", |x| x.policy_document.as_deref()),
        str_col(e, "target_role", |x| x.target_role.as_deref()),
        str_col(e, "activity", |x| x.activity),
        str_col(e, "key_kind", |x| x.key_kind),
        str_col(e, "key_basis", |x| x.key_basis),
        str_col(e, "source", |x| Some(x.source.as_str())),
    ];
    debug_assert_eq!(cols.len(), COLUMNS.len());
    DataFrame::new(cols)
}

/// Where the table's rows live.
#[derive(Debug, Clone)]
enum Backing {
    /// One frame in memory.
    Memory(DataFrame),
    /// Spill files on disk (unnamed temporary files, in order), read a batch at a time, and
    /// the same files opened for polars scans.
    Spilled {
        files: Vec<SpillFile>,
        sources: ScanSources,
    },
}

/// The kept events, in time order: every documented column, plus the raw records when they
/// were kept. In memory when they fit the budget, else in spill files on disk.
#[derive(Debug, Clone)]
pub struct EventTable {
    backing: Backing,
    rows: usize,
}

impl EventTable {
    /// A table with no rows (for linting rules against the schema).
    pub fn empty() -> EventTable {
        EventTable::in_memory(Self::empty_frame().expect("the empty table builds"))
    }

    /// The table's columns (and `raw`) with no rows.
    pub fn empty_frame() -> PolarsResult<DataFrame> {
        builder::ChunkBuilder::new().finish()
    }

    /// Builds the table from events already in time order (tests, small tools).
    pub fn from_events(events: &[Event]) -> PolarsResult<EventTable> {
        let mut frame = events_frame(events)?;
        frame.with_column(str_col(events, RAW_COLUMN, |x| x.raw.as_deref()))?;
        Ok(EventTable::in_memory(frame))
    }

    /// A table held in memory.
    pub(crate) fn in_memory(frame: DataFrame) -> EventTable {
        EventTable {
            rows: frame.height(),
            backing: Backing::Memory(frame),
        }
    }

    /// A table in spill files.
    pub(crate) fn spilled(files: Vec<SpillFile>) -> std::io::Result<EventTable> {
        let handles = files
            .iter()
            .map(SpillFile::handle)
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(EventTable {
            rows: files.iter().map(SpillFile::rows).sum(),
            backing: Backing::Spilled {
                files,
                sources: ScanSources::Files(handles.into()),
            },
        })
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no event was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the rows are on disk (the table outgrew its memory budget).
    pub fn is_spilled(&self) -> bool {
        matches!(self.backing, Backing::Spilled { .. })
    }

    /// The table as a lazy frame of the documented columns (for SQL and polars plans).
    /// Collect it with [`EventTable::collect`], which streams a spilled table.
    pub fn lazy(&self) -> LazyFrame {
        let cols: Vec<Expr> = COLUMNS.iter().map(|c| col(*c)).collect();
        match &self.backing {
            Backing::Memory(df) => df.clone().lazy().select(cols),
            Backing::Spilled { sources, .. } => scan_spilled(sources.clone()).select(cols),
        }
    }

    /// Runs a plan built on [`EventTable::lazy`]: in memory, or with polars' streaming engine
    /// when the table is on disk, so memory holds the plan's working set, not the table.
    pub fn collect(&self, lf: LazyFrame) -> PolarsResult<DataFrame> {
        match self.backing {
            Backing::Memory(_) => lf.collect(),
            Backing::Spilled { .. } => collect_streaming(lf),
        }
    }

    /// The rows (documented columns and `raw`) in batches of at most [`BATCH_ROWS`], in
    /// time order.
    fn raw_frames(&self) -> Box<dyn Iterator<Item = PolarsResult<DataFrame>> + '_> {
        match &self.backing {
            Backing::Memory(df) => {
                let n = df.height();
                Box::new(
                    (0..n.div_ceil(BATCH_ROWS))
                        .map(move |i| Ok(df.slice((i * BATCH_ROWS) as i64, BATCH_ROWS))),
                )
            }
            Backing::Spilled { files, .. } => Box::new(files.iter().flat_map(|f| {
                f.batches()
                    .map(|r| r.map_err(|e| polars_err!(ComputeError: "{}", e)))
            })),
        }
    }

    /// The documented columns in batches, in time order (for writers).
    pub fn frames(&self) -> impl Iterator<Item = PolarsResult<DataFrame>> + '_ {
        self.raw_frames()
            .map(|f| f.and_then(|df| df.select(COLUMNS.iter().copied())))
    }

    /// The rows as events (with their raw records when kept), in batches, in time order.
    pub fn batches(&self) -> impl Iterator<Item = PolarsResult<Vec<Event>>> + '_ {
        self.raw_frames()
            .map(|f| f.and_then(|df| frame_events(&df)))
    }

    /// Every row as an event. For consumers that need them all at once; prefer
    /// [`EventTable::batches`] where the work can go batch by batch.
    pub fn to_events(&self) -> PolarsResult<Vec<Event>> {
        let mut out = Vec::with_capacity(self.len());
        for b in self.batches() {
            out.extend(b?);
        }
        Ok(out)
    }

    /// The events whose event id is in `ids`, in time order (the evidence behind findings).
    pub fn events_by_id(&self, ids: &HashSet<&str>) -> PolarsResult<Vec<Event>> {
        let mut out = Vec::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for df in self.raw_frames() {
            let df = df?;
            let mask: BooleanChunked = df
                .column("event_id")?
                .str()?
                .iter()
                .map(|v| Some(v.is_some_and(|id| ids.contains(id))))
                .collect();
            if mask.any() {
                out.extend(frame_events(&df.filter(&mask)?)?);
            }
        }
        Ok(out)
    }
}

/// A scan of the table's spill files (Parquet).
fn scan_spilled(sources: ScanSources) -> LazyFrame {
    let args = ScanArgsParquet {
        hive_options: polars::io::HiveOptions {
            enabled: Some(false),
            ..polars::io::HiveOptions::default()
        },
        ..ScanArgsParquet::default()
    };
    LazyFrame::scan_parquet_sources(sources, args).expect("a scan plan is built without I/O")
}

/// Reads a frame with the table's columns back into events.
pub fn frame_events(df: &DataFrame) -> PolarsResult<Vec<Event>> {
    let s = |name: &str| -> PolarsResult<StringChunked> {
        match df.column(name) {
            Ok(c) => Ok(c.str()?.clone()),
            Err(_) => Ok(StringChunked::full_null(name.into(), df.height())),
        }
    };
    let t = |name: &str| -> PolarsResult<Int64Chunked> {
        Ok(df.column(name)?.cast(&DataType::Int64)?.i64()?.clone())
    };
    let b = |name: &str| -> PolarsResult<BooleanChunked> { Ok(df.column(name)?.bool()?.clone()) };
    let (event_id, event_time, event_source, event_name, event_type) = (
        s("event_id")?,
        t("event_time")?,
        s("event_source")?,
        s("event_name")?,
        s("event_type")?,
    );
    let (aws_region, account_id, source_ip, user_agent, error_code, error_message) = (
        s("aws_region")?,
        s("account_id")?,
        s("source_ip")?,
        s("user_agent")?,
        s("error_code")?,
        s("error_message")?,
    );
    let read_only = b("read_only")?;
    let (identity_type, principal_id, principal_arn, access_key_id, user_name, issuer) = (
        s("identity_type")?,
        s("principal_id")?,
        s("principal_arn")?,
        s("access_key_id")?,
        s("user_name")?,
        s("session_issuer_arn")?,
    );
    let bearer = b("bearer_token")?;
    let (bearer_type, model_id, target_user, service_name, credential_id) = (
        s("bearer_token_type")?,
        s("model_id")?,
        s("target_user")?,
        s("service_name")?,
        s("credential_id")?,
    );
    let (service_user_name, credential_status) = (s("service_user_name")?, s("credential_status")?);
    let age = df.column("credential_age_days")?.i64()?.clone();
    let expiration = t("credential_expiration")?;
    let policy_arn = s("policy_arn")?;
    let mentions = b("policy_mentions_bearer")?;
    let (policy_document, target_role) = (s("policy_document")?, s("target_role")?);
    let (activity, key_kind, key_basis, source, raw) = (
        s("activity")?,
        s("key_kind")?,
        s("key_basis")?,
        s("source")?,
        s(RAW_COLUMN)?,
    );
    let o = |c: &StringChunked, i: usize| c.get(i).map(str::to_string);
    Ok((0..df.height())
        .map(|i| Event {
            event_id: o(&event_id, i),
            event_time: event_time.get(i),
            event_source: o(&event_source, i),
            event_name: o(&event_name, i),
            event_type: o(&event_type, i),
            aws_region: o(&aws_region, i),
            account_id: o(&account_id, i),
            source_ip: o(&source_ip, i),
            user_agent: o(&user_agent, i),
            error_code: o(&error_code, i),
            error_message: o(&error_message, i),
            read_only: read_only.get(i),
            identity_type: o(&identity_type, i),
            principal_id: o(&principal_id, i),
            principal_arn: o(&principal_arn, i),
            access_key_id: o(&access_key_id, i),
            user_name: o(&user_name, i),
            session_issuer_arn: o(&issuer, i),
            bearer_token: bearer.get(i).unwrap_or(false),
            bearer_token_type: o(&bearer_type, i),
            model_id: o(&model_id, i),
            target_user: o(&target_user, i),
            service_name: o(&service_name, i),
            credential_id: o(&credential_id, i),
            service_user_name: o(&service_user_name, i),
            credential_status: o(&credential_status, i),
            credential_age_days: age.get(i),
            credential_expiration: expiration.get(i),
            policy_arn: o(&policy_arn, i),
            policy_mentions_bearer: mentions.get(i).unwrap_or(false),
            policy_document: o(&policy_document, i),
            target_role: o(&target_role, i),
            activity: activity.get(i).and_then(crate::event::activity_name),
            key_kind: key_kind.get(i).and_then(crate::event::key_kind_name),
            key_basis: key_basis.get(i).and_then(crate::event::key_basis_name),
            source: source.get(i).unwrap_or_default().to_string(),
            raw: o(&raw, i),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_match_the_documented_list() {
        let t = EventTable::from_events(&[Event::default()]).unwrap();
        let names: Vec<String> = t
            .lazy()
            .collect()
            .unwrap()
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            names,
            COLUMNS.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn rows_read_back_equal_the_events_written() {
        let e = Event {
            event_id: Some("e1".into()),
            event_time: Some(1_700_000_000_123_456),
            event_name: Some("InvokeModel".into()),
            bearer_token: true,
            read_only: Some(false),
            credential_age_days: Some(30),
            credential_expiration: Some(1_800_000_000_000_000),
            activity: Some("bearer_long_term"),
            key_kind: Some("long_term"),
            key_basis: Some("identity_type"),
            source: "f.json".into(),
            raw: Some("{}".into()),
            ..Event::default()
        };
        let t = EventTable::from_events(std::slice::from_ref(&e)).unwrap();
        assert_eq!(t.to_events().unwrap(), vec![e]);
    }
}
