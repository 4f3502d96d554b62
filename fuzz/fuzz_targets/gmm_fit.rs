//! Small arbitrary data and options: a fit returns `Ok` with finite
//! parameters whose weights sum to 1, or a documented `Err`; never a panic,
//! a hang, or a NaN inside an `Ok`. A fitted model draws a sample of the
//! right shape, and predicts, scores and assigns the data consistently (or
//! says that rows cannot be scored). d runs from 1 to 9 (columns for d ≤ 4,
//! the tiles above); given precisions are symmetric, positive definite or
//! not.
#![no_main]

mod common;

use common::{f64s, on_some_path};
use libfuzzer_sys::fuzz_target;
use nogil::Sequential;
use nogil::gmm::{CovarianceType, GaussianMixture, Init, InitialParams};
use rand::SeedableRng;
use rand::rngs::StdRng;

fuzz_target!(|data: &[u8]| on_some_path(data, || check(data)));

/// The target's checks of one input.
fn check(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let (opts, rest) = data.split_at(8);
    let d = 1 + opts[0] as usize % 9;
    let k = 1 + opts[1] as usize % 4;
    let t = [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical]
        [opts[2] as usize % 4];
    let init = match opts[3] % 5 {
        0 => Init::KMeans,
        1 => Init::KMeansPlusPlus,
        2 => Init::RandomFromData,
        3 => Init::Random,
        _ => {
            // B + Bᵀ + c·I per matrix (B from the data's bytes, c from the
            // options): symmetric, positive definite for some inputs only.
            let c = f64::from(opts[3] / 5) * 0.25;
            let byte = |i: usize| f64::from(rest.get(i).copied().unwrap_or(1) % 16) - 7.5;
            let precisions = match t {
                CovarianceType::Full | CovarianceType::Tied => {
                    let mats = if t == CovarianceType::Full { k } else { 1 };
                    (0..mats * d * d)
                        .map(|at| {
                            let (m, i, j) = (at / (d * d), at % (d * d) / d, at % d);
                            let b = |i: usize, j: usize| byte(m * d * d + i * d + j);
                            b(i, j) + b(j, i) + if i == j { c } else { 0.0 }
                        })
                        .collect()
                }
                CovarianceType::Diag => (0..k * d).map(|i| byte(i) + c).collect(),
                CovarianceType::Spherical => (0..k).map(|i| byte(i) + c).collect(),
            };
            Init::Given(InitialParams { precisions: Some(precisions), ..Default::default() })
        }
    };
    let reg = match opts[4] % 4 {
        0 => 1e-6,
        1 => 0.0,
        2 => -1.0,
        _ => f64::from(opts[4]) * 1e-3,
    };
    let tol = if opts[5] % 5 == 0 { f64::NAN } else { f64::from(opts[5]) * 1e-4 };
    let max_iter = opts[6] as usize % 20;
    // Values: whole f64 from the input when the flag is odd (NaN, ±Inf,
    // subnormals, huge), else small integers (ties, duplicates).
    let values: Vec<f64> = if opts[7] % 2 == 1 {
        f64s(rest, 64 * d)
    } else {
        rest.iter().take(64 * d).map(|&b| f64::from(b % 16)).collect()
    };
    let gm = GaussianMixture::new(k)
        .covariance_type(t)
        .init(init)
        .reg_covar(reg)
        .tol(tol)
        .max_iter(max_iter)
        .seed(opts[0] as u64);
    match gm.fit_with(&Sequential, &values, d) {
        Ok(m) => {
            let all = m.weights().iter().chain(m.means()).chain(m.covariances()).chain(m.precisions_cholesky());
            assert!(all.into_iter().all(|v| v.is_finite()), "non-finite parameter in an Ok fit: {m:?}");
            assert!((m.weights().iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(m.lower_bounds().iter().all(|v| v.is_finite()));
            let (x, labels) =
                m.sample(16, &mut StdRng::seed_from_u64(u64::from(opts[1]))).expect("16 points fit in memory");
            assert_eq!((x.len(), labels.len()), (16 * d, 16));
            assert!(labels.iter().all(|&c| c < k));
            // The per-row calls on the fitted data: consistent answers, or
            // the documented error for rows too far to score.
            let n = values.len() / d;
            match (m.predict(&values), m.predict_proba(&values), m.score_samples(&values)) {
                (Ok(labels), Ok(proba), Ok(scores)) => {
                    assert_eq!((labels.len(), proba.len(), scores.len()), (n, n * k, n));
                    for (i, row) in proba.chunks_exact(k).enumerate() {
                        assert!(row.iter().all(|p| (0.0..=1.0).contains(p)), "{row:?}");
                        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{row:?}");
                        assert!(row.iter().all(|&p| p <= row[labels[i]]), "label {} of {row:?}", labels[i]);
                    }
                    assert!(scores.iter().all(|s| !s.is_nan() && *s < f64::INFINITY), "{scores:?}");
                }
                (Err(a), Err(b), Err(c)) => {
                    for e in [a, b, c] {
                        assert!(matches!(e, nogil::Error::NonFiniteLikelihood { .. }), "{e}");
                    }
                }
                other => panic!("the per-row calls disagree on whether the rows can be scored: {other:?}"),
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
