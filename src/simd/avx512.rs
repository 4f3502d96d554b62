//! The AVX-512 path: eight f64 lanes in one `__m512d`, masks in `__mmask8`.
//!
//! Every method executes AVX-512F instructions. A [`V512`] exists only
//! inside a kernel that [`run`] started, and [`Simd::run`](super::Simd::run)
//! calls `run` only on a CPU with what [`Isa::Avx512`](super::Isa::Avx512) checks (see [`Lanes`]).

use core::arch::x86_64::*;

use super::math::{EXP_LIMIT, reduce};
use super::{Kernel, Lanes};

/// Eight f64 lanes in one AVX-512 register.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(super) struct V512(__m512d);

/// Runs `kernel` with [`V512`] lanes, compiled for x86-64-v4's AVX-512
/// (F, DQ, VL and BW, with AVX2, FMA, BMI1/2 and LZCNT around the lanes):
/// what every AVX-512 CPU since Skylake-SP has. The lanes need only F; the
/// rest lets the compiler use byte-mask instructions and the EVEX forms, as
/// a `-C target-cpu=native` build does.
///
/// # Safety
///
/// - The CPU supports what [`Isa::Avx512`](super::Isa::Avx512) checks.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
pub(super) unsafe fn run<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<V512>()
}

/// `−x`: the sign bit flipped (an integer XOR: `vxorpd` on zmm needs AVX-512DQ).
#[inline(always)]
fn neg(x: __m512d) -> __m512d {
    // SAFETY: called only by `V512`'s `Neg` (see the module docs).
    unsafe { _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(x), _mm512_set1_epi64(i64::MIN))) }
}

x86_lane_ops!(V512, _mm512_add_pd, _mm512_sub_pd, _mm512_mul_pd, _mm512_div_pd, neg);

/// `a` and `b` as one 16-lane table, read at `idx` (values 0..16; only the
/// low 4 bits of each are read).
#[inline(always)]
fn permute2(a: V512, idx: __m512i, b: V512) -> V512 {
    // SAFETY: see the module docs.
    V512(unsafe { _mm512_permutex2var_pd(a.0, idx, b.0) })
}

/// [`permute2`] at constant indices.
#[inline(always)]
fn permute2_at(a: V512, idx: [u64; 8], b: V512) -> V512 {
    // SAFETY: `idx` holds 8 values of 8 bytes, any alignment. AVX-512F: see the module docs.
    permute2(a, unsafe { _mm512_loadu_epi64(idx.as_ptr().cast()) }, b)
}

/// `2ʲᐟ¹⁶` for `j = 0..16`, each rounded to nearest (checked by a test), as
/// the two vectors the permute reads.
pub(super) const EXP2_TABLE: [[f64; 8]; 2] = [
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

/// `eʳ·2ʲᐟ¹⁶` and the scale `u` (whose floor is the power of two still to
/// apply) for `x = (16·e + j)·ln2/16 + r`, `|r| ≤ ln2/32`: `2ʲᐟ¹⁶` from a
/// 16-entry table in two registers (one two-source permute), `eʳ − 1` by a
/// degree-6 polynomial.
#[inline(always)]
fn exp_table(x: V512) -> (V512, V512) {
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
    let c = |i: usize| V512::splat(P[i]);
    let r2 = r * r;
    let a0 = r.mul_add(c(1), c(0));
    let a1 = r.mul_add(c(3), c(2));
    let p = (r2 * r2).mul_add(c(4), a1.mul_add(r2, a0));
    let q = r2.mul_add(p, r);
    // 2ʲᐟ¹⁶ from the table: the permute reads the low 4 bits of each lane
    // of t's bits, which are j.
    // SAFETY: a cast of bits. AVX-512F: see the module docs.
    let j = unsafe { _mm512_castpd_si512(t.0) };
    let table = permute2(V512::load(&EXP2_TABLE[0]), j, V512::load(&EXP2_TABLE[1]));
    (table.mul_add(q, table), u)
}

/// Round 1 of [`Lanes::hsums`]: lane `2m + p` is the `m`-th pair sum
/// (neighbours `2m`, `2m + 1`) of `a` (`p = 0`) or `b` (`p = 1`).
#[inline(always)]
fn pairs(a: V512, b: V512) -> V512 {
    permute2_at(a, [0, 8, 2, 10, 4, 12, 6, 14], b) + permute2_at(a, [1, 9, 3, 11, 5, 13, 7, 15], b)
}

/// Round 2 of [`Lanes::hsums`]: pairs of pair sums.
#[inline(always)]
fn quads(a: V512, b: V512) -> V512 {
    permute2_at(a, [0, 1, 8, 9, 4, 5, 12, 13], b) + permute2_at(a, [2, 3, 10, 11, 6, 7, 14, 15], b)
}

/// One round of the 8 × 8 transpose: vectors `o` and `o + b` (`o` in the
/// low half of each block of `2b`) exchange their blocks of `b` lanes.
#[inline(always)]
fn transpose_round(v: [V512; 8], b: usize) -> [V512; 8] {
    // Lane i of the low result: block i / b of … taken alternately from the
    // two sources (indices 8..16 name the second); the high result takes
    // the odd blocks.
    let index = |high: usize| -> [u64; 8] {
        core::array::from_fn(|i| {
            let b2 = 2 * b;
            let block = (i / b2) * b2 + high * b + i % b;
            (if i % b2 < b { block } else { block + 8 }) as u64
        })
    };
    let (lo, hi) = (index(0), index(1));
    let mut out = v;
    for base in (0..8).step_by(2 * b) {
        for o in base..base + b {
            out[o] = permute2_at(v[o], lo, v[o + b]);
            out[o + b] = permute2_at(v[o], hi, v[o + b]);
        }
    }
    out
}

impl Lanes for V512 {
    const LANES: usize = 8;
    type Mask = __mmask8;

    #[inline(always)]
    fn splat(v: f64) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_set1_pd(v) })
    }

    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        let s = &s[..8];
        // SAFETY: `s` holds 8 values (checked above); the load has no
        // alignment requirement. AVX-512F: see the module docs.
        V512(unsafe { _mm512_loadu_pd(s.as_ptr()) })
    }

    #[inline(always)]
    fn store(self, s: &mut [f64]) {
        let s = &mut s[..8];
        // SAFETY: `s` holds 8 writable values (checked above). AVX-512F: see the module docs.
        unsafe { _mm512_storeu_pd(s.as_mut_ptr(), self.0) }
    }

    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_fmadd_pd(self.0, m.0, a.0) })
    }

    #[inline(always)]
    fn mul_neg_add(self, m: Self, a: Self) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_fnmadd_pd(self.0, m.0, a.0) })
    }

    #[inline(always)]
    fn max(self, o: Self) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_max_pd(self.0, o.0) })
    }

    #[inline(always)]
    fn min(self, o: Self) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_min_pd(self.0, o.0) })
    }

    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_abs_pd(self.0) })
    }

    #[inline(always)]
    fn cmp_lt(self, o: Self) -> __mmask8 {
        // SAFETY: see the module docs.
        unsafe { _mm512_cmp_pd_mask::<_CMP_LT_OQ>(self.0, o.0) }
    }

    #[inline(always)]
    fn cmp_eq(self, o: Self) -> __mmask8 {
        // SAFETY: see the module docs.
        unsafe { _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(self.0, o.0) }
    }

    #[inline(always)]
    fn cmp_ge(self, o: Self) -> __mmask8 {
        // SAFETY: see the module docs.
        unsafe { _mm512_cmp_pd_mask::<_CMP_GE_OQ>(self.0, o.0) }
    }

    #[inline(always)]
    fn select(m: __mmask8, a: Self, b: Self) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_mask_blend_pd(m, b.0, a.0) })
    }

    #[inline(always)]
    fn keep(self, m: __mmask8) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe { _mm512_maskz_mov_pd(m, self.0) })
    }

    #[inline(always)]
    fn lanes_below(count: usize) -> __mmask8 {
        (((1u16 << count.min(8)) - 1) & 0xFF) as __mmask8
    }

    #[inline(always)]
    fn pow2_shifted(t: Self) -> Self {
        // SAFETY: see the module docs.
        V512(unsafe {
            let n = _mm512_add_epi64(_mm512_castpd_si512(t.0), _mm512_set1_epi64(1023));
            _mm512_castsi512_pd(_mm512_slli_epi64::<52>(n))
        })
    }

    /// `vgetexppd` and `vgetmantpd`: for positive normal `x`, exactly the
    /// exponent and the mantissa in `[1, 2)`.
    #[inline(always)]
    fn split_exponent(self) -> (Self, Self) {
        // SAFETY: see the module docs.
        unsafe {
            (V512(_mm512_getexp_pd(self.0)), V512(_mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_SRC>(self.0)))
        }
    }

    /// Three rounds of pairwise adds of permuted vectors (14 two-source
    /// permutes and 7 adds for 8 sums, against 56 scalar steps): after
    /// round 2 lane `4h + q` of `x0123` is the sum of `v[q]`'s half `h` in
    /// `hsum`'s order; round 3 adds the halves.
    #[inline(always)]
    fn hsums(v: &[Self]) -> Self {
        let v = &v[..8];
        let (x0123, x4567) = (quads(pairs(v[0], v[1]), pairs(v[2], v[3])), quads(pairs(v[4], v[5]), pairs(v[6], v[7])));
        permute2_at(x0123, [0, 1, 2, 3, 8, 9, 10, 11], x4567) + permute2_at(x0123, [4, 5, 6, 7, 12, 13, 14, 15], x4567)
    }

    /// The 8 × 8 transpose: rows paired in blocks of one lane, then two,
    /// then four (indices 8..16 name the second source).
    #[inline(always)]
    fn transpose(v: &mut [Self]) {
        // After round 1 vector 2p holds the even columns of rows 2p, 2p + 1
        // and vector 2p + 1 the odd ones; after round 2 vector v of each
        // half holds columns (v, v + 4) of four rows; after round 3 column v.
        let rows: [V512; 8] = v[..8].try_into().expect("8 vectors");
        v[..8].copy_from_slice(&transpose_round(transpose_round(transpose_round(rows, 1), 2), 4));
    }

    /// For `2 ≤ D ≤ 4`, `D` vector loads and two-source permutes (2, 6 and
    /// 8 of them for `D` = 2, 3, 4) instead of `8·D` scalar moves.
    #[inline(always)]
    fn load_columns<const D: usize>(rows: &[[f64; D]]) -> [Self; D] {
        let v = rows[..8].as_flattened();
        let vec = |i: usize| V512::load(&v[8 * i..]);
        let zero = V512::zero();
        // Lane i of column j is v[D·i + j]; indices 8..16 name the second source.
        let cols: [V512; 4] = match D {
            2 => {
                let (a, b) = (vec(0), vec(1));
                [
                    permute2_at(a, [0, 2, 4, 6, 8, 10, 12, 14], b),
                    permute2_at(a, [1, 3, 5, 7, 9, 11, 13, 15], b),
                    zero,
                    zero,
                ]
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
                let col = |j: usize| permute2_at(permute2_at(a, AB[j], b), FIX[j], c);
                [col(0), col(1), col(2), zero]
            }
            4 => {
                let (a, b, c, e) = (vec(0), vec(1), vec(2), vec(3));
                // Rows 0–3 (a, b) and rows 4–7 (c, e): coordinates 0 and 1
                // in the low and high halves, then 2 and 3; then the halves
                // of the two row groups are joined.
                let lo = [0, 4, 8, 12, 1, 5, 9, 13];
                let hi = [2, 6, 10, 14, 3, 7, 11, 15];
                let (ab01, ab23) = (permute2_at(a, lo, b), permute2_at(a, hi, b));
                let (ce01, ce23) = (permute2_at(c, lo, e), permute2_at(c, hi, e));
                let first = [0, 1, 2, 3, 8, 9, 10, 11];
                let second = [4, 5, 6, 7, 12, 13, 14, 15];
                [
                    permute2_at(ab01, first, ce01),
                    permute2_at(ab01, second, ce01),
                    permute2_at(ab23, first, ce23),
                    permute2_at(ab23, second, ce23),
                ]
            }
            _ => return core::array::from_fn(|j| V512::from_fn(|i| rows[i][j])),
        };
        core::array::from_fn(|j| cols[j])
    }

    /// [`exp_table`], then one masked `vscalefpd` applies `2ᵉ` and the
    /// cut-off at once: the product is normal for `x ≥ −708.39`, and the
    /// lanes below are zeroed by the instruction's mask.
    #[inline(always)]
    fn exp_nonpositive(self) -> Self {
        let (y, u) = exp_table(self);
        // SAFETY: see the module docs.
        V512(unsafe {
            let keep = _mm512_cmp_pd_mask::<_CMP_NLT_UQ>(self.0, _mm512_set1_pd(EXP_LIMIT));
            _mm512_maskz_scalef_pd(keep, y.0, u.0)
        })
    }

    /// [`exp_table`] of `x` clamped to `[−1100, 710]`, then `vscalefpd`,
    /// which rounds subnormal results once and overflows to `+∞`; NaN kept.
    #[inline(always)]
    fn exp(self) -> Self {
        let x = self.max(V512::splat(-1100.0)).min(V512::splat(710.0));
        let (y, u) = exp_table(x);
        // SAFETY: see the module docs.
        let scaled = V512(unsafe { _mm512_scalef_pd(y.0, u.0) });
        V512::select(self.cmp_eq(self), scaled, self)
    }
}
