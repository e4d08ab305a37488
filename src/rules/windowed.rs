//! Windowed rules over the `events` table, in two passes that keep memory to what fires.
//!
//! 1. The rule's SQL selects candidate events. They are read in batches (polars' streaming
//!    engine), every text interned into a dictionary, and handed one by one to the sweep
//!    ([`super::sweep`]), which keeps each group's window and a summary of each episode:
//!    memory follows the windows and the findings, not the candidates. Candidates that do
//!    not come in time order (a user's SQL that reorders them) are read again and
//!    collected, a few bytes each, then sorted.
//! 2. The SQL is read once more for the event ids of the evidence listed (at most
//!    [`MAX_EVIDENCE_IDS`] per finding).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use serde_json::{Map, Value as Json};

use super::CompiledRule;
use super::detection::{Cmp, Detection, Measure, STEP_COLUMN};
use super::engine::{EVIDENCE_ONE, plan};
use super::sweep::{Cand, Candidates, Episode, NULL, Plan, Prior, PriorUse, Sweeper};
use crate::findings::{EventIds, Finding, MAX_EVIDENCE_IDS, finding_id};
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

/// The dictionaries that give candidates' codes meaning.
#[derive(Debug, Default)]
struct Dicts {
    /// One dictionary per group column.
    group_cols: Vec<Dict>,
    /// Group code -> per-column codes.
    groups: Vec<Box<[u32]>>,
    group_index: PlHashMap<Box<[u32]>, u32>,
    /// The measured (or step, or baseline) column.
    value: Dict,
    /// One dictionary per other column.
    extras: Vec<Dict>,
    /// For sequences, the step names.
    steps: Vec<String>,
}

/// What becomes of each candidate read.
#[derive(Debug)]
enum Mode {
    /// Handed to the sweep as it comes.
    Stream,
    /// Kept, for a sweep in (group, time) order once all are read.
    Collect(Candidates),
    /// Folded into per (group, value, bucket) first and last uses (a baseline's
    /// observations), buckets `width` wide.
    Observe {
        width: i64,
        seen: HashMap<(u32, u32, i64), (i64, i64)>,
    },
}

/// The state of one read of a windowed rule's candidates.
#[derive(Debug)]
struct Intake {
    cols: Columns,
    dicts: Dicts,
    sweeper: Sweeper,
    mode: Mode,
    /// What the job knows of groups from before, by group values.
    baseline: Option<Arc<HashMap<GroupKey, BaselinePrior>>>,
    /// The stream met a group's event earlier than its latest: read again, collecting.
    disordered: bool,
    /// Scratch: one candidate's group and other columns' codes.
    key: Vec<u32>,
    codes: Vec<u32>,
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
/// `init()`, until `f` says stop (false) (streaming engine; when the plan cannot stream,
/// the result is collected and sliced, from a fresh state).
pub(super) fn for_each_batch<S: Send + 'static>(
    lf: LazyFrame,
    init: impl Fn() -> S,
    f: fn(&mut S, &DataFrame) -> Result<bool, String>,
) -> Result<S, String> {
    // The state, the error that stopped the reading, and whether it was stopped.
    type Shared<S> = Arc<Mutex<(S, Option<String>, bool)>>;
    let shared: Shared<S> = Arc::new(Mutex::new((init(), None, false)));
    let inner = shared.clone();
    let callback = PlanCallback::Rust(SpecialEq::new(Arc::new(
        move |df: DataFrame| -> PolarsResult<bool> {
            let mut g = inner.lock().expect("batch state");
            if g.2 {
                return Ok(true);
            }
            match f(&mut g.0, &df) {
                Ok(true) => return Ok(false),
                Ok(false) => {}
                Err(e) => g.1 = Some(e),
            }
            g.2 = true;
            Ok(true)
        },
    )));
    let streamed = lf
        .clone()
        .sink_batches(callback, true, None)
        .and_then(crate::table::collect_streaming);
    let (state, failed, _) = match Arc::try_unwrap(shared) {
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
    while off < df.height() && f(&mut state, &df.slice(off as i64, step))? {
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

/// The code of the group with column codes `key`, adding it (with its prior) when new.
fn group_code(intake: &mut Intake) -> u32 {
    let Intake {
        dicts,
        key,
        sweeper,
        baseline,
        ..
    } = intake;
    if let Some(g) = dicts.group_index.get(&key[..]) {
        return *g;
    }
    let g = dicts.groups.len() as u32;
    let boxed: Box<[u32]> = key.clone().into_boxed_slice();
    dicts.groups.push(boxed.clone());
    dicts.group_index.insert(boxed, g);
    if let Some(prior) = baseline.as_ref().and_then(|b| b.get(&group_key(dicts, g))) {
        let uses = prior
            .uses
            .iter()
            .map(|u| PriorUse {
                value: dicts.value.code(Some(&u.value)),
                start: u.start,
                width: u.width,
                first: u.first,
                last: u.last,
            })
            .collect();
        sweeper.prior(
            g,
            &Prior {
                first_seen: prior.first_seen,
                uses,
            },
        );
    }
    g
}

/// Takes one candidate: streamed to the sweep, collected or observed. False when the
/// stream must stop (out of time order).
fn take(intake: &mut Intake, g: u32, time: i64, value: u32, row: u32) -> bool {
    let Intake {
        sweeper,
        mode,
        codes,
        ..
    } = intake;
    match mode {
        Mode::Stream => {
            let c = Cand {
                row,
                time,
                value,
                extras: codes,
            };
            if sweeper.push(g, c).is_err() {
                intake.disordered = true;
                return false;
            }
        }
        Mode::Collect(c) => {
            c.group.push(g);
            c.time.push(time);
            c.value.push(value);
            c.row.push(row);
            for x in codes.iter() {
                c.extras.push(*x);
            }
        }
        Mode::Observe { width, seen } => {
            if value != NULL {
                let start = time.div_euclid(*width) * *width;
                let e = seen.entry((g, value, start)).or_insert((time, time));
                e.0 = e.0.min(time);
                e.1 = e.1.max(time);
            }
        }
    }
    true
}

/// Reads one batch of candidates; false once the stream must stop.
fn read_batch(intake: &mut Intake, df: &DataFrame) -> Result<bool, String> {
    let times = time_column(df)?;
    let rows = df
        .column(ROW)
        .map_err(|e| e.to_string())?
        .cast(&DataType::UInt32)
        .map_err(|e| e.to_string())?;
    let rows = rows.u32().map_err(|e| e.to_string())?.clone();
    let cols = &intake.cols;
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
    for i in 0..df.height() {
        // Rows without an event time cannot be placed in a window.
        let Some(t) = times.get(i) else {
            continue;
        };
        for (k, g) in groups.iter().enumerate() {
            intake.key[k] = intake.dicts.group_cols[k].code(g.get(i));
        }
        let gid = group_code(intake);
        let d = &mut intake.dicts;
        let v = match &value {
            None => NULL,
            Some(col) if !d.steps.is_empty() => col
                .get(i)
                .and_then(|s| d.steps.iter().position(|x| x == s))
                .map_or(NULL, |p| p as u32),
            Some(col) => d.value.code(col.get(i)),
        };
        for (k, x) in extras.iter().enumerate() {
            intake.codes[k] = d.extras[k].code(x.get(i));
        }
        if !take(intake, gid, t, v, rows.get(i).unwrap_or(u32::MAX)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads a windowed rule's candidates (first pass) into `mode`.
fn read_candidates(
    rule: &CompiledRule,
    events: &EventTable,
    baseline: Option<Arc<HashMap<GroupKey, BaselinePrior>>>,
    mode: impl Fn() -> Mode,
) -> Result<Intake, String> {
    let mut lf = plan(events, &rule.sql).map_err(|e| e.to_string())?;
    let schema = lf.collect_schema().map_err(|e| e.to_string())?;
    let cols = Columns::of(&rule.detection, &schema)?;
    let steps = match &rule.detection {
        Detection::Sequence { steps, .. } => steps.clone(),
        _ => Vec::new(),
    };
    let sweep = sweep_plan(&rule.detection);
    let init = {
        let cols = cols.clone();
        move || Intake {
            dicts: Dicts {
                group_cols: cols.group_by.iter().map(|_| Dict::default()).collect(),
                extras: cols.extras.iter().map(|_| Dict::default()).collect(),
                steps: steps.clone(),
                ..Dicts::default()
            },
            sweeper: Sweeper::new(sweep, cols.extras.len(), MAX_EVIDENCE_IDS),
            mode: mode(),
            baseline: baseline.clone(),
            disordered: false,
            key: vec![0; cols.group_by.len()],
            codes: vec![0; cols.extras.len()],
            cols: cols.clone(),
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

/// The episodes of a windowed rule, with the dictionaries of their codes: streamed, or
/// collected and sorted when the SQL does not return candidates in time order.
fn episodes(
    rule: &CompiledRule,
    events: &EventTable,
    baseline: Option<&HashMap<GroupKey, BaselinePrior>>,
) -> Result<(Vec<Episode>, Dicts, Columns), String> {
    let baseline = baseline.map(|b| Arc::new(b.clone()));
    let mut intake = read_candidates(rule, events, baseline.clone(), || Mode::Stream)?;
    if intake.disordered {
        intake = read_candidates(rule, events, baseline, || {
            Mode::Collect(Candidates::default())
        })?;
        if let Mode::Collect(c) = &intake.mode {
            intake.sweeper.push_all(c);
        }
    }
    Ok((intake.sweeper.finish(), intake.dicts, intake.cols))
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
fn group_key(dicts: &Dicts, g: u32) -> GroupKey {
    dicts.groups[g as usize]
        .iter()
        .enumerate()
        .map(|(k, c)| dicts.group_cols[k].text(*c).map(str::to_string))
        .collect()
}

/// Runs a windowed rule: candidates, sweep, then the evidence of what fired.
pub fn run(
    rule: &CompiledRule,
    events: &EventTable,
    baseline: Option<&HashMap<GroupKey, BaselinePrior>>,
) -> Result<Vec<Finding>, String> {
    let (episodes, dicts, cols) = episodes(rule, events, baseline)?;
    if episodes.is_empty() {
        return Ok(Vec::new());
    }
    let listing = fetch_ids(rule, events, episodes)?;
    let mut out: Vec<Finding> = listing
        .episodes
        .iter()
        .enumerate()
        .map(|(e, ep)| finding(rule, &dicts, &cols, ep, listing.ids.of(e)))
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| {
        (a.fields.get("first_event_time").map(Json::to_string))
            .cmp(&b.fields.get("first_event_time").map(Json::to_string))
    });
    Ok(out)
}

/// The events listed by the episodes, filled with their event ids as the SQL's result is
/// read again (second pass).
struct Listing {
    episodes: Arc<Vec<Episode>>,
    /// (row, episode, position in its list), by row: each row is listed once at most, as
    /// a group's episodes never share events.
    wanted: Arc<Vec<(u32, u32, u32)>>,
    /// The next entry of `wanted` (rows come in order).
    next: usize,
    /// The ids read, one after the other: a string each made the ids most of the memory
    /// of a rule that fires often.
    ids: ListedIds,
    /// A listed row came back with another time than in the first pass.
    moved: bool,
}

impl Listing {
    /// Where each listed event goes, by row.
    fn wanted(episodes: &[Episode]) -> Vec<(u32, u32, u32)> {
        let mut wanted: Vec<(u32, u32, u32)> = episodes
            .iter()
            .enumerate()
            .flat_map(|(e, ep)| {
                ep.listed
                    .iter()
                    .enumerate()
                    .map(move |(i, p)| (p.row, e as u32, i as u32))
            })
            .collect();
        wanted.sort_unstable();
        wanted
    }

    /// A listing with no id read yet.
    fn start(episodes: Arc<Vec<Episode>>, wanted: Arc<Vec<(u32, u32, u32)>>) -> Listing {
        let ids = ListedIds::new(episodes.iter().map(|e| e.listed.len()));
        Listing {
            episodes,
            wanted,
            next: 0,
            ids,
            moved: false,
        }
    }
}

/// Where the id of one listed event is in [`ListedIds::text`], once read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Unread,
    Null,
    Id { start: u32, len: u32 },
}

/// The ids of every episode's listed events, in one buffer.
struct ListedIds {
    /// Where each episode's slots start in `slots` (one more entry: the end).
    base: Vec<usize>,
    slots: Vec<Slot>,
    text: String,
}

impl ListedIds {
    /// Unread slots for episodes listing these many events.
    fn new(listed: impl Iterator<Item = usize>) -> ListedIds {
        let mut base = vec![0];
        for n in listed {
            base.push(base[base.len() - 1] + n);
        }
        let slots = vec![Slot::Unread; base[base.len() - 1]];
        ListedIds {
            base,
            slots,
            text: String::new(),
        }
    }

    /// Stores the id of episode `e`'s listed event `i`.
    fn set(&mut self, e: usize, i: usize, id: Option<&str>) -> Result<(), String> {
        self.slots[self.base[e] + i] = match id {
            None => Slot::Null,
            Some(id) => {
                let start = self.text.len();
                self.text.push_str(id);
                match (u32::try_from(start), u32::try_from(id.len())) {
                    (Ok(start), Ok(len)) => Slot::Id { start, len },
                    _ => return Err("the listed event ids exceed 4 GiB".to_string()),
                }
            }
        };
        Ok(())
    }

    /// True when every slot was read.
    fn complete(&self) -> bool {
        !self.slots.contains(&Slot::Unread)
    }

    /// Episode `e`'s ids (None for a null or unread one).
    fn of(&self, e: usize) -> impl Iterator<Item = Option<&str>> + Clone {
        self.slots[self.base[e]..self.base[e + 1]]
            .iter()
            .map(|s| match *s {
                Slot::Id { start, len } => {
                    Some(&self.text[start as usize..start as usize + len as usize])
                }
                Slot::Unread | Slot::Null => None,
            })
    }
}

/// Takes the ids of one batch of wanted rows (in row order).
fn fetch_batch(l: &mut Listing, df: &DataFrame) -> Result<bool, String> {
    let rows = df
        .column(ROW)
        .and_then(|c| c.cast(&DataType::UInt32))
        .map_err(|e| e.to_string())?;
    let rows = rows.u32().map_err(|e| e.to_string())?;
    let ids = text_column(df, EVIDENCE_ONE)?;
    let times = time_column(df)?;
    for ((row, id), time) in rows.into_iter().zip(&ids).zip(&times) {
        let Some(row) = row else { continue };
        while l.next < l.wanted.len() && l.wanted[l.next].0 < row {
            l.next += 1;
        }
        while let Some(&(r, e, i)) = l.wanted.get(l.next)
            && r == row
        {
            let (e, i) = (e as usize, i as usize);
            if time != Some(l.episodes[e].listed[i].time) {
                l.moved = true;
                return Ok(false);
            }
            l.ids.set(e, i, id)?;
            l.next += 1;
        }
    }
    Ok(true)
}

/// The event ids of the episodes' listed events (second pass): only the wanted rows are
/// read, streamed in order, each id put in its place.
fn fetch_ids(
    rule: &CompiledRule,
    events: &EventTable,
    episodes: Vec<Episode>,
) -> Result<Listing, String> {
    let lf = plan(events, &rule.sql).map_err(|e| e.to_string())?;
    let wanted = Arc::new(Listing::wanted(&episodes));
    let mut rows: Vec<u32> = wanted.iter().map(|w| w.0).collect();
    rows.dedup();
    let rows = Series::new("wanted".into(), rows);
    let lf = lf
        .with_row_index(ROW, None)
        .filter(col(ROW).is_in(lit(rows).implode(), false))
        .select([col(ROW), col(EVIDENCE_ONE), col(TIME)]);
    let episodes = Arc::new(episodes);
    let listing = for_each_batch(
        lf,
        || Listing::start(episodes.clone(), wanted.clone()),
        fetch_batch,
    )?;
    if listing.moved || !listing.ids.complete() {
        return Err(format!(
            "rule {}: its SQL did not return the same rows twice; a windowed rule's SQL must select events (one row per event, a filter) so its rows come back in the same order",
            rule.id
        ));
    }
    Ok(listing)
}

/// Turns one episode into a finding, given the ids of its listed events.
fn finding<'a>(
    rule: &CompiledRule,
    dicts: &Dicts,
    cols: &Columns,
    ep: &Episode,
    ids: impl Iterator<Item = Option<&'a str>> + Clone,
) -> Result<Finding, String> {
    let first_id = ids.clone().next().flatten().map(str::to_string);
    let last_id = ids.clone().last().flatten().map(str::to_string);
    let evidence: EventIds = ids.flatten().collect();
    let mut fields = Map::new();
    for (k, name) in cols.group_by.iter().enumerate() {
        let code = dicts.groups[ep.group as usize][k];
        fields.insert(name.clone(), text_json(dicts.group_cols[k].text(code)));
    }
    let id_json = |id: Option<String>| id.map_or(Json::Null, Json::String);
    match &rule.detection {
        Detection::NewValue {
            history, column, ..
        } => {
            fields.insert(column.clone(), text_json(dicts.value.text(ep.first.value)));
            fields.insert("event_time".into(), time_json(ep.first.time));
            fields.insert(
                "known_values".into(),
                Json::Array(
                    capped(
                        ep.known
                            .iter()
                            .filter_map(|c| dicts.value.text(*c))
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
            fields.insert("first_event_time".into(), time_json(ep.first.time));
            fields.insert("last_event_time".into(), time_json(ep.last.time));
            fields.insert("first_event_id".into(), id_json(first_id));
            fields.insert("last_event_id".into(), id_json(last_id));
            fields.insert("event_count".into(), Json::from(ep.count));
            if let Detection::Window { measure, .. } = &rule.detection {
                let peak = match measure {
                    Measure::Count => "peak_count",
                    Measure::Distinct(_) => "peak_distinct",
                };
                fields.insert(peak.into(), Json::from(ep.peak));
                if let Measure::Distinct(c) = measure {
                    fields.insert(c.clone(), values_json(&dicts.value, &ep.values));
                }
            }
        }
        Detection::Sql => {}
    }
    for (k, name) in cols.extras.iter().enumerate() {
        fields.insert(name.clone(), values_json(&dicts.extras[k], &ep.extras[k]));
    }
    Ok(Finding {
        finding_id: finding_id(&rule.id, &evidence),
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        description: rule.description.clone(),
        mitre: rule.mitre.clone(),
        evidence_event_ids: evidence,
        evidence_count: ep.count,
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
fn values_json(dict: &Dict, codes: &[u32]) -> Json {
    let set: BTreeSet<&str> = codes.iter().filter_map(|c| dict.text(*c)).collect();
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
    let intake = read_candidates(rule, events, None, || Mode::Observe {
        width,
        seen: HashMap::new(),
    })?;
    let Mode::Observe { seen, .. } = intake.mode else {
        return Err("the candidates were not observed".into());
    };
    let dicts = &intake.dicts;
    let mut out: Vec<Observation> = seen
        .into_iter()
        .filter_map(|((g, v, start), (first, last))| {
            Some(Observation {
                group: group_key(dicts, g),
                used: BaselineUse {
                    value: dicts.value.text(v)?.to_string(),
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
