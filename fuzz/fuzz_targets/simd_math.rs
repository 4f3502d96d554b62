//! Any f64 values (every bit pattern: NaN, ±Inf, subnormals, the overflow
//! and underflow edges): `nogil::simd::exp` and `ln` on every SIMD path this
//! CPU runs stay within 2 and 1 ulps of `libm`, NaN where `libm` is NaN, and
//! every path gives each value the same answer whatever its neighbours.
#![no_main]

mod common;

use common::f64s;
use libfuzzer_sys::fuzz_target;
use nogil::simd::{Isa, exp, ln, with_isa};

/// Distance in ulps over the whole line; NaN against NaN is 0.
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
    }
    let ordered = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 { i64::MIN.wrapping_sub(bits) } else { bits }
    };
    ordered(a).abs_diff(ordered(b))
}

fuzz_target!(|data: &[u8]| {
    let x = f64s(data, 64);
    for isa in Isa::available() {
        for (f, reference, most, name) in
            [(exp as fn(&mut [f64]), libm::exp as fn(f64) -> f64, 2, "exp"), (ln, libm::log, 1, "ln")]
        {
            let mut got = x.clone();
            with_isa(isa, || f(&mut got)).unwrap();
            for (&v, &g) in x.iter().zip(&got) {
                let want = reference(v);
                assert!(ulps(g, want) <= most, "{isa}: {name}({v:e}) = {g:e}, libm says {want:e}");
                // One value alone (the tail path) gives the same answer.
                let mut one = [v];
                with_isa(isa, || f(&mut one)).unwrap();
                assert_eq!(one[0].to_bits(), g.to_bits(), "{isa}: {name}({v:e}) depends on its neighbours");
            }
        }
    }
});
