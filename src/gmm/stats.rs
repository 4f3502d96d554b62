//! Sufficient statistics of a mixture, and the M-step that turns them into
//! parameters.

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

use crate::Error;
use crate::kernels::gauss::{Factor, Gaussians, Moments, PassStats};
use crate::kernels::linalg::{cholesky_on, invert_lower_on, lower_factor_on, packed};
use crate::sched::{Executor, Sequential, for_each_chunk_mut};
use crate::simd::Simd;
use std::sync::atomic::{AtomicBool, Ordering};

use super::CovarianceType;

/// The M-step's sufficient statistics of a data set under a mixture, shifted
/// by the mixture's means for accuracy.
///
/// For component `k` with mean `cₖ` (the *shift*, the mean of the model the
/// statistics were taken under): `n[k] = Σᵢ rᵢₖ`, `s[k] = Σᵢ rᵢₖ·(xᵢ − cₖ)`
/// and `q[k] = Σᵢ rᵢₖ·(xᵢ − cₖ)(xᵢ − cₖ)ᵀ` — the packed lower triangle
/// (`i(i+1)/2 + j`) for full and tied covariances, the diagonal for diag
/// and spherical. Shifting keeps the digits of data far from the origin: the
/// new mean is `cₖ + s[k]/n[k]` and the covariance `q[k]/n[k] − δδᵀ` with a
/// small `δ = s[k]/n[k]`, where unshifted moments would cancel catastrophically.
///
/// Statistics of chunks of a data set taken under the same model merge by
/// addition ([`SufficientStats::merge`]), and
/// [`GaussianMixtureModel::from_stats`](super::GaussianMixtureModel::from_stats)
/// solves the M-step from the merged whole: fit data that does not fit in
/// memory, or across the ranks of a distributed job (pomegranate's
/// `summarize` / `from_summaries`).
#[derive(Debug, Clone, PartialEq)]
pub struct SufficientStats {
    pub(crate) covariance_type: CovarianceType,
    pub(crate) d: usize,
    pub(crate) shift: Vec<f64>,
    pub(crate) pass: PassStats,
    pub(crate) samples: usize,
}

impl SufficientStats {
    /// Statistics from their parts, as a distributed job that sent them
    /// over the wire rebuilds them: `shift` (`k × d`), `weights_sum` (`k`),
    /// `first_moments` (`k × d`), `second_moments` (`k` times `d(d+1)/2`
    /// for full and tied, `d` for diag and spherical), `log_likelihood`, and
    /// the number of points summarized. The inverse of the accessors.
    ///
    /// Errors when `d` or `k` is zero or a part's length does not match.
    #[allow(clippy::too_many_arguments)] // one per part of the statistics
    pub fn from_parts(
        covariance_type: CovarianceType,
        d: usize,
        shift: Vec<f64>,
        weights_sum: Vec<f64>,
        first_moments: Vec<f64>,
        second_moments: Vec<f64>,
        log_likelihood: f64,
        samples: usize,
    ) -> Result<Self, Error> {
        if d == 0 {
            return Err(Error::ZeroDimension);
        }
        let k = weights_sum.len();
        let per = moments(covariance_type).per_component(d);
        let shape = |what, expected: Option<usize>, got: usize| match expected {
            Some(e) if e == got => Ok(()),
            _ => Err(Error::Shape { what, expected: format!("{expected:?} values"), got: format!("{got} values") }),
        };
        if k == 0 {
            return Err(Error::Shape {
                what: "weights_sum",
                expected: "at least one component".into(),
                got: "0".into(),
            });
        }
        shape("shift", k.checked_mul(d), shift.len())?;
        shape("first_moments", k.checked_mul(d), first_moments.len())?;
        shape("second_moments", k.checked_mul(per), second_moments.len())?;
        Ok(SufficientStats {
            covariance_type,
            d,
            shift,
            pass: PassStats { n: weights_sum, s: first_moments, q: second_moments, loglik: log_likelihood },
            samples,
        })
    }

    /// Number of components.
    pub fn components(&self) -> usize {
        self.pass.n.len()
    }

    /// Dimension of the data.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Number of data points summarized.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The shift `cₖ` of each component (`k × d`): the means of the model
    /// the statistics were taken under.
    pub fn shift(&self) -> &[f64] {
        &self.shift
    }

    /// `Σᵢ rᵢₖ` per component.
    pub fn weights_sum(&self) -> &[f64] {
        &self.pass.n
    }

    /// `Σᵢ rᵢₖ·(xᵢ − cₖ)`, `k × d`.
    pub fn first_moments(&self) -> &[f64] {
        &self.pass.s
    }

    /// The second moments (see the type's docs for the layout).
    pub fn second_moments(&self) -> &[f64] {
        &self.pass.q
    }

    /// `Σᵢ ln p(xᵢ)` under the model the statistics were taken under.
    pub fn log_likelihood(&self) -> f64 {
        self.pass.loglik
    }

    /// Adds the statistics of another chunk of data taken under the same model.
    ///
    /// Errors when the two differ in covariance type, shape or shift (they
    /// were taken under different models, and their sum would mean nothing),
    /// or when the total sample count would overflow `usize` (only reachable
    /// by merging statistics into themselves); `self` is then unchanged.
    pub fn merge(&mut self, other: &SufficientStats) -> Result<(), Error> {
        if self.covariance_type != other.covariance_type || self.d != other.d || self.components() != other.components()
        {
            return Err(Error::Shape {
                what: "statistics to merge",
                expected: format!("{} components of {}-D {}", self.components(), self.d, self.covariance_type),
                got: format!("{} components of {}-D {}", other.components(), other.d, other.covariance_type),
            });
        }
        if self.shift.iter().zip(&other.shift).any(|(a, b)| a.to_bits() != b.to_bits()) {
            return Err(Error::InvalidParameter {
                name: "statistics to merge",
                value: "a different shift".into(),
                expected: "statistics taken under the same model (same means)",
            });
        }
        let samples = self.samples.checked_add(other.samples).ok_or_else(|| Error::InvalidParameter {
            name: "statistics to merge",
            value: format!("{} + {} samples", self.samples, other.samples),
            expected: "a total sample count that fits in usize",
        })?;
        self.pass = std::mem::replace(&mut self.pass, PassStats { n: vec![], s: vec![], q: vec![], loglik: 0.0 })
            .add(other.pass.clone());
        self.samples = samples;
        Ok(())
    }
}

/// What the M-step produces, in scikit-learn's shapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Params {
    pub weights: Vec<f64>,
    pub means: Vec<f64>,
    /// full: `k·d·d`; tied: `d·d`; diag: `k·d`; spherical: `k`.
    pub covariances: Vec<f64>,
}

/// The moments a covariance type needs.
pub(crate) fn moments(t: CovarianceType) -> Moments {
    match t {
        CovarianceType::Full | CovarianceType::Tied => Moments::Full,
        CovarianceType::Diag | CovarianceType::Spherical => Moments::Diagonal,
    }
}

/// scikit-learn's guard: `10·ε` added to every component's weight sum, so an
/// emptied component gives finite means and covariances, never 0/0.
const WEIGHT_EPS: f64 = 10.0 * f64::EPSILON;

/// The dimension from which [`prepare`] factors the components on the
/// executor's threads: one factor there is `d³/3` multiply-adds, well above
/// what a region costs (at d = 1000, 4 components, a sequential M-step was
/// a third of an iteration).
pub(crate) const PARALLEL_FROM: usize = 64;

/// Solves the M-step from statistics.
pub(crate) fn m_step(t: CovarianceType, d: usize, shift: &[f64], st: &PassStats, reg: f64) -> Params {
    let k = st.n.len();
    let nk: Vec<f64> = st.n.iter().map(|n| n + WEIGHT_EPS).collect();
    let total: f64 = nk.iter().sum();
    let weights = nk.iter().map(|n| n / total).collect();
    let mut means = vec![0.0; k * d];
    let mut delta = vec![0.0; k * d];
    for c in 0..k {
        for j in 0..d {
            delta[c * d + j] = st.s[c * d + j] / nk[c];
            means[c * d + j] = shift[c * d + j] + delta[c * d + j];
        }
    }
    let tri = d * (d + 1) / 2;
    let covariances = match t {
        CovarianceType::Full => {
            let mut cov = vec![0.0; k * d * d];
            for c in 0..k {
                let dl = &delta[c * d..(c + 1) * d];
                for i in 0..d {
                    for j in 0..=i {
                        let v = st.q[c * tri + packed(i, j)] / nk[c] - dl[i] * dl[j];
                        cov[c * d * d + i * d + j] = v;
                        cov[c * d * d + j * d + i] = v;
                    }
                    cov[c * d * d + i * d + i] += reg;
                }
            }
            cov
        }
        CovarianceType::Tied => {
            let mut cov = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..=i {
                    let mut v = 0.0;
                    for c in 0..k {
                        v += st.q[c * tri + packed(i, j)] - nk[c] * delta[c * d + i] * delta[c * d + j];
                    }
                    v /= total;
                    cov[i * d + j] = v;
                    cov[j * d + i] = v;
                }
                cov[i * d + i] += reg;
            }
            cov
        }
        CovarianceType::Diag | CovarianceType::Spherical => {
            let mut var = vec![0.0; k * d];
            for c in 0..k {
                for j in 0..d {
                    let dj = delta[c * d + j];
                    var[c * d + j] = st.q[c * d + j] / nk[c] - dj * dj + reg;
                }
            }
            if t == CovarianceType::Spherical {
                var.chunks_exact(d).map(|v| v.iter().sum::<f64>() / d as f64).collect()
            } else {
                var
            }
        }
    };
    Params { weights, means, covariances }
}

/// Components for the kernel from parameters, and the precision Cholesky
/// factors in scikit-learn's convention (`precisions_cholesky_`: for full
/// and tied the upper-triangular `U` with `U·Uᵀ = Σ⁻¹`; for diag and
/// spherical `1/σ`). Errors name the first covariance that is not finite
/// (estimated from data whose squares overflow) or not positive definite.
///
/// With `precisions` (`Σ⁻¹`, in the covariances' shape, as a user gave
/// them), the factors come from the precisions themselves, as
/// scikit-learn's do, not from `p.covariances` (their inverses): inverting
/// twice would cost the factors digits in proportion to the condition number.
///
/// From [`PARALLEL_FROM`] on, the components' factors are computed on
/// `exec`'s threads, one task per component, each on `simd`: the same
/// values on any executor.
pub(crate) fn prepare<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    t: CovarianceType,
    d: usize,
    p: &Params,
    precisions: Option<&[f64]>,
) -> Result<(Gaussians, Vec<f64>), Error> {
    let k = p.weights.len();
    if let Some(i) = p.covariances.iter().position(|v| !v.is_finite()) {
        // `len(1, d)` values per covariance (one in all for tied); it fits
        // in `usize`, as the covariances exist.
        return Err(Error::CovarianceOverflow { component: t.len(1, d).map_or(0, |per| i / per) });
    }
    let log_w: Vec<f64> = p.weights.iter().map(|w| w.ln()).collect();
    match t {
        CovarianceType::Full | CovarianceType::Tied => {
            let mats = if t == CovarianceType::Full { k } else { 1 };
            // Component `c`'s factor, `None` where it is singular.
            let factor = |c: usize| {
                let at = c * d * d..(c + 1) * d * d;
                match precisions {
                    None => cholesky_on(simd, &p.covariances[at], d).map(|l| invert_lower_on(simd, &l, d)),
                    Some(prec) => lower_factor_on(simd, &prec[at], d),
                }
                .filter(|w| w.iter().all(|v| v.is_finite()))
            };
            // Each factor straight into its place, and whether it failed:
            // no second copy of the factors, which at d = 1000, k = 100 are
            // 800 MB.
            let mut ws = vec![0.0; mats * d * d];
            let failed: Vec<AtomicBool> = (0..mats).map(|_| AtomicBool::new(false)).collect();
            let fill = |cs: std::ops::Range<usize>, out: &mut [f64]| {
                for (c, out) in cs.zip(out.chunks_exact_mut(d * d)) {
                    match factor(c) {
                        Some(w) => out.copy_from_slice(&w),
                        None => failed[c].store(true, Ordering::Relaxed),
                    }
                }
            };
            let parallel = d >= PARALLEL_FROM;
            if parallel {
                for_each_chunk_mut(exec, &mut ws, d * d, fill);
            } else {
                for_each_chunk_mut(&Sequential, &mut ws, d * d, fill);
            }
            // The first component that fails, as the sequential loop found it.
            if let Some(c) = failed.iter().position(|f| f.load(Ordering::Relaxed)) {
                return Err(Error::SingularCovariance { component: c });
            }
            let mut upper = vec![0.0; mats * d * d];
            let transpose = |cs: std::ops::Range<usize>, out: &mut [f64]| {
                for (c, out) in cs.zip(out.chunks_exact_mut(d * d)) {
                    transpose_into(d, &ws[c * d * d..(c + 1) * d * d], out);
                }
            };
            if parallel {
                for_each_chunk_mut(exec, &mut upper, d * d, transpose);
            } else {
                for_each_chunk_mut(&Sequential, &mut upper, d * d, transpose);
            }
            let g = if t == CovarianceType::Full {
                Gaussians::new(d, Factor::Triangular, p.means.clone(), ws, &log_w)?
            } else {
                Gaussians::tied(d, p.means.clone(), ws, &log_w)?
            };
            Ok((g, upper))
        }
        CovarianceType::Diag | CovarianceType::Spherical => {
            let per = if t == CovarianceType::Diag { d } else { 1 };
            let mut inv_sd = Vec::with_capacity(k * per);
            for (i, &v) in p.covariances.iter().enumerate() {
                let w = precisions.map_or_else(|| 1.0 / v.sqrt(), |prec| prec[i].sqrt());
                if !(v > 0.0 && w > 0.0 && w.is_finite()) {
                    return Err(Error::SingularCovariance { component: i / per });
                }
                inv_sd.push(w);
            }
            let factors = if per == d {
                inv_sd.clone()
            } else {
                inv_sd.iter().flat_map(|&w| std::iter::repeat_n(w, d)).collect()
            };
            let g = Gaussians::new(d, Factor::Diagonal, p.means.clone(), factors, &log_w)?;
            Ok((g, inv_sd))
        }
    }
}

/// `out = aᵀ` for `d × d` row-major matrices, in 32 × 32 blocks so that
/// both sides stay in cache (one element at a time strode `8·d` bytes
/// through `out`).
fn transpose_into(d: usize, a: &[f64], out: &mut [f64]) {
    const B: usize = 32;
    for ib in (0..d).step_by(B) {
        for jb in (0..d).step_by(B) {
            for i in ib..d.min(ib + B) {
                for j in jb..d.min(jb + B) {
                    out[j * d + i] = a[i * d + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::transpose_into;

    #[test]
    fn transpose_into_is_the_transpose_across_partial_blocks() {
        for d in [1, 31, 32, 33, 70] {
            let a: Vec<f64> = (0..d * d).map(|v| v as f64).collect();
            let mut out = vec![-1.0; d * d];
            transpose_into(d, &a, &mut out);
            for i in 0..d {
                for j in 0..d {
                    assert_eq!(out[j * d + i], a[i * d + j], "d = {d}, ({i}, {j})");
                }
            }
        }
    }
}
