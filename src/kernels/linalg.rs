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
    // Row by row, `Lᵢⱼ = (aᵢⱼ − Σ_{p<j} Lᵢₚ·Lⱼₚ) / Lⱼⱼ`. Each finished `Lᵢⱼ`
    // is subtracted at once from the pending sums of the rest of row `i`,
    // reading column `j` of `L` as a row of `Lᵀ`: a contiguous update with no
    // dependence between its terms, so it vectorizes, where the dot product
    // over `p` was one chain of dependent operations (at d = 1000, most of an
    // EM iteration). Every sum still takes its terms in ascending `p`, so the
    // bits are those of the dot-product form (a test holds them to it).
    let mut l = vec![0.0; d * d];
    let mut lt = vec![0.0; d * d];
    let mut s = vec![0.0; d];
    for i in 0..d {
        s[..=i].copy_from_slice(&a[i * d..=i * d + i]);
        for j in 0..i {
            let lij = s[j] / lt[j * d + j];
            l[i * d + j] = lij;
            lt[j * d + i] = lij;
            for (s, &ljp) in s[j + 1..=i].iter_mut().zip(&lt[j * d + j + 1..=j * d + i]) {
                *s -= lij * ljp;
            }
        }
        let pivot = s[i];
        if !(pivot > 0.0 && pivot.is_finite()) {
            return None;
        }
        l[i * d + i] = pivot.sqrt();
        lt[i * d + i] = pivot.sqrt();
    }
    Some(l)
}

/// The inverse of a lower-triangular `d × d` matrix with a nonzero diagonal
/// (row-major), by forward substitution. The result is lower-triangular.
pub fn invert_lower(l: &[f64], d: usize) -> Vec<f64> {
    // Row `i` of `W` for every column at once: `Wᵢ꜀ = (δᵢ꜀ − Σ_{c≤p<i} Lᵢₚ·Wₚ꜀) / Lᵢᵢ`,
    // each term a contiguous update by row `p` of `W` (vectorizes), each sum
    // in ascending `p` as column-by-column forward substitution takes it.
    let mut w = vec![0.0; d * d];
    let mut s = vec![0.0; d];
    for i in 0..d {
        s[..i].fill(0.0);
        s[i] = 1.0;
        for p in 0..i {
            let lip = l[i * d + p];
            for (s, &wpc) in s[..=p].iter_mut().zip(&w[p * d..=p * d + p]) {
                *s -= lip * wpc;
            }
        }
        let lii = l[i * d + i];
        for (o, &s) in w[i * d..=i * d + i].iter_mut().zip(&s[..=i]) {
            *o = s / lii;
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
    // `(a⁻¹)ᵢⱼ = Σ_{p ≥ max(i, j)} Wₚᵢ·Wₚⱼ`, a row at a time: each `p` adds
    // to the sums of every `j ≤ p` from row `p` of `W` (vectorizes), each sum
    // from `f64`'s `Sum` neutral in ascending `p`, as `Iterator::sum` takes it.
    let neutral: f64 = std::iter::empty::<f64>().sum();
    let mut inv = vec![neutral; d * d];
    for i in 0..d {
        let row = &mut inv[i * d..(i + 1) * d];
        for p in i..d {
            let wpi = w[p * d + i];
            for (o, &wpj) in row[..=p].iter_mut().zip(&w[p * d..=p * d + p]) {
                *o += wpi * wpj;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// The dot-product forms the vectorized ones replaced, as they were.
    fn cholesky_dot(a: &[f64], d: usize) -> Option<Vec<f64>> {
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

    fn invert_lower_dot(l: &[f64], d: usize) -> Vec<f64> {
        let mut w = vec![0.0; d * d];
        for c in 0..d {
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

    fn inverse_dot(w: &[f64], d: usize) -> Vec<f64> {
        let mut inv = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                inv[i * d + j] = (i.max(j)..d).map(|p| w[p * d + i] * w[p * d + j]).sum();
            }
        }
        inv
    }

    /// `B·Bᵀ + d·I` for a random `B`: symmetric positive definite.
    fn spd(rng: &mut StdRng, d: usize) -> Vec<f64> {
        let b: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] =
                    (0..d).map(|p| b[i * d + p] * b[j * d + p]).sum::<f64>() + if i == j { d as f64 } else { 0.0 };
            }
        }
        a
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn vectorized_forms_have_the_bits_of_the_dot_products() {
        let mut rng = StdRng::seed_from_u64(24);
        let sizes: Vec<usize> = if cfg!(miri) { vec![0, 1, 2, 5] } else { (0..=20).chain([33, 64, 97]).collect() };
        for d in sizes {
            let a = spd(&mut rng, d);
            let l = cholesky(&a, d).expect("positive definite");
            assert_eq!(bits(&l), bits(&cholesky_dot(&a, d).unwrap()), "cholesky, d = {d}");
            let w = invert_lower(&l, d);
            assert_eq!(bits(&w), bits(&invert_lower_dot(&l, d)), "invert_lower, d = {d}");
            let (inv, _) = inverse_and_log_det(&a, d).unwrap();
            assert_eq!(bits(&inv), bits(&inverse_dot(&w, d)), "inverse, d = {d}");
        }
    }

    #[test]
    fn cholesky_refuses_what_the_dot_product_form_refuses() {
        let mut rng = StdRng::seed_from_u64(7);
        for d in [2, 3, 9, 17] {
            let mut a = spd(&mut rng, d);
            // A last pivot made negative, then NaN.
            a[d * d - 1] = -1e3 * d as f64;
            assert!(cholesky(&a, d).is_none() && cholesky_dot(&a, d).is_none(), "d = {d}");
            a[d * d - 1] = f64::NAN;
            assert!(cholesky(&a, d).is_none() && cholesky_dot(&a, d).is_none(), "d = {d}");
        }
    }
}
