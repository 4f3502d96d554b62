//! Any f64 values (NaN, ±Inf, subnormals, huge and tiny), at any alignment:
//! the SIMD and parallel `summarize` agree with the mirror within the
//! documented bound, NaN and Inf propagate identically, and the parallel
//! result is bit-identical to the sequential one.
#![no_main]

mod common;

use common::{f64s, on_some_path, pool};
use libfuzzer_sys::fuzz_target;
use nogil::Sequential;
use nogil::kernels::summarize::{summarize, summarize_raw, summarize_simd};

fuzz_target!(|data: &[u8]| on_some_path(data, || check(data)));

/// The target's checks of one input.
fn check(data: &[u8]) {
    // First byte: a start offset 0..8 into an f64 buffer, so slices start at
    // any element; the rest: values.
    let Some((&skip, rest)) = data.split_first() else { return };
    let values: Vec<f64> = f64s(rest, usize::MAX);
    let x = &values[(skip as usize % 8).min(values.len())..];
    // SAFETY: x is a live slice of x.len() values.
    let mirror = unsafe { summarize_raw(x.as_ptr(), x.len()) };
    let simd = summarize_simd(x);
    let seq = summarize(&Sequential, x);
    let par = summarize(pool(), x);
    assert_eq!(mirror.len, x.len());
    assert_eq!((simd.len, seq.len, par.len), (x.len(), x.len(), x.len()));
    assert_eq!(seq.sum.to_bits(), par.sum.to_bits(), "parallel result must be bit-identical");
    let has_nan = x.iter().any(|v| v.is_nan());
    let pos_inf = x.contains(&f64::INFINITY);
    let neg_inf = x.contains(&f64::NEG_INFINITY);
    if has_nan || (pos_inf && neg_inf) {
        assert!(mirror.sum.is_nan() && simd.sum.is_nan() && seq.sum.is_nan());
        return;
    }
    let abs: f64 = x.iter().map(|v| v.abs()).sum();
    if !abs.is_finite() {
        return; // overflow depends on the order; no bound to hold
    }
    let n = x.len() as f64;
    let bound = 2.0 * n * f64::EPSILON * abs / (1.0 - n * f64::EPSILON);
    for (name, s) in [("simd", simd.sum), ("blocks", seq.sum)] {
        assert!((s - mirror.sum).abs() <= bound, "{name}: {s} vs mirror {} (bound {bound})", mirror.sum);
    }
}
