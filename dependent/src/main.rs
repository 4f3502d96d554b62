//! A crate that depends on nogil exactly as a user's would: a path (or
//! registry) dependency with default features, built with cargo's default
//! flags. It times one EM iteration of the seed's mixture (4·10⁶ × 2,
//! K = 4) and `pairwise_sum` (n = 60,000) on 1 and 2 threads, and the
//! vectorized `nogil::simd::exp` and `ln` over 10⁶ values, so that
//! `dependent/compare.sh` can set the default build beside the same crate
//! built with `-C target-cpu=native`.
//!
//! `cargo run --release -p nogil-dependent [-- --runs N]`

use std::hint::black_box;
use std::time::Instant;

use nogil::Pool;
use nogil::gmm::{CovarianceType, GaussianMixtureModel, Parallelism};
use nogil::kernels::pairwise::pairwise_sum;

/// SplitMix64 draws in `[0, 1)`: data without a dependency beyond nogil.
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let runs = match args.iter().position(|a| a == "--runs") {
        Some(i) => args.get(i + 1).ok_or("--runs needs a count")?.parse()?,
        None => 11,
    };
    println!("# {}", nogil::build_info());

    // The seed's second data set: four unit blobs 5 apart along the diagonal.
    let (n, d, k) = (4_000_000, 2, 4);
    let mut state = 37;
    let x: Vec<f64> = (0..n * d)
        .map(|i| {
            // Box–Muller from two uniform draws.
            let (u1, u2) = (1.0 - uniform(&mut state), uniform(&mut state));
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() + ((i / d) * k / n) as f64 * 5.0
        })
        .collect();
    let means: Vec<f64> = (0..k * d).map(|i| (i / d) as f64 * 5.0 + uniform(&mut state) - 0.5).collect();
    let cov: Vec<f64> = (0..k).flat_map(|_| [1.2, 0.1, 0.1, 1.2]).collect();
    let model = GaussianMixtureModel::from_parameters(CovarianceType::Full, d, vec![0.25; k], means, cov)?;
    let y: Vec<f64> = (0..60_000).map(|_| uniform(&mut state) - 0.5).collect();

    // In place, run after run: the values drift (to 0, ∞ or NaN), but both
    // functions take the same instructions for every input.
    let mut v: Vec<f64> = (0..1_000_000).map(|_| 1400.0 * uniform(&mut state) - 700.0).collect();
    let exp = median_ms(runs, || nogil::simd::exp(black_box(&mut v)));
    println!("simd_exp_1e6 threads=1 median_ms={exp:.3}");
    let mut v: Vec<f64> = (0..1_000_000).map(|_| 1e6 * uniform(&mut state)).collect();
    let ln = median_ms(runs, || nogil::simd::ln(black_box(&mut v)));
    println!("simd_ln_1e6 threads=1 median_ms={ln:.3}");

    for threads in [1, 2] {
        let pool = Pool::new(threads)?;
        let em = median_ms(runs, || {
            black_box(model.step(&pool, black_box(&x), Parallelism::Data, 1e-6).expect("a valid step"));
        });
        println!("em_iteration_4e6x2_k4 threads={threads} median_ms={em:.3}");
        let pairwise = median_ms(runs.div_ceil(2), || {
            black_box(pairwise_sum(&pool, black_box(&y)));
        });
        println!("pairwise_sum_6e4 threads={threads} median_ms={pairwise:.3}");
    }
    Ok(())
}
