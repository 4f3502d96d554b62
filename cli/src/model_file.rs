//! `model.json`: a fitted mixture as NumPy/scikit-learn users expect to see it.

use std::path::Path;

use nogil::gmm::{CovarianceType, GaussianMixtureModel};
use serde::{Deserialize, Serialize};

/// The saved model. Arrays are nested as NumPy would print them.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelFile {
    pub nogil_version: String,
    pub covariance_type: String,
    pub n_components: usize,
    pub n_features: usize,
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    /// full: `k × d × d`; tied: `d × d`; diag: `k × d`; spherical: `k`, flattened.
    pub covariances: Vec<f64>,
    /// scikit-learn's `precisions_cholesky_`, flattened like `covariances`.
    pub precisions_cholesky: Vec<f64>,
    pub n_iter: usize,
    pub converged: bool,
    pub lower_bounds: Vec<f64>,
}

impl ModelFile {
    pub fn from_model(m: &GaussianMixtureModel) -> ModelFile {
        let d = m.dim();
        ModelFile {
            nogil_version: env!("CARGO_PKG_VERSION").to_string(),
            covariance_type: m.covariance_type().to_string(),
            n_components: m.components(),
            n_features: d,
            weights: m.weights().to_vec(),
            means: m.means().chunks_exact(d).map(<[f64]>::to_vec).collect(),
            covariances: m.covariances().to_vec(),
            precisions_cholesky: m.precisions_cholesky().to_vec(),
            n_iter: m.n_iter(),
            converged: m.converged(),
            lower_bounds: m.lower_bounds().to_vec(),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| format!("cannot encode the model: {e}"))?;
        crate::io::write_atomic(path, text.as_bytes())
    }

    pub fn load(path: &Path) -> Result<GaussianMixtureModel, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let f: ModelFile =
            serde_json::from_str(&text).map_err(|e| format!("{} is not a nogil model file: {e}", path.display()))?;
        let t: CovarianceType = f.covariance_type.parse().map_err(|e| format!("{}: {e}", path.display()))?;
        if f.means.iter().any(|m| m.len() != f.n_features) || f.means.len() != f.n_components {
            return Err(format!(
                "{}: the means are not {} rows of {} features",
                path.display(),
                f.n_components,
                f.n_features
            ));
        }
        let means = f.means.concat();
        GaussianMixtureModel::from_parameters(t, f.n_features, f.weights, means, f.covariances)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
