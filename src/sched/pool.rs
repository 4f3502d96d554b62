//! The persistent, core-pinned pool: OpenMP's `parallel for` without OpenMP.
//!
//! A `Pool` of `T` threads is the calling thread plus `T - 1` workers that
//! live as long as the pool. Running a region:
//!
//! 1. the caller takes the pool's region lock (`try_lock`: a region started
//!    while another runs on the same pool, including one nested inside a
//!    region, runs inline on the current thread instead of deadlocking);
//! 2. it writes the job (body pointer and [`Plan`]) into the shared cell,
//!    resets the claim counter and the done latch, and posts a new generation
//!    to the `team - 1` workers the loop has work for (`signal.rs`);
//! 3. it runs its own share as thread 0, then waits on the done latch;
//! 4. any panic (its own or a worker's) was caught, stopped further claiming
//!    through the abort flag, and is resumed on the caller with its original
//!    payload once every worker has left the region.
//!
//! Step 3 is what makes lending a stack closure to other threads sound: the
//! caller does not return, normally or by unwinding, while a worker can still
//! reach the closure.

use std::any::Any;
use std::cell::UnsafeCell;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use super::Executor;
use super::chunks::{Claim, Plan, Schedule, participate};
use super::signal::{DoneLatch, WakeSlot};
use super::sync::{AtomicBool, AtomicUsize, CachePadded, Ordering, Thread};
use crate::Error;

/// The environment variable that sets the default thread count.
pub const NUM_THREADS_ENV: &str = "NOGIL_NUM_THREADS";

/// The most threads a pool (or [`SpawnPerCall`](super::SpawnPerCall)) will start.
pub const MAX_THREADS: usize = 4096;

/// How long workers spin between regions before parking, by default.
///
/// Long enough to cover the serial gap between two regions of an iterative
/// algorithm (an EM M-step), short enough that an idle pool stops burning CPU
/// almost at once. libgomp's default spin is of the same order.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(200);

/// The thread count nogil uses when none is given: `NOGIL_NUM_THREADS` if set,
/// else the number of CPUs this process may run on.
///
/// An unset variable falls through; a set one must be a whole number from 1 to
/// [`MAX_THREADS`], or this returns [`Error::BadEnv`].
pub fn default_threads() -> Result<usize, Error> {
    match std::env::var_os(NUM_THREADS_ENV) {
        Some(value) => parse_threads(&value.to_string_lossy()),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

fn parse_threads(value: &str) -> Result<usize, Error> {
    let bad = || Error::BadEnv {
        var: NUM_THREADS_ENV,
        value: value.to_owned(),
        expected: "a whole number of threads from 1 to 4096",
    };
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

pub(crate) fn check_threads(threads: usize) -> Result<usize, Error> {
    match threads {
        0 => Err(Error::ZeroThreads),
        t if t > MAX_THREADS => Err(Error::TooManyThreads { requested: t, max: MAX_THREADS }),
        t => Ok(t),
    }
}

/// Where one pool thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// The calling thread (thread 0): nogil never moves the user's thread.
    Caller,
    /// Pinned to this core id of the process's allowed set.
    Core(usize),
    /// Not pinned: pinning was switched off, there were more threads than
    /// allowed cores, or the operating system refused.
    Unpinned(Unpinned),
}

/// Why a worker is not pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpinned {
    /// [`PoolBuilder::pin`] was `false`.
    Disabled,
    /// The pool has more threads than the process has allowed cores.
    Oversubscribed,
    /// The operating system refused (or the platform cannot pin).
    Refused,
}

/// Configures and starts a [`Pool`].
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    threads: Option<usize>,
    pin: bool,
    spin: Option<Duration>,
    schedule: Schedule,
}

impl PoolBuilder {
    /// Total threads, the caller included. Default: [`default_threads`].
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Pin each worker to its own allowed core (default `true`).
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// How long idle workers (and a waiting caller) spin before parking.
    ///
    /// Default: [`DEFAULT_SPIN`], or zero when the pool has more threads than
    /// allowed cores (spinning would then steal time from working threads,
    /// which is why libgomp throttles its spin in the same case).
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = Some(spin);
        self
    }

    /// The schedule the pool uses as an [`Executor`] (default `Static { chunk: None }`).
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Starts the workers and waits until each has pinned itself.
    pub fn build(self) -> Result<Pool, Error> {
        let threads = check_threads(match self.threads {
            Some(t) => t,
            None => default_threads()?,
        })?;
        let schedule = self.schedule.validate()?;
        let cores = allowed_cores();
        let oversubscribed = threads > cores.len().max(1);
        let spin = self.spin.unwrap_or(if oversubscribed { Duration::ZERO } else { DEFAULT_SPIN });

        let workers = threads - 1;
        let shared = Arc::new(Shared {
            job: UnsafeCell::new(Job { body: None, plan: Plan::new(0, 1, schedule) }),
            claim: Claim::default(),
            done: DoneLatch::default(),
            abort: CachePadded(AtomicBool::new(false)),
            panic: Mutex::new(None),
            slots: (0..workers).map(|_| CachePadded(WakeSlot::default())).collect(),
            pins: (0..workers).map(|_| AtomicUsize::new(PIN_PENDING)).collect(),
            shutdown: AtomicBool::new(false),
            spin,
        });

        shared.done.reset(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            // Worker w is thread w + 1; thread 0 is the caller, which usually
            // sits on the first allowed core, so workers take the others.
            let target = if !self.pin {
                Err(Unpinned::Disabled)
            } else {
                cores.get(w + 1).copied().ok_or(Unpinned::Oversubscribed)
            };
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("nogil-worker-{}", w + 1))
                .spawn(move || worker_main(&s, w, target));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shutdown(&shared, handles, 1);
                    return Err(Error::Spawn { worker: w + 1, message: e.to_string() });
                }
            }
        }
        shared.done.wait(Duration::from_micros(50));
        let threads_handles = handles.iter().map(|h| h.thread().clone()).collect();
        let pins = std::iter::once(Pin::Caller)
            .chain(shared.pins.iter().map(|p| decode_pin(p.load(Ordering::Acquire))))
            .collect();
        Ok(Pool { shared, handles, threads_handles, threads, schedule, pins, generation: Mutex::new(0) })
    }
}

const PIN_PENDING: usize = usize::MAX;
const PIN_DISABLED: usize = usize::MAX - 1;
const PIN_OVERSUBSCRIBED: usize = usize::MAX - 2;
const PIN_REFUSED: usize = usize::MAX - 3;

fn decode_pin(code: usize) -> Pin {
    match code {
        PIN_DISABLED => Pin::Unpinned(Unpinned::Disabled),
        PIN_OVERSUBSCRIBED => Pin::Unpinned(Unpinned::Oversubscribed),
        PIN_REFUSED | PIN_PENDING => Pin::Unpinned(Unpinned::Refused),
        core => Pin::Core(core),
    }
}

/// The cores this process may run on, the calling thread's current core
/// first (where the OS says which it is), then the others in the OS's order.
///
/// Worker `w` is pinned to entry `w + 1`, so the workers avoid the core the
/// caller is running on when the pool is built. Otherwise a worker could be
/// pinned to the caller's core while another core idles: caller and worker
/// then share one core until the scheduler migrates the caller, and a short
/// region takes a scheduler time slice instead of microseconds (seen here
/// as 420 µs instead of 8 µs for a 2-thread region).
fn allowed_cores() -> Vec<core_affinity::CoreId> {
    if cfg!(any(miri, loom)) {
        // Miri does not support sched_getaffinity; loom does not need pinning.
        return Vec::new();
    }
    let mut cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(at) = current_cpu().and_then(|cpu| cores.iter().position(|c| c.id == cpu)) {
        let own = cores.remove(at);
        cores.insert(0, own);
    }
    cores
}

/// The CPU the calling thread is running on, from `/proc/thread-self/stat`
/// (field 39), on Linux; `None` elsewhere or if it cannot be read.
fn current_cpu() -> Option<usize> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) is parenthesised and may hold spaces: count
    // fields after its closing parenthesis, which is field 3's predecessor.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(39 - 3)?.parse().ok()
}

/// The ids of the cores this process may run on (its affinity mask),
/// ascending; empty where the platform cannot say (and under Miri).
pub fn allowed_core_ids() -> Vec<usize> {
    let mut ids: Vec<usize> = allowed_cores().iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids
}

/// Pins the calling thread to core `id`, as a [`Pool`] pins its workers: for
/// a thread of the caller's own that should stay on one core (a pool never
/// moves the thread that builds it or runs its regions).
///
/// Returns [`Pin::Core`]`(id)`, or [`Pin::Unpinned`]`(`[`Unpinned::Refused`]`)`
/// if `id` is not one of [`allowed_core_ids`] or the operating system refused.
pub fn pin_current_thread(id: usize) -> Pin {
    match allowed_cores().into_iter().find(|c| c.id == id) {
        Some(core) if core_affinity::set_for_current(core) => Pin::Core(id),
        _ => Pin::Unpinned(Unpinned::Refused),
    }
}

/// A region's job: what the workers run. Written by the caller before the
/// generation is posted; read by workers after they see it.
#[derive(Clone, Copy)]
struct Job {
    /// The region body with its lifetime erased; valid until the caller's
    /// done latch has counted every worker out (see the module docs).
    body: Option<*const (dyn Fn(Range<usize>) + Sync + 'static)>,
    plan: Plan,
}

struct Shared {
    job: UnsafeCell<Job>,
    claim: Claim,
    done: DoneLatch,
    abort: CachePadded<AtomicBool>,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    slots: Box<[CachePadded<WakeSlot>]>,
    pins: Box<[AtomicUsize]>,
    shutdown: AtomicBool,
    spin: Duration,
}

// SAFETY: every field but `job` is Sync. `job` is written only by the thread
// holding the pool's region lock, and only while no worker is inside a region
// (before `post`, after the done latch reached zero); workers read it only
// between seeing a new generation (Acquire) and arriving at the latch
// (Release). The body it points to is `Sync`, so calling it from several
// threads at once is allowed.
unsafe impl Sync for Shared {}
// SAFETY: the raw body pointer is only dereferenced under the protocol above;
// all other fields are Send.
unsafe impl Send for Shared {}

impl Shared {
    /// Runs thread `tid`'s share of the current job, catching a panic into
    /// `self.panic` (the first one wins) and raising the abort flag.
    fn participate(&self, job: &Job, tid: usize) {
        let Some(body) = job.body else { return };
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `body` was set from a live `&dyn Fn` by the caller, who
            // does not return until this thread has arrived at the done
            // latch (or, for tid 0, is this very call).
            let body = unsafe { &*body };
            participate(&job.plan, &self.claim, tid, &self.abort, body);
        }));
        if let Err(payload) = result {
            self.abort.store(true, Ordering::Relaxed);
            let mut slot = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(payload);
            }
        }
    }
}

fn worker_main(shared: &Shared, w: usize, target: Result<core_affinity::CoreId, Unpinned>) {
    let code = match target {
        Ok(core) if core_affinity::set_for_current(core) => core.id,
        Ok(_) => PIN_REFUSED,
        Err(Unpinned::Disabled) => PIN_DISABLED,
        Err(Unpinned::Oversubscribed) => PIN_OVERSUBSCRIBED,
        Err(Unpinned::Refused) => PIN_REFUSED,
    };
    shared.pins[w].store(code, Ordering::Release);
    shared.done.arrive();

    let tid = w + 1;
    let mut seen = 0;
    loop {
        seen = shared.slots[w].wait(seen, shared.spin);
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: a new generation was posted (Acquire in `wait`) after the
        // caller wrote the job, and the caller will not write it again until
        // this thread arrives at the done latch below.
        let job = unsafe { *shared.job.get() };
        // Only the first `team - 1` workers are posted a region.
        debug_assert!(tid < job.plan.team);
        shared.participate(&job, tid);
        shared.done.arrive();
    }
}

/// Posts shutdown (as generation `generation`, new to every worker) to the
/// started workers and joins them.
fn shutdown(shared: &Shared, handles: Vec<std::thread::JoinHandle<()>>, generation: u64) {
    shared.shutdown.store(true, Ordering::Release);
    for (slot, h) in shared.slots.iter().zip(&handles) {
        slot.post(generation, h.thread());
    }
    for h in handles {
        // A worker catches every panic of a region body, so join fails only
        // if the runtime itself failed; there is nothing left to clean up.
        let _ = h.join();
    }
}

/// A persistent pool of pinned threads that runs parallel loops with OpenMP schedules.
///
/// ```
/// use nogil::{Pool, Schedule};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let pool = Pool::builder().threads(2).build()?;
/// let total = AtomicU64::new(0);
/// pool.with_schedule(Schedule::Guided { min_chunk: 64 })?
///     .run(10_000, |range| {
///         let s: u64 = range.map(|i| i as u64).sum();
///         total.fetch_add(s, Ordering::Relaxed);
///     });
/// assert_eq!(total.into_inner(), 10_000 * 9_999 / 2);
/// # Ok::<(), nogil::Error>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    handles: Vec<std::thread::JoinHandle<()>>,
    threads_handles: Vec<Thread>,
    threads: usize,
    schedule: Schedule,
    pins: Vec<Pin>,
    /// The region lock, holding the last generation posted.
    generation: Mutex<u64>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads)
            .field("schedule", &self.schedule)
            .field("pins", &self.pins)
            .field("spin", &self.shared.spin)
            .finish()
    }
}

impl Pool {
    /// A pinned pool of `threads` threads (the caller included) with the default schedule.
    pub fn new(threads: usize) -> Result<Pool, Error> {
        Pool::builder().threads(threads).build()
    }

    /// Starts configuring a pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder { threads: None, pin: true, spin: None, schedule: Schedule::default() }
    }

    /// The process-wide pool, created on first use with [`default_threads`]
    /// threads, pinned, with the default schedule.
    ///
    /// Returns the same error on every call if `NOGIL_NUM_THREADS` is invalid
    /// or the workers cannot be started.
    pub fn global() -> Result<&'static Pool, Error> {
        static GLOBAL: OnceLock<Result<Pool, Error>> = OnceLock::new();
        GLOBAL.get_or_init(|| Pool::builder().build()).as_ref().map_err(Clone::clone)
    }

    /// Total threads, the caller included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The schedule this pool uses as an [`Executor`].
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// How long idle threads spin before parking.
    pub fn spin(&self) -> Duration {
        self.shared.spin
    }

    /// Where each thread runs: index 0 is the caller, `i` is worker `i`.
    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }

    /// This pool with another schedule, as an [`Executor`].
    ///
    /// Fails with [`Error::ZeroChunk`] if the schedule's chunk is 0.
    pub fn with_schedule(&self, schedule: Schedule) -> Result<OnPool<'_>, Error> {
        Ok(OnPool { pool: self, schedule: schedule.validate()? })
    }

    /// Runs `body` over disjoint ranges covering `0..n`, with the pool's schedule.
    pub fn run(&self, n: usize, body: impl Fn(Range<usize>) + Sync) {
        self.region(n, self.schedule, &body);
    }

    fn region(&self, n: usize, schedule: Schedule, body: &(dyn Fn(Range<usize>) + Sync)) {
        let plan = Plan::new(n, self.threads, schedule);
        match plan.team {
            0 => return,
            1 => return body(0..n),
            _ => {}
        }
        let mut generation = match self.generation.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            // Nested inside a region of this pool, or another thread's region
            // is running: run inline rather than wait (which could deadlock).
            Err(std::sync::TryLockError::WouldBlock) => return body(0..n),
        };
        let shared = &*self.shared;
        // SAFETY: erases the borrow's lifetime. The pointer is only
        // dereferenced by team members before they arrive at the done latch,
        // and this function does not return (or unwind: the caller's share is
        // run under catch_unwind) before the latch is complete.
        let body: *const (dyn Fn(Range<usize>) + Sync + 'static) = unsafe { std::mem::transmute(body) };
        let job = Job { body: Some(body), plan };
        // SAFETY: we hold the region lock and no worker is inside a region
        // (the previous region's latch reached zero before its lock was
        // released), so nobody reads the cell while we write it.
        unsafe { *shared.job.get() = job };
        shared.claim.reset();
        shared.abort.store(false, Ordering::Relaxed);
        shared.done.reset(plan.team - 1);
        // Workers compare generations for inequality only, so wrapping (after
        // 2^64 regions) is harmless.
        *generation = generation.wrapping_add(1);
        for w in 0..plan.team - 1 {
            shared.slots[w].post(*generation, &self.threads_handles[w]);
        }
        shared.participate(&job, 0);
        shared.done.wait(shared.spin);
        // SAFETY: every worker has arrived, so nobody reads the cell; drop the
        // dangling pointer so it cannot be reached again.
        unsafe { (*shared.job.get()).body = None };
        drop(generation);
        let payload = shared.panic.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(payload) = payload {
            resume_unwind(payload);
        }
    }
}

impl Drop for Pool {
    /// Stops and joins every worker.
    fn drop(&mut self) {
        let generation = self.generation.get_mut().unwrap_or_else(PoisonError::into_inner).wrapping_add(1);
        shutdown(&self.shared, std::mem::take(&mut self.handles), generation);
    }
}

// SAFETY: `region` hands `body` disjoint chunks covering `0..n` exactly once
// (`chunks.rs`), or the whole range inline, and returns only after every
// team member has finished (done latch), resuming any panic after that.
unsafe impl Executor for Pool {
    fn threads(&self) -> usize {
        self.threads
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        self.region(n, self.schedule, body);
    }

    fn label(&self) -> String {
        format!("pool({}, {})", self.threads, self.schedule)
    }
}

/// A [`Pool`] borrowed with a chosen [`Schedule`]: the executor that mirrors
/// the seed's `prange(schedule=...)`.
#[derive(Debug, Clone, Copy)]
pub struct OnPool<'a> {
    pool: &'a Pool,
    schedule: Schedule,
}

impl OnPool<'_> {
    /// The schedule this executor uses.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Runs `body` over disjoint ranges covering `0..n`.
    pub fn run(&self, n: usize, body: impl Fn(Range<usize>) + Sync) {
        self.pool.region(n, self.schedule, &body);
    }
}

// SAFETY: as for `Pool`: the same `region`, with a validated schedule.
unsafe impl Executor for OnPool<'_> {
    fn threads(&self) -> usize {
        self.pool.threads
    }

    fn for_each_range(&self, n: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
        self.pool.region(n, self.schedule, body);
    }

    fn label(&self) -> String {
        format!("pool({}, {})", self.pool.threads, self.schedule)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_checked() {
        assert_eq!(Pool::new(0).unwrap_err(), Error::ZeroThreads);
        assert!(matches!(Pool::new(MAX_THREADS + 1), Err(Error::TooManyThreads { .. })));
        assert!(Pool::builder().threads(2).schedule(Schedule::Dynamic { chunk: 0 }).build().is_err());
    }

    #[test]
    fn env_values_parse_strictly() {
        assert_eq!(parse_threads("3"), Ok(3));
        assert_eq!(parse_threads(" 16\n"), Ok(16));
        for bad in ["", "0", "-1", "two", "2.5", "4097", "99999999999999999999999"] {
            let e = parse_threads(bad).unwrap_err();
            assert!(matches!(e, Error::BadEnv { var: NUM_THREADS_ENV, .. }), "{bad:?}");
            assert!(e.to_string().contains(NUM_THREADS_ENV), "{e}");
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    #[cfg_attr(miri, ignore = "reads /proc, which Miri's isolation forbids")]
    fn the_current_cpu_is_read_and_is_an_allowed_core() {
        let cpu = current_cpu().expect("/proc/thread-self/stat names the CPU");
        let ids: Vec<usize> = core_affinity::get_core_ids().unwrap().iter().map(|c| c.id).collect();
        assert!(ids.contains(&cpu), "cpu {cpu} not in {ids:?}");
        // allowed_cores lists every allowed core once, whatever it put first.
        let mut got: Vec<usize> = allowed_cores().iter().map(|c| c.id).collect();
        got.sort_unstable();
        let mut want = ids;
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    #[cfg(target_os = "linux")]
    #[cfg_attr(miri, ignore = "reads /proc, which Miri's isolation forbids")]
    fn a_thread_of_the_callers_own_is_pinned_where_it_asks() {
        let ids = allowed_core_ids();
        assert!(!ids.is_empty() && ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let last = *ids.last().unwrap();
        let (pin, cpu) = std::thread::spawn(move || (pin_current_thread(last), current_cpu())).join().unwrap();
        assert_eq!(pin, Pin::Core(last));
        assert_eq!(cpu, Some(last), "the thread runs on the core it was pinned to");
        let not_allowed = (0..).find(|id| !ids.contains(id)).unwrap();
        let pin = std::thread::spawn(move || pin_current_thread(not_allowed)).join().unwrap();
        assert_eq!(pin, Pin::Unpinned(Unpinned::Refused));
    }

    #[test]
    fn pins_are_reported_per_thread() {
        let pool = Pool::builder().threads(3).build().unwrap();
        assert_eq!(pool.pins().len(), 3);
        assert_eq!(pool.pins()[0], Pin::Caller);
        let cores = allowed_cores().len();
        for (i, p) in pool.pins().iter().enumerate().skip(1) {
            if i < cores {
                assert!(matches!(p, Pin::Core(_)), "worker {i}: {p:?}");
            } else {
                assert_eq!(*p, Pin::Unpinned(Unpinned::Oversubscribed), "worker {i}");
            }
        }
        let unpinned = Pool::builder().threads(2).pin(false).build().unwrap();
        assert_eq!(unpinned.pins()[1], Pin::Unpinned(Unpinned::Disabled));
    }
}
