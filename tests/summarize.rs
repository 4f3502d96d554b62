//! `summarize` in every form against the mirror and exact references.

mod common;

use common::{Fixture, chunk_params, on_every_path, schedules, size};
use nogil::kernels::summarize::{
    Summary, read_reference, sum_simd, summarize, summarize_compensated, summarize_mirror as mirror, summarize_simd,
    summarize_strided,
};
use nogil::{Error, Sequential};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// The widest path's lanes: lengths around its boundaries cover the
/// 4-lane paths' too (the lengths below run up to `4·LANES + 1`).
const LANES: usize = 8;

/// Lengths around every boundary the kernels have: lanes, the 4-vector
/// step, the 4096-value block, and large.
fn lengths() -> Vec<usize> {
    if cfg!(miri) {
        // The lane, step and tail boundaries, at sizes Miri can run.
        return vec![0, 1, LANES - 1, LANES + 1, 4 * LANES + 1, 8 * LANES + 3];
    }
    let mut v: Vec<usize> = (0..=4 * LANES + 1).collect();
    v.push(8 * LANES + 3);
    if !cfg!(miri) {
        v.extend([4095, 4096, 4097, 3 * 4096 + 17, 100_003, 1_000_000]);
    }
    v
}

#[test]
fn integer_data_sum_exactly_in_every_form_length_and_alignment() {
    on_every_path(|| {
        let fx = Fixture::new(3);
        let execs = fx.executors(&schedules(chunk_params(&[1, 3])));
        let mut rng = StdRng::seed_from_u64(1);
        let base: Vec<f64> = (0..size(1_000_003, 200)).map(|_| rng.random_range(-1000i64..1000) as f64).collect();
        for n in lengths() {
            for &offset in if cfg!(miri) { &[1][..] } else { &[0, 1, 3][..] } {
                let x = &base[offset..offset + n];
                let exact = x.iter().map(|&v| v as i64).sum::<i64>() as f64;
                let expect = Summary { len: n, sum: exact };
                assert_eq!(mirror(x), expect, "mirror n={n}");
                assert_eq!(summarize_simd(x), expect, "simd n={n} offset={offset}");
                for exec in &execs {
                    let e = exec.as_ref();
                    assert_eq!(summarize(e, x), expect, "{} n={n} offset={offset}", e.label());
                    assert_eq!(summarize_compensated(e, x), expect, "compensated {} n={n}", e.label());
                    for &parts in if cfg!(miri) { &[3][..] } else { &[1, 2, 3, 4, 7][..] } {
                        assert_eq!(summarize_strided(e, x, parts), Ok(expect), "strided {parts} {} n={n}", e.label());
                    }
                }
                if n <= 4097 || offset == 0 {
                    assert_eq!(read_reference(&fx.pool, x), exact, "read reference n={n}");
                }
            }
        }
    });
}

/// Values m·2⁻⁴⁰ with |m| < 2⁵⁰: their exact sum fits an i128, so the
/// reference is exact before its single final rounding.
fn fixed_point_data(n: usize, seed: u64) -> (Vec<f64>, f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let ms: Vec<i64> = (0..n).map(|_| rng.random_range(-(1i64 << 50)..(1i64 << 50))).collect();
    let scale = 2f64.powi(-40);
    let x = ms.iter().map(|&m| m as f64 * scale).collect();
    let exact = ms.iter().map(|&m| m as i128).sum::<i128>() as f64 * scale;
    (x, exact)
}

#[test]
fn float_sums_stay_within_their_documented_bounds() {
    on_every_path(|| {
        let eps = f64::EPSILON / 2.0;
        let fx = Fixture::new(2);
        for n in lengths() {
            let (x, exact) = fixed_point_data(n, n as u64);
            let abs_sum: f64 = x.iter().map(|v| v.abs()).sum();
            let k = n.saturating_sub(1) as f64;
            let gamma = k * eps / (1.0 - k * eps);
            let plain_bound = gamma * abs_sum;
            let s_mirror = mirror(&x).sum;
            assert!((s_mirror - exact).abs() <= plain_bound, "mirror n={n}");
            assert!((sum_simd(&x) - exact).abs() <= plain_bound, "simd n={n}");
            let s_par = summarize(&fx.pool, &x).sum;
            assert!((s_par - exact).abs() <= plain_bound, "summarize n={n}");
            let s_comp = summarize_compensated(&fx.pool, &x).sum;
            let comp_bound = 2.0 * eps * exact.abs() + 4.0 * n as f64 * eps * eps * abs_sum;
            assert!((s_comp - exact).abs() <= comp_bound, "compensated n={n}: {s_comp} vs {exact}");
        }
    });
}

#[test]
fn compensation_survives_cancellation_that_defeats_the_plain_sum() {
    // 1e16 + 1 rounds to 1e16; the plain sum loses every 1.
    let mut x = Vec::new();
    for _ in 0..size(1000, 20) {
        x.extend([1e16, 1.0, -1e16]);
    }
    let n_ones = (x.len() / 3) as f64;
    assert_ne!(summarize(&Sequential, &x).sum, n_ones);
    let fx = Fixture::new(3);
    for exec in fx.executors(&schedules(&[1])) {
        assert_eq!(summarize_compensated(exec.as_ref(), &x).sum, n_ones, "{}", exec.label());
    }
}

#[test]
fn results_are_bit_identical_across_executors() {
    on_every_path(|| {
        let (x, _) = fixed_point_data(size(300_001, 300), 9);
        let reference = (summarize(&Sequential, &x), summarize_compensated(&Sequential, &x));
        for &threads in if cfg!(miri) { &[3][..] } else { &[2, 3][..] } {
            let fx = Fixture::new(threads);
            for exec in fx.executors(&schedules(chunk_params(&[1, 7]))) {
                let e = exec.as_ref();
                assert_eq!(summarize(e, &x).sum.to_bits(), reference.0.sum.to_bits(), "{}", e.label());
                assert_eq!(summarize_compensated(e, &x).sum.to_bits(), reference.1.sum.to_bits(), "{}", e.label());
                for parts in [2, 5] {
                    let a = summarize_strided(e, &x, parts).unwrap();
                    let b = summarize_strided(&Sequential, &x, parts).unwrap();
                    assert_eq!(a.sum.to_bits(), b.sum.to_bits(), "strided {parts} {}", e.label());
                }
            }
        }
    });
}

#[test]
fn nan_and_infinities_propagate_as_ieee_addition_says() {
    let fx = Fixture::new(2);
    for n in [1, LANES + 1, 4 * LANES + 1, size(5000, 40)] {
        for at in [0, n / 2, n - 1] {
            for (specials, expect) in [
                (vec![f64::NAN], f64::NAN),
                (vec![f64::INFINITY], f64::INFINITY),
                (vec![f64::NEG_INFINITY], f64::NEG_INFINITY),
                (vec![f64::INFINITY, f64::NEG_INFINITY], f64::NAN),
            ] {
                let mut x = vec![1.5; n + specials.len() - 1];
                for (k, s) in specials.iter().enumerate() {
                    let i = (at + k * (n / 3 + 1)) % x.len();
                    x[i] = *s;
                }
                if specials.len() == 2 && x.iter().filter(|v| v.is_infinite()).count() < 2 {
                    continue; // both landed on one index
                }
                let forms = [
                    ("mirror", mirror(&x).sum),
                    ("simd", sum_simd(&x)),
                    ("summarize", summarize(&fx.pool, &x).sum),
                    ("compensated", summarize_compensated(&fx.pool, &x).sum),
                    ("strided", summarize_strided(&fx.pool, &x, 3).unwrap().sum),
                ];
                for (name, got) in forms {
                    let same = (got.is_nan() && expect.is_nan()) || got == expect;
                    assert!(same, "{name} n={n} at={at} {specials:?}: {got}");
                }
            }
        }
    }
}

#[test]
fn edge_cases_are_answers_not_panics() {
    assert_eq!(summarize_strided(&Sequential, &[1.0], 0), Err(Error::ZeroPartitions));
    assert_eq!(summarize(&Sequential, &[]), Summary { len: 0, sum: 0.0 });
    assert_eq!(summarize(&Sequential, &[]).mean(), None);
    assert_eq!(summarize_strided(&Sequential, &[], 4), Ok(Summary::default()));
    // More partitions than values: the extra partitions are empty.
    assert_eq!(summarize_strided(&Sequential, &[1.0, 2.0], 10), Ok(Summary { len: 2, sum: 3.0 }));
    let x = [2.0, 4.0, 6.0];
    assert_eq!(summarize(&Sequential, &x).mean(), Some(4.0));
}
