//! Pairwise sum in every form against the mirrors, the identity and exact
//! integer arithmetic.

mod common;

use common::{Fixture, chunk_params, on_every_path, schedules, size};
use nogil::kernels::pairwise::{
    block_sum_raw, fma_peak, pairwise_sum, pairwise_sum_exact, pairwise_sum_mirror as mirror, pairwise_sum_strided,
    pairwise_sum_tasks, scalar_sum, scalar_sum_raw,
};
use nogil::{Error, Sequential};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// The widest path's lanes: lengths around its boundaries cover the
/// 4-lane paths' too (the lengths below run up to `4·LANES + 1`).
const LANES: usize = 8;

fn lengths() -> Vec<usize> {
    if cfg!(miri) {
        // The lane, step and tail boundaries, at sizes Miri can run.
        return vec![0, 1, LANES - 1, LANES + 1, 4 * LANES + 1, 8 * LANES + 3];
    }
    let mut v: Vec<usize> = (0..=4 * LANES + 1).collect();
    v.extend([2 * LANES * 4 + 3, 63, 64, 65]);
    if !cfg!(miri) {
        v.extend([130, 2049, 2048 + 2 * LANES + 1, 3000, 5003]);
    }
    v
}

#[test]
fn integer_data_agree_exactly_in_every_form() {
    on_every_path(|| {
        // |x| <= 100 and n <= 5003: every product and partial sum is an integer
        // below 2^53, so all forms must give exactly (Σx)².
        let fx = Fixture::new(3);
        let execs = fx.executors(&schedules(chunk_params(&[1, 5])));
        let mut rng = StdRng::seed_from_u64(3);
        let base: Vec<f64> = (0..size(5003, 70) + 3).map(|_| rng.random_range(-100i64..=100) as f64).collect();
        for n in lengths() {
            for &offset in if cfg!(miri) { &[1][..] } else { &[0, 1][..] } {
                let x = &base[offset..offset + n];
                let s: i64 = x.iter().map(|&v| v as i64).sum();
                let exact = (s * s) as f64;
                if n <= 700 {
                    assert_eq!(mirror(x), exact, "mirror n={n}");
                }
                for exec in &execs {
                    let e = exec.as_ref();
                    assert_eq!(pairwise_sum(e, x), exact, "{} n={n} offset={offset}", e.label());
                    assert_eq!(pairwise_sum_exact(e, x), exact, "exact {} n={n}", e.label());
                    if n <= 700 {
                        assert_eq!(pairwise_sum_tasks(e, x), exact, "tasks {} n={n}", e.label());
                        assert_eq!(pairwise_sum_strided(e, x, 3), Ok(exact), "strided {} n={n}", e.label());
                    }
                }
            }
        }
    });
}

#[test]
fn float_forms_agree_with_the_mirror_within_the_bound() {
    on_every_path(|| {
        let eps = f64::EPSILON / 2.0;
        let fx = Fixture::new(2);
        let mut rng = StdRng::seed_from_u64(4);
        for n in lengths() {
            let x: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
            let abs: f64 = x.iter().map(|v| v.abs()).sum();
            let k = (n * n + 1) as f64;
            let bound = 2.0 * k * eps / (1.0 - k * eps) * abs * abs;
            let m = mirror(&x);
            for (name, got) in [
                ("simd", pairwise_sum(&fx.pool, &x)),
                ("tasks", pairwise_sum_tasks(&fx.pool, &x)),
                ("strided", pairwise_sum_strided(&fx.pool, &x, 2).unwrap()),
                ("identity", pairwise_sum_exact(&fx.pool, &x)),
            ] {
                assert!((got - m).abs() <= bound, "{name} n={n}: {got} vs mirror {m}, bound {bound}");
            }
        }
    });
}

#[test]
fn scalar_sum_and_block_sum_match_their_mirrors() {
    on_every_path(|| {
        let mut rng = StdRng::seed_from_u64(5);
        for n in lengths() {
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(-50i64..50) as f64).collect();
            let y = 3.0;
            // SAFETY: slices are valid for reads of their lengths.
            let m = unsafe { scalar_sum_raw(x.as_ptr(), y, n) };
            assert_eq!(scalar_sum(&x, y), m, "n={n}");
            let half = &x[..n / 2];
            // SAFETY: as above.
            let b = unsafe { block_sum_raw(x.as_ptr(), n, half.as_ptr(), half.len()) };
            let expect = x.iter().sum::<f64>() * half.iter().sum::<f64>();
            assert_eq!(b, expect, "block n={n}");
        }
    });
}

#[test]
fn results_are_bit_identical_across_executors() {
    on_every_path(|| {
        let mut rng = StdRng::seed_from_u64(6);
        let x: Vec<f64> = (0..size(4001, 40)).map(|_| rng.random::<f64>() - 0.5).collect();
        let reference = (pairwise_sum(&Sequential, &x), pairwise_sum_tasks(&Sequential, &x));
        for &threads in if cfg!(miri) { &[3][..] } else { &[2, 3][..] } {
            let fx = Fixture::new(threads);
            for exec in fx.executors(&schedules(chunk_params(&[1, 7]))) {
                let e = exec.as_ref();
                assert_eq!(pairwise_sum(e, &x).to_bits(), reference.0.to_bits(), "{}", e.label());
                assert_eq!(pairwise_sum_tasks(e, &x).to_bits(), reference.1.to_bits(), "{}", e.label());
            }
        }
    });
}

#[test]
fn nan_and_infinity_propagate() {
    let fx = Fixture::new(2);
    for n in [1, LANES + 1, 70] {
        let mut x = vec![0.5; n];
        x[n / 2] = f64::NAN;
        assert!(pairwise_sum(&fx.pool, &x).is_nan());
        assert!(mirror(&x).is_nan());
        x[n / 2] = f64::INFINITY;
        // Inf·Inf = Inf and Inf·0.5 = Inf: the sum is +Inf.
        assert_eq!(pairwise_sum(&fx.pool, &x), f64::INFINITY);
        assert_eq!(mirror(&x), f64::INFINITY);
    }
}

#[test]
fn edge_cases() {
    assert_eq!(pairwise_sum(&Sequential, &[]), 0.0);
    assert_eq!(pairwise_sum_strided(&Sequential, &[1.0], 0), Err(Error::ZeroPartitions));
    assert_eq!(pairwise_sum_strided(&Sequential, &[1.0, 2.0], 9), Ok(9.0));
    let fx = Fixture::new(2);
    assert!(fma_peak(&fx.pool, 10_000).is_finite());
}
