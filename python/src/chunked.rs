//! The initialization on rows held elsewhere (`nogil.dask`): the passes a
//! chunk runs on its worker (`run_block_pass`, `run_seed_step`,
//! `run_seed_scan`), and the driver on the client, the library's
//! `GaussianMixture::initialize` over [`PyRows`], whose passes are calls of
//! a Python object's methods.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};

use nogil::Error;
use nogil::gmm::GaussianMixture;
use nogil::gmm::chunked::{BlockPass, ChunkedRows, SeedScan, SeedStep, SeedUpdate};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::{Model, array, c_slice, caught, covariance_type, data, executor, nogil, parse_schedule, to_py};

/// A pass's description as Python carries it to the workers:
/// `(kind, values, second, seed)` with `kind` `"columns"` (`values` the
/// shift), `"nearest"` (`values` the centres) or `"random"` (`values` the
/// shift, `seed` the draws'), and `second` a covariance type or `None`.
type PassSpec<'py> = (String, PyReadonlyArray1<'py, f64>, Option<String>, u64);

/// The pass a [`PassSpec`] describes.
fn block_pass<'a>(kind: &str, values: &'a [f64], second: Option<&str>, seed: u64) -> PyResult<BlockPass<'a>> {
    let second = second.map(covariance_type).transpose()?;
    match kind {
        "columns" => Ok(BlockPass::Columns { shift: values }),
        "nearest" => Ok(BlockPass::Nearest { centres: values, second }),
        "random" => Ok(BlockPass::Random { seed, shift: values, second }),
        other => Err(PyValueError::new_err(format!(
            "pass kind {other:?} is invalid: expected one of columns, nearest, random"
        ))),
    }
}

/// Rows of a 2-D array of `width` values each, from `rows` vectors.
fn matrix<'py>(py: Python<'py>, rows: Vec<Vec<f64>>, width: usize) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let mut out = Vec::with_capacity(rows.len() * width);
    for r in &rows {
        if r.len() != width {
            return Err(PyRuntimeError::new_err(format!(
                "nogil internal error: a block gave {} values, not {width}",
                r.len()
            )));
        }
        out.extend_from_slice(r);
    }
    array(py, &[rows.len(), width], out)
}

/// The values of each `block`-row block of the chunk `x` for the pass
/// `spec` (see the library's `BlockPass::run`): `(blocks, width)`. The
/// chunk's first row is row `first_row` of the whole data, a multiple of
/// `block`.
#[pyfunction]
#[pyo3(signature = (x, first_row, block, spec, threads=None, schedule="static"))]
pub(crate) fn run_block_pass<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    first_row: usize,
    block: usize,
    spec: PassSpec<'py>,
    threads: Option<usize>,
    schedule: &str,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let (x, d) = data(&x)?;
    let schedule = parse_schedule(schedule)?;
    let block = NonZeroUsize::new(block).ok_or_else(|| PyValueError::new_err("block must be >= 1"))?;
    let (kind, values, second, seed) = &spec;
    let pass = block_pass(kind, c_slice(values, "the pass's values")?, second.as_deref(), *seed)?;
    let width = pass.values(d);
    let out = nogil(py, || pass.run(&executor(threads, schedule)?, x, d, first_row, block))?;
    matrix(py, out, width)
}

/// The update of a seeding step, from its name.
fn seed_update(update: &str) -> PyResult<SeedUpdate> {
    match update {
        "set" => Ok(SeedUpdate::Set),
        "lower" => Ok(SeedUpdate::Lower),
        "keep" => Ok(SeedUpdate::Keep),
        other => {
            Err(PyValueError::new_err(format!("seeding update {other:?} is invalid: expected set, lower or keep")))
        }
    }
}

/// A numpy array made here.
type Array<'py> = Bound<'py, PyArrayDyn<f64>>;

/// One k-means++ seeding step on the chunk `x` (see the library's
/// `SeedStep::run`): `(closest, values)`, the rows' updated distances (a
/// new array; `closest`, `None` for a `"set"` step, is not written) and each
/// block's values, `(blocks, width)`.
#[pyfunction]
#[pyo3(signature = (x, closest, block, update, centres, threads=None, schedule="static"))]
#[allow(clippy::too_many_arguments)] // the step's parts, and where it runs
pub(crate) fn run_seed_step<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    closest: Option<PyReadonlyArray1<'py, f64>>,
    block: usize,
    update: &str,
    centres: PyReadonlyArray1<'py, f64>,
    threads: Option<usize>,
    schedule: &str,
) -> PyResult<(Array<'py>, Array<'py>)> {
    let (x, d) = data(&x)?;
    let schedule = parse_schedule(schedule)?;
    let block = NonZeroUsize::new(block).ok_or_else(|| PyValueError::new_err("block must be >= 1"))?;
    let step = SeedStep { update: seed_update(update)?, centres: c_slice(&centres, "centres")? };
    let n = x.len().checked_div(d).unwrap_or(0);
    let mut dist = match &closest {
        Some(c) => c_slice(c, "closest")?.to_vec(),
        None => vec![0.0; n],
    };
    let width = match step.update {
        SeedUpdate::Set => 1,
        SeedUpdate::Lower => (step.centres.len() / d.max(1)).saturating_sub(1),
        SeedUpdate::Keep => step.centres.len() / d.max(1),
    };
    let (dist, out) = nogil(py, || {
        let out = step.run(&executor(threads, schedule)?, x, d, &mut dist, block)?;
        Ok((dist, out))
    })?;
    Ok((array(py, &[dist.len()], dist)?, matrix(py, out, width)?))
}

/// One look at a block in k-means++'s sampling (see the library's
/// `SeedScan::run`) on the block's rows `x` and distances `closest` (not
/// written): `(row within the block or None, running sum)`.
#[pyfunction]
pub(crate) fn run_seed_scan(
    x: PyReadonlyArray2<'_, f64>,
    closest: PyReadonlyArray1<'_, f64>,
    pending: Option<PyReadonlyArray1<'_, f64>>,
    acc: f64,
    target: f64,
) -> PyResult<(Option<usize>, f64)> {
    let (x, d) = data(&x)?;
    let mut dist = c_slice(&closest, "closest")?.to_vec();
    let pending = pending.as_ref().map(|p| c_slice(p, "pending")).transpose()?;
    // The block's number is the caller's; the scan needs only its rows.
    let scan = SeedScan { block: 0, pending, acc, target };
    scan.run(x, d, &mut dist).map_err(to_py)
}

/// Why an initialization on rows held elsewhere stopped: the library's
/// error, or the Python exception one of the rows' methods raised.
pub(crate) enum InitError {
    Lib(Error),
    Py(PyErr),
}

impl From<Error> for InitError {
    fn from(e: Error) -> Self {
        InitError::Lib(e)
    }
}

impl From<PyErr> for InitError {
    fn from(e: PyErr) -> Self {
        InitError::Py(e)
    }
}

/// [`ChunkedRows`] over a Python object whose methods run the passes where
/// the rows are (`nogil.dask`'s `_Rows`): `gather(rows)`, `reduce(spec,
/// block)`, `seed(update, centres, block)` and `scan(block_index, pending,
/// acc, target, block)`, each returning numpy arrays.
pub(crate) struct PyRows<'py> {
    pub(crate) rows: Bound<'py, PyAny>,
    pub(crate) n: usize,
    pub(crate) d: usize,
}

impl PyRows<'_> {
    fn vector(&self, v: &[f64]) -> Bound<'_, numpy::PyArray1<f64>> {
        v.to_vec().into_pyarray(self.rows.py())
    }

    /// A returned array's values, checked for their number.
    fn values(got: &Bound<'_, PyAny>, what: &str, len: Option<usize>) -> Result<Vec<f64>, InitError> {
        let a: PyReadonlyArrayDyn<'_, f64> = got.extract()?;
        let v = a.as_slice().map_err(|e| PyValueError::new_err(format!("{what}: {e}")))?.to_vec();
        match len {
            Some(l) if l != v.len() => {
                Err(PyValueError::new_err(format!("{what}: expected {l} values, got {}", v.len())).into())
            }
            _ => Ok(v),
        }
    }

    /// Blocks' values, `(blocks, width)`, as vectors.
    fn blocks(got: &Bound<'_, PyAny>, what: &str, blocks: usize) -> Result<Vec<Vec<f64>>, InitError> {
        let v = Self::values(got, what, None)?;
        if blocks == 0 || v.is_empty() || v.len() % blocks != 0 {
            return Err(PyValueError::new_err(format!("{what}: {} values for {blocks} blocks", v.len())).into());
        }
        Ok(v.chunks_exact(v.len() / blocks).map(<[f64]>::to_vec).collect())
    }
}

impl ChunkedRows for PyRows<'_> {
    type Error = InitError;

    fn rows(&self) -> usize {
        self.n
    }

    fn gather(&mut self, rows: &[usize]) -> Result<Vec<f64>, InitError> {
        let got = self.rows.call_method1("gather", (rows.to_vec(),))?;
        Self::values(&got, "gather", Some(rows.len() * self.d))
    }

    fn reduce(&mut self, pass: &BlockPass<'_>, block: NonZeroUsize) -> Result<Vec<f64>, InitError> {
        let (kind, values, second, seed) = match *pass {
            BlockPass::Columns { shift } => ("columns", shift, None, 0),
            BlockPass::Nearest { centres, second } => ("nearest", centres, second, 0),
            BlockPass::Random { seed, shift, second } => ("random", shift, second, seed),
        };
        let spec = (kind, self.vector(values), second.map(|t| t.to_string()), seed);
        let got = self.rows.call_method1("reduce", (spec, block.get()))?;
        Self::values(&got, "reduce", Some(pass.values(self.d)))
    }

    fn seed(&mut self, step: &SeedStep<'_>, block: NonZeroUsize) -> Result<Vec<Vec<f64>>, InitError> {
        let update = match step.update {
            SeedUpdate::Set => "set",
            SeedUpdate::Lower => "lower",
            SeedUpdate::Keep => "keep",
        };
        let got = self.rows.call_method1("seed", (update, self.vector(step.centres), block.get()))?;
        Self::blocks(&got, "seed", self.n.div_ceil(block.get()))
    }

    fn scan(&mut self, scan: &SeedScan<'_>, block: NonZeroUsize) -> Result<(Option<usize>, f64), InitError> {
        let pending = scan.pending.map(|p| self.vector(p));
        let got = self.rows.call_method1("scan", (scan.block, pending, scan.acc, scan.target, block.get()))?;
        Ok(got.extract::<(Option<usize>, f64)>()?)
    }
}

/// [`initial_model`](crate::initial_model) on rows held elsewhere: the library's
/// `GaussianMixture::initialize`, on the calling thread with the GIL held
/// (the passes are Python calls; the work is the workers').
pub(crate) fn initialize(builder: &GaussianMixture, mut rows: PyRows<'_>) -> PyResult<Model> {
    let d = rows.d;
    match catch_unwind(AssertUnwindSafe(|| builder.initialize(&mut rows, d))) {
        Ok(Ok(inner)) => Ok(Model { inner }),
        Ok(Err(InitError::Lib(e))) => Err(to_py(e)),
        Ok(Err(InitError::Py(e))) => Err(e),
        Err(payload) => Err(caught(&*payload)),
    }
}
