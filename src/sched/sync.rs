//! The synchronisation primitives `sched` is written against.
//!
//! Under `--cfg loom` the atomics, mutex, thread handles and parking
//! switch to loom's model-checked versions, so the same chunk-claiming,
//! wake/park and tree-combining code that runs in production is explored by
//! `loom` (see `chunks.rs`, `signal.rs` and `tree.rs`). Nothing outside
//! `sched` uses this module.

#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread, current, park};

#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::thread::{Thread, current, park};

use std::ops::{Deref, DerefMut};

/// Hint to the CPU that this thread is busy-waiting (`pause` on x86).
///
/// Under loom, a spin must yield to the model's scheduler instead, or the
/// model would explore an unbounded loop.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Aligns and pads a value to its own pair of cache lines.
///
/// x86_64 cache lines are 64 bytes, but the L2 spatial prefetcher pulls lines
/// in adjacent pairs, so two hot atomics 64 bytes apart still ping-pong
/// between cores; 128 bytes keeps them apart (crossbeam and the Intel
/// optimisation manual give the same reason). Other targets use 64 bytes.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), repr(align(64)))]
#[derive(Debug, Default)]
pub struct CachePadded<T>(pub T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Busy-waits for `condition` for at most `spin` (checked every 64 hints, so
/// the clock is read rarely), then returns whether it became true.
///
/// Under loom the window is a handful of model yields.
#[inline]
pub(crate) fn spin_until(spin: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    if condition() {
        return true;
    }
    #[cfg(loom)]
    {
        let _ = spin;
        for _ in 0..2 {
            spin_hint();
            if condition() {
                return true;
            }
        }
        false
    }
    #[cfg(not(loom))]
    {
        if spin.is_zero() {
            return false;
        }
        let start = std::time::Instant::now();
        loop {
            for _ in 0..64 {
                spin_hint();
                if condition() {
                    return true;
                }
            }
            if start.elapsed() >= spin {
                return condition();
            }
        }
    }
}
