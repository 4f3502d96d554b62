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
//! `d` runs the same code with the dimension as a value.
//!
//! Responsibilities come from a log-sum-exp: `rₖ = exp(lₖ − m) / Σⱼ exp(lⱼ − m)`
//! with `m = maxₖ lₖ`, so a point whose densities all underflow still gets
//! responsibilities that sum to 1 (the seed's `exp` then divide gives 0/0).
//!
//! Every per-row value is computed by the same operations whichever tile or
//! thread holds the row, and every sum over rows runs in a fixed order inside
//! fixed blocks, so results are bit-identical for any executor.

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

use std::num::NonZeroUsize;
use std::ops::Range;

use crate::Error;
use crate::sched::{Executor, for_each_chunk_mut, map_reduce};
use crate::simd::{F64s, LANES, exp_nonpositive, hsum, ln_normal};

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
        let mut g = Gaussians { k, d, factor, means, factors, consts };
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
        Ok(g)
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

    fn mean(&self, c: usize) -> &[f64] {
        &self.means[c * self.d..(c + 1) * self.d]
    }

    fn w(&self, c: usize) -> &[f64] {
        match self.factor {
            Factor::Triangular => &self.factors[c * self.d * self.d..(c + 1) * self.d * self.d],
            Factor::Diagonal => &self.factors[c * self.d..(c + 1) * self.d],
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
}

impl Moments {
    pub fn per_component(self, d: usize) -> usize {
        match self {
            Moments::Full => d * (d + 1) / 2,
            Moments::Diagonal => d,
        }
    }
}

// ---------------------------------------------------------------------------
// The dimension, as a constant (d ≤ 4) or a value.

/// Storage for a handful of vectors: an array when the count is a constant
/// (so it can live in registers), a `Vec` otherwise.
trait Vecs {
    fn as_mut(&mut self) -> &mut [F64s];
}

impl<const N: usize> Vecs for [F64s; N] {
    #[inline(always)]
    fn as_mut(&mut self) -> &mut [F64s] {
        self
    }
}

impl<const N: usize> Vecs for [[F64s; N]; N] {
    #[inline(always)]
    fn as_mut(&mut self) -> &mut [F64s] {
        self.as_flattened_mut()
    }
}

impl Vecs for Vec<F64s> {
    #[inline(always)]
    fn as_mut(&mut self) -> &mut [F64s] {
        self
    }
}

trait Dim: Copy + Send + Sync {
    /// Whether the dimension is a compile-time constant (small `d`, state in
    /// registers) or a value (any `d`, the blocked loop orders).
    const FIXED: bool;
    type V: Vecs;
    type M: Vecs;
    fn get(self) -> usize;
    /// `d` zero vectors.
    fn vecs(self) -> Self::V;
    /// `d·d` zero vectors (a square; kernels use the lower triangle).
    fn square(self) -> Self::M;
}

#[derive(Clone, Copy)]
struct Fixed<const D: usize>;

impl<const D: usize> Dim for Fixed<D> {
    const FIXED: bool = true;
    type V = [F64s; D];
    type M = [[F64s; D]; D];
    #[inline(always)]
    fn get(self) -> usize {
        D
    }
    #[inline(always)]
    fn vecs(self) -> Self::V {
        [F64s::splat(0.0); D]
    }
    #[inline(always)]
    fn square(self) -> Self::M {
        [[F64s::splat(0.0); D]; D]
    }
}

#[derive(Clone, Copy)]
struct Dynamic(usize);

impl Dim for Dynamic {
    const FIXED: bool = false;
    type V = Vec<F64s>;
    type M = Vec<F64s>;
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }
    fn vecs(self) -> Vec<F64s> {
        vec![F64s::splat(0.0); self.0]
    }
    fn square(self) -> Vec<F64s> {
        vec![F64s::splat(0.0); self.0 * self.0]
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

/// Scratch for one tile: the transposed rows, and one row of `TILE` values
/// per component (log-densities, then responsibilities), and per-row
/// log-likelihoods.
struct Tile {
    /// `d × TILE`, column `j` holds coordinate `j` of every row.
    xt: Vec<f64>,
    /// `k × TILE`.
    lt: Vec<f64>,
    /// `TILE` per-row log-likelihoods `ln Σₖ πₖ N(x | …)`.
    ll: Vec<f64>,
    /// Rows held (≤ TILE); lanes past it are padding.
    rows: usize,
    /// `d × TILE` scratch of the blocked (large-`d`) path: `x − μ`.
    dt: Vec<f64>,
    /// `d × TILE` scratch of the blocked path: `r·(x − μ)`.
    rt: Vec<f64>,
}

impl Tile {
    fn new(k: usize, d: usize) -> Self {
        Tile {
            xt: vec![0.0; d * TILE],
            lt: vec![0.0; k * TILE],
            ll: vec![0.0; TILE],
            rows: 0,
            dt: vec![0.0; d * TILE],
            rt: vec![0.0; d * TILE],
        }
    }

    /// Number of vector groups covering the rows.
    fn groups(&self) -> usize {
        self.rows.div_ceil(LANES)
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
        for (i, row) in src.chunks_exact(d).enumerate() {
            for j in 0..d {
                self.xt[j * TILE + i] = row[j];
            }
        }
        for i in t..t.next_multiple_of(LANES) {
            for j in 0..d {
                self.xt[j * TILE + i] = src[j];
            }
        }
        self.rows = t;
    }

    #[inline(always)]
    fn x<D: Dim>(&self, dim: D, g: usize, out: &mut [F64s]) {
        for (j, o) in out.iter_mut().enumerate().take(dim.get()) {
            *o = load_at(&self.xt, j * TILE + g * LANES);
        }
    }
}

impl Tile {
    /// Every component's log-densities of the loaded rows, into `lt`.
    #[inline(always)]
    fn densities<D: Dim>(&mut self, dim: D, g: &Gaussians) {
        for c in 0..g.k {
            let mut lt = std::mem::take(&mut self.lt);
            tile_log_density(dim, g, c, self, &mut lt[c * TILE..(c + 1) * TILE]);
            self.lt = lt;
        }
    }
}

/// Calls `f(tile, rows)` for each tile of `rows` of `x` in order, the tile
/// loaded with those rows.
#[inline(always)]
fn tiles<D: Dim>(dim: D, k: usize, x: &[f64], rows: Range<usize>, mut f: impl FnMut(&mut Tile, Range<usize>)) {
    let mut tile = Tile::new(k, dim.get());
    let mut start = rows.start;
    while start < rows.end {
        let end = rows.end.min(start + TILE);
        tile.load(dim, x, start..end);
        f(&mut tile, start..end);
        start = end;
    }
}

/// Loads `LANES` values from `v[at..]`.
#[inline(always)]
fn load_at(v: &[f64], at: usize) -> F64s {
    bytemuck::pod_read_unaligned(bytemuck::cast_slice(&v[at..at + LANES]))
}

/// Stores `value` to `v[at..at + LANES]`.
#[inline(always)]
fn store_at(v: &mut [f64], at: usize, value: F64s) {
    let out: &mut [u8] = bytemuck::cast_slice_mut(&mut v[at..at + LANES]);
    out.copy_from_slice(bytemuck::bytes_of(&value));
}

/// Log-densities of every row of the tile for component `c`, into `lt[c]`.
#[inline(always)]
fn tile_log_density<D: Dim>(dim: D, g: &Gaussians, c: usize, tile: &mut Tile, out: &mut [f64]) {
    if !D::FIXED {
        return tile_log_density_blocked(dim.get(), g, c, tile, out);
    }
    let d = dim.get();
    let mu = g.mean(c);
    let w = g.w(c);
    let konst = F64s::splat(g.consts[c]);
    let half = F64s::splat(0.5);
    let mut xs = dim.vecs();
    let xs = xs.as_mut();
    for grp in 0..tile.groups() {
        tile.x(dim, grp, xs);
        for j in 0..d {
            xs[j] -= F64s::splat(mu[j]);
        }
        let mut maha = F64s::splat(0.0);
        match g.factor {
            Factor::Triangular => {
                for i in 0..d {
                    let row = &w[i * d..i * d + i + 1];
                    let mut y = F64s::splat(0.0);
                    for j in 0..=i {
                        y = xs[j].mul_add(F64s::splat(row[j]), y);
                    }
                    maha = y.mul_add(y, maha);
                }
            }
            Factor::Diagonal => {
                for j in 0..d {
                    let y = xs[j] * F64s::splat(w[j]);
                    maha = y.mul_add(y, maha);
                }
            }
        }
        store_at(out, grp * LANES, maha.mul_neg_add(half, konst));
    }
}

/// Writes `x − μₖ` of every group of the tile into `tile.dt`.
fn tile_diffs(d: usize, mu: &[f64], tile: &mut Tile) {
    for j in 0..d {
        let m = F64s::splat(mu[j]);
        for grp in 0..tile.groups() {
            let at = j * TILE + grp * LANES;
            store_at(&mut tile.dt, at, load_at(&tile.xt, at) - m);
        }
    }
}

/// [`tile_log_density`] for large `d`: the differences of the whole tile
/// first, then `y = W·(x − μ)` four groups at a time, so each broadcast
/// factor entry feeds four multiply-adds. Every lane sees the same
/// operations in the same order as the fixed-`d` loop, so the bits agree.
fn tile_log_density_blocked(d: usize, g: &Gaussians, c: usize, tile: &mut Tile, out: &mut [f64]) {
    const B: usize = 4;
    tile_diffs(d, g.mean(c), tile);
    let w = g.w(c);
    let konst = F64s::splat(g.consts[c]);
    let half = F64s::splat(0.5);
    let groups = tile.groups();
    let dt = &tile.dt;
    for first in (0..groups).step_by(B) {
        let nb = B.min(groups - first);
        let mut maha = [F64s::splat(0.0); B];
        match g.factor {
            Factor::Triangular => {
                for i in 0..d {
                    let mut y = [F64s::splat(0.0); B];
                    for j in 0..=i {
                        let wij = F64s::splat(w[i * d + j]);
                        for b in 0..nb {
                            y[b] = load_at(dt, j * TILE + (first + b) * LANES).mul_add(wij, y[b]);
                        }
                    }
                    for b in 0..nb {
                        maha[b] = y[b].mul_add(y[b], maha[b]);
                    }
                }
            }
            Factor::Diagonal => {
                for j in 0..d {
                    let wj = F64s::splat(w[j]);
                    for b in 0..nb {
                        let y = load_at(dt, j * TILE + (first + b) * LANES) * wj;
                        maha[b] = y.mul_add(y, maha[b]);
                    }
                }
            }
        }
        for b in 0..nb {
            store_at(out, (first + b) * LANES, maha[b].mul_neg_add(half, konst));
        }
    }
}

/// Turns the tile's log-densities into responsibilities (in place) and
/// per-row log-likelihoods, by log-sum-exp. Padding lanes get
/// responsibility 0 and log-likelihood 0.
#[inline(always)]
fn tile_normalize(k: usize, tile: &mut Tile) {
    let groups = tile.groups();
    for grp in 0..groups {
        let at = grp * LANES;
        let mut m = load_at(&tile.lt, at);
        for c in 1..k {
            m = m.max(load_at(&tile.lt, c * TILE + at));
        }
        let mut s = F64s::splat(0.0);
        for c in 0..k {
            let e = exp_nonpositive(load_at(&tile.lt, c * TILE + at) - m);
            store_at(&mut tile.lt, c * TILE + at, e);
            s += e;
        }
        let inv = F64s::splat(1.0) / s;
        let ll = m + ln_normal(s);
        for c in 0..k {
            let e = load_at(&tile.lt, c * TILE + at);
            store_at(&mut tile.lt, c * TILE + at, e * inv);
        }
        store_at(&mut tile.ll, at, ll);
    }
    // Padding lanes of the last group hold a copy of the first row: zero
    // their responsibilities and log-likelihood so no sum sees them.
    let (rows, padded) = (tile.rows, groups * LANES);
    for c in 0..k {
        tile.lt[c * TILE + rows..c * TILE + padded].fill(0.0);
    }
    tile.ll[rows..padded].fill(0.0);
}

/// Adds the tile's sufficient statistics for component `c` into `stats`.
#[inline(always)]
fn tile_stats<D: Dim>(dim: D, g: &Gaussians, moments: Moments, c: usize, tile: &mut Tile, stats: &mut PassStats) {
    if !D::FIXED {
        return tile_stats_blocked(dim.get(), g, moments, c, tile, stats);
    }
    let d = dim.get();
    let mu = g.mean(c);
    let mut xs = dim.vecs();
    let xs = xs.as_mut();
    let mut acc_s = dim.vecs();
    let acc_s = acc_s.as_mut();
    let mut acc_q = dim.square();
    let acc_q = acc_q.as_mut();
    let mut acc_n = F64s::splat(0.0);
    for grp in 0..tile.groups() {
        let r = load_at(&tile.lt, c * TILE + grp * LANES);
        tile.x(dim, grp, xs);
        for j in 0..d {
            xs[j] -= F64s::splat(mu[j]);
        }
        acc_n += r;
        for i in 0..d {
            let ri = r * xs[i];
            acc_s[i] += ri;
            match moments {
                Moments::Full => {
                    for j in 0..=i {
                        acc_q[i * d + j] = ri.mul_add(xs[j], acc_q[i * d + j]);
                    }
                }
                Moments::Diagonal => acc_q[i * d + i] = ri.mul_add(xs[i], acc_q[i * d + i]),
            }
        }
    }
    stats.n[c] += hsum(acc_n);
    for i in 0..d {
        stats.s[c * d + i] += hsum(acc_s[i]);
    }
    match moments {
        Moments::Full => {
            let base = c * d * (d + 1) / 2;
            for i in 0..d {
                for j in 0..=i {
                    stats.q[base + i * (i + 1) / 2 + j] += hsum(acc_q[i * d + j]);
                }
            }
        }
        Moments::Diagonal => {
            for i in 0..d {
                stats.q[c * d + i] += hsum(acc_q[i * d + i]);
            }
        }
    }
}

/// [`tile_stats`] for large `d`: `x − μ` and `r·(x − μ)` of the whole tile
/// first, then each moment summed over the tile's groups in one register,
/// instead of `d²` accumulators stored and reloaded for every group. Each
/// accumulator sees the same operations in the same order as the fixed-`d`
/// loop, so the bits agree.
fn tile_stats_blocked(d: usize, g: &Gaussians, moments: Moments, c: usize, tile: &mut Tile, stats: &mut PassStats) {
    tile_diffs(d, g.mean(c), tile);
    let groups = tile.groups();
    let mut acc_n = F64s::splat(0.0);
    for grp in 0..groups {
        acc_n += load_at(&tile.lt, c * TILE + grp * LANES);
    }
    stats.n[c] += hsum(acc_n);
    for i in 0..d {
        let mut acc_s = F64s::splat(0.0);
        for grp in 0..groups {
            let r = load_at(&tile.lt, c * TILE + grp * LANES);
            let ri = r * load_at(&tile.dt, i * TILE + grp * LANES);
            store_at(&mut tile.rt, i * TILE + grp * LANES, ri);
            acc_s += ri;
        }
        stats.s[c * d + i] += hsum(acc_s);
    }
    let (dt, rt) = (&tile.dt, &tile.rt);
    let moment = |i: usize, j: usize| {
        let mut acc = F64s::splat(0.0);
        for grp in 0..groups {
            acc = load_at(rt, i * TILE + grp * LANES).mul_add(load_at(dt, j * TILE + grp * LANES), acc);
        }
        hsum(acc)
    };
    match moments {
        Moments::Full => {
            let base = c * d * (d + 1) / 2;
            for i in 0..d {
                for j in 0..=i {
                    stats.q[base + i * (i + 1) / 2 + j] += moment(i, j);
                }
            }
        }
        Moments::Diagonal => {
            for i in 0..d {
                stats.q[c * d + i] += moment(i, i);
            }
        }
    }
}

fn tile_loglik(tile: &Tile) -> f64 {
    let mut acc = F64s::splat(0.0);
    for grp in 0..tile.groups() {
        acc += load_at(&tile.ll, grp * LANES);
    }
    hsum(acc)
}

/// Statistics of `rows` of `x`, tile by tile, in order: the map of a block.
/// `densities(tile, rows)` puts every component's log-densities of the
/// tile's rows into `tile.lt`: computed in place (data parallelism) or
/// copied from the model-parallel buffer.
fn block_stats<D: Dim>(
    dim: D,
    g: &Gaussians,
    moments: Moments,
    x: &[f64],
    rows: Range<usize>,
    mut densities: impl FnMut(&mut Tile, Range<usize>),
) -> PassStats {
    let (k, d) = (g.k, dim.get());
    let mut stats = PassStats::zeros(k, d, moments.per_component(d));
    tiles(dim, k, x, rows, |tile, r| {
        densities(tile, r);
        finish_tile(dim, g, moments, tile, &mut stats);
    });
    stats
}

/// Normalizes a tile whose log-densities are in place and adds its statistics.
#[inline(always)]
fn finish_tile<D: Dim>(dim: D, g: &Gaussians, moments: Moments, tile: &mut Tile, stats: &mut PassStats) {
    tile_normalize(g.k, tile);
    stats.loglik += tile_loglik(tile);
    for c in 0..g.k {
        tile_stats(dim, g, moments, c, tile, stats);
    }
}

/// The block of rows a pass reduces at a time: fixed for given `d` and `k`
/// (never by thread count), large enough that a block's partial statistics
/// are small beside its rows.
pub(crate) fn pass_block(d: usize, k: usize, moments: Moments) -> NonZeroUsize {
    let stats_len = k * (1 + d + moments.per_component(d));
    let rows = (stats_len * 8 / d.max(1)).clamp(4096, 1 << 16).next_multiple_of(TILE);
    NonZeroUsize::new(rows).expect("at least 4096")
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
    let block = pass_block(d, k, moments);
    match parallelism {
        Parallelism::Data => with_dim!(d, |dim| map_reduce(
            exec,
            n,
            block,
            |rows| block_stats(dim, g, moments, x, rows, |tile, _| tile.densities(dim, g)),
            PassStats::add
        )),
        Parallelism::Model => {
            let dens = model_parallel_densities(exec, g, x, n);
            let copy = |tile: &mut Tile, r: Range<usize>| {
                for c in 0..k {
                    let t = r.len();
                    tile.lt[c * TILE..c * TILE + t].copy_from_slice(&dens[c * n + r.start..c * n + r.end]);
                    tile.lt[c * TILE + t..(c + 1) * TILE].fill(0.0);
                }
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
            let mut scratch = vec![0.0; TILE];
            for (c, row) in components.zip(out.chunks_exact_mut(n)) {
                tiles(dim, 1, x, 0..n, |tile, r| {
                    tile_log_density(dim, g, c, tile, &mut scratch);
                    row[r.clone()].copy_from_slice(&scratch[..r.len()]);
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
pub(crate) fn per_row<E: Executor + ?Sized>(exec: &E, g: &Gaussians, x: &[f64], what: RowOutput, out: &mut [f64]) {
    let (k, d) = (g.k, g.d);
    let width = what.width(k);
    debug_assert_eq!(out.len(), x.len() / d * width);
    for_each_chunk_mut(exec, out, width, |rows, out| {
        with_dim!(d, |dim| {
            let first = rows.start;
            tiles(dim, k, x, rows, |tile, r| {
                tile.densities(dim, g);
                if what != RowOutput::LogDensities {
                    tile_normalize(k, tile);
                }
                let base = (r.start - first) * width;
                for i in 0..r.len() {
                    let o = &mut out[base + i * width..base + (i + 1) * width];
                    match what {
                        RowOutput::LogDensities | RowOutput::Responsibilities => {
                            for (c, v) in o.iter_mut().enumerate() {
                                *v = tile.lt[c * TILE + i];
                            }
                        }
                        RowOutput::LogLikelihood => o[0] = tile.ll[i],
                        RowOutput::Label => {
                            // First maximum, as NumPy's argmax.
                            let mut best = 0;
                            for c in 1..k {
                                if tile.lt[c * TILE + i] > tile.lt[best * TILE + i] {
                                    best = c;
                                }
                            }
                            o[0] = best as f64;
                        }
                    }
                }
            });
        })
    });
}

/// Weighted log-densities `ln πₖ + ln N(xᵢ | μₖ, Σₖ)` of every row of `x`
/// (row-major, `g.dim()` columns) for every component: `n × k`, row-major.
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
    let mut out = vec![0.0; n * g.k];
    per_row(exec, g, x, RowOutput::LogDensities, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-`d` loops and the blocked loops promise the same bits.
    #[test]
    fn fixed_and_blocked_paths_agree_to_the_bit() {
        let (k, n) = (3, if cfg!(miri) { 37 } else { 2 * TILE + 29 });
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
                    let fixed =
                        with_dim!(d, |dim| block_stats(dim, &g, moments, &x, 0..n, |t, _| t.densities(dim, &g)));
                    let blocked = block_stats(Dynamic(d), &g, moments, &x, 0..n, |t, _| t.densities(Dynamic(d), &g));
                    let bits = |s: &PassStats| {
                        s.n.iter().chain(&s.s).chain(&s.q).chain([&s.loglik]).map(|v| v.to_bits()).collect::<Vec<_>>()
                    };
                    assert_eq!(bits(&fixed), bits(&blocked), "d={d} {factor:?} {moments:?}");
                }
            }
        }
    }
}
