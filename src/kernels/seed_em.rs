//! The seed's Gaussian-mixture EM, whole, as the notebook wrote it (cells
//! 38–49): the baseline the report and the benches time nogil's mixture
//! against, and an oracle tests can hold a fit to.
//!
//! The notebook's EM has no mixture weights (every component counts
//! equally) and no convergence test. Each iteration is
//!
//! - [`expectation`]`(X, mu, cov)` (cell 49), from [`gauss`](super::gauss):
//!   per component, `exp(log_probability(...))` over the raw-pointer mirror
//!   with an explicit inverse and log-determinant, then each row's
//!   densities divided by their sum;
//! - [`maximization`]`(X, r)` (cell 38): each mean is
//!   `numpy.average(X, axis=0, weights=r[:, c])`, each covariance is
//!   [`covariance`]`(X, r[:, c], mu)`, `Σ w·((xᵢ − μᵢ)·(xⱼ − μⱼ)) / Σ w` for
//!   `j ≤ i`, mirrored;
//!
//! and [`em`] runs a fixed number of them, as `EM(X, mu, cov)` does.
//! Responsibilities are `k × n`, component-major (the seed's `r_ndarray`
//! before its transpose). Every sum runs over the rows in order.
//!
//! Where the notebook's arithmetic breaks down, numpy returns NaN or raises;
//! here each case is an error, never a NaN in a returned parameter:
//! [`Error::SeedEm`] says which case, in which iteration. The common one: a
//! row far from every mean, whose densities all underflow to 0, so that
//! exp-then-normalise divides 0 by 0. nogil's
//! [`GaussianMixture`](crate::gmm::GaussianMixture) works in log space and
//! fits such data.

// Index loops over i, j mirror the seed's.
#![allow(clippy::needless_range_loop)]

pub use super::gauss::expectation;
use crate::Error;
use crate::error::try_filled;

/// What [`em`] returns: the seed's `mu, cov, r`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedEm {
    /// `k × d` means, row-major.
    pub means: Vec<f64>,
    /// `k × d × d` covariances, row-major.
    pub covariances: Vec<f64>,
    /// `k × n` responsibilities of the last E-step, component-major: row
    /// `c` holds every point's responsibility for component `c`.
    pub responsibilities: Vec<f64>,
}

/// The seed's `covariance(X, weights, mu)`: the `d × d` weighted covariance
/// `Σₚ wₚ·((xₚᵢ − μᵢ)·(xₚⱼ − μⱼ)) / Σₚ wₚ`, computed for `j ≤ i` and mirrored.
///
/// # Errors
///
/// - [`Error::ZeroDimension`], or [`Error::Shape`] if `x` is not `n × d`,
///   `weights` not `n` or `mu` not `d` values;
/// - [`Error::SeedEm`] if the weights do not sum to a positive finite
///   number (numpy.average refuses a zero sum), or the covariance is not finite.
///
/// ```
/// use nogil::kernels::seed_em::covariance;
/// // Two points, (0, 0) and (2, 4), weighted 1 and 3, around the mean (1.5, 3).
/// let cov = covariance(&[0.0, 0.0, 2.0, 4.0], 2, &[1.0, 3.0], &[1.5, 3.0])?;
/// assert_eq!(cov, [0.75, 1.5, 1.5, 3.0]);
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn covariance(x: &[f64], d: usize, weights: &[f64], mu: &[f64]) -> Result<Vec<f64>, Error> {
    let n = rows(x, d)?;
    shape("weights (values)", n, weights.len())?;
    shape("mu (values)", d, mu.len())?;
    let w_sum = total(weights, 0, 0)?;
    let cov = weighted_covariance(x, d, weights, mu, w_sum)?;
    finite(cov, || Error::SeedEm { iteration: 0, reason: "the covariance is not finite".into() })
}

/// The seed's `maximization(X, r)`: for each component `c`, the mean
/// `numpy.average(X, axis=0, weights=r[c])` and [`covariance`]`(X, r[c], mean)`.
/// `r` is `k × n` (component-major). Returns `(means, covariances)`,
/// `k × d` and `k × d × d`.
///
/// # Errors
///
/// - [`Error::ZeroDimension`]; [`Error::Shape`] if `x` is not `n × d` with
///   `n ≥ 1` or `r` is not `k × n` for some `k ≥ 1`;
/// - [`Error::SeedEm`] if a component's responsibilities do not sum to a
///   positive finite number, or its mean or covariance is not finite.
pub fn maximization(x: &[f64], d: usize, r: &[f64]) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let n = rows(x, d)?;
    if n == 0 || r.is_empty() || !r.len().is_multiple_of(n) {
        return Err(Error::Shape {
            what: "responsibilities (values)",
            expected: format!("k × {n} for some k ≥ 1"),
            got: r.len().to_string(),
        });
    }
    m_step(x, d, r, n, 0)
}

/// The seed's `EM(X, mu, cov)`: `iterations` rounds of [`expectation`] and
/// [`maximization`] from the given `k × d` means and `k × d × d`
/// covariances, with no convergence test (the seed runs 50 on its first
/// data set, 25 on its second).
///
/// # Errors
///
/// Before any work:
/// - [`Error::ZeroDimension`]; [`Error::Shape`] if `x` is not `n × d`, the
///   means not `k × d` with `k ≥ 1` or the covariances not `k × d × d`;
/// - [`Error::TooFewPoints`] if `x` has no rows;
/// - [`Error::NonFinite`] if `x` holds a NaN or infinity;
///   [`Error::InvalidParameter`] if the means or covariances do, or
///   `iterations` is 0 (the seed's loop would return no responsibilities);
/// - [`Error::TooLarge`] if the `k × n` responsibilities cannot be allocated.
///
/// Then [`Error::NotPositiveDefinite`] if a given covariance is not positive
/// definite, and [`Error::SeedEm`] where the seed's arithmetic breaks down:
/// a row whose densities all underflow (0/0), a component with no
/// responsibility, a covariance estimate that is not positive definite or
/// not finite.
///
/// ```
/// use nogil::data::{SEED_SET_A, SeedSet};
/// use nogil::kernels::seed_em::em;
/// use rand::SeedableRng;
///
/// let set = SeedSet { per_blob: 2_000, ..SEED_SET_A };
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let x = set.data(&mut rng)?;
/// let (start, _) = set.start_near_each_blob(&mut rng, 1000);
/// let fit = em(&x, 2, &start, &SeedSet::identity_covariances(), set.iterations)?;
/// assert!(set.worst_mean_error(&fit.means).unwrap() < 0.1);
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn em(x: &[f64], d: usize, means: &[f64], covariances: &[f64], iterations: usize) -> Result<SeedEm, Error> {
    let n = rows(x, d)?;
    let k = means.len() / d;
    if k == 0 || k * d != means.len() {
        return Err(Error::Shape {
            what: "means (values)",
            expected: format!("k × {d} for some k ≥ 1"),
            got: means.len().to_string(),
        });
    }
    match d.checked_mul(d).and_then(|dd| dd.checked_mul(k)) {
        Some(len) => shape("covariances (values)", len, covariances.len())?,
        None => {
            let (expected, got) = (format!("{k} × {d} × {d}"), covariances.len().to_string());
            return Err(Error::Shape { what: "covariances (values)", expected, got });
        }
    }
    if n == 0 {
        return Err(Error::TooFewPoints { n, components: k });
    }
    if let Some(at) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite { row: at / d, column: at % d });
    }
    for (name, values) in [("means", means), ("covariances", covariances)] {
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter { name, value: v.to_string(), expected: "finite values" });
        }
    }
    if iterations == 0 {
        return Err(Error::InvalidParameter { name: "iterations", value: "0".into(), expected: "at least 1" });
    }
    let mut r = try_filled("responsibilities", k, n, 0.0)?;
    let (mut mu, mut cov) = (means.to_vec(), covariances.to_vec());
    for iteration in 1..=iterations {
        expectation(x, d, &mu, &cov, &mut r).map_err(|e| match e {
            // The caller's covariances are the caller's error; later ones are the EM's.
            Error::NotPositiveDefinite { component, .. } if iteration > 1 => Error::SeedEm {
                iteration,
                reason: format!(
                    "the covariance of component {component} estimated in iteration {} is not positive definite",
                    iteration - 1
                ),
            },
            e => e,
        })?;
        if let Some(row) = r.chunks_exact(n).filter_map(|rc| rc.iter().position(|v| v.is_nan())).min() {
            let reason = if (0..k).all(|c| r[c * n + row].is_nan()) {
                format!("every component's density underflows to 0 at row {row}, so exp-then-normalise divides 0 by 0")
            } else {
                format!(
                    "a component's density overflows to infinity at row {row}, so exp-then-normalise divides ∞ by ∞"
                )
            };
            return Err(Error::SeedEm { iteration, reason });
        }
        (mu, cov) = m_step(x, d, &r, n, iteration)?;
    }
    Ok(SeedEm { means: mu, covariances: cov, responsibilities: r })
}

/// The M-step over checked shapes; `iteration` labels its errors.
fn m_step(x: &[f64], d: usize, r: &[f64], n: usize, iteration: usize) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let k = r.len() / n;
    let mut means = Vec::with_capacity(k * d);
    let mut covs = Vec::with_capacity(k * d * d);
    for (c, w) in r.chunks_exact(n).enumerate() {
        let w_sum = total(w, c, iteration)?;
        // numpy.average: Σ w·x / Σ w, per feature.
        let mu: Vec<f64> =
            (0..d).map(|a| w.iter().zip(x.chunks_exact(d)).map(|(w, p)| w * p[a]).sum::<f64>() / w_sum).collect();
        if mu.iter().any(|v| !v.is_finite()) {
            let reason = format!("the mean of component {c} is not finite");
            return Err(Error::SeedEm { iteration, reason });
        }
        let cov = weighted_covariance(x, d, w, &mu, w_sum)?;
        let cov = finite(cov, || Error::SeedEm {
            iteration,
            reason: format!("the covariance of component {c} is not finite"),
        })?;
        means.extend(mu);
        covs.extend(cov);
    }
    Ok((means, covs))
}

/// `Σ w`, or the error a zero, negative or non-finite sum is.
fn total(w: &[f64], component: usize, iteration: usize) -> Result<f64, Error> {
    let s: f64 = w.iter().sum();
    if s > 0.0 && s.is_finite() {
        Ok(s)
    } else {
        Err(Error::SeedEm {
            iteration,
            reason: format!(
                "the weights of component {component} sum to {s}, not a positive number (numpy.average refuses them)"
            ),
        })
    }
}

/// The seed's covariance loop: for each `(i, j ≤ i)`, one pass over the
/// rows, `weights.dot((X[:, i] − μᵢ)·(X[:, j] − μⱼ)) / w_sum`, mirrored.
fn weighted_covariance(x: &[f64], d: usize, w: &[f64], mu: &[f64], w_sum: f64) -> Result<Vec<f64>, Error> {
    let mut cov = try_filled("a covariance", d, d, 0.0)?;
    for i in 0..d {
        for j in 0..=i {
            let dot: f64 = w.iter().zip(x.chunks_exact(d)).map(|(w, p)| w * ((p[i] - mu[i]) * (p[j] - mu[j]))).sum();
            cov[i * d + j] = dot / w_sum;
            cov[j * d + i] = dot / w_sum;
        }
    }
    Ok(cov)
}

/// `values` if every one is finite, else `err()`.
fn finite(values: Vec<f64>, err: impl FnOnce() -> Error) -> Result<Vec<f64>, Error> {
    if values.iter().all(|v| v.is_finite()) { Ok(values) } else { Err(err()) }
}

/// Rows of an `n × d` matrix, or the error its shape is.
fn rows(x: &[f64], d: usize) -> Result<usize, Error> {
    if d == 0 {
        return Err(Error::ZeroDimension);
    }
    let n = x.len() / d;
    shape("data (values)", n * d, x.len())?;
    Ok(n)
}

fn shape(what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape { what, expected: expected.to_string(), got: got.to_string() })
    }
}
