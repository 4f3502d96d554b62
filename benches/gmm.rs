//! The Gaussian mixture (seed cells 37–52): one EM iteration on the seed's
//! 4·10⁶ × 2, K = 4 data, data- vs model-parallel on each executor, 1 and 2
//! threads, beside the seed's mirror E-step and a `summarize` pass over the
//! same array (the memory-streaming reference); then d ∈ {2, 8, 32} and
//! K ∈ {4, 16} on 10⁶ points (and diagonal covariances for d ∈ {8, 32}),
//! and d ∈ {64, 128}, K = 16 on 10⁵;
//! the large-d shapes (16 to 1000) beside the FMA floor of each;
//! and the default initialization (k-means++ seeded k-means) alone on the
//! seed's data and on 10⁶ × 8, K = 16, beside k-means++ alone.
//! Throughput is in points per second.

use std::hint::black_box;
use std::time::Duration;

mod common;

use criterion::{BenchmarkId, Criterion, Throughput};
use nogil::data::{blobs, standard_normal};
use nogil::gmm::{CovarianceType, GaussianMixture, GaussianMixtureModel, Init, Parallelism};
use nogil::kernels::pairwise::fma_peak;
use nogil::kernels::seed_em::expectation;
use nogil::kernels::summarize::summarize;
use nogil::{Executor, Pool, Rayon, Schedule, Sequential, SpawnPerCall};
use rand::{SeedableRng, rngs::StdRng};

/// `k` unit-variance blobs in `d` dimensions, `spacing` apart along the
/// diagonal, `n` points in all; and the model EM would hold midway.
fn data(n: usize, d: usize, k: usize, spacing: f64) -> (Vec<f64>, GaussianMixtureModel) {
    data_as(CovarianceType::Full, n, d, k, spacing)
}

/// [`data`] with a model of covariance type `t` (full, and tied's one
/// matrix: 1.2 on the diagonal, 0.1 off it; diag: 1.2).
fn data_as(t: CovarianceType, n: usize, d: usize, k: usize, spacing: f64) -> (Vec<f64>, GaussianMixtureModel) {
    assert_eq!(n % k, 0, "whole blobs");
    let mut rng = StdRng::seed_from_u64(37);
    let x = blobs(&mut rng, k, n / k, d, spacing).unwrap();
    let means: Vec<f64> = (0..k * d).map(|i| (i / d) as f64 * spacing + 0.3 * standard_normal(&mut rng)).collect();
    let cov: Vec<f64> = match t {
        CovarianceType::Diag => vec![1.2; k * d],
        CovarianceType::Tied => (0..d * d).map(|e| if e / d == e % d { 1.2 } else { 0.1 }).collect(),
        _ => (0..k).flat_map(|_| (0..d * d).map(|e| if e / d == e % d { 1.2 } else { 0.1 })).collect(),
    };
    let model =
        GaussianMixtureModel::from_parameters(t, d, vec![1.0 / k as f64; k], means, cov).expect("a valid model");
    (x, model)
}

fn seed_data(c: &mut Criterion) {
    let (n, d, k) = (4_000_000, 2, 4);
    let (x, model) = data(n, d, k, 5.0);
    let mut g = c.benchmark_group("gmm_iteration/seed_4e6x2_k4");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let mut r = vec![0.0; n * k];
    g.bench_function(BenchmarkId::new("mirror_estep", "sequential"), |b| {
        b.iter(|| expectation(black_box(&x), d, model.means(), model.covariances(), &mut r).unwrap())
    });
    drop(r);
    for threads in [1, 2] {
        let pool = Pool::new(threads).unwrap();
        let rayon = Rayon::new(threads).unwrap();
        let static_ = pool.with_schedule(Schedule::Static { chunk: None }).unwrap();
        let guided = pool.with_schedule(Schedule::Guided { min_chunk: 1 }).unwrap();
        let spawn = SpawnPerCall::new(threads, Schedule::Static { chunk: None }).unwrap();
        let mut execs: Vec<(String, &dyn Executor)> =
            vec![("pool-static".into(), &static_), ("pool-guided".into(), &guided), ("rayon".into(), &rayon)];
        execs.push(("spawn".into(), &spawn));
        if threads == 1 {
            execs.push(("sequential".into(), &Sequential));
        }
        for (label, exec) in &execs {
            for (mode, p) in [("data", Parallelism::Data), ("model", Parallelism::Model)] {
                g.bench_function(BenchmarkId::new(format!("{mode}/{threads}t"), label), |b| {
                    b.iter(|| model.step(*exec, black_box(&x), p, 1e-6).unwrap())
                });
            }
        }
        g.bench_function(BenchmarkId::new(format!("summarize/{threads}t"), "pool-static"), |b| {
            b.iter(|| summarize(&static_, black_box(&x)))
        });
    }
    g.finish();
}

/// d ∈ {2, 8, 32} and K ∈ {4, 16} on 10⁶ points, with diagonal
/// covariances too for d > 2; then large d, where the full moments of a
/// block are summed across lanes tile by tile: d ∈ {64, 128}, K = 16 on 10⁵.
fn shapes(c: &mut Criterion) {
    let small: Vec<_> = [2, 8, 32].into_iter().flat_map(|d| [(d, 4), (d, 16)]).collect();
    steps_on(c, "1e6_points_2t", 1_000_000, &small, true);
    steps_on(c, "1e5_points_2t", 100_000, &[(64, 16), (128, 16)], false);
}

/// One EM iteration on 2 threads on `n` points for each `(d, k)` of
/// `cases`, full covariances, and diagonal ones too if `diag` and d > 2.
fn steps_on(c: &mut Criterion, name: &str, n: usize, cases: &[(usize, usize)], diag: bool) {
    let pool = Pool::new(2).unwrap();
    let mut g = c.benchmark_group(format!("gmm_iteration/{name}"));
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for &(d, k) in cases {
        let mut types = vec![("data", CovarianceType::Full)];
        if diag && d > 2 {
            types.push(("diag", CovarianceType::Diag));
        }
        for (label, t) in types {
            let (x, model) = data_as(t, n, d, k, 4.0);
            g.bench_function(BenchmarkId::new(label, format!("d{d}_k{k}")), |b| {
                b.iter(|| model.step(&pool, black_box(&x), Parallelism::Data, 1e-6).unwrap())
            });
        }
    }
    g.finish();
}

/// The large-d shapes, one EM iteration on 2 threads, each beside
/// `fma_floor`: [`fma_peak`] on the same pool doing the iteration's
/// `n·k·(d² + 2d)` multiply-adds (the quadratic form and the moments with
/// triangular factors and symmetric moments) in registers, so the ratio of
/// the two times is how far the iteration is from this machine's FMA units,
/// both measured in the same run.
fn large_d(c: &mut Criterion) {
    let pool = Pool::new(2).unwrap();
    let mut g = c.benchmark_group("gmm_large_d_2t");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for (n, d, k) in [(200_000, 16, 8), (50_000, 64, 16), (20_000, 256, 8), (4_000, 1000, 4)] {
        let (x, model) = data(n, d, k, 4.0);
        let id = format!("{n}x{d}_k{k}");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("step", &id), |b| {
            b.iter(|| model.step(&pool, black_box(&x), Parallelism::Data, 1e-6).unwrap())
        });
        // Tied: one product per row for the densities, whatever `k`.
        let (_, tied) = data_as(CovarianceType::Tied, n, d, k, 4.0);
        g.bench_function(BenchmarkId::new("step_tied", &id), |b| {
            b.iter(|| tied.step(&pool, black_box(&x), Parallelism::Data, 1e-6).unwrap())
        });
        let per_thread = n * k * (d * d + 2 * d) / 2;
        g.bench_function(BenchmarkId::new("fma_floor", &id), |b| b.iter(|| fma_peak(&pool, black_box(per_thread))));
    }
    g.finish();
}

/// A fit with `max_iter = 0`: the initialization and nothing else of EM,
/// on the seed's data and on 10⁶ points with d = 8, K = 16.
fn init(c: &mut Criterion) {
    init_on(c, "seed_4e6x2_k4", 4_000_000, 2, 4, 5.0);
    init_on(c, "1e6x8_k16", 1_000_000, 8, 16, 4.0);
}

fn init_on(c: &mut Criterion, name: &str, n: usize, d: usize, k: usize, spacing: f64) {
    let (x, _) = data(n, d, k, spacing);
    let mut g = c.benchmark_group(format!("gmm_init/{name}"));
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for threads in [1, 2] {
        let pool = Pool::new(threads).unwrap();
        for (label, init) in [("kmeans", Init::KMeans), ("kmeans++", Init::KMeansPlusPlus)] {
            let gm = GaussianMixture::new(k).init(init).max_iter(0).seed(0);
            g.bench_function(BenchmarkId::new(format!("{label}/{threads}t"), "pool-static"), |b| {
                b.iter(|| gm.fit_with(&pool, black_box(&x), d).unwrap())
            });
        }
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    seed_data(c);
    shapes(c);
    large_d(c);
    init(c);
}

fn main() {
    common::run(bench);
}
