//! Pairwise sum: `Σᵢ Σⱼ xᵢ·xⱼ` in O(n²), the seed's compute-bound example
//! (cells 12–14 and 20–36).
//!
//! The seed computes it as `Σᵢ scalar_sum(X, xᵢ)`, first in Python, then in
//! Cython over pointers (cell 28), then with `prange(schedule='guided')`
//! (cell 30), with one joblib task per element (cell 32), and with one task
//! per strided partition `X[i::threads]` (cells 34–36). Here:
//!
//! - mirrors: [`scalar_sum_raw`] and [`pairwise_sum_raw`] (cell 28, safe
//!   over a slice as [`pairwise_sum_mirror`]), and [`block_sum_raw`] (cell
//!   34's two-array `scalar_sum`): the oracles;
//! - [`scalar_sum`]: `Σⱼ xⱼ·y` with SIMD and four accumulators;
//! - [`pairwise_sum`]: the fast kernel — rows of the outer loop in fixed
//!   blocks on any [`Executor`], each block register-blocked (4 rows × 2
//!   vectors = 8 independent multiply-add chains, enough to keep two FMA
//!   units busy through their latency) over L1-sized column blocks;
//! - [`pairwise_sum_tasks`]: one task per element, `scalar_sum(x, xᵢ)` each:
//!   the seed's fine-grained cell 32, to show what per-task overhead costs;
//! - [`pairwise_sum_strided`]: the seed's cell 34, one task per partition;
//! - [`pairwise_sum_exact`]: the *answer*, in O(n): `Σᵢ Σⱼ xᵢxⱼ = (Σᵢ xᵢ)²`,
//!   with a compensated sum. The O(n²) forms are the benchmark, not the way
//!   to get the number;
//! - [`fma_peak`]: the arithmetic-peak yardstick for benchmarks.
//!
//! **Accuracy.** Every O(n²) form sums the same `n²` products in some order,
//! so each is within `γ(n²+1)·(Σ|xᵢ|)²` of the exact value
//! (`γ(k) = kε/(1 − kε)`); two forms are within twice that of each other.
//! All forms are deterministic: the same bits for every executor, schedule
//! and thread count.

use std::num::NonZeroUsize;
use std::ops::Range;

use crate::Error;
use crate::kernels::summarize::summarize_compensated;
use crate::sched::{Executor, map_reduce};
use crate::simd::{Kernel, Lanes, Simd, fold4};

/// Mirror of the seed's `scalar_sum(double* X, double y, int n) nogil`: `Σ X[i]·y`.
///
/// # Safety
///
/// - `x` is valid for reads of `n` consecutive `f64` (it may dangle when `n == 0`).
pub unsafe fn scalar_sum_raw(x: *const f64, y: f64, n: usize) -> f64 {
    let mut sum = 0.0;
    for i in 0..n {
        // SAFETY: `i < n`, within the caller's promise.
        sum += unsafe { *x.add(i) } * y;
    }
    sum
}

/// Mirror of the seed's `pairwise_sum(X)` (cell 28): `Σᵢ scalar_sum(X, X[i], n)`.
///
/// # Safety
///
/// - `x` is valid for reads of `n` consecutive `f64` (it may dangle when `n == 0`).
pub unsafe fn pairwise_sum_raw(x: *const f64, n: usize) -> f64 {
    let mut sum = 0.0;
    for i in 0..n {
        // SAFETY: `i < n`, and `x` holds `n` values (the caller's promise).
        sum += unsafe { scalar_sum_raw(x, *x.add(i), n) };
    }
    sum
}

/// [`pairwise_sum_raw`] over a slice: the seed's loop (cell 28), safe.
pub fn pairwise_sum_mirror(x: &[f64]) -> f64 {
    // SAFETY: a slice is valid for reads of its `len()` values.
    unsafe { pairwise_sum_raw(x.as_ptr(), x.len()) }
}

/// Mirror of the seed's two-array `scalar_sum(double* X, double* y, int n, int m)`
/// (cell 34): `Σᵢ Σⱼ X[i]·y[j]`.
///
/// # Safety
///
/// - `x` is valid for reads of `n` consecutive `f64`, `y` of `m` (either may
///   dangle when its count is 0).
pub unsafe fn block_sum_raw(x: *const f64, n: usize, y: *const f64, m: usize) -> f64 {
    let mut sum = 0.0;
    for i in 0..n {
        for j in 0..m {
            // SAFETY: `i < n` and `j < m`, within the caller's promises.
            sum += unsafe { *x.add(i) * *y.add(j) };
        }
    }
    sum
}

/// `Σⱼ xⱼ·y` with SIMD: four multiply-add accumulators over `4·L`-value
/// steps (`L` the lanes of the [active](crate::simd::active) path),
/// combined `(a0 + a1) + (a2 + a3)`, then the tail left to right.
pub fn scalar_sum(x: &[f64], y: f64) -> f64 {
    Simd::active().run(ScalarSum(x, y))
}

/// [`scalar_sum`]'s kernel.
struct ScalarSum<'a>(&'a [f64], f64);

impl Kernel for ScalarSum<'_> {
    type Output = f64;

    #[inline(always)]
    fn run<V: Lanes>(self) -> f64 {
        let ScalarSum(x, y) = self;
        let yv = V::splat(y);
        fold4::<V>(x, |a, v| v.mul_add(yv, a), |s, v| s + v * y)
    }
}

/// Rows of the outer loop per reduction block: enough work per block
/// (`64·n` multiply-adds) that claiming it is free, few enough blocks'
/// partials to keep.
const ROW_BLOCK: NonZeroUsize = NonZeroUsize::new(64).unwrap();

/// Values per column block: 2048 values are 16 KiB, so a column block
/// stays in a 32 KiB L1 while a row block's rows sweep it.
const COL_BLOCK: usize = 2048;

/// `Σ_{i ∈ rows} Σⱼ xᵢ·xⱼ`: the register-blocked micro-kernel.
///
/// Columns run in vector pairs over L1-sized column blocks; rows in groups
/// of four, each broadcast once per group; eight accumulators (4 rows × 2
/// vectors) hide the multiply-add latency. Leftover rows use two
/// accumulators; the columns past the last whole vector are added in scalar
/// at the end. The order is fixed, so the result is too.
struct PairwiseRows<'a>(&'a [f64], Range<usize>);

impl Kernel for PairwiseRows<'_> {
    type Output = f64;

    #[inline(always)]
    fn run<V: Lanes>(self) -> f64 {
        let PairwiseRows(x, rows) = self;
        let l = V::LANES;
        let (vectors, col_tail) = x.split_at(x.len() / l * l);
        let mut acc = [[V::zero(); 2]; 4];
        let mut acc1 = [V::zero(); 2];
        for block in vectors.chunks(COL_BLOCK) {
            // Whole pairs of vectors, then at most one vector.
            let (pairs, odd) = block.split_at(block.len() / (2 * l) * (2 * l));
            let mut i = rows.start;
            while i + 4 <= rows.end {
                let y = [V::splat(x[i]), V::splat(x[i + 1]), V::splat(x[i + 2]), V::splat(x[i + 3])];
                for pair in pairs.chunks_exact(2 * l) {
                    let (a, b) = (V::load(pair), V::load(&pair[l..]));
                    for (acc_r, y_r) in acc.iter_mut().zip(&y) {
                        acc_r[0] = a.mul_add(*y_r, acc_r[0]);
                        acc_r[1] = b.mul_add(*y_r, acc_r[1]);
                    }
                }
                if !odd.is_empty() {
                    let a = V::load(odd);
                    for (acc_r, y_r) in acc.iter_mut().zip(&y) {
                        acc_r[0] = a.mul_add(*y_r, acc_r[0]);
                    }
                }
                i += 4;
            }
            for &xi in &x[i..rows.end] {
                let y = V::splat(xi);
                for pair in pairs.chunks_exact(2 * l) {
                    acc1[0] = V::load(pair).mul_add(y, acc1[0]);
                    acc1[1] = V::load(&pair[l..]).mul_add(y, acc1[1]);
                }
                if !odd.is_empty() {
                    acc1[0] = V::load(odd).mul_add(y, acc1[0]);
                }
            }
        }
        let rows4 =
            ((acc[0][0] + acc[0][1]) + (acc[1][0] + acc[1][1])) + ((acc[2][0] + acc[2][1]) + (acc[3][0] + acc[3][1]));
        let mut sum = (rows4 + (acc1[0] + acc1[1])).hsum();
        for &xi in &x[rows] {
            for &xj in col_tail {
                sum += xi * xj;
            }
        }
        sum
    }
}

/// `Σᵢ Σⱼ xᵢ·xⱼ` in O(n²): the fast kernel, on any executor. Rows are
/// reduced in fixed blocks of 64, so the result is bit-identical for every
/// executor, schedule and thread count.
///
/// ```
/// use nogil::{Pool, kernels::pairwise::{pairwise_sum, pairwise_sum_exact}};
/// let x: Vec<f64> = (0..2000).map(|i| (i % 7) as f64 - 3.0).collect();
/// let pool = Pool::new(2)?;
/// // Small integers: every product and sum is exact, so the forms agree exactly.
/// assert_eq!(pairwise_sum(&pool, &x), pairwise_sum_exact(&pool, &x));
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn pairwise_sum<E: Executor + ?Sized>(exec: &E, x: &[f64]) -> f64 {
    let simd = Simd::active();
    map_reduce(exec, x.len(), ROW_BLOCK, |rows| PairwiseRows(x, rows).run_on(simd), |a, b| a + b).unwrap_or(0.0)
}

/// One task per element, as the seed's joblib cell 32 dispatches
/// `scalar_sum(X, y)` for each `y in X`: task `i` computes
/// [`scalar_sum`]`(x, xᵢ)`; tasks are combined in a fixed tree.
///
/// Run it on an executor with `Dynamic { chunk: 1 }` to pay a claim per
/// element, as joblib pays a dispatch per task.
pub fn pairwise_sum_tasks<E: Executor + ?Sized>(exec: &E, x: &[f64]) -> f64 {
    let simd = Simd::active();
    let task = |r: Range<usize>| ScalarSum(x, x[r.start]).run_on(simd);
    map_reduce(exec, x.len(), NonZeroUsize::MIN, task, |a, b| a + b).unwrap_or(0.0)
}

/// The seed's cell 34: partition `p` is the strided copy `y = x[p::parts]`
/// (as NumPy slicing makes), and its task computes `Σᵢ Σⱼ xᵢ·yⱼ`; partitions
/// are combined in a fixed tree.
///
/// Fails with [`Error::ZeroPartitions`] when `parts == 0`.
pub fn pairwise_sum_strided<E: Executor + ?Sized>(exec: &E, x: &[f64], parts: usize) -> Result<f64, Error> {
    if parts == 0 {
        return Err(Error::ZeroPartitions);
    }
    let (parts, simd) = (parts.min(x.len().max(1)), Simd::active());
    let task = |p: usize| {
        let y: Vec<f64> = x.iter().skip(p).step_by(parts).copied().collect();
        // The seed's n·m products, one SIMD scalar_sum per y value.
        y.iter().map(|&yj| ScalarSum(x, yj).run_on(simd)).fold(0.0, |a, b| a + b)
    };
    Ok(map_reduce(exec, parts, NonZeroUsize::MIN, |r| task(r.start), |a, b| a + b).unwrap_or(0.0))
}

/// `Σᵢ Σⱼ xᵢ·xⱼ` in O(n) through `(Σᵢ xᵢ)²`, with the compensated sum of
/// [`summarize_compensated`]: the way to get the answer (error about
/// `2ε·s²` plus the sum's own bound), where the O(n²) kernels are the seed's
/// benchmark.
pub fn pairwise_sum_exact<E: Executor + ?Sized>(exec: &E, x: &[f64]) -> f64 {
    let s = summarize_compensated(exec, x).sum;
    s * s
}

/// The arithmetic-peak yardstick: each thread runs `fmas_per_thread` lane
/// multiply-adds as 12 independent register-resident chains (more than the
/// FMA latency × units of current cores), no memory traffic. Returns a value
/// that depends on every chain, so nothing is optimised away.
pub fn fma_peak<E: Executor + ?Sized>(exec: &E, fmas_per_thread: usize) -> f64 {
    let (threads, simd) = (exec.threads().max(1), Simd::active());
    let chains = |r: Range<usize>| FmaChains { first: r.start, fmas: fmas_per_thread }.run_on(simd);
    map_reduce(exec, threads, NonZeroUsize::MIN, chains, |a, b| a + b).unwrap_or(0.0)
}

/// [`fma_peak`]'s work on one thread.
struct FmaChains {
    first: usize,
    fmas: usize,
}

impl Kernel for FmaChains {
    type Output = f64;

    #[inline(always)]
    fn run<V: Lanes>(self) -> f64 {
        const CHAINS: usize = 12;
        let mut acc = [V::zero(); CHAINS];
        for (k, a) in acc.iter_mut().enumerate() {
            *a = V::splat(self.first as f64 + k as f64);
        }
        let m = V::splat(std::hint::black_box(0.999_999_9));
        let c = V::splat(std::hint::black_box(1e-7));
        for _ in 0..self.fmas / (CHAINS * V::LANES) {
            for a in &mut acc {
                *a = a.mul_add(m, c);
            }
        }
        let mut sum = 0.0;
        for a in acc {
            sum += a.hsum();
        }
        sum
    }
}

crate::simd::compiled_here!(ScalarSum<'_>, PairwiseRows<'_>, FmaChains);
