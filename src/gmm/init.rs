//! Initial responsibilities: k-means (k-means++ seeded Lloyd), k-means++
//! centres alone, random points, random responsibilities.
//!
//! Every pass here runs on the caller's executor and reduces through
//! [`map_reduce`]'s fixed blocks, so the initialization, like the fit, is the
//! same for any executor and thread count.

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

use std::num::NonZeroUsize;

use rand::rngs::StdRng;
use rand::{RngExt, seq::index};

use crate::kernels::gauss::{Moments, PassStats};
use crate::sched::{DEFAULT_BLOCK, Executor, for_each_chunk_mut, map_reduce};

/// Rows per block of the initialization's reductions.
const BLOCK: NonZeroUsize = DEFAULT_BLOCK;

/// Squared Euclidean distance.
#[inline]
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means++ seeding as scikit-learn does it (greedy: `2 + ⌊ln k⌋` candidates
/// per centre, sampled by squared distance, the one that lowers the potential
/// most kept). Returns the indices of the chosen rows.
pub(crate) fn kmeans_plusplus<E: Executor + ?Sized>(
    exec: &E,
    x: &[f64],
    d: usize,
    k: usize,
    rng: &mut StdRng,
) -> Vec<usize> {
    let n = x.len() / d;
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let trials = 2 + (k as f64).ln() as usize;
    let first = rng.random_range(0..n);
    let mut chosen = vec![first];
    let mut closest: Vec<f64> = vec![0.0; n];
    for_each_chunk_mut(exec, &mut closest, 1, |rows, out| {
        for (i, o) in rows.zip(out) {
            *o = dist2(row(i), row(first));
        }
    });
    let mut pot = sum(exec, &closest);
    let mut cumsum = Vec::with_capacity(n);
    while chosen.len() < k {
        cumsum.clear();
        let mut acc = 0.0;
        cumsum.extend(closest.iter().map(|v| {
            acc += v;
            acc
        }));
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..trials {
            let target = rng.random::<f64>() * pot;
            let cand = cumsum.partition_point(|&c| c < target).min(n - 1);
            let cand_pot = map_reduce(
                exec,
                n,
                BLOCK,
                |rows| rows.map(|i| closest[i].min(dist2(row(i), row(cand)))).sum::<f64>(),
                |a, b| a + b,
            )
            .unwrap_or(0.0);
            if best.is_none_or(|(p, _)| cand_pot < p) {
                best = Some((cand_pot, cand));
            }
        }
        let (best_pot, cand) = best.expect("at least two trials");
        for_each_chunk_mut(exec, &mut closest, 1, |rows, out| {
            for (i, o) in rows.zip(out) {
                *o = o.min(dist2(row(i), row(cand)));
            }
        });
        pot = best_pot;
        chosen.push(cand);
    }
    chosen
}

fn sum<E: Executor + ?Sized>(exec: &E, v: &[f64]) -> f64 {
    map_reduce(exec, v.len(), BLOCK, |r| v[r].iter().sum::<f64>(), |a, b| a + b).unwrap_or(0.0)
}

/// The index of the nearest centre (the first of equals).
fn nearest(x: &[f64], centers: &[f64], d: usize) -> usize {
    let mut best = (f64::INFINITY, 0);
    for (c, center) in centers.chunks_exact(d).enumerate() {
        let v = dist2(x, center);
        if v < best.0 {
            best = (v, c);
        }
    }
    best.1
}

/// Lloyd's k-means from the given centres: at most `max_iter` rounds, stopped
/// when the centres move less than `tol` in total squared distance
/// (scikit-learn's rule, with `tol = 1e-4 ×` the mean feature variance).
/// Returns the labels of the final centres. An emptied cluster keeps its
/// centre.
pub(crate) fn lloyd<E: Executor + ?Sized>(
    exec: &E,
    x: &[f64],
    d: usize,
    centers: &mut [f64],
    max_iter: usize,
) -> Vec<usize> {
    let n = x.len() / d;
    let k = centers.len() / d;
    let tol = 1e-4 * mean_variance(exec, x, d);
    let mut labels = vec![0usize; n];
    for _ in 0..max_iter {
        assign(exec, x, d, centers, &mut labels);
        // Σ (x − c_old) per cluster, shifted so far-off data keep their digits.
        let old = centers.to_vec();
        let sums = map_reduce(
            exec,
            n,
            BLOCK,
            |rows| {
                let mut acc = vec![0.0; k * (d + 1)];
                for i in rows {
                    let c = labels[i];
                    acc[c * (d + 1)] += 1.0;
                    for j in 0..d {
                        acc[c * (d + 1) + 1 + j] += x[i * d + j] - old[c * d + j];
                    }
                }
                acc
            },
            add_vecs,
        )
        .unwrap_or_default();
        let mut shift = 0.0;
        for c in 0..k {
            let count = sums[c * (d + 1)];
            if count > 0.0 {
                for j in 0..d {
                    let delta = sums[c * (d + 1) + 1 + j] / count;
                    centers[c * d + j] = old[c * d + j] + delta;
                    shift += delta * delta;
                }
            }
        }
        if shift <= tol {
            break;
        }
    }
    assign(exec, x, d, centers, &mut labels);
    labels
}

fn assign<E: Executor + ?Sized>(exec: &E, x: &[f64], d: usize, centers: &[f64], labels: &mut [usize]) {
    for_each_chunk_mut(exec, labels, 1, |rows, out| {
        for (i, o) in rows.zip(out) {
            *o = nearest(&x[i * d..(i + 1) * d], centers, d);
        }
    });
}

fn add_vecs(mut a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    for (x, y) in a.iter_mut().zip(&b) {
        *x += y;
    }
    a
}

/// The mean over features of each feature's variance (shifted by the first row).
fn mean_variance<E: Executor + ?Sized>(exec: &E, x: &[f64], d: usize) -> f64 {
    let n = x.len() / d;
    let first = &x[..d];
    let m = map_reduce(
        exec,
        n,
        BLOCK,
        |rows| {
            let mut acc = vec![0.0; 2 * d];
            for i in rows {
                for j in 0..d {
                    let v = x[i * d + j] - first[j];
                    acc[j] += v;
                    acc[d + j] += v * v;
                }
            }
            acc
        },
        add_vecs,
    )
    .unwrap_or_default();
    let nf = n as f64;
    (0..d).map(|j| (m[d + j] / nf - (m[j] / nf).powi(2)).max(0.0)).sum::<f64>() / d as f64
}

/// `k` distinct rows chosen uniformly.
pub(crate) fn random_rows(n: usize, k: usize, rng: &mut StdRng) -> Vec<usize> {
    index::sample(rng, n, k).into_vec()
}

/// The per-row uniform draws of random responsibilities: a SplitMix64 stream
/// keyed by the seed and the row, so rows can be drawn on any thread in any
/// order and still be the same.
pub(crate) fn random_responsibilities(seed: u64, row: usize, out: &mut [f64]) {
    let mut state = seed ^ (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut total = 0.0;
    for o in out.iter_mut() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits in (0, 1]: never zero, so no row sums to 0.
        *o = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        total += *o;
    }
    for o in out.iter_mut() {
        *o /= total;
    }
}

/// The M-step's statistics for given responsibilities: `resp(i, r)` fills
/// row `i`'s `k` responsibilities into `r` (zeros allowed), shifted by `shift`.
pub(crate) fn resp_stats<E, R>(exec: &E, x: &[f64], d: usize, shift: &[f64], moments: Moments, resp: R) -> PassStats
where
    E: Executor + ?Sized,
    R: Fn(usize, &mut [f64]) + Sync,
{
    let n = x.len() / d;
    let k = shift.len() / d;
    let per = moments.per_component(d);
    let zeros = || PassStats { n: vec![0.0; k], s: vec![0.0; k * d], q: vec![0.0; k * per], loglik: 0.0 };
    map_reduce(
        exec,
        n,
        BLOCK,
        |rows| {
            let mut st = zeros();
            let mut r = vec![0.0; k];
            let mut diff = vec![0.0; d];
            for i in rows {
                resp(i, &mut r);
                for (c, &rc) in r.iter().enumerate() {
                    if rc == 0.0 {
                        continue;
                    }
                    for j in 0..d {
                        diff[j] = x[i * d + j] - shift[c * d + j];
                    }
                    st.n[c] += rc;
                    for a in 0..d {
                        st.s[c * d + a] += rc * diff[a];
                        match moments {
                            Moments::Full => {
                                for b in 0..=a {
                                    st.q[c * per + a * (a + 1) / 2 + b] += rc * diff[a] * diff[b];
                                }
                            }
                            Moments::Diagonal => st.q[c * per + a] += rc * diff[a] * diff[a],
                        }
                    }
                }
            }
            st
        },
        PassStats::add,
    )
    .unwrap_or_else(zeros)
}
