//! How a worker learns there is work, and how the caller learns it is done.
//!
//! Two small protocols, both "spin for a while, then park", both free of lost
//! wake-ups by the same argument:
//!
//! **Wake (`WakeSlot`)**, one per worker, on its own cache-line pair. The
//! dispatcher posts a new generation number; the worker waits for the number
//! to differ from the last one it ran.
//!
//! ```text
//! dispatcher                          worker
//! write job (plain)                   spin: gen.load(Acquire) != seen ?
//! gen.store(g, SeqCst)        ─┐      sleeping.store(true, SeqCst)
//! if sleeping.load(SeqCst)     │      if gen.load(SeqCst) != seen: run
//!     unpark(worker)           └──▶   park()
//! ```
//!
//! The store of `gen` and the load of `sleeping` on one side, and the store of
//! `sleeping` and the load of `gen` on the other, are all `SeqCst`, so in the
//! single total order at least one side sees the other's store: either the
//! worker sees the new generation and does not park, or the dispatcher sees
//! `sleeping` and unparks it. `park` keeps a token, so an unpark that lands
//! before the park is not lost either. The `Release` half of the `SeqCst`
//! store publishes the job written before it.
//!
//! **Done (`DoneLatch`)**: a count of workers still running the region. Each
//! worker's `arrive` is a `SeqCst` decrement (its `Release` half publishes the
//! worker's writes to the caller); the caller waits for zero with the same
//! spin-then-`sleeping`-flag-then-park scheme, the last arriver unparking it
//! if the flag is set. The caller's handle sits in a mutex that only that
//! slow path touches. An arriver from an earlier region can at worst unpark a
//! later waiter spuriously, which the waiter's loop absorbs.

use std::sync::PoisonError;
use std::time::Duration;

use super::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, Thread, current, park, spin_until};

/// A worker's mailbox: the generation of the last region posted to it.
#[derive(Debug, Default)]
pub(crate) struct WakeSlot {
    generation: AtomicU64,
    sleeping: AtomicBool,
}

impl WakeSlot {
    /// Worker side: returns the first generation different from `seen`,
    /// spinning for `spin` before parking.
    pub(crate) fn wait(&self, seen: u64, spin: Duration) -> u64 {
        let changed = || self.generation.load(Ordering::Acquire) != seen;
        if !spin_until(spin, changed) {
            loop {
                self.sleeping.store(true, Ordering::SeqCst);
                if self.generation.load(Ordering::SeqCst) != seen {
                    self.sleeping.store(false, Ordering::Relaxed);
                    break;
                }
                park();
                self.sleeping.store(false, Ordering::Relaxed);
                if changed() {
                    break;
                }
            }
        }
        self.generation.load(Ordering::Acquire)
    }

    /// Dispatcher side: posts generation `generation` and wakes `worker` if it sleeps.
    pub(crate) fn post(&self, generation: u64, worker: &Thread) {
        self.generation.store(generation, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            worker.unpark();
        }
    }
}

/// The count of workers still inside a region, which the caller waits on.
#[derive(Debug, Default)]
pub(crate) struct DoneLatch {
    remaining: AtomicUsize,
    sleeping: AtomicBool,
    waiter: Mutex<Option<Thread>>,
}

impl DoneLatch {
    /// Expects `count` arrivals. Must be followed by a `Release` publication
    /// (the wake protocol's `post`) before any worker can arrive.
    pub(crate) fn reset(&self, count: usize) {
        self.remaining.store(count, Ordering::Relaxed);
    }

    /// Worker side: one arrival. After this the worker must not touch the
    /// region's data: the caller may return and start another.
    pub(crate) fn arrive(&self) {
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 && self.sleeping.load(Ordering::SeqCst) {
            let waiter = self.waiter.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(thread) = waiter.as_ref() {
                thread.unpark();
            }
        }
    }

    /// Caller side: returns once every expected arrival happened, spinning
    /// for `spin` before parking. Everything the arrivers wrote before
    /// arriving is visible afterwards.
    pub(crate) fn wait(&self, spin: Duration) {
        let done = || self.remaining.load(Ordering::Acquire) == 0;
        if spin_until(spin, done) {
            return;
        }
        *self.waiter.lock().unwrap_or_else(PoisonError::into_inner) = Some(current());
        loop {
            self.sleeping.store(true, Ordering::SeqCst);
            if self.remaining.load(Ordering::SeqCst) == 0 {
                break;
            }
            park();
        }
        self.sleeping.store(false, Ordering::Relaxed);
        // Pairs with the arrivers' decrements, as the spin path's Acquire does.
        let _ = done();
    }

    /// Whether every expected arrival happened (an `Acquire` read).
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn parked_worker_is_woken_and_caller_is_released() {
        let slot = Arc::new(WakeSlot::default());
        let latch = Arc::new(DoneLatch::default());
        let rounds = 200;
        let worker = {
            let (slot, latch) = (slot.clone(), latch.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                for _ in 0..rounds {
                    // Zero spin: always take the park path.
                    seen = slot.wait(seen, Duration::ZERO);
                    latch.arrive();
                }
                seen
            })
        };
        for g in 1..=rounds {
            latch.reset(1);
            slot.post(g, worker.thread());
            latch.wait(if g % 2 == 0 { Duration::ZERO } else { Duration::from_micros(50) });
            assert!(latch.is_done());
        }
        assert_eq!(worker.join().unwrap(), rounds);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    struct Shared {
        slot: WakeSlot,
        latch: DoneLatch,
        job: UnsafeCell<usize>,
        result: UnsafeCell<usize>,
    }
    // SAFETY: `job` is written only before `post` and read only after `wait`
    // returns a new generation; `result` is written only before `arrive` and
    // read only after `wait` on the latch. loom checks exactly these claims.
    unsafe impl Sync for Shared {}

    /// Two regions and a shutdown, through the real wake and done protocols:
    /// loom explores every interleaving, reports a data race if the job or
    /// result is not properly published, and a deadlock if a wake-up is lost.
    #[test]
    fn dispatch_park_and_join_have_no_lost_wakeups_or_races() {
        loom::model(|| {
            let shared = Arc::new(Shared {
                slot: WakeSlot::default(),
                latch: DoneLatch::default(),
                job: UnsafeCell::new(0),
                result: UnsafeCell::new(0),
            });
            let worker = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let mut seen = 0;
                    loop {
                        seen = shared.slot.wait(seen, Duration::ZERO);
                        // SAFETY: published by `post` (see the type's comment).
                        let job = shared.job.with(|p| unsafe { *p });
                        if job == usize::MAX {
                            return;
                        }
                        // SAFETY: the caller reads `result` only after the latch.
                        shared.result.with_mut(|p| unsafe { *p = job * 10 });
                        shared.latch.arrive();
                    }
                })
            };
            let handle = worker.thread().clone();
            for g in 1..=2u64 {
                shared.latch.reset(1);
                // SAFETY: no worker reads `job` until the `post` below.
                shared.job.with_mut(|p| unsafe { *p = g as usize });
                shared.slot.post(g, &handle);
                shared.latch.wait(Duration::ZERO);
                // SAFETY: the worker wrote `result` before arriving.
                let r = shared.result.with(|p| unsafe { *p });
                assert_eq!(r, g as usize * 10);
            }
            // SAFETY: the worker finished region 2 (latch), and reads `job` only after `post`.
            shared.job.with_mut(|p| unsafe { *p = usize::MAX });
            shared.slot.post(3, &handle);
            worker.join().unwrap();
        });
    }
}
