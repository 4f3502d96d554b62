//! Any f64 values, up to 97 of them: the register-blocked SIMD pairwise sum
//! agrees with the mirror within `2γ(n²)·(Σ|x|)²`, NaN and ±∞ come out alike
//! wherever the order cannot matter, and the parallel result is
//! bit-identical to the sequential one.
#![no_main]

mod common;

use common::{f64s, on_some_path, pool};
use libfuzzer_sys::fuzz_target;
use nogil::Sequential;
use nogil::kernels::pairwise::{pairwise_sum, pairwise_sum_raw};

fuzz_target!(|data: &[u8]| on_some_path(data, || check(data)));

/// The target's checks of one input.
fn check(data: &[u8]) {
    let Some((&skip, rest)) = data.split_first() else { return };
    let values: Vec<f64> = f64s(rest, 97);
    let x = &values[(skip as usize % 2).min(values.len())..];
    // SAFETY: x is a live slice of x.len() values.
    let mirror = unsafe { pairwise_sum_raw(x.as_ptr(), x.len()) };
    let seq = pairwise_sum(&Sequential, x);
    let par = pairwise_sum(pool(), x);
    assert_eq!(seq.to_bits(), par.to_bits(), "parallel result must be bit-identical");
    // When is the answer NaN whatever the order? A NaN input, or an infinite
    // one with a zero (∞·0) or with a value of the other sign (+∞ and −∞
    // products). Otherwise with infinities every product has one sign and
    // the sum is +∞. With finite inputs only an overflow (Σ|x|)² = ∞ can
    // make the result depend on the order (even NaN from +∞ and −∞ partial sums).
    let has_nan = x.iter().any(|v| v.is_nan());
    let inf_sign = x.iter().find(|v| v.is_infinite()).map(|v| v.is_sign_positive());
    let has_zero = x.contains(&0.0);
    let opposite = inf_sign.is_some_and(|pos| x.iter().any(|&v| v != 0.0 && v.is_sign_positive() != pos));
    if has_nan || (inf_sign.is_some() && (has_zero || opposite)) {
        assert!(mirror.is_nan() && seq.is_nan(), "mirror {mirror}, simd {seq}");
        return;
    }
    if inf_sign.is_some() {
        assert!(mirror == f64::INFINITY && seq == f64::INFINITY, "mirror {mirror}, simd {seq}");
        return;
    }
    let abs: f64 = x.iter().map(|v| v.abs()).sum();
    let scale = abs * abs;
    if !scale.is_finite() {
        return;
    }
    let nn = (x.len() * x.len()) as f64;
    let bound = 2.0 * nn * f64::EPSILON * scale / (1.0 - nn * f64::EPSILON);
    assert!((seq - mirror).abs() <= bound, "simd {seq} vs mirror {mirror} (bound {bound})");
}
