//! `nogil._nogil`: the Rust half of the Python package.
//!
//! Thin functions over the library's public API, each of which takes numpy
//! arrays, checks what Python cannot have checked for it, and runs the
//! kernel with the GIL released ([`Python::detach`]), so other Python
//! threads run while it works. The scikit-learn estimator itself
//! (validation, the EM loop, `n_init`, `warm_start`, verbose output,
//! warnings) is Python, in `nogil/mixture.py`; it calls [`Model`]'s methods
//! once per EM iteration.
//!
//! Contracts every function here keeps:
//!
//! - arrays come in as C-contiguous `float64` (the Python side converts
//!   anything else the way scikit-learn's `check_array` does); a
//!   non-contiguous one is a `ValueError`, never read with the wrong strides;
//! - a library [`Error`] becomes a `ValueError` carrying its message
//!   (`MemoryError` for [`Error::TooLarge`]);
//! - a Rust panic is caught ([`std::panic::catch_unwind`]) and raised as a
//!   `RuntimeError`, so it never unwinds into the interpreter and is an
//!   ordinary `Exception` (PyO3's own `PanicException` derives from
//!   `BaseException`, which `except Exception` does not catch);
//! - pools are made once per thread count and kept for the process's life,
//!   so an iterative caller pays for waking threads, never for spawning them.
//!
//! There is no `unsafe` here. The one promise a released GIL leaves to the
//! user is numpy's own: an array being read by a kernel must not be written
//! by another Python thread meanwhile (rust-numpy's borrow flags stop Rust
//! code doing so, not Python code), as with any numpy function that releases
//! the GIL.

mod chunked;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError};

use nogil::gmm::{
    CovarianceType, GaussianMixture, GaussianMixtureModel, Init, InitialParams, Parallelism, SufficientStats,
};
use nogil::kernels::counter::{self, CounterKind};
use nogil::kernels::{pairwise, summarize as summary};
use nogil::{Error, OnPool, Pool, Schedule};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// A library error as the Python exception scikit-learn users expect.
fn to_py(e: Error) -> PyErr {
    match e {
        Error::TooLarge { .. } => PyMemoryError::new_err(e.to_string()),
        e => PyValueError::new_err(e.to_string()),
    }
}

/// What a caught panic said, for the `RuntimeError` that reports it.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The `RuntimeError` a caught panic becomes.
fn caught(payload: &(dyn std::any::Any + Send)) -> PyErr {
    PyRuntimeError::new_err(format!(
        "nogil internal error (a Rust panic, caught; please report it): {}",
        panic_message(payload)
    ))
}

/// Runs `work` with the GIL released, catching any panic.
///
/// `work` sees only Rust data (slices borrowed from numpy arrays whose
/// readonly borrows the caller holds, and library values), never a Python
/// object: that is what `detach`'s `Send` bound enforces.
fn nogil<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T, Error> + Send) -> PyResult<T> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(e)),
        Err(payload) => Err(caught(&*payload)),
    }
}

/// The pool of `threads` threads (`None`: [`nogil::default_threads`], from
/// `NOGIL_NUM_THREADS` or the CPUs this process may use).
///
/// Pools persist: one per thread count, made on first use and never
/// dropped (their workers park when idle), so every later call with the
/// same count reuses them. Called with the GIL released: starting workers
/// waits for them to pin themselves.
///
/// A child process made by `fork` (Python's `multiprocessing` on Linux)
/// inherits the parent's pools but none of their worker threads: a region
/// posted to them would wait forever. So pools are kept per process id, and
/// a child makes its own. The parent's are leaked in the child, not dropped:
/// dropping one would join threads that do not exist there. The lock is
/// held for a map look-up only, never while a pool starts, so the window in
/// which another thread's fork could copy it locked (and the child then
/// wait on it for ever) is a few nanoseconds wide, not a pool's start-up.
fn pool(threads: Option<usize>) -> Result<&'static Pool, Error> {
    static POOLS: Mutex<Pools> = Mutex::new(None);
    let t = match threads {
        Some(t) => t,
        None => nogil::default_threads()?,
    };
    let pid = std::process::id();
    if let Some(p) = this_process(&mut POOLS.lock().unwrap_or_else(PoisonError::into_inner), pid).get(&t) {
        return Ok(p);
    }
    let new: &'static Pool = Box::leak(Box::new(Pool::new(t)?));
    // Another thread may have made one meanwhile: the first in is kept (and
    // this one parks for good, a few idle threads).
    Ok(*this_process(&mut POOLS.lock().unwrap_or_else(PoisonError::into_inner), pid).entry(t).or_insert(new))
}

/// The pools of one process: its id and its pools by thread count.
type Pools = Option<(u32, HashMap<usize, &'static Pool>)>;

/// The pools of process `pid`, forgetting (not dropping) any other's.
fn this_process(pools: &mut Pools, pid: u32) -> &mut HashMap<usize, &'static Pool> {
    if !matches!(pools, Some((p, _)) if *p == pid) {
        *pools = Some((pid, HashMap::new()));
    }
    &mut pools.get_or_insert_with(|| (pid, HashMap::new())).1
}

/// The executor for a call: the pool of `threads`, run with `schedule`.
fn executor(threads: Option<usize>, schedule: Schedule) -> Result<OnPool<'static>, Error> {
    pool(threads)?.with_schedule(schedule)
}

/// `schedule` in OpenMP's `OMP_SCHEDULE` syntax (`static`, `static,4`,
/// `dynamic,1`, `guided,8`), parsed by the library.
fn parse_schedule(schedule: &str) -> PyResult<Schedule> {
    schedule.parse::<Schedule>().map_err(|e| PyValueError::new_err(format!("schedule: {e}")))
}

/// The values of a C-contiguous array, or a `ValueError` naming `what`.
///
/// rust-numpy's `as_slice` accepts Fortran order too (it is contiguous),
/// which would read a matrix transposed; so C order is checked first.
fn c_slice<'a, D: numpy::ndarray::Dimension>(
    a: &'a numpy::PyReadonlyArray<'_, f64, D>,
    what: &str,
) -> PyResult<&'a [f64]> {
    if !a.is_c_contiguous() {
        return Err(PyValueError::new_err(format!("{what} must be a C-contiguous float64 array")));
    }
    a.as_slice().map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// A 2-D data array as `(values, d)`.
fn data<'a>(x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<(&'a [f64], usize)> {
    let d = x.shape()[1];
    Ok((c_slice(x, "X")?, d))
}

fn covariance_type(s: &str) -> PyResult<CovarianceType> {
    s.parse::<CovarianceType>().map_err(to_py)
}

/// The shape scikit-learn gives a covariance type's covariances (and
/// precisions and their Cholesky factors).
fn covariance_shape(t: CovarianceType, k: usize, d: usize) -> Vec<usize> {
    match t {
        CovarianceType::Full => vec![k, d, d],
        CovarianceType::Tied => vec![d, d],
        CovarianceType::Diag => vec![k, d],
        CovarianceType::Spherical => vec![k],
    }
}

/// A new numpy array of `shape` holding `values` (moved, not copied).
fn array<'py>(py: Python<'py>, shape: &[usize], values: Vec<f64>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), values)
        .map_err(|e| PyRuntimeError::new_err(format!("nogil internal error: output shape {shape:?}: {e}")))?;
    Ok(a.into_pyarray(py))
}

/// A fitted (or initial) Gaussian mixture: the library's
/// `GaussianMixtureModel`, immutable; an EM step makes a new one.
#[pyclass(frozen, module = "nogil._nogil")]
struct Model {
    inner: GaussianMixtureModel,
}

#[pymethods]
impl Model {
    /// One EM iteration from this model on `x`: `(next_model, lower_bound)`,
    /// the lower bound being the mean log-likelihood per sample of `x`
    /// under this model (scikit-learn's per-iteration `lower_bound_`).
    /// `iteration` (1-based) is named by a non-finite-likelihood error.
    #[pyo3(signature = (x, reg_covar, iteration, threads=None, schedule="static"))]
    fn step(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        reg_covar: f64,
        iteration: usize,
        threads: Option<usize>,
        schedule: &str,
    ) -> PyResult<(Model, f64)> {
        let (x, _) = data(&x)?;
        let schedule = parse_schedule(schedule)?;
        let (next, lower_bound) = nogil(py, || {
            self.inner.step(&executor(threads, schedule)?, x, Parallelism::Data, reg_covar).map_err(|e| match e {
                Error::NonFiniteLikelihood { .. } => Error::NonFiniteLikelihood { iteration },
                e => e,
            })
        })?;
        Ok((Model { inner: next }, lower_bound))
    }

    /// The rows of one block of a pass over `n` rows under this model (see
    /// the library's `GaussianMixtureModel::pass_block`).
    fn pass_block(&self, n: usize) -> usize {
        self.inner.pass_block(n).get()
    }

    /// The statistics of each `block`-row block of `x`, one row each:
    /// `[Σr (k), Σr·(x−μ) (k·d), second moments, Σ ln p]`, `(blocks, width)`.
    #[pyo3(signature = (x, block, threads=None, schedule="static"))]
    fn summarize_blocks<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        block: usize,
        threads: Option<usize>,
        schedule: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let (x, _) = data(&x)?;
        let schedule = parse_schedule(schedule)?;
        let block = std::num::NonZeroUsize::new(block).ok_or_else(|| PyValueError::new_err("block must be >= 1"))?;
        let blocks = nogil(py, || self.inner.summarize_blocks(&executor(threads, schedule)?, x, block))?;
        let width = stats_width(&self.inner);
        let mut out = Vec::with_capacity(blocks.len() * width);
        for b in &blocks {
            out.extend_from_slice(b.weights_sum());
            out.extend_from_slice(b.first_moments());
            out.extend_from_slice(b.second_moments());
            out.push(b.log_likelihood());
        }
        array(py, &[blocks.len(), width], out)
    }

    /// The M-step from statistics laid out as [`Model::summarize_blocks`]'s
    /// rows (merged), taken under this model over `samples` rows.
    fn next_from_stats(&self, stats: PyReadonlyArray1<'_, f64>, samples: usize, reg_covar: f64) -> PyResult<Model> {
        let v = c_slice(&stats, "stats")?;
        let (k, d) = (self.inner.components(), self.inner.dim());
        if v.len() != stats_width(&self.inner) {
            return Err(PyValueError::new_err(format!(
                "stats: expected {} values, got {}",
                stats_width(&self.inner),
                v.len()
            )));
        }
        let (n, rest) = v.split_at(k);
        let (s, rest) = rest.split_at(k * d);
        let (q, loglik) = rest.split_at(rest.len() - 1);
        let st = SufficientStats::from_parts(
            self.inner.covariance_type(),
            d,
            self.inner.gaussians().means().to_vec(),
            n.to_vec(),
            s.to_vec(),
            q.to_vec(),
            loglik[0],
            samples,
        )
        .map_err(to_py)?;
        Ok(Model { inner: GaussianMixtureModel::from_stats(&st, reg_covar).map_err(to_py)? })
    }

    /// The most likely component of each row of `x` (int64, as scikit-learn's argmax).
    #[pyo3(signature = (x, threads=None, schedule="static"))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        threads: Option<usize>,
        schedule: &str,
    ) -> PyResult<Bound<'py, numpy::PyArray1<i64>>> {
        let (x, _) = data(&x)?;
        let schedule = parse_schedule(schedule)?;
        let labels = nogil(py, || {
            let labels = self.inner.predict_with(&executor(threads, schedule)?, x)?;
            let mut out: Vec<i64> = Vec::new();
            out.try_reserve_exact(labels.len())
                .map_err(|_| Error::TooLarge { what: "the labels", requested: format!("{} values", labels.len()) })?;
            // A label is below k, which is far below i64::MAX.
            out.extend(labels.into_iter().map(|l| l as i64));
            Ok(out)
        })?;
        Ok(labels.into_pyarray(py))
    }

    /// Responsibilities of each component for each row, `(n, k)`.
    #[pyo3(signature = (x, threads=None, schedule="static"))]
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        threads: Option<usize>,
        schedule: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let (x, d) = data(&x)?;
        let schedule = parse_schedule(schedule)?;
        let r = nogil(py, || self.inner.predict_proba_with(&executor(threads, schedule)?, x))?;
        let n = x.len().checked_div(d).unwrap_or(0);
        array(py, &[n, self.inner.components()], r)
    }

    /// `ln p(x)` of each row, `(n,)`.
    #[pyo3(signature = (x, threads=None, schedule="static"))]
    fn score_samples<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        threads: Option<usize>,
        schedule: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let (x, _) = data(&x)?;
        let schedule = parse_schedule(schedule)?;
        let s = nogil(py, || self.inner.score_samples_with(&executor(threads, schedule)?, x))?;
        let n = s.len();
        array(py, &[n], s)
    }

    /// The mean of `score_samples` (summed in the library's fixed order).
    #[pyo3(signature = (x, threads=None, schedule="static"))]
    fn score(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        threads: Option<usize>,
        schedule: &str,
    ) -> PyResult<f64> {
        let (x, _) = data(&x)?;
        let schedule = parse_schedule(schedule)?;
        nogil(py, || self.inner.score_with(&executor(threads, schedule)?, x))
    }

    /// `"full"`, `"tied"`, `"diag"` or `"spherical"`.
    #[getter]
    fn covariance_type(&self) -> String {
        self.inner.covariance_type().to_string()
    }

    /// Number of components `k`.
    #[getter]
    fn n_components(&self) -> usize {
        self.inner.components()
    }

    /// Number of features `d`.
    #[getter]
    fn n_features(&self) -> usize {
        self.inner.dim()
    }

    /// Free parameters (covariances, means, `k − 1` weights), as scikit-learn counts them.
    #[getter]
    fn n_parameters(&self) -> usize {
        self.inner.n_parameters()
    }

    /// Mixture weights, `(k,)`.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        array(py, &[self.inner.components()], self.inner.weights().to_vec())
    }

    /// Means, `(k, d)`.
    #[getter]
    fn means<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        array(py, &[self.inner.components(), self.inner.dim()], self.inner.means().to_vec())
    }

    /// Covariances in scikit-learn's shape for the type.
    #[getter]
    fn covariances<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let shape = covariance_shape(self.inner.covariance_type(), self.inner.components(), self.inner.dim());
        array(py, &shape, self.inner.covariances().to_vec())
    }

    /// scikit-learn's `precisions_cholesky_`: for full and tied the upper
    /// triangular `U` with `U·Uᵀ` the precision, for diag and spherical `1/σ`.
    #[getter]
    fn precisions_cholesky<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let shape = covariance_shape(self.inner.covariance_type(), self.inner.components(), self.inner.dim());
        array(py, &shape, self.inner.precisions_cholesky().to_vec())
    }
}

/// The numbers of one block's statistics: `k·(1 + d + second) + 1`.
fn stats_width(m: &GaussianMixtureModel) -> usize {
    let (k, d) = (m.components(), m.dim());
    let second = match m.covariance_type() {
        CovarianceType::Full | CovarianceType::Tied => d * (d + 1) / 2,
        CovarianceType::Diag | CovarianceType::Spherical => d,
    };
    k * (1 + d + second) + 1
}

/// The model EM starts from: the library's initialization `init` on `x`
/// (no EM iteration: `max_iter = 0`), checked as the library checks a fit.
///
/// `x` is the data, or rows held elsewhere: an object with a `shape`
/// `(n, d)` and the methods of [`chunked::PyRows`] (`nogil.dask`'s `_Rows`), whose
/// passes run where the rows are (then `threads` and `schedule` are
/// theirs, not this call's) and give the same model as the data in one
/// array. `init` is `"kmeans"`, `"k-means++"`, `"random"`,
/// `"random_from_data"`, or `"given"`: then `weights`, `means` and one of
/// `covariances` or `precisions` (flat, in scikit-learn's layouts) are
/// used, and any left out come from the library's k-means.
#[pyfunction]
#[pyo3(signature = (
    x, n_components, covariance_type, reg_covar, init, seed,
    weights=None, means=None, covariances=None, precisions=None,
    threads=None, schedule="static",
))]
#[allow(clippy::too_many_arguments)] // one per scikit-learn parameter it carries
fn initial_model(
    x: Bound<'_, PyAny>,
    n_components: usize,
    covariance_type: &str,
    reg_covar: f64,
    init: &str,
    seed: u64,
    weights: Option<PyReadonlyArray1<'_, f64>>,
    means: Option<PyReadonlyArray1<'_, f64>>,
    covariances: Option<PyReadonlyArray1<'_, f64>>,
    precisions: Option<PyReadonlyArray1<'_, f64>>,
    threads: Option<usize>,
    schedule: &str,
) -> PyResult<Model> {
    let py = x.py();
    let schedule = parse_schedule(schedule)?;
    let given = Given { weights: &weights, means: &means, covariances: &covariances, precisions: &precisions };
    let builder = init_builder(n_components, covariance_type, reg_covar, init, seed, given)?;
    if x.hasattr("gather")? {
        let (n, d): (usize, usize) = x.getattr("shape")?.extract()?;
        return chunked::initialize(&builder, chunked::PyRows { rows: x, n, d });
    }
    let x: PyReadonlyArray2<'_, f64> = x.extract()?;
    let (x, d) = data(&x)?;
    let inner = nogil(py, || builder.fit_with(&executor(threads, schedule)?, x, d))?;
    Ok(Model { inner })
}

/// The initial parameters a caller gave, as numpy arrays (flat).
struct Given<'a, 'py> {
    weights: &'a Option<PyReadonlyArray1<'py, f64>>,
    means: &'a Option<PyReadonlyArray1<'py, f64>>,
    covariances: &'a Option<PyReadonlyArray1<'py, f64>>,
    precisions: &'a Option<PyReadonlyArray1<'py, f64>>,
}

/// The library's builder of an initialization alone (`max_iter = 0`,
/// `n_init = 1`): `init` is `"kmeans"`, `"k-means++"`, `"random"`,
/// `"random_from_data"`, or `"given"` (then the given parameters are used,
/// and any left out come from the library's k-means).
fn init_builder(
    n_components: usize,
    covariance_type: &str,
    reg_covar: f64,
    init: &str,
    seed: u64,
    given: Given<'_, '_>,
) -> PyResult<GaussianMixture> {
    let t = self::covariance_type(covariance_type)?;
    let Given { weights, means, covariances, precisions } = given;
    let copy = |a: &Option<PyReadonlyArray1<'_, f64>>, what| -> PyResult<Option<Vec<f64>>> {
        a.as_ref().map(|a| c_slice(a, what).map(<[f64]>::to_vec)).transpose()
    };
    let any_given = weights.is_some() || means.is_some() || covariances.is_some() || precisions.is_some();
    if any_given && init != "given" {
        return Err(PyValueError::new_err(format!(
            "initial parameters were given with init = {init:?}; use init = \"given\""
        )));
    }
    let init = match init {
        "kmeans" => Init::KMeans,
        "k-means++" => Init::KMeansPlusPlus,
        "random" => Init::Random,
        "random_from_data" => Init::RandomFromData,
        "given" => Init::Given(InitialParams {
            weights: copy(weights, "weights_init")?,
            means: copy(means, "means_init")?,
            covariances: copy(covariances, "covariances")?,
            precisions: copy(precisions, "precisions_init")?,
        }),
        other => {
            return Err(PyValueError::new_err(format!(
                "init = {other:?} is invalid: expected one of kmeans, k-means++, random, random_from_data, given"
            )));
        }
    };
    Ok(GaussianMixture::new(n_components)
        .covariance_type(t)
        .reg_covar(reg_covar)
        .max_iter(0)
        .n_init(1)
        .seed(seed)
        .init(init))
}

/// A model from its parameters in scikit-learn's layouts (flat), checked
/// as the library checks given parameters: weights `(k,)`, means `(k, d)`,
/// covariances in the type's shape.
#[pyfunction]
fn model_from_parameters(
    covariance_type: &str,
    n_features: usize,
    weights: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray1<'_, f64>,
    covariances: PyReadonlyArray1<'_, f64>,
) -> PyResult<Model> {
    let t = self::covariance_type(covariance_type)?;
    let (w, m, c) = (
        c_slice(&weights, "weights_")?.to_vec(),
        c_slice(&means, "means_")?.to_vec(),
        c_slice(&covariances, "covariances_")?.to_vec(),
    );
    let inner = GaussianMixtureModel::from_parameters(t, n_features, w, m, c).map_err(to_py)?;
    Ok(Model { inner })
}

/// The seed's `summarize(X)`: `(len(X), sum(X))`, in parallel.
///
/// `parts = None`: contiguous blocks combined in a fixed tree
/// (bit-identical for any thread count and schedule); `parts = p`: the
/// seed's strided partitions `X[i::p]`; `compensated`: a Neumaier sum.
#[pyfunction]
#[pyo3(signature = (x, threads=None, schedule="static", parts=None, compensated=false))]
fn summarize(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, f64>,
    threads: Option<usize>,
    schedule: &str,
    parts: Option<usize>,
    compensated: bool,
) -> PyResult<(usize, f64)> {
    let x = c_slice(&x, "X")?;
    let schedule = parse_schedule(schedule)?;
    if compensated && parts.is_some() {
        return Err(PyValueError::new_err("summarize: give parts or compensated=True, not both"));
    }
    let s = nogil(py, || {
        let exec = executor(threads, schedule)?;
        match (parts, compensated) {
            (Some(p), _) => summary::summarize_strided(&exec, x, p),
            (None, true) => Ok(summary::summarize_compensated(&exec, x)),
            (None, false) => Ok(summary::summarize(&exec, x)),
        }
    })?;
    Ok((s.len, s.sum))
}

/// Seconds that `fmas` lane multiply-adds take in registers, spread evenly
/// over the pool's threads (the library's `fma_peak`): the arithmetic floor
/// a kernel doing that many multiply-adds is measured against. The fastest
/// of `runs` timings.
#[pyfunction]
#[pyo3(signature = (fmas, threads=None, runs=3))]
fn fma_floor(py: Python<'_>, fmas: usize, threads: Option<usize>, runs: usize) -> PyResult<f64> {
    if runs == 0 {
        return Err(PyValueError::new_err("fma_floor: runs must be at least 1"));
    }
    // Seconds at most on any current core, so that no argument hangs a call.
    if fmas > 1_000_000_000_000 {
        return Err(PyValueError::new_err(format!("fma_floor: fmas = {fmas} is more than 10**12")));
    }
    nogil(py, || {
        let exec = executor(threads, Schedule::Static { chunk: None })?;
        let per_thread = fmas / nogil::Executor::threads(&exec).max(1);
        let mut best = f64::INFINITY;
        for _ in 0..runs {
            let t = std::time::Instant::now();
            std::hint::black_box(pairwise::fma_peak(&exec, per_thread));
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    })
}

/// The seed's `pairwise_sum(X)`: `Σᵢ Σⱼ xᵢ·xⱼ`.
///
/// `method`: `"blocked"` (the fast O(n²) kernel, `prange` over row blocks),
/// `"tasks"` (one task per element, the seed's joblib cell), `"strided"`
/// (one task per partition `X[i::parts]`, `parts` defaulting to the thread
/// count), `"exact"` (the answer in O(n) as `(Σ xᵢ)²`, compensated).
#[pyfunction]
#[pyo3(signature = (x, threads=None, schedule="guided", method="blocked", parts=None))]
fn pairwise_sum(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, f64>,
    threads: Option<usize>,
    schedule: &str,
    method: &str,
    parts: Option<usize>,
) -> PyResult<f64> {
    let x = c_slice(&x, "X")?;
    let schedule = parse_schedule(schedule)?;
    if parts.is_some() && method != "strided" {
        return Err(PyValueError::new_err(format!("pairwise_sum: parts is for method=\"strided\", not {method:?}")));
    }
    let method = match method {
        "blocked" | "tasks" | "strided" | "exact" => method.to_owned(),
        other => {
            return Err(PyValueError::new_err(format!(
                "pairwise_sum: method = {other:?} is invalid: expected one of blocked, tasks, strided, exact"
            )));
        }
    };
    nogil(py, || {
        let exec = executor(threads, schedule)?;
        Ok(match method.as_str() {
            "blocked" => pairwise::pairwise_sum(&exec, x),
            "tasks" => pairwise::pairwise_sum_tasks(&exec, x),
            "strided" => pairwise::pairwise_sum_strided(&exec, x, parts.unwrap_or(nogil::Executor::threads(&exec)))?,
            _ => pairwise::pairwise_sum_exact(&exec, x),
        })
    })
}

/// The names of the counter kinds, in the seed's order.
#[pyfunction]
fn counter_kinds() -> Vec<&'static str> {
    CounterKind::ALL.iter().map(|k| k.name()).collect()
}

/// The seed's counters (cells 2–4): `increments` increments of one shared
/// counter from the pool's threads, updated as `kind` says. Returns
/// `(kind, threads, expected, value, lost, seconds)`.
#[pyfunction]
#[pyo3(signature = (kind, increments, threads=None, schedule="guided"))]
fn count(
    py: Python<'_>,
    kind: &str,
    increments: usize,
    threads: Option<usize>,
    schedule: &str,
) -> PyResult<(String, usize, u64, u64, u64, f64)> {
    let k = CounterKind::ALL.iter().copied().find(|k| k.name() == kind).ok_or_else(|| {
        PyValueError::new_err(format!(
            "count: kind = {kind:?} is invalid: expected one of {}",
            counter_kinds().join(", ")
        ))
    })?;
    let schedule = parse_schedule(schedule)?;
    let r = nogil(py, || Ok(counter::count(k, &executor(threads, schedule)?, increments)))?;
    Ok((r.kind.name().to_owned(), r.threads, r.expected, r.value, r.lost, r.elapsed.as_secs_f64()))
}

/// The thread count nogil uses when none is given (`NOGIL_NUM_THREADS`,
/// else the CPUs this process may use).
#[pyfunction]
fn default_threads() -> PyResult<usize> {
    nogil::default_threads().map_err(to_py)
}

/// What this build of nogil was compiled with (target, SIMD features, profile).
#[pyfunction]
fn build_info() -> String {
    nogil::build_info().to_string()
}

/// Raises the `RuntimeError` a panic inside a kernel call becomes: the
/// tests' proof that a panic never reaches the interpreter as an abort.
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    nogil(py, || -> Result<(), Error> { panic!("a test panic") })
}

/// The Rust half of the `nogil` Python package: kernels that release the GIL.
#[pymodule]
fn _nogil(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(initial_model, m)?)?;
    m.add_function(wrap_pyfunction!(model_from_parameters, m)?)?;
    m.add_function(wrap_pyfunction!(chunked::run_block_pass, m)?)?;
    m.add_function(wrap_pyfunction!(chunked::run_seed_step, m)?)?;
    m.add_function(wrap_pyfunction!(chunked::run_seed_scan, m)?)?;
    m.add_function(wrap_pyfunction!(summarize, m)?)?;
    m.add_function(wrap_pyfunction!(pairwise_sum, m)?)?;
    m.add_function(wrap_pyfunction!(fma_floor, m)?)?;
    m.add_function(wrap_pyfunction!(counter_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(count, m)?)?;
    m.add_function(wrap_pyfunction!(default_threads, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
