//! The AVX2 path: four f64 lanes in one `__m256d`, with fused multiply-add.
//!
//! Every method executes AVX2 or FMA instructions. A [`V256`] exists only
//! inside a kernel that [`run`] started, and [`Simd::run`](super::Simd::run)
//! calls `run` only on a CPU with what [`Isa::Avx2`](super::Isa::Avx2) checks (see [`Lanes`]).

use core::arch::x86_64::*;

use super::{Kernel, Lanes};

/// Four f64 lanes in one AVX2 register.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(super) struct V256(__m256d);

/// Runs `kernel` with [`V256`] lanes, compiled for x86-64-v3 (AVX2 and FMA
/// for the lanes; BMI1/2, LZCNT and POPCNT around them, as a
/// `-C target-cpu=x86-64-v3` build has).
///
/// # Safety
///
/// - The CPU supports what [`Isa::Avx2`](super::Isa::Avx2) checks.
#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
pub(super) unsafe fn run<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<V256>()
}

/// `−x`: the sign bit flipped.
#[inline(always)]
fn neg(x: __m256d) -> __m256d {
    // SAFETY: called only by `V256`'s `Neg` (see the module docs).
    unsafe { _mm256_xor_pd(x, _mm256_set1_pd(-0.0)) }
}

x86_lane_ops!(V256, _mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd, _mm256_div_pd, neg);

/// The bitwise operators of a mask (all-ones lanes).
macro_rules! mask_op {
    ($op:ident, $f:ident, $intrinsic:ident) => {
        impl core::ops::$op for V256 {
            type Output = V256;
            #[inline(always)]
            fn $f(self, o: V256) -> V256 {
                // SAFETY: see the module docs.
                V256(unsafe { $intrinsic(self.0, o.0) })
            }
        }
    };
}
mask_op!(BitAnd, bitand, _mm256_and_pd);
mask_op!(BitOr, bitor, _mm256_or_pd);

impl core::ops::Not for V256 {
    type Output = V256;
    #[inline(always)]
    fn not(self) -> V256 {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_xor_pd(self.0, _mm256_castsi256_pd(_mm256_set1_epi64x(-1))) })
    }
}

impl Lanes for V256 {
    const LANES: usize = 4;
    type Mask = V256;

    #[inline(always)]
    fn splat(v: f64) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_set1_pd(v) })
    }

    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        let s = &s[..4];
        // SAFETY: `s` holds 4 values (checked above); the load has no
        // alignment requirement. AVX: see the module docs.
        V256(unsafe { _mm256_loadu_pd(s.as_ptr()) })
    }

    #[inline(always)]
    fn store(self, s: &mut [f64]) {
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable values (checked above). AVX: see the module docs.
        unsafe { _mm256_storeu_pd(s.as_mut_ptr(), self.0) }
    }

    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_fmadd_pd(self.0, m.0, a.0) })
    }

    #[inline(always)]
    fn mul_neg_add(self, m: Self, a: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_fnmadd_pd(self.0, m.0, a.0) })
    }

    #[inline(always)]
    fn max(self, o: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_max_pd(self.0, o.0) })
    }

    #[inline(always)]
    fn min(self, o: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_min_pd(self.0, o.0) })
    }

    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_andnot_pd(_mm256_set1_pd(-0.0), self.0) })
    }

    #[inline(always)]
    fn cmp_lt(self, o: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_cmp_pd::<_CMP_LT_OQ>(self.0, o.0) })
    }

    #[inline(always)]
    fn cmp_eq(self, o: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_cmp_pd::<_CMP_EQ_OQ>(self.0, o.0) })
    }

    #[inline(always)]
    fn cmp_ge(self, o: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_cmp_pd::<_CMP_GE_OQ>(self.0, o.0) })
    }

    #[inline(always)]
    fn select(m: Self, a: Self, b: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe { _mm256_blendv_pd(b.0, a.0, m.0) })
    }

    #[inline(always)]
    fn keep(self, m: Self) -> Self {
        self & m
    }

    #[inline(always)]
    fn pow2_shifted(t: Self) -> Self {
        // SAFETY: see the module docs.
        V256(unsafe {
            let n = _mm256_add_epi64(_mm256_castpd_si256(t.0), _mm256_set1_epi64x(1023));
            _mm256_castsi256_pd(_mm256_slli_epi64::<52>(n))
        })
    }

    #[inline(always)]
    fn split_exponent(self) -> (Self, Self) {
        const TWO52: f64 = 4_503_599_627_370_496.0;
        // SAFETY: see the module docs.
        unsafe {
            let bits = _mm256_castpd_si256(self.0);
            // The biased exponent as a float: its bits ORed into 2⁵²'s mantissa.
            let biased = _mm256_or_si256(_mm256_srli_epi64::<52>(bits), _mm256_set1_epi64x(TWO52.to_bits() as i64));
            let e = _mm256_sub_pd(_mm256_castsi256_pd(biased), _mm256_set1_pd(TWO52 + 1023.0));
            let mantissa = _mm256_and_si256(bits, _mm256_set1_epi64x(0x000F_FFFF_FFFF_FFFF));
            let m = _mm256_or_si256(mantissa, _mm256_set1_epi64x(1.0f64.to_bits() as i64));
            (V256(e), V256(_mm256_castsi256_pd(m)))
        }
    }

    /// `(l0 + l1) + (l2 + l3)` of four vectors at once: two horizontal adds
    /// and two lane-half swaps.
    #[inline(always)]
    fn hsums(v: &[Self]) -> Self {
        let v = &v[..4];
        // SAFETY: see the module docs.
        V256(unsafe {
            // [a01, b01, a23, b23] and [c01, d01, c23, d23].
            let ab = _mm256_hadd_pd(v[0].0, v[1].0);
            let cd = _mm256_hadd_pd(v[2].0, v[3].0);
            _mm256_add_pd(_mm256_permute2f128_pd::<0x20>(ab, cd), _mm256_permute2f128_pd::<0x31>(ab, cd))
        })
    }

    /// The 4 × 4 transpose: unpacks within lane halves, then half swaps.
    #[inline(always)]
    fn transpose(v: &mut [Self]) {
        let r = &mut v[..4];
        // SAFETY: see the module docs.
        unsafe {
            let t0 = _mm256_unpacklo_pd(r[0].0, r[1].0);
            let t1 = _mm256_unpackhi_pd(r[0].0, r[1].0);
            let t2 = _mm256_unpacklo_pd(r[2].0, r[3].0);
            let t3 = _mm256_unpackhi_pd(r[2].0, r[3].0);
            r[0] = V256(_mm256_permute2f128_pd::<0x20>(t0, t2));
            r[1] = V256(_mm256_permute2f128_pd::<0x20>(t1, t3));
            r[2] = V256(_mm256_permute2f128_pd::<0x31>(t0, t2));
            r[3] = V256(_mm256_permute2f128_pd::<0x31>(t1, t3));
        }
    }

    /// For `D` = 2, two loads, two unpacks and two lane permutes; for
    /// `D` = 4, four loads and [`transpose`](Lanes::transpose); otherwise
    /// value by value.
    #[inline(always)]
    fn load_columns<const D: usize>(rows: &[[f64; D]]) -> [Self; D] {
        let flat = rows[..4].as_flattened();
        match D {
            2 => {
                let (a, b) = (V256::load(flat), V256::load(&flat[4..]));
                // SAFETY: see the module docs.
                let cols = unsafe {
                    // [r0x, r2x, r1x, r3x] and [r0y, r2y, r1y, r3y], lanes 1 and 2 swapped.
                    let x = _mm256_unpacklo_pd(a.0, b.0);
                    let y = _mm256_unpackhi_pd(a.0, b.0);
                    [_mm256_permute4x64_pd::<0b11_01_10_00>(x), _mm256_permute4x64_pd::<0b11_01_10_00>(y)]
                };
                core::array::from_fn(|j| V256(cols[j]))
            }
            4 => {
                let mut cols: [V256; 4] = core::array::from_fn(|i| V256::load(&flat[4 * i..]));
                V256::transpose(&mut cols);
                core::array::from_fn(|j| cols[j])
            }
            _ => core::array::from_fn(|j| V256::from_fn(|i| rows[i][j])),
        }
    }
}
