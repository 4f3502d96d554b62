//! Gaussian mixture models fitted by EM: the seed's last experiment, made
//! into a model people can fit on real data.
//!
//! [`GaussianMixture`] is the builder, in the spirit of scikit-learn's
//! `GaussianMixture` (same parameters, defaults, convergence rule and fitted
//! attributes); [`GaussianMixture::fit`] returns a [`GaussianMixtureModel`].
//!
//! One EM iteration is **one pass over the data**: for each fixed block of
//! rows, every component's log-density (from its precision Cholesky factor,
//! never an inverse), a log-sum-exp into responsibilities (no 0/0 when
//! densities underflow), and the M-step's sufficient statistics, shifted by
//! the current means so data far from the origin keep their digits
//! ([`SufficientStats`]); block partials merge in a fixed tree and the M-step
//! is solved from the sums. Responsibilities are never stored.
//!
//! **Determinism.** The fitted parameters are bit-identical for any
//! executor, schedule and thread count (and for either [`Parallelism`]), and
//! the same for the same `seed`.
//!
//! ```
//! use nogil::gmm::{CovarianceType, GaussianMixture};
//! // Two clusters in 2-D: around (0, 0) and around (10, 10).
//! let x: Vec<f64> = (0..200)
//!     .flat_map(|i| {
//!         let c = if i % 2 == 0 { 0.0 } else { 10.0 };
//!         let t = i as f64 * 0.37;
//!         [c + t.sin(), c + t.cos()]
//!     })
//!     .collect();
//! let model = GaussianMixture::new(2)
//!     .covariance_type(CovarianceType::Full)
//!     .seed(7)
//!     .fit_with(&nogil::Sequential, &x, 2)?;
//! assert!(model.converged());
//! let labels = model.predict_with(&nogil::Sequential, &x)?;
//! assert_ne!(labels[0], labels[1]);
//! # Ok::<(), nogil::Error>(())
//! ```

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

pub mod chunked;
mod init;
mod sample;
mod stats;
mod validate;

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::try_filled;
pub use crate::kernels::gauss::Parallelism;
use crate::kernels::gauss::{Gaussians, PassStats, RowOutput, each_block, pass, pass_block, per_row, rows};
use crate::sched::{Executor, Pool, Sequential};
use crate::simd::Simd;
use crate::{Error, Schedule};
use chunked::{BlockPass, ChunkedRows, LocalRows};
pub use stats::SufficientStats;
use stats::{Params, m_step, moments, prepare};
use validate::{check_data, check_given, check_room, invert_spd_blocks, non_negative};

/// The form of each component's covariance, as scikit-learn names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum CovarianceType {
    /// Each component has its own full covariance matrix.
    #[default]
    Full,
    /// All components share one full covariance matrix.
    Tied,
    /// Each component has its own diagonal covariance matrix.
    Diag,
    /// Each component has its own single variance.
    Spherical,
}

impl fmt::Display for CovarianceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CovarianceType::Full => "full",
            CovarianceType::Tied => "tied",
            CovarianceType::Diag => "diag",
            CovarianceType::Spherical => "spherical",
        })
    }
}

impl FromStr for CovarianceType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "full" => Ok(CovarianceType::Full),
            "tied" => Ok(CovarianceType::Tied),
            "diag" => Ok(CovarianceType::Diag),
            "spherical" => Ok(CovarianceType::Spherical),
            _ => Err(Error::InvalidParameter {
                name: "covariance_type",
                value: format!("{s:?}"),
                expected: "one of full, tied, diag, spherical",
            }),
        }
    }
}

impl CovarianceType {
    /// The number of values of the covariances (and precision factors) for
    /// `k` components in `d` dimensions: full `k·d·d`, tied `d·d`, diag
    /// `k·d`, spherical `k`; `None` when that overflows `usize`.
    pub fn len(self, k: usize, d: usize) -> Option<usize> {
        match self {
            CovarianceType::Full => k.checked_mul(d)?.checked_mul(d),
            CovarianceType::Tied => d.checked_mul(d),
            CovarianceType::Diag => k.checked_mul(d),
            CovarianceType::Spherical => Some(k),
        }
    }

    /// Free parameters of the covariances (for [`GaussianMixtureModel::bic`]).
    fn free_parameters(self, k: usize, d: usize) -> usize {
        match self {
            CovarianceType::Full => k * d * (d + 1) / 2,
            CovarianceType::Tied => d * (d + 1) / 2,
            CovarianceType::Diag => k * d,
            CovarianceType::Spherical => k,
        }
    }
}

/// User-given initial parameters; what is left `None` is computed from the
/// k-means initialization, as scikit-learn does with `weights_init`,
/// `means_init` and `precisions_init`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InitialParams {
    /// `k` weights in `[0, 1]`, summing to 1 within `1e-8` (scikit-learn's
    /// tolerance). They are used as given, not renormalized.
    pub weights: Option<Vec<f64>>,
    /// `k × d` means, row-major.
    pub means: Option<Vec<f64>>,
    /// Covariances in the covariance type's shape ([`CovarianceType::len`]).
    pub covariances: Option<Vec<f64>>,
    /// Or precisions (inverse covariances), same shape; not both. The first
    /// E-step factors them directly (as scikit-learn does), so they keep
    /// their digits however ill-conditioned; the initial model's
    /// `covariances()` are their inverses.
    pub precisions: Option<Vec<f64>>,
}

/// How the first responsibilities are chosen.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Init {
    /// Lloyd's k-means seeded by k-means++; responsibilities are its labels
    /// (scikit-learn's `'kmeans'`, the default).
    #[default]
    KMeans,
    /// k-means++ centres alone: each chosen point is its component's only
    /// member (scikit-learn's `'k-means++'`).
    KMeansPlusPlus,
    /// `k` distinct random points, each its component's only member
    /// (scikit-learn's `'random_from_data'`).
    RandomFromData,
    /// Uniform random responsibilities, each row normalized (scikit-learn's `'random'`).
    Random,
    /// Parameters given by the caller (missing parts from [`Init::KMeans`]).
    Given(InitialParams),
}

/// Builder and fitter of a Gaussian mixture.
///
/// Defaults follow scikit-learn: full covariances, `tol = 1e-3`,
/// `max_iter = 100`, `reg_covar = 1e-6`, `n_init = 1`, k-means
/// initialization; plus `seed = 0` and data parallelism.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixture {
    n_components: usize,
    covariance_type: CovarianceType,
    tol: f64,
    max_iter: usize,
    reg_covar: f64,
    n_init: usize,
    seed: u64,
    init: Init,
    parallelism: Parallelism,
    threads: Option<usize>,
    schedule: Schedule,
}

impl GaussianMixture {
    /// A mixture of `n_components` Gaussians with scikit-learn's defaults.
    pub fn new(n_components: usize) -> Self {
        GaussianMixture {
            n_components,
            covariance_type: CovarianceType::Full,
            tol: 1e-3,
            max_iter: 100,
            reg_covar: 1e-6,
            n_init: 1,
            seed: 0,
            init: Init::KMeans,
            parallelism: Parallelism::Data,
            threads: None,
            schedule: Schedule::Static { chunk: None },
        }
    }

    /// The form of the covariances.
    pub fn covariance_type(mut self, t: CovarianceType) -> Self {
        self.covariance_type = t;
        self
    }

    /// Stop when the mean log-likelihood per sample changes by less than
    /// `tol` between iterations; `0` runs all `max_iter` iterations.
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// At most this many EM iterations per initialization (`0`: return the initialization).
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// Added to the diagonal of every covariance, so it stays positive definite.
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.reg_covar = reg_covar;
        self
    }

    /// Number of initializations; the fit with the best final lower bound is kept.
    pub fn n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }

    /// Seed of every random choice (initialization, and [`Init::Random`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How the first responsibilities are chosen.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Data parallelism (default) or the seed's model parallelism.
    pub fn parallelism(mut self, p: Parallelism) -> Self {
        self.parallelism = p;
        self
    }

    /// Threads for [`GaussianMixture::fit`] (default: the global pool).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Schedule of the pool [`GaussianMixture::fit`] runs on.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Fits the mixture to `x` (row-major, `d` columns) on nogil's pool: the
    /// global pool, or a pool of [`threads`](GaussianMixture::threads), with
    /// the builder's [`schedule`](GaussianMixture::schedule).
    pub fn fit(&self, x: &[f64], d: usize) -> Result<GaussianMixtureModel, Error> {
        let own;
        let pool = match self.threads {
            Some(t) => {
                own = Pool::new(t)?;
                &own
            }
            None => Pool::global()?,
        };
        self.fit_with(&pool.with_schedule(self.schedule)?, x, d)
    }

    /// Fits the mixture to `x` (row-major, `d` columns) on any executor.
    ///
    /// Errors (never panics) on: `d = 0`, a length not a multiple of `d`, a
    /// NaN or infinity (naming the first), fewer points than components, a
    /// bad parameter (`n_components` or `n_init` of 0, negative or
    /// non-finite `tol` or `reg_covar`), mis-shaped or non-positive-definite
    /// initial parameters, a covariance that is singular even after
    /// `reg_covar` ([`Error::SingularCovariance`]), data whose squared
    /// deviations overflow ([`Error::CovarianceOverflow`],
    /// [`Error::NonFiniteLikelihood`]), and a fit whose working memory
    /// cannot be allocated ([`Error::TooLarge`], before any work: for full
    /// covariances about `64·k·d²` bytes for two models, and per thread
    /// `32·k·d²` for its running sums, or `4·k·d²` where that would pass
    /// 1 MiB).
    pub fn fit_with<E: Executor + ?Sized>(&self, exec: &E, x: &[f64], d: usize) -> Result<GaussianMixtureModel, Error> {
        self.check_parameters()?;
        // One SIMD path for the whole fit, read once.
        let simd = Simd::active();
        let n = check_data(exec, x, d)?;
        let k = self.n_components;
        if n < k {
            return Err(Error::TooFewPoints { n, components: k });
        }
        if let Init::Given(p) = &self.init {
            check_given(p, self.covariance_type, k, d)?;
        }
        check_room(exec, simd, self.covariance_type, k, d, n, self.parallelism)?;
        let mut best: Option<GaussianMixtureModel> = None;
        for run in 0..self.n_init {
            let seed = self.seed.wrapping_add(run as u64);
            let model = self.fit_once(exec, simd, x, d, seed)?;
            let better = match &best {
                None => true,
                Some(b) => model.lower_bound() > b.lower_bound(),
            };
            if better {
                best = Some(model);
            }
        }
        Ok(best.expect("n_init >= 1"))
    }

    fn check_parameters(&self) -> Result<(), Error> {
        let bad = |name, value: String, expected| Err(Error::InvalidParameter { name, value, expected });
        if self.n_components == 0 {
            return bad("n_components", "0".into(), "at least 1");
        }
        if self.n_init == 0 {
            return bad("n_init", "0".into(), "at least 1");
        }
        non_negative("tol", self.tol)?;
        non_negative("reg_covar", self.reg_covar)
    }

    fn fit_once<E: Executor + ?Sized>(
        &self,
        exec: &E,
        simd: Simd,
        x: &[f64],
        d: usize,
        seed: u64,
    ) -> Result<GaussianMixtureModel, Error> {
        let t = self.covariance_type;
        let n = x.len() / d;
        let params = self.initial_params(&mut LocalRows::new(exec, simd, x, d), d, seed, self.block_rows(n, d))?;
        let mut model = GaussianMixtureModel::from_params_on(exec, simd, t, d, params, self.given_precisions())?;
        let mut prev = f64::NEG_INFINITY;
        for iteration in 1..=self.max_iter {
            let step = model.step_on(exec, simd, x, self.parallelism, self.reg_covar);
            let (next, lower_bound) = step.map_err(|e| match e {
                Error::NonFiniteLikelihood { .. } => Error::NonFiniteLikelihood { iteration },
                e => e,
            })?;
            let history = std::mem::take(&mut model.lower_bounds);
            model = next;
            model.lower_bounds = history;
            model.lower_bounds.push(lower_bound);
            model.n_iter = iteration;
            if (lower_bound - prev).abs() < self.tol {
                model.converged = true;
                break;
            }
            prev = lower_bound;
        }
        Ok(model)
    }

    /// The parameters EM starts from, every pass over the data through
    /// `data`'s passes, in blocks of `block` rows.
    fn initial_params<R: ChunkedRows + ?Sized>(
        &self,
        data: &mut R,
        d: usize,
        seed: u64,
        block: NonZeroUsize,
    ) -> Result<Params, R::Error> {
        let (k, t) = (self.n_components, self.covariance_type);
        let n = data.rows();
        let mut rng = StdRng::seed_from_u64(seed);
        let mo = moments(t);
        let one_hot = |data: &mut R, chosen: &[usize]| -> Result<Params, R::Error> {
            // Row chosen[c] belongs to component c alone (the first such c
            // if a row was chosen twice); no other row counts, so only those
            // rows are summed.
            let mut seen = std::collections::HashSet::with_capacity(k);
            let owned: Vec<(usize, usize)> =
                chosen.iter().enumerate().filter(|&(_, &i)| seen.insert(i)).map(|(c, &i)| (i, c)).collect();
            let shift = init::gather(data, chosen, d)?;
            // Row chosen[c] is shift's row c: the distinct rows from it, not gathered again.
            let rows: Vec<f64> = owned.iter().flat_map(|&(_, c)| &shift[c * d..(c + 1) * d]).copied().collect();
            let st = init::resp_stats(&rows, d, &shift, mo, |j, r| {
                r.fill(0.0);
                r[owned[j].1] = 1.0;
            });
            Ok(m_step(t, d, &shift, &st, self.reg_covar))
        };
        let kmeans = |data: &mut R, rng: &mut StdRng| -> Result<Params, R::Error> {
            let chosen = init::kmeans_plusplus(data, d, k, block, rng)?;
            let mut centers = init::gather(data, &chosen, d)?;
            let st = init::lloyd(data, d, &mut centers, 300, t, block)?;
            Ok(m_step(t, d, &centers, &st, self.reg_covar))
        };
        Ok(match &self.init {
            Init::KMeans => kmeans(data, &mut rng)?,
            Init::KMeansPlusPlus => {
                let chosen = init::kmeans_plusplus(data, d, k, block, &mut rng)?;
                one_hot(data, &chosen)?
            }
            Init::RandomFromData => {
                let chosen = init::random_rows(n, k, &mut rng);
                one_hot(data, &chosen)?
            }
            Init::Random => {
                let (mean, _) = init::column_moments(data, d, block)?;
                let shift: Vec<f64> = mean.repeat(k);
                let pass = BlockPass::Random { seed, shift: &shift, second: Some(t) };
                let st = init::stats(data, d, &pass, block)?;
                m_step(t, d, &shift, &st, self.reg_covar)
            }
            Init::Given(p) => {
                let complete =
                    p.weights.is_some() && p.means.is_some() && (p.covariances.is_some() || p.precisions.is_some());
                let mut params = if complete {
                    Params { weights: vec![], means: vec![], covariances: vec![] }
                } else {
                    kmeans(data, &mut rng)?
                };
                if let Some(w) = &p.weights {
                    params.weights = w.clone();
                }
                if let Some(m) = &p.means {
                    params.means = m.clone();
                }
                if let Some(c) = &p.covariances {
                    params.covariances = c.clone();
                } else if let Some(prec) = &p.precisions {
                    params.covariances = invert_spd_blocks(prec, t, d, "precisions_init")?;
                }
                params
            }
        })
    }

    /// The rows of every block of a fit's passes over `n` rows of `d`
    /// columns, the initialization's and EM's: the leaves of their fixed
    /// trees are the blocks `b·block .. (b+1)·block` (the last shorter).
    /// The [`GaussianMixtureModel::pass_block`] of the fit's models.
    pub fn block_rows(&self, n: usize, d: usize) -> NonZeroUsize {
        pass_block(n, d, self.n_components, moments(self.covariance_type))
    }

    /// The model EM starts from (no iteration: what [`fit_with`](Self::fit_with)
    /// with `max_iter` 0 and `n_init` 1 returns), from rows held elsewhere
    /// and read through `data` (see [`chunked`]): `d` columns, the
    /// initialization and seed of this builder. With `data`'s passes kept
    /// as [`ChunkedRows`] asks, the model is the local fit's, bit for bit.
    ///
    /// Errors as `fit_with` does on the parameters, the number of rows, the
    /// given parameters and the M-step; and with `data`'s own errors.
    pub fn initialize<R: ChunkedRows + ?Sized>(
        &self,
        data: &mut R,
        d: usize,
    ) -> Result<GaussianMixtureModel, R::Error> {
        self.check_parameters()?;
        if d == 0 {
            return Err(Error::ZeroDimension.into());
        }
        let (n, k) = (data.rows(), self.n_components);
        if n < k {
            return Err(Error::TooFewPoints { n, components: k }.into());
        }
        if let Init::Given(p) = &self.init {
            check_given(p, self.covariance_type, k, d)?;
        }
        let params = self.initial_params(data, d, self.seed, self.block_rows(n, d))?;
        Ok(GaussianMixtureModel::from_params(self.covariance_type, d, params, self.given_precisions())?)
    }

    /// The precisions of [`Init::Given`], if given.
    fn given_precisions(&self) -> Option<&[f64]> {
        match &self.init {
            Init::Given(p) => p.precisions.as_deref(),
            _ => None,
        }
    }
}

/// A fitted Gaussian mixture, with scikit-learn's fitted attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixtureModel {
    covariance_type: CovarianceType,
    d: usize,
    params: Params,
    precisions_cholesky: Vec<f64>,
    gaussians: Gaussians,
    n_iter: usize,
    converged: bool,
    lower_bounds: Vec<f64>,
}

impl GaussianMixtureModel {
    /// The model of `params`, its factors from `precisions` where given
    /// (see [`prepare`]).
    fn from_params(t: CovarianceType, d: usize, params: Params, precisions: Option<&[f64]>) -> Result<Self, Error> {
        Self::from_params_on(&Sequential, Simd::active(), t, d, params, precisions)
    }

    /// [`from_params`](Self::from_params), the components' factors on
    /// `exec`'s threads and `simd` ([`prepare`]).
    fn from_params_on<E: Executor + ?Sized>(
        exec: &E,
        simd: Simd,
        t: CovarianceType,
        d: usize,
        params: Params,
        precisions: Option<&[f64]>,
    ) -> Result<Self, Error> {
        let (gaussians, precisions_cholesky) = prepare(exec, simd, t, d, &params, precisions)?;
        Ok(GaussianMixtureModel {
            covariance_type: t,
            d,
            params,
            precisions_cholesky,
            gaussians,
            n_iter: 0,
            converged: false,
            lower_bounds: Vec::new(),
        })
    }

    /// A model from parameters, checked as [`Init::Given`] checks them:
    /// `weights` (`k`), `means` (`k × d`), `covariances` in the type's shape.
    pub fn from_parameters(
        covariance_type: CovarianceType,
        d: usize,
        weights: Vec<f64>,
        means: Vec<f64>,
        covariances: Vec<f64>,
    ) -> Result<Self, Error> {
        if d == 0 {
            return Err(Error::ZeroDimension);
        }
        let k = weights.len();
        if k == 0 {
            return Err(Error::InvalidParameter {
                name: "weights",
                value: "[]".into(),
                expected: "at least one component",
            });
        }
        let given = InitialParams {
            weights: Some(weights.clone()),
            means: Some(means.clone()),
            covariances: Some(covariances.clone()),
            precisions: None,
        };
        check_given(&given, covariance_type, k, d)?;
        Self::from_params(covariance_type, d, Params { weights, means, covariances }, None)
    }

    /// The M-step from merged statistics: the model that EM's next iteration
    /// would produce from the data the statistics summarize.
    ///
    /// Errors on statistics of no data ([`Error::TooFewPoints`]: there is no
    /// M-step of nothing), a bad `reg_covar`, and a covariance that is
    /// singular or overflows.
    pub fn from_stats(stats: &SufficientStats, reg_covar: f64) -> Result<Self, Error> {
        Self::from_stats_on(&Sequential, Simd::active(), stats, reg_covar)
    }

    /// [`from_stats`](Self::from_stats) with the components' covariances
    /// factored on `exec`'s threads where `d` is large enough to pay (one
    /// task per component; the same model on any executor).
    pub fn from_stats_with<E: Executor + ?Sized>(
        exec: &E,
        stats: &SufficientStats,
        reg_covar: f64,
    ) -> Result<Self, Error> {
        Self::from_stats_on(exec, Simd::active(), stats, reg_covar)
    }

    /// [`from_stats_with`](Self::from_stats_with) on the SIMD path `simd`.
    fn from_stats_on<E: Executor + ?Sized>(
        exec: &E,
        simd: Simd,
        stats: &SufficientStats,
        reg_covar: f64,
    ) -> Result<Self, Error> {
        non_negative("reg_covar", reg_covar)?;
        if stats.samples == 0 {
            return Err(Error::TooFewPoints { n: 0, components: stats.components() });
        }
        let params = m_step(stats.covariance_type, stats.d, &stats.shift, &stats.pass, reg_covar);
        Self::from_params_on(exec, simd, stats.covariance_type, stats.d, params, None)
    }

    /// The E-step's sufficient statistics of a chunk of data under this
    /// model (see [`SufficientStats`]); merge chunks, then [`from_stats`](Self::from_stats).
    pub fn summarize<E: Executor + ?Sized>(&self, exec: &E, x: &[f64]) -> Result<SufficientStats, Error> {
        self.summarize_as(exec, x, Parallelism::Data)
    }

    /// [`summarize`](Self::summarize) with a choice of [`Parallelism`].
    ///
    /// The data are not scanned up front: a NaN or infinity makes the
    /// log-likelihood non-finite, and only then is the data scanned to name it.
    /// [`Error::TooLarge`] if the pass's memory cannot be allocated, as for
    /// [`GaussianMixture::fit_with`].
    pub fn summarize_as<E: Executor + ?Sized>(
        &self,
        exec: &E,
        x: &[f64],
        parallelism: Parallelism,
    ) -> Result<SufficientStats, Error> {
        self.summarize_on(exec, Simd::active(), x, parallelism)
    }

    /// [`summarize_as`](Self::summarize_as) on the SIMD path `simd`.
    fn summarize_on<E: Executor + ?Sized>(
        &self,
        exec: &E,
        simd: Simd,
        x: &[f64],
        parallelism: Parallelism,
    ) -> Result<SufficientStats, Error> {
        let samples = rows(x, self.d)?;
        check_room(exec, simd, self.covariance_type, self.components(), self.d, samples, parallelism)?;
        let pass: PassStats = pass(exec, simd, &self.gaussians, moments(self.covariance_type), parallelism, x);
        if !pass.loglik.is_finite() {
            check_data(exec, x, self.d)?;
            return Err(Error::NonFiniteLikelihood { iteration: 0 });
        }
        Ok(SufficientStats {
            covariance_type: self.covariance_type,
            d: self.d,
            shift: self.gaussians.means().to_vec(),
            pass,
            samples,
        })
    }

    /// The rows of one block of a pass over `n` rows under this model: the
    /// leaves of the pass's fixed tree are the blocks `b·block .. (b+1)·block`
    /// (the last shorter). Fixed by `n`, `d`, `k` and the covariance type,
    /// never by the executor.
    ///
    /// Statistics taken block by block ([`summarize_blocks`](Self::summarize_blocks))
    /// and merged in that tree (node `i` of level `l + 1` is node `2i` merged
    /// with node `2i + 1` of level `l`, or node `2i` alone when it is the
    /// level's odd last one) have the bits of [`summarize`](Self::summarize)
    /// over all `n` rows: how a distributed fit, each worker holding whole
    /// blocks, gives the answer of one machine.
    pub fn pass_block(&self, n: usize) -> NonZeroUsize {
        pass_block(n, self.d, self.components(), moments(self.covariance_type))
    }

    /// The statistics of each `block`-row block of `x` under this model, in
    /// order (the last block may be shorter), each exactly as a pass with
    /// that block size computes it. With `block` the
    /// [`pass_block`](Self::pass_block) of the whole data and `x` starting on
    /// a block boundary, these are leaves of the whole data's pass.
    ///
    /// Errors as [`summarize`](Self::summarize) does: mis-shaped `x`, no
    /// room, and a NaN or infinity in the data (named by its row in `x`).
    pub fn summarize_blocks<E: Executor + ?Sized>(
        &self,
        exec: &E,
        x: &[f64],
        block: NonZeroUsize,
    ) -> Result<Vec<SufficientStats>, Error> {
        let simd = Simd::active();
        let samples = rows(x, self.d)?;
        let in_block = samples.min(block.get());
        check_room(exec, simd, self.covariance_type, self.components(), self.d, in_block, Parallelism::Data)?;
        let blocks = each_block(exec, simd, &self.gaussians, moments(self.covariance_type), x, block);
        if blocks.iter().any(|b| !b.loglik.is_finite()) {
            check_data(exec, x, self.d)?;
            return Err(Error::NonFiniteLikelihood { iteration: 0 });
        }
        let shift = self.gaussians.means();
        Ok(blocks
            .into_iter()
            .enumerate()
            .map(|(b, pass)| SufficientStats {
                covariance_type: self.covariance_type,
                d: self.d,
                shift: shift.to_vec(),
                pass,
                samples: block.get().min(samples - b * block.get()),
            })
            .collect())
    }

    /// One EM iteration from this model: the mean log-likelihood per sample
    /// of `x` under it (the lower bound), and the model after the M-step.
    /// This is exactly what [`GaussianMixture::fit`] runs per iteration.
    pub fn step<E: Executor + ?Sized>(
        &self,
        exec: &E,
        x: &[f64],
        parallelism: Parallelism,
        reg_covar: f64,
    ) -> Result<(GaussianMixtureModel, f64), Error> {
        self.step_on(exec, Simd::active(), x, parallelism, reg_covar)
    }

    /// [`step`](Self::step) on the SIMD path `simd`.
    fn step_on<E: Executor + ?Sized>(
        &self,
        exec: &E,
        simd: Simd,
        x: &[f64],
        parallelism: Parallelism,
        reg_covar: f64,
    ) -> Result<(GaussianMixtureModel, f64), Error> {
        let stats = self.summarize_on(exec, simd, x, parallelism)?;
        let next = Self::from_stats_on(exec, simd, &stats, reg_covar)?;
        Ok((next, stats.pass.loglik / stats.samples as f64))
    }

    /// The covariance type.
    pub fn covariance_type(&self) -> CovarianceType {
        self.covariance_type
    }

    /// Number of components `k`.
    pub fn components(&self) -> usize {
        self.params.weights.len()
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Mixture weights (`k`), summing to 1.
    pub fn weights(&self) -> &[f64] {
        &self.params.weights
    }

    /// Means, `k × d` row-major.
    pub fn means(&self) -> &[f64] {
        &self.params.means
    }

    /// Covariances in the type's shape: full `k × d × d`, tied `d × d`,
    /// diag `k × d`, spherical `k`.
    pub fn covariances(&self) -> &[f64] {
        &self.params.covariances
    }

    /// scikit-learn's `precisions_cholesky_`, same shapes as the
    /// covariances: for full and tied, the upper-triangular `U` (row-major)
    /// with `U·Uᵀ` the precision; for diag and spherical, `1/σ`.
    pub fn precisions_cholesky(&self) -> &[f64] {
        &self.precisions_cholesky
    }

    /// The components as the kernels use them.
    pub fn gaussians(&self) -> &Gaussians {
        &self.gaussians
    }

    /// EM iterations run by the kept initialization.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// Whether the lower bound changed by less than `tol` before `max_iter`.
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// The mean log-likelihood per sample at each iteration (before that
    /// iteration's M-step, as scikit-learn's `lower_bound_`).
    pub fn lower_bounds(&self) -> &[f64] {
        &self.lower_bounds
    }

    /// The last lower bound (−∞ before any iteration).
    pub fn lower_bound(&self) -> f64 {
        self.lower_bounds.last().copied().unwrap_or(f64::NEG_INFINITY)
    }

    /// The per-row answers; errors as [`predict_with`](Self::predict_with)'s.
    fn rows<E: Executor + ?Sized>(&self, exec: &E, x: &[f64], what: RowOutput) -> Result<Vec<f64>, Error> {
        let n = check_data(exec, x, self.d)?;
        let mut out = try_filled("the output", n, what.width(self.components()), 0.0)?;
        per_row(exec, Simd::active(), &self.gaussians, x, what, &mut out)?;
        if out.iter().any(|v| v.is_nan()) {
            return Err(Error::NonFiniteLikelihood { iteration: 0 });
        }
        Ok(out)
    }

    /// The most responsible component of each row, on `exec`.
    ///
    /// # Errors
    ///
    /// This and the other per-row calls (`predict_proba`, `score_samples`,
    /// `score`, `bic`, `aic`) reject mis-shaped data ([`Error::Shape`]), NaN
    /// or ±Inf ([`Error::NonFinite`]), and a row so far from every component
    /// that its squared distances overflow ([`Error::NonFiniteLikelihood`]).
    /// They are [`Error::TooLarge`], before any work, when the output or the
    /// scratch cannot be allocated: each thread that takes rows holds
    /// `(k + d + 3) × 128` values (`(k + 2d + 3) × 128` for full or tied
    /// covariances with `d > 4`), 16 GiB per thread for 2²⁴ components.
    pub fn predict_with<E: Executor + ?Sized>(&self, exec: &E, x: &[f64]) -> Result<Vec<usize>, Error> {
        Ok(self.rows(exec, x, RowOutput::Label)?.into_iter().map(|v| v as usize).collect())
    }

    /// Responsibilities, `n × k` row-major, on `exec`.
    pub fn predict_proba_with<E: Executor + ?Sized>(&self, exec: &E, x: &[f64]) -> Result<Vec<f64>, Error> {
        self.rows(exec, x, RowOutput::Responsibilities)
    }

    /// `ln p(x)` of each row, on `exec`.
    pub fn score_samples_with<E: Executor + ?Sized>(&self, exec: &E, x: &[f64]) -> Result<Vec<f64>, Error> {
        self.rows(exec, x, RowOutput::LogLikelihood)
    }

    /// The mean of [`score_samples`](Self::score_samples) (summed in a fixed order).
    pub fn score_with<E: Executor + ?Sized>(&self, exec: &E, x: &[f64]) -> Result<f64, Error> {
        let s = self.score_samples_with(exec, x)?;
        if s.is_empty() {
            return Err(Error::TooFewPoints { n: 0, components: 1 });
        }
        Ok(crate::simd::pairwise(&s) / s.len() as f64)
    }

    /// The most responsible component of each row, on the global pool.
    pub fn predict(&self, x: &[f64]) -> Result<Vec<usize>, Error> {
        self.predict_with(default_exec(), x)
    }

    /// Responsibilities, `n × k` row-major, on the global pool.
    pub fn predict_proba(&self, x: &[f64]) -> Result<Vec<f64>, Error> {
        self.predict_proba_with(default_exec(), x)
    }

    /// `ln p(x)` of each row, on the global pool.
    pub fn score_samples(&self, x: &[f64]) -> Result<Vec<f64>, Error> {
        self.score_samples_with(default_exec(), x)
    }

    /// Mean log-likelihood per sample, on the global pool.
    pub fn score(&self, x: &[f64]) -> Result<f64, Error> {
        self.score_with(default_exec(), x)
    }

    /// Number of free parameters: covariances, means, and `k − 1` weights.
    pub fn n_parameters(&self) -> usize {
        let (k, d) = (self.components(), self.d);
        self.covariance_type.free_parameters(k, d) + k * d + k - 1
    }

    /// Bayesian information criterion on `x` (lower is better).
    pub fn bic(&self, x: &[f64]) -> Result<f64, Error> {
        // `score` checks the data; then the length divides by d.
        let score = self.score(x)?;
        let n = (x.len() / self.d) as f64;
        Ok(-2.0 * score * n + self.n_parameters() as f64 * n.ln())
    }

    /// Akaike information criterion on `x` (lower is better).
    pub fn aic(&self, x: &[f64]) -> Result<f64, Error> {
        let score = self.score(x)?;
        let n = (x.len() / self.d) as f64;
        Ok(-2.0 * score * n + 2.0 * self.n_parameters() as f64)
    }
}

/// The global pool, or the calling thread alone if it could not be built.
fn default_exec() -> &'static dyn Executor {
    match Pool::global() {
        Ok(p) => p,
        Err(_) => &Sequential,
    }
}
