//! The determinism promise of `map_reduce`, checked against the same block
//! tree written as plain loops.

mod common;

use std::num::NonZeroUsize;

use common::{Fixture, THREADS, schedules, size};
use nogil::{Executor, Pool, Sequential, for_each_chunk_mut, map_reduce};
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
