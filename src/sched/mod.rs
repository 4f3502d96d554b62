//! The executor: everything about threads lives here.
//!
//! A parallel kernel takes an [`Executor`] and hands it a closure over index
//! ranges; it never spawns or sees a thread, and the executor never knows
//! what the kernel computes. The seed's backends map onto executors:
//!
//! | seed | executor |
//! |---|---|
//! | plain loop, `n_jobs=1` | [`Sequential`]: no overhead at all |
//! | `Pool(4)` created per call | [`SpawnPerCall`]: `std::thread::scope` every call, kept to show the cost |
//! | joblib `Parallel(...)` reused | [`Rayon`]: rayon's work-stealing pool |
//! | `prange(schedule=...)` | [`Pool`] (or [`Pool::with_schedule`]) with a [`Schedule`] |
//!
//! Module map: `chunks` (pure schedule arithmetic and lock-free claiming),
//! `signal` (the wake and done handshakes, with their memory orderings),
//! `pool` (workers, pinning, dispatch, panics), `executors` (the other
//! three), `reduce` (deterministic block reductions), `sync` (the primitives,
//! switched to loom's under `--cfg loom`).

pub mod chunks;
#[cfg(not(loom))]
mod executors;
#[cfg(not(loom))]
mod pool;
#[cfg(not(loom))]
mod reduce;
mod signal;
mod sync;
mod tree;

pub use chunks::Schedule;
#[cfg(not(loom))]
pub use executors::{Rayon, Sequential, SpawnPerCall};
#[cfg(not(loom))]
pub use pool::{
    DEFAULT_SPIN, MAX_THREADS, NUM_THREADS_ENV, OnPool, Pin, Pool, PoolBuilder, Unpinned, allowed_core_ids,
    default_threads, pin_current_thread,
};
#[cfg(not(loom))]
pub(crate) use reduce::pairwise_tree;
#[cfg(not(loom))]
pub use reduce::{DEFAULT_BLOCK, for_each_chunk_mut, map_reduce};
pub use sync::CachePadded;

use std::ops::Range;

/// A strategy for running a loop over `0..n` on some threads.
///
/// # Safety
///
/// Kernels write their outputs through the ranges an executor hands out (a
/// row's result goes to that row's slot, from whichever thread got the row),
/// so an implementation must promise, for every call of
/// [`for_each_range`](Executor::for_each_range):
///
/// - every range passed to `body` lies within `0..n`;
/// - the ranges are pairwise disjoint and together cover `0..n` exactly once
///   (unless `body` panicked, after which uncalled ranges may be skipped);
/// - every call of `body` has returned, and its effects are visible to the
///   calling thread, before `for_each_range` returns or unwinds.
pub unsafe trait Executor: Sync {
    /// How many threads may run `body` at once.
    fn threads(&self) -> usize;

    /// Calls `body` on disjoint ranges that together cover `0..n`.
    ///
    /// A panic in `body` is resumed on the caller with its original payload,
    /// after every other call has returned.
    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync));

    /// A short description for reports, e.g. `pool(2, guided,1)`.
    fn label(&self) -> String;
}

// SAFETY: forwards to `E`, which keeps the promises.
unsafe impl<E: Executor + ?Sized> Executor for &E {
    fn threads(&self) -> usize {
        (**self).threads()
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        (**self).for_each_range(n, body)
    }

    fn label(&self) -> String {
        (**self).label()
    }
}

// SAFETY: forwards to `E`, which keeps the promises.
unsafe impl<E: Executor + ?Sized> Executor for Box<E> {
    fn threads(&self) -> usize {
        (**self).threads()
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        (**self).for_each_range(n, body)
    }

    fn label(&self) -> String {
        (**self).label()
    }
}
