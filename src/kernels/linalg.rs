//! Dense linear algebra for the mixture: Cholesky factors, triangular
//! inverses, inverses with log-determinants, and the packed layout of a
//! symmetric matrix's lower triangle. Plain loops over row-major `d × d`
//! matrices: these run once per component per EM iteration, never per row.

// Index loops over i, j mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

/// Where entry `(i, j)`, `j ≤ i`, of a symmetric `d × d` matrix sits in its
/// lower triangle packed row by row: `i(i+1)/2 + j`.
#[inline(always)]
pub(crate) const fn packed(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}

/// The lower-triangular Cholesky factor `L` of a symmetric `d × d` matrix
/// (row-major; only its lower triangle is read), `a = L·Lᵀ`.
///
/// Returns `None` when `a` is not positive definite in floating point (a
/// pivot that is not strictly positive and finite).
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    if a.len() != d.checked_mul(d)? {
        return None;
    }
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for p in 0..j {
                s -= l[i * d + p] * l[j * d + p];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// The inverse of a lower-triangular `d × d` matrix with a nonzero diagonal
/// (row-major), by forward substitution. The result is lower-triangular.
pub fn invert_lower(l: &[f64], d: usize) -> Vec<f64> {
    let mut w = vec![0.0; d * d];
    for c in 0..d {
        // Solve L·w_c = e_c for column c of W; rows above c stay zero.
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for p in c..i {
                s -= l[i * d + p] * w[p * d + c];
            }
            w[i * d + c] = s / l[i * d + i];
        }
    }
    w
}

/// The inverse and log-determinant of a symmetric positive definite `d × d`
/// matrix (row-major), through its Cholesky factor `a = L·Lᵀ`:
/// `a⁻¹ = Wᵀ·W` with `W = L⁻¹`, and `ln det a = 2·Σ ln Lᵢᵢ`. What the seed
/// takes from `numpy.linalg.inv` and `slogdet`. `None` when `a` is not
/// positive definite or its inverse overflows.
pub fn inverse_and_log_det(a: &[f64], d: usize) -> Option<(Vec<f64>, f64)> {
    let l = cholesky(a, d)?;
    let w = invert_lower(&l, d);
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            inv[i * d + j] = (i.max(j)..d).map(|p| w[p * d + i] * w[p * d + j]).sum();
        }
    }
    if inv.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let log_det = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
    Some((inv, log_det))
}

/// The lower-triangular `W` with `Wᵀ·W = a`, for a symmetric positive
/// definite `a` (`d × d`, row-major; only its lower triangle is read): the
/// Cholesky factor of `a` with its rows and columns taken in reverse order
/// (`J·a·J = C·Cᵀ`, `W = J·Cᵀ·J`). `None` when `a` is not positive definite.
pub(crate) fn lower_factor(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let r = |i: usize| d - 1 - i;
    // `(J·a·J)ᵢⱼ = a[r(i)][r(j)]`, read from the lower triangle as `a[r(j)][r(i)]`.
    let reversed: Vec<f64> = (0..d * d).map(|at| a[r(at % d) * d + r(at / d)]).collect();
    let c = cholesky(&reversed, d)?;
    Some((0..d * d).map(|at| c[r(at % d) * d + r(at / d)]).collect())
}
