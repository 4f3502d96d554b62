//! The initialization on rows held elsewhere: the chunks of a distributed
//! array, the ranks of a job.
//!
//! [`GaussianMixture::fit_with`](super::GaussianMixture::fit_with) reads
//! its rows from one slice. [`GaussianMixture::initialize`](super::GaussianMixture::initialize)
//! runs the same initialization (k-means, k-means++, random rows, random
//! responsibilities, given parameters) on rows it never holds: the driver
//! (the random draws, the choice of each centre, Lloyd's rounds, the
//! M-step) runs where it is called, and asks the rows, through
//! [`ChunkedRows`], only for a few of them and for passes whose results are
//! a few numbers per block.
//!
//! Every pass splits the `n` rows into blocks of
//! [`GaussianMixture::block_rows`](super::GaussianMixture::block_rows) rows,
//! the blocks of the fit's EM passes. [`BlockPass::run`], [`SeedStep::run`]
//! and [`SeedScan::run`] compute a chunk's blocks exactly as the local fit
//! computes them, so an implementation whose chunks start on block
//! boundaries, and which merges the blocks' values in the fixed pairwise
//! tree (node `i` of level `l + 1` is node `2i` plus node `2i + 1` of level
//! `l`, element by element, or node `2i` alone when it is the level's odd
//! last one), initializes bit for bit as the local fit of the same rows
//! does: the same draws, the same centres, the same model.

use std::num::NonZeroUsize;
use std::ops::Range;

use crate::Error;
use crate::kernels::gauss::{Gaussians, Moments, PassStats, Weights, block_stats_on};
use crate::kernels::kmeans::{Closest, ColumnSums, SeedBlock};
use crate::sched::{Executor, for_each_chunk_mut, map_reduce};
use crate::simd::Simd;

use super::CovarianceType;
use super::init::random_responsibilities;
use super::stats::moments;
use super::validate::check_data;

/// Rows held elsewhere, as the initialization reads them.
///
/// Each method is one pass (or one look) over the rows; `block` is always
/// the fit's [`block_rows`](super::GaussianMixture::block_rows) for these
/// rows. Errors of the implementation's own (a lost connection, a bad chunk)
/// end the initialization with that error.
pub trait ChunkedRows {
    /// The error of a pass; the library's own become it.
    type Error: From<Error>;

    /// The number of rows.
    fn rows(&self) -> usize;

    /// The rows numbered `rows` (below [`rows`](Self::rows); in that order,
    /// repeats allowed), row-major.
    fn gather(&mut self, rows: &[usize]) -> Result<Vec<f64>, Self::Error>;

    /// `pass` over every block, the blocks' values ([`BlockPass::run`])
    /// merged in the fixed pairwise tree.
    fn reduce(&mut self, pass: &BlockPass<'_>, block: NonZeroUsize) -> Result<Vec<f64>, Self::Error>;

    /// `step` over every block, with each row's distance to its closest
    /// chosen centre (`closest`, kept with the rows from one step to the
    /// next: set by a [`SeedUpdate::Set`] step, then updated by each later
    /// one, as [`SeedStep::run`] does): each block's values, in block order.
    fn seed(&mut self, step: &SeedStep<'_>, block: NonZeroUsize) -> Result<Vec<Vec<f64>>, Self::Error>;

    /// `scan` on block `scan.block` and its rows' `closest` ([`SeedScan::run`]).
    fn scan(&mut self, scan: &SeedScan<'_>, block: NonZeroUsize) -> Result<(Option<usize>, f64), Self::Error>;
}

/// A pass whose blocks' values are summed: `k`-means' rounds, the columns'
/// moments, random responsibilities' statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BlockPass<'a> {
    /// `Σ (x − shift)` then `Σ (x − shift)²` of each column: `2·d` values.
    Columns {
        /// One value per column.
        shift: &'a [f64],
    },
    /// The statistics of each row's one-hot assignment to its nearest of
    /// `centres` (`k × d`; the first of equals), shifted by the centres:
    /// [`values`](Self::values) of them.
    Nearest {
        /// The centres, row-major.
        centres: &'a [f64],
        /// The second moments summed: those of this covariance type, or
        /// none (`None`, the rounds of k-means).
        second: Option<CovarianceType>,
    },
    /// The statistics of random responsibilities (each row's drawn from
    /// `seed` and the row's number among all rows), shifted by `shift`
    /// (`k × d`).
    Random {
        /// The draws' seed.
        seed: u64,
        /// Each component's shift, row-major.
        shift: &'a [f64],
        /// The second moments summed, as for [`Nearest`](Self::Nearest).
        second: Option<CovarianceType>,
    },
}

impl BlockPass<'_> {
    /// The number of values of one block's result, for data of `d` columns:
    /// `2·d` for [`Columns`](Self::Columns); for the others `k` weight sums,
    /// `k·d` first moments, the second moments (`k·d(d+1)/2` full or tied,
    /// `k·d` diag or spherical, none for `None`) and one more (the sum of
    /// each row's largest `−‖x − c‖²` for [`Nearest`](Self::Nearest), 0
    /// for [`Random`](Self::Random)). 0 if `d` is 0.
    pub fn values(&self, d: usize) -> usize {
        match *self {
            BlockPass::Columns { .. } => 2 * d,
            BlockPass::Nearest { centres: c, second } | BlockPass::Random { shift: c, second, .. } => {
                let k = c.len().checked_div(d).unwrap_or(0);
                k * (1 + d + second_moments(second).per_component(d)) + 1
            }
        }
    }

    /// The values of each `block`-row block of `x` (row-major, `d` columns;
    /// the last block may be shorter), in order: with `x` the rows from
    /// `first_row` on, which must be a multiple of `block`, each block's
    /// values as the local fit computes them.
    ///
    /// Errors on a mis-shaped `x` or pass, a `first_row` off a block
    /// boundary, and a NaN or infinity in `x` that makes a value non-finite
    /// (named by its row within `x`).
    pub fn run<E: Executor + ?Sized>(
        &self,
        exec: &E,
        x: &[f64],
        d: usize,
        first_row: usize,
        block: NonZeroUsize,
    ) -> Result<Vec<Vec<f64>>, Error> {
        let n = chunk_rows(x, d, first_row, block)?;
        let pass = Prepared::new(self, d)?;
        let simd = Simd::active();
        let b = block.get();
        let mut out: Vec<Vec<f64>> = vec![Vec::new(); n.div_ceil(b)];
        for_each_chunk_mut(exec, &mut out, 1, |blocks, slots| {
            for (i, slot) in blocks.zip(slots) {
                *slot = pass.block(simd, x, first_row, i * b..n.min(i * b + b));
            }
        });
        if out.iter().flatten().any(|v| !v.is_finite()) {
            check_data(exec, x, d)?;
        }
        Ok(out)
    }
}

/// The second moments a pass sums, from the public form.
fn second_moments(second: Option<CovarianceType>) -> Moments {
    second.map_or(Moments::Means, moments)
}

/// The rows of a chunk `x` starting at row `first_row` of the whole, or the
/// error that says why the chunk cannot be one.
fn chunk_rows(x: &[f64], d: usize, first_row: usize, block: NonZeroUsize) -> Result<usize, Error> {
    let n = super::rows(x, d)?;
    if !first_row.is_multiple_of(block.get()) {
        return Err(Error::Shape {
            what: "a chunk's first row",
            expected: format!("a multiple of the block, {block} rows"),
            got: format!("row {first_row}"),
        });
    }
    Ok(n)
}

/// A [`BlockPass`] with what its blocks share made once.
pub(crate) enum Prepared<'a> {
    Columns { shift: &'a [f64], d: usize },
    Nearest { centres: Gaussians, moments: Moments },
    Random { seed: u64, shift: &'a [f64], d: usize, moments: Moments },
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(pass: &BlockPass<'a>, d: usize) -> Result<Self, Error> {
        let per_row = |what, len: usize| {
            if d == 0 {
                return Err(Error::ZeroDimension);
            }
            if len == 0 || !len.is_multiple_of(d) {
                return Err(Error::Shape {
                    what,
                    expected: format!("a positive multiple of d = {d} values"),
                    got: format!("{len} values"),
                });
            }
            Ok(())
        };
        Ok(match *pass {
            BlockPass::Columns { shift } => {
                if shift.len() != d {
                    return Err(Error::Shape {
                        what: "the columns' shift",
                        expected: format!("d = {d} values"),
                        got: format!("{} values", shift.len()),
                    });
                }
                Prepared::Columns { shift, d }
            }
            BlockPass::Nearest { centres, second } => {
                per_row("the centres", centres.len())?;
                Prepared::Nearest { centres: Gaussians::centres(d, centres.to_vec()), moments: second_moments(second) }
            }
            BlockPass::Random { seed, shift, second } => {
                per_row("the shift", shift.len())?;
                Prepared::Random { seed, shift, d, moments: second_moments(second) }
            }
        })
    }

    /// One block's values: `rows` of `x`, whose first row is row
    /// `first_row` of the whole data.
    pub(crate) fn block(&self, simd: Simd, x: &[f64], first_row: usize, rows: Range<usize>) -> Vec<f64> {
        match self {
            Prepared::Columns { shift, d } => {
                ColumnSums { x: &x[rows.start * d..rows.end * d], d: *d, shift }.run_on(simd)
            }
            Prepared::Nearest { centres, moments } => {
                flat(block_stats_on(simd, centres, *moments, x, rows, Weights::Nearest))
            }
            Prepared::Random { seed, shift, d, moments } => {
                let resp = |i: usize, r: &mut [f64]| random_responsibilities(*seed, first_row + i, r);
                flat(super::init::resp_block(x, *d, shift, *moments, rows, resp))
            }
        }
    }

    /// The statistics back from their values.
    pub(crate) fn stats(&self, values: Vec<f64>) -> PassStats {
        let (k, d, moments) = match self {
            Prepared::Columns { .. } => (0, 0, Moments::Means),
            Prepared::Nearest { centres, moments } => (centres.components(), centres.dim(), *moments),
            Prepared::Random { shift, d, moments, .. } => (shift.len() / d, *d, *moments),
        };
        unflat(values, k, d, moments)
    }
}

/// A pass's statistics as one vector: `n`, `s`, `q`, then `loglik`.
fn flat(st: PassStats) -> Vec<f64> {
    let mut v = st.n;
    v.reserve(st.s.len() + st.q.len() + 1);
    v.extend_from_slice(&st.s);
    v.extend_from_slice(&st.q);
    v.push(st.loglik);
    v
}

/// [`flat`]'s inverse; zeros where `values` is too short.
fn unflat(mut values: Vec<f64>, k: usize, d: usize, moments: Moments) -> PassStats {
    let per = moments.per_component(d);
    values.resize(k * (1 + d + per) + 1, 0.0);
    let loglik = values.pop().unwrap_or(0.0);
    let q = values.split_off(k * (1 + d));
    let s = values.split_off(k);
    PassStats { n: values, s, q, loglik }
}

/// How a [`SeedStep`] updates each row's distance to its closest chosen
/// centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedUpdate {
    /// Sets it to the distance to the first centre (the first step).
    Set,
    /// Lowers it to the distance to the first centre, where that is less
    /// (the centre chosen last).
    Lower,
    /// Leaves it: every centre is only scored.
    Keep,
}

/// One step of k-means++ seeding over a chunk: each row's distance to its
/// closest chosen centre updated by the first of `centres` as `update`
/// says, then every other centre (every one, for [`SeedUpdate::Keep`])
/// scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeedStep<'a> {
    /// How `closest` is updated.
    pub update: SeedUpdate,
    /// The centres, row-major `c × d`.
    pub centres: &'a [f64],
}

impl SeedStep<'_> {
    /// Runs the step on a chunk `x` (row-major, `d` columns) whose rows'
    /// distances are `closest` (one per row; any values before a
    /// [`SeedUpdate::Set`] step): each `block`-row block's values, in order.
    /// For [`SeedUpdate::Set`] one value, the block's `Σ closest` after the
    /// update; otherwise each scored centre's `Σ min(closest, ‖x − c‖²)`.
    ///
    /// Errors on mis-shaped inputs, and on a NaN or infinity in `x` that a
    /// [`SeedUpdate::Set`] step meets (named by its row within `x`).
    pub fn run<E: Executor + ?Sized>(
        &self,
        exec: &E,
        x: &[f64],
        d: usize,
        closest: &mut [f64],
        block: NonZeroUsize,
    ) -> Result<Vec<Vec<f64>>, Error> {
        let n = super::rows(x, d)?;
        let least = usize::from(self.update != SeedUpdate::Keep);
        if closest.len() != n || !self.centres.len().is_multiple_of(d) || self.centres.len() / d < least.max(1) {
            return Err(Error::Shape {
                what: "a seeding step",
                expected: format!("one distance per row ({n}) and at least {} centre(s) of d = {d}", least.max(1)),
                got: format!("{} distances, {} centre values", closest.len(), self.centres.len()),
            });
        }
        let out = self.blocks(exec, Simd::active(), x, d, closest, block);
        if self.update == SeedUpdate::Set && out.iter().flatten().any(|v| !v.is_finite()) {
            check_data(exec, x, d)?;
        }
        Ok(out)
    }

    /// [`run`](Self::run) on checked inputs and a chosen path.
    pub(crate) fn blocks<E: Executor + ?Sized>(
        &self,
        exec: &E,
        simd: Simd,
        x: &[f64],
        d: usize,
        closest: &mut [f64],
        block: NonZeroUsize,
    ) -> Vec<Vec<f64>> {
        let centres = Gaussians::centres(d, self.centres.to_vec());
        let update = match self.update {
            SeedUpdate::Set => Closest::Set,
            SeedUpdate::Lower => Closest::Lower,
            SeedUpdate::Keep => Closest::Keep,
        };
        let b = block.get();
        let mut blocks: Vec<(&mut [f64], Vec<f64>)> = closest.chunks_mut(b).map(|c| (c, Vec::new())).collect();
        for_each_chunk_mut(exec, &mut blocks, 1, |ids, out| {
            for (i, (part, value)) in ids.zip(out) {
                let (sum, scores) =
                    SeedBlock { x: &x[i * b * d..], closest: part, centres: &centres, update }.run_on(simd);
                *value = if update == Closest::Set { vec![sum] } else { scores };
            }
        });
        blocks.into_iter().map(|(_, v)| v).collect()
    }
}

/// One look at a block in k-means++'s sampling: its rows' distances,
/// lowered by `pending` (the centre chosen last) where given, added one by
/// one to `acc` until the sum reaches `target`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeedScan<'a> {
    /// The block's number among all blocks.
    pub block: usize,
    /// The centre chosen last, if `closest` does not count it yet.
    pub pending: Option<&'a [f64]>,
    /// The sum of all distances before the block's.
    pub acc: f64,
    /// The sum to reach.
    pub target: f64,
}

impl SeedScan<'_> {
    /// Runs the scan on the block's rows `x` (row-major, `d` columns) and
    /// their distances `closest`, lowered in place by `pending`: the row
    /// within the block where the running sum reaches `target`, if one
    /// does, and the running sum after the rows it added.
    ///
    /// Errors on mis-shaped inputs.
    pub fn run(&self, x: &[f64], d: usize, closest: &mut [f64]) -> Result<(Option<usize>, f64), Error> {
        let n = super::rows(x, d)?;
        if closest.len() != n || self.pending.is_some_and(|p| p.len() != d) {
            return Err(Error::Shape {
                what: "a seeding scan",
                expected: format!("one distance per row ({n}) and a pending centre of d = {d}"),
                got: format!("{} distances, {:?} centre values", closest.len(), self.pending.map(<[f64]>::len)),
            });
        }
        Ok(self.scan(Simd::active(), x, d, closest))
    }

    /// [`run`](Self::run) on checked inputs and a chosen path.
    ///
    /// The rows are lowered and added a piece at a time, so a scan that
    /// stops early lowers only the pieces it read (the next step lowers the
    /// rest to the same values): the scans run one after another on the
    /// driver's thread, and a block is up to 2¹⁶ rows.
    pub(crate) fn scan(&self, simd: Simd, x: &[f64], d: usize, closest: &mut [f64]) -> (Option<usize>, f64) {
        const PIECE: usize = 1024;
        let centres = self.pending.map(|p| Gaussians::centres(d, p.to_vec()));
        let mut acc = self.acc;
        for (p, piece) in closest.chunks_mut(PIECE).enumerate() {
            if let Some(centres) = &centres {
                let x = &x[p * PIECE * d..];
                SeedBlock { x, closest: &mut *piece, centres, update: Closest::Lower }.run_on(simd);
            }
            for (i, &v) in piece.iter().enumerate() {
                acc += v;
                if acc >= self.target {
                    return (Some(p * PIECE + i), acc);
                }
            }
        }
        (None, acc)
    }
}

/// [`ChunkedRows`] of rows in memory, on an executor: how the local fit
/// initializes.
pub(crate) struct LocalRows<'a, E: Executor + ?Sized> {
    pub exec: &'a E,
    pub simd: Simd,
    pub x: &'a [f64],
    pub d: usize,
    /// One distance per row, made by the first seeding step.
    pub closest: Vec<f64>,
}

impl<'a, E: Executor + ?Sized> LocalRows<'a, E> {
    pub(crate) fn new(exec: &'a E, simd: Simd, x: &'a [f64], d: usize) -> Self {
        LocalRows { exec, simd, x, d, closest: Vec::new() }
    }
}

impl<E: Executor + ?Sized> ChunkedRows for LocalRows<'_, E> {
    type Error = Error;

    fn rows(&self) -> usize {
        self.x.len() / self.d
    }

    fn gather(&mut self, rows: &[usize]) -> Result<Vec<f64>, Error> {
        let d = self.d;
        Ok(rows.iter().flat_map(|&i| &self.x[i * d..(i + 1) * d]).copied().collect())
    }

    fn reduce(&mut self, pass: &BlockPass<'_>, block: NonZeroUsize) -> Result<Vec<f64>, Error> {
        let pass = Prepared::new(pass, self.d)?;
        let (simd, x) = (self.simd, self.x);
        let sum = map_reduce(self.exec, self.rows(), block, |rows| pass.block(simd, x, 0, rows), add_values);
        Ok(sum.unwrap_or_default())
    }

    fn seed(&mut self, step: &SeedStep<'_>, block: NonZeroUsize) -> Result<Vec<Vec<f64>>, Error> {
        if self.closest.is_empty() {
            // Zeroed pages from the allocator, first written by the pass's threads.
            self.closest = vec![0.0; self.rows()];
        }
        Ok(step.blocks(self.exec, self.simd, self.x, self.d, &mut self.closest, block))
    }

    fn scan(&mut self, scan: &SeedScan<'_>, block: NonZeroUsize) -> Result<(Option<usize>, f64), Error> {
        let (b, n, d) = (block.get(), self.closest.len(), self.d);
        let rows = (scan.block * b).min(n)..n.min(scan.block * b + b);
        Ok(scan.scan(self.simd, &self.x[rows.start * d..rows.end * d], d, &mut self.closest[rows]))
    }
}

/// Element-by-element sums: how blocks' values merge.
pub(crate) fn add_values(mut a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    for (x, y) in a.iter_mut().zip(&b) {
        *x += y;
    }
    a
}
