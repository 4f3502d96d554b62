//! The executors other than the pool: sequential, spawn-per-call, and rayon.

use std::any::Any;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Mutex, PoisonError};

use super::Executor;
use super::chunks::{Claim, Plan, Schedule, participate};
use super::pool::check_threads;
use super::sync::AtomicBool;
use crate::Error;

/// Runs the whole loop on the calling thread, as one range: the seed's
/// `n_jobs=1`, with no overhead at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sequential;

// SAFETY: one call with `0..n` (none when `n == 0`), on this thread, before returning.
unsafe impl Executor for Sequential {
    fn threads(&self) -> usize {
        1
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        if n > 0 {
            body(0..n);
        }
    }

    fn label(&self) -> String {
        "sequential".to_owned()
    }
}

/// Starts fresh threads for every loop (`std::thread::scope`) and joins them:
/// the seed's `Pool(4)` created per call, kept to show what that costs.
///
/// Iterations are divided by the same [`Schedule`]s as the pool's.
#[derive(Debug, Clone, Copy)]
pub struct SpawnPerCall {
    threads: usize,
    schedule: Schedule,
}

impl SpawnPerCall {
    /// `threads` threads per call (the caller included), with `schedule`.
    pub fn new(threads: usize, schedule: Schedule) -> Result<Self, Error> {
        Ok(SpawnPerCall { threads: check_threads(threads)?, schedule: schedule.validate()? })
    }
}

// SAFETY: the chunks come from `participate` over a fresh `Claim` (disjoint,
// covering `0..n`); `thread::scope` joins every thread before returning, and
// a caught panic is resumed only after that.
unsafe impl Executor for SpawnPerCall {
    fn threads(&self) -> usize {
        self.threads
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        let plan = Plan::new(n, self.threads, self.schedule);
        match plan.team {
            0 => return,
            1 => return body(0..n),
            _ => {}
        }
        let claim = Claim::default();
        let abort = AtomicBool::new(false);
        let first_panic: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);
        let run = |tid: usize| {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| participate(&plan, &claim, tid, &abort, body))) {
                abort.store(true, super::sync::Ordering::Relaxed);
                first_panic.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(payload);
            }
        };
        std::thread::scope(|s| {
            for tid in 1..plan.team {
                let run = &run;
                // If the OS refuses a thread, its share is run here instead.
                if std::thread::Builder::new().spawn_scoped(s, move || run(tid)).is_err() {
                    run(tid);
                }
            }
            run(0);
        });
        if let Some(payload) = first_panic.into_inner().unwrap_or_else(PoisonError::into_inner) {
            resume_unwind(payload);
        }
    }

    fn label(&self) -> String {
        format!("spawn-per-call({}, {})", self.threads, self.schedule)
    }
}

/// rayon's work-stealing pool: the seed's reusable joblib `Parallel`.
///
/// The range is split adaptively by rayon (`rayon::iter::split`) down to
/// pieces of `min_len` iterations.
#[derive(Debug)]
pub struct Rayon {
    pool: Option<rayon::ThreadPool>,
    min_len: usize,
}

impl Rayon {
    /// rayon's global pool (sized by `RAYON_NUM_THREADS` or the CPU count).
    pub fn global() -> Self {
        Rayon { pool: None, min_len: 1 }
    }

    /// A dedicated rayon pool of `threads` threads.
    pub fn new(threads: usize) -> Result<Self, Error> {
        let threads = check_threads(threads)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("nogil-rayon-{i}"))
            .build()
            .map_err(|e| Error::Rayon { message: e.to_string() })?;
        Ok(Rayon { pool: Some(pool), min_len: 1 })
    }

    /// Do not split ranges below `min_len` iterations (0 is taken as 1).
    pub fn with_min_len(mut self, min_len: usize) -> Self {
        self.min_len = min_len.max(1);
        self
    }
}

// SAFETY: `rayon::iter::split` hands each piece to exactly one `for_each`
// call; pieces come from halving `0..n`, so they are disjoint and cover it;
// rayon returns only after all pieces ran and resumes a panic's payload.
unsafe impl Executor for Rayon {
    fn threads(&self) -> usize {
        match &self.pool {
            Some(p) => p.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        use rayon::iter::ParallelIterator;
        if n == 0 {
            return;
        }
        let min_len = self.min_len;
        let run = || {
            rayon::iter::split(0..n, |r: Range<usize>| {
                // `min_len >= 1`, so a piece of one item is never split.
                if r.len() <= min_len {
                    (r, None)
                } else {
                    let mid = r.start + r.len() / 2;
                    (r.start..mid, Some(mid..r.end))
                }
            })
            .for_each(body)
        };
        match &self.pool {
            Some(p) => p.install(run),
            None => run(),
        }
    }

    fn label(&self) -> String {
        format!("rayon({})", self.threads())
    }
}
