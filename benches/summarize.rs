//! summarize of 10^7 values (the seed's `randn(1e7) + 8.342`): which form and
//! which executor, against the fastest plain read of the same array.
//!
//! Groups, each at 1 and 2 threads: `summarize_1e7/{t}t` with the mirror and
//! the single-thread SIMD sum (1 thread only), `summarize` on every executor,
//! the seed's strided partitions, the compensated sum, and `read_reference`
//! (one contiguous block per pinned thread, no block tree) as the bandwidth
//! yardstick. Throughput is in bytes read.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use nogil::kernels::summarize::{
    read_reference, summarize, summarize_compensated, summarize_raw, summarize_simd, summarize_strided,
};
use nogil::{Executor, Pool, Rayon, Schedule, Sequential, SpawnPerCall};
use rand::{SeedableRng, rngs::StdRng};

/// randn(n) + 8.342.
fn seed_data(n: usize) -> Vec<f64> {
    let mut x = nogil::data::randn(&mut StdRng::seed_from_u64(42), n).unwrap();
    x.iter_mut().for_each(|v| *v += 8.342);
    x
}

fn bench(c: &mut Criterion) {
    let x = seed_data(10_000_000);
    for threads in [1, 2] {
        let pool = Pool::new(threads).unwrap();
        let rayon = Rayon::new(threads).unwrap();
        let mut g = c.benchmark_group(format!("summarize_1e7/{threads}t"));
        g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
        g.throughput(Throughput::Bytes(8 * x.len() as u64));
        if threads == 1 {
            g.bench_function("mirror", |b| {
                // SAFETY: a slice is valid for reads of its length.
                b.iter(|| unsafe { summarize_raw(black_box(x.as_ptr()), x.len()) })
            });
            g.bench_function("simd", |b| b.iter(|| summarize_simd(black_box(&x))));
        }
        let execs: Vec<(&str, Box<dyn Executor + '_>)> = vec![
            ("sequential", Box::new(Sequential)),
            ("spawn-per-call", Box::new(SpawnPerCall::new(threads, Schedule::default()).unwrap())),
            ("rayon", Box::new(&rayon)),
            ("pool-static", Box::new(&pool)),
            ("pool-guided", Box::new(pool.with_schedule(Schedule::Guided { min_chunk: 1 }).unwrap())),
        ];
        for (name, exec) in &execs {
            g.bench_function(BenchmarkId::new("summarize", name), |b| b.iter(|| summarize(exec, black_box(&x))));
        }
        g.bench_function(BenchmarkId::new("strided", "pool-static"), |b| {
            b.iter(|| summarize_strided(&pool, black_box(&x), threads).unwrap())
        });
        g.bench_function(BenchmarkId::new("compensated", "pool-static"), |b| {
            b.iter(|| summarize_compensated(&pool, black_box(&x)))
        });
        g.bench_function(BenchmarkId::new("read_reference", "pool-static"), |b| {
            b.iter(|| read_reference(&pool, black_box(&x)))
        });
        g.finish();
    }
}

fn main() {
    common::run(bench);
}
