//! Every index visited exactly once, for every executor, schedule, thread
//! count and loop length; nested and concurrent regions.

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Fixture, THREADS, schedules, size};
use nogil::{Executor, Pool, Schedule, Sequential};

/// Runs a loop of `n` on `exec`, counting visits per index, and asserts each
/// index was visited once and every range was in bounds and non-empty.
fn assert_covers(exec: &dyn Executor, n: usize, visits: &[AtomicU8]) {
    let calls = AtomicUsize::new(0);
    exec.for_each_range(n, &|range| {
        assert!(range.start < range.end && range.end <= n, "{}: bad range {range:?} for n={n}", exec.label());
        calls.fetch_add(1, Ordering::Relaxed);
        for i in range {
            visits[i].fetch_add(1, Ordering::Relaxed);
        }
    });
    for (i, v) in visits[..n].iter().enumerate() {
        let count = v.swap(0, Ordering::Relaxed);
        assert_eq!(count, 1, "{}: index {i} of {n} visited {count} times", exec.label());
    }
    if n == 0 {
        assert_eq!(calls.into_inner(), 0, "{}: body called for an empty loop", exec.label());
    }
}

#[test]
fn every_index_is_visited_exactly_once() {
    const BIG: usize = size(1_000_003, 37);
    let visits: Vec<AtomicU8> = (0..BIG + 1).map(|_| AtomicU8::new(0)).collect();
    for &threads in THREADS {
        let fx = Fixture::new(threads);
        let lengths = [0, 1, 2, threads.saturating_sub(1), threads + 1, size(1000, 20), BIG];
        for n in lengths {
            // Chunk parameters from 1 up past n.
            let chunks: &[usize] = if cfg!(miri) { &[1, n + 1] } else { &[1, 2, 7, (n / 3).max(1), n.max(1), n + 1] };
            for exec in fx.executors(&schedules(chunks)) {
                assert_covers(exec.as_ref(), n, &visits);
            }
        }
    }
}

#[test]
fn a_region_where_the_caller_waits_long_parks_and_is_woken() {
    // Thread 1's block sleeps, so the caller outlives its spin window and parks.
    for spin in [Duration::ZERO, Duration::from_micros(50)] {
        let pool = Pool::builder().threads(2).spin(spin).build().unwrap();
        let visits: Vec<AtomicU8> = (0..10).map(|_| AtomicU8::new(0)).collect();
        pool.run(10, |range| {
            if range.start > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            for i in range {
                visits[i].fetch_add(1, Ordering::Relaxed);
            }
        });
        assert!(visits.iter().all(|v| v.load(Ordering::Relaxed) == 1));
    }
}

#[test]
fn workers_park_between_regions_and_wake_for_the_next() {
    let pool = Pool::builder().threads(3).spin(Duration::from_micros(10)).build().unwrap();
    let visits: Vec<AtomicU8> = (0..300).map(|_| AtomicU8::new(0)).collect();
    for round in 0..size(20, 6) {
        if round % 5 == 0 {
            // Long enough for every worker to leave its spin window and park.
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_covers(&pool, 300, &visits);
    }
}

#[test]
fn nested_regions_run_inline_without_deadlock() {
    for &threads in if cfg!(miri) { &[3][..] } else { &[2, 3, 7][..] } {
        let fx = Fixture::new(threads);
        let other = Pool::new(2).unwrap();
        for outer in fx.executors(&schedules(&[1, 3])) {
            let total = AtomicUsize::new(0);
            outer.for_each_range(8, &|range| {
                for _ in range {
                    // Same pool (inline), another pool, and a sequential loop.
                    fx.pool.run(100, |r| {
                        total.fetch_add(r.len(), Ordering::Relaxed);
                    });
                    other.run(10, |r| {
                        total.fetch_add(r.len(), Ordering::Relaxed);
                    });
                    Sequential.for_each_range(1, &|r| {
                        total.fetch_add(r.len(), Ordering::Relaxed);
                    });
                }
            });
            assert_eq!(total.into_inner(), 8 * 111, "{}", outer.label());
        }
    }
}

#[test]
fn threads_sharing_one_pool_each_get_every_index_once() {
    let pool = Pool::new(3).unwrap();
    let guided = pool.with_schedule(Schedule::Guided { min_chunk: 4 }).unwrap();
    std::thread::scope(|s| {
        for t in 0..size(4, 2) {
            let guided = &guided;
            s.spawn(move || {
                let visits: Vec<AtomicU8> = (0..5000).map(|_| AtomicU8::new(0)).collect();
                for round in 0..size(200, 3) {
                    assert_covers(guided, size(1000 + t * 1000, 20 + t) + round, &visits);
                }
            });
        }
    });
}

#[test]
fn the_global_pool_runs_regions() {
    let pool = Pool::global().unwrap();
    assert!(pool.threads() >= 1);
    let again = Pool::global().unwrap();
    assert!(std::ptr::eq(pool, again));
    let visits: Vec<AtomicU8> = (0..777).map(|_| AtomicU8::new(0)).collect();
    assert_covers(pool, size(777, 30), &visits);
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    use nogil::{Error, Rayon, SpawnPerCall};
    assert_eq!(SpawnPerCall::new(0, Schedule::default()).unwrap_err(), Error::ZeroThreads);
    assert_eq!(
        SpawnPerCall::new(2, Schedule::Guided { min_chunk: 0 }).unwrap_err(),
        Error::ZeroChunk { schedule: "guided" }
    );
    assert_eq!(Rayon::new(0).unwrap_err(), Error::ZeroThreads);
    let pool = Pool::new(2).unwrap();
    let e = pool.with_schedule(Schedule::Static { chunk: Some(0) }).unwrap_err();
    assert_eq!(e, Error::ZeroChunk { schedule: "static" });
    assert!(e.to_string().contains("chunk size of 0"), "{e}");
}
