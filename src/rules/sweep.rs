//! The native sweep behind windowed rules: candidate events are sorted by (group, time)
//! and each group is walked once with a sliding window (two pointers), so the cost is a
//! sort plus a linear pass, never a self-join.
//!
//! Windows are exact at the edges: two events are within a window of `w` when their times
//! differ by at most `w`, whatever the clock says (12:55 and 13:05 are 10 minutes apart).
//! Overlapping firing windows of a group merge into one episode, which becomes one finding
//! naming its first and last event and counting its events.

use std::collections::HashMap;

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

/// The candidate events of a windowed rule, one entry per event, in the SQL's row order.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Group code of each event.
    pub group: Blocks<u32>,
    /// Event time (microseconds).
    pub time: Blocks<i64>,
    /// Code of the measured value: the distinct column, the sequence step (its index in the
    /// steps) or the baseline column; [`NULL`] when null or not used.
    pub value: Blocks<u32>,
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

/// A run of overlapping firing windows in one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub group: u32,
    /// First and last index into [`Sweep::order`] (inclusive): the episode's events are
    /// `order[start..=end]`, in time order.
    pub start: usize,
    pub end: usize,
    /// The largest count (or number of distinct values) of one firing window.
    pub peak: u64,
    /// NewValue: the values the group used in the history before the event.
    pub known: Vec<u32>,
    /// NewValue: the group's first activity.
    pub since: Option<i64>,
}

impl Episode {
    /// The number of events in the episode.
    pub fn len(&self) -> usize {
        self.end - self.start + 1
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The result: candidate positions in (group, time) order and the episodes found.
#[derive(Debug, Default)]
pub struct Sweep {
    pub order: Vec<u32>,
    pub episodes: Vec<Episode>,
}

/// Candidate positions in (group, time, position) order. Candidates usually come in time
/// order (the table is sorted by time): then a counting sort by group keeps that order within
/// each group, in linear time. Otherwise, a comparison sort.
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

/// Sorts the candidates and walks each group.
pub fn run(plan: Plan, c: &Candidates, priors: &HashMap<u32, Prior>) -> Sweep {
    let order = group_time_order(c);
    let mut episodes = Vec::new();
    let mut s = 0;
    while s < order.len() {
        let g = c.group[order[s] as usize];
        let mut e = s;
        while e + 1 < order.len() && c.group[order[e + 1] as usize] == g {
            e += 1;
        }
        let seg = &order[s..=e];
        let t: Vec<i64> = seg.iter().map(|&i| c.time[i as usize]).collect();
        let v: Vec<u32> = seg.iter().map(|&i| c.value[i as usize]).collect();
        let mut found = Merger::new(g, s);
        match plan {
            Plan::Count {
                window,
                threshold,
                strict,
            } => count(&t, window, threshold, strict, &mut found),
            Plan::Distinct {
                window,
                threshold,
                strict,
            } => distinct(&t, &v, window, threshold, strict, &mut found),
            Plan::Sequence { window, steps } => sequence(&t, &v, window, steps, &mut found),
            Plan::NewValue { history } => new_value(&t, &v, history, priors.get(&g), &mut found),
        }
        episodes.extend(found.finish());
        s = e + 1;
    }
    Sweep { order, episodes }
}

/// Collects firing windows of one group (indices local to its segment) into episodes.
struct Merger {
    group: u32,
    base: usize,
    out: Vec<Episode>,
}

impl Merger {
    fn new(group: u32, base: usize) -> Merger {
        Merger {
            group,
            base,
            out: Vec::new(),
        }
    }

    /// A window `lo..=hi` fired with `n`; it joins the last episode when they share events.
    fn fire(&mut self, lo: usize, hi: usize, n: u64) {
        let (lo, hi) = (lo + self.base, hi + self.base);
        if let Some(last) = self.out.last_mut()
            && lo <= last.end
        {
            last.end = last.end.max(hi);
            last.peak = last.peak.max(n);
            return;
        }
        self.out.push(Episode {
            group: self.group,
            start: lo,
            end: hi,
            peak: n,
            known: Vec::new(),
            since: None,
        });
    }

    fn finish(self) -> Vec<Episode> {
        self.out
    }
}

/// True when `n` passes the threshold.
fn passes(n: u64, threshold: u64, strict: bool) -> bool {
    if strict {
        n > threshold
    } else {
        n >= threshold
    }
}

/// Every window ending at an event, with its event count.
fn count(t: &[i64], window: i64, threshold: u64, strict: bool, out: &mut Merger) {
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] > window {
            lo += 1;
        }
        let n = (hi - lo + 1) as u64;
        if passes(n, threshold, strict) {
            out.fire(lo, hi, n);
        }
    }
}

/// Every window ending at an event, with its number of distinct non-null values.
fn distinct(t: &[i64], v: &[u32], window: i64, threshold: u64, strict: bool, out: &mut Merger) {
    let mut in_window: HashMap<u32, u32> = HashMap::new();
    let mut lo = 0;
    for hi in 0..t.len() {
        if v[hi] != NULL {
            *in_window.entry(v[hi]).or_default() += 1;
        }
        while t[hi] - t[lo] > window {
            if v[lo] != NULL
                && let Some(n) = in_window.get_mut(&v[lo])
            {
                *n -= 1;
                if *n == 0 {
                    in_window.remove(&v[lo]);
                }
            }
            lo += 1;
        }
        let n = in_window.len() as u64;
        if passes(n, threshold, strict) {
            out.fire(lo, hi, n);
        }
    }
}

/// Chains of steps in order; each completed chain (its first step to its last) fires.
///
/// For each step the latest start of a chain that reached it is kept: the latest start is
/// the one most likely to finish within the window.
fn sequence(t: &[i64], v: &[u32], window: i64, steps: u32, out: &mut Merger) {
    let k = steps as usize;
    let mut start_at: Vec<Option<usize>> = vec![None; k];
    for i in 0..t.len() {
        let s = v[i] as usize;
        if v[i] == NULL || s >= k {
            continue;
        }
        if s == 0 {
            start_at[0] = Some(i);
        } else if let Some(st) = start_at[s - 1]
            && t[i] - t[st] <= window
        {
            start_at[s] = Some(start_at[s].map_or(st, |x| x.max(st)));
        } else {
            continue;
        }
        if s == k - 1
            && let Some(st) = start_at[k - 1]
        {
            out.fire(st, i, (i - st + 1) as u64);
        }
    }
}

/// Values not used in the `history` before each event, once the group is old enough.
fn new_value(t: &[i64], v: &[u32], history: i64, prior: Option<&Prior>, out: &mut Merger) {
    let mut first = prior.map(|p| p.first_seen);
    let mut prior_uses: HashMap<u32, Vec<PriorUse>> = HashMap::new();
    for u in prior.map(|p| p.uses.as_slice()).unwrap_or_default() {
        prior_uses.entry(u.value).or_default().push(*u);
    }
    let mut last_seen: HashMap<u32, i64> = HashMap::new();
    let known = |value: u32, at: i64, last_seen: &HashMap<u32, i64>| {
        last_seen
            .get(&value)
            .is_some_and(|&ls| ls <= at && at - ls <= history)
            || prior_uses
                .get(&value)
                .is_some_and(|us| us.iter().any(|u| u.used_within(at, history)))
    };
    for i in 0..t.len() {
        let since = *first.get_or_insert(t[i]);
        let since = since.min(t[i]);
        first = Some(since);
        if v[i] == NULL {
            continue;
        }
        if !known(v[i], t[i], &last_seen) && t[i] - since >= history {
            out.fire(i, i, 1);
            if let Some(ep) = out.out.last_mut() {
                let mut k: Vec<u32> = last_seen
                    .keys()
                    .chain(prior_uses.keys())
                    .copied()
                    .filter(|c| known(*c, t[i], &last_seen))
                    .collect();
                k.sort_unstable();
                k.dedup();
                ep.known = k;
                ep.since = Some(since);
            }
        }
        let e = last_seen.entry(v[i]).or_insert(t[i]);
        *e = (*e).max(t[i]);
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
        }
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
        assert_eq!(r.episodes.len(), 1);
        assert_eq!((r.episodes[0].len(), r.episodes[0].peak), (101, 101));
        let r = run(spike, &cands(&rows[..100]), &none());
        assert!(r.episodes.is_empty());
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
        assert_eq!(r.episodes.len(), 1);
        assert_eq!((r.episodes[0].start, r.episodes[0].end), (0, 1));
        let r = run(
            within,
            &cands(&[(7, t0, 0), (7, t0 + 10 * MIN + 1, 1)]),
            &none(),
        );
        assert!(r.episodes.is_empty(), "one microsecond too far apart");
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
        let spans: Vec<(u32, usize)> = r.episodes.iter().map(|e| (e.group, e.len())).collect();
        assert_eq!(spans, vec![(1, 3), (1, 2)]);
        assert_eq!(r.episodes[0].peak, 2);
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
        assert_eq!(r.episodes.len(), 1);
        assert_eq!((r.episodes[0].start, r.episodes[0].end), (1, 2));
        let late = [(0, 0, 0), (0, 16 * MIN, 1)];
        assert!(run(p, &cands(&late), &none()).episodes.is_empty());
        let wrong_order = [(0, 0, 1), (0, MIN, 0)];
        assert!(run(p, &cands(&wrong_order), &none()).episodes.is_empty());
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
        assert_eq!(r.episodes.len(), 1);
        let e = &r.episodes[0];
        assert_eq!(r.order[e.start], 10);
        assert_eq!(e.known, vec![0, 1]);
        assert_eq!(e.since, Some(0));
        // A value last used more than the history ago is new again.
        let rows = [(0, 0, 0), (0, 8 * day, 1), (0, 16 * day, 0)];
        assert_eq!(run(p, &cands(&rows), &none()).episodes.len(), 2);
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
        assert_eq!(r.episodes.len(), 1);
        assert_eq!(r.order[r.episodes[0].start], 1);
        assert_eq!(r.episodes[0].known, vec![0]);
        assert!(run(p, &cands(&rows), &none()).episodes.is_empty());
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
        assert_eq!(again.episodes, r.episodes);
    }
}
