//! Drawing points from a fitted mixture (scikit-learn's `sample`).

use rand::{Rng, RngExt};

use super::{CovarianceType, GaussianMixtureModel};
use crate::Error;
use crate::data::standard_normal;
use crate::error::try_filled;
use crate::kernels::gauss::cholesky;

impl GaussianMixtureModel {
    /// Draws `n` points from the mixture: `(x, labels)`, `x` row-major
    /// `n × d`, grouped by component as scikit-learn's `sample` returns them.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the `n × d` values cannot be allocated, before
    /// any point is drawn.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Result<(Vec<f64>, Vec<usize>), Error> {
        let (k, d) = (self.components(), self.d);
        let mut x = try_filled("the sample", n, d, 0.0)?;
        let mut labels = try_filled("the sample's labels", n, 1, 0)?;
        let mut counts = vec![0usize; k];
        for _ in 0..n {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut c = k - 1;
            for (i, w) in self.params.weights.iter().enumerate() {
                acc += w;
                if u < acc {
                    c = i;
                    break;
                }
            }
            counts[c] += 1;
        }
        // Each component's covariance factor: lower L with Σ = L·Lᵀ (it
        // exists: the model's covariances passed the same factorization).
        let factor = |c: usize| -> Result<Vec<f64>, Error> {
            let cov = &self.params.covariances;
            match self.covariance_type {
                CovarianceType::Full => cholesky(&cov[c * d * d..(c + 1) * d * d], d),
                CovarianceType::Tied => cholesky(cov, d),
                CovarianceType::Diag => Some(diag_matrix(cov[c * d..(c + 1) * d].iter().map(|v| v.sqrt()), d)),
                CovarianceType::Spherical => Some(diag_matrix(std::iter::repeat_n(cov[c].sqrt(), d), d)),
            }
            .ok_or(Error::SingularCovariance { component: c })
        };
        let mut z = vec![0.0; d];
        let mut rows = x.chunks_exact_mut(d).zip(labels.iter_mut());
        for (c, &count) in counts.iter().enumerate() {
            let l = factor(c)?;
            let mu = &self.params.means[c * d..(c + 1) * d];
            for (row, label) in rows.by_ref().take(count) {
                for v in z.iter_mut() {
                    *v = standard_normal(rng);
                }
                for (i, o) in row.iter_mut().enumerate() {
                    *o = mu[i] + (0..=i).map(|j| l[i * d + j] * z[j]).sum::<f64>();
                }
                *label = c;
            }
        }
        Ok((x, labels))
    }
}

fn diag_matrix(diag: impl Iterator<Item = f64>, d: usize) -> Vec<f64> {
    let mut m = vec![0.0; d * d];
    for (i, v) in diag.enumerate() {
        m[i * d + i] = v;
    }
    m
}
