//! What does a parallel region cost, per executor and schedule?
//!
//! Three questions, each a criterion group, each at 1 and 2 threads:
//! - `empty_region`: fork/join alone — a loop of `64 * threads` iterations
//!   with an empty body, enough that every schedule here (chunks of 64 at the
//!   largest) wakes and joins every thread of the team (the body touches
//!   each index, as `benches/omp/empty_region.c` does for libgomp);
//! - `trivial_1000`: 1,000 iterations of almost nothing (scheduling overhead
//!   per chunk shows);
//! - `unequal_1e6`: 10^6 iterations whose cost grows with the index, where
//!   static blocks leave one thread with most of the work and guided or
//!   dynamic schedules balance it;
//! - `map_reduce_1e7_blocks`: `map_reduce` over 10^7 blocks of one item (a
//!   sum of square roots), where the reduction tree's cost per block shows.

mod common;

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use nogil::{Executor, Pool, Rayon, Schedule, Sequential, SpawnPerCall, map_reduce};

const THREADS: [usize; 2] = [1, 2];

fn schedules() -> [Schedule; 4] {
    [
        Schedule::Static { chunk: None },
        Schedule::Static { chunk: Some(64) },
        Schedule::Dynamic { chunk: 64 },
        Schedule::Guided { min_chunk: 1 },
    ]
}

/// Every executor at `threads` threads, with a label for the report.
fn executors<'a>(threads: usize, pool: &'a Pool, rayon: &'a Rayon) -> Vec<(String, Box<dyn Executor + 'a>)> {
    let mut v: Vec<(String, Box<dyn Executor + 'a>)> = Vec::new();
    if threads == 1 {
        v.push(("sequential".into(), Box::new(Sequential)));
    }
    v.push(("rayon".into(), Box::new(rayon)));
    v.push(("spawn-per-call/static".into(), Box::new(SpawnPerCall::new(threads, Schedule::default()).unwrap())));
    for s in schedules() {
        v.push((format!("pool/{s}"), Box::new(pool.with_schedule(s).unwrap())));
    }
    v
}

/// Cost grows linearly with the index: iteration i does i / 2^14 steps of a
/// dependent multiply-add chain (about 3·10^7 steps per region in total).
fn unequal(range: Range<usize>) {
    let mut acc = 1.0f64;
    for i in range {
        for _ in 0..(i >> 14) {
            acc = black_box(acc).mul_add(1.000_000_1, 1e-9);
        }
    }
    black_box(acc);
}

fn bench(c: &mut Criterion) {
    for threads in THREADS {
        let pool = Pool::new(threads).unwrap();
        let rayon = Rayon::new(threads).unwrap();
        let execs = executors(threads, &pool, &rayon);

        let mut g = c.benchmark_group(format!("empty_region/{threads}t"));
        g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        for (name, exec) in &execs {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    exec.for_each_range(black_box(64 * threads), &|r| {
                        for i in r {
                            black_box(i);
                        }
                    })
                })
            });
        }
        g.finish();

        let mut g = c.benchmark_group(format!("trivial_1000/{threads}t"));
        g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        g.throughput(Throughput::Elements(1000));
        for (name, exec) in &execs {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    exec.for_each_range(1000, &|r| {
                        for i in r {
                            black_box(i);
                        }
                    })
                })
            });
        }
        g.finish();

        let mut g = c.benchmark_group(format!("unequal_1e6/{threads}t"));
        g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
        g.throughput(Throughput::Elements(1_000_000));
        for (name, exec) in &execs {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| exec.for_each_range(1_000_000, &unequal))
            });
        }
        g.finish();

        let mut g = c.benchmark_group(format!("map_reduce_1e7_blocks/{threads}t"));
        g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(10);
        g.throughput(Throughput::Elements(10_000_000));
        for (name, exec) in &execs {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let root = |r: Range<usize>| (r.start as f64).sqrt();
                    map_reduce(exec.as_ref(), black_box(10_000_000), NonZeroUsize::MIN, root, |a, b| a + b)
                })
            });
        }
        g.finish();
    }
}

fn main() {
    common::run(bench);
}
