//! Plain linear algebra for the references: Gauss–Jordan inverses, identity
//! matrices, random symmetric positive definite matrices.

use nogil::data::standard_normal;
use rand::rngs::StdRng;

/// Inverse and log-determinant of a symmetric positive definite matrix, by
/// Gauss–Jordan elimination with partial pivoting.
pub fn inverse_and_log_det(a: &[f64], d: usize) -> (Vec<f64>, f64) {
    let mut m = a.to_vec();
    let mut inv: Vec<f64> = (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect();
    let mut log_det = 0.0;
    for col in 0..d {
        let pivot = (col..d).max_by(|&i, &j| m[i * d + col].abs().total_cmp(&m[j * d + col].abs())).unwrap();
        if pivot != col {
            for j in 0..d {
                m.swap(pivot * d + j, col * d + j);
                inv.swap(pivot * d + j, col * d + j);
            }
        }
        let p = m[col * d + col];
        log_det += p.abs().ln();
        for j in 0..d {
            m[col * d + j] /= p;
            inv[col * d + j] /= p;
        }
        for i in 0..d {
            if i != col {
                let f = m[i * d + col];
                for j in 0..d {
                    m[i * d + j] -= f * m[col * d + j];
                    inv[i * d + j] -= f * inv[col * d + j];
                }
            }
        }
    }
    (inv, log_det)
}

/// The `d × d` identity, row-major.
pub fn identity(d: usize) -> Vec<f64> {
    (0..d * d).map(|i| if i / d == i % d { 1.0 } else { 0.0 }).collect()
}

/// A random symmetric positive definite matrix `A·Aᵀ + d·I/2`.
pub fn random_spd(d: usize, rng: &mut StdRng) -> Vec<f64> {
    let a: Vec<f64> = (0..d * d).map(|_| standard_normal(rng)).collect();
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            m[i * d + j] = (0..d).map(|p| a[i * d + p] * a[j * d + p]).sum::<f64>();
        }
        m[i * d + i] += 0.5 * d as f64;
    }
    m
}
