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

/// Asks the cache for `data` ahead of its use, one request per 64-byte
/// line: for streams the hardware prefetcher serves late, such as rows read
/// a tile at a time between long stretches of arithmetic. A hint only; it
/// does nothing off x86-64 and under Miri.
#[inline(always)]
pub fn prefetch(data: &[f64]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if !data.is_empty() {
        // From the start of the first line to the end of the data, in
        // steps of a line.
        let start = data.as_ptr().cast::<i8>();
        let skew = start as usize % 64;
        let (first, bytes) = (start.wrapping_sub(skew), skew + size_of_val(data));
        for offset in (0..bytes).step_by(64) {
            // SAFETY: `_mm_prefetch` needs only SSE, which every x86-64
            // target has; a prefetch reads nothing the program sees and
            // never faults, and every line asked for holds part of `data`.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(first.wrapping_add(offset))
            };
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = data;
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

/// [`hsum`] of `LANES` vectors at once: lane `i` of the result is
/// `hsum(v[i])`, bit for bit.
///
/// With AVX-512, three rounds of pairwise adds of permuted vectors (14
/// two-source permutes and 7 adds for 8 sums, against 56 scalar steps);
/// elsewhere `hsum` lane by lane.
#[inline(always)]
pub fn hsums(v: [F64s; LANES]) -> F64s {
    #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
    return avx512::hsums(v);
    #[cfg(not(all(nogil_lanes = "8", target_arch = "x86_64")))]
    return F64s::new(core::array::from_fn(|i| hsum(v[i])));
}

/// Loads `LANES` rows of `D` values as `D` vectors, vector `j` holding
/// coordinate `j` of every row: the transpose of a row-major block.
///
/// With AVX-512 and `D ≤ 4` this is `D` vector loads and two-source
/// permutes (2, 6 and 8 of them for `D` = 2, 3, 4) instead of `D·LANES`
/// scalar moves.
#[inline(always)]
pub fn load_columns<const D: usize>(rows: &[[f64; D]; LANES]) -> [F64s; D] {
    #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
    if (2..=4).contains(&D) {
        let cols = avx512::columns(rows.as_flattened());
        return core::array::from_fn(|j| cols[j]);
    }
    core::array::from_fn(|j| F64s::new(core::array::from_fn(|i| rows[i][j])))
}

/// The lanes already matched by earlier calls of [`Matches::first`]: for
/// one-hot flags of "the first of equal values".
#[derive(Clone, Copy)]
pub struct Matches(
    #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))] u8,
    #[cfg(not(all(nogil_lanes = "8", target_arch = "x86_64")))] F64s,
);

impl Matches {
    /// No lane matched yet.
    #[inline(always)]
    pub fn none() -> Self {
        #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
        return Matches(0);
        #[cfg(not(all(nogil_lanes = "8", target_arch = "x86_64")))]
        return Matches(F64s::splat(0.0));
    }

    /// 1.0 in the lanes where `x == y` that no earlier call matched, 0.0
    /// elsewhere; those lanes count as matched from now on.
    #[inline(always)]
    pub fn first(&mut self, x: F64s, y: F64s) -> F64s {
        #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
        {
            let hit = avx512::equal(x, y);
            let new = hit & !self.0;
            self.0 |= hit;
            avx512::ones_where(new)
        }
        #[cfg(not(all(nogil_lanes = "8", target_arch = "x86_64")))]
        {
            let hit = x.simd_eq(y);
            let new = hit & !self.0;
            self.0 |= hit;
            new & F64s::splat(1.0)
        }
    }
}

/// The transpose of a `LANES × LANES` block: lane `i` of vector `j` of the
/// result is lane `j` of `rows[i]`.
///
/// With AVX-512, three rounds of eight two-source permutes; elsewhere
/// `wide`'s 4-lane transpose (unpacks and lane swaps on AVX).
#[inline(always)]
pub fn transpose(rows: [F64s; LANES]) -> [F64s; LANES] {
    #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
    return avx512::transpose(rows);
    #[cfg(not(all(nogil_lanes = "8", target_arch = "x86_64")))]
    return F64s::transpose(rows);
}

#[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
mod avx512 {
    use super::{F64s, U64s};
    use core::arch::x86_64::{__m512d, _mm512_permutex2var_pd};

    /// Bit `i` set where lane `i` of `x` equals that of `y`.
    #[inline(always)]
    pub(super) fn equal(x: F64s, y: F64s) -> u8 {
        use core::arch::x86_64::{_CMP_EQ_OQ, _mm512_cmp_pd_mask};
        // SAFETY: as in `permute2`.
        unsafe { _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x.into(), y.into()) }
    }

    /// 1.0 in the lanes whose bit of `m` is set, 0.0 elsewhere.
    #[inline(always)]
    pub(super) fn ones_where(m: u8) -> F64s {
        use core::arch::x86_64::{_mm512_maskz_mov_pd, _mm512_set1_pd};
        // SAFETY: as in `permute2`.
        unsafe { _mm512_maskz_mov_pd(m, _mm512_set1_pd(1.0)) }.into()
    }

    /// `y·2^⌊u⌋` in the lanes where `x` is not below `limit` (NaN is not),
    /// 0 elsewhere: one masked `vscalefpd`.
    #[inline(always)]
    pub(super) fn scale_unless_below(y: F64s, u: F64s, x: F64s, limit: f64) -> F64s {
        use core::arch::x86_64::{_CMP_NLT_UQ, _mm512_cmp_pd_mask, _mm512_maskz_scalef_pd, _mm512_set1_pd};
        // SAFETY: as in `permute2`.
        unsafe {
            let keep = _mm512_cmp_pd_mask::<_CMP_NLT_UQ>(x.into(), _mm512_set1_pd(limit));
            _mm512_maskz_scalef_pd(keep, y.into(), u.into()).into()
        }
    }

    /// `a` and `b` as one 16-lane table, read at `idx` (values 0..16).
    #[inline(always)]
    pub(super) fn permute2(a: F64s, idx: [u64; 8], b: F64s) -> F64s {
        let (a, b): (__m512d, __m512d) = (a.into(), b.into());
        // SAFETY: `nogil_lanes = "8"` is set by build.rs only when AVX-512F
        // is enabled for the whole compilation, so every CPU this build may
        // run on has the instruction; it takes and returns values only.
        unsafe { _mm512_permutex2var_pd(a, U64s::new(idx).into(), b) }.into()
    }

    /// The columns of 8 rows of `v.len() / 8` values, `2 ≤ d ≤ 4`; entries
    /// past `d` are zero.
    #[inline(always)]
    pub(super) fn columns(v: &[f64]) -> [F64s; 4] {
        let d = v.len() / 8;
        let vec = |i: usize| F64s::new(v[8 * i..8 * i + 8].try_into().expect("8 values"));
        let zero = F64s::splat(0.0);
        // Lane i of column j is v[d·i + j]; indices 8..16 name the second source.
        match d {
            2 => {
                let (a, b) = (vec(0), vec(1));
                [permute2(a, [0, 2, 4, 6, 8, 10, 12, 14], b), permute2(a, [1, 3, 5, 7, 9, 11, 13, 15], b), zero, zero]
            }
            3 => {
                let (a, b, c) = (vec(0), vec(1), vec(2));
                // Lane i of column j is v[3i + j]: lanes with 3i + j < 16
                // come from a and b (the rest are placeholders), then c's
                // lanes (second source, 8 + 3i + j − 16) replace those.
                const AB: [[u64; 8]; 3] =
                    [[0, 3, 6, 9, 12, 15, 15, 15], [1, 4, 7, 10, 13, 15, 15, 15], [2, 5, 8, 11, 14, 15, 15, 15]];
                const FIX: [[u64; 8]; 3] =
                    [[0, 1, 2, 3, 4, 5, 10, 13], [0, 1, 2, 3, 4, 8, 11, 14], [0, 1, 2, 3, 4, 9, 12, 15]];
                let col = |j: usize| permute2(permute2(a, AB[j], b), FIX[j], c);
                [col(0), col(1), col(2), zero]
            }
            4 => {
                let (a, b, c, e) = (vec(0), vec(1), vec(2), vec(3));
                // Rows 0–3 (a, b) and rows 4–7 (c, e): coordinates 0 and 1
                // in the low and high halves, then 2 and 3; then the halves
                // of the two row groups are joined.
                let lo = [0, 4, 8, 12, 1, 5, 9, 13];
                let hi = [2, 6, 10, 14, 3, 7, 11, 15];
                let (ab01, ab23) = (permute2(a, lo, b), permute2(a, hi, b));
                let (ce01, ce23) = (permute2(c, lo, e), permute2(c, hi, e));
                let first = [0, 1, 2, 3, 8, 9, 10, 11];
                let second = [4, 5, 6, 7, 12, 13, 14, 15];
                [
                    permute2(ab01, first, ce01),
                    permute2(ab01, second, ce01),
                    permute2(ab23, first, ce23),
                    permute2(ab23, second, ce23),
                ]
            }
            _ => unreachable!("columns is called for 2 ≤ d ≤ 4"),
        }
    }

    /// `hsums`: after round 1 lane `2m + p` of `w01` is the `m`-th pair sum
    /// of `v[p]` (neighbours `2m`, `2m + 1`); after round 2 lane `4h + q`
    /// of `x0123` is the sum of `v[q]`'s half `h` in `hsum`'s order; round
    /// 3 adds the halves.
    #[inline(always)]
    pub(super) fn hsums(v: [F64s; 8]) -> F64s {
        let pairs = |a: F64s, b: F64s| {
            permute2(a, [0, 8, 2, 10, 4, 12, 6, 14], b) + permute2(a, [1, 9, 3, 11, 5, 13, 7, 15], b)
        };
        let quads = |a: F64s, b: F64s| {
            permute2(a, [0, 1, 8, 9, 4, 5, 12, 13], b) + permute2(a, [2, 3, 10, 11, 6, 7, 14, 15], b)
        };
        let (x0123, x4567) = (quads(pairs(v[0], v[1]), pairs(v[2], v[3])), quads(pairs(v[4], v[5]), pairs(v[6], v[7])));
        permute2(x0123, [0, 1, 2, 3, 8, 9, 10, 11], x4567) + permute2(x0123, [4, 5, 6, 7, 12, 13, 14, 15], x4567)
    }

    /// The 8 × 8 transpose: rows paired in blocks of one lane, then two,
    /// then four (indices 8..16 name the second source).
    #[inline(always)]
    pub(super) fn transpose(r: [F64s; 8]) -> [F64s; 8] {
        let pair = |v: [F64s; 8], b: u64, stride: usize| -> [F64s; 8] {
            // Lane i of the low result: block i / b of … taken alternately
            // from the two sources; the high result takes the odd blocks.
            let index = |high: u64| -> [u64; 8] {
                core::array::from_fn(|i| {
                    let (i, b2) = (i as u64, 2 * b);
                    let block = (i / b2) * b2 + high * b + i % b;
                    if i % b2 < b { block } else { block + 8 }
                })
            };
            let (lo, hi) = (index(0), index(1));
            let mut out = v;
            for base in (0..8).step_by(2 * stride) {
                for o in base..base + stride {
                    out[o] = permute2(v[o], lo, v[o + stride]);
                    out[o + stride] = permute2(v[o], hi, v[o + stride]);
                }
            }
            out
        };
        // After round 1 vector 2p holds the even columns of rows 2p, 2p + 1
        // and vector 2p + 1 the odd ones; after round 2 vector v of each
        // half holds columns (v, v + 4) of four rows; after round 3 column v.
        pair(pair(pair(r, 1, 1), 2, 2), 4, 4)
    }
}

/// fdlibm's split of ln 2 into `LN2_HI + LN2_LO`: `LN2_HI` has 21 trailing
/// zero bits, so `n·LN2_HI` is exact for every `|n| ≤ 2048`.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// `eˣ` lane by lane for `x ≤ 0`, the range of a log-sum-exp's terms.
///
/// Accurate to about 1 ulp (tested within 2 ulps of `f64::exp`). `−∞` gives
/// 0 and NaN gives NaN; inputs below `−708.39` (where `eˣ < 2⁻¹⁰²²`) give 0
/// instead of a subnormal, an absolute error below `2.3·10⁻³⁰⁸`. For `x > 0`
/// the result is unspecified (but never UB). About a third of the
/// instructions of a general-purpose vector `exp`, which must also handle
/// overflow and subnormals.
///
/// With AVX-512 the reduction is `x = (16·e + j)·ln2/16 + r`, `|r| ≤ ln2/32`:
/// `2ʲᐟ¹⁶` comes from a 16-entry table held in two registers (one two-source
/// permute), `eʳ − 1` needs a degree-6 polynomial, and one masked
/// `vscalefpd` applies `2ᵉ` and the cut-off at once. Elsewhere it is
/// `x = n·ln 2 + r`, `|r| ≤ ln2/2`, and a degree-13 one.
#[inline(always)]
pub fn exp_nonpositive(x: F64s) -> F64s {
    #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
    return exp_avx512(x);
    #[cfg(not(all(nogil_lanes = "8", target_arch = "x86_64")))]
    {
        let keep = !x.simd_lt(F64s::splat(EXP_LIMIT));
        exp_reduced(x) & keep
    }
}

/// Below this, [`exp_nonpositive`] returns 0 (`e⁻⁷⁰⁸·³⁹ ≈ 2⁻¹⁰²²`).
const EXP_LIMIT: f64 = -708.39;

/// 1.5·2⁵²: adding it rounds to an integer held in the low mantissa bits.
const SHIFTER: f64 = 6_755_399_441_055_744.0;

/// `2ʲᐟ¹⁶` for `j = 0..16`, each rounded to nearest (checked by a test), as
/// the two vectors the permute reads.
#[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
const EXP2_TABLE: [[f64; 8]; 2] = [
    [
        f64::from_bits(0x3FF0_0000_0000_0000),
        f64::from_bits(0x3FF0_B558_6CF9_890F),
        f64::from_bits(0x3FF1_72B8_3C7D_517B),
        f64::from_bits(0x3FF2_387A_6E75_6238),
        f64::from_bits(0x3FF3_06FE_0A31_B715),
        f64::from_bits(0x3FF3_DEA6_4C12_3422),
        f64::from_bits(0x3FF4_BFDA_D536_2A27),
        f64::from_bits(0x3FF5_AB07_DD48_5429),
    ],
    [
        f64::from_bits(0x3FF6_A09E_667F_3BCD),
        f64::from_bits(0x3FF7_A114_73EB_0187),
        f64::from_bits(0x3FF8_ACE5_422A_A0DB),
        f64::from_bits(0x3FF9_C491_82A3_F090),
        f64::from_bits(0x3FFA_E89F_995A_D3AD),
        f64::from_bits(0x3FFC_199B_DD85_529C),
        f64::from_bits(0x3FFD_5818_DCFB_A487),
        f64::from_bits(0x3FFE_A4AF_A2A4_90DA),
    ],
];

/// Cody–Waite range reduction in steps of `ln 2 / steps`: with
/// `n = round(x·steps/ln 2)`, `t` holds `n` in its low mantissa bits (it is
/// `n/steps` plus [`SHIFTER`]`/steps`, whose mantissa ends in zeros), `u` is
/// `n/steps` and `r = x − u·ln 2`, with `ln 2` split as fdlibm does. `steps`
/// is a power of two, so `u·LN2_HI` (`n·LN2_HI/steps`) is exact for
/// `|n| < 2²¹`.
#[inline(always)]
fn reduce(x: F64s, steps: f64) -> (F64s, F64s, F64s) {
    let t = x.mul_add(F64s::splat(std::f64::consts::LOG2_E), F64s::splat(SHIFTER / steps));
    let u = t - F64s::splat(SHIFTER / steps);
    let r = u.mul_neg_add(F64s::splat(LN2_HI), x);
    (t, u, u.mul_neg_add(F64s::splat(LN2_LO), r))
}

/// [`exp_nonpositive`] with AVX-512.
#[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
#[inline(always)]
fn exp_avx512(x: F64s) -> F64s {
    // n = round(16·x/ln 2) = 16·e + j, u = n/16.
    let (t, u, r) = reduce(x, 16.0);
    // eʳ − 1 = r + r²·P(r), P of degree 4 fitted by the Remez algorithm to
    // (eʳ − 1 − r)/r² on |r| ≤ 1.0005·ln2/32 for the least error of the
    // whole (at most 1.2·10⁻¹⁷, a tenth of an ulp of eʳ), by Estrin's scheme.
    const P: [f64; 5] = [
        f64::from_bits(0x3FE0_0000_0000_0005),
        f64::from_bits(0x3FC5_5555_5548_F217),
        f64::from_bits(0x3FA5_5555_5545_E375),
        f64::from_bits(0x3F81_1123_AFBF_AA11),
        f64::from_bits(0x3F56_C185_E4E7_7B11),
    ];
    let c = |i: usize| F64s::splat(P[i]);
    let r2 = r * r;
    let a0 = r.mul_add(c(1), c(0));
    let a1 = r.mul_add(c(3), c(2));
    let p = (r2 * r2).mul_add(c(4), a1.mul_add(r2, a0));
    let q = r2.mul_add(p, r);
    // 2ʲᐟ¹⁶ from the table: the permute reads the low 4 bits of each lane
    // of t's bits, which are j. Then `vscalefpd` multiplies by 2^⌊u⌋ = 2ᵉ,
    // exactly: the product is normal for x ≥ −708.39, and the lanes below
    // are zeroed by the same instruction's mask.
    let table = avx512::permute2(F64s::new(EXP2_TABLE[0]), bytemuck::cast(t), F64s::new(EXP2_TABLE[1]));
    avx512::scale_unless_below(table.mul_add(q, table), u, x, EXP_LIMIT)
}

/// [`exp_nonpositive`] before the mask, without AVX-512: for `x ≥ −708.39`.
#[cfg(not(all(nogil_lanes = "8", target_arch = "x86_64")))]
#[inline(always)]
fn exp_reduced(x: F64s) -> F64s {
    // n = round(x/ln 2).
    let (t, _, r) = reduce(x, 1.0);
    // eʳ − 1 = r + r²·Σ rⁱ/(i+2)!, i = 0..=11 (truncation below 2⁻⁵⁸ for
    // |r| ≤ ln2/2), by Estrin's scheme: chain depth 5 instead of 12.
    let c = |i: u64| F64s::splat(1.0 / (1..=i).product::<u64>() as f64);
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
    let q = r2.mul_add(p, r);
    // 2ⁿ from the low bits of t: (n + 1023) << 52; the shifter's own bits
    // (0x4338 << 48) vanish in the shift. Normal because n ≥ −1022.
    let bits: U64s = bytemuck::cast(t);
    let scale: F64s = bytemuck::cast((bits + U64s::splat(1023)) << 52);
    scale.mul_add(q, scale)
}

/// `x = 2ᵉ·m` lane by lane for positive normal `x`: the exponent `e` (an
/// integer, as f64) and the mantissa `m ∈ [1, 2)`, exactly. Other inputs
/// give unspecified values (but never UB).
#[inline(always)]
pub fn split_exponent(x: F64s) -> (F64s, F64s) {
    const TWO52: f64 = 4_503_599_627_370_496.0;
    let bits: U64s = bytemuck::cast(x);
    // The biased exponent as a float: its bits ORed into 2⁵²'s mantissa.
    let biased: F64s = bytemuck::cast((bits >> 52) | U64s::splat(TWO52.to_bits()));
    let e = biased - F64s::splat(TWO52 + 1023.0);
    let m: F64s = bytemuck::cast((bits & U64s::splat(0x000F_FFFF_FFFF_FFFF)) | U64s::splat(1.0f64.to_bits()));
    (e, m)
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
    let (e, m) = split_exponent(x);
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
    fn hsums_is_hsum_of_each_vector() {
        // Magnitudes from 1e-3 to 1e16, so that the order of the additions
        // shows in the bits.
        let value = |v: usize, l: usize| {
            let i = (v * LANES + l) as f64;
            (i * 0.37).sin() * 10f64.powi(((v * 7 + l * 5) % 20) as i32 - 3)
        };
        let vs: [F64s; LANES] = core::array::from_fn(|v| F64s::new(core::array::from_fn(|l| value(v, l))));
        let got = hsums(vs).to_array();
        for (v, (&g, &x)) in got.iter().zip(&vs).enumerate() {
            assert_eq!(g.to_bits(), hsum(x).to_bits(), "vector {v}");
        }
        let in_order = |x: F64s| x.to_array().iter().fold(0.0, |a, &b| a + b);
        assert!(vs.iter().any(|&x| in_order(x) != hsum(x)), "the data do not tell the orders apart");
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

    fn columns_of<const D: usize>() {
        let v: Vec<f64> = (0..D * LANES).map(|i| i as f64 * 1.5 - 7.0).collect();
        let (rows, _) = v.as_chunks::<D>();
        let group: &[[f64; D]; LANES] = rows.try_into().unwrap();
        let cols = load_columns(group);
        for (j, col) in cols.iter().enumerate() {
            let want: Vec<f64> = (0..LANES).map(|i| v[i * D + j]).collect();
            assert_eq!(col.to_array().to_vec(), want, "D={D}, column {j}");
        }
    }

    #[test]
    fn transpose_swaps_lanes_and_vectors() {
        let rows: [F64s; LANES] = core::array::from_fn(|i| F64s::new(core::array::from_fn(|j| (i * LANES + j) as f64)));
        let cols = transpose(rows);
        for (j, col) in cols.iter().enumerate() {
            for (i, row) in rows.iter().enumerate() {
                assert_eq!(col.to_array()[i], row.to_array()[j], "lane {i} of column {j}");
            }
        }
    }

    #[test]
    fn load_columns_is_the_transpose() {
        columns_of::<1>();
        columns_of::<2>();
        columns_of::<3>();
        columns_of::<4>();
        columns_of::<5>();
    }

    #[cfg(all(nogil_lanes = "8", target_arch = "x86_64"))]
    #[test]
    fn the_exp_table_holds_the_sixteenths_of_an_octave() {
        for (j, &v) in EXP2_TABLE.as_flattened().iter().enumerate() {
            assert!(ulps(v, (j as f64 / 16.0).exp2()) <= 1, "2^({j}/16)");
        }
    }
}
