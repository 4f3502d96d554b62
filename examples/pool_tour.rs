//! A tour of the executors: build info, where the pool's threads are pinned,
//! the same loop on every executor, and a deterministic float sum.
//!
//! `cargo run --release --example pool_tour [THREADS]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use nogil::{DEFAULT_BLOCK, Executor, Pool, Rayon, Schedule, Sequential, SpawnPerCall, map_reduce};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = match std::env::args().nth(1) {
        Some(t) => t.parse()?,
        None => nogil::default_threads()?,
    };
    println!("build: {}", nogil::build_info());

    let pool = Pool::new(threads)?;
    println!("pool: {threads} threads, spin {:?}, pins {:?}", pool.spin(), pool.pins());

    let rayon = Rayon::new(threads)?;
    let mut executors: Vec<Box<dyn Executor + '_>> =
        vec![Box::new(Sequential), Box::new(SpawnPerCall::new(threads, Schedule::default())?), Box::new(&rayon)];
    for s in [Schedule::Static { chunk: None }, Schedule::Dynamic { chunk: 64 }, Schedule::Guided { min_chunk: 1 }] {
        executors.push(Box::new(pool.with_schedule(s)?));
    }

    // Unequal work (iteration i costs ~i steps), as in a triangular loop.
    let n = 20_000;
    let x: Vec<f64> = (0..1_000_000).map(|i| ((i as f64) * 0.618).fract() - 0.5).collect();
    println!("\n{:<28} {:>14} {:>12} {:>24}", "executor", "empty region", "unequal", "block sum of 10^6 (bits)");
    for exec in &executors {
        let reps = 2000;
        let t = Instant::now();
        for _ in 0..reps {
            // 64 iterations per thread: every schedule here wakes the whole team.
            exec.for_each_range(64 * exec.threads(), &|r| {
                for i in r {
                    std::hint::black_box(i);
                }
            });
        }
        let empty = t.elapsed() / reps;

        let done = AtomicUsize::new(0);
        let t = Instant::now();
        exec.for_each_range(n, &|r| {
            let mut acc = 0u64;
            for i in r.clone() {
                for j in 0..i {
                    acc = acc.wrapping_add(std::hint::black_box(j as u64));
                }
            }
            std::hint::black_box(acc);
            done.fetch_add(r.len(), Ordering::Relaxed);
        });
        let unequal = t.elapsed();
        assert_eq!(done.into_inner(), n);

        let sum = map_reduce(exec.as_ref(), x.len(), DEFAULT_BLOCK, |r| x[r].iter().sum::<f64>(), |a, b| a + b)
            .unwrap_or(0.0);
        println!(
            "{:<28} {:>14?} {:>12?} {:>24}",
            exec.label(),
            empty,
            unequal,
            format!("{sum:.6e} {:#x}", sum.to_bits())
        );
    }
    println!("\nThe sums agree to the bit: map_reduce's block tree does not depend on the executor.");
    Ok(())
}
