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
#[inline]
pub fn hsum(v: F64s) -> f64 {
    pairwise(&v.to_array())
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
