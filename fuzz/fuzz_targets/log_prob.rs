//! Any d ≤ 16, or 48 ≤ d ≤ 64 (the register-blocked density), and a
//! positive-definite covariance built from the input: the fast
//! log-densities (precision Cholesky, SIMD, fixed-d, blocked and
//! micro-tiled paths) agree with the mirror (explicit inverse, the seed's
//! loop).
#![no_main]

mod common;

use common::on_some_path;
use libfuzzer_sys::fuzz_target;
use nogil::Sequential;
use nogil::kernels::gauss::{
    Factor, Gaussians, cholesky, inverse_and_log_det, invert_lower, log_densities, log_probability_raw,
};

/// A byte as a value in [-1, 1).
fn unit(b: u8) -> f64 {
    (b as f64 - 128.0) / 128.0
}

fuzz_target!(|data: &[u8]| on_some_path(data, || check(data)));

/// The target's checks of one input.
fn check(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else { return };
    let d = if head >= 240 { 48 + head as usize % 17 } else { 1 + head as usize % 16 };
    // Up to 256 bytes for `A`, read cyclically at large d.
    let a_len = (d * d).min(256);
    if rest.len() < a_len + d {
        return;
    }
    let (a_bytes, rest) = rest.split_at(a_len);
    let a: Vec<u8> = (0..d * d).map(|i| a_bytes[(i * 7 + i / d) % a_len]).collect();
    let (mu, rest) = rest.split_at(d);
    // Σ = A·Aᵀ + I: symmetric positive definite, condition number below 1 + d.
    let mut cov = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            cov[i * d + j] = (0..d).map(|p| unit(a[i * d + p]) * unit(a[j * d + p])).sum::<f64>();
        }
        cov[i * d + i] += 1.0;
    }
    let mu: Vec<f64> = mu.iter().map(|&b| 4.0 * unit(b)).collect();
    let x: Vec<f64> = rest.iter().take(d * 40).map(|&b| 8.0 * unit(b)).collect();
    let n = x.len() / d;
    let x = &x[..n * d];
    let l = cholesky(&cov, d).expect("A·Aᵀ + I is positive definite");
    let w = invert_lower(&l, d);
    let g = Gaussians::new(d, Factor::Triangular, mu.clone(), w.clone(), &[0.0]).unwrap();
    let fast = log_densities(&Sequential, &g, x).unwrap();
    // The mirror's inputs: Σ⁻¹ (symmetric, so the seed's column-major
    // `inv_cov[i + j*d]` reads it as well) and ln det Σ.
    let (inv, log_det) = inverse_and_log_det(&cov, d).expect("A·Aᵀ + I is positive definite");
    for i in 0..n {
        // SAFETY: row i holds d values; mu d; inv d*d.
        let mirror = unsafe { log_probability_raw(x[i * d..].as_ptr(), mu.as_ptr(), inv.as_ptr(), log_det, d) };
        let got = fast[i];
        assert!(got.is_finite() && mirror.is_finite());
        assert!((got - mirror).abs() <= 1e-10 * mirror.abs().max(1.0), "d={d} row {i}: fast {got}, mirror {mirror}");
    }
}
