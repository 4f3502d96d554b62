//! Deterministic reductions, and disjoint mutable output chunks.
//!
//! # The determinism promise
//!
//! [`map_reduce`] splits `0..n` into blocks of a fixed size, maps each block
//! to a partial result exactly as the caller's `map` does it, and combines the
//! partials in a fixed pairwise tree over block order. Which thread ran which
//! block, in what order, under which schedule or executor, does not enter the
//! computation, so a floating-point result is **bit-identical for any thread
//! count, schedule and executor** (given a deterministic `map` and `reduce`).
//!
//! OpenMP's `reduction` clause, rayon's `reduce` and joblib's gathered sums
//! all combine in an order that depends on timing or thread count, so their
//! float results vary from run to run in the last bits.
//!
//! The tree: partials `p0 … p(m-1)` are combined level by level,
//! `(p0 ⊕ p1), (p2 ⊕ p3), …`, an odd last one carried up unchanged, until one
//! remains. The same tree written as plain loops is in `tests/reduce.rs`.
//!
//! A node is combined as soon as both its halves are done, inside the
//! parallel loop: by the thread that ran them when they lie in one of its
//! ranges, else by the thread that finished the second (see `tree.rs`). So
//! the combining is shared by the threads, and when each thread runs its
//! blocks in ascending order and claims them in ascending order ([`Sequential`],
//! and static without a chunk size, dynamic and guided on [`Pool`] and
//! [`SpawnPerCall`]), at most `(threads + 1)·(3·⌈log₂ m⌉ + 2)` partials are
//! alive at once, instead of all `m` (`tests/reduce.rs` checks this bound).
//! A round-robin static schedule, or an executor that runs blocks in no
//! useful order, may hold up to `⌈m/2⌉` plus three per thread. Beside the
//! partials, a reduction allocates at most 16 small locked shards, where
//! partials wait for another thread's (room for four inline in each), never
//! storage per block, so `10⁹` blocks of one item are fine.
//!
//! [`Sequential`]: super::Sequential
//! [`Pool`]: super::Pool
//! [`SpawnPerCall`]: super::SpawnPerCall

use std::num::NonZeroUsize;
use std::ops::Range;

use super::Executor;
use super::tree::Tree;

/// The block size kernels use unless they have a reason to pick another:
/// 4096 items is 32 KiB of f64, one L1 data cache, and enough work per block
/// that claiming a block costs well under 1% of running it.
pub const DEFAULT_BLOCK: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// Reduces `0..n` deterministically: `map` each block of `block` items (the
/// last may be shorter), and combine block results in a fixed pairwise tree,
/// each pair as soon as both halves exist (so `reduce` runs on the
/// executor's threads too).
///
/// Returns `None` when `n == 0`. The result is bit-identical whatever the
/// executor, thread count or schedule (see the module docs).
///
/// ```
/// use nogil::{Pool, Sequential, map_reduce, DEFAULT_BLOCK};
/// let x: Vec<f64> = (0..100_000).map(|i| (i as f64).sin()).collect();
/// let sum = |e: &dyn nogil::Executor| {
///     map_reduce(e, x.len(), DEFAULT_BLOCK, |r| x[r].iter().sum::<f64>(), |a, b| a + b)
/// };
/// let pool = Pool::new(2)?;
/// assert_eq!(sum(&Sequential).unwrap().to_bits(), sum(&pool).unwrap().to_bits());
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn map_reduce<T, E, M, R>(exec: &E, n: usize, block: NonZeroUsize, map: M, reduce: R) -> Option<T>
where
    T: Send,
    E: Executor + ?Sized,
    M: Fn(Range<usize>) -> T + Sync,
    R: Fn(T, T) -> T + Sync,
{
    let block = block.get();
    let blocks = n.div_ceil(block);
    if blocks == 0 {
        return None;
    }
    let tree = Tree::new(blocks);
    exec.for_each_range(blocks, &|range: Range<usize>| {
        let block_of = |b: usize| map(b * block..n.min(b * block + block));
        tree.leaves(range, block_of, &reduce);
    });
    Some(tree.into_root().expect("Executor contract: every block is visited"))
}

/// Combines `level` in [`map_reduce`]'s fixed pairwise tree: `(p0 ⊕ p1),
/// (p2 ⊕ p3), …`, an odd last one carried up, until one remains, on the
/// calling thread (the same [`Tree`], given all of `level` as one range).
/// `None` when `level` is empty.
pub(crate) fn pairwise_tree<T>(level: Vec<T>, reduce: impl Fn(T, T) -> T) -> Option<T> {
    let tree = Tree::new(level.len());
    let mut values = level.into_iter();
    tree.leaves(0..values.len(), |_| values.next().expect("one value per leaf"), &reduce);
    tree.into_root()
}

/// Calls `body(items, chunk)` in parallel, where `chunk` is the part of `out`
/// that holds `items` when every item owns `stride` consecutive elements.
///
/// This is how a kernel writes a per-row result (`r[i]` in the seed) from
/// many threads without locks: the executor's ranges are disjoint, so the
/// chunks are too. Items that do not fit (`out.len() / stride`) get none.
///
/// ```
/// use nogil::{Pool, for_each_chunk_mut};
/// let pool = Pool::new(2)?;
/// let mut squares = vec![0u64; 1000];
/// for_each_chunk_mut(&pool, &mut squares, 1, |items, chunk| {
///     for (i, slot) in items.zip(chunk) {
///         *slot = (i * i) as u64;
///     }
/// });
/// assert_eq!(squares[999], 998_001);
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn for_each_chunk_mut<T, E, F>(exec: &E, out: &mut [T], stride: usize, body: F)
where
    T: Send,
    E: Executor + ?Sized,
    F: Fn(Range<usize>, &mut [T]) + Sync,
{
    if stride == 0 {
        return;
    }
    let items = out.len() / stride;
    let base = SendPtr(out.as_mut_ptr());
    exec.for_each_range(items, &|range: Range<usize>| {
        let base = &base;
        let (start, end) = (range.start.min(items), range.end.min(items));
        // SAFETY: `start <= end <= items`, so the chunk lies within `out`;
        // the executor hands out disjoint ranges, so no two calls create
        // overlapping `&mut` chunks; `out` is borrowed mutably for the whole
        // call and `for_each_range` returns only after every call ended.
        let chunk = unsafe { std::slice::from_raw_parts_mut(base.0.add(start * stride), (end - start) * stride) };
        body(start..end, chunk);
    });
}

struct SendPtr<T>(*mut T);
// SAFETY: used only to rebuild disjoint sub-slices of a `&mut [T]` with
// `T: Send` (see `for_each_chunk_mut`).
unsafe impl<T: Send> Sync for SendPtr<T> {}
