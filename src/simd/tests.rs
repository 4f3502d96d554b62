//! Every lane type against plain references: the lane operations the
//! kernels build on, and `exp`/`ln` against `libm` over their whole ranges,
//! on every path this CPU can run.

use super::*;

use math::Function as F;

fn apply(simd: Simd, f: F, x: &[f64]) -> Vec<f64> {
    let mut out = x.to_vec();
    simd.run(math::InPlace(&mut out, f));
    out
}

/// Distance in units in the last place, over the whole line: values of
/// opposite signs count the ulps through zero; two NaNs are 0 apart, a NaN
/// and a number infinitely far.
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

/// SplitMix64: deterministic draws for the sweeps.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Points per sweep: at least 10⁷ per function and path natively.
fn count(native: usize) -> usize {
    if cfg!(miri) { 96 } else { native }
}

/// The largest distance from `libm`'s answer, and where.
fn worst(simd: Simd, f: F, x: &[f64], reference: fn(f64) -> f64) -> (u64, f64, f64, f64) {
    let got = apply(simd, f, x);
    x.iter().zip(&got).map(|(&v, &g)| (ulps(g, reference(v)), v, g, reference(v))).max_by_key(|w| w.0).unwrap()
}

#[test]
fn exp_is_within_two_ulps_of_libm_over_the_whole_range_on_every_path() {
    let mut draws = Draws(1);
    // The whole range, both ends past the limits, then |x| small (results
    // near 1), the subnormal results and the overflow edge.
    let mut x: Vec<f64> = (0..count(6_000_000)).map(|_| draws.uniform(-746.0, 710.0)).collect();
    x.extend((0..count(2_000_000)).map(|_| {
        let t = draws.uniform(-60.0, 0.0).exp2();
        if draws.next().is_multiple_of(2) { t } else { -t }
    }));
    x.extend((0..count(1_000_000)).map(|_| draws.uniform(-745.2, -708.3)));
    x.extend((0..count(1_000_000)).map(|_| draws.uniform(700.0, 709.8)));
    x.extend([
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        1.0,
        -1.0,
        709.782_712_893_383_9,
        709.782_712_893_384,
        709.782_712_893_384_1,
        710.0,
        -708.396_418_532_264_1,
        -708.396_418_532_264_2,
        -745.133_219_101_941_1,
        -745.133_219_101_941_2,
        -745.2,
        -1e308,
        1e308,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
    ]);
    assert!(cfg!(miri) || x.len() >= 10_000_000);
    for simd in Simd::each() {
        let (err, at, got, want) = worst(simd, F::Exp, &x, libm::exp);
        assert!(err <= 2, "{:?}: exp({at:e}) = {got:e}, libm says {want:e} ({err} ulps)", simd.isa());
        let edges = apply(simd, F::Exp, &[f64::INFINITY, f64::NEG_INFINITY, 710.0, -746.0, 0.0, -0.0]);
        assert_eq!(edges, [f64::INFINITY, 0.0, f64::INFINITY, 0.0, 1.0, 1.0], "{:?}", simd.isa());
        assert!(apply(simd, F::Exp, &[f64::NAN])[0].is_nan());
    }
}

#[test]
fn exp_nonpositive_is_within_two_ulps_of_libm_and_flushes_below_its_limit() {
    let mut draws = Draws(2);
    let mut x: Vec<f64> = (0..count(2_000_000)).map(|_| draws.uniform(-708.39, 0.0)).collect();
    x.extend((0..count(500_000)).map(|_| -draws.uniform(-60.0, 0.0).exp2()));
    x.extend([-0.0, 0.0, -1e-300, -f64::MIN_POSITIVE, -0.346_573_590_279_972_65, -708.39]);
    for simd in Simd::each() {
        let (err, at, got, want) = worst(simd, F::ExpNonpositive, &x, libm::exp);
        assert!(err <= 2, "{:?}: exp({at:e}) = {got:e}, libm says {want:e} ({err} ulps)", simd.isa());
        let edges = apply(simd, F::ExpNonpositive, &[-708.5, -745.2, -1e308, f64::NEG_INFINITY, f64::NAN]);
        assert_eq!(&edges[..4], &[0.0; 4], "{:?}: below 2^-1022 flushes to zero", simd.isa());
        assert!(edges[4].is_nan());
    }
}

/// Positive finite doubles with every exponent equally likely (subnormals
/// included), then values near 1, where `ln` is small.
fn ln_points(draws: &mut Draws, n: usize) -> Vec<f64> {
    let mut x: Vec<f64> =
        (0..n).map(|_| f64::from_bits(draws.next() % f64::INFINITY.to_bits())).filter(|v| *v > 0.0).collect();
    x.extend((0..n / 4).map(|_| 1.0 + draws.uniform(-0.3, 0.42)));
    x.extend((0..n / 8).map(|_| 1.0 + draws.uniform(-1e-6, 1e-6)));
    x
}

#[test]
fn ln_is_within_one_ulp_of_libm_over_the_whole_range_on_every_path() {
    let mut x = ln_points(&mut Draws(3), count(8_000_000));
    x.extend([
        5e-324,
        1e-310,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE * (1.0 - f64::EPSILON),
        1.0,
        1.0 + f64::EPSILON,
        1.0 - f64::EPSILON / 2.0,
        std::f64::consts::SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
        2.0,
        f64::MAX,
    ]);
    assert!(cfg!(miri) || x.len() >= 10_000_000);
    for simd in Simd::each() {
        let (err, at, got, want) = worst(simd, F::Ln, &x, libm::log);
        assert!(err <= 1, "{:?}: ln({at:e}) = {got:e}, libm says {want:e} ({err} ulps)", simd.isa());
        let edges = apply(simd, F::Ln, &[0.0, -0.0, f64::INFINITY, 1.0, 5e-324]);
        assert_eq!(&edges[..4], &[f64::NEG_INFINITY, f64::NEG_INFINITY, f64::INFINITY, 0.0], "{:?}", simd.isa());
        assert!(edges[4].is_finite(), "{:?}: ln of a subnormal is finite", simd.isa());
        let nans = apply(simd, F::Ln, &[-1.0, -5e-324, f64::NEG_INFINITY, f64::NAN]);
        assert!(nans.iter().all(|v| v.is_nan()), "{:?}: {nans:?}", simd.isa());
    }
}

#[test]
fn ln_normal_is_within_one_ulp_of_libm_and_propagates_nan() {
    let x: Vec<f64> = ln_points(&mut Draws(4), count(2_000_000)).into_iter().filter(|v| v.is_normal()).collect();
    for simd in Simd::each() {
        let (err, at, got, want) = worst(simd, F::LnNormal, &x, libm::log);
        assert!(err <= 1, "{:?}: ln({at:e}) = {got:e}, libm says {want:e} ({err} ulps)", simd.isa());
        let got = apply(simd, F::LnNormal, &[f64::NAN, f64::INFINITY]);
        assert!(got[0].is_nan() && got[1].is_nan(), "{:?}", simd.isa());
    }
}

#[test]
fn the_public_exp_and_ln_are_the_lane_functions() {
    let mut draws = Draws(5);
    let x: Vec<f64> = (0..1003).map(|_| draws.uniform(-700.0, 700.0)).collect();
    let mut e = x.clone();
    exp(&mut e);
    assert_eq!(e, apply(Simd::active(), F::Exp, &x));
    let mut l: Vec<f64> = x.iter().map(|v| v.abs()).collect();
    let want = apply(Simd::active(), F::Ln, &l);
    ln(&mut l);
    assert_eq!(l, want);
}

/// A kernel that checks the lane operations against their definitions,
/// returning the first failure.
struct LaneOps {
    /// Whether this path's multiply-add rounds once.
    fused: bool,
}

impl Kernel for LaneOps {
    type Output = Result<(), String>;

    #[inline(always)]
    fn run<V: Lanes>(self) -> Result<(), String> {
        let n = V::LANES;
        let lane = |v: V, i: usize| v.to_array()[i];
        let ramp = V::from_fn(|i| i as f64);
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        // Magnitudes from 1e-3 to 1e16, so the order of additions shows in the bits.
        let value = |v: usize, l: usize| {
            let i = (v * n + l) as f64;
            (i * 0.37).sin() * 10f64.powi(((v * 7 + l * 5) % 20) as i32 - 3)
        };
        let vs: Vec<V> = (0..n).map(|v| V::from_fn(|l| value(v, l))).collect();
        for v in &vs {
            check(v.hsum().to_bits() == pairwise(&v.to_array()[..n]).to_bits(), "hsum is the pairwise tree")?;
        }
        let sums = V::hsums(&vs);
        for (i, v) in vs.iter().enumerate() {
            check(lane(sums, i).to_bits() == v.hsum().to_bits(), "hsums is hsum of each vector")?;
        }
        let in_order = |v: &V| v.to_array()[..n].iter().fold(0.0, |a, &b| a + b);
        check(vs.iter().any(|v| in_order(v) != v.hsum()), "the data tell the orders apart")?;
        let mut t = vs.clone();
        V::transpose(&mut t);
        for (j, col) in t.iter().enumerate() {
            for (i, row) in vs.iter().enumerate() {
                check(lane(*col, i) == lane(*row, j), "transpose swaps lanes and vectors")?;
            }
        }
        fn columns<V: Lanes, const D: usize>() -> bool {
            let v: Vec<f64> = (0..D * V::LANES).map(|i| i as f64 * 1.5 - 7.0).collect();
            let (rows, _) = v.as_chunks::<D>();
            let cols = V::load_columns::<D>(rows);
            (0..D).all(|j| (0..V::LANES).all(|i| cols[j].to_array()[i] == v[i * D + j]))
        }
        check(columns::<V, 1>() && columns::<V, 2>(), "load_columns, D = 1, 2")?;
        check(columns::<V, 3>() && columns::<V, 4>() && columns::<V, 5>(), "load_columns, D = 3, 4, 5")?;
        for count in 0..=n {
            let m = V::lanes_below(count);
            let kept = V::splat(2.0).keep(m);
            let picked = V::select(m, V::splat(1.0), V::splat(-1.0));
            for i in 0..n {
                check(lane(kept, i) == if i < count { 2.0 } else { 0.0 }, "lanes_below and keep")?;
                check(lane(picked, i) == if i < count { 1.0 } else { -1.0 }, "select")?;
            }
        }
        let (a, b) = (V::from_fn(|i| [1.0, f64::NAN, -2.0, 0.5][i % 4]), V::splat(0.5));
        for i in 0..n {
            let (x, y) = (lane(a, i), 0.5);
            check(lane(a.max(b), i).to_bits() == (if x > y { x } else { y }).to_bits(), "max is maxpd")?;
            check(lane(a.min(b), i).to_bits() == (if x < y { x } else { y }).to_bits(), "min is minpd")?;
            check(lane((-a).abs(), i).to_bits() == x.abs().to_bits(), "abs and neg")?;
            let flags = [(a.cmp_lt(b), x < y), (a.cmp_eq(b), x == y), (a.cmp_ge(b), x >= y), (a.cmp_gt(b), x > y)];
            for (m, want) in flags {
                check((lane(V::splat(1.0).keep(m), i) == 1.0) == want, "comparisons are ordered and quiet")?;
            }
        }
        let fused = V::splat(1.0 + f64::EPSILON).mul_add(V::splat(1.0 - f64::EPSILON), V::splat(-1.0));
        if self.fused {
            check(lane(fused, 0) == -f64::EPSILON * f64::EPSILON, "mul_add rounds once")?;
        }
        let mut m = Matches::<V>::none();
        let first = m.first(ramp, V::splat(1.0));
        let again = m.first(ramp, V::splat(1.0));
        check(lane(first, 1) == 1.0 && lane(first, 0) == 0.0 && lane(again, 1) == 0.0, "Matches::first")?;
        let (e, mant) = V::splat(48.0).split_exponent();
        check(lane(e, 0) == 5.0 && lane(mant, 0) == 1.5, "split_exponent")?;
        let t = V::splat(-3.0) + V::splat(math::SHIFTER);
        check(lane(V::pow2_shifted(t), 0) == 0.125, "pow2_shifted")?;
        let mut stored = [0.0; 8];
        ramp.store(&mut stored);
        check(stored[..n].iter().enumerate().all(|(i, &v)| v == i as f64), "store")?;
        check(fold4::<V>(&(1..=37).map(f64::from).collect::<Vec<_>>(), |a, v| a + v, |s, v| s + v) == 703.0, "fold4")
    }
}

#[test]
fn lane_operations_keep_their_definitions_on_every_path() {
    for simd in Simd::each() {
        let fused = simd.isa() != Isa::Portable || cfg!(any(target_feature = "fma", target_arch = "aarch64"));
        if let Err(what) = simd.run(LaneOps { fused }) {
            panic!("{:?}: {what}", simd.isa());
        }
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn the_exp_table_holds_the_sixteenths_of_an_octave() {
    for (j, &v) in avx512::EXP2_TABLE.as_flattened().iter().enumerate() {
        assert!(ulps(v, (j as f64 / 16.0).exp2()) <= 1, "2^({j}/16)");
    }
}

#[test]
fn paths_parse_and_a_missing_one_is_refused() {
    for isa in Isa::ALL {
        assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        assert_eq!(isa.name().to_uppercase().parse::<Isa>().unwrap(), isa);
        assert_eq!(Simd::new(isa).is_ok(), isa.supported());
    }
    assert!("sse9".parse::<Isa>().is_err());
    assert!(Isa::Portable.supported() && Isa::available().contains(&Isa::best()));
    assert_eq!(Isa::available().first(), Some(&Isa::best()));
    for isa in Isa::ALL.into_iter().filter(|i| !i.supported()) {
        let err = Simd::new(isa).unwrap_err();
        assert!(err.to_string().contains(isa.name()), "{err}");
    }
    let info = build_info();
    assert_eq!((info.isa, info.lanes), (active().name(), active().lanes()));
    assert!(info.compiled.contains(&Isa::Portable) && info.available.iter().all(|i| info.compiled.contains(i)));
}
