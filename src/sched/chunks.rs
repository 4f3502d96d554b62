//! Chunk arithmetic for OpenMP-style loop schedules: pure functions, no threads.
//!
//! A parallel region over `0..n` is run by a *team* of threads, numbered
//! `0..team` (0 is the caller). The schedule decides which thread runs which
//! iterations, with OpenMP's meaning:
//!
//! | schedule | who runs what |
//! |---|---|
//! | `Static { chunk: None }` | thread `t` gets one contiguous block; the first `n % team` blocks hold one extra iteration |
//! | `Static { chunk: Some(c) }` | chunks of `c`, dealt round-robin: thread `t` gets chunks `t`, `t + team`, … |
//! | `Dynamic { chunk: c }` | threads claim the next `c` iterations from a shared counter until none remain |
//! | `Guided { min_chunk: m }` | each claim takes `max(ceil(remaining / team), m)` iterations (fewer only for the last chunk), as libgomp does |
//!
//! The functions here are what the pool, the fuzz targets and the loom models
//! share. Claiming (`Claim`) is lock-free: one `fetch_add` per dynamic chunk
//! where the counter provably cannot overflow, otherwise a compare-exchange
//! loop, and a compare-exchange loop for guided chunks.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use super::sync::{AtomicBool, AtomicUsize, CachePadded, Ordering};
use crate::Error;

/// How a parallel loop's iterations are divided among threads (OpenMP's `schedule` clause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// Fixed assignment, decided without any shared counter.
    ///
    /// `chunk: None` gives each thread one contiguous block of nearly equal
    /// size (OpenMP's default); `Some(c)` deals chunks of `c` round-robin.
    Static {
        /// Chunk size for round-robin dealing, or `None` for one block per thread.
        chunk: Option<usize>,
    },
    /// Threads claim `chunk` iterations at a time from a shared counter.
    Dynamic {
        /// Iterations per claim (at least 1).
        chunk: usize,
    },
    /// Claims start large and shrink: `max(ceil(remaining / team), min_chunk)`.
    Guided {
        /// The smallest chunk handed out, except for the last (at least 1).
        min_chunk: usize,
    },
}

impl Default for Schedule {
    /// OpenMP's default: `Static { chunk: None }`.
    fn default() -> Self {
        Schedule::Static { chunk: None }
    }
}

impl Schedule {
    /// Returns the schedule if its chunk parameter is usable, else [`Error::ZeroChunk`].
    ///
    /// ```
    /// use nogil::Schedule;
    /// assert!(Schedule::Guided { min_chunk: 0 }.validate().is_err());
    /// assert!(Schedule::Dynamic { chunk: 16 }.validate().is_ok());
    /// ```
    pub fn validate(self) -> Result<Self, Error> {
        match self {
            Schedule::Static { chunk: Some(0) } => Err(Error::ZeroChunk { schedule: "static" }),
            Schedule::Dynamic { chunk: 0 } => Err(Error::ZeroChunk { schedule: "dynamic" }),
            Schedule::Guided { min_chunk: 0 } => Err(Error::ZeroChunk { schedule: "guided" }),
            s => Ok(s),
        }
    }

    /// The OpenMP name of the schedule kind: `"static"`, `"dynamic"` or `"guided"`.
    pub fn kind(self) -> &'static str {
        match self {
            Schedule::Static { .. } => "static",
            Schedule::Dynamic { .. } => "dynamic",
            Schedule::Guided { .. } => "guided",
        }
    }

    /// The fewest iterations any chunk holds, except a last, shorter one.
    fn granule(self) -> usize {
        match self {
            Schedule::Static { chunk: None } => 1,
            Schedule::Static { chunk: Some(c) } | Schedule::Dynamic { chunk: c } => c.max(1),
            Schedule::Guided { min_chunk } => min_chunk.max(1),
        }
    }

    /// How many threads can receive work for a loop of `n` iterations when
    /// `threads` are available: `min(threads, number of chunks)`, 0 when `n == 0`.
    ///
    /// The pool wakes only this many threads, so a short loop does not pay to
    /// wake workers that would find nothing to do.
    pub fn team_size(self, n: usize, threads: usize) -> usize {
        let chunks = n.div_ceil(self.granule());
        threads.min(chunks)
    }
}

impl fmt::Display for Schedule {
    /// Formats as OpenMP's `OMP_SCHEDULE` does: `static`, `static,4`, `dynamic,1`, `guided,8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Schedule::Static { chunk: None } => write!(f, "static"),
            Schedule::Static { chunk: Some(c) } => write!(f, "static,{c}"),
            Schedule::Dynamic { chunk } => write!(f, "dynamic,{chunk}"),
            Schedule::Guided { min_chunk } => write!(f, "guided,{min_chunk}"),
        }
    }
}

impl FromStr for Schedule {
    type Err = String;

    /// Parses `OMP_SCHEDULE` syntax: `static`, `static,C`, `dynamic[,C]`, `guided[,C]`
    /// (a missing chunk is 1 for dynamic and guided, as in OpenMP).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (kind, chunk) = match s.split_once(',') {
            Some((k, c)) => (k.trim(), Some(c.trim())),
            None => (s, None),
        };
        let chunk = match chunk {
            None => None,
            Some(c) => Some(
                c.parse::<usize>().map_err(|_| format!("schedule {s:?}: chunk {c:?} is not a non-negative integer"))?,
            ),
        };
        let schedule = match kind.to_ascii_lowercase().as_str() {
            "static" => Schedule::Static { chunk },
            "dynamic" => Schedule::Dynamic { chunk: chunk.unwrap_or(1) },
            "guided" => Schedule::Guided { min_chunk: chunk.unwrap_or(1) },
            _ => {
                return Err(format!(
                    "schedule {s:?}: expected static, dynamic or guided, optionally followed by ,CHUNK"
                ));
            }
        };
        schedule.validate().map_err(|e| e.to_string())
    }
}

/// The contiguous block thread `tid` of `team` gets under `Static { chunk: None }`.
///
/// Blocks are in thread order, cover `0..n`, and differ in length by at most
/// one (the first `n % team` are longer). Empty when `tid >= team` or `team == 0`.
pub fn static_block(n: usize, team: usize, tid: usize) -> Range<usize> {
    if team == 0 || tid >= team {
        return n..n;
    }
    let q = n / team;
    let r = n % team;
    let start = tid * q + tid.min(r);
    let len = q + usize::from(tid < r);
    start..start + len
}

/// The `k`-th chunk thread `tid` of `team` gets under `Static { chunk: Some(chunk) }`:
/// chunk number `k * team + tid`, or `None` once past `n` (also on overflow,
/// and when `chunk == 0` or `tid >= team`).
pub fn static_chunk(n: usize, team: usize, tid: usize, chunk: usize, k: usize) -> Option<Range<usize>> {
    if chunk == 0 || tid >= team {
        return None;
    }
    let index = k.checked_mul(team)?.checked_add(tid)?;
    let start = index.checked_mul(chunk)?;
    if start >= n {
        return None;
    }
    Some(start..start + chunk.min(n - start))
}

/// Iterations a guided claim takes when `remaining` are left for `team`
/// threads: `max(ceil(remaining / team), min_chunk)`, never more than `remaining`.
pub fn guided_chunk_len(remaining: usize, team: usize, min_chunk: usize) -> usize {
    let share = remaining.div_ceil(team.max(1));
    share.max(min_chunk).min(remaining)
}

/// The chunks a single thread would claim, in order, if it claimed every
/// chunk of a `team`-thread loop alone (as happens when the other threads
/// arrive late). For `Static`, each thread's chunks in thread order.
///
/// This is the sequence the pool's lock-free claiming must reproduce when it
/// is uncontended, and what the tests and fuzz targets compare against.
pub fn claim_sequence(n: usize, team: usize, schedule: Schedule) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    if n == 0 || team == 0 {
        return out;
    }
    match schedule {
        Schedule::Static { chunk: None } => {
            out.extend((0..team).map(|t| static_block(n, team, t)).filter(|r| !r.is_empty()));
        }
        Schedule::Static { chunk: Some(c) } => {
            for t in 0..team {
                out.extend((0..).map_while(|k| static_chunk(n, team, t, c, k)));
            }
        }
        Schedule::Dynamic { chunk } => {
            let c = chunk.max(1);
            let mut start = 0;
            while start < n {
                let len = c.min(n - start);
                out.push(start..start + len);
                start += len;
            }
        }
        Schedule::Guided { min_chunk } => {
            let mut start = 0;
            while start < n {
                let len = guided_chunk_len(n - start, team, min_chunk.max(1));
                out.push(start..start + len);
                start += len;
            }
        }
    }
    out
}

/// The fixed facts of one parallel loop: its length, team and schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) n: usize,
    pub(crate) team: usize,
    pub(crate) schedule: Schedule,
    /// The dynamic counter may be advanced with `fetch_add`: with at most one
    /// overshooting claim per thread it stays below `n + team * chunk`, which
    /// fits in a `usize`.
    dynamic_fetch_add: bool,
}

impl Plan {
    /// Plans a loop of `n` iterations for at most `threads` threads.
    pub(crate) fn new(n: usize, threads: usize, schedule: Schedule) -> Plan {
        let team = schedule.team_size(n, threads);
        let dynamic_fetch_add = match schedule {
            Schedule::Dynamic { chunk } => {
                team.checked_mul(chunk.min(n)).and_then(|overshoot| overshoot.checked_add(n)).is_some()
            }
            _ => false,
        };
        Plan { n, team, schedule, dynamic_fetch_add }
    }

    /// The same plan with the overflow-safe compare-exchange path forced, so
    /// tests and loom reach it with small `n`.
    #[cfg(test)]
    pub(crate) fn without_fetch_add(mut self) -> Plan {
        self.dynamic_fetch_add = false;
        self
    }
}

/// The shared state of one loop's claiming: the next unclaimed iteration.
///
/// Reset by the region's owner before the team starts; only `Relaxed`
/// operations are needed, because the counter hands out disjoint index
/// ranges and publishes no data (the region's start and end are published by
/// the pool's wake and done protocol in `signal.rs`).
#[derive(Debug, Default)]
pub(crate) struct Claim {
    next: CachePadded<AtomicUsize>,
}

impl Claim {
    /// Makes the counter ready for a new loop.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn reset(&self) {
        self.next.store(0, Ordering::Relaxed);
    }

    /// The next chunk for thread `tid`, whose private progress is `k`
    /// (chunks taken so far, used only by static schedules).
    pub(crate) fn next(&self, plan: &Plan, tid: usize, k: &mut usize) -> Option<Range<usize>> {
        let n = plan.n;
        match plan.schedule {
            Schedule::Static { chunk: None } => {
                if *k > 0 {
                    return None;
                }
                *k = 1;
                let block = static_block(n, plan.team, tid);
                (!block.is_empty()).then_some(block)
            }
            Schedule::Static { chunk: Some(c) } => {
                let r = static_chunk(n, plan.team, tid, c, *k)?;
                *k += 1;
                Some(r)
            }
            Schedule::Dynamic { chunk } => {
                let c = chunk.max(1).min(n.max(1));
                if plan.dynamic_fetch_add {
                    // Cheap pre-check keeps finished threads from pushing the
                    // counter further past `n`.
                    if self.next.load(Ordering::Relaxed) >= n {
                        return None;
                    }
                    let start = self.next.fetch_add(c, Ordering::Relaxed);
                    (start < n).then(|| start..start + c.min(n - start))
                } else {
                    self.claim_cas(n, |remaining| c.min(remaining))
                }
            }
            Schedule::Guided { min_chunk } => {
                self.claim_cas(n, |remaining| guided_chunk_len(remaining, plan.team, min_chunk.max(1)))
            }
        }
    }

    fn claim_cas(&self, n: usize, len: impl Fn(usize) -> usize) -> Option<Range<usize>> {
        let mut start = self.next.load(Ordering::Relaxed);
        loop {
            if start >= n {
                return None;
            }
            let end = start + len(n - start);
            match self.next.compare_exchange_weak(start, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(start..end),
                Err(seen) => start = seen,
            }
        }
    }
}

/// Runs thread `tid`'s share of a loop: claims chunks and calls `body` on
/// each, until none remain or `abort` is set (a teammate panicked).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn participate(
    plan: &Plan,
    claim: &Claim,
    tid: usize,
    abort: &AtomicBool,
    body: &(dyn Fn(Range<usize>) + Sync),
) {
    let mut k = 0;
    while !abort.load(Ordering::Relaxed) {
        match claim.next(plan, tid, &mut k) {
            Some(range) => body(range),
            None => break,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn schedules(max_chunk: usize) -> Vec<Schedule> {
        let mut v = vec![Schedule::Static { chunk: None }];
        for c in [1, 2, 3, 7, max_chunk, max_chunk + 1] {
            v.push(Schedule::Static { chunk: Some(c) });
            v.push(Schedule::Dynamic { chunk: c });
            v.push(Schedule::Guided { min_chunk: c });
        }
        v
    }

    fn assert_partition(n: usize, mut ranges: Vec<Range<usize>>) {
        ranges.sort_by_key(|r| r.start);
        let mut next = 0;
        for r in &ranges {
            assert!(!r.is_empty(), "empty chunk {r:?}");
            assert_eq!(r.start, next, "gap or overlap at {r:?} in {ranges:?}");
            next = r.end;
        }
        assert_eq!(next, n);
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure arithmetic, no unsafe: too slow under Miri")]
    fn static_blocks_partition_and_balance() {
        for n in [0, 1, 2, 5, 17, 1000] {
            for team in 1..9 {
                let blocks: Vec<_> = (0..team).map(|t| static_block(n, team, t)).collect();
                let lens: Vec<_> = blocks.iter().map(|b| b.len()).collect();
                let (min, max) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(max - min <= 1, "n={n} team={team} {lens:?}");
                assert_partition(n, blocks.into_iter().filter(|b| !b.is_empty()).collect());
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure arithmetic, no unsafe: too slow under Miri")]
    fn claim_sequences_partition_the_loop() {
        for n in [0, 1, 2, 3, 8, 9, 100, 1001] {
            for team in [1, 2, 3, 4, 7, 16] {
                for s in schedules(n) {
                    assert_partition(n, claim_sequence(n, team, s));
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure arithmetic, no unsafe: too slow under Miri")]
    fn guided_sequence_follows_libgomps_formula() {
        // n = 100, 4 threads, min 3: 25, 19, 14, 11, 8, 6, 5, 3, 3, 3, 3 (last 0 left).
        let seq: Vec<usize> =
            claim_sequence(100, 4, Schedule::Guided { min_chunk: 3 }).iter().map(|r| r.len()).collect();
        let mut expected = Vec::new();
        let mut remaining = 100usize;
        while remaining > 0 {
            let q = remaining.div_ceil(4).max(3).min(remaining);
            expected.push(q);
            remaining -= q;
        }
        assert_eq!(seq, expected);
        assert_eq!(&seq[..4], &[25, 19, 14, 11]);
        for n in [1, 10, 999, 100_000] {
            for team in [1, 2, 3, 7] {
                for m in [1, 4, 50] {
                    let seq = claim_sequence(n, team, Schedule::Guided { min_chunk: m });
                    let (last, rest) = seq.split_last().unwrap();
                    assert!(rest.iter().all(|r| r.len() >= m), "n={n} team={team} m={m}");
                    assert!(last.len() <= m.max(n.div_ceil(team)));
                    assert!(rest.windows(2).all(|w| w[0].len() >= w[1].len()), "guided chunks grew");
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure arithmetic, no unsafe: too slow under Miri")]
    fn claim_reproduces_the_sequence_when_uncontended() {
        let abort = AtomicBool::new(false);
        for n in [0, 1, 5, 64, 1000] {
            for team in [1, 2, 3, 7] {
                for s in schedules(n) {
                    let plan = Plan::new(n, team, s);
                    for plan in [plan, plan.without_fetch_add()] {
                        let claim = Claim::default();
                        let got = std::sync::Mutex::new(Vec::new());
                        for tid in 0..plan.team {
                            participate(&plan, &claim, tid, &abort, &|r| got.lock().unwrap().push(r));
                        }
                        let expected = claim_sequence(n, plan.team, s);
                        assert_eq!(got.into_inner().unwrap(), expected, "n={n} team={team} {s}");
                    }
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure arithmetic, no unsafe: too slow under Miri")]
    fn huge_loops_do_not_overflow_the_counters() {
        let n = usize::MAX;
        for s in [
            Schedule::Dynamic { chunk: usize::MAX / 2 },
            Schedule::Dynamic { chunk: usize::MAX },
            Schedule::Guided { min_chunk: usize::MAX / 3 },
            Schedule::Static { chunk: Some(usize::MAX / 2 + 1) },
        ] {
            let plan = Plan::new(n, 4, s);
            let claim = Claim::default();
            let mut total = 0usize;
            let mut pieces = Vec::new();
            for tid in 0..plan.team {
                let mut k = 0;
                while let Some(r) = claim.next(&plan, tid, &mut k) {
                    total = total.checked_add(r.len()).expect("claimed more than n");
                    pieces.push(r);
                }
            }
            assert_eq!(total, n, "{s}");
            assert_partition(n, pieces);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure arithmetic, no unsafe: too slow under Miri")]
    fn team_size_is_bounded_by_chunks() {
        assert_eq!(Schedule::default().team_size(0, 4), 0);
        assert_eq!(Schedule::default().team_size(3, 4), 3);
        assert_eq!(Schedule::Dynamic { chunk: 10 }.team_size(25, 8), 3);
        assert_eq!(Schedule::Guided { min_chunk: 1 }.team_size(1000, 2), 2);
        assert_eq!(Schedule::Static { chunk: Some(usize::MAX) }.team_size(usize::MAX, 2), 1);
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure arithmetic, no unsafe: too slow under Miri")]
    fn schedules_parse_and_print_like_omp_schedule() {
        for s in schedules(40) {
            assert_eq!(s.to_string().parse::<Schedule>().unwrap(), s);
        }
        assert_eq!("guided".parse::<Schedule>().unwrap(), Schedule::Guided { min_chunk: 1 });
        assert_eq!(" Dynamic , 8 ".parse::<Schedule>().unwrap(), Schedule::Dynamic { chunk: 8 });
        assert!("dynamic,0".parse::<Schedule>().is_err());
        assert!("auto".parse::<Schedule>().is_err());
        assert!("static,-1".parse::<Schedule>().is_err());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    fn check(n: usize, team: usize, schedule: Schedule, force_cas: bool) {
        let mut builder = loom::model::Builder::new();
        if team > 2 {
            // Three threads explode the state space; three preemptions cover
            // the interleavings a claim loop can be hurt by.
            builder.preemption_bound = Some(3);
        }
        builder.check(move || {
            let mut plan = Plan::new(n, team, schedule);
            if force_cas {
                plan = plan.without_fetch_add();
            }
            let claim = Arc::new(Claim::default());
            let handles: Vec<_> = (1..plan.team)
                .map(|tid| {
                    let claim = claim.clone();
                    loom::thread::spawn(move || {
                        let mut k = 0;
                        let mut got = Vec::new();
                        while let Some(r) = claim.next(&plan, tid, &mut k) {
                            got.push(r);
                        }
                        got
                    })
                })
                .collect();
            let mut all = Vec::new();
            let mut k = 0;
            while let Some(r) = claim.next(&plan, 0, &mut k) {
                all.push(r);
            }
            for h in handles {
                all.extend(h.join().unwrap());
            }
            all.sort_by_key(|r| r.start);
            let mut next = 0;
            for r in all {
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, n);
        });
    }

    #[test]
    fn dynamic_fetch_add_claims_each_index_once() {
        check(5, 2, Schedule::Dynamic { chunk: 2 }, false);
    }

    #[test]
    fn dynamic_cas_claims_each_index_once() {
        check(5, 2, Schedule::Dynamic { chunk: 2 }, true);
    }

    #[test]
    fn guided_claims_each_index_once() {
        check(7, 2, Schedule::Guided { min_chunk: 1 }, false);
    }

    #[test]
    fn guided_three_threads_claims_each_index_once() {
        check(3, 3, Schedule::Guided { min_chunk: 1 }, false);
    }
}
