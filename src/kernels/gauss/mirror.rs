//! The mirrors: the seed's log-density and E-step loops over raw pointers
//! (cells 45–49), with two of its bugs fixed: the constant is `ln(2π)` (the
//! seed's `LOG_2_PI = 0.79817986835` is `log₁₀(2π)`), and indices are
//! `usize` (the seed's `int` overflows past 2³¹ elements). The oracle the
//! fast kernels are held to, and the baseline they are measured against.

use super::LN_2PI;
use crate::Error;
use crate::kernels::linalg::inverse_and_log_det;

/// Mirror of the seed's `log_probability(double* X, double* mu, double* inv_cov, double log_det, int d) nogil`:
/// `−½·(d·ln 2π + log_det + (x−μ)ᵀ·Σ⁻¹·(x−μ))`, with `inv_cov[i + j*d]`.
///
/// The seed's loop, term by term, with `ln(2π)` in place of its `log₁₀(2π)`.
///
/// # Safety
///
/// - `x` and `mu` are valid for reads of `d` f64 each;
/// - `inv_cov` is valid for reads of `d*d` f64 (`d*d` does not overflow).
pub unsafe fn log_probability_raw(x: *const f64, mu: *const f64, inv_cov: *const f64, log_det: f64, d: usize) -> f64 {
    let mut logp = 0.0;
    for i in 0..d {
        for j in 0..d {
            // SAFETY: i, j < d, and i + j*d < d*d: within the bullets above.
            unsafe { logp += (*x.add(i) - *mu.add(i)) * (*x.add(j) - *mu.add(j)) * *inv_cov.add(i + j * d) };
        }
    }
    -0.5 * (d as f64 * LN_2PI + log_det + logp)
}

/// Mirror of the seed's `_expectation(X, r, mu, inv_cov, log_det, n, d) nogil`:
/// `r[i] = exp(log_probability(X + i*d, …))` for each of `n` rows.
///
/// # Safety
///
/// - `x` is valid for reads of `n*d` f64 (row-major, `n*d` does not overflow);
/// - `r` is valid for writes of `n` f64 and does not overlap `x`, `mu` or `inv_cov`;
/// - `mu` and `inv_cov` are as in [`log_probability_raw`].
pub unsafe fn expectation_raw(
    x: *const f64,
    r: *mut f64,
    mu: *const f64,
    inv_cov: *const f64,
    log_det: f64,
    n: usize,
    d: usize,
) {
    for i in 0..n {
        // SAFETY: row i lies within the n*d values of `x`; r[i] within `r`'s n;
        // `mu`, `inv_cov` as the caller promised.
        unsafe { *r.add(i) = log_probability_raw(x.add(i * d), mu, inv_cov, log_det, d).exp() };
    }
}

/// The seed's `expectation(X, mu, cov)` (cell 49) over the mirror: for each
/// component, [`expectation_raw`] with the explicit inverse and
/// log-determinant of its covariance; then each row's densities divided by
/// their sum. `r` is `k × n` (component-major, as the seed's `r_ndarray`
/// before its transpose); `means` is `k × d`, `covariances` `k × d × d`.
///
/// The seed's arithmetic, kept as the baseline the fused kernel is measured
/// against: exp-then-normalise gives 0/0 = NaN for a row whose densities all
/// underflow, as the seed's does.
pub fn expectation(x: &[f64], d: usize, means: &[f64], covariances: &[f64], r: &mut [f64]) -> Result<(), Error> {
    if d == 0 {
        return Err(Error::ZeroDimension);
    }
    let k = means.len() / d;
    let n = x.len() / d;
    let shape = |what: &'static str, expected: usize, got: usize| {
        (expected != got).then(|| Error::Shape { what, expected: expected.to_string(), got: got.to_string() })
    };
    if let Some(e) = shape("data (values)", n * d, x.len())
        .or_else(|| shape("means (values)", k * d, means.len()))
        .or_else(|| shape("covariances (values)", k * d * d, covariances.len()))
        .or_else(|| shape("responsibilities (values)", k * n, r.len()))
    {
        return Err(e);
    }
    for c in 0..k {
        let (inv, log_det) = inverse_and_log_det(&covariances[c * d * d..(c + 1) * d * d], d)
            .ok_or(Error::NotPositiveDefinite { what: "covariance", component: c })?;
        // SAFETY: x holds n*d values and r's row c holds n (checked above);
        // the mean holds d values, the inverse d*d; r does not overlap them.
        unsafe {
            expectation_raw(x.as_ptr(), r[c * n..].as_mut_ptr(), means[c * d..].as_ptr(), inv.as_ptr(), log_det, n, d)
        };
    }
    for i in 0..n {
        let s: f64 = (0..k).map(|c| r[c * n + i]).sum();
        for c in 0..k {
            r[c * n + i] /= s;
        }
    }
    Ok(())
}
