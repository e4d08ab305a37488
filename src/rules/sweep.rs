//! The native sweep behind windowed rules: each group's candidate events are walked once,
//! in time order, with a sliding window (never a self-join). Only the events inside each
//! group's window and a bounded summary of each episode are kept, so memory follows the
//! window and the findings, not the corpus: candidates stream in from the table, which is
//! sorted by time. When a rule's SQL returns them in another order, they are collected
//! ([`Candidates`]) and fed in (group, time) order instead ([`Sweeper::push_all`]).
//!
//! Windows are exact at the edges: two events are within a window of `w` when their times
//! differ by at most `w`, whatever the clock says (12:55 and 13:05 are 10 minutes apart).
//! Overlapping firing windows of a group merge into one episode, which becomes one finding
//! naming its first and last event and counting its events.

use std::collections::{HashMap, HashSet, VecDeque};

/// The code of a null (or irrelevant) value.
pub const NULL: u32 = u32::MAX;

/// Elements per block of [`Blocks`].
const BLOCK: usize = 1 << 16;

/// A growing list in fixed blocks: appending never copies what is there, and no more than
/// one block is allocated ahead. A `Vec` of millions of candidates doubled its capacity and
/// held the old and the new buffer at once while growing.
#[derive(Debug)]
pub struct Blocks<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Blocks {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Blocks<T> {
    /// Appends a value.
    pub fn push(&mut self, v: T) {
        if self.len.is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        self.blocks.last_mut().expect("a block was added").push(v);
        self.len += 1;
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T> std::ops::Index<usize> for Blocks<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.blocks[i / BLOCK][i % BLOCK]
    }
}

impl<T> FromIterator<T> for Blocks<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut b = Blocks::default();
        for v in iter {
            b.push(v);
        }
        b
    }
}

/// The candidate events of a windowed rule, one entry per event, in the SQL's row order,
/// when they must be collected before the sweep (they did not come in time order).
#[derive(Debug, Default)]
pub struct Candidates {
    /// Group code of each event.
    pub group: Blocks<u32>,
    /// Event time (microseconds).
    pub time: Blocks<i64>,
    /// Code of the measured value: the distinct column, the sequence step (its index in the
    /// steps) or the baseline column; [`NULL`] when null or not used.
    pub value: Blocks<u32>,
    /// Row of each event in the SQL's result.
    pub row: Blocks<u32>,
    /// Codes of the rule's other columns, `extras` per event one after the other.
    pub extras: Blocks<u32>,
}

impl Candidates {
    /// The number of events.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }
}

/// What to look for in each group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// More than (`strict`) or at least `threshold` events within `window`.
    Count {
        window: i64,
        threshold: u64,
        strict: bool,
    },
    /// More than (`strict`) or at least `threshold` distinct values within `window`.
    Distinct {
        window: i64,
        threshold: u64,
        strict: bool,
    },
    /// Steps `0, 1, ..., steps - 1` in this order, first to last within `window`.
    Sequence { window: i64, steps: u32 },
    /// A value not used in the `history` before, by a group active for at least `history`.
    NewValue { history: i64 },
}

/// What a group is known to have done (the job's baseline), kept per time bucket so a
/// value's use before any moment can be told exactly when buckets are no wider than the
/// history.
#[derive(Debug, Clone, Default)]
pub struct Prior {
    /// The group's first activity.
    pub first_seen: i64,
    pub uses: Vec<PriorUse>,
}

/// A value's uses within one time bucket `[start, start + width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorUse {
    pub value: u32,
    pub start: i64,
    pub width: i64,
    /// The first and last use in the bucket.
    pub first: i64,
    pub last: i64,
}

impl PriorUse {
    /// True when the bucket shows a use in `[t - history, t)`: its first or last use is
    /// there, or the whole bucket is. Exact when `width <= history`.
    fn used_within(&self, t: i64, history: i64) -> bool {
        let lo = t - history;
        let inside = |x: i64| x >= lo && x < t;
        inside(self.first)
            || inside(self.last)
            || (self.start >= lo && self.start + self.width <= t && self.first < t)
    }
}

/// One candidate event handed to the sweep.
#[derive(Debug, Clone, Copy)]
pub struct Cand<'a> {
    /// Its row in the SQL's result (for the evidence).
    pub row: u32,
    pub time: i64,
    /// The measured value's code ([`NULL`] when null or not used).
    pub value: u32,
    /// The codes of the rule's other columns.
    pub extras: &'a [u32],
}

/// An event as an episode remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub row: u32,
    pub time: i64,
    pub value: u32,
}

/// A run of overlapping firing windows in one group, summarized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub group: u32,
    /// Its first and last event, in time order.
    pub first: Point,
    pub last: Point,
    /// The number of events.
    pub count: u64,
    /// The largest count (or number of distinct values) of one firing window.
    pub peak: u64,
    /// The events listed as evidence, in time order: all of them, or the first and the last
    /// half of the cap of a longer episode.
    pub listed: Vec<Point>,
    /// Distinct: the codes of the values measured (sorted).
    pub values: Vec<u32>,
    /// The codes of each other column over the episode (sorted, nulls left out).
    pub extras: Vec<Vec<u32>>,
    /// NewValue: the values the group used in the history before the event.
    pub known: Vec<u32>,
    /// NewValue: the group's first activity.
    pub since: Option<i64>,
}

/// The events of one group within the window of its latest event.
#[derive(Debug, Default)]
struct Window {
    points: VecDeque<Point>,
    /// The order in which each point was pushed (increasing in a group, whatever the rows).
    seqs: VecDeque<u64>,
    /// The other columns' codes of each point, `width` per point.
    extras: VecDeque<u32>,
}

impl Window {
    fn push(&mut self, p: Point, seq: u64, extras: &[u32]) {
        self.points.push_back(p);
        self.seqs.push_back(seq);
        self.extras.extend(extras.iter().copied());
    }

    /// Drops the events more than `window` before `now`, handing each to `gone`.
    fn evict(&mut self, now: i64, window: i64, width: usize, mut gone: impl FnMut(Point)) {
        while let Some(front) = self.points.front() {
            if now.saturating_sub(front.time) <= window {
                break;
            }
            gone(*front);
            self.points.pop_front();
            self.seqs.pop_front();
            self.extras.drain(..width);
        }
    }

    /// The position of the event pushed as `seq`, or of the first one pushed after it.
    fn at_seq(&self, seq: u64) -> usize {
        self.seqs.partition_point(|s| *s < seq)
    }

    /// The position of the first event pushed after `seq`.
    fn after_seq(&self, seq: u64) -> usize {
        self.seqs.partition_point(|s| *s <= seq)
    }

    fn clear(&mut self) {
        self.points.clear();
        self.seqs.clear();
        self.extras.clear();
    }
}

/// An episode being built.
#[derive(Debug)]
struct Open {
    first: Point,
    last: Point,
    /// When the first and the last event were pushed.
    first_seq: u64,
    last_seq: u64,
    count: u64,
    peak: u64,
    head: Vec<Point>,
    tail: VecDeque<Point>,
    values: Option<HashSet<u32>>,
    extras: Vec<HashSet<u32>>,
    known: Vec<u32>,
    since: Option<i64>,
}

impl Open {
    fn new(first: Point, first_seq: u64, peak: u64, distinct: bool, width: usize) -> Open {
        Open {
            first,
            last: first,
            first_seq,
            last_seq: first_seq,
            count: 0,
            peak,
            head: Vec::new(),
            tail: VecDeque::new(),
            values: distinct.then(HashSet::new),
            extras: vec![HashSet::new(); width],
            known: Vec::new(),
            since: None,
        }
    }

    /// Adds the next event (in time order); `listed` caps the events listed.
    fn add(&mut self, p: Point, seq: u64, extras: impl Iterator<Item = u32>, listed: usize) {
        self.last = p;
        self.last_seq = seq;
        self.count += 1;
        let half = listed / 2;
        if self.head.len() < half {
            self.head.push(p);
        } else {
            if self.tail.len() == listed - half {
                self.tail.pop_front();
            }
            self.tail.push_back(p);
        }
        if let Some(v) = &mut self.values
            && p.value != NULL
        {
            v.insert(p.value);
        }
        for (set, code) in self.extras.iter_mut().zip(extras) {
            if code != NULL {
                set.insert(code);
            }
        }
    }

    /// The episode, with when its first event was pushed.
    fn finish(self, group: u32) -> (u64, Episode) {
        let sorted = |s: HashSet<u32>| {
            let mut v: Vec<u32> = s.into_iter().collect();
            v.sort_unstable();
            v
        };
        let mut listed = self.head;
        listed.extend(self.tail);
        let episode = Episode {
            group,
            first: self.first,
            last: self.last,
            count: self.count,
            peak: self.peak,
            listed,
            values: self.values.map(sorted).unwrap_or_default(),
            extras: self.extras.into_iter().map(sorted).collect(),
            known: self.known,
            since: self.since,
        };
        (self.first_seq, episode)
    }
}

/// One group's state.
#[derive(Debug, Default)]
struct Group {
    window: Window,
    latest: Option<i64>,
    open: Option<Open>,
    /// Distinct: events per value in the window.
    in_window: HashMap<u32, u32>,
    /// Sequence: per step, the latest start (push order, time) of a chain that reached it.
    start_at: Vec<Option<(u64, i64)>>,
    /// NewValue: the group's first activity, each value's last use, the baseline's uses.
    since: Option<i64>,
    last_seen: HashMap<u32, i64>,
    prior_uses: HashMap<u32, Vec<PriorUse>>,
}

/// A group's events came out of time order: the sweep cannot go on streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disordered;

/// Walks every group's events in time order and collects the episodes.
#[derive(Debug)]
pub struct Sweeper {
    plan: Plan,
    /// Other columns per event.
    width: usize,
    /// Events listed per episode at most.
    listed: usize,
    groups: Vec<Group>,
    /// Episodes ended, with when their first event was pushed.
    done: Vec<(u64, Episode)>,
    /// Events pushed so far.
    pushed: u64,
}

impl Sweeper {
    /// A sweep for `plan`, with `width` other columns per event, listing at most `listed`
    /// events per episode.
    pub fn new(plan: Plan, width: usize, listed: usize) -> Sweeper {
        Sweeper {
            plan,
            width,
            listed: listed.max(2),
            groups: Vec::new(),
            done: Vec::new(),
            pushed: 0,
        }
    }

    fn group(&mut self, g: u32) -> &mut Group {
        let g = g as usize;
        if self.groups.len() <= g {
            self.groups.resize_with(g + 1, Group::default);
        }
        &mut self.groups[g]
    }

    /// Sets what group `g` is known to have done before (before its events are pushed).
    pub fn prior(&mut self, g: u32, prior: &Prior) {
        let grp = self.group(g);
        grp.since = Some(prior.first_seen);
        for u in &prior.uses {
            grp.prior_uses.entry(u.value).or_default().push(*u);
        }
    }

    /// The next event of group `g`; each group's events must come in time order.
    pub fn push(&mut self, g: u32, c: Cand<'_>) -> Result<(), Disordered> {
        let (plan, width, listed) = (self.plan, self.width, self.listed);
        let seq = self.pushed;
        let grp = self.group(g);
        if grp.latest.is_some_and(|t| c.time < t) {
            return Err(Disordered);
        }
        grp.latest = Some(c.time);
        self.pushed += 1;
        let grp = &mut self.groups[g as usize];
        let p = Point {
            row: c.row,
            time: c.time,
            value: c.value,
        };
        let fired = match plan {
            Plan::Count {
                window,
                threshold,
                strict,
            } => {
                grp.window.push(p, seq, c.extras);
                grp.window.evict(c.time, window, width, |_| {});
                let n = grp.window.points.len() as u64;
                passes(n, threshold, strict).then(|| (grp.window.seqs[0], n))
            }
            Plan::Distinct {
                window,
                threshold,
                strict,
            } => {
                if c.value != NULL {
                    *grp.in_window.entry(c.value).or_default() += 1;
                }
                grp.window.push(p, seq, c.extras);
                let in_window = &mut grp.in_window;
                grp.window.evict(c.time, window, width, |q| {
                    if q.value != NULL
                        && let Some(n) = in_window.get_mut(&q.value)
                    {
                        *n -= 1;
                        if *n == 0 {
                            in_window.remove(&q.value);
                        }
                    }
                });
                let n = grp.in_window.len() as u64;
                passes(n, threshold, strict).then(|| (grp.window.seqs[0], n))
            }
            Plan::Sequence { window, steps } => {
                grp.window.push(p, seq, c.extras);
                grp.window.evict(c.time, window, width, |_| {});
                grp.sequence_step(p, seq, window, steps).map(|start| {
                    let n = grp.window.points.len() - grp.window.at_seq(start);
                    (start, n as u64)
                })
            }
            Plan::NewValue { history } => {
                grp.window.clear();
                grp.window.push(p, seq, c.extras);
                grp.new_value(p, history).map(|_| (seq, 1))
            }
        };
        if let Some((start, n)) = fired {
            let distinct = matches!(plan, Plan::Distinct { .. });
            let ended = grp.fire(start, n, distinct, width, listed);
            if let Some(open) = ended {
                self.done.push(open.finish(g));
            }
            if let Plan::NewValue { history } = plan {
                let grp = &mut self.groups[g as usize];
                let known = grp.known_at(p.time, history);
                if let Some(open) = &mut grp.open {
                    open.known = known;
                    open.since = grp.since;
                }
            }
        }
        if let Plan::NewValue { .. } = plan
            && p.value != NULL
        {
            let grp = &mut self.groups[g as usize];
            let e = grp.last_seen.entry(p.value).or_insert(p.time);
            *e = (*e).max(p.time);
        }
        Ok(())
    }

    /// Collected candidates, fed in (group, time, row) order.
    pub fn push_all(&mut self, c: &Candidates) {
        let mut extras = vec![0u32; self.width];
        for i in group_time_order(c) {
            let i = i as usize;
            for (k, x) in extras.iter_mut().enumerate() {
                *x = c.extras[i * self.width + k];
            }
            let cand = Cand {
                row: c.row[i],
                time: c.time[i],
                value: c.value[i],
                extras: &extras,
            };
            self.push(c.group[i], cand)
                .expect("candidates sorted by (group, time) are in time order in each group");
        }
    }

    /// The episodes, in (group, first event) order.
    pub fn finish(mut self) -> Vec<Episode> {
        for (g, grp) in self.groups.iter_mut().enumerate() {
            if let Some(open) = grp.open.take() {
                self.done.push(open.finish(g as u32));
            }
        }
        self.done.sort_by_key(|(seq, e)| (e.group, *seq));
        self.done.into_iter().map(|(_, e)| e).collect()
    }
}

impl Group {
    /// A window from the event pushed as `start` to the latest fired with `n`: it joins the
    /// open episode when they share events, or ends it (returned) and opens a new one.
    fn fire(
        &mut self,
        start: u64,
        n: u64,
        distinct: bool,
        width: usize,
        listed: usize,
    ) -> Option<Open> {
        let (from, ended) = match &mut self.open {
            Some(open) if start <= open.last_seq => {
                open.peak = open.peak.max(n);
                (self.window.after_seq(open.last_seq), None)
            }
            _ => {
                let at = self.window.at_seq(start);
                let first = self.window.points[at];
                let ended = self
                    .open
                    .replace(Open::new(first, start, n, distinct, width));
                (at, ended)
            }
        };
        let open = self.open.as_mut().expect("an episode is open");
        for i in from..self.window.points.len() {
            let extras = (0..width).map(|k| self.window.extras[i * width + k]);
            open.add(self.window.points[i], self.window.seqs[i], extras, listed);
        }
        ended
    }

    /// Sequence: takes the step of event `p` (pushed as `seq`); when it completes a chain,
    /// when the chain's first step was pushed.
    ///
    /// For each step the latest start of a chain that reached it is kept: the latest start is
    /// the one most likely to finish within the window.
    fn sequence_step(&mut self, p: Point, seq: u64, window: i64, steps: u32) -> Option<u64> {
        let k = steps as usize;
        if self.start_at.len() != k {
            self.start_at = vec![None; k];
        }
        let s = p.value as usize;
        if p.value == NULL || s >= k {
            return None;
        }
        if s == 0 {
            self.start_at[0] = Some((seq, p.time));
        } else if let Some(st) = self.start_at[s - 1]
            && p.time - st.1 <= window
        {
            self.start_at[s] = Some(self.start_at[s].map_or(st, |x| x.max(st)));
        } else {
            return None;
        }
        if s == k - 1 {
            return self.start_at[k - 1].map(|st| st.0);
        }
        None
    }

    /// True when `v` was used in the `history` before `at` (in the events or the baseline).
    fn known(&self, v: u32, at: i64, history: i64) -> bool {
        self.last_seen
            .get(&v)
            .is_some_and(|&ls| ls <= at && at - ls <= history)
            || self
                .prior_uses
                .get(&v)
                .is_some_and(|us| us.iter().any(|u| u.used_within(at, history)))
    }

    /// NewValue: true when event `p` uses a value not used in the history before it, once
    /// the group is old enough.
    fn new_value(&mut self, p: Point, history: i64) -> Option<()> {
        let since = self.since.get_or_insert(p.time);
        *since = (*since).min(p.time);
        let since = *since;
        (p.value != NULL && !self.known(p.value, p.time, history) && p.time - since >= history)
            .then_some(())
    }

    /// NewValue: the values known at `at`, sorted.
    fn known_at(&self, at: i64, history: i64) -> Vec<u32> {
        let mut k: Vec<u32> = self
            .last_seen
            .keys()
            .chain(self.prior_uses.keys())
            .copied()
            .filter(|c| self.known(*c, at, history))
            .collect();
        k.sort_unstable();
        k.dedup();
        k
    }
}

/// Candidate positions in (group, time, position) order. Collected candidates usually come
/// in time order (the table is sorted by time): then a counting sort by group keeps that
/// order within each group, in linear time. Otherwise, a comparison sort.
fn group_time_order(c: &Candidates) -> Vec<u32> {
    let n = c.len();
    let in_time_order = (1..n).all(|i| c.time[i - 1] <= c.time[i]);
    let groups = (0..n).map(|i| c.group[i] as usize + 1).max().unwrap_or(0);
    if !in_time_order || groups > n {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by_key(|&i| (c.group[i as usize], c.time[i as usize], i));
        return order;
    }
    // next[g]: where the next candidate of group g goes.
    let mut next = vec![0u32; groups];
    for i in 0..n {
        next[c.group[i] as usize] += 1;
    }
    let mut at = 0;
    for slot in next.iter_mut() {
        let count = *slot;
        *slot = at;
        at += count;
    }
    let mut order = vec![0u32; n];
    for i in 0..n {
        let g = c.group[i] as usize;
        order[next[g] as usize] = i as u32;
        next[g] += 1;
    }
    order
}

/// True when `n` passes the threshold.
fn passes(n: u64, threshold: u64, strict: bool) -> bool {
    if strict {
        n > threshold
    } else {
        n >= threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;
    const MIN: i64 = 60 * S;

    fn cands(rows: &[(u32, i64, u32)]) -> Candidates {
        Candidates {
            group: rows.iter().map(|r| r.0).collect(),
            time: rows.iter().map(|r| r.1).collect(),
            value: rows.iter().map(|r| r.2).collect(),
            row: (0..rows.len() as u32).collect(),
            extras: Blocks::default(),
        }
    }

    /// The episodes of collected candidates, listing at most 100 events each.
    fn run(plan: Plan, c: &Candidates, priors: &HashMap<u32, Prior>) -> Vec<Episode> {
        let mut s = Sweeper::new(plan, 0, 100);
        for (g, p) in priors {
            s.prior(*g, p);
        }
        s.push_all(c);
        s.finish()
    }

    /// The episodes of events pushed as they come (each row its own position).
    fn streamed(plan: Plan, rows: &[(u32, i64, u32, u32)], listed: usize) -> Vec<Episode> {
        let mut s = Sweeper::new(plan, 1, listed);
        for (i, r) in rows.iter().enumerate() {
            let extras = [r.3];
            let c = Cand {
                row: i as u32,
                time: r.1,
                value: r.2,
                extras: &extras,
            };
            s.push(r.0, c).expect("in time order");
        }
        s.finish()
    }

    #[test]
    fn blocks_keep_values_in_order_across_block_edges() {
        let b: Blocks<u64> = (0..(3 * BLOCK as u64 + 5)).collect();
        assert_eq!(b.len(), 3 * BLOCK + 5);
        for i in [0, BLOCK - 1, BLOCK, 2 * BLOCK + 7, 3 * BLOCK + 4] {
            assert_eq!(b[i], i as u64);
        }
        assert!(Blocks::<u8>::default().is_empty());
    }

    #[test]
    fn the_linear_group_order_equals_the_sorted_one() {
        // In time order (the usual case, counting sort) and shuffled (comparison sort).
        let in_time: Vec<(u32, i64, u32)> = (0..500u32)
            .map(|i| ((i * 7) % 13, i64::from(i / 3), 0))
            .collect();
        let mut shuffled = in_time.clone();
        shuffled.reverse();
        shuffled.swap(3, 400);
        for rows in [&in_time, &shuffled] {
            let c = cands(rows);
            let mut want: Vec<u32> = (0..rows.len() as u32).collect();
            want.sort_by_key(|&i| (rows[i as usize].0, rows[i as usize].1, i));
            assert_eq!(group_time_order(&c), want);
        }
    }

    fn none() -> HashMap<u32, Prior> {
        HashMap::new()
    }

    #[test]
    fn hundred_and_one_calls_in_200_seconds_are_a_spike_and_a_hundred_are_not() {
        let spike = Plan::Count {
            window: 5 * MIN,
            threshold: 100,
            strict: true,
        };
        let rows: Vec<(u32, i64, u32)> = (0..101).map(|i| (0, i * 2 * S, NULL)).collect();
        let r = run(spike, &cands(&rows), &none());
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].count, r[0].peak), (101, 101));
        let r = run(spike, &cands(&rows[..100]), &none());
        assert!(r.is_empty());
    }

    #[test]
    fn windows_are_exact_at_the_edges_whatever_the_clock() {
        // 12:55 and 13:05: ten minutes apart across an hour boundary.
        let t0 = 12 * 60 * MIN + 55 * MIN;
        let rows = [(7, t0, 0), (7, t0 + 10 * MIN, 1)];
        let within = Plan::Distinct {
            window: 10 * MIN,
            threshold: 2,
            strict: false,
        };
        let r = run(within, &cands(&rows), &none());
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].first.row, r[0].last.row), (0, 1));
        assert_eq!(r[0].values, vec![0, 1]);
        let r = run(
            within,
            &cands(&[(7, t0, 0), (7, t0 + 10 * MIN + 1, 1)]),
            &none(),
        );
        assert!(r.is_empty(), "one microsecond too far apart");
    }

    #[test]
    fn groups_never_mix_and_overlapping_windows_merge() {
        let p = Plan::Count {
            window: MIN,
            threshold: 2,
            strict: false,
        };
        // Group 1: a burst of 3, then a second burst an hour later; group 2 interleaved.
        let rows = [
            (1, 0, NULL),
            (2, 10 * S, NULL),
            (1, 20 * S, NULL),
            (1, 70 * S, NULL),
            (1, 3600 * S, NULL),
            (1, 3601 * S, NULL),
            (2, 3600 * S, NULL),
        ];
        let r = run(p, &cands(&rows), &none());
        let spans: Vec<(u32, u64)> = r.iter().map(|e| (e.group, e.count)).collect();
        assert_eq!(spans, vec![(1, 3), (1, 2)]);
        assert_eq!(r[0].peak, 2);
    }

    #[test]
    fn a_sequence_fires_only_in_order_and_within_the_window() {
        let p = Plan::Sequence {
            window: 15 * MIN,
            steps: 2,
        };
        // invoke before recon: nothing; recon then invoke 14 minutes later: fires.
        let rows = [(0, 0, 1), (0, MIN, 0), (0, 15 * MIN, 1)];
        let r = run(p, &cands(&rows), &none());
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].first.row, r[0].last.row), (1, 2));
        let late = [(0, 0, 0), (0, 16 * MIN, 1)];
        assert!(run(p, &cands(&late), &none()).is_empty());
        let wrong_order = [(0, 0, 1), (0, MIN, 0)];
        assert!(run(p, &cands(&wrong_order), &none()).is_empty());
    }

    #[test]
    fn a_new_value_fires_once_the_group_has_its_history() {
        let day = 24 * 60 * MIN;
        let p = Plan::NewValue { history: 7 * day };
        // Days 0..8 from value 0; on day 3 a new value (too early: baseline only); day 9 value 2.
        let mut rows: Vec<(u32, i64, u32)> = (0..9).map(|d| (0, d * day, 0)).collect();
        rows.push((0, 3 * day + S, 1));
        rows.push((0, 9 * day, 2));
        rows.push((0, 9 * day + S, 2));
        let r = run(p, &cands(&rows), &none());
        assert_eq!(r.len(), 1);
        let e = &r[0];
        assert_eq!((e.first.row, e.first.value, e.count), (10, 2, 1));
        assert_eq!(e.known, vec![0, 1]);
        assert_eq!(e.since, Some(0));
        // A value last used more than the history ago is new again.
        let rows = [(0, 0, 0), (0, 8 * day, 1), (0, 16 * day, 0)];
        assert_eq!(run(p, &cands(&rows), &none()).len(), 2);
    }

    #[test]
    fn a_prior_baseline_makes_the_first_events_comparable() {
        let day = 24 * 60 * MIN;
        let p = Plan::NewValue { history: 7 * day };
        let bucket = |value, d: i64, first, last| PriorUse {
            value,
            start: d * day,
            width: day,
            first,
            last,
        };
        let priors = HashMap::from([(
            0u32,
            Prior {
                first_seen: 0,
                uses: vec![bucket(0, 20, 20 * day + S, 20 * day + 2 * S)],
            },
        )]);
        let rows = [(0, 21 * day, 0), (0, 21 * day + S, 5)];
        let r = run(p, &cands(&rows), &priors);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].first.row, 1);
        assert_eq!(r[0].known, vec![0]);
        assert!(run(p, &cands(&rows), &none()).is_empty());
        // The baseline holding the events themselves (a replay) changes nothing: only uses
        // before each event count.
        let priors = HashMap::from([(
            0u32,
            Prior {
                first_seen: 0,
                uses: vec![
                    bucket(0, 20, 20 * day + S, 20 * day + 2 * S),
                    bucket(0, 21, 21 * day, 21 * day),
                    bucket(5, 21, 21 * day + S, 21 * day + S),
                ],
            },
        )]);
        let again = run(p, &cands(&rows), &priors);
        assert_eq!(again, r);
    }

    /// Two groups' events interleaved in time: 0 calls every 2 s, 1 every 3 s, with two
    /// quiet hours in group 0.
    fn interleaved() -> Vec<(u32, i64, u32, u32)> {
        let mut rows = Vec::new();
        for s in 0..3000i64 {
            let quiet = (1000..1500).contains(&s) || (2000..2400).contains(&s);
            if s % 2 == 0 && !quiet {
                rows.push((0, s * S, (s % 7) as u32, (s % 3) as u32));
            }
            if s % 3 == 0 {
                rows.push((1, s * S, (s % 5) as u32, NULL));
            }
        }
        rows
    }

    #[test]
    fn streamed_events_give_the_episodes_of_collected_ones() {
        let rows = interleaved();
        let plans = [
            Plan::Count {
                window: 100 * S,
                threshold: 40,
                strict: true,
            },
            Plan::Distinct {
                window: 10 * S,
                threshold: 4,
                strict: false,
            },
            Plan::Sequence {
                window: 20 * S,
                steps: 3,
            },
            Plan::NewValue { history: 60 * S },
        ];
        for plan in plans {
            let streamed = streamed(plan, &rows, 100);
            let mut c = cands(&rows.iter().map(|r| (r.0, r.1, r.2)).collect::<Vec<_>>());
            c.extras = rows.iter().map(|r| r.3).collect();
            let mut s = Sweeper::new(plan, 1, 100);
            s.push_all(&c);
            assert_eq!(streamed, s.finish(), "{plan:?}");
            assert!(!streamed.is_empty(), "{plan:?} fired");
        }
    }

    #[test]
    fn a_long_episode_lists_its_first_and_last_events_and_counts_all() {
        let spike = Plan::Count {
            window: 100 * S,
            threshold: 40,
            strict: true,
        };
        let r = streamed(spike, &interleaved(), 10);
        let e = &r[0];
        assert_eq!((e.group, e.first.row, e.first.time), (0, 0, 0));
        assert_eq!(
            e.count, 500,
            "group 0 calls 500 times before its first quiet hour"
        );
        assert_eq!(e.listed.len(), 10);
        let times: Vec<i64> = e.listed.iter().map(|p| p.time / S).collect();
        assert_eq!(times, vec![0, 2, 4, 6, 8, 990, 992, 994, 996, 998]);
        assert_eq!((e.last.time, e.peak), (998 * S, 51));
        assert_eq!(e.extras, vec![vec![0, 1, 2]]);
        assert!(
            r.iter()
                .all(|e| e.group == 0 || e.extras == vec![Vec::<u32>::new()])
        );
    }

    #[test]
    fn an_event_before_its_groups_latest_stops_the_stream() {
        let mut s = Sweeper::new(Plan::NewValue { history: S }, 0, 100);
        let at = |row, time| Cand {
            row,
            time,
            value: 0,
            extras: &[],
        };
        assert_eq!(s.push(0, at(0, 5)), Ok(()));
        assert_eq!(s.push(1, at(1, 1)), Ok(()), "another group may be earlier");
        assert_eq!(s.push(0, at(2, 4)), Err(Disordered));
    }
}
