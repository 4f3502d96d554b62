//! The Gaussian mixture: against a plain reference EM written here (obvious
//! loops, explicit inverses, exp-then-normalise), the mirror, closed forms,
//! determinism across executors, hard data and errors. The seed's data sets
//! and its own EM are in `seed_em.rs`.

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

mod common;

use common::linalg::{identity, inverse_and_log_det, random_spd};
use common::{Fixture, THREADS, on_every_path, schedules, size};
use nogil::data::standard_normal;
use nogil::gmm::{CovarianceType, GaussianMixture, GaussianMixtureModel, Init, InitialParams, Parallelism};
use nogil::kernels::gauss::{Factor, Gaussians, LN_2PI, log_densities, log_probability_raw};
use nogil::sched::MAX_THREADS;
use nogil::{Error, Pool, Schedule, Sequential, SpawnPerCall};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const TYPES: [CovarianceType; 4] =
    [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical];

// ---------------------------------------------------------------------------
// The reference: plain EM, as a textbook writes it.

/// Expands covariances of any type to `k` full `d × d` matrices.
fn full_covariances(t: CovarianceType, cov: &[f64], k: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; k * d * d];
    for c in 0..k {
        for i in 0..d {
            for j in 0..d {
                out[c * d * d + i * d + j] = match t {
                    CovarianceType::Full => cov[c * d * d + i * d + j],
                    CovarianceType::Tied => cov[i * d + j],
                    CovarianceType::Diag => {
                        if i == j {
                            cov[c * d + i]
                        } else {
                            0.0
                        }
                    }
                    CovarianceType::Spherical => {
                        if i == j {
                            cov[c]
                        } else {
                            0.0
                        }
                    }
                };
            }
        }
    }
    out
}

struct Reference {
    weights: Vec<f64>,
    means: Vec<f64>,
    covariances: Vec<f64>,
    lower_bounds: Vec<f64>,
}

/// `iters` EM iterations from the given parameters, scikit-learn's M-step.
#[allow(clippy::too_many_arguments)]
fn reference_em(
    t: CovarianceType,
    x: &[f64],
    d: usize,
    mut w: Vec<f64>,
    mut mu: Vec<f64>,
    mut cov: Vec<f64>,
    reg: f64,
    iters: usize,
) -> Reference {
    let n = x.len() / d;
    let k = w.len();
    let mut lower_bounds = vec![];
    for _ in 0..iters {
        // E-step: explicit inverses, densities, exp-then-normalise (the
        // data are well-conditioned, so nothing underflows).
        let full = full_covariances(t, &cov, k, d);
        let mut r = vec![0.0; n * k];
        let mut ll = 0.0;
        for c in 0..k {
            let (inv, log_det) = inverse_and_log_det(&full[c * d * d..(c + 1) * d * d], d);
            for i in 0..n {
                let mut q = 0.0;
                for a in 0..d {
                    for b in 0..d {
                        q += (x[i * d + a] - mu[c * d + a]) * inv[a * d + b] * (x[i * d + b] - mu[c * d + b]);
                    }
                }
                r[i * k + c] = w[c] * (-0.5 * (d as f64 * LN_2PI + log_det + q)).exp();
            }
        }
        for i in 0..n {
            let s: f64 = r[i * k..(i + 1) * k].iter().sum();
            ll += s.ln();
            for c in 0..k {
                r[i * k + c] /= s;
            }
        }
        lower_bounds.push(ll / n as f64);
        // M-step.
        let nk: Vec<f64> = (0..k).map(|c| (0..n).map(|i| r[i * k + c]).sum::<f64>() + 10.0 * f64::EPSILON).collect();
        let total: f64 = nk.iter().sum();
        w = nk.iter().map(|v| v / total).collect();
        for c in 0..k {
            for a in 0..d {
                mu[c * d + a] = (0..n).map(|i| r[i * k + c] * x[i * d + a]).sum::<f64>() / nk[c];
            }
        }
        let mut fullcov = vec![0.0; k * d * d];
        for c in 0..k {
            for a in 0..d {
                for b in 0..d {
                    fullcov[c * d * d + a * d + b] = (0..n)
                        .map(|i| r[i * k + c] * (x[i * d + a] - mu[c * d + a]) * (x[i * d + b] - mu[c * d + b]))
                        .sum::<f64>()
                        / nk[c];
                }
            }
        }
        cov = match t {
            CovarianceType::Full => {
                let mut v = fullcov;
                for c in 0..k {
                    for a in 0..d {
                        v[c * d * d + a * d + a] += reg;
                    }
                }
                v
            }
            CovarianceType::Tied => {
                let mut v = vec![0.0; d * d];
                for c in 0..k {
                    for e in 0..d * d {
                        v[e] += nk[c] * fullcov[c * d * d + e] / total;
                    }
                }
                for a in 0..d {
                    v[a * d + a] += reg;
                }
                v
            }
            CovarianceType::Diag => (0..k * d).map(|e| fullcov[(e / d) * d * d + (e % d) * d + e % d] + reg).collect(),
            CovarianceType::Spherical => {
                (0..k).map(|c| (0..d).map(|a| fullcov[c * d * d + a * d + a] + reg).sum::<f64>() / d as f64).collect()
            }
        };
    }
    Reference { weights: w, means: mu, covariances: cov, lower_bounds }
}

/// `k` well-separated blobs in `d` dimensions, `per` points each, with
/// per-feature scales so covariances are not all alike.
fn blobs(k: usize, d: usize, per: usize, rng: &mut StdRng) -> (Vec<f64>, Vec<f64>) {
    let centers: Vec<f64> = (0..k * d).map(|_| rng.random_range(-12.0..12.0)).collect();
    let mut x = Vec::with_capacity(k * per * d);
    for c in 0..k {
        for _ in 0..per {
            let z: Vec<f64> = (0..d).map(|_| standard_normal(rng)).collect();
            for a in 0..d {
                // A mild correlation with the previous feature.
                let corr = if a > 0 { 0.3 * z[a - 1] } else { 0.0 };
                x.push(centers[c * d + a] + (0.5 + 0.1 * (a % 3) as f64) * z[a] + corr);
            }
        }
    }
    (x, centers)
}

fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = w.abs().max(1.0);
        assert!((g - w).abs() <= rel * scale, "{what}[{i}]: got {g}, want {w} (rel diff {:e})", (g - w).abs() / scale);
    }
}

fn initial_for(t: CovarianceType, k: usize, d: usize, centers: &[f64], rng: &mut StdRng) -> InitialParams {
    let means: Vec<f64> = centers.iter().map(|c| c + 0.3 * standard_normal(rng)).collect();
    let covariances = match t {
        CovarianceType::Full => (0..k).flat_map(|_| identity(d)).collect(),
        CovarianceType::Tied => identity(d),
        CovarianceType::Diag => vec![1.0; k * d],
        CovarianceType::Spherical => vec![1.0; k],
    };
    InitialParams {
        weights: Some(vec![1.0 / k as f64; k]),
        means: Some(means),
        covariances: Some(covariances),
        precisions: None,
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn agrees_with_the_reference_em_for_every_type_dimension_and_k() {
    on_every_path(|| {
        let dims: &[usize] = if cfg!(miri) { &[2] } else { &[1, 2, 3, 5, 8, 17] };
        let ks: &[usize] = if cfg!(miri) { &[2] } else { &[1, 2, 4, 7] };
        let mut rng = StdRng::seed_from_u64(42);
        for &d in dims {
            for &k in ks {
                let (x, centers) = blobs(k, d, size(60, 5), &mut rng);
                for t in TYPES {
                    let init = initial_for(t, k, d, &centers, &mut rng);
                    assert_agrees_with_reference_em(t, &x, d, init, size(8, 2));
                }
            }
        }
    });
}

/// Full moments are summed across lanes tile by tile where they would take
/// more than 1 MiB in lanes per thread (30·1,128 of them here: 1.03 MiB
/// with 4 lanes, twice that with 8), below the dimension where they are
/// summed in micro-tiles: the same agreement, and, over three blocks of
/// 6,016 rows, the same bits on every thread count.
#[test]
#[cfg_attr(miri, ignore = "minutes under Miri; the kernel's unit test runs the summed path under Miri")]
fn agrees_with_the_reference_em_where_full_moments_are_summed_across_lanes() {
    let (k, d) = (30, 47);
    let mut rng = StdRng::seed_from_u64(43);
    let (x, centers) = blobs(k, d, 2 * d, &mut rng);
    for t in [CovarianceType::Full, CovarianceType::Tied] {
        let init = initial_for(t, k, d, &centers, &mut rng);
        assert_agrees_with_reference_em(t, &x, d, init, 4);
    }
    let (x, _) = blobs(k, d, 500, &mut rng);
    let gm = GaussianMixture::new(k).max_iter(2).seed(1);
    let model = gm.fit_with(&Sequential, &x, d).unwrap();
    for threads in [2, 3] {
        let got = gm.fit_with(&Pool::new(threads).unwrap(), &x, d).unwrap();
        assert!(got == model, "{threads} threads: parameters differ");
    }
}

/// From d = 48 the full moments are a register-blocked rank update
/// (micro-tiles of 8 × 24 or 4 × 12 moments, lanes along the coordinates):
/// the same agreement with the reference at dimensions on and off the
/// tiles' edges, for full and tied covariances, on every path.
#[test]
#[cfg_attr(miri, ignore = "minutes under Miri; the kernel's unit test runs the micro-tiles under Miri")]
fn agrees_with_the_reference_em_where_full_moments_are_micro_tiles() {
    on_every_path(|| {
        let mut rng = StdRng::seed_from_u64(44);
        for (k, d) in [(2, 48), (3, 50), (2, 64), (1, 97)] {
            let (x, centers) = blobs(k, d, 2 * d + 7, &mut rng);
            for t in [CovarianceType::Full, CovarianceType::Tied] {
                let init = initial_for(t, k, d, &centers, &mut rng);
                assert_agrees_with_reference_em(t, &x, d, init, 3);
            }
        }
    });
}

/// A sequential fit of `x` from `init` with `tol = 0` agrees with
/// [`reference_em`] to 1e-10 relative after `iters` iterations: weights,
/// means, covariances and lower bounds.
fn assert_agrees_with_reference_em(t: CovarianceType, x: &[f64], d: usize, init: InitialParams, iters: usize) {
    let k = init.weights.as_ref().unwrap().len();
    let model = GaussianMixture::new(k)
        .covariance_type(t)
        .tol(0.0)
        .max_iter(iters)
        .init(Init::Given(init.clone()))
        .fit_with(&Sequential, x, d)
        .unwrap();
    let r = reference_em(t, x, d, init.weights.unwrap(), init.means.unwrap(), init.covariances.unwrap(), 1e-6, iters);
    let what = format!("{t} d={d} k={k}");
    assert_eq!(model.n_iter(), iters, "{what}: tol = 0 runs every iteration");
    assert!(!model.converged(), "{what}");
    assert_close(&format!("{what} weights"), model.weights(), &r.weights, 1e-10);
    assert_close(&format!("{what} means"), model.means(), &r.means, 1e-10);
    assert_close(&format!("{what} covariances"), model.covariances(), &r.covariances, 1e-10);
    assert_close(&format!("{what} lower bounds"), model.lower_bounds(), &r.lower_bounds, 1e-10);
}

// ---------------------------------------------------------------------------
// Log-densities: mirror, fast kernel, closed form.

#[test]
fn fast_log_densities_agree_with_the_mirror_on_random_spd_matrices() {
    on_every_path(|| {
        let mut rng = StdRng::seed_from_u64(7);
        let dims: &[usize] = if cfg!(miri) { &[1, 3] } else { &[1, 2, 3, 4, 5, 8, 16] };
        for &d in dims {
            let k = 3;
            let n = size(257, 11);
            let cov: Vec<Vec<f64>> = (0..k).map(|_| random_spd(d, &mut rng)).collect();
            let means: Vec<f64> = (0..k * d).map(|_| standard_normal(&mut rng)).collect();
            let x: Vec<f64> = (0..n * d).map(|_| 2.0 * standard_normal(&mut rng)).collect();
            let mut factors = vec![];
            for c in &cov {
                let l = nogil::kernels::gauss::cholesky(c, d).unwrap();
                factors.extend(nogil::kernels::gauss::invert_lower(&l, d));
            }
            let g = Gaussians::new(d, Factor::Triangular, means.clone(), factors, &vec![0.0; k]).unwrap();
            let fast = log_densities(&Sequential, &g, &x).unwrap();
            for (c, m) in cov.iter().enumerate() {
                let (inv, log_det) = inverse_and_log_det(m, d);
                // The seed indexes inv_cov[i + j*d]: column-major; for a
                // symmetric inverse the same, but pass it transposed to be exact.
                let mut inv_cm = vec![0.0; d * d];
                for i in 0..d {
                    for j in 0..d {
                        inv_cm[i + j * d] = inv[i * d + j];
                    }
                }
                for i in 0..n {
                    // SAFETY: row i has d values; means, inverse sized d and d*d.
                    let mirror = unsafe {
                        log_probability_raw(x[i * d..].as_ptr(), means[c * d..].as_ptr(), inv_cm.as_ptr(), log_det, d)
                    };
                    let got = fast[i * k + c];
                    assert!(
                        (got - mirror).abs() <= 1e-11 * mirror.abs().max(1.0),
                        "d={d} row {i} component {c}: fast {got}, mirror {mirror}"
                    );
                }
            }
        }
    });
}

#[test]
fn log_densities_match_the_standard_normal_closed_form() {
    for d in [1, 2, 5, 9] {
        let g = Gaussians::new(d, Factor::Triangular, vec![0.0; d], identity(d), &[0.0]).unwrap();
        let gd = Gaussians::new(d, Factor::Diagonal, vec![0.0; d], vec![1.0; d], &[0.0]).unwrap();
        let x: Vec<f64> = (0..size(40, 9) * d).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
        let tri = log_densities(&Sequential, &g, &x).unwrap();
        let diag = log_densities(&Sequential, &gd, &x).unwrap();
        for (i, row) in x.chunks_exact(d).enumerate() {
            let want = -0.5 * (d as f64 * LN_2PI + row.iter().map(|v| v * v).sum::<f64>());
            let raw = unsafe {
                // SAFETY: row has d values, the zero mean d, the identity d*d.
                log_probability_raw(row.as_ptr(), vec![0.0; d].as_ptr(), identity(d).as_ptr(), 0.0, d)
            };
            for (name, v) in [("triangular", tri[i]), ("diagonal", diag[i]), ("mirror", raw)] {
                assert!((v - want).abs() <= 1e-13 * want.abs(), "d={d} row {i} {name}: {v} vs {want}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Determinism.

#[test]
fn parameters_are_bit_identical_across_executors_schedules_threads_and_parallelism() {
    on_every_path(|| {
        let mut rng = StdRng::seed_from_u64(11);
        let (x, _) = blobs(3, 3, size(3_000, 12), &mut rng);
        let types: &[CovarianceType] =
            if cfg!(miri) { &[CovarianceType::Full] } else { &[CovarianceType::Full, CovarianceType::Diag] };
        // And d = 64: full moments in micro-tiles, over blocks of 1,024 rows.
        let wide = if cfg!(miri) { None } else { Some(blobs(3, 64, 1_700, &mut rng).0) };
        let cases = types.iter().map(|&t| (t, 3, &x, size(20, 2)));
        // Tied at d = 64: one product per row, then an offset per component.
        let wide = wide.iter().flat_map(|x| [(CovarianceType::Full, 64, x, 2), (CovarianceType::Tied, 64, x, 2)]);
        for (t, d, x, iters) in cases.chain(wide) {
            let gm = GaussianMixture::new(3).covariance_type(t).max_iter(iters).seed(5);
            let reference = gm.fit_with(&Sequential, x, d).unwrap();
            let threads: &[usize] = if cfg!(miri) { &[3] } else { &[1, 2, 3, 7] };
            for &th in threads.iter().filter(|t| THREADS.contains(t) || !cfg!(miri)) {
                let fx = Fixture::new(th);
                for exec in fx.executors(&schedules(common::chunk_params(&[1, 7]))) {
                    for p in [Parallelism::Data, Parallelism::Model] {
                        let got = gm.clone().parallelism(p).fit_with(&exec, x, d).unwrap();
                        assert!(got == reference, "{t} d={d} {} {p:?}: parameters differ", exec.label());
                    }
                }
            }
        }
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn the_same_seed_gives_the_same_fit_and_n_init_keeps_the_best() {
    let mut rng = StdRng::seed_from_u64(12);
    let (x, _) = blobs(4, 2, size(500, 20), &mut rng);
    for init in [Init::KMeans, Init::KMeansPlusPlus, Init::RandomFromData, Init::Random] {
        let gm = GaussianMixture::new(4).init(init.clone()).seed(9);
        let a = gm.fit_with(&Sequential, &x, 2).unwrap();
        let b = gm.fit_with(&Sequential, &x, 2).unwrap();
        assert!(a == b, "{init:?}: same seed, different fits");
        let best = gm.clone().n_init(3).fit_with(&Sequential, &x, 2).unwrap();
        let runs: Vec<f64> =
            (0..3).map(|s| gm.clone().seed(9 + s).fit_with(&Sequential, &x, 2).unwrap().lower_bound()).collect();
        let max = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(best.lower_bound(), max, "{init:?}: n_init keeps the best of {runs:?}");
    }
}

// ---------------------------------------------------------------------------
// The model's methods and statistics.

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn predictions_scores_and_criteria_are_consistent() {
    let mut rng = StdRng::seed_from_u64(13);
    let (x, _) = blobs(3, 2, size(400, 20), &mut rng);
    let model = GaussianMixture::new(3).seed(1).fit_with(&Sequential, &x, 2).unwrap();
    let n = x.len() / 2;
    let proba = model.predict_proba_with(&Sequential, &x).unwrap();
    let labels = model.predict_with(&Sequential, &x).unwrap();
    let scores = model.score_samples_with(&Sequential, &x).unwrap();
    let dens = log_densities(&Sequential, model.gaussians(), &x).unwrap();
    for i in 0..n {
        let row = &proba[i * 3..(i + 1) * 3];
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "row {i} responsibilities sum to 1");
        let argmax = (0..3).fold(0, |b, c| if row[c] > row[b] { c } else { b });
        assert_eq!(labels[i], argmax, "row {i}");
        let lse = dens[i * 3..(i + 1) * 3].iter().map(|v| v.exp()).sum::<f64>().ln();
        assert!((scores[i] - lse).abs() < 1e-12 * lse.abs().max(1.0), "row {i}: {} vs {lse}", scores[i]);
    }
    let score = model.score_with(&Sequential, &x).unwrap();
    assert!((score - scores.iter().sum::<f64>() / n as f64).abs() < 1e-12);
    // The final E-step's score is one iteration past the last lower bound: not lower.
    assert!(score >= model.lower_bound() - 1e-9);
    let p = model.n_parameters();
    assert_eq!(p, 3 * 3 + 3 * 2 + 2, "full, k=3, d=2");
    let bic = model.bic(&x).unwrap();
    let aic = model.aic(&x).unwrap();
    assert!((bic - (-2.0 * score * n as f64 + p as f64 * (n as f64).ln())).abs() < 1e-6 * bic.abs());
    assert!((aic - (-2.0 * score * n as f64 + 2.0 * p as f64)).abs() < 1e-6 * aic.abs());
}

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn samples_follow_the_model() {
    let model = GaussianMixtureModel::from_parameters(
        CovarianceType::Full,
        2,
        vec![0.25, 0.75],
        vec![-5.0, 0.0, 5.0, 1.0],
        vec![1.0, 0.5, 0.5, 2.0, 0.5, 0.0, 0.0, 0.5],
    )
    .unwrap();
    let n = size(40_000, 50);
    let (x, labels) = model.sample(n, &mut StdRng::seed_from_u64(3)).unwrap();
    assert_eq!(x.len(), 2 * n);
    assert_eq!(labels.len(), n);
    assert!(labels.windows(2).all(|w| w[0] <= w[1]), "grouped by component");
    if !cfg!(miri) {
        let n0 = labels.iter().filter(|&&l| l == 0).count() as f64 / n as f64;
        assert!((n0 - 0.25).abs() < 0.01, "share of component 0: {n0}");
        let rows: Vec<&[f64]> = x.chunks_exact(2).zip(&labels).filter(|(_, l)| **l == 0).map(|(r, _)| r).collect();
        let m = rows.len() as f64;
        let mean = [rows.iter().map(|r| r[0]).sum::<f64>() / m, rows.iter().map(|r| r[1]).sum::<f64>() / m];
        let cov01 = rows.iter().map(|r| (r[0] - mean[0]) * (r[1] - mean[1])).sum::<f64>() / m;
        assert!((mean[0] + 5.0).abs() < 0.05 && mean[1].abs() < 0.05, "{mean:?}");
        assert!((cov01 - 0.5).abs() < 0.05, "covariance {cov01}");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn merged_statistics_of_chunks_give_the_next_em_iterate() {
    let mut rng = StdRng::seed_from_u64(14);
    let (x, _) = blobs(3, 3, size(700, 20), &mut rng);
    for t in TYPES {
        let model = GaussianMixture::new(3)
            .covariance_type(t)
            .tol(0.0)
            .max_iter(2)
            .seed(2)
            .fit_with(&Sequential, &x, 3)
            .unwrap();
        let whole = model.summarize(&Sequential, &x).unwrap();
        let cut = (x.len() / 3 / 3) * 3;
        let mut merged = model.summarize(&Sequential, &x[..cut]).unwrap();
        merged.merge(&model.summarize(&Sequential, &x[cut..]).unwrap()).unwrap();
        assert_eq!(merged.samples(), x.len() / 3);
        let a = GaussianMixtureModel::from_stats(&whole, 1e-6).unwrap();
        let b = GaussianMixtureModel::from_stats(&merged, 1e-6).unwrap();
        assert_close(&format!("{t} means"), b.means(), a.means(), 1e-12);
        assert_close(&format!("{t} covariances"), b.covariances(), a.covariances(), 1e-12);
        // One more iteration of the fit is the same M-step.
        let next = GaussianMixture::new(3)
            .covariance_type(t)
            .tol(0.0)
            .max_iter(3)
            .seed(2)
            .fit_with(&Sequential, &x, 3)
            .unwrap();
        assert!(next.means() == a.means(), "{t}: from_stats is EM's next iterate");
        // Statistics of another model do not merge.
        let moved: Vec<f64> = model.means().iter().map(|m| m + 0.5).collect();
        let other =
            GaussianMixtureModel::from_parameters(t, 3, model.weights().to_vec(), moved, model.covariances().to_vec())
                .unwrap();
        assert!(merged.merge(&other.summarize(&Sequential, &x).unwrap()).is_err());
    }
}

/// Merging statistics into themselves doubles their sample count: past
/// `usize::MAX` that is an error that leaves them as they were, never a
/// count that wraps to a small number.
#[test]
fn a_merge_whose_sample_count_overflows_is_an_error() {
    let model =
        GaussianMixtureModel::from_parameters(CovarianceType::Diag, 2, vec![1.0], vec![0.0, 0.0], vec![1.0, 1.0])
            .unwrap();
    let mut stats = model.summarize(&Sequential, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let mut doublings = 0;
    let e = loop {
        let before = stats.clone();
        match stats.merge(&before) {
            Ok(()) => doublings += 1,
            Err(e) => {
                assert_eq!(stats.samples(), before.samples());
                assert_eq!(stats.weights_sum(), before.weights_sum());
                break e;
            }
        }
    };
    // 3·2⁶² fits in 64 bits, 3·2⁶³ does not.
    assert_eq!(doublings, usize::BITS - 2, "{e}");
    assert!(matches!(e, Error::InvalidParameter { .. }), "{e}");
}

// ---------------------------------------------------------------------------
// Hard data.

fn finite_model(m: &GaussianMixtureModel) {
    let all = m.weights().iter().chain(m.means()).chain(m.covariances()).chain(m.precisions_cholesky());
    for v in all {
        assert!(v.is_finite(), "non-finite parameter in {m:?}");
    }
    assert!((m.weights().iter().sum::<f64>() - 1.0).abs() < 1e-12);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn hard_data_give_sensible_parameters_or_the_documented_error() {
    // Every point the same: one component at the point, covariances reg_covar.
    let x = [3.0, -1.0].repeat(size(100, 10));
    for t in TYPES {
        let m = GaussianMixture::new(2).covariance_type(t).fit_with(&Sequential, &x, 2).unwrap();
        finite_model(&m);
        assert!(m.means().chunks_exact(2).all(|c| c == [3.0, -1.0]), "{t}: {:?}", m.means());
        assert!(m.covariances().iter().all(|&c| c == 0.0 || (c - 1e-6).abs() < 1e-12), "{t}: {:?}", m.covariances());
        // Without reg_covar the covariance is singular: the documented error.
        let err = GaussianMixture::new(2).covariance_type(t).reg_covar(0.0).fit_with(&Sequential, &x, 2).unwrap_err();
        assert!(matches!(err, Error::SingularCovariance { .. }), "{t}: {err}");
    }
    // A constant feature.
    let mut rng = StdRng::seed_from_u64(15);
    let x: Vec<f64> =
        (0..size(300, 12)).flat_map(|i| [standard_normal(&mut rng) + (i % 2) as f64 * 8.0, 4.0]).collect();
    for t in TYPES {
        let m = GaussianMixture::new(2).covariance_type(t).fit_with(&Sequential, &x, 2).unwrap();
        finite_model(&m);
    }
    // One point per component.
    let x = [0.0, 0.0, 5.0, 5.0, -5.0, 2.0];
    for t in TYPES {
        let m = GaussianMixture::new(3).covariance_type(t).fit_with(&Sequential, &x, 2).unwrap();
        finite_model(&m);
        let mut means: Vec<&[f64]> = m.means().chunks_exact(2).collect();
        means.sort_by(|a, b| a[0].total_cmp(&b[0]));
        assert_eq!(means, [&[-5.0, 2.0][..], &[0.0, 0.0], &[5.0, 5.0]], "{t}");
    }
    // Data offset by 10⁸ give the same fit, shifted.
    let (x, _) = blobs(2, 2, size(500, 20), &mut rng);
    let far: Vec<f64> = x.iter().map(|v| v + 1e8).collect();
    for t in TYPES {
        let gm = GaussianMixture::new(2).covariance_type(t).seed(4);
        let near = gm.fit_with(&Sequential, &x, 2).unwrap();
        let off = gm.fit_with(&Sequential, &far, 2).unwrap();
        let shifted: Vec<f64> = off.means().iter().map(|v| v - 1e8).collect();
        assert_close(&format!("{t} offset means"), &shifted, near.means(), 1e-6);
        assert_close(&format!("{t} offset covariances"), off.covariances(), near.covariances(), 1e-6);
    }
    // A component that empties: started far from every point.
    let (x, centers) = blobs(2, 2, size(200, 10), &mut rng);
    let mut means = centers.clone();
    means.extend([1e4, 1e4]);
    let m = GaussianMixture::new(3)
        .init(Init::Given(InitialParams {
            weights: Some(vec![0.4, 0.4, 0.2]),
            means: Some(means),
            covariances: Some((0..3).flat_map(|_| identity(2)).collect()),
            precisions: None,
        }))
        .fit_with(&Sequential, &x, 2)
        .unwrap();
    finite_model(&m);
    assert!(m.weights()[2] < 1e-10, "the far component emptied: {:?}", m.weights());
}

// ---------------------------------------------------------------------------
// Errors.

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn bad_input_is_an_error_never_a_panic() {
    let x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let fit = |gm: GaussianMixture, x: &[f64], d| gm.fit_with(&Sequential, x, d).unwrap_err();
    assert_eq!(fit(GaussianMixture::new(2), &x, 0), Error::ZeroDimension);
    assert!(matches!(fit(GaussianMixture::new(2), &x, 3), Error::Shape { .. }));
    let mut bad = x;
    bad[5] = f64::NAN;
    assert_eq!(fit(GaussianMixture::new(2), &bad, 2), Error::NonFinite { row: 2, column: 1 });
    bad[5] = f64::NEG_INFINITY;
    assert_eq!(fit(GaussianMixture::new(2), &bad, 2), Error::NonFinite { row: 2, column: 1 });
    // The first bad value of many, deep in the vectorized part of a block
    // (blocks of 4096 values): extreme finite values beside it are fine.
    let mut big: Vec<f64> = (0..10_000).map(|i| (i % 97) as f64).collect();
    big[..4].copy_from_slice(&[f64::MAX, -f64::MAX, 5e-324, -0.0]);
    for (at, v) in [(9001, f64::NAN), (5003, f64::NEG_INFINITY), (7000, f64::INFINITY)] {
        big[at] = v;
    }
    assert_eq!(fit(GaussianMixture::new(2), &big, 4), Error::NonFinite { row: 1250, column: 3 });
    assert_eq!(fit(GaussianMixture::new(5), &x, 2), Error::TooFewPoints { n: 4, components: 5 });
    assert!(matches!(fit(GaussianMixture::new(0), &x, 2), Error::InvalidParameter { name: "n_components", .. }));
    assert!(matches!(fit(GaussianMixture::new(2).n_init(0), &x, 2), Error::InvalidParameter { name: "n_init", .. }));
    for v in [-1e-3, f64::NAN, f64::INFINITY] {
        assert!(matches!(fit(GaussianMixture::new(2).tol(v), &x, 2), Error::InvalidParameter { name: "tol", .. }));
        assert!(matches!(
            fit(GaussianMixture::new(2).reg_covar(v), &x, 2),
            Error::InvalidParameter { name: "reg_covar", .. }
        ));
    }
    let given = |p: InitialParams| GaussianMixture::new(2).init(Init::Given(p));
    let err = fit(given(InitialParams { means: Some(vec![0.0; 3]), ..Default::default() }), &x, 2);
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    for w in [vec![0.7, 0.7], vec![0.5, 0.500_000_1], vec![0.5, 0.5 + 2e-8], vec![1.0 + 1e-9, -1e-9]] {
        let err = fit(given(InitialParams { weights: Some(w), ..Default::default() }), &x, 2);
        assert!(matches!(err, Error::InvalidParameter { name: "weights_init", .. }), "{err}");
    }
    // Within scikit-learn's 1e-8 of 1, the weights are accepted as given.
    let near = vec![0.25, 0.75 + 5e-9];
    let ok = given(InitialParams { weights: Some(near.clone()), ..Default::default() }).max_iter(0).fit(&x, 2);
    assert_eq!(ok.expect("a sum within 1e-8 of 1 is accepted").weights(), &near[..]);
    let not_pd = vec![1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 1.0];
    let err = fit(given(InitialParams { covariances: Some(not_pd.clone()), ..Default::default() }), &x, 2);
    assert_eq!(err, Error::NotPositiveDefinite { what: "covariances_init", component: 1 });
    let err = fit(given(InitialParams { precisions: Some(not_pd), ..Default::default() }), &x, 2);
    assert_eq!(err, Error::NotPositiveDefinite { what: "precisions_init", component: 1 });
    let err = fit(
        given(InitialParams {
            covariances: Some(identity(2).repeat(2)),
            precisions: Some(identity(2).repeat(2)),
            ..Default::default()
        }),
        &x,
        2,
    );
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
    // Methods on a fitted model check their data too.
    let m = GaussianMixture::new(2).fit_with(&Sequential, &x, 2).unwrap();
    assert!(matches!(m.predict_with(&Sequential, &x[..3]), Err(Error::Shape { .. })));
    assert_eq!(m.score_samples_with(&Sequential, &bad).unwrap_err(), Error::NonFinite { row: 2, column: 1 });
    assert!(m.score_with(&Sequential, &[]).is_err());
    assert!(GaussianMixtureModel::from_stats(&m.summarize(&Sequential, &x).unwrap(), -1.0).is_err());
    // Statistics of no data have no M-step (it would return the old means
    // with made-up weights), whether from an empty chunk or merged empties.
    let mut none = m.summarize(&Sequential, &[]).unwrap();
    none.merge(&m.summarize(&Sequential, &[]).unwrap()).unwrap();
    assert_eq!(GaussianMixtureModel::from_stats(&none, 1e-6).unwrap_err(), Error::TooFewPoints { n: 0, components: 2 });
    assert_eq!(
        m.step(&Sequential, &[], Parallelism::Data, 1e-6).unwrap_err(),
        Error::TooFewPoints { n: 0, components: 2 }
    );
    none.merge(&m.summarize(&Sequential, &x[..2]).unwrap()).unwrap();
    assert!(GaussianMixtureModel::from_stats(&none, 1e-6).is_ok());
    // A pass finds bad data through its non-finite likelihood, wherever in a
    // tile or block the bad row sits.
    let many: Vec<f64> = x.iter().copied().cycle().take(2 * 5003).collect();
    for (at, v) in [(1_401, f64::NAN), (9_999, f64::INFINITY), (4_096, f64::NEG_INFINITY)] {
        let mut b = many.clone();
        b[at] = v;
        let want = Error::NonFinite { row: at / 2, column: at % 2 };
        assert_eq!(m.summarize(&Sequential, &b).unwrap_err(), want);
        assert_eq!(m.step(&Pool::new(2).unwrap(), &b, Parallelism::Data, 1e-6).unwrap_err(), want);
    }
    // tol = 0 runs every iteration; max_iter = 0 returns the initialization.
    let m = GaussianMixture::new(2).tol(0.0).max_iter(7).fit_with(&Sequential, &x, 2).unwrap();
    assert_eq!((m.n_iter(), m.converged(), m.lower_bounds().len()), (7, false, 7));
    let m = GaussianMixture::new(2).max_iter(0).fit_with(&Sequential, &x, 2).unwrap();
    assert_eq!((m.n_iter(), m.lower_bounds().len()), (0, 0));
    // Errors say what to do.
    assert!(Error::SingularCovariance { component: 1 }.to_string().contains("raise reg_covar"));
    assert!(Error::NonFinite { row: 2, column: 1 }.to_string().contains("row 2"));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "no unsafe code of its own, and minutes under Miri; the kernels' unsafe paths run under Miri in the log-density and determinism tests"
)]
fn huge_values_overflow_into_an_error_not_a_nan() {
    // Finite data whose squared distances overflow.
    let x: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { 1e200 } else { -1e200 } * (1.0 + i as f64)).collect();
    let r = GaussianMixture::new(2).fit_with(&Sequential, &x, 2);
    match r {
        Ok(m) => finite_model(&m),
        Err(e) => assert!(
            matches!(e, Error::NonFiniteLikelihood { .. } | Error::CovarianceOverflow { .. }),
            "unexpected error {e}"
        ),
    }
    // A fitted model asked about a point whose every squared distance
    // overflows: every per-row answer is that error, not an arbitrary label.
    let m = GaussianMixture::new(2).fit_with(&Sequential, &x.iter().map(|v| v / 1e199).collect::<Vec<_>>(), 2).unwrap();
    let far = [1e300, -1e300, 0.0, 0.0];
    let want = Error::NonFiniteLikelihood { iteration: 0 };
    assert_eq!(m.predict_with(&Sequential, &far).unwrap_err(), want);
    assert_eq!(m.predict_proba_with(&Sequential, &far).unwrap_err(), want);
    assert_eq!(m.score_samples_with(&Sequential, &far).unwrap_err(), want);
    assert_eq!(m.predict_with(&Sequential, &far[2..]).unwrap().len(), 1);
    // One column that alone overflows, for every covariance type: the error
    // says so (not "singular", whose advice to raise reg_covar would not help).
    let x: Vec<f64> = (0..60).map(|i| if i % 2 == 0 { 1e160 * (i % 7) as f64 } else { (i % 5) as f64 }).collect();
    for t in [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical] {
        let e = GaussianMixture::new(2).covariance_type(t).fit_with(&Sequential, &x, 2).unwrap_err();
        assert!(matches!(e, Error::CovarianceOverflow { .. }), "{t}: {e}");
        assert!(e.to_string().contains("standardize"), "{e}");
    }
}

/// Given precisions are factored as given (scikit-learn takes their
/// Cholesky factor), not inverted to covariances and back: with a condition
/// number of 10¹², the round trip put errors of about 10⁻⁴·‖P‖ into `U·Uᵀ`.
#[test]
fn given_precisions_keep_their_digits() {
    let d = 3;
    // P = Q·diag(10⁶, 1, 10⁻⁶)·Qᵀ, Q a reflection: symmetric to the bit, as
    // each entry sums the same products in the same order.
    let q = |i: usize, j: usize| if i == j { 1.0 / 3.0 } else { -2.0 / 3.0 };
    let eig = [1e6, 1.0, 1e-6];
    let p: Vec<f64> = (0..d * d).map(|at| (0..d).map(|m| q(at / d, m) * eig[m] * q(at % d, m)).sum()).collect();
    let x: Vec<f64> = (0..60).map(|i| ((i * 37) % 11) as f64).collect();
    let scale = p.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    for (t, prec) in [
        (CovarianceType::Full, [p.clone(), identity(d)].concat()),
        (CovarianceType::Tied, p.clone()),
        (CovarianceType::Diag, vec![1e6, 3.0, 1e-6, 1.0, 2.0, 5.0]),
        (CovarianceType::Spherical, vec![1e6, 1e-6]),
    ] {
        let init = InitialParams {
            weights: Some(vec![0.5, 0.5]),
            means: Some(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            covariances: None,
            precisions: Some(prec.clone()),
        };
        let m = GaussianMixture::new(2).covariance_type(t).init(Init::Given(init)).max_iter(0).fit(&x, d).unwrap();
        let u = m.precisions_cholesky();
        match t {
            CovarianceType::Full | CovarianceType::Tied => {
                if t == CovarianceType::Full {
                    // The kernels' factors too: each row's log-likelihood
                    // from P directly (both have ln det P = 0).
                    let means = m.means();
                    for (row, got) in x.chunks_exact(d).zip(m.score_samples(&x).unwrap()) {
                        let dens = |c: usize| {
                            let v: Vec<f64> = (0..d).map(|i| row[i] - means[c * d + i]).collect();
                            let quad: f64 = (0..d * d).map(|at| v[at / d] * prec[c * d * d + at] * v[at % d]).sum();
                            0.5 * (-0.5 * (quad + d as f64 * LN_2PI)).exp()
                        };
                        let want = (dens(0) + dens(1)).ln();
                        assert!((got - want).abs() <= 1e-9 * want.abs(), "{row:?}: {got} vs {want}");
                    }
                }
                for (c, (u, want)) in u.chunks_exact(d * d).zip(prec.chunks_exact(d * d)).enumerate() {
                    for i in 0..d {
                        for j in 0..d {
                            let got: f64 = (0..d).map(|m| u[i * d + m] * u[j * d + m]).sum();
                            let err = (got - want[i * d + j]).abs();
                            assert!(err <= 1e-13 * scale, "{t} {c}: (U·Uᵀ)[{i}][{j}] = {got}, P = {}", want[i * d + j]);
                        }
                    }
                }
            }
            _ => {
                for (got, want) in u.iter().zip(&prec) {
                    assert!((got * got - want).abs() <= 4.0 * f64::EPSILON * want, "{t}: {got}² vs {want}");
                }
            }
        }
    }
}

/// A fit whose covariances and running sums cannot be allocated is an
/// error before any work, not an abort midway: two points of dimension 2²¹
/// (32 MB of data) make `k·d²` values about 2⁴⁹ bytes for two full
/// covariances (or one tied one and its `k` factors), beyond any address
/// space. A model-parallel fit's `k × n` densities are counted too.
#[test]
#[cfg_attr(miri, ignore = "2²² values built and scanned: too slow under Miri")]
fn a_fit_too_large_to_allocate_is_an_error_before_any_work() {
    let d = 1 << 21;
    let x: Vec<f64> = (0..2 * d).map(|i| (i % 3) as f64).collect();
    for t in [CovarianceType::Full, CovarianceType::Tied] {
        let e = GaussianMixture::new(2).covariance_type(t).fit_with(&Sequential, &x, d).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{t}: {e}");
        assert!(e.to_string().contains("2 components of dimension 2097152"), "{e}");
    }
    // n = k = 2²² one-dimensional points: the data are 32 MB, the
    // model-parallel densities 2⁴⁷ bytes.
    let n = 1 << 22;
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let e = GaussianMixture::new(n).parallelism(Parallelism::Model).fit_with(&Sequential, &x, 1).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
}

/// A model of 2²⁴ one-dimensional components answers per-row calls from
/// tiles of `k × 128` values, 16 GiB for each thread that takes rows: on
/// 4096 threads over 4096 rows that is 64 TiB, an error before any work.
#[test]
#[cfg_attr(miri, ignore = "a model of 2²⁴ components: too slow under Miri")]
fn per_row_calls_too_large_to_allocate_are_errors_before_any_work() {
    let k = 1 << 24;
    let model = GaussianMixtureModel::from_parameters(
        CovarianceType::Spherical,
        1,
        vec![1.0 / k as f64; k],
        (0..k).map(|c| c as f64).collect(),
        vec![1.0; k],
    )
    .unwrap();
    let exec = SpawnPerCall::new(MAX_THREADS, Schedule::default()).unwrap();
    let x: Vec<f64> = (0..MAX_THREADS).map(|i| i as f64).collect();
    let narrow = [
        model.predict_with(&exec, &x).map(drop),
        model.score_samples_with(&exec, &x).map(drop),
        model.score_with(&exec, &x).map(drop),
    ];
    for e in narrow {
        let e = e.unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("16777216 components of dimension 1 on 4096 threads"), "{e}");
    }
    // Their `n × k` outputs (512 GiB) are too large already.
    let wide = [model.predict_proba_with(&exec, &x).map(drop), log_densities(&exec, model.gaussians(), &x).map(drop)];
    for e in wide {
        assert!(matches!(e, Err(Error::TooLarge { .. })), "{e:?}");
    }
}

#[test]
fn a_sample_too_large_to_allocate_is_an_error_before_any_draw() {
    let model =
        GaussianMixtureModel::from_parameters(CovarianceType::Diag, 2, vec![1.0], vec![0.0, 0.0], vec![1.0, 1.0])
            .unwrap();
    // n·d overflows usize, and n·d values overflow the address space: both
    // return at once (drawing usize::MAX / 2 labels first would not).
    for n in [usize::MAX / 2 + 1, usize::MAX / 4] {
        let e = model.sample(n, &mut StdRng::seed_from_u64(1)).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    }
    let (x, labels) = model.sample(0, &mut StdRng::seed_from_u64(1)).unwrap();
    assert!(x.is_empty() && labels.is_empty());
}
