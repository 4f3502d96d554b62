//! Any loop length, team size and schedule: the chunk arithmetic partitions
//! `0..n` exactly, with the chunk sizes the schedule promises, a real pool
//! visits every index once, and `map_reduce` over those chunks, run in any
//! order, builds its fixed tree.
#![no_main]

mod common;

use std::sync::atomic::{AtomicU8, Ordering};

use common::pool;
use libfuzzer_sys::fuzz_target;
use nogil::sched::chunks::{claim_sequence, guided_chunk_len, static_block};
use nogil::{Executor, Schedule, map_reduce};

fn word(data: &[u8], at: usize) -> usize {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b) as usize
}

fuzz_target!(|data: &[u8]| {
    // Layout: schedule selector, then n, team and chunk as little-endian
    // words. n up to 2^20 so a sequence stays cheap; chunk anywhere in 1..2^64.
    let n = word(data, 1) % (1 << 20);
    let team = 1 + word(data, 9) % 64;
    let chunk = word(data, 17).max(1);
    let schedule = match data.first().copied().unwrap_or(0) % 4 {
        0 => Schedule::Static { chunk: None },
        1 => Schedule::Static { chunk: Some(chunk) },
        2 => Schedule::Dynamic { chunk },
        _ => Schedule::Guided { min_chunk: chunk },
    };

    let seq = claim_sequence(n, team, schedule);
    let mut sorted = seq.clone();
    sorted.sort_by_key(|r| r.start);
    let mut next = 0;
    for r in &sorted {
        assert!(!r.is_empty() && r.start == next, "{schedule} n={n} team={team}: {r:?} after {next}");
        next = r.end;
    }
    assert_eq!(next, n);

    match schedule {
        Schedule::Static { chunk: None } => {
            let lens: Vec<usize> = (0..team).map(|t| static_block(n, team, t).len()).collect();
            assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
        }
        Schedule::Static { chunk: Some(c) } | Schedule::Dynamic { chunk: c } => {
            let (last, rest) = match sorted.split_last() {
                Some(x) => x,
                None => return,
            };
            assert!(rest.iter().all(|r| r.len() == c) && last.len() <= c);
        }
        Schedule::Guided { min_chunk } => {
            let mut remaining = n;
            for r in &seq {
                assert_eq!(r.len(), guided_chunk_len(remaining, team, min_chunk));
                assert!(r.len() >= min_chunk.min(remaining));
                remaining -= r.len();
            }
        }
    }

    // The real pool, on a smaller loop.
    let n = n % 4096;
    let visits: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(0)).collect();
    pool().with_schedule(schedule).unwrap().for_each_range(n, &|r| {
        for i in r {
            visits[i].fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(visits.iter().all(|v| v.load(Ordering::Relaxed) == 1));

    // map_reduce over the schedule's chunks, run one after another in an
    // order the input picks: the tree must be the fixed one whatever the
    // order. `mix` is neither associative nor commutative, so any other
    // grouping or order of the leaves gives another value.
    let exec = Replay { team, schedule, seed: (word(data, 1) >> 20) ^ word(data, 25) };
    let leaf = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5851_F42D;
    let mix = |a: u64, b: u64| a.rotate_left(5).wrapping_mul(31) ^ b.wrapping_add(0x2545_F491);
    let got = map_reduce(&exec, n, std::num::NonZeroUsize::MIN, |r| leaf(r.start), mix);
    let mut level: Vec<u64> = (0..n).map(leaf).collect();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| if p.len() == 2 { mix(p[0], p[1]) } else { p[0] }).collect();
    }
    assert_eq!(got, level.first().copied(), "{schedule} n={n} team={team}");
});

/// Plays `claim_sequence(n, team, schedule)` on the calling thread, in an
/// order drawn from `seed`.
struct Replay {
    team: usize,
    schedule: Schedule,
    seed: usize,
}

// SAFETY: the claim sequence partitions `0..n` (checked above), each range
// is passed once, and every call returns before `for_each_range` does.
unsafe impl Executor for Replay {
    fn threads(&self) -> usize {
        self.team
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
        let mut ranges = claim_sequence(n, self.team, self.schedule);
        let mut state = self.seed as u64 | 1;
        for i in (1..ranges.len()).rev() {
            // xorshift64: a cheap deterministic shuffle.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ranges.swap(i, state as usize % (i + 1));
        }
        for r in ranges {
            body(r);
        }
    }

    fn label(&self) -> String {
        format!("replay({}, {})", self.team, self.schedule)
    }
}
