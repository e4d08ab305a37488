//! Windowed rules over the `events` table, in two passes that keep memory to what fires.
//!
//! 1. The rule's SQL selects candidate events. They are read in batches (polars' streaming
//!    engine) and only (group, time, value) is kept per event, with every text interned
//!    into a dictionary: a few bytes per candidate, whatever the corpus.
//! 2. The sweep ([`super::sweep`]) finds the episodes; then the SQL is read once more for
//!    the event ids of the evidence listed (at most [`MAX_EVIDENCE_IDS`] per finding).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use serde_json::{Map, Value as Json};

use super::CompiledRule;
use super::detection::{Cmp, Detection, Measure, STEP_COLUMN};
use super::engine::{EVIDENCE_ONE, plan};
use super::sweep::{self, Blocks, Candidates, Episode, NULL, Plan, Prior, PriorUse};
use crate::findings::{Finding, MAX_EVIDENCE_IDS, finding_id};
use crate::table::EventTable;
use crate::timefmt::format_micros;

/// The column holding each candidate's position in the SQL's result.
const ROW: &str = "__keytrail_row";
/// The time column every windowed rule returns.
pub const TIME: &str = "event_time";
/// Values listed per field of a finding at most.
pub const MAX_VALUES: usize = 20;

/// The group of a baseline: its column values, in `group_by` order.
pub type GroupKey = Vec<Option<String>>;

/// What a baseline rule's group is known to have done (the job's state).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaselinePrior {
    /// The group's first activity (micros).
    pub first_seen: i64,
    /// Its uses of each value, per time bucket.
    pub uses: Vec<BaselineUse>,
}

/// A group's uses of one value within the time bucket `[start, start + width)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineUse {
    pub value: String,
    pub start: i64,
    pub width: i64,
    /// The first and last use in the bucket (micros).
    pub first: i64,
    pub last: i64,
}

/// A group's uses of one value in one bucket of the events read, for the job to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub group: GroupKey,
    pub used: BaselineUse,
}

/// One day: baseline buckets are a day wide, or the history when it is shorter, so a use
/// before any moment is told exactly.
const DAY: i64 = 86_400_000_000;

/// The bucket width for a baseline history.
pub fn bucket_width(history: i64) -> i64 {
    history.clamp(1, DAY)
}

/// Texts interned to codes.
#[derive(Debug, Default)]
struct Dict {
    map: PlHashMap<String, u32>,
    values: Vec<String>,
}

impl Dict {
    /// The code of `s` ([`NULL`] for null), adding it when new.
    fn code(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s else { return NULL };
        if let Some(c) = self.map.get(s) {
            return *c;
        }
        let c = self.values.len() as u32;
        self.values.push(s.to_string());
        self.map.insert(s.to_string(), c);
        c
    }

    /// The text of a code (None for [`NULL`]).
    fn text(&self, c: u32) -> Option<&str> {
        self.values.get(c as usize).map(String::as_str)
    }
}

/// Candidates read from the SQL, with the dictionaries that give their codes meaning.
#[derive(Debug, Default)]
struct Read {
    cands: Candidates,
    /// Position (row index) of each candidate in the SQL's result.
    rows: Blocks<u32>,
    /// One dictionary per group column.
    group_cols: Vec<Dict>,
    /// Group code -> per-column codes.
    groups: Vec<Box<[u32]>>,
    group_index: PlHashMap<Box<[u32]>, u32>,
    /// The measured (or step, or baseline) column.
    value: Dict,
    /// Other columns, each a dictionary and one code per candidate.
    extras: Vec<(Dict, Blocks<u32>)>,
    /// For sequences, the step names.
    steps: Vec<String>,
    /// Rows without an event time (they cannot be placed in a window).
    untimed: u64,
}

/// Which result columns play which part.
#[derive(Debug, Clone)]
struct Columns {
    group_by: Vec<String>,
    value: Option<String>,
    extras: Vec<String>,
}

impl Columns {
    /// The roles for a detection, given the SQL result's columns.
    fn of(det: &Detection, schema: &Schema) -> Result<Columns, String> {
        let mut need = det.required_columns();
        need.push(TIME.into());
        need.push(EVIDENCE_ONE.into());
        if let Some(m) = need.iter().find(|c| schema.get(c.as_str()).is_none()) {
            return Err(format!(
                "the SQL of a windowed rule must return one row per event with `event_id`, `event_time` and the columns its header names; `{m}` is missing"
            ));
        }
        let (group_by, value) = match det {
            Detection::Window {
                group_by, measure, ..
            } => (
                group_by.clone(),
                match measure {
                    Measure::Distinct(c) => Some(c.clone()),
                    Measure::Count => None,
                },
            ),
            Detection::Sequence { group_by, .. } => (group_by.clone(), Some(STEP_COLUMN.into())),
            Detection::NewValue {
                group_by, column, ..
            } => (group_by.clone(), Some(column.clone())),
            Detection::Sql => return Err("not a windowed rule".into()),
        };
        let extras = schema
            .iter_names()
            .map(|n| n.to_string())
            .filter(|n| {
                n != TIME
                    && n != EVIDENCE_ONE
                    && !group_by.contains(n)
                    && value.as_deref() != Some(n.as_str())
            })
            .collect();
        Ok(Columns {
            group_by,
            value,
            extras,
        })
    }

    /// Every column read in the first pass.
    fn read(&self) -> Vec<String> {
        let mut c = self.group_by.clone();
        c.extend(self.value.clone());
        c.extend(self.extras.iter().cloned());
        c.push(TIME.into());
        c
    }
}

/// Runs the SQL and calls `f` with each batch of its result, in order, starting from
/// `init()` (streaming engine; when the plan cannot stream, the result is collected and
/// sliced, from a fresh state).
pub(super) fn for_each_batch<S: Send + 'static>(
    lf: LazyFrame,
    init: impl Fn() -> S,
    f: fn(&mut S, &DataFrame) -> Result<(), String>,
) -> Result<S, String> {
    let shared: Arc<Mutex<(S, Option<String>)>> = Arc::new(Mutex::new((init(), None)));
    let inner = shared.clone();
    let callback = PlanCallback::Rust(SpecialEq::new(Arc::new(
        move |df: DataFrame| -> PolarsResult<bool> {
            let mut g = inner.lock().expect("batch state");
            if g.1.is_some() {
                return Ok(true);
            }
            if let Err(e) = f(&mut g.0, &df) {
                g.1 = Some(e);
                return Ok(true);
            }
            Ok(false)
        },
    )));
    let streamed = lf
        .clone()
        .sink_batches(callback, true, None)
        .and_then(crate::table::collect_streaming);
    let (state, failed) = match Arc::try_unwrap(shared) {
        Ok(m) => m
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
        Err(_) => return Err("the streaming engine kept the batch state".into()),
    };
    if let Some(e) = failed {
        return Err(e);
    }
    if streamed.is_ok() {
        return Ok(state);
    }
    // The streaming engine refused the plan: read it whole instead, from a fresh state.
    drop(state);
    let mut state = init();
    let df = lf.collect().map_err(|e| e.to_string())?;
    let step = 64 * 1024;
    let mut off = 0;
    while off < df.height() {
        f(&mut state, &df.slice(off as i64, step))?;
        off += step;
    }
    Ok(state)
}

/// A column of a batch as text values (cast when needed).
pub(super) fn text_column(df: &DataFrame, name: &str) -> Result<StringChunked, String> {
    let c = df.column(name).map_err(|e| e.to_string())?;
    let c = c.cast(&DataType::String).map_err(|e| e.to_string())?;
    Ok(c.str().map_err(|e| e.to_string())?.clone())
}

/// The time column of a batch in microseconds.
fn time_column(df: &DataFrame) -> Result<Int64Chunked, String> {
    let c = df.column(TIME).map_err(|e| e.to_string())?;
    let c = match c.dtype() {
        DataType::Datetime(TimeUnit::Microseconds, _) => c.clone(),
        DataType::Datetime(_, _) | DataType::Date => c
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .map_err(|e| e.to_string())?,
        other => {
            return Err(format!(
                "`event_time` must be a datetime (the events column), not {other}"
            ));
        }
    };
    let c = c.cast(&DataType::Int64).map_err(|e| e.to_string())?;
    Ok(c.i64().map_err(|e| e.to_string())?.clone())
}

/// Adds one batch of candidates.
fn read_batch(r: &mut (Read, Columns), df: &DataFrame) -> Result<(), String> {
    let (read, cols) = r;
    let times = time_column(df)?;
    let rows = df
        .column(ROW)
        .map_err(|e| e.to_string())?
        .cast(&DataType::UInt32)
        .map_err(|e| e.to_string())?;
    let rows = rows.u32().map_err(|e| e.to_string())?.clone();
    let groups: Vec<StringChunked> = cols
        .group_by
        .iter()
        .map(|c| text_column(df, c))
        .collect::<Result<_, _>>()?;
    let value = cols
        .value
        .as_deref()
        .map(|c| text_column(df, c))
        .transpose()?;
    let extras: Vec<StringChunked> = cols
        .extras
        .iter()
        .map(|c| text_column(df, c))
        .collect::<Result<_, _>>()?;
    let mut key = vec![0u32; groups.len()];
    for i in 0..df.height() {
        let Some(t) = times.get(i) else {
            read.untimed += 1;
            continue;
        };
        for (k, g) in groups.iter().enumerate() {
            key[k] = read.group_cols[k].code(g.get(i));
        }
        let gid = match read.group_index.get(&key[..]) {
            Some(g) => *g,
            None => {
                let g = read.groups.len() as u32;
                let boxed: Box<[u32]> = key.clone().into_boxed_slice();
                read.groups.push(boxed.clone());
                read.group_index.insert(boxed, g);
                g
            }
        };
        let v = match &value {
            None => NULL,
            Some(col) if !read.steps.is_empty() => col
                .get(i)
                .and_then(|s| read.steps.iter().position(|x| x == s))
                .map_or(NULL, |p| p as u32),
            Some(col) => read.value.code(col.get(i)),
        };
        read.cands.group.push(gid);
        read.cands.time.push(t);
        read.cands.value.push(v);
        read.rows.push(rows.get(i).unwrap_or(u32::MAX));
        for (k, x) in extras.iter().enumerate() {
            let code = read.extras[k].0.code(x.get(i));
            read.extras[k].1.push(code);
        }
    }
    Ok(())
}

/// Reads a windowed rule's candidates (first pass).
fn read_candidates(rule: &CompiledRule, events: &EventTable) -> Result<(Read, Columns), String> {
    let mut lf = plan(events, &rule.sql).map_err(|e| e.to_string())?;
    let schema = lf.collect_schema().map_err(|e| e.to_string())?;
    let cols = Columns::of(&rule.detection, &schema)?;
    let steps = match &rule.detection {
        Detection::Sequence { steps, .. } => steps.clone(),
        _ => Vec::new(),
    };
    let init = {
        let cols = cols.clone();
        move || {
            let read = Read {
                group_cols: cols.group_by.iter().map(|_| Dict::default()).collect(),
                extras: cols
                    .extras
                    .iter()
                    .map(|_| (Dict::default(), Blocks::default()))
                    .collect(),
                steps: steps.clone(),
                ..Read::default()
            };
            (read, cols.clone())
        }
    };
    let wanted: Vec<Expr> = cols
        .read()
        .iter()
        .map(|c| col(c.as_str()))
        .chain([col(ROW)])
        .collect();
    let lf = lf.with_row_index(ROW, None).select(wanted);
    for_each_batch(lf, init, read_batch)
}

/// The sweep plan of a detection.
fn sweep_plan(det: &Detection) -> Plan {
    match det {
        Detection::Window {
            window,
            measure,
            cmp,
            threshold,
            ..
        } => {
            let strict = *cmp == Cmp::Gt;
            match measure {
                Measure::Count => Plan::Count {
                    window: window.micros,
                    threshold: *threshold,
                    strict,
                },
                Measure::Distinct(_) => Plan::Distinct {
                    window: window.micros,
                    threshold: *threshold,
                    strict,
                },
            }
        }
        Detection::Sequence { window, steps, .. } => Plan::Sequence {
            window: window.micros,
            steps: steps.len() as u32,
        },
        Detection::NewValue { history, .. } => Plan::NewValue {
            history: history.micros,
        },
        Detection::Sql => unreachable!("SQL rules are not swept"),
    }
}

/// The group's column values.
fn group_key(read: &Read, g: u32) -> GroupKey {
    read.groups[g as usize]
        .iter()
        .enumerate()
        .map(|(k, c)| read.group_cols[k].text(*c).map(str::to_string))
        .collect()
}

/// Translates the job's baselines into the sweep's codes (only for groups read).
fn priors(
    read: &mut Read,
    baseline: Option<&HashMap<GroupKey, BaselinePrior>>,
) -> HashMap<u32, Prior> {
    let Some(b) = baseline else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for g in 0..read.groups.len() as u32 {
        if let Some(p) = b.get(&group_key(read, g)) {
            let uses = p
                .uses
                .iter()
                .map(|u| PriorUse {
                    value: read.value.code(Some(&u.value)),
                    start: u.start,
                    width: u.width,
                    first: u.first,
                    last: u.last,
                })
                .collect();
            out.insert(
                g,
                Prior {
                    first_seen: p.first_seen,
                    uses,
                },
            );
        }
    }
    out
}

/// Runs a windowed rule: candidates, sweep, then the evidence of what fired.
pub fn run(
    rule: &CompiledRule,
    events: &EventTable,
    baseline: Option<&HashMap<GroupKey, BaselinePrior>>,
) -> Result<Vec<Finding>, String> {
    let (mut read, cols) = read_candidates(rule, events)?;
    let priors = priors(&mut read, baseline);
    let result = sweep::run(sweep_plan(&rule.detection), &read.cands, &priors);
    if result.episodes.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<Vec<u32>> = result
        .episodes
        .iter()
        .map(|e| listed_positions(&result.order, e))
        .collect();
    let mut wanted: Vec<u32> = listed
        .iter()
        .flatten()
        .map(|&p| read.rows[p as usize])
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let ids = fetch_ids(rule, events, &wanted)?;
    let mut out: Vec<Finding> = result
        .episodes
        .iter()
        .zip(&listed)
        .map(|(ep, positions)| finding(rule, &read, &cols, &result.order, ep, positions, &ids))
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| {
        (a.fields.get("first_event_time").map(Json::to_string))
            .cmp(&b.fields.get("first_event_time").map(Json::to_string))
    });
    Ok(out)
}

/// The candidate positions listed as evidence: all of them, or the first and last half of
/// [`MAX_EVIDENCE_IDS`] of a longer episode.
fn listed_positions(order: &[u32], ep: &Episode) -> Vec<u32> {
    let all = &order[ep.start..=ep.end];
    if all.len() <= MAX_EVIDENCE_IDS {
        return all.to_vec();
    }
    let half = MAX_EVIDENCE_IDS / 2;
    all[..half]
        .iter()
        .chain(&all[all.len() - half..])
        .copied()
        .collect()
}

/// The event ids and times of the wanted rows of a rule's SQL result (second pass), kept
/// as the columns polars returned: on dense corpora there are millions of them, and a map
/// of owned strings doubled their memory.
struct Fetched {
    /// Row numbers in the SQL's result, ascending.
    rows: Vec<u32>,
    ids: StringChunked,
    times: Int64Chunked,
}

impl Fetched {
    /// The id and time of row `row`, when it was fetched.
    fn get(&self, row: u32) -> (Option<String>, Option<i64>) {
        match self.rows.binary_search(&row) {
            Ok(i) => (self.ids.get(i).map(str::to_string), self.times.get(i)),
            Err(_) => (None, None),
        }
    }
}

/// The event id and time of each wanted row of the SQL's result (second pass).
fn fetch_ids(rule: &CompiledRule, events: &EventTable, rows: &[u32]) -> Result<Fetched, String> {
    let lf = plan(events, &rule.sql).map_err(|e| e.to_string())?;
    let wanted = Series::new("wanted".into(), rows);
    let lf = lf
        .with_row_index(ROW, None)
        .filter(col(ROW).is_in(lit(wanted).implode(), false))
        .select([col(ROW), col(EVIDENCE_ONE), col(TIME)])
        .sort([ROW], SortMultipleOptions::default());
    // Streamed when the table is on disk: collecting in memory read every row of the
    // rule's columns first (a gigabyte at 3M dense events) to keep a few hundred.
    let df = events.collect(lf).map_err(|e| e.to_string())?;
    let r = df
        .column(ROW)
        .and_then(|c| c.cast(&DataType::UInt32))
        .map_err(|e| e.to_string())?;
    let rows: Vec<u32> = r
        .u32()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|x| x.unwrap_or(u32::MAX))
        .collect();
    Ok(Fetched {
        rows,
        ids: text_column(&df, EVIDENCE_ONE)?,
        times: time_column(&df)?,
    })
}

/// Turns one episode into a finding.
fn finding(
    rule: &CompiledRule,
    read: &Read,
    cols: &Columns,
    order: &[u32],
    ep: &Episode,
    listed: &[u32],
    ids: &Fetched,
) -> Result<Finding, String> {
    let mut evidence = Vec::with_capacity(listed.len());
    for &p in listed {
        let row = read.rows[p as usize];
        let (id, t) = ids.get(row);
        if t != Some(read.cands.time[p as usize]) {
            return Err(format!(
                "rule {}: its SQL did not return the same rows twice; a windowed rule's SQL must select events (one row per event, a filter) so its rows come back in the same order",
                rule.id
            ));
        }
        if let Some(id) = id {
            evidence.push(id);
        }
    }
    let positions = &order[ep.start..=ep.end];
    let first = positions[0] as usize;
    let last = positions[positions.len() - 1] as usize;
    let mut fields = Map::new();
    for (k, name) in cols.group_by.iter().enumerate() {
        let code = read.groups[ep.group as usize][k];
        fields.insert(name.clone(), text_json(read.group_cols[k].text(code)));
    }
    let id_of = |p: usize| -> Json { ids.get(read.rows[p]).0.map_or(Json::Null, Json::String) };
    match &rule.detection {
        Detection::NewValue {
            history, column, ..
        } => {
            fields.insert(
                column.clone(),
                text_json(read.value.text(read.cands.value[first])),
            );
            fields.insert("event_time".into(), time_json(read.cands.time[first]));
            fields.insert(
                "known_values".into(),
                Json::Array(
                    capped(
                        ep.known
                            .iter()
                            .filter_map(|c| read.value.text(*c))
                            .map(str::to_string),
                    )
                    .into_iter()
                    .map(Json::String)
                    .collect(),
                ),
            );
            fields.insert(
                "baseline_since".into(),
                ep.since.map_or(Json::Null, time_json),
            );
            fields.insert("history".into(), Json::String(history.text.clone()));
        }
        Detection::Window { window, .. } | Detection::Sequence { window, .. } => {
            fields.insert("window".into(), Json::String(window.text.clone()));
            fields.insert("first_event_time".into(), time_json(read.cands.time[first]));
            fields.insert("last_event_time".into(), time_json(read.cands.time[last]));
            fields.insert("first_event_id".into(), id_of(first));
            fields.insert("last_event_id".into(), id_of(last));
            fields.insert("event_count".into(), Json::from(ep.len() as u64));
            if let Detection::Window { measure, .. } = &rule.detection {
                let peak = match measure {
                    Measure::Count => "peak_count",
                    Measure::Distinct(_) => "peak_distinct",
                };
                fields.insert(peak.into(), Json::from(ep.peak));
                if let Measure::Distinct(c) = measure {
                    let codes = positions.iter().map(|&p| read.cands.value[p as usize]);
                    fields.insert(c.clone(), values_json(&read.value, codes));
                }
            }
        }
        Detection::Sql => {}
    }
    for (k, name) in cols.extras.iter().enumerate() {
        let (dict, codes) = &read.extras[k];
        let it = positions.iter().map(|&p| codes[p as usize]);
        fields.insert(name.clone(), values_json(dict, it));
    }
    let count = ep.len() as u64;
    Ok(Finding {
        finding_id: finding_id(&rule.id, &evidence),
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        description: rule.description.clone(),
        mitre: rule.mitre.clone(),
        evidence_event_ids: evidence,
        evidence_count: count,
        fields,
    })
}

/// A text value or null.
fn text_json(v: Option<&str>) -> Json {
    v.map_or(Json::Null, |s| Json::String(s.to_string()))
}

/// A time as RFC 3339.
fn time_json(us: i64) -> Json {
    Json::String(format_micros(us))
}

/// The distinct non-null values of some codes, sorted and capped.
fn values_json(dict: &Dict, codes: impl Iterator<Item = u32>) -> Json {
    let set: BTreeSet<&str> = codes.filter_map(|c| dict.text(c)).collect();
    Json::Array(
        capped(set.into_iter().map(str::to_string))
            .into_iter()
            .map(Json::String)
            .collect(),
    )
}

/// At most [`MAX_VALUES`] values; when there are more, the last entry says how many more.
fn capped(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut more = 0usize;
    for v in values {
        if out.len() < MAX_VALUES {
            out.push(v);
        } else {
            more += 1;
        }
    }
    if more > 0 {
        out.push(format!("... and {more} more"));
    }
    out
}

/// What a baseline rule's groups did in the events read: per (group, value, bucket) the
/// first and last use (the job folds these into its state).
pub fn observe(rule: &CompiledRule, events: &EventTable) -> Result<Vec<Observation>, String> {
    let Detection::NewValue { history, .. } = &rule.detection else {
        return Ok(Vec::new());
    };
    let width = bucket_width(history.micros);
    let (read, _) = read_candidates(rule, events)?;
    let mut seen: HashMap<(u32, u32, i64), (i64, i64)> = HashMap::new();
    for i in 0..read.cands.len() {
        let v = read.cands.value[i];
        if v == NULL {
            continue;
        }
        let t = read.cands.time[i];
        let start = t.div_euclid(width) * width;
        let e = seen
            .entry((read.cands.group[i], v, start))
            .or_insert((t, t));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
    }
    let mut out: Vec<Observation> = seen
        .into_iter()
        .filter_map(|((g, v, start), (first, last))| {
            Some(Observation {
                group: group_key(&read, g),
                used: BaselineUse {
                    value: read.value.text(v)?.to_string(),
                    start,
                    width,
                    first,
                    last,
                },
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.group, &a.used.value, a.used.start).cmp(&(&b.group, &b.used.value, b.used.start))
    });
    Ok(out)
}
