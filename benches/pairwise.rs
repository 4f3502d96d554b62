//! Pairwise sum Σᵢ Σⱼ xᵢ·xⱼ, O(n²), at the seed's sizes: which form, which
//! executor and schedule, against the machine's multiply-add peak.
//!
//! Throughput is in multiply-adds (n² per call); `fma_peak` runs the same
//! number of register-resident lane multiply-adds, so the reports compare
//! directly. The scalar mirror at n = 10⁵ needs 10¹⁰ dependent additions
//! (about 10 s a call), so that entry alone takes a few minutes.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use nogil::kernels::pairwise::{fma_peak, pairwise_sum, pairwise_sum_raw, pairwise_sum_strided, pairwise_sum_tasks};
use nogil::{Executor, Pool, Rayon, Schedule, Sequential, SpawnPerCall};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn data(n: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(5);
    (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect()
}

fn bench(c: &mut Criterion) {
    for n in [5_000usize, 100_000] {
        let x = data(n);
        let madds = (n * n) as u64;
        for threads in [1, 2] {
            let pool = Pool::new(threads).unwrap();
            let rayon = Rayon::new(threads).unwrap();
            let mut g = c.benchmark_group(format!("pairwise_{n}/{threads}t"));
            g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(10);
            g.throughput(Throughput::Elements(madds));
            if threads == 1 {
                g.bench_function("mirror", |b| {
                    // SAFETY: a slice is valid for reads of its length.
                    b.iter(|| unsafe { pairwise_sum_raw(black_box(x.as_ptr()), n) })
                });
            }
            let mut execs: Vec<(String, Box<dyn Executor + '_>)> = vec![
                ("rayon".into(), Box::new(&rayon)),
                ("spawn-per-call".into(), Box::new(SpawnPerCall::new(threads, Schedule::default()).unwrap())),
            ];
            if threads == 1 {
                execs.push(("sequential".into(), Box::new(Sequential)));
            }
            for s in
                [Schedule::Static { chunk: None }, Schedule::Dynamic { chunk: 1 }, Schedule::Guided { min_chunk: 1 }]
            {
                execs.push((format!("pool-{s}"), Box::new(pool.with_schedule(s).unwrap())));
            }
            for (name, exec) in &execs {
                g.bench_function(BenchmarkId::new("simd", name), |b| b.iter(|| pairwise_sum(exec, black_box(&x))));
            }
            let per_element = pool.with_schedule(Schedule::Dynamic { chunk: 1 }).unwrap();
            g.bench_function(BenchmarkId::new("tasks", "pool-dynamic,1"), |b| {
                b.iter(|| pairwise_sum_tasks(&per_element, black_box(&x)))
            });
            g.bench_function(BenchmarkId::new("tasks", "rayon"), |b| {
                b.iter(|| pairwise_sum_tasks(&rayon, black_box(&x)))
            });
            g.bench_function(BenchmarkId::new("strided", "pool-static"), |b| {
                b.iter(|| pairwise_sum_strided(&pool, black_box(&x), threads).unwrap())
            });
            g.bench_function(BenchmarkId::new("fma_peak", "pool-static"), |b| {
                b.iter(|| fma_peak(&pool, black_box(n * n / threads)))
            });
            g.finish();
        }
    }
}

fn main() {
    common::run(bench);
}
