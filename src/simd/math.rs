//! `exp` and `ln` for every lane type, written once over [`Lanes`]; the
//! AVX-512 path overrides the `exp`s with a table and `vscalefpd`.
//!
//! Two forms of each: the kernels' own, for the range a log-sum-exp feeds
//! them ([`exp_nonpositive`], [`ln_normal`]), and the general ones
//! ([`exp`], [`ln`]) behind [`crate::simd::exp`] and [`crate::simd::ln`].
//! The tests hold every form on every path to `libm` over its whole range.

use super::{Kernel, Lanes};

/// fdlibm's split of ln 2 into `LN2_HI + LN2_LO`: `LN2_HI` has 21 trailing
/// zero bits, so `n·LN2_HI` is exact for every `|n| ≤ 2048`.
pub(super) const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
pub(super) const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// Below this, [`exp_nonpositive`] returns 0 (`e⁻⁷⁰⁸·³⁹ ≈ 2⁻¹⁰²²`).
pub(super) const EXP_LIMIT: f64 = -708.39;

/// 1.5·2⁵²: adding it rounds to an integer held in the low mantissa bits.
pub(super) const SHIFTER: f64 = 6_755_399_441_055_744.0;

/// Cody–Waite range reduction in steps of `ln 2 / steps`: with
/// `n = round(x·steps/ln 2)`, `t` holds `n` in its low mantissa bits (it is
/// `n/steps` plus [`SHIFTER`]`/steps`, whose mantissa ends in zeros), `u` is
/// `n/steps` and `r = x − u·ln 2`, with `ln 2` split as fdlibm does. `steps`
/// is a power of two, so `u·LN2_HI` (`n·LN2_HI/steps`) is exact for
/// `|n| < 2²¹`.
#[inline(always)]
pub(super) fn reduce<V: Lanes>(x: V, steps: f64) -> (V, V, V) {
    let t = x.mul_add(V::splat(std::f64::consts::LOG2_E), V::splat(SHIFTER / steps));
    let u = t - V::splat(SHIFTER / steps);
    let r = u.mul_neg_add(V::splat(LN2_HI), x);
    (t, u, u.mul_neg_add(V::splat(LN2_LO), r))
}

/// `eʳ − 1` for `|r| ≤ ln2/2`: `r + r²·Σ rⁱ/(i+2)!`, `i = 0..=11`
/// (truncation below 2⁻⁵⁸), by Estrin's scheme: chain depth 5, not 12.
#[inline(always)]
fn expm1_reduced<V: Lanes>(r: V) -> V {
    let c = |i: u64| V::splat(1.0 / (1..=i).product::<u64>() as f64);
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let a0 = r.mul_add(c(3), c(2));
    let a1 = r.mul_add(c(5), c(4));
    let a2 = r.mul_add(c(7), c(6));
    let a3 = r.mul_add(c(9), c(8));
    let a4 = r.mul_add(c(11), c(10));
    let a5 = r.mul_add(c(13), c(12));
    let b0 = a1.mul_add(r2, a0);
    let b1 = a3.mul_add(r2, a2);
    let b2 = a5.mul_add(r2, a4);
    let p = b2.mul_add(r8, b1.mul_add(r4, b0));
    r2.mul_add(p, r)
}

/// [`Lanes::exp_nonpositive`] without AVX-512: `x = n·ln 2 + r`,
/// `|r| ≤ ln2/2`, a degree-13 polynomial, and `2ⁿ` from the bits of `n`
/// (normal, since `n ≥ −1022` above the cut-off).
#[inline(always)]
pub(super) fn exp_nonpositive<V: Lanes>(x: V) -> V {
    let keep = !x.cmp_lt(V::splat(EXP_LIMIT));
    let (t, _, r) = reduce(x, 1.0);
    let scale = V::pow2_shifted(t);
    scale.mul_add(expm1_reduced(r), scale).keep(keep)
}

/// [`Lanes::exp`] without AVX-512: as [`exp_nonpositive`] on `x` clamped to
/// `[−1100, 710]`, with `2ⁿ` applied as `2ⁿ⁻ᵇ·2ᵇ` so both factors are
/// normal (`b = −1000` below `n = −1022`, `b = 1` at `n = 1024`): the
/// first product is exact, the second rounds once into a subnormal or
/// overflows to `+∞`. NaN kept.
#[inline(always)]
pub(super) fn exp<V: Lanes>(x: V) -> V {
    let xc = x.max(V::splat(-1100.0)).min(V::splat(710.0));
    let (t, u, r) = reduce(xc, 1.0);
    let low = u.cmp_lt(V::splat(-1022.0));
    let high = u.cmp_gt(V::splat(1023.0));
    // t holds n in its low bits, one unit per ulp: adding b's opposite moves n.
    let shift = V::select(low, V::splat(1000.0), V::select(high, V::splat(-1.0), V::zero()));
    let scale = V::pow2_shifted(t + shift);
    let rest =
        V::select(low, V::splat(f64::from_bits(0x0170_0000_0000_0000)), V::select(high, V::splat(2.0), V::splat(1.0)));
    let y = scale.mul_add(expm1_reduced(r), scale) * rest;
    V::select(x.cmp_eq(x), y, x)
}

/// `ln` of `x ∈ [√½·2ᵉ, √2·2ᵉ)` given as `e` and `f = x/2ᵉ − 1`, fdlibm's
/// way: `s = f/(2 + f)`, `R(s²)` of degree 7, and the small terms added
/// before the large ones. Faithfully rounded (below 1 ulp).
#[inline(always)]
fn ln_reduced<V: Lanes>(e: V, f: V) -> V {
    const LG: [f64; 7] = [
        f64::from_bits(0x3FE5_5555_5555_5593),
        f64::from_bits(0x3FD9_9999_9997_FA04),
        f64::from_bits(0x3FD2_4924_9422_9359),
        f64::from_bits(0x3FCC_71C5_1D8E_78AF),
        f64::from_bits(0x3FC7_4664_96CB_03DE),
        f64::from_bits(0x3FC3_9A09_D078_C69F),
        f64::from_bits(0x3FC2_F112_DF3E_5244),
    ];
    let c = |i: usize| V::splat(LG[i]);
    let s = f / (V::splat(2.0) + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(w.mul_add(c(5), c(3)), c(1));
    let t2 = z * w.mul_add(w.mul_add(w.mul_add(c(6), c(4)), c(2)), c(0));
    let r = t2 + t1;
    let hfsq = V::splat(0.5) * f * f;
    // s·(hfsq + R) + e·ln2_lo − hfsq + f + e·ln2_hi, in that order.
    let small = s.mul_add(hfsq + r, e * V::splat(LN2_LO)) - hfsq;
    e.mul_add(V::splat(LN2_HI), small + f)
}

/// `x = 2ᵉ·m` with `m ∈ [√½, √2)`: [`Lanes::split_exponent`], the
/// mantissas past √2 halved.
#[inline(always)]
fn split_sqrt2<V: Lanes>(x: V) -> (V, V) {
    let (e, m) = x.split_exponent();
    let big = m.cmp_gt(V::splat(std::f64::consts::SQRT_2));
    (e + V::splat(1.0).keep(big), V::select(big, m * V::splat(0.5), m))
}

/// [`Lanes::ln_normal`]: [`ln_reduced`], NaN for NaN and `+∞` (`x − x`).
#[inline(always)]
pub(super) fn ln_normal<V: Lanes>(x: V) -> V {
    let (e, m) = split_sqrt2(x);
    #[allow(clippy::eq_op)]
    let nan = x - x;
    ln_reduced(e, m - V::splat(1.0)) + nan
}

/// [`Lanes::ln`]: subnormal `x` scaled by 2⁵⁴ first, then [`ln_reduced`];
/// `ln ±0 = −∞`, `ln ∞ = ∞`, NaN for negative `x` and NaN.
#[inline(always)]
pub(super) fn ln<V: Lanes>(x: V) -> V {
    let tiny = x.cmp_lt(V::splat(f64::MIN_POSITIVE));
    let scaled = V::select(tiny, x * V::splat(f64::from_bits(0x4350_0000_0000_0000)), x);
    let (e, m) = split_sqrt2(scaled);
    let e = e - V::splat(54.0).keep(tiny);
    let y = ln_reduced(e, m - V::splat(1.0));
    let finite = x.cmp_gt(V::zero()) & x.cmp_lt(V::splat(f64::INFINITY));
    // ±0 → −∞; +∞ → +∞ (x itself); negative and NaN → NaN.
    let zero = x.cmp_eq(V::zero());
    let inf = x.cmp_eq(V::splat(f64::INFINITY));
    let special = V::select(zero, V::splat(f64::NEG_INFINITY), V::select(inf, x, V::splat(f64::NAN)));
    V::select(finite, y, special)
}

/// Which lane function [`InPlace`] applies: the general ones, and (for the
/// tests) the kernels' restricted ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Function {
    Exp,
    Ln,
    #[cfg(test)]
    ExpNonpositive,
    #[cfg(test)]
    LnNormal,
}

impl Function {
    /// The function of `v`'s lanes (a method, not a closure: see [`Kernel`]).
    #[inline(always)]
    fn apply<V: Lanes>(self, v: V) -> V {
        match self {
            Function::Exp => v.exp(),
            Function::Ln => v.ln(),
            #[cfg(test)]
            Function::ExpNonpositive => v.exp_nonpositive(),
            #[cfg(test)]
            Function::LnNormal => v.ln_normal(),
        }
    }
}

/// A lane function of every value, in place: whole vectors, then the tail
/// padded to one.
pub(super) struct InPlace<'a>(pub(super) &'a mut [f64], pub(super) Function);

impl Kernel for InPlace<'_> {
    type Output = ();

    #[inline(always)]
    fn run<V: Lanes>(self) {
        let InPlace(values, function) = self;
        let mut chunks = values.chunks_exact_mut(V::LANES);
        for chunk in &mut chunks {
            function.apply(V::load(chunk)).store(chunk);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let mut pad = [1.0; 8];
            pad[..tail.len()].copy_from_slice(tail);
            let out = function.apply(V::load(&pad)).to_array();
            let n = tail.len();
            tail.copy_from_slice(&out[..n]);
        }
    }
}
