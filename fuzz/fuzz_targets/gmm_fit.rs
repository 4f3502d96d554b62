//! Small arbitrary data and options: a fit returns `Ok` with finite
//! parameters whose weights sum to 1, or a documented `Err`; never a panic,
//! a hang, or a NaN inside an `Ok`. A fitted model draws a sample of the
//! right shape.
#![no_main]

mod common;

use common::f64s;
use libfuzzer_sys::fuzz_target;
use nogil::Sequential;
use nogil::gmm::{CovarianceType, GaussianMixture, Init};
use rand::SeedableRng;
use rand::rngs::StdRng;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (opts, rest) = data.split_at(8);
    let d = 1 + opts[0] as usize % 4;
    let k = 1 + opts[1] as usize % 4;
    let t = [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical][opts[2] as usize % 4];
    let init = match opts[3] % 4 {
        0 => Init::KMeans,
        1 => Init::KMeansPlusPlus,
        2 => Init::RandomFromData,
        _ => Init::Random,
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
    let gm = GaussianMixture::new(k).covariance_type(t).init(init).reg_covar(reg).tol(tol).max_iter(max_iter).seed(opts[0] as u64);
    match gm.fit_with(&Sequential, &values, d) {
        Ok(m) => {
            let all = m.weights().iter().chain(m.means()).chain(m.covariances()).chain(m.precisions_cholesky());
            assert!(all.into_iter().all(|v| v.is_finite()), "non-finite parameter in an Ok fit: {m:?}");
            assert!((m.weights().iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(m.lower_bounds().iter().all(|v| v.is_finite()));
            let (x, labels) = m.sample(16, &mut StdRng::seed_from_u64(u64::from(opts[1]))).expect("16 points fit in memory");
            assert_eq!((x.len(), labels.len()), (16 * d, 16));
            assert!(labels.iter().all(|&c| c < k));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
