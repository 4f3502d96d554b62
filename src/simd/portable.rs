//! The portable path: `wide::f64x4`, four lanes in whatever the build's own
//! target features give (two SSE2 halves on a default x86-64 build, one AVX
//! register with `-C target-cpu=native`, NEON on aarch64, plain arrays
//! elsewhere). Its multiply-add is fused only where the build enables FMA.

use wide::{f64x4, u64x4};

use super::Lanes;

impl Lanes for f64x4 {
    const LANES: usize = 4;
    type Mask = f64x4;

    #[inline(always)]
    fn splat(v: f64) -> Self {
        f64x4::splat(v)
    }

    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        f64x4::new(s[..4].try_into().expect("4 values"))
    }

    #[inline(always)]
    fn store(self, s: &mut [f64]) {
        s[..4].copy_from_slice(&self.to_array());
    }

    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        f64x4::mul_add(self, m, a)
    }

    #[inline(always)]
    fn mul_neg_add(self, m: Self, a: Self) -> Self {
        f64x4::mul_neg_add(self, m, a)
    }

    #[inline(always)]
    fn max(self, o: Self) -> Self {
        self.fast_max(o)
    }

    #[inline(always)]
    fn min(self, o: Self) -> Self {
        self.fast_min(o)
    }

    #[inline(always)]
    fn abs(self) -> Self {
        f64x4::abs(self)
    }

    #[inline(always)]
    fn cmp_lt(self, o: Self) -> Self {
        self.simd_lt(o)
    }

    #[inline(always)]
    fn cmp_eq(self, o: Self) -> Self {
        self.simd_eq(o)
    }

    #[inline(always)]
    fn cmp_ge(self, o: Self) -> Self {
        self.simd_ge(o)
    }

    #[inline(always)]
    fn select(m: Self, a: Self, b: Self) -> Self {
        m.bitselect(a, b)
    }

    #[inline(always)]
    fn keep(self, m: Self) -> Self {
        self & m
    }

    #[inline(always)]
    fn pow2_shifted(t: Self) -> Self {
        // (n + 1023) << 52; the shifter's own bits (0x4338 << 48) vanish in the shift.
        let bits: u64x4 = bytemuck::cast(t);
        bytemuck::cast((bits + u64x4::splat(1023)) << 52)
    }

    #[inline(always)]
    fn split_exponent(self) -> (Self, Self) {
        const TWO52: f64 = 4_503_599_627_370_496.0;
        let bits: u64x4 = bytemuck::cast(self);
        // The biased exponent as a float: its bits ORed into 2⁵²'s mantissa.
        let biased: f64x4 = bytemuck::cast((bits >> 52) | u64x4::splat(TWO52.to_bits()));
        let e = biased - f64x4::splat(TWO52 + 1023.0);
        let m: f64x4 = bytemuck::cast((bits & u64x4::splat(0x000F_FFFF_FFFF_FFFF)) | u64x4::splat(1.0f64.to_bits()));
        (e, m)
    }

    #[inline(always)]
    fn transpose(v: &mut [Self]) {
        let t = f64x4::transpose([v[0], v[1], v[2], v[3]]);
        v[..4].copy_from_slice(&t);
    }
}
