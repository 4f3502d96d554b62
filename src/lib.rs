//! # nogil
//!
//! SIMD, `unsafe` and multithreaded kernels on a persistent, core-pinned
//! thread pool with OpenMP-style schedules and deterministic reductions: the
//! notebook *"escaping the GIL"* (racy, locked and atomic counters; a parallel
//! `summarize`; an O(n²) `pairwise_sum`; a Gaussian-mixture EM whose E-step is
//! `prange(schedule='guided')` over raw pointers) done properly in Rust.
//!
//! ## The seed's cells, mapped
//!
//! | seed | nogil |
//! |---|---|
//! | cells 2–4: racy, `with gil`, split read/locked write counters | [`kernels::counter::count`] with [`CounterKind`](kernels::counter::CounterKind) `Racy`, `Locked`, `Split` (plus `Atomic`, `Sharded`) |
//! | cells 5–11: `summarize(X)`, `Pool.map` over `X[i::4]` and contiguous parts | [`kernels::summarize`]: `summarize_raw` (mirror), `summarize_simd`, `summarize`, `summarize_strided`, `summarize_compensated` |
//! | cells 12–14, 20–36: `scalar_sum`, `pairwise_sum`, `prange`, joblib tasks, strided partitions | [`kernels::pairwise`]: `scalar_sum_raw`/`pairwise_sum_raw`/`block_sum_raw` (mirrors), `pairwise_sum`, `pairwise_sum_tasks`, `pairwise_sum_strided`, `pairwise_sum_exact` |
//! | cells 15–19, 37–52: Gaussian-mixture EM, `log_probability(X, mu, inv_cov, log_det, d)`, data- and model-parallel E-steps | [`kernels::gauss`]: `log_probability_raw`/`expectation_raw` (mirrors), `log_densities`; [`gmm`]: `GaussianMixture` (scikit-learn's parameters), `GaussianMixtureModel`, `SufficientStats`, `Parallelism::{Data, Model}` |
//!
//! Each kernel exists as a raw-pointer mirror of the seed's loop (`*_raw`, an
//! `unsafe fn` with a `# Safety` contract, the oracle) and as a safe, SIMD,
//! executor-parallel form that tests hold to the mirror. The experiments'
//! seeded data (one Box–Muller normal, the notebook's data sets) are in
//! [`data`], and the seed's whole EM as the notebook wrote it, the baseline,
//! is [`kernels::seed_em`]; the `nogil` program, the benches and the tests
//! share both.
//!
//! ## Executors: the seed's backends as one trait
//!
//! Every parallel kernel takes an [`Executor`] and hands it a closure over
//! index ranges, so one kernel runs under every strategy the seed tried and a
//! benchmark compares like with like:
//!
//! | seed | nogil |
//! |---|---|
//! | plain loop, `n_jobs=1` | [`Sequential`] |
//! | `multiprocessing.Pool(4)` made per call | [`SpawnPerCall`] |
//! | joblib `Parallel(n_jobs=4, backend='threading')`, reused | [`Rayon`] |
//! | `prange(n, schedule='guided', num_threads=4)` | [`Pool`] with [`Schedule::Guided`] |
//!
//! [`Pool`] is the one to use: the calling thread works as OpenMP's master
//! does; the other workers persist, each pinned to its own allowed core, and
//! between regions spin for [`DEFAULT_SPIN`] and then park, so an iterative
//! algorithm pays well under a microsecond per region and an idle pool burns
//! no CPU. A panic in a region is resumed on the caller with its payload and
//! the pool stays usable; a region started inside a region runs inline.
//! The thread count is the argument, else `NOGIL_NUM_THREADS`, else the number
//! of CPUs the process may use.
//!
//! ```
//! use nogil::{Pool, Schedule};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! let pool = Pool::new(2)?;
//! let guided = pool.with_schedule(Schedule::Guided { min_chunk: 1 })?;
//! let visited = AtomicUsize::new(0);
//! guided.run(1_000, |range| {
//!     visited.fetch_add(range.len(), Ordering::Relaxed);
//! });
//! assert_eq!(visited.into_inner(), 1_000);
//! # Ok::<(), nogil::Error>(())
//! ```
//!
//! ## The Gaussian mixture
//!
//! [`gmm::GaussianMixture`] fits a mixture by EM with one pass over the data
//! per iteration: log-densities from each component's precision Cholesky
//! factor, a log-sum-exp into responsibilities, and shifted sufficient
//! statistics, block by block, merged in a fixed tree. Parameters are
//! bit-identical for any executor, schedule and thread count.
//!
//! ```
//! use nogil::gmm::GaussianMixture;
//! let x: Vec<f64> = (0..400).map(|i| (i % 2) as f64 * 20.0 + (i as f64 * 0.7).sin()).collect();
//! let model = GaussianMixture::new(2).seed(1).fit_with(&nogil::Sequential, &x, 1)?;
//! let mut means = model.means().to_vec();
//! means.sort_by(f64::total_cmp);
//! assert!(means[0].abs() < 0.1 && (means[1] - 20.0).abs() < 0.1);
//! # Ok::<(), nogil::Error>(())
//! ```
//!
//! ## Determinism
//!
//! [`map_reduce`] reduces fixed-size blocks and combines them in a fixed
//! tree, so a floating-point reduction is bit-identical for any thread count,
//! schedule and executor. OpenMP, rayon and joblib do not promise this. The
//! tree's pairs are combined as soon as both halves exist, so few block
//! results are alive at once.
//!
//! ## SIMD: chosen at run time
//!
//! Every kernel is compiled for AVX-512 (8 f64 lanes), AVX2 with FMA (4)
//! and a portable form (4 lanes of `wide`) into one binary, and the best
//! path the CPU has is chosen on first use ([`simd`]), as memchr does: a
//! crate that depends on nogil gets full speed with cargo's default flags,
//! no `-C target-cpu=native` needed. `NOGIL_SIMD=avx512|avx2|portable` or
//! [`simd::force`] picks a lower path (for tests, Miri and valgrind);
//! [`build_info`] says which path runs and which were compiled in. On one
//! path results are bit-identical for any thread count; which results are
//! bit-identical across paths is in [`simd`]'s docs.
//!
//! ## Errors
//!
//! Every fallible call returns [`Error`]; no argument a caller passes makes
//! nogil panic, hang or misbehave.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(loom))]
pub mod data;
mod error;
#[cfg(not(loom))]
pub mod gmm;
#[cfg(not(loom))]
pub mod kernels;
pub mod sched;
pub mod simd;

pub use error::Error;
#[cfg(not(loom))]
pub use sched::{
    DEFAULT_BLOCK, DEFAULT_SPIN, OnPool, Pin, Pool, PoolBuilder, Rayon, Sequential, SpawnPerCall, default_threads,
    for_each_chunk_mut, map_reduce,
};
pub use sched::{Executor, Schedule};
pub use simd::{BuildInfo, build_info};

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
