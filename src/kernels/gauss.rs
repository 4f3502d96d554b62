//! Gaussian log-densities and the fused E-step of a mixture (seed cells 37–52).
//!
//! The seed's EM computes, for every point and component,
//! `log_probability(X, mu, inv_cov, log_det, d)`: a double loop over an
//! explicit inverse covariance, `inv_cov[i + j*d]`, then `exp`, then divides
//! each row of densities by its sum. Here:
//!
//! - [`log_probability_raw`] and [`expectation_raw`]: the mirrors, the seed's
//!   loops over raw pointers, with two of its bugs fixed — the constant is
//!   `ln(2π)` (the seed's `LOG_2_PI = 0.79817986835` is `log₁₀(2π)`), and
//!   indices are `usize` (the seed's `int` overflows past 2³¹ elements);
//! - [`Gaussians`]: components prepared for the fast kernel — means, the
//!   precision Cholesky factor `W = L⁻¹` of each covariance `Σ = L·Lᵀ`
//!   (never an explicit inverse), and each component's constant
//!   `ln πₖ − ½·d·ln 2π + Σⱼ ln Wⱼⱼ`;
//! - [`log_densities`]: log πₖ + log N(x | μₖ, Σₖ) of every row for every
//!   component, SIMD across rows;
//! - the fused pass used by [`crate::gmm`]: per block of rows, the
//!   log-densities, their log-sum-exp into responsibilities, and the M-step's
//!   sufficient statistics, without materialising the responsibilities.
//!
//! # The kernel
//!
//! Rows are taken in tiles of [`TILE`]; a tile is transposed into a
//! column-major scratch so that one vector holds one coordinate of
//! [`LANES`] rows. For a component, `y = W·(x − μ)` costs `d(d+1)/2`
//! multiply-adds per row (`d` for diagonal covariances) and the squared
//! Mahalanobis distance is `‖y‖²`. Dimensions 1 to 4 are compiled with the
//! dimension as a constant, so the per-row state lives in registers; larger
//! `d` runs loops that take eight groups of rows (or four moments) at a time.
//! Both do the same operations in the same order for every lane, so their
//! results agree to the bit (a unit test holds them to it). Each lane keeps
//! its own running sums over a block, except where a block's full moments
//! would take more than 1 MiB so (many components at large `d`): each
//! tile's moments are then added across lanes as the tile ends, also in a
//! fixed order, into one value each.
//!
//! Responsibilities come from a log-sum-exp: `rₖ = exp(lₖ − m) / Σⱼ exp(lⱼ − m)`
//! with `m = maxₖ lₖ`, so a point whose densities all underflow still gets
//! responsibilities that sum to 1 (the seed's `exp` then divide gives 0/0).
//! The `exp` is nogil's own [`exp_nonpositive`] (within 1 ulp in its test);
//! for `k ≤ 8` the log-sum-exp is compiled per `k`. The log-likelihood takes
//! one `ln` per block: each tile's product of row sums `s ∈ [1, k]` is kept
//! as a power of two and a mantissa.
//!
//! Every per-row value is computed by the same operations whichever tile or
//! thread holds the row, and every sum over rows runs in a fixed order inside
//! fixed blocks, so results are bit-identical for any executor.

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

use std::cell::Cell;
use std::num::NonZeroUsize;
use std::ops::Range;

use crate::Error;
use crate::error::{try_filled, try_room};
use crate::sched::{Executor, for_each_chunk_mut, map_reduce};
use crate::simd::{
    self, F64s, LANES, Matches, exp_nonpositive, hsum, hsums, ln_normal, load, load_columns, split_exponent,
};

/// `ln(2π)`: the constant the seed meant (its `0.79817986835` is `log₁₀(2π)`).
pub const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Rows per tile of the fused kernel: a multiple of every lane width, small
/// enough that a tile's scratch stays in L1 for small `d` and `K`.
pub const TILE: usize = 128;

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

/// The lower-triangular Cholesky factor `L` of a symmetric `d × d` matrix
/// (row-major; only its lower triangle is read), `a = L·Lᵀ`.
///
/// Returns `None` when `a` is not positive definite in floating point (a
/// pivot that is not strictly positive and finite).
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    if a.len() != d.checked_mul(d)? {
        return None;
    }
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for p in 0..j {
                s -= l[i * d + p] * l[j * d + p];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// The inverse of a lower-triangular `d × d` matrix with a nonzero diagonal
/// (row-major), by forward substitution. The result is lower-triangular.
pub fn invert_lower(l: &[f64], d: usize) -> Vec<f64> {
    let mut w = vec![0.0; d * d];
    for c in 0..d {
        // Solve L·w_c = e_c for column c of W; rows above c stay zero.
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for p in c..i {
                s -= l[i * d + p] * w[p * d + c];
            }
            w[i * d + c] = s / l[i * d + i];
        }
    }
    w
}

/// The inverse and log-determinant of a symmetric positive definite `d × d`
/// matrix (row-major), through its Cholesky factor `a = L·Lᵀ`:
/// `a⁻¹ = Wᵀ·W` with `W = L⁻¹`, and `ln det a = 2·Σ ln Lᵢᵢ`. What the seed
/// takes from `numpy.linalg.inv` and `slogdet`. `None` when `a` is not
/// positive definite or its inverse overflows.
pub fn inverse_and_log_det(a: &[f64], d: usize) -> Option<(Vec<f64>, f64)> {
    let l = cholesky(a, d)?;
    let w = invert_lower(&l, d);
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            inv[i * d + j] = (i.max(j)..d).map(|p| w[p * d + i] * w[p * d + j]).sum();
        }
    }
    if inv.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let log_det = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
    Some((inv, log_det))
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
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussians {
    k: usize,
    d: usize,
    factor: Factor,
    means: Vec<f64>,
    factors: Vec<f64>,
    /// `factors·√½`, what the kernels multiply by: `‖(W/√2)·(x − μ)‖²` is
    /// the `½·‖W·(x − μ)‖²` of the log-density, one multiply sooner.
    scaled: Vec<f64>,
    consts: Vec<f64>,
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
        let factors_len = per.and_then(|p| p.checked_mul(k));
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
        let mut consts = Vec::with_capacity(k);
        for (c, &lw) in log_weights.iter().enumerate() {
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
            consts.push(lw - 0.5 * d as f64 * LN_2PI + log_det);
        }
        let mut g = Gaussians { k, d, factor, means, factors, scaled: Vec::new(), consts };
        if factor == Factor::Triangular {
            // Zero the ignored upper triangle so no stray value is ever read.
            for c in 0..k {
                for i in 0..d {
                    for j in i + 1..d {
                        g.factors[c * d * d + i * d + j] = 0.0;
                    }
                }
            }
        }
        g.scaled = g.factors.iter().map(|w| w * std::f64::consts::FRAC_1_SQRT_2).collect();
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

    /// The precision factors, as given to [`Gaussians::new`] (upper triangles zeroed).
    pub fn factors(&self) -> &[f64] {
        &self.factors
    }

    #[inline(always)]
    fn mean(&self, c: usize) -> &[f64] {
        &self.means[c * self.d..(c + 1) * self.d]
    }

    /// Component `c`'s factor times `√½`.
    #[inline(always)]
    fn scaled_w(&self, c: usize) -> &[f64] {
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

/// Sums over rows of the M-step's statistics for each component, shifted by
/// each component's mean in the [`Gaussians`] the pass used:
/// `n[k] = Σ rₖ`, `s[k] = Σ rₖ·(x − μₖ)`, `q[k] = Σ rₖ·(x − μₖ)(x − μₖ)ᵀ`
/// (lower triangle packed row by row, `i(i+1)/2 + j`, or the diagonal only),
/// and the log-likelihood `Σ ln Σₖ πₖ N(x | μₖ, Σₖ)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PassStats {
    pub n: Vec<f64>,
    pub s: Vec<f64>,
    pub q: Vec<f64>,
    pub loglik: f64,
}

impl PassStats {
    fn zeros(k: usize, d: usize, q_per: usize) -> Self {
        PassStats { n: vec![0.0; k], s: vec![0.0; k * d], q: vec![0.0; k * q_per], loglik: 0.0 }
    }

    /// Adds `other` element by element.
    pub fn add(mut self, other: PassStats) -> PassStats {
        for (a, b) in self.n.iter_mut().zip(&other.n) {
            *a += b;
        }
        for (a, b) in self.s.iter_mut().zip(&other.s) {
            *a += b;
        }
        for (a, b) in self.q.iter_mut().zip(&other.q) {
            *a += b;
        }
        self.loglik += other.loglik;
        self
    }
}

/// Which second moments the pass accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moments {
    /// The packed lower triangle of `Σ r·(x−μ)(x−μ)ᵀ`: full and tied covariances.
    Full,
    /// Its diagonal only: diagonal and spherical covariances.
    Diagonal,
    /// None: the counts and first moments only (the rounds of k-means).
    Means,
}

impl Moments {
    pub fn per_component(self, d: usize) -> usize {
        match self {
            Moments::Full => d * (d + 1) / 2,
            Moments::Diagonal => d,
            Moments::Means => 0,
        }
    }

    /// Whether `q[i][j]` (`j ≤ i`) is accumulated.
    #[inline(always)]
    fn has(self, i: usize, j: usize) -> bool {
        match self {
            Moments::Full => true,
            Moments::Diagonal => i == j,
            Moments::Means => false,
        }
    }
}

/// A block's running sums, one vector per sum so that each lane adds its
/// own rows: per component `c`, at `per·c`, the vectors of `n`, then `s`
/// (`d`), then `q` (packed as in [`PassStats`]); and the two parts of the
/// log-likelihood. Lanes are summed once, at the end of the block.
///
/// Except `q` where it is `summed` ([`sums_q`]): each tile's sums are
/// added across their lanes as the tile ends, so `q` holds one value per
/// moment, `LANES` to a vector.
struct Sums {
    v: Vec<F64s>,
    per: usize,
    /// Moments per component in `q` ([`Moments::per_component`]).
    q_per: usize,
    summed: bool,
    /// `Σ m` over rows (see [`tile_softmax`]).
    top: F64s,
    /// `Π s` over rows as `2^twos · mant`, `mant ∈ [1, 2)`: one `ln` per
    /// block instead of one per row.
    twos: F64s,
    mant: F64s,
}

impl Sums {
    fn new(k: usize, d: usize, moments: Moments, summed: bool) -> Self {
        let q_per = moments.per_component(d);
        let per = Sums::per(d, q_per, summed).expect("counted by pass_values before any pass");
        let mut v = SPARE_SUMS.take();
        v.clear();
        v.resize(k * per, F64s::splat(0.0));
        let zero = F64s::splat(0.0);
        Sums { v, per, q_per, summed, top: zero, twos: zero, mant: F64s::splat(1.0) }
    }

    /// Vectors per component for `q_per` moments; `None` past `usize`.
    fn per(d: usize, q_per: usize, summed: bool) -> Option<usize> {
        d.checked_add(1)?.checked_add(if summed { q_per.div_ceil(LANES) } else { q_per })
    }

    /// Component `c`'s vectors.
    fn component(&mut self, c: usize) -> &mut [F64s] {
        &mut self.v[c * self.per..(c + 1) * self.per]
    }

    /// The lanes summed: the block's statistics.
    fn finish(self, k: usize, d: usize) -> PassStats {
        let q_per = self.q_per;
        let mut stats = PassStats::zeros(k, d, q_per);
        for (c, v) in self.v.chunks_exact(self.per).enumerate() {
            stats.n[c] = hsum(v[0]);
            for (o, &a) in stats.s[c * d..(c + 1) * d].iter_mut().zip(&v[1..1 + d]) {
                *o = hsum(a);
            }
            let q = &mut stats.q[c * q_per..(c + 1) * q_per];
            if self.summed {
                q.copy_from_slice(&bytemuck::cast_slice::<F64s, f64>(&v[1 + d..])[..q_per]);
            } else {
                for (o, &a) in q.iter_mut().zip(&v[1 + d..]) {
                    *o = hsum(a);
                }
            }
        }
        let ln_prod = self.twos.mul_add(F64s::splat(std::f64::consts::LN_2), ln_normal(self.mant));
        stats.loglik = hsum(self.top) + hsum(ln_prod);
        SPARE_SUMS.set(self.v);
        stats
    }
}

thread_local! {
    /// The vectors of this thread's last [`Sums`], kept for its next block:
    /// allocating them anew for every block cost about a tenth of a pass
    /// when measured.
    static SPARE_SUMS: Cell<Vec<F64s>> = const { Cell::new(Vec::new()) };
}

// ---------------------------------------------------------------------------
// The dimension, as a constant (d ≤ 4) or a value.

/// How a tile's per-component loops are compiled: with `d` a constant
/// ([`Fixed`], the per-row state in registers) or a value ([`Dynamic`], loop
/// orders blocked for large `d`). Both do the same operations in the same
/// order for every lane, so their results agree to the bit.
trait Dim: Copy + Send + Sync {
    fn get(self) -> usize;

    /// Writes the rows of `src` (row-major, `d` columns) into the tile's
    /// columns `xt`: coordinate `j` of row `i` is lane `i % LANES` of
    /// `xt[j·G + i / LANES]`.
    #[inline(always)]
    fn transpose(self, src: &[f64], xt: &mut [F64s]) {
        transpose_rows(self.get(), src, xt, 0);
    }

    /// Component `c`'s log-densities of the tile's rows, into `out` (one
    /// vector per group).
    fn log_density(self, g: &Gaussians, c: usize, tile: &mut Tile, out: &mut [F64s]);

    /// Adds component `c`'s statistics of the tile to its sums `acc` (see
    /// [`Sums`]; `q` across lanes where `summed`).
    fn stats(self, g: &Gaussians, moments: Moments, c: usize, tile: &mut Tile, acc: &mut [F64s], summed: bool);
}

/// Writes the rows of `src` (row-major, `d` columns) into the tile's
/// columns `xt` as rows `first`, `first + 1`, …, one value at a time.
#[inline(always)]
fn transpose_rows(d: usize, src: &[f64], xt: &mut [F64s], first: usize) {
    let xt: &mut [f64] = bytemuck::cast_slice_mut(xt);
    for (i, row) in src.chunks_exact(d).enumerate() {
        for j in 0..d {
            xt[j * TILE + first + i] = row[j];
        }
    }
}

#[derive(Clone, Copy)]
struct Fixed<const D: usize>;

impl<const D: usize> Fixed<D> {
    /// Coordinate `j` of the rows of group `grp`, minus `mu[j]`.
    #[inline(always)]
    fn diffs(cols: &[&[F64s]; D], mu: &[F64s; D], grp: usize) -> [F64s; D] {
        let mut xs = [F64s::splat(0.0); D];
        for j in 0..D {
            xs[j] = cols[j][grp] - mu[j];
        }
        xs
    }

    /// The tile's columns, `groups` vectors each, and `μ_c` broadcast.
    #[inline(always)]
    fn columns<'t>(tile: &'t Tile, g: &Gaussians, c: usize) -> ([&'t [F64s]; D], [F64s; D]) {
        let groups = tile.groups();
        let mut cols: [&[F64s]; D] = [&[]; D];
        let mut mu = [F64s::splat(0.0); D];
        for j in 0..D {
            cols[j] = part(&tile.xt, j, groups);
            mu[j] = F64s::splat(g.mean(c)[j]);
        }
        (cols, mu)
    }
}

impl<const D: usize> Dim for Fixed<D> {
    #[inline(always)]
    fn get(self) -> usize {
        D
    }

    /// Whole groups of `LANES` rows by [`load_columns`], the rest row by row.
    #[inline(always)]
    fn transpose(self, src: &[f64], xt: &mut [F64s]) {
        let (rows, _) = src.as_chunks::<D>();
        let (groups, rest) = rows.as_chunks::<LANES>();
        for (grp, group) in groups.iter().enumerate() {
            let cols = load_columns(group);
            for j in 0..D {
                xt[j * G + grp] = cols[j];
            }
        }
        transpose_rows(D, rest.as_flattened(), xt, groups.len() * LANES);
    }

    #[inline(always)]
    fn log_density(self, g: &Gaussians, c: usize, tile: &mut Tile, out: &mut [F64s]) {
        let (cols, mu) = Self::columns(tile, g, c);
        let out = &mut out[..tile.groups()];
        let w = g.scaled_w(c);
        let konst = F64s::splat(g.consts[c]);
        // l = konst − Σᵢ yᵢ², y = (W/√2)·(x − μ).
        match g.factor {
            Factor::Triangular => {
                let mut wv = [[F64s::splat(0.0); D]; D];
                for i in 0..D {
                    for j in 0..=i {
                        wv[i][j] = F64s::splat(w[i * D + j]);
                    }
                }
                for (grp, o) in out.iter_mut().enumerate() {
                    let xs = Self::diffs(&cols, &mu, grp);
                    let mut l = konst;
                    for i in 0..D {
                        let mut y = F64s::splat(0.0);
                        for j in 0..=i {
                            y = xs[j].mul_add(wv[i][j], y);
                        }
                        l = y.mul_neg_add(y, l);
                    }
                    *o = l;
                }
            }
            Factor::Diagonal => {
                let mut wv = [F64s::splat(0.0); D];
                for j in 0..D {
                    wv[j] = F64s::splat(w[j]);
                }
                for (grp, o) in out.iter_mut().enumerate() {
                    let xs = Self::diffs(&cols, &mu, grp);
                    let mut l = konst;
                    for j in 0..D {
                        let y = xs[j] * wv[j];
                        l = y.mul_neg_add(y, l);
                    }
                    *o = l;
                }
            }
        }
    }

    #[inline(always)]
    fn stats(self, g: &Gaussians, moments: Moments, c: usize, tile: &mut Tile, acc: &mut [F64s], summed: bool) {
        debug_assert!(!summed, "d ≤ 4 keeps its at most 10 moments in lanes");
        // One copy of the loop per kind, so the kind is not tested per group.
        match moments {
            Moments::Full => stats_of::<D>(g, Moments::Full, c, tile, acc),
            Moments::Diagonal => stats_of::<D>(g, Moments::Diagonal, c, tile, acc),
            Moments::Means => stats_of::<D>(g, Moments::Means, c, tile, acc),
        }
    }
}

/// [`Fixed::stats`] for one kind of moments, inlined where it is a constant.
#[inline(always)]
fn stats_of<const D: usize>(g: &Gaussians, moments: Moments, c: usize, tile: &mut Tile, acc: &mut [F64s]) {
    let groups = tile.groups();
    let (cols, mu) = Fixed::<D>::columns(tile, g, c);
    let (e, inv) = (part(&tile.lt, c, groups), &tile.inv[..groups]);
    // The packed position of q[i][j] in `acc`.
    let q_at = |i: usize, j: usize| match moments {
        Moments::Full => 1 + D + i * (i + 1) / 2 + j,
        Moments::Diagonal | Moments::Means => 1 + D + i,
    };
    // Two sets of sums, even groups into the first (which starts from
    // `acc`) and odd groups into the second: each chain of dependent
    // multiply-adds is half as long. The blocked loops do the same.
    let mut sets = [([F64s::splat(0.0); D], [[F64s::splat(0.0); D]; D]); 2];
    let mut n = [acc[0], F64s::splat(0.0)];
    for i in 0..D {
        sets[0].0[i] = acc[1 + i];
        for j in 0..=i {
            if moments.has(i, j) {
                sets[0].1[i][j] = acc[q_at(i, j)];
            }
        }
    }
    let step = |grp: usize, n: &mut F64s, acc_s: &mut [F64s; D], acc_q: &mut [[F64s; D]; D]| {
        let r = e[grp] * inv[grp];
        let xs = Fixed::<D>::diffs(&cols, &mu, grp);
        *n += r;
        for i in 0..D {
            let ri = r * xs[i];
            acc_s[i] += ri;
            match moments {
                Moments::Full => {
                    for j in 0..=i {
                        acc_q[i][j] = ri.mul_add(xs[j], acc_q[i][j]);
                    }
                }
                Moments::Diagonal => acc_q[i][i] = ri.mul_add(xs[i], acc_q[i][i]),
                Moments::Means => {}
            }
        }
    };
    let [(s0, q0), (s1, q1)] = &mut sets;
    let [n0, n1] = &mut n;
    for pair in 0..groups / 2 {
        step(2 * pair, n0, s0, q0);
        step(2 * pair + 1, n1, s1, q1);
    }
    if groups % 2 == 1 {
        step(groups - 1, n0, s0, q0);
    }
    acc[0] = n[0] + n[1];
    for i in 0..D {
        acc[1 + i] = sets[0].0[i] + sets[1].0[i];
        for j in 0..=i {
            if moments.has(i, j) {
                acc[q_at(i, j)] = sets[0].1[i][j] + sets[1].1[i][j];
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Dynamic(usize);

impl Dim for Dynamic {
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }

    /// Whole groups of `LANES` rows as `LANES × LANES` blocks by
    /// [`simd::transpose`] when `d ≥ LANES`, the last block of a row
    /// overlapping the one before when `LANES` does not divide `d`; the rest
    /// row by row. (Value by value, LLVM vectorizes this loop with scatters,
    /// 1.4 cycles a value at d = 8.)
    #[inline(always)]
    fn transpose(self, src: &[f64], xt: &mut [F64s]) {
        let d = self.0;
        if d < LANES {
            return transpose_rows(d, src, xt, 0);
        }
        let groups = src.len() / d / LANES;
        for (grp, group) in src.chunks_exact(LANES * d).enumerate() {
            let mut j = 0;
            loop {
                let at = j.min(d - LANES);
                let block =
                    core::array::from_fn(|i| load(group[i * d + at..][..LANES].try_into().expect("LANES values")));
                for (c, col) in simd::transpose(block).into_iter().enumerate() {
                    xt[(at + c) * G + grp] = col;
                }
                j += LANES;
                if j >= d {
                    break;
                }
            }
        }
        transpose_rows(d, &src[groups * LANES * d..], xt, groups * LANES);
    }

    fn log_density(self, g: &Gaussians, c: usize, tile: &mut Tile, out: &mut [F64s]) {
        tile_log_density_blocked(self.0, g, c, tile, out)
    }

    fn stats(self, g: &Gaussians, moments: Moments, c: usize, tile: &mut Tile, acc: &mut [F64s], summed: bool) {
        tile_stats_blocked(self.0, g, moments, c, tile, acc, summed)
    }
}

/// Runs `f` with the dimension as a constant where that is compiled in.
macro_rules! with_dim {
    ($d:expr, |$dim:ident| $body:expr) => {
        match $d {
            1 => {
                let $dim = Fixed::<1>;
                $body
            }
            2 => {
                let $dim = Fixed::<2>;
                $body
            }
            3 => {
                let $dim = Fixed::<3>;
                $body
            }
            4 => {
                let $dim = Fixed::<4>;
                $body
            }
            d => {
                let $dim = Dynamic(d);
                $body
            }
        }
    };
}

// ---------------------------------------------------------------------------
// One tile.

/// Vectors per row of a tile array: `TILE` rows as `G` groups of `LANES`.
const G: usize = TILE / LANES;

/// Row `i` of a `… × G` tile array, its first `groups` vectors.
#[inline(always)]
fn part(v: &[F64s], i: usize, groups: usize) -> &[F64s] {
    &v[i * G..i * G + groups]
}

/// Scratch for one tile. Each array is rows of `G` vectors, a vector holding
/// one value of `LANES` consecutive rows of data. Vectors are aligned, so no
/// load or store splits a cache line.
struct Tile {
    /// `d × G`: coordinate `j` of every row.
    xt: Vec<F64s>,
    /// `k × G`: log-densities `lₖ`, then `eₖ = exp(lₖ − m)` (see [`tile_softmax`]).
    lt: Vec<F64s>,
    /// Per row, `m = maxₖ lₖ` (0 on padding lanes).
    top: Vec<F64s>,
    /// Per row, `s = Σₖ eₖ ≥ 1` (1 on padding lanes).
    sum: Vec<F64s>,
    /// Per row, `1/s`: responsibilities are `eₖ·(1/s)` (0 on padding lanes).
    inv: Vec<F64s>,
    /// Rows held (≤ TILE); lanes past it are padding.
    rows: usize,
    /// `d × G` scratch of the blocked (large-`d`) path: `x − μ`, for a
    /// triangular factor or full moments. Empty until first used.
    dt: Vec<F64s>,
    /// `d × G` scratch of the blocked path: `r·(x − μ)`, for full moments.
    /// Empty until first used.
    rt: Vec<F64s>,
}

impl Tile {
    fn new(k: usize, d: usize) -> Self {
        let zeros = |rows: usize| vec![F64s::splat(0.0); rows * G];
        Tile {
            xt: zeros(d),
            lt: zeros(k),
            top: zeros(1),
            sum: zeros(1),
            inv: zeros(1),
            rows: 0,
            dt: Vec::new(),
            rt: Vec::new(),
        }
    }

    /// Number of vector groups covering the rows.
    fn groups(&self) -> usize {
        self.rows.div_ceil(LANES)
    }

    /// The group holding padding lanes (only ever the last), and its mask
    /// of valid lanes (all-ones bits); `None` when every lane holds a row.
    fn padding(&self) -> Option<(usize, F64s)> {
        let last = self.rows / LANES;
        (last < self.groups()).then(|| {
            let lane = F64s::new(core::array::from_fn(|i| i as f64));
            (last, lane.simd_lt(F64s::splat((self.rows - last * LANES) as f64)))
        })
    }

    /// Copies rows `rows` of `x` (row-major, `d` columns) in, column-major.
    /// Padding lanes of the last group repeat the first row, so every lane
    /// holds finite data.
    #[inline(always)]
    fn load<D: Dim>(&mut self, dim: D, x: &[f64], rows: Range<usize>) {
        let d = dim.get();
        let t = rows.len();
        debug_assert!(t <= TILE && t > 0);
        let src = &x[rows.start * d..rows.end * d];
        dim.transpose(src, &mut self.xt);
        let xt: &mut [f64] = bytemuck::cast_slice_mut(&mut self.xt);
        for i in t..t.next_multiple_of(LANES) {
            for j in 0..d {
                xt[j * TILE + i] = src[j];
            }
        }
        self.rows = t;
    }

    /// Every component's log-densities of the loaded rows, into `lt`.
    #[inline(always)]
    fn densities<D: Dim>(&mut self, dim: D, g: &Gaussians) {
        let mut lt = std::mem::take(&mut self.lt);
        for (c, out) in lt.chunks_exact_mut(G).enumerate() {
            dim.log_density(g, c, self, out);
        }
        self.lt = lt;
    }

    /// `lt` as `k × TILE` values.
    fn lt_values(&self) -> &[f64] {
        bytemuck::cast_slice(&self.lt)
    }
}

/// Calls `f(tile, rows)` for each tile of `rows` of `x` in order, the tile
/// loaded with those rows.
#[inline(always)]
fn tiles<D: Dim>(dim: D, k: usize, x: &[f64], rows: Range<usize>, mut f: impl FnMut(&mut Tile, Range<usize>)) {
    thread_local! {
        /// The last tile this thread used, kept for the next block: a pass
        /// takes hundreds of blocks, each of which would otherwise allocate
        /// its own aligned scratch.
        static SPARE: Cell<Option<Tile>> = const { Cell::new(None) };
    }
    let d = dim.get();
    let mut tile =
        SPARE.take().filter(|t| t.lt.len() == k * G && t.xt.len() == d * G).unwrap_or_else(|| Tile::new(k, d));
    let mut start = rows.start;
    while start < rows.end {
        let end = rows.end.min(start + TILE);
        // The next tile's rows, so they arrive while this one is worked on:
        // the hardware prefetcher alone left a quarter of a d = 2 pass
        // waiting on memory on a Xeon.
        simd::prefetch(&x[(end * d).min(x.len())..((end + TILE) * d).min(x.len())]);
        tile.load(dim, x, start..end);
        f(&mut tile, start..end);
        start = end;
    }
    // A panic in `f` drops the tile instead; the next block allocates anew.
    SPARE.set(Some(tile));
}

/// Makes `scratch` hold at least `rows` rows of `G` vectors: [`Tile::dt`]
/// and [`Tile::rt`] are allocated only by the paths that use them.
fn grow(scratch: &mut Vec<F64s>, rows: usize) {
    if scratch.len() < rows * G {
        scratch.resize(rows * G, F64s::splat(0.0));
    }
}

/// Writes `x − μₖ` of every group of the tile into `tile.dt`.
fn tile_diffs(d: usize, mu: &[f64], tile: &mut Tile) {
    grow(&mut tile.dt, d);
    let groups = tile.groups();
    for j in 0..d {
        let m = F64s::splat(mu[j]);
        let dt = &mut tile.dt[j * G..j * G + groups];
        for (o, &x) in dt.iter_mut().zip(part(&tile.xt, j, groups)) {
            *o = x - m;
        }
    }
}

/// [`Dim::log_density`] for large `d`: for a triangular factor, the
/// differences of the whole tile first, then `y = W·(x − μ)` eight groups at
/// a time, so each broadcast factor entry feeds eight multiply-adds; for a
/// diagonal one, eight groups at a time straight from the tile's columns.
fn tile_log_density_blocked(d: usize, g: &Gaussians, c: usize, tile: &mut Tile, out: &mut [F64s]) {
    let (w, konst) = (g.scaled_w(c), F64s::splat(g.consts[c]));
    let groups = tile.groups();
    let (blocks, rest) = out[..groups].as_chunks_mut::<8>();
    let first_rest = 8 * blocks.len();
    match g.factor {
        Factor::Triangular => {
            tile_diffs(d, g.mean(c), tile);
            for (b, o) in blocks.iter_mut().enumerate() {
                *o = log_density_groups::<8>(d, w, konst, &tile.dt, 8 * b);
            }
            for (i, o) in rest.iter_mut().enumerate() {
                *o = log_density_groups::<1>(d, w, konst, &tile.dt, first_rest + i)[0];
            }
        }
        Factor::Diagonal => {
            let mu = g.mean(c);
            for (b, o) in blocks.iter_mut().enumerate() {
                *o = diagonal_groups::<8>(mu, w, konst, &tile.xt, 8 * b);
            }
            for (i, o) in rest.iter_mut().enumerate() {
                *o = diagonal_groups::<1>(mu, w, konst, &tile.xt, first_rest + i)[0];
            }
        }
    }
}

/// Diagonal log-densities of `N` consecutive groups from `first`, from the
/// tile's columns `xt`: `y = (x − μ)·w`, then `l −= y²`, in ascending
/// coordinate order. Each `x − μ` is used once, so it is formed here rather
/// than stored by [`tile_diffs`] and loaded back.
#[inline(always)]
fn diagonal_groups<const N: usize>(mu: &[f64], w: &[f64], konst: F64s, xt: &[F64s], first: usize) -> [F64s; N] {
    let mut l = [konst; N];
    for (j, (&m, &wj)) in mu.iter().zip(w).enumerate() {
        let (m, wj) = (F64s::splat(m), F64s::splat(wj));
        let x: &[F64s; N] = xt[j * G + first..j * G + first + N].try_into().expect("N groups");
        for b in 0..N {
            let y = (x[b] - m) * wj;
            l[b] = y.mul_neg_add(y, l[b]);
        }
    }
    l
}

/// Triangular log-densities of `N` consecutive groups from `first`, from
/// the tile's differences `dt` (a constant `N`, so the `N` running sums
/// stay in registers).
#[inline(always)]
fn log_density_groups<const N: usize>(d: usize, w: &[f64], konst: F64s, dt: &[F64s], first: usize) -> [F64s; N] {
    let mut l = [konst; N];
    let x = |j: usize| -> &[F64s; N] { dt[j * G + first..j * G + first + N].try_into().expect("N groups") };
    // One row of y: Σⱼ wᵢⱼ·xⱼ in ascending j, then l −= y².
    let row = |i: usize, l: &mut [F64s; N]| {
        let mut y = [F64s::splat(0.0); N];
        for j in 0..=i {
            let (wij, xj) = (F64s::splat(w[i * d + j]), x(j));
            for b in 0..N {
                y[b] = xj[b].mul_add(wij, y[b]);
            }
        }
        for b in 0..N {
            l[b] = y[b].mul_neg_add(y[b], l[b]);
        }
    };
    // Rows i and i + 1 together, in the same order as `row` twice:
    // each xⱼ loaded once feeds two rows, and 2N chains of dependent
    // multiply-adds cover the latency that N alone left exposed on a
    // core with two FMA pipes (one row over four groups took up to a
    // quarter longer at d = 32 on a Xeon).
    let mut i = 0;
    while i + 1 < d {
        let mut y0 = [F64s::splat(0.0); N];
        let mut y1 = [F64s::splat(0.0); N];
        for j in 0..=i {
            let (w0, w1, xj) = (F64s::splat(w[i * d + j]), F64s::splat(w[(i + 1) * d + j]), x(j));
            for b in 0..N {
                y0[b] = xj[b].mul_add(w0, y0[b]);
                y1[b] = xj[b].mul_add(w1, y1[b]);
            }
        }
        let (w1, xj) = (F64s::splat(w[(i + 1) * d + i + 1]), x(i + 1));
        for b in 0..N {
            y1[b] = xj[b].mul_add(w1, y1[b]);
        }
        for b in 0..N {
            l[b] = y0[b].mul_neg_add(y0[b], l[b]);
        }
        for b in 0..N {
            l[b] = y1[b].mul_neg_add(y1[b], l[b]);
        }
        i += 2;
    }
    if i < d {
        row(i, &mut l);
    }
    l
}

/// The tile's log-sum-exp, row by row: `lt[c]` becomes `eₖ = exp(lₖ − m)`
/// with `m = maxₖ lₖ`, and `top`, `sum`, `inv` get `m`, `s = Σₖ eₖ` and
/// `1/s`. The responsibilities are `eₖ·(1/s)` and the row's log-likelihood
/// is `m + ln s`. Padding lanes get `m = 0`, `s = 1` and `1/s = 0`, so they
/// add nothing to any sum over rows.
#[inline(always)]
fn tile_softmax(k: usize, tile: &mut Tile) {
    // With k a constant the row's k values, its maximum and its sum stay in
    // registers; any other k takes one pass per step over the tile.
    match k {
        1 => softmax_fixed::<1>(tile),
        2 => softmax_fixed::<2>(tile),
        3 => softmax_fixed::<3>(tile),
        4 => softmax_fixed::<4>(tile),
        5 => softmax_fixed::<5>(tile),
        6 => softmax_fixed::<6>(tile),
        7 => softmax_fixed::<7>(tile),
        8 => softmax_fixed::<8>(tile),
        _ => softmax_any(k, tile),
    }
    if let Some((last, valid)) = tile.padding() {
        tile.top[last] &= valid;
        tile.sum[last] = valid.bitselect(tile.sum[last], F64s::splat(1.0));
        tile.inv[last] &= valid;
    }
}

/// [`tile_softmax`] for `K` components, group by group. The same operations
/// in the same order as [`softmax_any`], so the bits agree.
#[inline(always)]
fn softmax_fixed<const K: usize>(tile: &mut Tile) {
    let groups = tile.groups();
    let Tile { lt, top, sum, inv, .. } = tile;
    let (rows, _) = lt.as_chunks_mut::<G>();
    let rows = &mut rows[..K];
    for grp in 0..groups.min(G) {
        let mut l = [F64s::splat(0.0); K];
        for c in 0..K {
            l[c] = rows[c][grp];
        }
        let mut m = l[0];
        for c in 1..K {
            m = m.fast_max(l[c]);
        }
        let mut s = F64s::splat(0.0);
        for c in 0..K {
            let e = exp_nonpositive(l[c] - m);
            rows[c][grp] = e;
            s = if c == 0 { e } else { s + e };
        }
        top[grp] = m;
        sum[grp] = s;
        inv[grp] = F64s::splat(1.0) / s;
    }
}

/// [`tile_softmax`] for any `k`, one step at a time over the whole tile.
fn softmax_any(k: usize, tile: &mut Tile) {
    let groups = tile.groups();
    let Tile { lt, top, sum, inv, .. } = tile;
    let (top, sum, inv) = (&mut top[..groups], &mut sum[..groups], &mut inv[..groups]);
    let lt = &mut lt[..k * G];
    // NaN-ignoring max: a NaN lₖ still makes its eₖ, s and ln s NaN.
    top.copy_from_slice(&lt[..groups]);
    for row in lt.chunks_exact(G).skip(1) {
        for (m, &l) in top.iter_mut().zip(&row[..groups]) {
            *m = m.fast_max(l);
        }
    }
    let (first, rest) = lt.split_at_mut(G);
    for ((l, &m), s) in first[..groups].iter_mut().zip(top.iter()).zip(sum.iter_mut()) {
        *l = exp_nonpositive(*l - m);
        *s = *l;
    }
    for row in rest.chunks_exact_mut(G) {
        for ((l, &m), s) in row[..groups].iter_mut().zip(top.iter()).zip(sum.iter_mut()) {
            *l = exp_nonpositive(*l - m);
            *s += *l;
        }
    }
    for (i, &s) in inv.iter_mut().zip(sum.iter()) {
        *i = F64s::splat(1.0) / s;
    }
}

/// Multiplies `lt` by `inv` in place: the responsibilities.
fn tile_responsibilities(k: usize, tile: &mut Tile) {
    let groups = tile.groups();
    for row in tile.lt[..k * G].chunks_exact_mut(G) {
        for (e, &inv) in row[..groups].iter_mut().zip(&tile.inv[..groups]) {
            *e *= inv;
        }
    }
}

/// [`Dim::stats`] for large `d`: for the full triangle, `x − μ` and
/// `r·(x − μ)` of the whole tile first, then each moment summed over the
/// tile's groups in one register, instead of `d²` accumulators stored and
/// reloaded for every group; the other moments by [`tile_stats_diagonal`].
fn tile_stats_blocked(
    d: usize,
    g: &Gaussians,
    moments: Moments,
    c: usize,
    tile: &mut Tile,
    acc: &mut [F64s],
    summed: bool,
) {
    if moments != Moments::Full {
        return tile_stats_diagonal(d, g, moments, c, tile, acc);
    }
    tile_diffs(d, g.mean(c), tile);
    grow(&mut tile.rt, d);
    let groups = tile.groups();
    let Tile { lt, inv, dt, rt, .. } = tile;
    let (e, inv) = (part(lt, c, groups), &inv[..groups]);
    fold2(&mut acc[0], e.iter().zip(inv), |a, (&e, &inv)| a + e * inv);
    for i in 0..d {
        let (x, out) = (part(dt, i, groups), &mut rt[i * G..i * G + groups]);
        let terms = out.iter_mut().zip(x).zip(e.iter().zip(inv));
        fold2(&mut acc[1 + i], terms, |a, ((o, &x), (&e, &inv))| {
            *o = (e * inv) * x;
            a + *o
        });
    }
    // The full triangle (the other moments are `tile_stats_diagonal`'s).
    let (dt, rt, q) = (&*dt, &*rt, &mut acc[1 + d..]);
    if summed {
        let mut q = LaneSums::new(q);
        full_moments(d, groups, dt, rt, &mut q);
        q.finish();
    } else {
        full_moments(d, groups, dt, rt, &mut InLanes(q));
    }
}

/// The tile's full moments `Σ r·(x − μ)ᵢ·(x − μ)ⱼ`, `j ≤ i`, from its
/// `x − μ` (`dt`) and `r·(x − μ)` (`rt`), each summed over the groups into
/// one vector from where `q` says and given to `q`, in packed order.
#[inline(always)]
fn full_moments(d: usize, groups: usize, dt: &[F64s], rt: &[F64s], q: &mut impl MomentSums) {
    let mut at = 0;
    for i in 0..d {
        // Four moments of row i at a time: each r·(x − μ)ᵢ loaded once
        // feeds four chains (eight, with fold2's two halves).
        let mut j = 0;
        while j + 4 <= i + 1 {
            let x = [part(dt, j, groups), part(dt, j + 1, groups), part(dt, j + 2, groups), part(dt, j + 3, groups)];
            q.put(at, moments4(part(rt, i, groups), x, q.start(at)));
            (j, at) = (j + 4, at + 4);
        }
        for j in j..=i {
            let [mut a] = q.start(at);
            fold2(&mut a, part(rt, i, groups).iter().zip(part(dt, j, groups)), |a, (&r, &x)| r.mul_add(x, a));
            q.put(at, [a]);
            at += 1;
        }
    }
}

/// Whether a block sums the full moments `q` across lanes tile by tile
/// (see [`Sums`]): where `k` components' moments in lanes would take more
/// than [`SUM_Q_ABOVE`] bytes, all read and written for every tile. Only
/// the blocked path (`d > 4`) does; at most 10 moments per component stay
/// in registers over a tile.
fn sums_q(k: usize, d: usize, moments: Moments) -> bool {
    let lanes = k.saturating_mul(moments.per_component(d)).saturating_mul(size_of::<F64s>());
    d > 4 && moments == Moments::Full && lanes > SUM_Q_ABOVE
}

/// About half a core's level-2 cache. Summing every block's moments across
/// lanes (per tile, 21 permutes and adds for 8 moments with AVX-512) was
/// measured on a Xeon, one thread: with k = 16, d = 8 and 32 ran 12% and 5%
/// slower per iteration, d = 64 and 160 3–21% and 10% faster; with k = 64,
/// d = 256 ran 9–16% faster. Above it the sums also take a `LANES`-th of
/// the memory, on every thread.
const SUM_Q_ABOVE: usize = 1 << 20;

/// Where [`full_moments`] puts each moment's sum over a tile, at its packed
/// position `at`.
trait MomentSums {
    /// What the tile's sums of moments `at..at + M` start from.
    fn start<const M: usize>(&self, at: usize) -> [F64s; M];

    /// Puts the tile's sums of moments `at..at + M`.
    fn put<const M: usize>(&mut self, at: usize, sums: [F64s; M]);
}

/// `LANES` running sums per moment, from which the tile's start.
struct InLanes<'a>(&'a mut [F64s]);

impl MomentSums for InLanes<'_> {
    #[inline(always)]
    fn start<const M: usize>(&self, at: usize) -> [F64s; M] {
        self.0[at..at + M].try_into().expect("M sums")
    }

    #[inline(always)]
    fn put<const M: usize>(&mut self, at: usize, sums: [F64s; M]) {
        self.0[at..at + M].copy_from_slice(&sums);
    }
}

/// One value per moment: each tile's sums start from 0 and are added
/// across lanes.
impl MomentSums for LaneSums<'_> {
    #[inline(always)]
    fn start<const M: usize>(&self, _: usize) -> [F64s; M] {
        [F64s::splat(0.0); M]
    }

    #[inline(always)]
    fn put<const M: usize>(&mut self, at: usize, sums: [F64s; M]) {
        debug_assert_eq!(self.pushed(), at);
        for v in sums {
            self.push(v);
        }
    }
}

/// Adds vectors' lane sums ([`hsum`]) to consecutive values packed `LANES`
/// to a vector, `LANES` vectors at a time ([`hsums`]).
struct LaneSums<'a> {
    out: &'a mut [F64s],
    held: [F64s; LANES],
    len: usize,
    next: usize,
}

impl<'a> LaneSums<'a> {
    #[inline(always)]
    fn new(out: &'a mut [F64s]) -> Self {
        LaneSums { out, held: [F64s::splat(0.0); LANES], len: 0, next: 0 }
    }

    /// Values given so far.
    fn pushed(&self) -> usize {
        self.next * LANES + self.len
    }

    /// The next value gets `hsum(v)`.
    #[inline(always)]
    fn push(&mut self, v: F64s) {
        self.held[self.len] = v;
        self.len += 1;
        if self.len == LANES {
            self.out[self.next] += hsums(self.held);
            self.next += 1;
            self.len = 0;
        }
    }

    /// Adds what is held (the values past it get 0).
    #[inline(always)]
    fn finish(mut self) {
        if self.len > 0 {
            self.held[self.len..].fill(F64s::splat(0.0));
            self.out[self.next] += hsums(self.held);
        }
    }
}

/// [`tile_stats_blocked`] without the off-diagonal moments: each `x − μ`
/// and `r·(x − μ)` is used only where it is made, so neither is stored. The
/// same operations, each sum split as [`fold2`] splits it, so the same bits.
fn tile_stats_diagonal(d: usize, g: &Gaussians, moments: Moments, c: usize, tile: &Tile, acc: &mut [F64s]) {
    let groups = tile.groups();
    let (e, inv) = (part(&tile.lt, c, groups), &tile.inv[..groups]);
    fold2(&mut acc[0], e.iter().zip(inv), |a, (&e, &inv)| a + e * inv);
    let (first, second) = acc[1..].split_at_mut(d);
    for (i, &mu) in g.mean(c).iter().enumerate() {
        let m = F64s::splat(mu);
        let terms = part(&tile.xt, i, groups).iter().zip(e.iter().zip(inv));
        let r_x = |(&x, (&e, &inv)): (&F64s, (&F64s, &F64s))| {
            let x = x - m;
            ((e * inv) * x, x)
        };
        if moments == Moments::Diagonal {
            let mut sums = [first[i], second[i]];
            fold2_each(&mut sums, terms.map(r_x), |[s, q], (o, x)| [s + o, o.mul_add(x, q)]);
            [first[i], second[i]] = sums;
        } else {
            fold2(&mut first[i], terms.map(r_x), |s, (o, _)| s + o);
        }
    }
}

/// `start[b] + Σ_g r[g]·x[b][g]` for four `b` at once, each sum split as
/// [`fold2`] splits it (so the bits are those of four `fold2` calls).
#[inline(always)]
fn moments4(r: &[F64s], x: [&[F64s]; 4], start: [F64s; 4]) -> [F64s; 4] {
    let groups = r.len();
    let x = [&x[0][..groups], &x[1][..groups], &x[2][..groups], &x[3][..groups]];
    let mut even = start;
    let mut odd = [F64s::splat(0.0); 4];
    for pair in 0..groups / 2 {
        let (g0, g1) = (2 * pair, 2 * pair + 1);
        for b in 0..4 {
            even[b] = r[g0].mul_add(x[b][g0], even[b]);
        }
        for b in 0..4 {
            odd[b] = r[g1].mul_add(x[b][g1], odd[b]);
        }
    }
    if groups % 2 == 1 {
        let g = groups - 1;
        for b in 0..4 {
            even[b] = r[g].mul_add(x[b][g], even[b]);
        }
    }
    core::array::from_fn(|b| even[b] + odd[b])
}

/// Folds `items` into `acc` two ways, as [`Fixed`]'s statistics loop does:
/// items 0, 2, 4, … into a partial that starts at `acc`, items 1, 3, … into
/// one that starts at 0, then `acc` becomes their sum ([`fold2_each`] of one
/// sum).
#[inline(always)]
fn fold2<T>(acc: &mut F64s, items: impl Iterator<Item = T>, mut f: impl FnMut(F64s, T) -> F64s) {
    fold2_each(core::array::from_mut(acc), items, |[a], item| [f(a, item)]);
}

/// [`fold2`] of `M` sums over the same items at once: each sum's even and
/// odd items in two partials, then added, as `fold2` of it alone would.
#[inline(always)]
fn fold2_each<const M: usize, T>(
    acc: &mut [F64s; M],
    mut items: impl Iterator<Item = T>,
    mut f: impl FnMut([F64s; M], T) -> [F64s; M],
) {
    let (mut even, mut odd) = (*acc, [F64s::splat(0.0); M]);
    while let Some(item) = items.next() {
        even = f(even, item);
        match items.next() {
            Some(item) => odd = f(odd, item),
            None => break,
        }
    }
    for (a, (e, o)) in acc.iter_mut().zip(even.into_iter().zip(odd)) {
        *a = e + o;
    }
}

/// Adds the tile's `Σ (m + ln s)` to `sums`: `Σ m`, and `Π s` kept as a
/// power of two and a mantissa, so the block needs one `ln` per lane. Each
/// `s` is in `[1, k]` and a lane holds `G ≤ 32` of them, so the tile's
/// product stays below `k³²`, finite for every `k < 2³¹`. A NaN `s` (from
/// NaN data) makes the power NaN.
fn tile_loglik(tile: &Tile, sums: &mut Sums) {
    let groups = tile.groups();
    let mut prod = F64s::splat(1.0);
    for (&m, &s) in tile.top[..groups].iter().zip(&tile.sum[..groups]) {
        sums.top += m;
        prod *= s;
    }
    #[allow(clippy::eq_op)]
    let nan = prod - prod;
    let (e1, m1) = split_exponent(prod);
    let (e2, m2) = split_exponent(sums.mant * m1);
    sums.twos += (e1 + nan) + e2;
    sums.mant = m2;
}

/// Statistics of `rows` of `x`, tile by tile, in order: the map of a block.
/// `weigh(tile, rows, sums)` gives each of the tile's rows its weight for
/// each component, as `lt` times `inv` (see [`Tile`]), and adds the rows'
/// log-likelihood to `sums`: [`responsibilities`] of log-densities computed
/// in place (data parallelism) or copied from the model-parallel buffer, or
/// the nearest centre's one-hot ([`nearest_pass`]). Then every component's
/// statistics, shifted by its mean in `g`.
#[inline(always)]
fn block_stats<D: Dim>(
    dim: D,
    g: &Gaussians,
    moments: Moments,
    x: &[f64],
    rows: Range<usize>,
    weigh: impl FnMut(&mut Tile, Range<usize>, &mut Sums),
) -> PassStats {
    block_stats_with(dim, g, moments, sums_q(g.k, dim.get(), moments), x, rows, weigh)
}

/// [`block_stats`] with the full moments summed across lanes exactly when
/// `summed` (see [`Sums`]), whatever [`sums_q`] would choose.
fn block_stats_with<D: Dim>(
    dim: D,
    g: &Gaussians,
    moments: Moments,
    summed: bool,
    x: &[f64],
    rows: Range<usize>,
    mut weigh: impl FnMut(&mut Tile, Range<usize>, &mut Sums),
) -> PassStats {
    let (k, d) = (g.k, dim.get());
    let mut sums = Sums::new(k, d, moments, summed);
    tiles(dim, k, x, rows, |tile, r| {
        weigh(tile, r, &mut sums);
        for c in 0..k {
            dim.stats(g, moments, c, tile, sums.component(c), summed);
        }
    });
    sums.finish(k, d)
}

/// Turns a tile's log-densities, in place, into responsibilities (as `lt`
/// times `inv`) and adds its log-likelihood to `sums`.
#[inline(always)]
fn responsibilities(k: usize, tile: &mut Tile, sums: &mut Sums) {
    tile_softmax(k, tile);
    tile_loglik(tile, sums);
}

/// The block of rows a pass reduces at a time: fixed for given `n`, `d` and
/// `k` (never by thread count, so the sums have the same bits on every
/// executor). At least 4096 rows, so that a block's partial statistics are
/// small beside its rows; about `n / 64` for large `n`, because every block
/// costs a result to make and combine (at 4096 rows, a tenth of a
/// two-thread pass over 4·10⁶ points when measured), while 64 blocks still
/// give any schedule room to balance 16 threads; at most 2¹⁶.
pub(crate) fn pass_block(n: usize, d: usize, k: usize, moments: Moments) -> NonZeroUsize {
    let stats_len = k * (1 + d + moments.per_component(d));
    let least = (stats_len.saturating_mul(8) / d.max(1)).clamp(4096, 1 << 16);
    let rows = (n / 64).clamp(least, 1 << 16).next_multiple_of(TILE);
    NonZeroUsize::new(rows).expect("at least 4096")
}

/// The most `f64` values a [`pass`] of `k` components over `n` rows of
/// dimension `d` holds beside its inputs, on `threads` threads, for a fit
/// (whose factors are triangular exactly when its moments are full): each
/// thread's running sums (`LANES` per statistic, but one per moment of `q`
/// where [`sums_q`]) and tile, every block's statistics (an executor that
/// runs blocks in no useful order may hold about half of them at once;
/// [`map_reduce`] combines ascending ones as they come) and the result, and
/// for [`Parallelism::Model`] the `k × n` log-densities. `None` when the
/// count overflows `usize`.
pub(crate) fn pass_values(
    n: usize,
    d: usize,
    k: usize,
    moments: Moments,
    parallelism: Parallelism,
    threads: usize,
) -> Option<usize> {
    let second = match moments {
        Moments::Full => d.checked_mul(d.checked_add(1)?)? / 2,
        Moments::Diagonal => d,
        Moments::Means => 0,
    };
    let stats = k.checked_mul(d.checked_add(1)?.checked_add(second)?)?;
    let full = moments == Moments::Full;
    let sums = k.checked_mul(Sums::per(d, second, sums_q(k, d, moments))?)?;
    let per_thread = sums.checked_mul(LANES)?.checked_add(tile_values(k, d, full, full)?)?;
    let blocks = n.div_ceil(pass_block(n, d, k, moments).get());
    let densities = match parallelism {
        Parallelism::Data => 0,
        Parallelism::Model => k.checked_mul(n)?,
    };
    per_thread.checked_mul(threads)?.checked_add(stats.checked_mul(blocks.checked_add(1)?)?)?.checked_add(densities)
}

/// The `f64` values of one thread's [`Tile`] for `k` components of
/// dimension `d`, with the blocked path's scratch (`d > 4`): `x − μ` for a
/// `triangular` factor's densities or for `full_moments`, and `r·(x − μ)`
/// for full moments. `None` when that overflows `usize`.
fn tile_values(k: usize, d: usize, triangular: bool, full_moments: bool) -> Option<usize> {
    let scratch = if d > 4 { usize::from(triangular || full_moments) + usize::from(full_moments) } else { 0 };
    k.checked_add(d.checked_mul(1 + scratch)?)?.checked_add(3)?.checked_mul(TILE)
}

/// How the E-step is spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// Threads over blocks of rows; each block does every component (the default).
    #[default]
    Data,
    /// Threads over components for the log-densities (the seed's last cells),
    /// written to a `k × n` buffer; then blocks of rows normalize and sum.
    Model,
}

/// One fused E-step pass: the sufficient statistics and log-likelihood of
/// all of `x` under `g`. Bit-identical for any executor, and for either
/// [`Parallelism`].
pub(crate) fn pass<E: Executor + ?Sized>(
    exec: &E,
    g: &Gaussians,
    moments: Moments,
    parallelism: Parallelism,
    x: &[f64],
) -> PassStats {
    let (k, d) = (g.k, g.d);
    let n = x.len() / d;
    let block = pass_block(n, d, k, moments);
    match parallelism {
        Parallelism::Data => with_dim!(d, |dim| map_reduce(
            exec,
            n,
            block,
            |rows| block_stats(dim, g, moments, x, rows, |tile, _, sums| {
                tile.densities(dim, g);
                responsibilities(k, tile, sums);
            }),
            PassStats::add
        )),
        Parallelism::Model => {
            let dens = model_parallel_densities(exec, g, x, n);
            let copy = |tile: &mut Tile, r: Range<usize>, sums: &mut Sums| {
                for c in 0..k {
                    let t = r.len();
                    let lt: &mut [f64] = bytemuck::cast_slice_mut(&mut tile.lt[c * G..(c + 1) * G]);
                    lt[..t].copy_from_slice(&dens[c * n + r.start..c * n + r.end]);
                    lt[t..].fill(0.0);
                }
                responsibilities(k, tile, sums);
            };
            with_dim!(d, |dim| map_reduce(
                exec,
                n,
                block,
                |rows| block_stats(dim, g, moments, x, rows, copy),
                PassStats::add
            ))
        }
    }
    .unwrap_or_else(|| PassStats::zeros(k, d, moments.per_component(d)))
}

/// The k-means pass: each row of `x` goes to its nearest centre of
/// `centres` (made by [`Gaussians::centres`]; squared Euclidean distance,
/// the first of equal ones), and the statistics are those of that one-hot
/// assignment, shifted by the centres, with `loglik` the negative inertia
/// `−Σ minₖ ‖x − cₖ‖²`. The same blocks, tiles and sums as [`pass`], so it
/// is bit-identical for any executor too.
pub(crate) fn nearest_pass<E: Executor + ?Sized>(
    exec: &E,
    centres: &Gaussians,
    moments: Moments,
    x: &[f64],
) -> PassStats {
    let (k, d) = (centres.k, centres.d);
    let n = x.len() / d;
    let block = pass_block(n, d, k, moments);
    with_dim!(d, |dim| map_reduce(
        exec,
        n,
        block,
        |rows| block_stats(dim, centres, moments, x, rows, |tile, _, sums| {
            tile.densities(dim, centres);
            sums.top += tile_nearest(k, tile);
        }),
        PassStats::add
    ))
    .unwrap_or_else(|| PassStats::zeros(k, d, moments.per_component(d)))
}

/// The squared distances from rows `rows` of `x` to each of `centres` (made
/// by [`Gaussians::centres`]), by the tiles of the general-`d` path, a group
/// of `LANES` rows at a time: `f(first, dist, valid)` gets the group's first
/// row, its distances to centre `c` in `dist[c]`, and the mask of the lanes
/// that hold a row (padding lanes repeat a row). For k-means++ with `d > 4`.
pub(crate) fn centre_distances(
    centres: &Gaussians,
    x: &[f64],
    rows: Range<usize>,
    mut f: impl FnMut(usize, &[F64s], F64s),
) {
    let k = centres.k;
    let all = F64s::splat(0.0).simd_eq(F64s::splat(0.0));
    let mut dist = vec![F64s::splat(0.0); k];
    let dim = Dynamic(centres.d);
    tiles(dim, k, x, rows, |tile, r| {
        tile.densities(dim, centres);
        let padding = tile.padding();
        for grp in 0..tile.groups() {
            for (o, l) in dist.iter_mut().zip(tile.lt.chunks_exact(G)) {
                *o = -l[grp];
            }
            let valid = match padding {
                Some((last, mask)) if last == grp => mask,
                _ => all,
            };
            f(r.start + grp * LANES, &dist, valid);
        }
    });
}

/// Turns the tile's `lt = −‖x − cₖ‖²` into the one-hot assignment to the
/// largest (the nearest centre, the first of equals), with `inv` 1 (0 on
/// padding lanes) so that [`Dim::stats`] sums it, and returns the sum over
/// groups of the largest values (0 on padding lanes).
fn tile_nearest(k: usize, tile: &mut Tile) -> F64s {
    // As in `tile_softmax`: k a constant where that unrolls the loops.
    match k {
        1 => nearest_groups::<1>(k, tile),
        2 => nearest_groups::<2>(k, tile),
        3 => nearest_groups::<3>(k, tile),
        4 => nearest_groups::<4>(k, tile),
        5 => nearest_groups::<5>(k, tile),
        6 => nearest_groups::<6>(k, tile),
        7 => nearest_groups::<7>(k, tile),
        8 => nearest_groups::<8>(k, tile),
        _ => nearest_groups::<0>(k, tile),
    }
    if let Some((last, valid)) = tile.padding() {
        tile.top[last] &= valid;
        tile.inv[last] &= valid;
    }
    tile.top[..tile.groups()].iter().fold(F64s::splat(0.0), |t, &b| t + b)
}

/// [`tile_nearest`]'s assignment, group by group, into `lt`, `top` and
/// `inv` (all 1); for `K` components, or any `k` when `K` is 0.
#[inline(always)]
fn nearest_groups<const K: usize>(k: usize, tile: &mut Tile) {
    let k = if K > 0 { K } else { k };
    let groups = tile.groups().min(G);
    let Tile { lt, top, inv, .. } = tile;
    let (rows, _) = lt.as_chunks_mut::<G>();
    let rows = &mut rows[..k];
    // The 1s are stored group by group: `inv.fill` compiled to scatters.
    for ((grp, top), inv) in top[..groups].iter_mut().enumerate().zip(&mut inv[..groups]) {
        *inv = F64s::splat(1.0);
        let mut best = rows[0][grp];
        for row in &rows[1..] {
            best = best.fast_max(row[grp]);
        }
        let mut taken = Matches::none();
        for row in rows.iter_mut() {
            row[grp] = taken.first(row[grp], best);
        }
        *top = best;
    }
}

/// The seed's model parallelism: one task per component, each computing its
/// log-densities for every row into its own row of a `k × n` buffer.
fn model_parallel_densities<E: Executor + ?Sized>(exec: &E, g: &Gaussians, x: &[f64], n: usize) -> Vec<f64> {
    let (k, d) = (g.k, g.d);
    let mut dens = vec![0.0; k * n];
    if n == 0 {
        return dens;
    }
    for_each_chunk_mut(exec, &mut dens, n, |components, out| {
        with_dim!(d, |dim| {
            let mut scratch = vec![F64s::splat(0.0); G];
            for (c, row) in components.zip(out.chunks_exact_mut(n)) {
                tiles(dim, 1, x, 0..n, |tile, r| {
                    dim.log_density(g, c, tile, &mut scratch);
                    let values: &[f64] = bytemuck::cast_slice(&scratch);
                    row[r.clone()].copy_from_slice(&values[..r.len()]);
                });
            }
        })
    });
    dens
}

/// What [`per_row`] writes for each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowOutput {
    /// `k` weighted log-densities `ln πₖ + ln N(x | μₖ, Σₖ)`.
    LogDensities,
    /// `k` responsibilities.
    Responsibilities,
    /// One value: `ln Σₖ πₖ N(x | μₖ, Σₖ)`.
    LogLikelihood,
    /// One value: the index of the most responsible component (as f64).
    Label,
}

impl RowOutput {
    pub fn width(self, k: usize) -> usize {
        match self {
            RowOutput::LogDensities | RowOutput::Responsibilities => k,
            RowOutput::LogLikelihood | RowOutput::Label => 1,
        }
    }
}

/// Per-row outputs of `x` under `g`, in parallel; `out` holds `width` values per row.
///
/// [`Error::TooLarge`], before any work, if the tiles cannot be allocated:
/// each thread that takes rows holds one of `k + d + 3` rows of [`TILE`]
/// values (`k + 2d + 3` for a triangular factor with `d > 4`), which for
/// many components outgrows the data and the output.
pub(crate) fn per_row<E: Executor + ?Sized>(
    exec: &E,
    g: &Gaussians,
    x: &[f64],
    what: RowOutput,
    out: &mut [f64],
) -> Result<(), Error> {
    let (k, d) = (g.k, g.d);
    let width = what.width(k);
    debug_assert_eq!(out.len(), x.len() / d * width);
    let threads = exec.threads().min(x.len() / d);
    let triangular = g.factor == Factor::Triangular;
    let values = tile_values(k, d, triangular, false).and_then(|v| v.checked_mul(threads));
    try_room("the per-row tiles", values.and_then(|v| v.checked_mul(8)), || {
        format!("{k} components of dimension {d} on {threads} threads")
    })?;
    for_each_chunk_mut(exec, out, width, |rows, out| {
        with_dim!(d, |dim| {
            let first = rows.start;
            tiles(dim, k, x, rows, |tile, r| {
                tile.densities(dim, g);
                match what {
                    RowOutput::LogDensities => {}
                    RowOutput::LogLikelihood => {
                        tile_softmax(k, tile);
                        let groups = tile.groups();
                        for (s, &m) in tile.sum[..groups].iter_mut().zip(&tile.top[..groups]) {
                            *s = m + ln_normal(*s);
                        }
                    }
                    RowOutput::Responsibilities | RowOutput::Label => {
                        tile_softmax(k, tile);
                        tile_responsibilities(k, tile);
                    }
                }
                let base = (r.start - first) * width;
                let (lt, ll) = (tile.lt_values(), bytemuck::cast_slice::<F64s, f64>(&tile.sum));
                for i in 0..r.len() {
                    let o = &mut out[base + i * width..base + (i + 1) * width];
                    match what {
                        RowOutput::LogDensities | RowOutput::Responsibilities => {
                            for (c, v) in o.iter_mut().enumerate() {
                                *v = lt[c * TILE + i];
                            }
                        }
                        RowOutput::LogLikelihood => o[0] = ll[i],
                        RowOutput::Label => {
                            // First maximum, as NumPy's argmax; NaN where the
                            // responsibilities are (every density overflowed).
                            let mut best = 0;
                            for c in 1..k {
                                if lt[c * TILE + i] > lt[best * TILE + i] {
                                    best = c;
                                }
                            }
                            o[0] = if lt[best * TILE + i].is_nan() { f64::NAN } else { best as f64 };
                        }
                    }
                }
            });
        })
    });
    Ok(())
}

/// Weighted log-densities `ln πₖ + ln N(xᵢ | μₖ, Σₖ)` of every row of `x`
/// (row-major, `g.dim()` columns) for every component: `n × k`, row-major.
///
/// # Errors
///
/// [`Error::Shape`] when `x` is not whole rows; [`Error::TooLarge`], before
/// any work, when the output or each thread's scratch of
/// `(k + 3d + 3) × 128` values cannot be allocated.
///
/// ```
/// use nogil::kernels::gauss::{Factor, Gaussians, LN_2PI, log_densities};
/// // One standard normal in 2-D: ln N(0 | 0, I) = −ln 2π.
/// let g = Gaussians::new(2, Factor::Diagonal, vec![0.0, 0.0], vec![1.0, 1.0], &[0.0])?;
/// let l = log_densities(&nogil::Sequential, &g, &[0.0, 0.0])?;
/// assert!((l[0] + LN_2PI).abs() < 1e-15);
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn log_densities<E: Executor + ?Sized>(exec: &E, g: &Gaussians, x: &[f64]) -> Result<Vec<f64>, Error> {
    let n = rows(x, g.d)?;
    let mut out = try_filled("the log-densities", n, g.k, 0.0)?;
    per_row(exec, g, x, RowOutput::LogDensities, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-`d` loops and the blocked loops promise the same bits.
    #[test]
    fn fixed_and_blocked_paths_agree_to_the_bit() {
        let (k, n) = (3, if cfg!(miri) { 45 } else { 2 * TILE + 45 });
        for d in 1..=4 {
            let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
            let means: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.7).sin()).collect();
            for factor in [Factor::Triangular, Factor::Diagonal] {
                let per = if factor == Factor::Triangular { d * d } else { d };
                let factors: Vec<f64> = (0..k * per)
                    .map(|i| {
                        let (r, c) = ((i % per) / d, (i % per) % d);
                        if factor == Factor::Diagonal || r == c { 1.0 + 0.1 * (i % 5) as f64 } else { 0.2 }
                    })
                    .collect();
                let g = Gaussians::new(d, factor, means.clone(), factors, &[-1.0, -1.2, -0.9]).unwrap();
                for moments in [Moments::Full, Moments::Diagonal] {
                    let fixed = with_dim!(d, |dim| block_stats(dim, &g, moments, &x, 0..n, |t, _, s| {
                        t.densities(dim, &g);
                        responsibilities(k, t, s);
                    }));
                    let blocked = block_stats(Dynamic(d), &g, moments, &x, 0..n, |t, _, s| {
                        t.densities(Dynamic(d), &g);
                        responsibilities(k, t, s);
                    });
                    let bits = |s: &PassStats| {
                        s.n.iter().chain(&s.s).chain(&s.q).chain([&s.loglik]).map(|v| v.to_bits()).collect::<Vec<_>>()
                    };
                    assert_eq!(bits(&fixed), bits(&blocked), "d={d} {factor:?} {moments:?}");
                }
            }
        }
    }

    /// The blocked path's scratch is allocated only where it is used, and
    /// `tile_values` counts exactly what a tile then holds.
    #[test]
    fn a_tile_holds_what_tile_values_counts() {
        let k = 3;
        for d in [2, 6] {
            let rows = if cfg!(miri) { 13 } else { TILE };
            let x: Vec<f64> = (0..rows * d).map(|i| ((i * 31) % 17) as f64 * 0.25 - 2.0).collect();
            for factor in [Factor::Triangular, Factor::Diagonal] {
                let triangular = factor == Factor::Triangular;
                let per = if triangular { d * d } else { d };
                let factors =
                    (0..k * per).map(|i| if !triangular || (i % per) % (d + 1) == 0 { 1.5 } else { 0.1 }).collect();
                let means = (0..k * d).map(|i| (i as f64 * 0.37).cos()).collect();
                let g = Gaussians::new(d, factor, means, factors, &vec![-0.5; k]).unwrap();
                for moments in [Moments::Means, Moments::Diagonal, Moments::Full] {
                    let full = moments == Moments::Full;
                    let mut tile = Tile::new(k, d);
                    let mut sums = Sums::new(k, d, moments, false);
                    // As a pass runs it: fixed loops for d ≤ 4, blocked ones above.
                    with_dim!(d, |dim| {
                        tile.load(dim, &x, 0..rows);
                        tile.densities(dim, &g);
                        responsibilities(k, &mut tile, &mut sums);
                        for c in 0..k {
                            dim.stats(&g, moments, c, &mut tile, sums.component(c), false);
                        }
                    });
                    let scratch = |v: &Vec<F64s>| v.len() / G;
                    let blocked = d > 4;
                    assert_eq!(
                        scratch(&tile.dt),
                        if blocked && (triangular || full) { d } else { 0 },
                        "{factor:?} {moments:?} d={d}"
                    );
                    assert_eq!(scratch(&tile.rt), if blocked && full { d } else { 0 }, "{factor:?} {moments:?} d={d}");
                    let held = [&tile.xt, &tile.lt, &tile.top, &tile.sum, &tile.inv, &tile.dt, &tile.rt]
                        .map(|v| v.len())
                        .iter()
                        .sum::<usize>();
                    assert_eq!(Some(held * LANES), tile_values(k, d, triangular, full), "{factor:?} {moments:?} d={d}");
                }
            }
        }
    }

    /// Where a block sums `q` across lanes ([`sums_q`]), its `q` is each
    /// tile's lane sums added in order, and its other sums keep the bits of
    /// the sums in lanes.
    #[test]
    fn summed_moments_are_the_tiles_lane_sums_added_in_order() {
        assert!(sums_q(2, 182, Moments::Full) && !sums_q(3, 6, Moments::Full));
        assert!(!sums_q(1000, 4, Moments::Full) && !sums_q(1000, 100, Moments::Diagonal));
        // d = 6: 21 moments per component, so the last of three vectors is
        // part full.
        let (k, d) = (3, 6);
        let n = if cfg!(miri) { TILE + 9 } else { 3 * TILE + 45 };
        let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
        let means: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.7).sin()).collect();
        let factors: Vec<f64> = (0..k * d * d)
            .map(|i| if (i % (d * d)) % (d + 1) == 0 { 1.0 + 0.1 * (i % 5) as f64 } else { 0.2 })
            .collect();
        let g = Gaussians::new(d, Factor::Triangular, means, factors, &[-1.0, -1.2, -0.9]).unwrap();
        let run = |rows: Range<usize>, summed: bool| {
            block_stats_with(Dynamic(d), &g, Moments::Full, summed, &x, rows, |t, _, s| {
                t.densities(Dynamic(d), &g);
                responsibilities(k, t, s);
            })
        };
        let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let (lanes, summed) = (run(0..n, false), run(0..n, true));
        assert_eq!(bits(&summed.n), bits(&lanes.n));
        assert_eq!(bits(&summed.s), bits(&lanes.s));
        assert_eq!(summed.loglik.to_bits(), lanes.loglik.to_bits());
        let mut want = vec![0.0; summed.q.len()];
        for start in (0..n).step_by(TILE) {
            // One tile in lanes: its sums from 0, added across lanes.
            let tile = run(start..n.min(start + TILE), false);
            for (w, t) in want.iter_mut().zip(&tile.q) {
                *w += t;
            }
        }
        assert_eq!(bits(&summed.q), bits(&want));
        for (a, b) in summed.q.iter().zip(&lanes.q) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} against {b} in lanes");
        }
    }

    /// A tile whose first `rows` rows hold `k` log-densities each, spread
    /// widely (so some exps underflow), with a NaN in row 5 if `nan`.
    fn tile_of(k: usize, rows: usize, nan: bool) -> Tile {
        let mut tile = Tile::new(k, 1);
        tile.rows = rows;
        let lt: &mut [f64] = bytemuck::cast_slice_mut(&mut tile.lt);
        for (i, v) in lt.iter_mut().enumerate() {
            *v = -(((i * 7919) % 1013) as f64) * 0.9 + 3.0;
        }
        if nan {
            lt[TILE + 5] = f64::NAN;
        }
        tile
    }

    /// The per-`k` softmax and the any-`k` one promise the same bits, and a
    /// NaN stays in its own row.
    #[test]
    fn softmax_for_each_fixed_k_agrees_with_any_k_to_the_bit() {
        let bits = |v: &[F64s]| bytemuck::cast_slice::<F64s, u64>(v).to_vec();
        for k in 1..=8 {
            let sizes: &[usize] = if cfg!(miri) { &[61, 1] } else { &[TILE, 61, 8, 1] };
            for &rows in sizes {
                let nan = k > 1 && rows > 5;
                let mut fixed = tile_of(k, rows, nan);
                let mut any = tile_of(k, rows, nan);
                tile_softmax(k, &mut fixed);
                softmax_any(k, &mut any);
                let groups = any.groups();
                let last = rows / LANES;
                if last < groups {
                    // tile_softmax also masks the padding lanes; do the same here.
                    let valid = F64s::new(core::array::from_fn(|i| i as f64))
                        .simd_lt(F64s::splat((rows - last * LANES) as f64));
                    any.top[last] &= valid;
                    any.sum[last] = valid.bitselect(any.sum[last], F64s::splat(1.0));
                    any.inv[last] &= valid;
                }
                assert_eq!(bits(&fixed.lt[..k * G]), bits(&any.lt[..k * G]), "k={k} rows={rows}");
                for (a, b) in [(&fixed.top, &any.top), (&fixed.sum, &any.sum), (&fixed.inv, &any.inv)] {
                    assert_eq!(bits(&a[..groups]), bits(&b[..groups]), "k={k} rows={rows}");
                }
                let sum: &[f64] = bytemuck::cast_slice(&fixed.sum);
                for (i, s) in sum[..rows].iter().enumerate() {
                    assert_eq!(s.is_nan(), nan && i == 5, "row {i}, k={k} rows={rows}");
                    assert!(s.is_nan() || (1.0..=k as f64).contains(s), "s = {s}");
                }
                let inv: &[f64] = bytemuck::cast_slice(&fixed.inv);
                assert!(inv[rows..groups * LANES].iter().all(|&v| v == 0.0), "padding lanes get 1/s = 0");
            }
        }
    }

    /// A thread's reused scratch carries nothing from one pass to the next:
    /// passes of other shapes in between leave the result's bits alone.
    #[test]
    fn reused_scratch_does_not_change_a_pass() {
        let n = if cfg!(miri) { 21 } else { 3 * TILE + 5 };
        let g = |k: usize, d: usize| {
            let means: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.37).cos()).collect();
            Gaussians::new(d, Factor::Diagonal, means, vec![1.3; k * d], &vec![-0.5; k]).unwrap()
        };
        let x = |d: usize| (0..n * d).map(|i| ((i * 31) % 17) as f64 * 0.25 - 2.0).collect::<Vec<f64>>();
        let run = |k: usize, d: usize| {
            let s = pass(&crate::Sequential, &g(k, d), Moments::Full, Parallelism::Data, &x(d));
            s.n.iter().chain(&s.s).chain(&s.q).chain([&s.loglik]).map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let first = run(3, 2);
        for (k, d) in [(5, 2), (3, 7), (1, 2), (3, 3)] {
            run(k, d);
        }
        assert_eq!(run(3, 2), first);
    }

    /// The k-means pass against plain loops: the counts exactly, the shifted
    /// sums and the inertia to rounding; a duplicated centre loses every row
    /// to the first copy.
    #[test]
    fn nearest_pass_matches_plain_loops() {
        let n = if cfg!(miri) { 45 } else { 2 * TILE + 45 };
        let dims: &[usize] = if cfg!(miri) { &[2, 5] } else { &[1, 2, 3, 4, 5, 8] };
        for &d in dims {
            let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
            for k in [1, 3, 9] {
                let mut centres: Vec<f64> = (0..k * d).map(|i| 3.0 * (i as f64 * 0.7).sin()).collect();
                if k > 2 {
                    centres.copy_within(d..2 * d, 2 * d);
                }
                let g = Gaussians::centres(d, centres.clone());
                for moments in [Moments::Full, Moments::Diagonal, Moments::Means] {
                    let got = nearest_pass(&crate::Sequential, &g, moments, &x);
                    let per = moments.per_component(d);
                    let mut want = PassStats::zeros(k, d, per);
                    for row in x.chunks_exact(d) {
                        let dist = |c: usize| -> f64 { (0..d).map(|j| (row[j] - centres[c * d + j]).powi(2)).sum() };
                        let c = (1..k).fold(0, |b, c| if dist(c) < dist(b) { c } else { b });
                        want.n[c] += 1.0;
                        want.loglik -= dist(c);
                        for i in 0..d {
                            let xi = row[i] - centres[c * d + i];
                            want.s[c * d + i] += xi;
                            for j in 0..=i {
                                let xj = row[j] - centres[c * d + j];
                                match moments {
                                    Moments::Full => want.q[c * per + i * (i + 1) / 2 + j] += xi * xj,
                                    Moments::Diagonal if i == j => want.q[c * per + i] += xi * xj,
                                    _ => {}
                                }
                            }
                        }
                    }
                    let what = format!("d={d} k={k} {moments:?}");
                    assert_eq!(got.n, want.n, "{what}: counts");
                    assert_eq!(got.n.iter().sum::<f64>(), n as f64, "{what}: every row once");
                    if k > 2 {
                        assert_eq!(got.n[2], 0.0, "{what}: the second copy of a centre gets no row");
                    }
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
                    for (a, b) in got.s.iter().chain(&got.q).zip(want.s.iter().chain(&want.q)) {
                        assert!(close(*a, *b), "{what}: {a} vs {b}");
                    }
                    assert_eq!(got.q.len(), want.q.len(), "{what}");
                    assert!(close(got.loglik, want.loglik), "{what}: inertia {} vs {}", got.loglik, want.loglik);
                }
            }
        }
    }

    /// The blocked transpose moves the same values as the row-by-row one,
    /// for `d` below, at and past multiples of the lane count, in full and
    /// partial tiles.
    #[test]
    fn dynamic_transpose_matches_the_row_by_row_one() {
        let dims: &[usize] =
            if cfg!(miri) { &[LANES + 1] } else { &[3, LANES, LANES + 1, 2 * LANES, 2 * LANES + 3, 17] };
        for &d in dims {
            for rows in [TILE, TILE - 3, LANES + 1, 1] {
                let src: Vec<f64> = (0..rows * d).map(|i| i as f64 + 0.5).collect();
                let mut want = vec![F64s::splat(-1.0); d * G];
                transpose_rows(d, &src, &mut want, 0);
                let mut got = vec![F64s::splat(-1.0); d * G];
                Dynamic(d).transpose(&src, &mut got);
                let (got, want): (&[f64], &[f64]) = (bytemuck::cast_slice(&got), bytemuck::cast_slice(&want));
                assert_eq!(got, want, "d={d}, {rows} rows");
            }
        }
    }
}
