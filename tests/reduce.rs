//! The determinism promise of `map_reduce`, checked against the same block
//! tree written as plain loops.

mod common;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Fixture, THREADS, schedules, size};
use nogil::{Executor, Pool, Schedule, Sequential, for_each_chunk_mut, map_reduce};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// The documented tree, plainly: block sums in order, then pairs level by
/// level, an odd last one carried up.
fn reference_sum(x: &[f64], block: usize) -> f64 {
    let mut level: Vec<f64> = x.chunks(block).map(|c| c.iter().sum()).collect();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| if p.len() == 2 { p[0] + p[1] } else { p[0] }).collect();
    }
    level[0]
}

fn block_sum(exec: &dyn Executor, x: &[f64], block: usize) -> Option<f64> {
    map_reduce(exec, x.len(), NonZeroUsize::new(block).unwrap(), |r| x[r].iter().sum::<f64>(), |a, b| a + b)
}

#[test]
fn float_sums_are_bit_identical_across_executors_schedules_and_threads() {
    let mut rng = StdRng::seed_from_u64(7);
    // Wide dynamic range, so a different summation order would change bits.
    let x: Vec<f64> =
        (0..size(1_000_000, 400)).map(|_| rng.random::<f64>() * 10f64.powi(rng.random_range(-8..8))).collect();
    for block in [size(4096, 64), size(1000, 100), 7] {
        let expected = reference_sum(&x, block);
        // The naive left-to-right sum differs, so the check has teeth.
        let naive: f64 = x.iter().sum();
        if block == 4096 {
            assert_ne!(naive.to_bits(), expected.to_bits());
        }
        for &threads in THREADS {
            let fx = Fixture::new(threads);
            for exec in fx.executors(&schedules(if cfg!(miri) { &[3] } else { &[1, 3, 64] })) {
                let got = block_sum(exec.as_ref(), &x, block).unwrap();
                assert_eq!(got.to_bits(), expected.to_bits(), "{} block {block}: {got} vs {expected}", exec.label());
            }
        }
    }
}

#[test]
fn blocks_are_combined_in_block_order() {
    // A non-commutative reduction exposes the combining order.
    let pool = Pool::new(3).unwrap();
    for n in [1, 2, 5, 64, size(1001, 77)] {
        for block in [1, 2, 3, 100] {
            let got = map_reduce(
                &pool.with_schedule(nogil::Schedule::Dynamic { chunk: 1 }).unwrap(),
                n,
                NonZeroUsize::new(block).unwrap(),
                |r| vec![(r.start, r.end)],
                |mut a, b| {
                    a.extend(b);
                    a
                },
            )
            .unwrap();
            let expected: Vec<_> = (0..n).step_by(block).map(|s| (s, (s + block).min(n))).collect();
            assert_eq!(got, expected);
        }
    }
    assert_eq!(map_reduce(&Sequential, 0, NonZeroUsize::MIN, |_| 1, |a, b| a + b), None);
}

#[test]
fn chunks_mut_gives_each_item_its_own_slots() {
    let fx = Fixture::new(3);
    for exec in fx.executors(&schedules(&[1, 5])) {
        for (len, stride) in [(0, 1), (10, 1), (31, 3), (1000, 4), (7, 8)] {
            let mut out = vec![usize::MAX; len];
            for_each_chunk_mut(exec.as_ref(), &mut out, stride, |items, chunk| {
                assert_eq!(chunk.len(), items.len() * stride);
                for (k, slot) in chunk.iter_mut().enumerate() {
                    assert_eq!(*slot, usize::MAX, "slot written twice");
                    *slot = items.start + k / stride;
                }
            });
            let covered = len / stride * stride;
            for (j, v) in out.iter().enumerate() {
                let expected = if j < covered { j / stride } else { usize::MAX };
                assert_eq!(*v, expected, "{} len {len} stride {stride}", exec.label());
            }
        }
    }
}

/// Cuts `0..n` into ranges of 1 to `longest` items and runs them in a
/// shuffled order from `threads` threads: an executor that keeps the
/// contract but no useful order.
struct Shuffled {
    threads: usize,
    longest: usize,
    seed: u64,
}

// SAFETY: the ranges are disjoint, lie in `0..n` and cover it, each passed
// once; `thread::scope` joins every thread (resuming a panic) before
// returning.
unsafe impl Executor for Shuffled {
    fn threads(&self) -> usize {
        self.threads
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
        use rand::seq::SliceRandom;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut ranges = Vec::new();
        let mut start = 0;
        while start < n {
            let end = n.min(start + rng.random_range(1..=self.longest));
            ranges.push(start..end);
            start = end;
        }
        ranges.shuffle(&mut rng);
        std::thread::scope(|s| {
            for part in ranges.chunks(ranges.len().div_ceil(self.threads).max(1)) {
                s.spawn(move || part.iter().for_each(|r| body(r.clone())));
            }
        });
    }

    fn label(&self) -> String {
        format!("shuffled({} threads, ranges of 1..={}, seed {})", self.threads, self.longest, self.seed)
    }
}

#[test]
fn blocks_run_in_any_order_on_any_thread_give_the_same_tree() {
    let mut rng = StdRng::seed_from_u64(11);
    let x: Vec<f64> =
        (0..size(20_000, 300)).map(|_| rng.random::<f64>() * 10f64.powi(rng.random_range(-8..8))).collect();
    for block in [1, 3, 64] {
        let expected = reference_sum(&x, block);
        let (teams, longest): (&[(usize, u64)], &[usize]) = if cfg!(miri) {
            (&[(1, 0), (3, 2)], &[1, 5])
        } else {
            (&[(1, 0), (2, 1), (3, 2), (7, 3), (16, 4)], &[1, 2, 5, 40])
        };
        for &(threads, seed) in teams {
            for &longest in longest {
                let exec = Shuffled { threads, longest, seed };
                let got = block_sum(&exec, &x, block).unwrap();
                assert_eq!(got.to_bits(), expected.to_bits(), "{} block {block}", exec.label());
            }
        }
    }
}

/// A partial result that counts how many are alive, and the most at once.
struct Live<'a> {
    count: &'a (AtomicUsize, AtomicUsize),
    sum: usize,
}

impl<'a> Live<'a> {
    fn new(count: &'a (AtomicUsize, AtomicUsize), sum: usize) -> Self {
        let now = count.0.fetch_add(1, Ordering::SeqCst) + 1;
        count.1.fetch_max(now, Ordering::SeqCst);
        Live { count, sum }
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.count.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The most partials alive at once while `exec` reduces `m` blocks.
fn peak_partials(exec: &dyn Executor, m: usize) -> usize {
    let count = (AtomicUsize::new(0), AtomicUsize::new(0));
    let total = map_reduce(
        exec,
        m,
        NonZeroUsize::MIN,
        |r| Live::new(&count, r.start),
        |a, b| Live::new(a.count, a.sum + b.sum),
    );
    assert_eq!(total.map(|t| t.sum), Some(m * (m - 1) / 2), "{}", exec.label());
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "every partial dropped");
    count.1.load(Ordering::SeqCst)
}

#[test]
fn executors_that_run_blocks_in_ascending_order_hold_few_partials() {
    let m = size(4096, 64);
    let levels = m.next_power_of_two().trailing_zeros() as usize;
    // One thread holds the finished prefix's binary decomposition and what
    // it combines: a few more than log₂ m.
    let sequential = peak_partials(&Sequential, m);
    assert!(sequential <= levels + 3, "sequential: {sequential} partials alive at once");
    let ascending =
        [Schedule::Static { chunk: None }, Schedule::Dynamic { chunk: 1 }, Schedule::Guided { min_chunk: 1 }];
    for &threads in THREADS {
        let fx = Fixture::new(threads);
        for exec in fx.executors(&ascending) {
            if exec.label().starts_with("rayon") || exec.label() == "sequential" {
                continue;
            }
            // The blocks not yet run are at most `threads + 1` runs, so the
            // finished ones' decomposition has at most `2·levels` nodes per
            // run; each thread adds what it holds, and a thread paused
            // part-way up the tree keeps up to `levels` siblings waiting.
            let bound = (threads + 1) * (3 * levels + 2);
            let peak = peak_partials(exec.as_ref(), m);
            assert!(peak <= bound.min(m), "{}: {peak} partials alive at once, bound {bound}", exec.label());
        }
    }
    // In any order, no two waiting partials are siblings, so at most one of
    // each pair of blocks waits, beside what each thread holds.
    for threads in [1, 4] {
        let peak = peak_partials(&Shuffled { threads, longest: 1, seed: 5 }, m);
        assert!(peak <= m.div_ceil(2) + 3 * threads, "shuffled on {threads}: {peak} of {m} alive at once");
    }
}

/// NaN payloads too: with every leaf a NaN of its own payload, the sum is
/// whichever NaN the hardware's additions pass on, so any difference in
/// grouping, in operand order or in the machine code that adds (the
/// compiler may swap the operands of `a + b` where it inlines the
/// closure) shows in the bits. Rust itself leaves NaN payloads unspecified,
/// and Miri picks them at random, so this holds of the compiled code only.
#[test]
#[cfg_attr(miri, ignore = "Miri picks NaN payloads at random, as Rust's semantics allow")]
fn nan_payloads_come_out_the_same_on_every_executor() {
    let x: Vec<f64> =
        (0..size(2000, 40) as u64).map(|i| f64::from_bits(0x7FF8_0000_0000_0000 | (i * 7919 + 1))).collect();
    let expected = block_sum(&Sequential, &x, 1).unwrap().to_bits();
    let fx = Fixture::new(3);
    for exec in fx.executors(&schedules(&[1, 7])) {
        assert_eq!(block_sum(exec.as_ref(), &x, 1).unwrap().to_bits(), expected, "{}", exec.label());
    }
    for (threads, longest) in [(1, 3), (4, 1), (4, 9)] {
        let exec = Shuffled { threads, longest, seed: 9 };
        assert_eq!(block_sum(&exec, &x, 1).unwrap().to_bits(), expected, "{}", exec.label());
    }
}
