//! Mixture components prepared for the fast kernels: means, precision
//! factors (and the factors times `√½` the kernels multiply by), and each
//! component's constant.

use super::LN_2PI;
use super::panel;
use super::tied;
use crate::Error;

/// The shape of each component's precision factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// A lower-triangular `d × d` factor `W` per component, row-major.
    Triangular,
    /// A diagonal factor: `d` values `1/σⱼ` per component.
    Diagonal,
}

/// Mixture components prepared for the fast kernels.
///
/// Component `k` has mean `μₖ` (row `k` of `means`), precision factor `Wₖ`
/// with `Wₖᵀ·Wₖ = Σₖ⁻¹` (lower-triangular, the inverse of the covariance's
/// Cholesky factor; or diagonal) and log-weight `ln πₖ`. The log-density
/// of `x` is `ln πₖ − ½·d·ln 2π + Σⱼ ln Wₖⱼⱼ − ½·‖Wₖ·(x − μₖ)‖²`.
///
/// A fit with a tied covariance holds one factor `W` for all components
/// ([`factors`](Self::factors) is then one matrix), and from
/// [`panel::PANEL_FROM`] on computes `W·(x − m)` once per row, `m` the mean
/// of the means, then each component's `‖W·(x − m) − W·(μₖ − m)‖²`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussians {
    pub(super) k: usize,
    pub(super) d: usize,
    pub(super) factor: Factor,
    means: Vec<f64>,
    factors: Vec<f64>,
    /// `factors·√½`, what the kernels multiply by: `‖(W/√2)·(x − μ)‖²` is
    /// the `½·‖W·(x − μ)‖²` of the log-density, one multiply sooner. For
    /// triangular factors from [`panel::PANEL_FROM`] on, in the blocks of
    /// `Wᵀ` that the register-blocked density reads ([`panel::pack_factor`]),
    /// in place of the row-major copy.
    scaled: Vec<f64>,
    /// Per component, `ln πₖ − ½·d·ln 2π + Σⱼ ln Wₖⱼⱼ`.
    pub(super) consts: Vec<f64>,
    /// Whether one factor serves every component (a tied covariance).
    shared: bool,
    /// Where [`one_product`](Self::one_product): `m`, the mean of the
    /// means (`d` values), then per component `(W/√2)·(μₖ − m)`, each padded
    /// with zeros to [`tied::offsets_len`]. Else empty.
    shift: Vec<f64>,
    offsets: Vec<f64>,
}

impl Gaussians {
    /// Components from means (`k × d`, row-major), precision factors and
    /// log-weights (`k` values; zeros give unweighted densities).
    ///
    /// `factors` holds `k` lower-triangular `d × d` matrices (row-major, the
    /// upper triangle ignored) for [`Factor::Triangular`], or `k × d`
    /// diagonal entries for [`Factor::Diagonal`]. Each diagonal entry must be
    /// positive and finite, every value finite.
    pub fn new(
        d: usize,
        factor: Factor,
        means: Vec<f64>,
        factors: Vec<f64>,
        log_weights: &[f64],
    ) -> Result<Self, Error> {
        Self::build(d, factor, means, factors, log_weights, false)
    }

    /// Components of a tied covariance: [`new`](Self::new) with one
    /// lower-triangular `d × d` factor (row-major) for all of them. The same
    /// densities as `new` given the factor once per component, to rounding
    /// (from [`panel::PANEL_FROM`] on they take one product per row).
    pub(crate) fn tied(d: usize, means: Vec<f64>, factor: Vec<f64>, log_weights: &[f64]) -> Result<Self, Error> {
        Self::build(d, Factor::Triangular, means, factor, log_weights, true)
    }

    /// [`new`](Self::new), with one factor for every component where `shared`.
    fn build(
        d: usize,
        factor: Factor,
        means: Vec<f64>,
        factors: Vec<f64>,
        log_weights: &[f64],
        shared: bool,
    ) -> Result<Self, Error> {
        let k = log_weights.len();
        if d == 0 {
            return Err(Error::ZeroDimension);
        }
        if k == 0 {
            return Err(Error::InvalidParameter { name: "n_components", value: "0".into(), expected: "at least 1" });
        }
        let per = match factor {
            Factor::Triangular => d.checked_mul(d),
            Factor::Diagonal => Some(d),
        };
        let shape_err = |what: &'static str, expected: Option<usize>, got: usize| Error::Shape {
            what,
            expected: expected.map_or_else(|| "a size that fits in memory".into(), |e| e.to_string()),
            got: got.to_string(),
        };
        let means_len = k.checked_mul(d);
        if means_len != Some(means.len()) {
            return Err(shape_err("means (values)", means_len, means.len()));
        }
        // The factors held: one per component, or one in all.
        let mats = if shared { 1 } else { k };
        let factors_len = per.and_then(|p| p.checked_mul(mats));
        if factors_len != Some(factors.len()) {
            return Err(shape_err("precision factors (values)", factors_len, factors.len()));
        }
        if means.iter().chain(&factors).any(|v| !v.is_finite())
            || log_weights.iter().any(|v| v.is_nan() || *v == f64::INFINITY)
        {
            return Err(Error::InvalidParameter {
                name: "components",
                value: "a NaN or infinite value".into(),
                expected: "finite means and factors, log-weights below +inf",
            });
        }
        let mut log_dets = Vec::with_capacity(mats);
        for c in 0..mats {
            let mut log_det = 0.0;
            for j in 0..d {
                let wjj = match factor {
                    Factor::Triangular => factors[c * d * d + j * d + j],
                    Factor::Diagonal => factors[c * d + j],
                };
                if wjj <= 0.0 {
                    return Err(Error::NotPositiveDefinite { what: "precision factor", component: c });
                }
                log_det += wjj.ln();
            }
            log_dets.push(log_det);
        }
        let consts = log_weights
            .iter()
            .enumerate()
            .map(|(c, &lw)| lw - 0.5 * d as f64 * LN_2PI + log_dets[if shared { 0 } else { c }])
            .collect();
        let (shift, offsets) = (Vec::new(), Vec::new());
        let mut g = Gaussians { k, d, factor, means, factors, scaled: Vec::new(), consts, shared, shift, offsets };
        if factor == Factor::Triangular {
            // Zero the ignored upper triangle so no stray value is ever read.
            for c in 0..mats {
                for i in 0..d {
                    for j in i + 1..d {
                        g.factors[c * d * d + i * d + j] = 0.0;
                    }
                }
            }
        }
        let half = std::f64::consts::FRAC_1_SQRT_2;
        if g.packed() {
            // Packed from the factors, without a row-major copy between.
            g.scaled.reserve_exact(mats * panel::factor_len(d));
            for w in g.factors.chunks_exact(d * d) {
                panel::pack_factor(d, w, half, &mut g.scaled);
            }
        } else {
            g.scaled = g.factors.iter().map(|w| w * half).collect();
        }
        if g.one_product() {
            let mut shift = vec![0.0; d];
            for mu in g.means.chunks_exact(d) {
                for (m, &v) in shift.iter_mut().zip(mu) {
                    *m += v;
                }
            }
            for m in &mut shift {
                *m /= k as f64;
            }
            let mut offsets = vec![0.0; k * tied::offsets_len(d)];
            let mut delta = vec![0.0; d];
            for (mu, out) in g.means.chunks_exact(d).zip(offsets.chunks_exact_mut(tied::offsets_len(d))) {
                for ((o, &v), &m) in delta.iter_mut().zip(mu).zip(&shift) {
                    *o = v - m;
                }
                tied::offset(d, &g.scaled, &delta, out);
            }
            (g.shift, g.offsets) = (shift, offsets);
        }
        Ok(g)
    }

    /// `k` centres (`k × d`, row-major, finite) as components whose
    /// log-density is `−‖x − c‖²`: unit factors over `√2` and no constant.
    /// What [`nearest_pass`] measures distances with.
    pub(crate) fn centres(d: usize, centres: Vec<f64>) -> Self {
        let k = centres.len() / d;
        Gaussians {
            k,
            d,
            factor: Factor::Diagonal,
            means: centres,
            factors: vec![std::f64::consts::SQRT_2; k * d],
            scaled: vec![1.0; k * d],
            consts: vec![0.0; k],
            shared: false,
            shift: Vec::new(),
            offsets: Vec::new(),
        }
    }

    /// Number of components.
    pub fn components(&self) -> usize {
        self.k
    }

    /// Dimension of the data.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// The means, `k × d` row-major.
    pub fn means(&self) -> &[f64] {
        &self.means
    }

    /// The factor shape.
    pub fn factor(&self) -> Factor {
        self.factor
    }

    /// The precision factors, as given to [`Gaussians::new`] (upper
    /// triangles zeroed): for a tied covariance, the one factor.
    pub fn factors(&self) -> &[f64] {
        &self.factors
    }

    /// Component `c`'s mean.
    #[inline(always)]
    pub(super) fn mean(&self, c: usize) -> &[f64] {
        &self.means[c * self.d..(c + 1) * self.d]
    }

    /// Whether the scaled factors are packed for [`panel::log_density`].
    #[inline(always)]
    pub(super) fn packed(&self) -> bool {
        self.factor == Factor::Triangular && self.d >= panel::PANEL_FROM
    }

    /// Whether the densities take one product per row for all components
    /// ([`tied`](Self::tied), packed): see [`tied::log_densities`].
    #[inline(always)]
    pub(super) fn one_product(&self) -> bool {
        self.shared && self.packed()
    }

    /// Where [`one_product`](Self::one_product), the shift `m` of every row.
    #[inline(always)]
    pub(super) fn shift(&self) -> &[f64] {
        &self.shift
    }

    /// Where [`one_product`](Self::one_product), components `cs`' offsets
    /// `(W/√2)·(μₖ − m)`, [`tied::offsets_len`] values each.
    #[inline(always)]
    pub(super) fn offsets(&self, cs: std::ops::Range<usize>) -> &[f64] {
        let per = tied::offsets_len(self.d);
        &self.offsets[cs.start * per..cs.end * per]
    }

    /// The matrix of component `c`'s factor: `c`, or 0 where shared.
    #[inline(always)]
    fn mat(&self, c: usize) -> usize {
        if self.shared { 0 } else { c }
    }

    /// Component `c`'s factor times `√½`, packed ([`packed`](Self::packed)).
    #[inline(always)]
    pub(super) fn packed_w(&self, c: usize) -> &[f64] {
        let (per, c) = (panel::factor_len(self.d), self.mat(c));
        &self.scaled[c * per..(c + 1) * per]
    }

    /// Component `c`'s factor times `√½`, row-major (not where
    /// [`packed`](Self::packed)).
    #[inline(always)]
    pub(super) fn scaled_w(&self, c: usize) -> &[f64] {
        debug_assert!(!self.packed(), "the factors are packed");
        let c = self.mat(c);
        match self.factor {
            Factor::Triangular => &self.scaled[c * self.d * self.d..(c + 1) * self.d * self.d],
            Factor::Diagonal => &self.scaled[c * self.d..(c + 1) * self.d],
        }
    }
}

/// The number of rows of row-major data with `d` columns, or the error for
/// `d = 0` or a length that is not a multiple of `d`.
pub(crate) fn rows(x: &[f64], d: usize) -> Result<usize, Error> {
    if d == 0 {
        return Err(Error::ZeroDimension);
    }
    if !x.len().is_multiple_of(d) {
        return Err(Error::Shape {
            what: "data (values)",
            expected: format!("a multiple of d = {d}"),
            got: x.len().to_string(),
        });
    }
    Ok(x.len() / d)
}
