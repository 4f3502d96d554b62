//! Counters: threads incrementing one shared number (seed cells 2–4).
//!
//! The seed's first lesson: `x = x + 1` from several threads loses updates
//! (cell 2); a lock around it is exact but serial (cell 3); reading outside
//! the lock and writing inside it (cell 4) loses updates again. nogil runs
//! the same experiment five ways ([`CounterKind`]), on any [`Executor`], and
//! reports what a user needs to see the lesson: the final value, the value
//! expected, the updates lost, and the time taken.
//!
//! The racy forms use relaxed atomic loads and stores, so they lose updates
//! exactly as the seed's do, without the undefined behaviour of a data race.
//! [`count_raw`] is the mirror: the seed's loop on one thread ([`count_mirror`]
//! runs it safely).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::sched::{CachePadded, Executor};

/// How the threads update the shared counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterKind {
    /// Read, add one, write back, as two separate operations (a relaxed
    /// atomic load, then a relaxed store): the seed's cell 2. Loses updates.
    Racy,
    /// A mutex around each increment: the seed's `with gil` (cell 3). Exact, serial.
    Locked,
    /// Read outside the lock, write inside it: the seed's cell 4. Still loses updates.
    Split,
    /// One `fetch_add` per increment. Exact; every increment contends for one cache line.
    Atomic,
    /// Each thread counts in its own cache-line-padded slot; the slots are
    /// summed at the end. Exact and uncontended.
    Sharded,
}

impl CounterKind {
    /// All five, in the order the seed's lesson goes.
    pub const ALL: [CounterKind; 5] =
        [CounterKind::Racy, CounterKind::Locked, CounterKind::Split, CounterKind::Atomic, CounterKind::Sharded];

    /// A short lower-case name: `racy`, `locked`, `split`, `atomic`, `sharded`.
    pub fn name(self) -> &'static str {
        match self {
            CounterKind::Racy => "racy",
            CounterKind::Locked => "locked",
            CounterKind::Split => "split",
            CounterKind::Atomic => "atomic",
            CounterKind::Sharded => "sharded",
        }
    }

    /// Whether this kind can lose updates when threads run at once.
    pub fn can_lose_updates(self) -> bool {
        matches!(self, CounterKind::Racy | CounterKind::Split)
    }
}

/// What one counting run shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterReport {
    /// How the counter was updated.
    pub kind: CounterKind,
    /// Threads the executor may use.
    pub threads: usize,
    /// The number of increments performed: the value an exact counter ends at.
    pub expected: u64,
    /// The value the counter ended at.
    pub value: u64,
    /// Updates lost: `expected - value`.
    pub lost: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Mirror of the seed's loop on one thread: `x[0] = x[0] + 1`, `increments` times.
///
/// # Safety
///
/// - `x` is valid for reads and writes of one `u64`, and nothing else
///   accesses it during the call.
pub unsafe fn count_raw(x: *mut u64, increments: u64) {
    for _ in 0..increments {
        // SAFETY: the caller promises `x` is valid and not shared.
        unsafe { *black_box(x) += 1 };
    }
}

/// [`count_raw`] on a counter of its own, starting at 0: the seed's loop,
/// safe, the baseline the threaded kinds are timed against. Returns the
/// final value (`increments`).
pub fn count_mirror(increments: u64) -> u64 {
    let mut x = 0;
    // SAFETY: `x` is a local that nothing else can reach during the call.
    unsafe { count_raw(&mut x, increments) };
    x
}

/// Runs `increments` increments of one shared counter, updated as `kind`
/// says, over the executor's threads, and reports the result.
///
/// ```
/// use nogil::{Pool, kernels::counter::{count, CounterKind}};
/// let pool = Pool::new(2)?;
/// let r = count(CounterKind::Atomic, &pool, 100_000);
/// assert_eq!((r.value, r.lost), (100_000, 0));
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn count<E: Executor + ?Sized>(kind: CounterKind, exec: &E, increments: usize) -> CounterReport {
    let shared = CachePadded(AtomicU64::new(0));
    let lock = Mutex::new(0u64);
    let start = Instant::now();
    exec.for_each_range(increments, &|range| match kind {
        CounterKind::Racy => {
            for _ in range {
                let v = shared.load(Ordering::Relaxed);
                shared.store(v + 1, Ordering::Relaxed);
            }
        }
        CounterKind::Locked => {
            for _ in range {
                *lock.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            }
        }
        CounterKind::Split => {
            for _ in range {
                let y = shared.load(Ordering::Relaxed) + 1;
                let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);
                shared.store(y, Ordering::Relaxed);
            }
        }
        CounterKind::Atomic => {
            for _ in range {
                shared.fetch_add(1, Ordering::Relaxed);
            }
        }
        CounterKind::Sharded => {
            // This thread's own slot, on its own stack and cache lines. The
            // opaque pointer makes every increment a real read-modify-write
            // of memory, as the shared kinds' are, rather than one addition.
            let mut slot = CachePadded(0u64);
            for _ in range {
                *black_box(&mut slot.0) += 1;
            }
            shared.fetch_add(slot.0, Ordering::Relaxed);
        }
    });
    let elapsed = start.elapsed();
    let value = match kind {
        CounterKind::Locked => *lock.lock().unwrap_or_else(PoisonError::into_inner),
        _ => shared.load(Ordering::Relaxed),
    };
    let expected = increments as u64;
    CounterReport { kind, threads: exec.threads(), expected, value, lost: expected.saturating_sub(value), elapsed }
}
