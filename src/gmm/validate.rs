//! What a fit checks before it runs: the data, the room its pass needs,
//! the parameters, and initial parameters given by the user.

use super::stats::moments;
use super::{CovarianceType, InitialParams};
use crate::Error;
use crate::error::try_room;
use crate::kernels::gauss::{Parallelism, inverse_and_log_det, pass_values, rows};
use crate::kernels::summarize::first_non_finite;
use crate::sched::Executor;
use crate::simd::Simd;

/// Checks row-major data (shape, then NaN and infinities, scanned on
/// `exec`) and returns the number of rows.
pub(super) fn check_data<E: Executor + ?Sized>(exec: &E, x: &[f64], d: usize) -> Result<usize, Error> {
    let n = rows(x, d)?;
    match first_non_finite(exec, x) {
        Some(at) => Err(Error::NonFinite { row: at / d, column: at % d }),
        None => Ok(n),
    }
}

/// [`Error::TooLarge`] unless an EM iteration's memory could be allocated:
/// a pass over `n` rows on `exec`, and two models (the one the pass runs
/// under and the next), each with its covariances, precision factors and
/// the kernels' two copies of the factors. Checked before the work starts,
/// because the allocations it makes would abort the process if they failed.
pub(super) fn check_room<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    t: CovarianceType,
    k: usize,
    d: usize,
    n: usize,
    parallelism: Parallelism,
) -> Result<(), Error> {
    let threads = exec.threads();
    let values = (|| {
        // The kernels' factors: `k` matrices or diagonals, or for tied one
        // matrix and each component's offset (`d` padded to 24 values).
        let factors = match t {
            CovarianceType::Full => CovarianceType::Full.len(k, d)?,
            CovarianceType::Tied => d.checked_mul(d)?.checked_add(k.checked_mul(d.checked_add(24)?)?)?,
            CovarianceType::Diag | CovarianceType::Spherical => CovarianceType::Diag.len(k, d)?,
        };
        let model =
            t.len(k, d)?.checked_mul(2)?.checked_add(factors.checked_mul(2)?)?.checked_add(k.checked_mul(d)?)?;
        let tied = t == CovarianceType::Tied;
        pass_values(n, d, k, moments(t), tied, parallelism, threads, simd.lanes())?.checked_add(model.checked_mul(2)?)
    })();
    try_room("an EM iteration's working memory", values.and_then(|v| v.checked_mul(8)), || {
        let size = values.map_or_else(|| "more than usize counts".into(), |v| format!("{:.3e} bytes", 8.0 * v as f64));
        format!("{size} for {k} components of dimension {d} over {n} points on {threads} threads")
    })
}

/// `value` as a finite number `>= 0`, or the error naming `name`.
pub(super) fn non_negative(name: &'static str, value: f64) -> Result<(), Error> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, value: value.to_string(), expected: "a finite value >= 0" })
    }
}

pub(super) fn check_given(p: &InitialParams, t: CovarianceType, k: usize, d: usize) -> Result<(), Error> {
    let shape = |what, expected: Option<usize>, got: usize| {
        if expected == Some(got) {
            Ok(())
        } else {
            let expected = expected.map_or_else(|| "a size that fits in memory".into(), |e| e.to_string());
            Err(Error::Shape { what, expected, got: got.to_string() })
        }
    };
    if let Some(w) = &p.weights {
        shape("weights_init (values)", Some(k), w.len())?;
        let sum: f64 = w.iter().sum();
        if w.iter().any(|v| !(0.0..=1.0).contains(v)) || (sum - 1.0).abs() > 1e-8 {
            return Err(Error::InvalidParameter {
                name: "weights_init",
                value: format!("{w:?}"),
                expected: "values in [0, 1] summing to 1 within 1e-8",
            });
        }
    }
    if let Some(m) = &p.means {
        shape("means_init (values)", k.checked_mul(d), m.len())?;
        if let Some(at) = m.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "means_init",
                value: format!("{} at index {at}", m[at]),
                expected: "finite values",
            });
        }
    }
    if p.covariances.is_some() && p.precisions.is_some() {
        return Err(Error::InvalidParameter {
            name: "initial parameters",
            value: "both covariances and precisions".into(),
            expected: "one of covariances or precisions",
        });
    }
    for (what, v) in [("covariances_init", &p.covariances), ("precisions_init", &p.precisions)] {
        if let Some(v) = v {
            shape(what, t.len(k, d), v.len())?;
            invert_spd_blocks(v, t, d, what)?;
        }
    }
    Ok(())
}

/// Inverts each symmetric positive definite block of `v` (in the covariance
/// type's shape), by Cholesky. Errors name the first block that is not SPD.
pub(super) fn invert_spd_blocks(v: &[f64], t: CovarianceType, d: usize, what: &'static str) -> Result<Vec<f64>, Error> {
    let bad = |component| Error::NotPositiveDefinite { what, component };
    match t {
        CovarianceType::Full | CovarianceType::Tied => {
            let mut out = Vec::with_capacity(v.len());
            for (c, m) in v.chunks_exact(d * d).enumerate() {
                let symmetric = (0..d).all(|i| {
                    (0..i).all(|j| {
                        let (a, b) = (m[i * d + j], m[j * d + i]);
                        (a - b).abs() <= 1e-10 * a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
                    })
                });
                if !symmetric {
                    return Err(bad(c));
                }
                let (inv, _) = inverse_and_log_det(m, d).ok_or(bad(c))?;
                out.extend_from_slice(&inv);
            }
            Ok(out)
        }
        CovarianceType::Diag | CovarianceType::Spherical => {
            let per = if t == CovarianceType::Diag { d } else { 1 };
            v.iter()
                .enumerate()
                .map(
                    |(i, &x)| {
                        if x > 0.0 && x.is_finite() && (1.0 / x).is_finite() { Ok(1.0 / x) } else { Err(bad(i / per)) }
                    },
                )
                .collect()
        }
    }
}
