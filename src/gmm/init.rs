//! Initial responsibilities: k-means (k-means++ seeded Lloyd), k-means++
//! centres alone, random points, random responsibilities.
//!
//! Every pass here goes through [`ChunkedRows`] and reduces over the fit's
//! fixed blocks, so the initialization, like the fit, is the same for any
//! executor and thread count, and for rows in memory or held elsewhere.

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

use std::num::NonZeroUsize;
use std::ops::Range;

use rand::rngs::StdRng;
use rand::{RngExt, seq::index};

use super::CovarianceType;
use super::chunked::{BlockPass, ChunkedRows, Prepared, SeedScan, SeedStep, SeedUpdate, add_values};
use crate::Error;
use crate::kernels::gauss::{Moments, PassStats, pass_block};
use crate::sched::{Sequential, map_reduce, pairwise_tree};

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
pub(crate) fn kmeans_plusplus<R: ChunkedRows + ?Sized>(
    data: &mut R,
    d: usize,
    k: usize,
    block: NonZeroUsize,
    rng: &mut StdRng,
) -> Result<Vec<usize>, R::Error> {
    let n = data.rows();
    let trials = 2 + (k as f64).ln() as usize;
    let first = rng.random_range(0..n);
    let mut chosen = vec![first];
    let centre = gather(data, &[first], d)?;
    let step = SeedStep { update: SeedUpdate::Set, centres: &centre };
    let mut sums: Vec<f64> = seed(data, &step, d, block)?.into_iter().map(|v| v[0]).collect();
    // The centre chosen last when `closest` does not count it yet.
    let mut pending: Option<Vec<f64>> = None;
    while chosen.len() < k {
        let pot: f64 = sums.iter().sum();
        let mut cands = Vec::with_capacity(trials);
        for _ in 0..trials {
            let target = rng.random::<f64>() * pot;
            cands.push(sample(data, &sums, target, pending.as_deref(), block)?.min(n - 1));
        }
        let centers = gather(data, &cands, d)?;
        // The pending centre (if any) first, then the candidates.
        let all: Vec<f64> = pending.iter().flatten().chain(&centers).copied().collect();
        let update = if pending.is_some() { SeedUpdate::Lower } else { SeedUpdate::Keep };
        let scores = seed(data, &SeedStep { update, centres: &all }, d, block)?;
        // The candidates' potentials, summed over the blocks' tree.
        let pots = pairwise_tree(scores.clone(), add_values).unwrap_or_default();
        // The first candidate of least potential.
        let best = (1..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
        sums = scores.iter().map(|s| s[best]).collect();
        pending = Some(centers[best * d..(best + 1) * d].to_vec());
        chosen.push(cands[best]);
    }
    Ok(chosen)
}

/// The first row whose running sum of `closest` reaches `target`, from the
/// blocks' `sums` (to find the block) and the scan of one block's rows
/// (lowered by `pending` first); `n` if rounding leaves the total short of
/// `target`.
fn sample<R: ChunkedRows + ?Sized>(
    data: &mut R,
    sums: &[f64],
    target: f64,
    pending: Option<&[f64]>,
    block: NonZeroUsize,
) -> Result<usize, R::Error> {
    let mut before = 0.0;
    for (b, &sum) in sums.iter().enumerate() {
        if before + sum >= target {
            let mut acc = before;
            for c in b..sums.len() {
                let (hit, after) = scan(data, &SeedScan { block: c, pending, acc, target }, block)?;
                if let Some(i) = hit {
                    return Ok(c * block.get() + i);
                }
                acc = after;
            }
            return Ok(data.rows());
        }
        before += sum;
    }
    Ok(data.rows())
}

/// `data`'s rows `rows`, checked to be `rows.len()` rows of `d` values.
pub(crate) fn gather<R: ChunkedRows + ?Sized>(data: &mut R, rows: &[usize], d: usize) -> Result<Vec<f64>, R::Error> {
    let got = data.gather(rows)?;
    expect_len("ChunkedRows::gather", rows.len() * d, got.len())?;
    Ok(got)
}

/// `data`'s `pass`, checked to be [`BlockPass::values`] values.
fn reduce<R: ChunkedRows + ?Sized>(
    data: &mut R,
    pass: &BlockPass<'_>,
    d: usize,
    block: NonZeroUsize,
) -> Result<Vec<f64>, R::Error> {
    let got = data.reduce(pass, block)?;
    expect_len("ChunkedRows::reduce", pass.values(d), got.len())?;
    Ok(got)
}

/// `data`'s seeding `step`, checked to be one vector per block, each of
/// the step's width (1 for a set, one per scored centre otherwise).
fn seed<R: ChunkedRows + ?Sized>(
    data: &mut R,
    step: &SeedStep<'_>,
    d: usize,
    block: NonZeroUsize,
) -> Result<Vec<Vec<f64>>, R::Error> {
    let got = data.seed(step, block)?;
    let centres = step.centres.len() / d;
    let width = match step.update {
        SeedUpdate::Set => 1,
        SeedUpdate::Lower => centres - 1,
        SeedUpdate::Keep => centres,
    };
    expect_len("ChunkedRows::seed's blocks", data.rows().div_ceil(block.get()), got.len())?;
    for v in &got {
        expect_len("ChunkedRows::seed's values of a block", width, v.len())?;
    }
    Ok(got)
}

/// `data`'s `scan`, checked to name a row of the block.
fn scan<R: ChunkedRows + ?Sized>(
    data: &mut R,
    look: &SeedScan<'_>,
    block: NonZeroUsize,
) -> Result<(Option<usize>, f64), R::Error> {
    let (hit, acc) = data.scan(look, block)?;
    if let Some(i) = hit
        && (i >= block.get() || look.block * block.get() + i >= data.rows())
    {
        return Err(Error::Shape {
            what: "ChunkedRows::scan's row",
            expected: format!("a row of block {} ({} rows a block, {} in all)", look.block, block, data.rows()),
            got: format!("row {i} of the block"),
        }
        .into());
    }
    Ok((hit, acc))
}

/// An error unless `got` is `expected`: a [`ChunkedRows`] result of the
/// wrong size.
fn expect_len(what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        return Ok(());
    }
    Err(Error::Shape { what, expected: format!("{expected} values"), got: format!("{got} values") })
}

/// Lloyd's k-means from the given centres: at most `max_iter` rounds, stopped
/// when the centres move less than `tol` in total squared distance
/// (scikit-learn's rule, with `tol = 1e-4 ×` the mean feature variance). An
/// emptied cluster keeps its centre. Returns the statistics (the second
/// moments of `second`) of the assignment to the final centres, shifted by them.
///
/// Each round is one [`BlockPass::Nearest`]: the distances, the assignment
/// and the sums `Σ (x − c_old)` of every cluster in one vectorized pass,
/// with no labels stored.
pub(crate) fn lloyd<R: ChunkedRows + ?Sized>(
    data: &mut R,
    d: usize,
    centers: &mut [f64],
    max_iter: usize,
    second: CovarianceType,
    block: NonZeroUsize,
) -> Result<PassStats, R::Error> {
    let k = centers.len() / d;
    let tol = 1e-4 * mean_variance(data, d, block)?;
    for _ in 0..max_iter {
        // Σ (x − c_old) per cluster, shifted so far-off data keep their digits.
        let sums = stats(data, d, &BlockPass::Nearest { centres: centers, second: None }, block)?;
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
    stats(data, d, &BlockPass::Nearest { centres: centers, second: Some(second) }, block)
}

/// The statistics of a pass of statistics.
pub(crate) fn stats<R: ChunkedRows + ?Sized>(
    data: &mut R,
    d: usize,
    pass: &BlockPass<'_>,
    block: NonZeroUsize,
) -> Result<PassStats, R::Error> {
    let prepared = Prepared::new(pass, d)?;
    Ok(prepared.stats(reduce(data, pass, d, block)?))
}

/// The mean over features of each feature's variance.
fn mean_variance<R: ChunkedRows + ?Sized>(data: &mut R, d: usize, block: NonZeroUsize) -> Result<f64, R::Error> {
    Ok(column_moments(data, d, block)?.1.iter().sum::<f64>() / d as f64)
}

/// Each feature's mean and (population) variance, in one pass over the
/// fixed blocks; sums of `x − x₀`, shifted by the first row, so that data
/// far from the origin keep their digits.
pub(crate) fn column_moments<R: ChunkedRows + ?Sized>(
    data: &mut R,
    d: usize,
    block: NonZeroUsize,
) -> Result<(Vec<f64>, Vec<f64>), R::Error> {
    let n = data.rows();
    let first = gather(data, &[0], d)?;
    let m = reduce(data, &BlockPass::Columns { shift: &first }, d, block)?;
    let nf = n as f64;
    let means = (0..d).map(|j| first[j] + m[j] / nf).collect();
    let variances = (0..d).map(|j| (m[d + j] / nf - (m[j] / nf).powi(2)).max(0.0)).collect();
    Ok((means, variances))
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

/// The M-step's statistics for given responsibilities of a few rows in
/// memory: `resp(i, r)` fills row `i`'s `k` responsibilities into `r`
/// (zeros allowed), shifted by `shift`, in the E-step pass's blocks.
pub(crate) fn resp_stats<R>(x: &[f64], d: usize, shift: &[f64], moments: Moments, resp: R) -> PassStats
where
    R: Fn(usize, &mut [f64]) + Sync,
{
    let n = x.len() / d;
    let k = shift.len() / d;
    let block = |rows| resp_block(x, d, shift, moments, rows, &resp);
    map_reduce(&Sequential, n, pass_block(n, d, k, moments), block, PassStats::add)
        .unwrap_or_else(|| PassStats::zeros(k, d, moments))
}

/// [`resp_stats`] of `rows` of `x`: one block.
pub(crate) fn resp_block<R>(
    x: &[f64],
    d: usize,
    shift: &[f64],
    moments: Moments,
    rows: Range<usize>,
    resp: R,
) -> PassStats
where
    R: Fn(usize, &mut [f64]),
{
    let k = shift.len() / d;
    let per = moments.per_component(d);
    let mut st = PassStats::zeros(k, d, moments);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gmm::chunked::LocalRows;
    use crate::simd::Simd;

    /// A block size of the tests: the least a fit uses.
    const BLOCK: NonZeroUsize = crate::sched::DEFAULT_BLOCK;

    /// The block search finds the row a running sum over all rows finds
    /// (values are small integers, so every sum is exact), across block
    /// boundaries, at zeros and at the ends.
    #[test]
    fn sample_finds_the_first_row_whose_running_sum_reaches_the_target() {
        let n = 3 * BLOCK.get() + 17;
        let closest: Vec<f64> = (0..n).map(|i| ((i * 7919) % 5) as f64).collect();
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
        // No pending centre: the scans read the distances as they are.
        let x = vec![0.0; n];
        let mut rows = LocalRows { closest, ..LocalRows::new(&Sequential, Simd::active(), &x, 1) };
        for t in targets {
            let want = running.partition_point(|&c| c < t);
            assert_eq!(sample(&mut rows, &sums, t, None, BLOCK), Ok(want), "target {t}");
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
        use crate::sched::{Executor, Pool, Sequential};
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
                        let mut rows = LocalRows::new(exec, simd, &x, d);
                        let got = kmeans_plusplus(&mut rows, d, k, BLOCK, &mut StdRng::seed_from_u64(seed));
                        assert_eq!(got, Ok(want.clone()), "{:?} d = {d}, seed {seed}", simd.isa());
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
        use crate::sched::{Executor, Pool, Sequential};
        let pool = Pool::new(3).unwrap();
        let n = if cfg!(miri) { 21 } else { 2 * BLOCK.get() + 13 };
        for d in [1, 2, 3, 4, 5] {
            // Quarters near 10⁸: every plain sum below is exact.
            let x: Vec<f64> =
                (0..n * d).map(|i| 1e8 + ((i * 7919 + i / d) % 1009) as f64 * 0.25 - (i % d) as f64).collect();
            for simd in Simd::each() {
                let moments = |e: &dyn Executor| column_moments(&mut LocalRows::new(e, simd, &x, d), d, BLOCK);
                let (means, variances) = moments(&Sequential).unwrap();
                for j in 0..d {
                    let col = || x.iter().skip(j).step_by(d);
                    let mean = col().sum::<f64>() / n as f64;
                    let var = col().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                    assert!((means[j] - mean).abs() <= 1e-15 * mean.abs(), "d={d} mean {j}: {} vs {mean}", means[j]);
                    assert!((variances[j] - var).abs() <= 1e-12 * var, "d={d} variance {j}: {} vs {var}", variances[j]);
                }
                assert_eq!(moments(&pool), Ok((means, variances)), "d={d}: the same bits on the pool");
            }
        }
    }
}
