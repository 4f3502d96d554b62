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

use crate::kernels::gauss::{Gaussians, Moments, PassStats, pass_block};
use crate::kernels::kmeans::{Closest, ColumnSums, SeedBlock, nearest_pass};
use crate::sched::{DEFAULT_BLOCK, Executor, for_each_chunk_mut, map_reduce, pairwise_tree};
use crate::simd::Simd;

/// Rows per block of the initialization's reductions.
const BLOCK: NonZeroUsize = DEFAULT_BLOCK;

/// k-means++ seeding as scikit-learn does it (greedy: `2 + ⌊ln k⌋` candidates
/// per centre, sampled by squared distance, the one that lowers the potential
/// most kept). Returns the indices of the chosen rows.
///
/// One pass per centre: it lowers each row's distance by the centre chosen
/// last, then scores every candidate, keeping each fixed block's score. The
/// chosen candidate's block scores are the block sums of the lowered
/// distances, from which the next candidates are found: a block by the sums,
/// then a scan of its rows (lowered first, so the pass that follows lowers
/// them again to the same values), with no running sum over all rows.
pub(crate) fn kmeans_plusplus<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
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
    // Zeroed pages from the allocator, first written by the pass's threads.
    let mut closest: Vec<f64> = vec![0.0; n];
    let mut sums = distances(exec, simd, x, d, &mut closest, row(first));
    // The centre chosen last when `closest` does not count it yet.
    let mut pending: Option<&[f64]> = None;
    while chosen.len() < k {
        let pot: f64 = sums.iter().sum();
        let pending_centre = pending.map(|p| Gaussians::centres(d, p.to_vec()));
        let mut lower = |b: usize, block: &mut [f64]| {
            if let Some(centres) = &pending_centre {
                let x = &x[b * BLOCK.get() * d..];
                SeedBlock { x, closest: block, centres, update: Closest::Lower }.run_on(simd);
            }
        };
        let cands: Vec<usize> = (0..trials)
            .map(|_| sample(&mut closest, &sums, rng.random::<f64>() * pot, &mut lower).min(n - 1))
            .collect();
        let centers: Vec<&[f64]> = cands.iter().map(|&c| row(c)).collect();
        let scores = lower_and_score(exec, simd, x, d, &mut closest, pending, &centers);
        // The candidates' potentials, summed over the blocks' tree.
        let pots = pairwise_tree(scores.clone(), add_vecs).unwrap_or_default();
        // The first candidate of least potential.
        let best = (1..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
        sums = scores.iter().map(|s| s[best]).collect();
        pending = Some(row(cands[best]));
        chosen.push(cands[best]);
    }
    chosen
}

/// Sets `closest[i]` to the squared distance from row `i` to `center`, and
/// returns the sum of `closest` over each block of [`BLOCK`] rows.
fn distances<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    x: &[f64],
    d: usize,
    closest: &mut [f64],
    center: &[f64],
) -> Vec<f64> {
    let centres = Gaussians::centres(d, center.to_vec());
    each_block(exec, x, d, closest, |x, closest| {
        SeedBlock { x, closest, centres: &centres, update: Closest::Set }.run_on(simd).0
    })
}

/// `f(rows, part)` on `exec` for each block of [`BLOCK`] rows: `part` is
/// the block's share of `closest`, `rows` the data from the block's first
/// row on. The results in block order.
fn each_block<E, T, F>(exec: &E, x: &[f64], d: usize, closest: &mut [f64], f: F) -> Vec<T>
where
    E: Executor + ?Sized,
    T: Send + Default,
    F: Fn(&[f64], &mut [f64]) -> T + Sync,
{
    let mut blocks: Vec<(&mut [f64], T)> = closest.chunks_mut(BLOCK.get()).map(|c| (c, T::default())).collect();
    for_each_chunk_mut(exec, &mut blocks, 1, |ids, out| {
        for (b, (part, value)) in ids.zip(out) {
            *value = f(&x[b * BLOCK.get() * d..], part);
        }
    });
    blocks.into_iter().map(|(_, v)| v).collect()
}

/// For each block of [`BLOCK`] rows: lowers `closest` by `pending` (if
/// any), then `Σ min(closest, ‖x − c‖²)` over the block for each of
/// `centers`.
fn lower_and_score<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    x: &[f64],
    d: usize,
    closest: &mut [f64],
    pending: Option<&[f64]>,
    centers: &[&[f64]],
) -> Vec<Vec<f64>> {
    // The pending centre (if any) first, then the candidates.
    let all: Vec<f64> = pending.into_iter().chain(centers.iter().copied()).flatten().copied().collect();
    let centres = Gaussians::centres(d, all);
    let update = if pending.is_some() { Closest::Lower } else { Closest::Keep };
    each_block(exec, x, d, closest, |x, closest| SeedBlock { x, closest, centres: &centres, update }.run_on(simd).1)
}

/// The first row whose running sum of `closest` reaches `target`, from the
/// blocks' `sums` (to find the block) and one block's rows; `closest.len()`
/// if rounding leaves the total short of `target`. `lower(b, block)` is
/// called on each block before its rows are read.
fn sample(closest: &mut [f64], sums: &[f64], target: f64, mut lower: impl FnMut(usize, &mut [f64])) -> usize {
    let mut before = 0.0;
    for (b, &sum) in sums.iter().enumerate() {
        if before + sum >= target {
            let mut acc = before;
            for (c, block) in closest.chunks_mut(BLOCK.get()).enumerate().skip(b) {
                lower(c, block);
                for (i, &v) in block.iter().enumerate() {
                    acc += v;
                    if acc >= target {
                        return c * BLOCK.get() + i;
                    }
                }
            }
            return closest.len();
        }
        before += sum;
    }
    closest.len()
}

/// Lloyd's k-means from the given centres: at most `max_iter` rounds, stopped
/// when the centres move less than `tol` in total squared distance
/// (scikit-learn's rule, with `tol = 1e-4 ×` the mean feature variance). An
/// emptied cluster keeps its centre. Returns the statistics (`moments`) of
/// the assignment to the final centres, shifted by them.
///
/// Each round is one [`nearest_pass`]: the distances, the assignment and the
/// sums `Σ (x − c_old)` of every cluster in one vectorized pass, with no
/// labels stored.
pub(crate) fn lloyd<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    x: &[f64],
    d: usize,
    centers: &mut [f64],
    max_iter: usize,
    moments: Moments,
) -> PassStats {
    let k = centers.len() / d;
    let tol = 1e-4 * mean_variance(exec, simd, x, d);
    for _ in 0..max_iter {
        // Σ (x − c_old) per cluster, shifted so far-off data keep their digits.
        let sums = nearest_pass(exec, simd, &Gaussians::centres(d, centers.to_vec()), Moments::Means, x);
        let mut shift = 0.0;
        for c in 0..k {
            let count = sums.n[c];
            if count > 0.0 {
                for j in 0..d {
                    let delta = sums.s[c * d + j] / count;
                    centers[c * d + j] += delta;
                    shift += delta * delta;
                }
            }
        }
        if shift <= tol {
            break;
        }
    }
    nearest_pass(exec, simd, &Gaussians::centres(d, centers.to_vec()), moments, x)
}

fn add_vecs(mut a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    for (x, y) in a.iter_mut().zip(&b) {
        *x += y;
    }
    a
}

/// The mean over features of each feature's variance.
fn mean_variance<E: Executor + ?Sized>(exec: &E, simd: Simd, x: &[f64], d: usize) -> f64 {
    column_moments(exec, simd, x, d).1.iter().sum::<f64>() / d as f64
}

/// Each feature's mean and (population) variance, in one pass over the
/// fixed blocks of `exec`'s reduction; sums of `x − x₀`, shifted by the
/// first row, so that data far from the origin keep their digits.
pub(crate) fn column_moments<E: Executor + ?Sized>(exec: &E, simd: Simd, x: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d;
    let first = &x[..d];
    let m = map_reduce(
        exec,
        n,
        BLOCK,
        |rows| ColumnSums { x: &x[rows.start * d..rows.end * d], d, shift: first }.run_on(simd),
        add_vecs,
    )
    .unwrap_or_else(|| vec![0.0; 2 * d]);
    let nf = n as f64;
    let means = (0..d).map(|j| first[j] + m[j] / nf).collect();
    let variances = (0..d).map(|j| (m[d + j] / nf - (m[j] / nf).powi(2)).max(0.0)).collect();
    (means, variances)
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
/// In the E-step pass's blocks, so that the blocks' statistics take no more
/// memory than the pass's.
pub(crate) fn resp_stats<E, R>(exec: &E, x: &[f64], d: usize, shift: &[f64], moments: Moments, resp: R) -> PassStats
where
    E: Executor + ?Sized,
    R: Fn(usize, &mut [f64]) + Sync,
{
    let n = x.len() / d;
    let k = shift.len() / d;
    let per = moments.per_component(d);
    let zeros = || PassStats::zeros(k, d, moments);
    map_reduce(
        exec,
        n,
        pass_block(n, d, k, moments),
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
                        for b in (0..=a).filter(|&b| moments.has(a, b)) {
                            st.q[c * per + moments.index(a, b)] += rc * diff[a] * diff[b];
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The block search finds the row a running sum over all rows finds
    /// (values are small integers, so every sum is exact), across block
    /// boundaries, at zeros and at the ends.
    #[test]
    fn sample_finds_the_first_row_whose_running_sum_reaches_the_target() {
        let n = 3 * BLOCK.get() + 17;
        let mut closest: Vec<f64> = (0..n).map(|i| ((i * 7919) % 5) as f64).collect();
        let sums: Vec<f64> = closest.chunks(BLOCK.get()).map(|c| c.iter().sum()).collect();
        let mut running = Vec::with_capacity(n);
        let mut acc = 0.0;
        for v in &closest {
            acc += v;
            running.push(acc);
        }
        let total = acc;
        let mut targets = vec![0.0, 0.5, 1.0, total - 0.5, total, total + 1.0];
        targets.extend(sums.iter().scan(0.0, |before, s| {
            *before += s;
            Some(*before)
        }));
        let steps = if cfg!(miri) { 10 } else { 200 };
        targets.extend((0..steps).map(|i| total * i as f64 / steps as f64));
        for t in targets {
            let want = running.partition_point(|&c| c < t);
            assert_eq!(sample(&mut closest, &sums, t, |_, _| {}), want, "target {t}");
        }
    }

    /// The one-pass seeding picks the rows a plain k-means++ picks from the
    /// same draws: a running sum over all rows, every distance lowered at
    /// once. Integer coordinates make every sum exact, so the order of
    /// additions cannot hide a stale distance; chosen rows fall in every
    /// whole block, and the data cross several blocks on several threads;
    /// `d` = 2 and 3 take the column passes, `d` = 5 and 11 the tiles'.
    #[test]
    #[cfg_attr(miri, ignore = "no unsafe code of its own; the executors' unsafe paths run under Miri elsewhere")]
    fn seeding_picks_the_rows_a_plain_kmeans_plus_plus_picks() {
        use crate::sched::{Pool, Sequential};
        use rand::SeedableRng;
        let (n, k) = (3 * BLOCK.get() + 17, 7);
        let plain = |x: &[f64], d: usize, seed: u64| {
            let mut rng = StdRng::seed_from_u64(seed);
            let row = |i: usize| &x[i * d..(i + 1) * d];
            let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum::<f64>();
            let trials = 2 + (k as f64).ln() as usize;
            let mut chosen = vec![rng.random_range(0..n)];
            let mut closest: Vec<f64> = (0..n).map(|i| dist(row(i), row(chosen[0]))).collect();
            while chosen.len() < k {
                let pot: f64 = closest.iter().sum();
                let cands: Vec<usize> = (0..trials)
                    .map(|_| {
                        let target = rng.random::<f64>() * pot;
                        let mut acc = 0.0;
                        closest.iter().position(|&v| {
                            acc += v;
                            acc >= target
                        })
                    })
                    .map(|i| i.unwrap_or(n).min(n - 1))
                    .collect();
                let pots: Vec<f64> =
                    cands.iter().map(|&c| (0..n).map(|i| closest[i].min(dist(row(i), row(c)))).sum()).collect();
                let best = (1..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
                for i in 0..n {
                    closest[i] = closest[i].min(dist(row(i), row(cands[best])));
                }
                chosen.push(cands[best]);
            }
            chosen
        };
        let pool = Pool::new(3).unwrap();
        // d = 2, 3: rows as columns; 5: the tiles' rows one by one; 11: the
        // tiles' 8 × 8 transposes, the last overlapping.
        for d in [2, 3, 5, 11] {
            let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919 + i / 3) % 61) as f64).collect();
            let mut blocks = std::collections::BTreeSet::new();
            for seed in 0..12 {
                let want = plain(&x, d, seed);
                blocks.extend(want.iter().map(|&i| i / BLOCK.get()));
                for simd in Simd::each() {
                    for exec in [&Sequential as &dyn Executor, &pool] {
                        let got = kmeans_plusplus(exec, simd, &x, d, k, &mut StdRng::seed_from_u64(seed));
                        assert_eq!(got, want, "{:?} d = {d}, seed {seed}", simd.isa());
                    }
                }
            }
            assert!(blocks.len() >= n / BLOCK.get(), "d = {d}: a whole block never held a chosen row: {blocks:?}");
        }
    }

    /// Column means and variances against a plain two-pass computation
    /// (whose sums are exact here), on data far from the origin, for the
    /// vectorized `d` and the general one, with rows left over after the
    /// last whole group and blocks; the same bits on any executor.
    #[test]
    fn column_moments_match_a_two_pass_computation() {
        use crate::sched::{Pool, Sequential};
        let pool = Pool::new(3).unwrap();
        let n = if cfg!(miri) { 21 } else { 2 * BLOCK.get() + 13 };
        for d in [1, 2, 3, 4, 5] {
            // Quarters near 10⁸: every plain sum below is exact.
            let x: Vec<f64> =
                (0..n * d).map(|i| 1e8 + ((i * 7919 + i / d) % 1009) as f64 * 0.25 - (i % d) as f64).collect();
            for simd in Simd::each() {
                let (means, variances) = column_moments(&Sequential, simd, &x, d);
                for j in 0..d {
                    let col = || x.iter().skip(j).step_by(d);
                    let mean = col().sum::<f64>() / n as f64;
                    let var = col().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                    assert!((means[j] - mean).abs() <= 1e-15 * mean.abs(), "d={d} mean {j}: {} vs {mean}", means[j]);
                    assert!((variances[j] - var).abs() <= 1e-12 * var, "d={d} variance {j}: {} vs {var}", variances[j]);
                }
                assert_eq!(column_moments(&pool, simd, &x, d), (means, variances), "d={d}: the same bits on the pool");
            }
        }
    }
}
