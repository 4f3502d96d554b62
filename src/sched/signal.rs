//! How a worker learns there is work, and how the caller learns it is done.
//!
//! Two small protocols, both "spin for a while, then park", both free of lost
//! wake-ups for the same reason: each keeps its whole state in **one atomic
//! word** whose bit 0 says "a thread is (about to be) parked on this", so the
//! decision to sleep and the decision to wake are read-modify-writes of the
//! same location, totally ordered by its modification order. No `SeqCst`
//! store-then-load pairs (Dekker's pattern) are needed: acquire/release is
//! enough, which is also exactly what loom can check.
//!
//! **Wake (`WakeSlot`)**, one per worker, on its own cache-line pair:
//! `state = generation << 1 | SLEEPING`. The dispatcher posts a new
//! generation; the worker waits for the generation to differ from the last
//! one it ran.
//!
//! ```text
//! dispatcher                              worker
//! write job (plain)                       spin: gen(state) != seen ?  (Acquire)
//! prev = state.swap(g << 1, AcqRel) ──┐   CAS state: (seen << 1) -> (seen << 1 | 1)
//! if prev & SLEEPING: unpark(worker)  └─▶   ok: park()     failed: re-read, maybe run
//! ```
//!
//! If the worker's CAS comes first, the dispatcher's swap returns the
//! SLEEPING bit and it unparks; if the swap comes first, the CAS fails (the
//! generation changed) and the worker runs without parking. `park` keeps a
//! token, so an unpark landing before the park is not lost. The swap's
//! release half publishes the job written before it.
//!
//! **Done (`DoneLatch`)**: `state = remaining << 1 | SLEEPING`. Each worker's
//! `arrive` is one `fetch_sub(2, AcqRel)` (its release half publishes the
//! worker's writes); the one that takes `remaining` to zero unparks the caller
//! if the SLEEPING bit was set. The caller spins for zero, then sets SLEEPING
//! with a CAS that fails if an arrival happened meanwhile. The caller's
//! handle sits in a mutex that only this slow path touches; an arriver from
//! an earlier region can at worst unpark a later waiter spuriously, which the
//! waiter's loop absorbs.

use std::sync::PoisonError;
use std::time::Duration;

use super::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, Thread, current, park, spin_until};

const SLEEPING: u64 = 1;

/// A worker's mailbox: the generation of the last region posted to it.
///
/// Generations are compared for inequality only, modulo 2^63.
#[derive(Debug, Default)]
pub(crate) struct WakeSlot {
    state: AtomicU64,
}

impl WakeSlot {
    /// Worker side: returns the first generation different from `seen`,
    /// spinning for `spin` before parking.
    pub(crate) fn wait(&self, seen: u64, spin: Duration) -> u64 {
        let seen = seen & (u64::MAX >> 1);
        spin_until(spin, || self.state.load(Ordering::Acquire) >> 1 != seen);
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s >> 1 != seen {
                return s >> 1;
            }
            // Announce the sleep; fails if a post changed the state meanwhile.
            if self.state.compare_exchange(s, s | SLEEPING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                park();
            }
        }
    }

    /// Dispatcher side: posts `generation` and wakes `worker` if it sleeps.
    pub(crate) fn post(&self, generation: u64, worker: &Thread) {
        let prev = self.state.swap(generation << 1, Ordering::AcqRel);
        if prev & SLEEPING != 0 {
            worker.unpark();
        }
    }
}

/// The count of workers still inside a region, which the caller waits on.
#[derive(Debug, Default)]
pub(crate) struct DoneLatch {
    state: AtomicUsize,
    waiter: Mutex<Option<Thread>>,
}

impl DoneLatch {
    /// Expects `count` arrivals. Must be followed by a `Release` publication
    /// (the wake protocol's `post`) before any worker can arrive.
    pub(crate) fn reset(&self, count: usize) {
        self.state.store(count << 1, Ordering::Relaxed);
    }

    /// Worker side: one arrival. After this the worker must not touch the
    /// region's data: the caller may return and start another.
    pub(crate) fn arrive(&self) {
        let prev = self.state.fetch_sub(2, Ordering::AcqRel);
        if prev >> 1 == 1 && prev & 1 != 0 {
            let waiter = self.waiter.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(thread) = waiter.as_ref() {
                thread.unpark();
            }
        }
    }

    /// Caller side: returns once every expected arrival happened, spinning
    /// for `spin` before parking. Everything the arrivers wrote before
    /// arriving is visible afterwards (Acquire on the final read).
    pub(crate) fn wait(&self, spin: Duration) {
        if spin_until(spin, || self.state.load(Ordering::Acquire) >> 1 == 0) {
            return;
        }
        *self.waiter.lock().unwrap_or_else(PoisonError::into_inner) = Some(current());
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s >> 1 == 0 {
                return;
            }
            if self.state.compare_exchange(s, s | 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                park();
            }
        }
    }

    /// Whether every expected arrival happened (an `Acquire` read).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) >> 1 == 0
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

    /// A worker whose share panics, as the pool handles it: the worker stores
    /// the payload (first one wins) and raises the abort flag, then still
    /// arrives at the done latch; the caller, once the latch opens, finds
    /// the payload, and the next region on the same worker runs normally.
    #[test]
    fn a_panicking_worker_still_arrives_and_its_payload_reaches_the_caller() {
        use loom::sync::Mutex;
        use loom::sync::atomic::AtomicBool;
        loom::model(|| {
            let shared = Arc::new((
                Shared {
                    slot: WakeSlot::default(),
                    latch: DoneLatch::default(),
                    job: UnsafeCell::new(0),
                    result: UnsafeCell::new(0),
                },
                Mutex::new(None::<&'static str>),
                AtomicBool::new(false),
            ));
            let worker = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (s, panic_slot, abort) = &*shared;
                    let mut seen = 0;
                    loop {
                        seen = s.slot.wait(seen, Duration::ZERO);
                        // SAFETY: published by `post`.
                        let job = s.job.with(|p| unsafe { *p });
                        match job {
                            usize::MAX => return,
                            1 => {
                                // The pool's catch_unwind arm, for a panicking share.
                                abort.store(true, Ordering::Relaxed);
                                panic_slot.lock().unwrap().get_or_insert("boom");
                            }
                            // SAFETY: the caller reads `result` only after the latch.
                            j => s.result.with_mut(|p| unsafe { *p = j * 10 }),
                        }
                        s.latch.arrive();
                    }
                })
            };
            let (s, panic_slot, abort) = &*shared;
            let handle = worker.thread().clone();
            // Region 1: the worker's share panics.
            s.latch.reset(1);
            // SAFETY: no worker reads `job` until the `post` below.
            s.job.with_mut(|p| unsafe { *p = 1 });
            s.slot.post(1, &handle);
            s.latch.wait(Duration::ZERO);
            assert!(abort.load(Ordering::Relaxed), "the abort flag is visible after the latch");
            assert_eq!(panic_slot.lock().unwrap().take(), Some("boom"));
            abort.store(false, Ordering::Relaxed);
            // Region 2: the same worker, a normal share.
            s.latch.reset(1);
            // SAFETY: the worker arrived for region 1 and waits for a new generation.
            s.job.with_mut(|p| unsafe { *p = 2 });
            s.slot.post(2, &handle);
            s.latch.wait(Duration::ZERO);
            // SAFETY: the worker wrote `result` before arriving.
            assert_eq!(s.result.with(|p| unsafe { *p }), 20);
            // SAFETY: as above, region 2 is over.
            s.job.with_mut(|p| unsafe { *p = usize::MAX });
            s.slot.post(3, &handle);
            worker.join().unwrap();
        });
    }
}
