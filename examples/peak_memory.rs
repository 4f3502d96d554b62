//! Peak memory of one EM iteration at large `d` against what it must hold:
//! the data and two models (the one a pass runs under and the next).
//!
//!     cargo run --release --example peak_memory [n d k threads]
//!
//! Defaults to 10⁵ rows of d = 1000 and k = 100 full covariances (0.8 GB of
//! data) on 2 threads, one iteration from given parameters. The peak is the
//! process's high-water mark of resident memory (`VmHWM`, Linux); elsewhere
//! it prints the sizes only.

use nogil::Pool;
use nogil::data::{blobs, standard_normal};
use nogil::gmm::{GaussianMixture, Init, InitialParams};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The high-water mark of resident memory, in bytes (Linux only).
fn peak_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (n, d, k, threads) = (arg(0, 100_000), arg(1, 1000), arg(2, 100), arg(3, 2));
    let mut rng = StdRng::seed_from_u64(1);
    let x = blobs(&mut rng, k, n.div_ceil(k), d, 4.0)?;
    // Near the blobs' centres, covariances 1.2 on the diagonal and 0.1 off.
    let means: Vec<f64> = (0..k * d).map(|i| (i / d) as f64 * 4.0 + 0.3 * standard_normal(&mut rng)).collect();
    let covariances: Vec<f64> =
        (0..k).flat_map(|_| (0..d * d).map(move |e| if e / d == e % d { 1.2 } else { 0.1 })).collect();
    let init = InitialParams {
        weights: Some(vec![1.0 / k as f64; k]),
        means: Some(means),
        covariances: Some(covariances),
        precisions: None,
    };
    let before = peak_bytes();
    let pool = Pool::new(threads)?;
    let started = std::time::Instant::now();
    let fit = GaussianMixture::new(k).max_iter(1).tol(0.0).init(Init::Given(init)).fit_with(&pool, &x, d)?;
    let seconds = started.elapsed().as_secs_f64();
    let g = fit.gaussians();
    // What one model holds: its parameters, scikit-learn's precision
    // factors and the kernels' factors (not counted: their scaled copy,
    // which the kernels read, about half as large from d = 48).
    let values = fit.weights().len() + fit.means().len() + fit.covariances().len() + fit.precisions_cholesky().len();
    let model = 8.0 * (values + g.factors().len()) as f64;
    let data = 8.0 * x.len() as f64;
    let gb = |b: f64| b / 1e9;
    println!("{n} × {d}, k = {k}, {threads} threads: one iteration in {seconds:.1} s");
    println!(
        "data {:.2} GB; one model about {:.2} GB; data + two models {:.2} GB",
        gb(data),
        gb(model),
        gb(data + 2.0 * model)
    );
    if let (Some(peak), Some(before)) = (peak_bytes(), before) {
        println!(
            "peak resident {:.2} GB ({:.2} GB before the fit): {:.2}× the data and two models",
            gb(peak),
            gb(before),
            peak / (data + 2.0 * model)
        );
    }
    Ok(())
}
