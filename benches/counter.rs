//! The counter experiment: 10^7 increments of one shared counter, five ways
//! (racy, locked, split, atomic, sharded), on a pool with 1, 2 and 4 threads
//! (4 oversubscribes a 2-core machine, as the seed's `num_threads=4` would).
//! Static blocks: each thread runs one tight loop. Throughput in increments.

mod common;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use nogil::Pool;
use nogil::kernels::counter::{CounterKind, count};

const INCREMENTS: usize = 10_000_000;

fn bench(c: &mut Criterion) {
    for threads in [1, 2, 4] {
        let pool = Pool::new(threads).unwrap();
        let mut g = c.benchmark_group(format!("counter_1e7/{threads}t"));
        g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(10);
        g.throughput(Throughput::Elements(INCREMENTS as u64));
        for kind in CounterKind::ALL {
            g.bench_function(BenchmarkId::from_parameter(kind.name()), |b| b.iter(|| count(kind, &pool, INCREMENTS)));
        }
        g.finish();
        // The lesson itself: what each kind ended at, once.
        for kind in CounterKind::ALL {
            let r = count(kind, &pool, INCREMENTS);
            println!("  {threads}t {:<8} value {:>9} lost {:>9}", kind.name(), r.value, r.lost);
        }
    }
}

fn main() {
    common::run(bench);
}
