//! `summarize`: the length and sum of a data set (seed cells 5–11).
//!
//! The seed's `summarize(X)` returns `len(X), sum(X)`, first sequentially,
//! then through `multiprocessing.Pool(4).map` over strided partitions
//! `X[i::4]` (cell 8) and contiguous ones `X[i*n:(i+1)*n]` (cell 10). Here:
//!
//! - [`summarize_raw`]: the mirror, one left-to-right loop over a pointer;
//!   the oracle for the others ([`summarize_mirror`] runs it on a slice);
//! - [`summarize_simd`]: one thread, vectors of the run-time SIMD path
//!   ([`crate::simd`]) with four independent accumulators (the add latency
//!   hidden behind three others);
//! - [`summarize`]: contiguous blocks on any [`Executor`], combined by
//!   [`map_reduce`]'s fixed tree, so the sum is bit-identical for every
//!   executor, schedule and thread count;
//! - [`summarize_strided`]: the seed's `X[i::parts]` partitions, deterministic
//!   too, kept to show what strided access costs;
//! - [`summarize_compensated`]: Neumaier-compensated blocks combined with an
//!   error-free transformation, for when the plain sum's error matters;
//! - [`read_reference`]: not a summary but the yardstick: the fastest plain
//!   read of the array (one contiguous block per thread, no block tree).
//!
//! **Accuracy.** Plain summation of `n` values (every form but the
//! compensated one) has error at most `γ(n-1)·Σ|xᵢ|` with
//! `γ(k) = kε/(1 − kε)` and `ε = 2⁻⁵³`; the blocked forms are usually far
//! better. The compensated form has error at most `2ε|s| + 4nε²·Σ|xᵢ|`
//! (for `nε < 0.1`): the sum is correct to about one rounding unless the
//! data cancel to below `nε·Σ|xᵢ|`. NaN and ±Inf propagate as IEEE addition
//! says (a NaN, or +Inf together with −Inf, gives NaN).

use crate::Error;
use crate::sched::{DEFAULT_BLOCK, Executor, map_reduce};
use crate::simd::{Kernel, Lanes, Simd, fold4};

/// The length and sum of a data set: what the seed's `summarize` returns.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Number of values.
    pub len: usize,
    /// Their sum.
    pub sum: f64,
}

impl Summary {
    /// The mean, or `None` for an empty data set (never 0/0).
    pub fn mean(&self) -> Option<f64> {
        (self.len > 0).then(|| self.sum / self.len as f64)
    }

    /// The summary of two data sets together.
    pub fn merge(self, other: Summary) -> Summary {
        Summary { len: self.len + other.len, sum: self.sum + other.sum }
    }
}

/// Mirror of the seed's `summarize(X)`: `len(X), sum(X)` as one loop.
///
/// # Safety
///
/// - `x` is valid for reads of `n` consecutive `f64` (any alignment of `f64`
///   itself, i.e. 8 bytes; `x` may dangle when `n == 0`).
pub unsafe fn summarize_raw(x: *const f64, n: usize) -> Summary {
    let mut sum = 0.0;
    for i in 0..n {
        // SAFETY: `i < n`, and the caller promises `n` readable values.
        sum += unsafe { *x.add(i) };
    }
    Summary { len: n, sum }
}

/// [`summarize_raw`] over a slice: the seed's loop, safe.
pub fn summarize_mirror(x: &[f64]) -> Summary {
    // SAFETY: a slice is valid for reads of its `len()` values.
    unsafe { summarize_raw(x.as_ptr(), x.len()) }
}

/// The sum of `x` on this thread, with SIMD: four vector accumulators over
/// `4·L`-value steps (`L` the lanes of the [active](crate::simd::active)
/// path), combined `(a0 + a1) + (a2 + a3)`, lanes summed in pairwise order
/// ([`crate::simd::pairwise`] of them), then the tail (fewer than `4·L`
/// values) added left to right.
pub fn sum_simd(x: &[f64]) -> f64 {
    Simd::active().run(Sum(x))
}

/// [`sum_simd`]'s kernel.
struct Sum<'a>(&'a [f64]);

impl Kernel for Sum<'_> {
    type Output = f64;

    #[inline(always)]
    fn run<V: Lanes>(self) -> f64 {
        fold4::<V>(self.0, |a, v| a + v, |s, v| s + v)
    }
}

/// `summarize` on this thread with SIMD ([`sum_simd`]).
pub fn summarize_simd(x: &[f64]) -> Summary {
    Summary { len: x.len(), sum: sum_simd(x) }
}

/// `summarize` in parallel: [`sum_simd`] over blocks of [`DEFAULT_BLOCK`]
/// values, combined in [`map_reduce`]'s fixed tree — bit-identical for
/// every executor, schedule and thread count (on one SIMD path: see
/// [`crate::simd`]).
///
/// ```
/// use nogil::{Pool, Sequential, kernels::summarize::summarize};
/// let x: Vec<f64> = (0..1_000_000).map(|i| (i % 1000) as f64 * 0.001).collect();
/// let pool = Pool::new(2)?;
/// let s = summarize(&pool, &x);
/// assert_eq!(s.len, x.len());
/// assert_eq!(s.sum.to_bits(), summarize(&Sequential, &x).sum.to_bits());
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn summarize<E: Executor + ?Sized>(exec: &E, x: &[f64]) -> Summary {
    let simd = Simd::active();
    let block = |r: std::ops::Range<usize>| Summary { len: r.len(), sum: Sum(&x[r]).run_on(simd) };
    map_reduce(exec, x.len(), DEFAULT_BLOCK, block, Summary::merge).unwrap_or_default()
}

/// The seed's strided partitions (`X[i::parts]`, cell 8): partition `i` sums
/// `x[i], x[i + parts], …`, partitions are combined in a fixed tree.
///
/// Deterministic for a given `parts`, whatever the executor. Each partition
/// reads every `parts`-th value, so every thread streams the whole array:
/// the lesson of the seed's first `Pool.map`.
///
/// Fails with [`Error::ZeroPartitions`] when `parts == 0`.
pub fn summarize_strided<E: Executor + ?Sized>(exec: &E, x: &[f64], parts: usize) -> Result<Summary, Error> {
    if parts == 0 {
        return Err(Error::ZeroPartitions);
    }
    let part = |p: usize| {
        let mut sum = 0.0;
        for &v in x.iter().skip(p).step_by(parts) {
            sum += v;
        }
        Summary { len: x.len().saturating_sub(p).div_ceil(parts), sum }
    };
    let one = std::num::NonZeroUsize::MIN;
    let parts = parts.min(x.len().max(1));
    Ok(map_reduce(exec, parts, one, |r| part(r.start), Summary::merge).unwrap_or_default())
}

/// Neumaier's compensated step: adds `v` to `(s, c)`, keeping the rounding
/// error of the addition in `c`.
#[inline(always)]
fn neumaier(s: &mut f64, c: &mut f64, v: f64) {
    let t = *s + v;
    *c += if s.abs() >= v.abs() { (*s - t) + v } else { (v - t) + *s };
    *s = t;
}

/// A compensated partial sum: the value is `s + c`.
#[derive(Debug, Clone, Copy, Default)]
struct Compensated {
    s: f64,
    c: f64,
}

impl Compensated {
    /// Combines two partials exactly up to the final rounding (TwoSum of the
    /// main parts; the error joins the compensations).
    fn merge(self, o: Compensated) -> Compensated {
        let t = self.s + o.s;
        let bp = t - self.s;
        let e = (self.s - (t - bp)) + (o.s - bp);
        Compensated { s: t, c: self.c + o.c + e }
    }

    fn value(self) -> f64 {
        // With an infinite or NaN running sum the compensation is Inf − Inf:
        // IEEE's answer is the plain sum.
        if self.s.is_finite() { self.s + self.c } else { self.s }
    }
}

/// Neumaier summation of one block, vectorized: each lane keeps its own
/// `(s, c)`; lanes and the tail are folded in with scalar Neumaier steps.
struct CompensatedBlock<'a>(&'a [f64]);

impl Kernel for CompensatedBlock<'_> {
    type Output = Compensated;

    #[inline(always)]
    fn run<V: Lanes>(self) -> Compensated {
        let mut vectors = self.0.chunks_exact(V::LANES);
        let (mut s, mut c) = (V::zero(), V::zero());
        for v in &mut vectors {
            let v = V::load(v);
            let t = s + v;
            let big_s = s.abs().cmp_ge(v.abs());
            c += V::select(big_s, (s - t) + v, (v - t) + s);
            s = t;
        }
        let mut acc = Compensated::default();
        for (&ls, &lc) in s.to_array()[..V::LANES].iter().zip(&c.to_array()[..V::LANES]) {
            neumaier(&mut acc.s, &mut acc.c, ls);
            acc.c += lc;
        }
        for &v in vectors.remainder() {
            neumaier(&mut acc.s, &mut acc.c, v);
        }
        acc
    }
}

/// `summarize` with a compensated sum: error at most `2ε|s| + 4nε²·Σ|xᵢ|`
/// (see the module docs), bit-identical for every executor, schedule and
/// thread count. About as fast as the plain sum when memory-bound.
pub fn summarize_compensated<E: Executor + ?Sized>(exec: &E, x: &[f64]) -> Summary {
    let simd = Simd::active();
    let total = map_reduce(exec, x.len(), DEFAULT_BLOCK, |r| CompensatedBlock(&x[r]).run_on(simd), Compensated::merge);
    Summary { len: x.len(), sum: total.map_or(0.0, Compensated::value) }
}

/// The index of the first NaN or infinity of `x`, or `None` when every
/// value is finite: a vectorized scan in parallel blocks, each block's
/// values only searched one by one once its scan found one.
pub fn first_non_finite<E: Executor + ?Sized>(exec: &E, x: &[f64]) -> Option<usize> {
    let simd = Simd::active();
    let block = |r: std::ops::Range<usize>| {
        let start = r.start;
        let bad = TimesZero(&x[r.clone()]).run_on(simd).is_nan();
        bad.then(|| x[r].iter().position(|v| !v.is_finite()).map(|i| start + i)).flatten()
    };
    map_reduce(exec, x.len(), DEFAULT_BLOCK, block, |a, b| a.or(b)).flatten()
}

/// `Σ v·0`: `v·0` is ±0 for finite `v` and NaN otherwise, so the sum is NaN
/// exactly when `x` holds a NaN or an infinity.
struct TimesZero<'a>(&'a [f64]);

impl Kernel for TimesZero<'_> {
    type Output = f64;

    #[inline(always)]
    fn run<V: Lanes>(self) -> f64 {
        let zero = V::zero();
        fold4::<V>(self.0, |a, v| a + v * zero, |a, v| a + v * 0.0)
    }
}

/// The memory-bandwidth yardstick: the fastest plain read of `x` — one
/// contiguous block per thread, summed with [`sum_simd`], partials added in
/// thread order, no block tree.
///
/// Its result depends on the thread count; it exists so benchmarks can say
/// how close [`summarize`] comes to reading memory as fast as possible.
pub fn read_reference<E: Executor + ?Sized>(exec: &E, x: &[f64]) -> f64 {
    let (threads, simd) = (exec.threads().max(1), Simd::active());
    let one = std::num::NonZeroUsize::MIN;
    let per = x.len().div_ceil(threads).max(1);
    map_reduce(
        exec,
        threads,
        one,
        |r| Sum(&x[(r.start * per).min(x.len())..(r.end * per).min(x.len())]).run_on(simd),
        |a, b| a + b,
    )
    .unwrap_or(0.0)
}

crate::simd::compiled_here!(Sum<'_>, CompensatedBlock<'_>, TimesZero<'_>);
