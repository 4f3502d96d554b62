//! The SIMD lane type, chosen once at compile time.
//!
//! `build.rs` reads the target features the crate is compiled with and sets
//! `cfg(nogil_lanes)`: 8 f64 lanes (`wide::f64x8`, one AVX-512 register) when
//! AVX-512F is enabled, otherwise 4 (`wide::f64x4`: one AVX2 register, or two
//! 128-bit halves on SSE2 and NEON). Kernels are written against [`F64s`] and
//! [`LANES`] and never name an instruction set. This is the only module that
//! reads the cfg.

/// The f64 lane vector every kernel uses.
#[cfg(nogil_lanes = "8")]
pub type F64s = wide::f64x8;
/// The f64 lane vector every kernel uses.
#[cfg(not(nogil_lanes = "8"))]
pub type F64s = wide::f64x4;

/// The u64 lane vector of the same width (for bit manipulation).
#[cfg(nogil_lanes = "8")]
type U64s = wide::u64x8;
#[cfg(not(nogil_lanes = "8"))]
type U64s = wide::u64x4;

/// Number of f64 lanes in [`F64s`].
pub const LANES: usize = core::mem::size_of::<F64s>() / core::mem::size_of::<f64>();

/// Loads one vector from `LANES` consecutive values (no alignment needed).
#[inline(always)]
pub fn load(chunk: &[f64; LANES]) -> F64s {
    F64s::new(*chunk)
}

/// Sums the lanes of `v` in a fixed pairwise order (`(l0+l1)+(l2+l3)` for 4
/// lanes, and the same tree over 8), whatever the instruction set.
///
/// The order is fixed so scalar references can reproduce a SIMD result to
/// the bit: [`pairwise`] applied to `v.to_array()` is this function.
#[inline(always)]
pub fn hsum(v: F64s) -> f64 {
    // LANES is a power of two, so pairing neighbours level by level is the
    // same tree as `pairwise`'s recursive halving; written as a loop over a
    // fixed-size array it unrolls completely.
    let mut a = v.to_array();
    let mut len = LANES;
    while len > 1 {
        len /= 2;
        for i in 0..len {
            a[i] = a[2 * i] + a[2 * i + 1];
        }
    }
    a[0]
}

/// fdlibm's split of ln 2 into `LN2_HI + LN2_LO`: `LN2_HI` has 21 trailing
/// zero bits, so `n·LN2_HI` is exact for every `|n| ≤ 2048`.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// `eˣ` lane by lane for `x ≤ 0`, the range of a log-sum-exp's terms.
///
/// Accurate to about 1 ulp (range reduction by `ln 2` split in two parts as
/// fdlibm does, then a degree-13 Taylor polynomial on `|r| ≤ ln(2)/2`).
/// `−∞` gives 0 and NaN gives NaN. Results below `2⁻¹⁰²²` (`x < −708.39`)
/// are flushed to 0 instead of being returned as subnormals: an absolute
/// error below `2.3·10⁻³⁰⁸`. About a third of the instructions of a
/// general-purpose vector `exp`, which must also handle overflow and
/// subnormals. For `x > 0` the result is unspecified (but never UB).
#[inline(always)]
pub fn exp_nonpositive(x: F64s) -> F64s {
    // 1.5·2⁵²: adding it rounds to an integer held in the low mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    const LIMIT: f64 = -708.39;
    let t = x.mul_add(F64s::splat(std::f64::consts::LOG2_E), F64s::splat(SHIFTER));
    let n = t - F64s::splat(SHIFTER);
    let r = n.mul_neg_add(F64s::splat(LN2_HI), x);
    let r = n.mul_neg_add(F64s::splat(LN2_LO), r);
    // Taylor coefficients 1/0!, 1/1!, …, 1/13!, by Estrin's scheme: the
    // dependency chain is 5 multiply-adds deep instead of Horner's 13, so
    // the many independent exps of a log-sum-exp overlap in the pipeline.
    const C: [f64; 14] = [
        1.0,
        1.0,
        0.5,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let c = |i: usize| F64s::splat(C[i]);
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q0 = r.mul_add(c(1), c(0));
    let q1 = r.mul_add(c(3), c(2));
    let q2 = r.mul_add(c(5), c(4));
    let q3 = r.mul_add(c(7), c(6));
    let q4 = r.mul_add(c(9), c(8));
    let q5 = r.mul_add(c(11), c(10));
    let q6 = r.mul_add(c(13), c(12));
    let s0 = q1.mul_add(r2, q0);
    let s1 = q3.mul_add(r2, q2);
    let s2 = q5.mul_add(r2, q4);
    let t0 = s1.mul_add(r4, s0);
    let t1 = q6.mul_add(r4, s2);
    let p = t1.mul_add(r8, t0);
    // 2ⁿ from the low bits of t: (n + 1023) << 52; the shifter's own bits
    // (0x4338 << 48) vanish in the shift. Valid for n ≥ −1022, which the
    // mask below guarantees for every lane it keeps.
    let bits: U64s = bytemuck::cast(t);
    let scale: F64s = bytemuck::cast((bits + U64s::splat(1023)) << 52);
    let keep = !x.simd_lt(F64s::splat(LIMIT));
    (p * scale) & keep
}

/// `ln x` lane by lane for positive normal `x`, the range of a log-sum-exp's
/// sum (which is at least 1).
///
/// Accurate to about 1 ulp: `x = 2ᵉ·m` with `m ∈ [√½, √2)`, then
/// `ln m = 2·atanh(f)`, `f = (m−1)/(m+1)`, by its odd series to `f¹⁹`
/// (`|f| ≤ 0.172`). NaN gives NaN, and so does `+∞`; zero, negative and
/// subnormal inputs give unspecified values (but never UB).
#[inline(always)]
pub fn ln_normal(x: F64s) -> F64s {
    const TWO52: f64 = 4_503_599_627_370_496.0;
    let bits: U64s = bytemuck::cast(x);
    // The biased exponent as a float: its bits ORed into 2⁵²'s mantissa.
    let biased: F64s = bytemuck::cast((bits >> 52) | U64s::splat(TWO52.to_bits()));
    let e = biased - F64s::splat(TWO52 + 1023.0);
    let m: F64s = bytemuck::cast((bits & U64s::splat(0x000F_FFFF_FFFF_FFFF)) | U64s::splat(1.0f64.to_bits()));
    let big = m.simd_gt(F64s::splat(std::f64::consts::SQRT_2));
    let m = (big & (m * F64s::splat(0.5))) | (!big & m);
    let e = e + (big & F64s::splat(1.0));
    let f = (m - F64s::splat(1.0)) / (m + F64s::splat(1.0));
    let f2 = f * f;
    // ln m = 2f + 2f·f2·Σₖ f2ᵏ/(2k+3), k = 0..=8: the small correction is
    // added last, so its rounding errors shrink by f2 ≤ 0.03; the sum by
    // Estrin's scheme (chain depth 4, not 9).
    let c = |k: usize| F64s::splat(1.0 / (2 * k + 3) as f64);
    let u2 = f2 * f2;
    let u4 = u2 * u2;
    let u8 = u4 * u4;
    let q0 = f2.mul_add(c(1), c(0));
    let q1 = f2.mul_add(c(3), c(2));
    let q2 = f2.mul_add(c(5), c(4));
    let q3 = f2.mul_add(c(7), c(6));
    let p = c(8).mul_add(u8, q3.mul_add(u2, q2).mul_add(u4, q1.mul_add(u2, q0)));
    let tf = f + f;
    let ln_m = (tf * f2).mul_add(p, tf);
    // x − x is 0 for finite x and NaN for NaN or ±∞: the propagation.
    #[allow(clippy::eq_op)]
    let nan = x - x;
    e.mul_add(F64s::splat(LN2_HI), e.mul_add(F64s::splat(LN2_LO), ln_m)) + nan
}

/// Folds `x` with four independent vector accumulators over `4·LANES`-value
/// steps (`step(acc, v)` per vector), combines them `(a0 + a1) + (a2 + a3)`,
/// sums the lanes with [`hsum`], then folds the tail (fewer than `4·LANES`
/// values) left to right with `tail(sum, value)`.
///
/// Four accumulators hide the latency of the add or multiply-add; the fixed
/// combination order makes the result reproducible by a scalar reference.
#[inline(always)]
pub fn fold4(x: &[f64], step: impl Fn(F64s, F64s) -> F64s, tail: impl Fn(f64, f64) -> f64) -> f64 {
    let (steps, rest) = x.as_chunks::<{ 4 * LANES }>();
    let mut acc = [F64s::splat(0.0); 4];
    for chunk in steps {
        let (vectors, _) = chunk.as_chunks::<LANES>();
        for (a, v) in acc.iter_mut().zip(vectors) {
            *a = step(*a, load(v));
        }
    }
    let sum = hsum((acc[0] + acc[1]) + (acc[2] + acc[3]));
    rest.iter().fold(sum, |s, &v| tail(s, v))
}

/// Sums `a` by recursive halving: the left half's sum plus the right half's.
pub fn pairwise(a: &[f64]) -> f64 {
    match a.len() {
        0 => 0.0,
        1 => a[0],
        n => pairwise(&a[..n / 2]) + pairwise(&a[n / 2..]),
    }
}

/// What this build of nogil was compiled with.
///
/// Benches and the `nogil` program print it beside every figure, because the
/// same code runs at different speeds with 4 and 8 lanes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub target: &'static str,
    /// The SIMD-relevant target features enabled, comma-separated.
    pub features: &'static str,
    /// f64 lanes per vector: 8 or 4.
    pub lanes: usize,
    /// `"avx512"`, `"avx2"` or `"portable"`.
    pub isa: &'static str,
    /// Cargo profile (`debug` or `release`).
    pub profile: &'static str,
    /// Optimisation level (`0` … `3`, `s`, `z`).
    pub opt_level: &'static str,
}

/// Reports the target, enabled SIMD features, lane width and profile of this build.
///
/// ```
/// let info = nogil::build_info();
/// assert_eq!(info.lanes, nogil::simd::LANES);
/// println!("{info}");
/// ```
pub fn build_info() -> BuildInfo {
    BuildInfo {
        target: env!("NOGIL_BUILD_TARGET"),
        features: env!("NOGIL_BUILD_FEATURES"),
        lanes: LANES,
        isa: env!("NOGIL_BUILD_ISA"),
        profile: env!("NOGIL_BUILD_PROFILE"),
        opt_level: env!("NOGIL_BUILD_OPT_LEVEL"),
    }
}

impl core::fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} {} ({} f64 lanes; features {}; profile {}, opt-level {})",
            self.target,
            self.isa,
            self.lanes,
            if self.features.is_empty() { "none" } else { self.features },
            self.profile,
            self.opt_level
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite f64 of one sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// Values spread over `[lo, hi]`, plus the ends.
    fn sweep(lo: f64, hi: f64, n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n).map(|i| lo + (hi - lo) * ((i as f64 * 0.618_034) % 1.0)).collect();
        v.extend([lo, hi]);
        v
    }

    fn lanes(f: impl Fn(F64s) -> F64s, x: &[f64]) -> Vec<f64> {
        x.chunks(LANES)
            .flat_map(|c| {
                let mut a = [c[0]; LANES];
                a[..c.len()].copy_from_slice(c);
                f(F64s::new(a)).to_array()[..c.len()].to_vec()
            })
            .collect()
    }

    #[test]
    fn exp_nonpositive_is_within_two_ulps_of_std_and_handles_the_edges() {
        let n = if cfg!(miri) { 64 } else { 200_000 };
        let mut x = sweep(-708.0, 0.0, n);
        x.extend(sweep(-1.0, 0.0, n));
        x.extend([-0.0, -1e-300, -f64::MIN_POSITIVE, -0.346_573_590_279_972_65]);
        let got = lanes(exp_nonpositive, &x);
        let worst = x.iter().zip(&got).map(|(&v, &g)| ulps(g, v.exp())).max().unwrap();
        assert!(worst <= 2, "worst error {worst} ulps");
        let edges = [-708.5, -745.2, -1e308, f64::NEG_INFINITY, f64::NAN];
        let got = lanes(exp_nonpositive, &edges);
        assert_eq!(&got[..4], &[0.0; 4], "below 2^-1022 flushes to zero");
        assert!(got[4].is_nan());
    }

    #[test]
    fn ln_normal_is_within_two_ulps_of_std_and_propagates_nan() {
        let n = if cfg!(miri) { 64 } else { 200_000 };
        let mut x = sweep(1.0, 64.0, n);
        x.extend(sweep(f64::MIN_POSITIVE, 1.0, n));
        x.extend(sweep(1.0, 1e300, n));
        x.extend([1.0, std::f64::consts::SQRT_2, 2.0, f64::MAX, std::f64::consts::FRAC_1_SQRT_2]);
        let got = lanes(ln_normal, &x);
        for (&v, &g) in x.iter().zip(&got) {
            let want = v.ln();
            // Near 1 the result is tiny and the absolute error is what counts.
            let ok = ulps(g, want) <= 2 || (g - want).abs() <= 2.0 * f64::EPSILON * want.abs().max(f64::EPSILON);
            assert!(ok, "ln({v}) = {g}, std says {want}");
        }
        let got = lanes(ln_normal, &[f64::NAN, f64::INFINITY]);
        assert!(got[0].is_nan() && got[1].is_nan());
    }

    #[test]
    fn hsum_is_the_pairwise_tree() {
        let v: Vec<f64> = (0..LANES).map(|i| 1.0 + (i as f64) * 1e-17 + 1e16 * (i % 2) as f64).collect();
        let arr: [f64; LANES] = v.clone().try_into().unwrap();
        assert_eq!(hsum(F64s::new(arr)).to_bits(), pairwise(&v).to_bits());
    }

    #[test]
    fn lane_count_matches_the_build_scripts_choice() {
        let recorded: usize = env!("NOGIL_BUILD_LANES").parse().unwrap();
        assert_eq!(LANES, recorded);
        let expected = match build_info().isa {
            "avx512" => 8,
            "avx2" | "portable" => 4,
            other => panic!("unknown isa {other}"),
        };
        assert_eq!(LANES, expected);
    }
}
