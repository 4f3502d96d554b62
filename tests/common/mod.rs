//! Shared test fixtures: every executor and schedule, for a thread count;
//! plain linear algebra for the references (`linalg`).
#![allow(dead_code)]

pub mod linalg;

use nogil::{Executor, Pool, Rayon, Schedule, Sequential, SpawnPerCall};

/// The thread counts to test; 16 oversubscribes a 2-core machine. Miri runs
/// about a thousand times slower, so it gets the smallest interesting set.
#[cfg(not(miri))]
pub const THREADS: &[usize] = &[1, 2, 3, 4, 7, 16];
/// The thread counts to test under Miri.
#[cfg(miri)]
pub const THREADS: &[usize] = &[1, 3];

/// Chunk parameters for schedule sweeps: `normal` natively, one under Miri.
pub fn chunk_params(normal: &[usize]) -> &[usize] {
    if cfg!(miri) { &normal[..1] } else { normal }
}

/// `normal` natively, `miri` under Miri.
pub const fn size(normal: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { normal }
}

/// Static blocks, and static/dynamic/guided with each chunk parameter.
pub fn schedules(chunks: &[usize]) -> Vec<Schedule> {
    let mut v = vec![Schedule::Static { chunk: None }];
    for &c in chunks {
        v.push(Schedule::Static { chunk: Some(c) });
        v.push(Schedule::Dynamic { chunk: c });
        v.push(Schedule::Guided { min_chunk: c });
    }
    v
}

/// A pinned pool, an unpinned pool that never spins (always parks), and a
/// rayon pool, all with `threads` threads.
pub struct Fixture {
    pub threads: usize,
    pub pool: Pool,
    pub parking_pool: Pool,
    pub rayon: Option<Rayon>,
}

/// Whether this run leaves rayon out (see [`Fixture::executors`]).
fn skip_rayon() -> bool {
    cfg!(miri) && std::env::var_os("NOGIL_MIRI_SKIP_RAYON").is_some()
}

/// Whether this run checks rayon alone (see [`Fixture::executors`]).
fn only_rayon() -> bool {
    cfg!(miri) && std::env::var_os("NOGIL_MIRI_ONLY_RAYON").is_some()
}

impl Fixture {
    pub fn new(threads: usize) -> Fixture {
        Fixture {
            threads,
            pool: Pool::new(threads).unwrap(),
            parking_pool: Pool::builder().threads(threads).pin(false).spin(std::time::Duration::ZERO).build().unwrap(),
            // Not even built when skipped: idle rayon workers already run
            // crossbeam-epoch code.
            rayon: (!skip_rayon()).then(|| Rayon::new(threads).unwrap()),
        }
    }

    /// Every executor: sequential, rayon, and for each schedule a
    /// spawn-per-call executor and both pools.
    ///
    /// Under Miri with `NOGIL_MIRI_SKIP_RAYON` set, rayon is left out:
    /// crossbeam-epoch (under rayon) breaks Stacked Borrows' rules though not
    /// Tree Borrows' (crossbeam runs its own Miri CI with Tree Borrows), so
    /// CI checks everything but rayon under Stacked Borrows, and rayon
    /// alone (`NOGIL_MIRI_ONLY_RAYON`: sequential and rayon) under Tree
    /// Borrows.
    pub fn executors(&self, schedules: &[Schedule]) -> Vec<Box<dyn Executor + '_>> {
        let mut v: Vec<Box<dyn Executor + '_>> = vec![Box::new(Sequential)];
        if let Some(rayon) = &self.rayon {
            v.push(Box::new(rayon));
        }
        if only_rayon() {
            return v;
        }
        for &s in schedules {
            v.push(Box::new(SpawnPerCall::new(self.threads, s).unwrap()));
            v.push(Box::new(self.pool.with_schedule(s).unwrap()));
            v.push(Box::new(self.parking_pool.with_schedule(s).unwrap()));
        }
        v
    }
}

/// Runs `f` once on every SIMD path this CPU runs, with every nogil call of
/// this thread (and the threads it uses) on that path: the kernel/mirror
/// agreement and determinism tests run so, a targeted subset, not the whole
/// suite once per path. The path is printed first, so a failure names it.
pub fn on_every_path(f: impl Fn()) {
    for isa in nogil::simd::Isa::available() {
        eprintln!("on the {isa} SIMD path");
        nogil::simd::with_isa(isa, &f).expect("an available path");
    }
}
