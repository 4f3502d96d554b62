//! Seeded data for the seed's experiments: one standard normal generator and
//! the notebook's data sets, shared by the report, the benches and the tests.
//!
//! The notebook draws everything from `numpy.random.randn`: `randn(10⁷) + 8.342`
//! for `summarize` (cell 6), `randn(n)` for the pairwise sum, and for the
//! mixture `numpy.concatenate([randn(per, d) + i·spacing for i in range(m)])`
//! (cells 17 and 37) with a start `randn(m, d)·scale + X.mean(axis=0)` and
//! identity covariances. Here:
//!
//! - [`standard_normal`]: one N(0, 1) deviate by Box–Muller (the one copy in
//!   nogil; [`GaussianMixtureModel::sample`](crate::gmm::GaussianMixtureModel::sample) draws with it too);
//! - [`randn`] and [`blobs`]: NumPy's `randn(n)` and the seed's concatenated blobs;
//! - [`SeedSet`] with [`SEED_SET_A`] and [`SEED_SET_B`]: the notebook's two
//!   mixture data sets, their iteration counts and their random starts.
//!
//! Every generator takes the random number generator, so a caller seeds it
//! (`StdRng::seed_from_u64`) and the same seed gives the same bits.

use rand::{Rng, RngExt};

use crate::Error;
use crate::error::try_filled;

/// One standard normal deviate, by Box–Muller: `√(−2 ln u₁)·cos(2π u₂)`, with
/// `u₁` in (0, 1] so that `ln u₁` is finite.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let z: Vec<f64> = (0..10_000).map(|_| nogil::data::standard_normal(&mut rng)).collect();
/// let mean = z.iter().sum::<f64>() / z.len() as f64;
/// assert!(mean.abs() < 0.05 && z.iter().all(|v| v.is_finite()));
/// ```
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// NumPy's `randn(n)`: `n` standard normal deviates ([`standard_normal`]).
///
/// # Errors
///
/// [`Error::TooLarge`] if `n` values cannot be allocated (before any draw).
pub fn randn<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Result<Vec<f64>, Error> {
    let mut x = try_filled("randn", n, 1, 0.0)?;
    x.iter_mut().for_each(|v| *v = standard_normal(rng));
    Ok(x)
}

/// The seed's mixture data: `numpy.concatenate([randn(per, d) + i·spacing for i in range(k)])`,
/// row-major `(k·per) × d`. Blob `i` has unit covariance and its centre at
/// `i·spacing` in every coordinate; its rows are contiguous, blob 0 first.
///
/// # Errors
///
/// - [`Error::ZeroDimension`] if `d == 0`;
/// - [`Error::InvalidParameter`] if `spacing` is not finite;
/// - [`Error::TooLarge`] if `k·per·d` values cannot be allocated (before any draw).
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let x = nogil::data::blobs(&mut rng, 2, 1000, 3, 10.0)?;
/// assert_eq!(x.len(), 2 * 1000 * 3);
/// let second_blob_mean = x[3000..].iter().sum::<f64>() / 3000.0;
/// assert!((second_blob_mean - 10.0).abs() < 0.2);
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn blobs<R: Rng + ?Sized>(rng: &mut R, k: usize, per: usize, d: usize, spacing: f64) -> Result<Vec<f64>, Error> {
    if d == 0 {
        return Err(Error::ZeroDimension);
    }
    if !spacing.is_finite() {
        return Err(Error::InvalidParameter {
            name: "spacing",
            value: spacing.to_string(),
            expected: "a finite number",
        });
    }
    let per_blob = per.checked_mul(d).ok_or(Error::TooLarge { what: "blobs", requested: format!("{per} × {d}") })?;
    let mut x = try_filled("blobs", k, per_blob, 0.0)?;
    if per_blob > 0 {
        for (i, blob) in x.chunks_exact_mut(per_blob).enumerate() {
            let centre = i as f64 * spacing;
            blob.iter_mut().for_each(|v| *v = standard_normal(rng) + centre);
        }
    }
    Ok(x)
}

/// One of the notebook's two mixture data sets: [`BLOBS`](Self::BLOBS) blobs
/// in [`DIM`](Self::DIM) dimensions, `per_blob` points each, blob `i` centred
/// at `(i·spacing, i·spacing)`; EM runs `iterations` times from
/// `randn(4, 2)·start_scale + mean` with identity covariances.
///
/// The fields are public so that a smaller copy is one expression:
/// `SeedSet { per_blob: 20_000, ..SEED_SET_A }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedSet {
    /// Points per blob (the seed: 10⁵ for set A, 10⁶ for set B).
    pub per_blob: usize,
    /// Distance between neighbouring blob centres along each axis.
    pub spacing: f64,
    /// The scale of the seed's random start around the data's mean.
    pub start_scale: f64,
    /// The seed's EM iteration count.
    pub iterations: usize,
}

/// Cells 17–18: 4 × 10⁵ points, blobs 4 apart, start `randn(4, 2) + mean`, 50 iterations.
pub const SEED_SET_A: SeedSet = SeedSet { per_blob: 100_000, spacing: 4.0, start_scale: 1.0, iterations: 50 };

/// Cells 37–52: 4 × 10⁶ points, blobs 5 apart, start `randn(4, 2)·4 + mean`, 25 iterations.
pub const SEED_SET_B: SeedSet = SeedSet { per_blob: 1_000_000, spacing: 5.0, start_scale: 4.0, iterations: 25 };

impl SeedSet {
    /// Blobs (and mixture components) in every seed set.
    pub const BLOBS: usize = 4;
    /// Features of every seed set.
    pub const DIM: usize = 2;

    /// Points in the data set: `BLOBS · per_blob` (saturating).
    pub fn points(&self) -> usize {
        Self::BLOBS.saturating_mul(self.per_blob)
    }

    /// The data's expected mean in each coordinate, `1.5·spacing`: where the
    /// seed's start is centred (the seed uses the sample mean, `X.mean(axis=0)`).
    pub fn mean(&self) -> f64 {
        (Self::BLOBS - 1) as f64 / 2.0 * self.spacing
    }

    /// The data, `points() × 2` row-major, blob by blob ([`blobs`]).
    ///
    /// # Errors
    ///
    /// As [`blobs`].
    pub fn data<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Vec<f64>, Error> {
        blobs(rng, Self::BLOBS, self.per_blob, Self::DIM, self.spacing)
    }

    /// One draw of the seed's start, `randn(4, 2)·start_scale + mean()`: 4 × 2 means.
    pub fn start<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        (0..Self::BLOBS * Self::DIM).map(|_| standard_normal(rng) * self.start_scale + self.mean()).collect()
    }

    /// The first of at most `max_draws` draws of [`start`](Self::start)
    /// whose four means lie nearest to four different blob centres, and the
    /// number of draws taken; the last draw if none does (or `max_draws` is
    /// 0 or 1, which gives the first draw).
    ///
    /// From some of the seed's random starts EM needs more than the seed's
    /// iteration count to pull two means sharing a blob apart; a start near
    /// every blob converges within it.
    pub fn start_near_each_blob<R: Rng + ?Sized>(&self, rng: &mut R, max_draws: usize) -> (Vec<f64>, usize) {
        let mut draws = 0;
        loop {
            draws += 1;
            let means = self.start(rng);
            if draws >= max_draws || self.near_each_blob(&means) {
                return (means, draws);
            }
        }
    }

    /// Whether each of the means (4 × 2) is nearest to a different blob centre.
    fn near_each_blob(&self, means: &[f64]) -> bool {
        let mut nearest: Vec<usize> = means
            .chunks_exact(Self::DIM)
            .map(|m| {
                let dist = |b: usize| m.iter().map(|v| (v - b as f64 * self.spacing).powi(2)).sum::<f64>();
                (0..Self::BLOBS).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap_or(0)
            })
            .collect();
        nearest.sort_unstable();
        nearest.dedup();
        nearest.len() == Self::BLOBS
    }

    /// The seed's initial covariances: an identity matrix per blob (4 × 2 × 2).
    pub fn identity_covariances() -> Vec<f64> {
        (0..Self::BLOBS).flat_map(|_| [1.0, 0.0, 0.0, 1.0]).collect()
    }

    /// The largest distance, in either coordinate, between the given means
    /// (4 × 2, in any order) sorted by their first coordinate and the blob
    /// centres `(i·spacing, i·spacing)`; `None` unless `means` holds 4 × 2
    /// values. NaN means give a NaN error, never a small one.
    pub fn worst_mean_error(&self, means: &[f64]) -> Option<f64> {
        if means.len() != Self::BLOBS * Self::DIM {
            return None;
        }
        let mut m: Vec<&[f64]> = means.chunks_exact(Self::DIM).collect();
        m.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let errors = m.iter().enumerate().flat_map(|(i, c)| c.iter().map(move |v| (v - i as f64 * self.spacing).abs()));
        Some(errors.fold(0.0, |worst: f64, e| if e.is_nan() || worst.is_nan() { f64::NAN } else { worst.max(e) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    #[cfg_attr(miri, ignore = "6·10⁴ draws: slow under Miri")]
    fn the_same_seed_gives_the_same_bits_and_blobs_sit_where_they_should() {
        let set = SeedSet { per_blob: 5_000, ..SEED_SET_B };
        let a = set.data(&mut StdRng::seed_from_u64(3)).unwrap();
        let b = set.data(&mut StdRng::seed_from_u64(3)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, set.data(&mut StdRng::seed_from_u64(4)).unwrap());
        assert_eq!(a.len(), set.points() * 2);
        for (i, blob) in a.chunks_exact(2 * set.per_blob).enumerate() {
            let mean = blob.iter().sum::<f64>() / blob.len() as f64;
            let var = blob.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / blob.len() as f64;
            assert!((mean - i as f64 * 5.0).abs() < 0.05, "blob {i}: mean {mean}");
            assert!((var - 1.0).abs() < 0.05, "blob {i}: variance {var}");
        }
    }

    #[test]
    fn starts_are_near_each_blob_when_asked_and_errors_are_measured_honestly() {
        let mut rng = StdRng::seed_from_u64(0);
        let (means, draws) = SEED_SET_B.start_near_each_blob(&mut rng, 1000);
        assert!(draws >= 1 && SEED_SET_B.near_each_blob(&means), "{draws} draws: {means:?}");
        // One draw allowed: the first, whatever it is.
        let first = SEED_SET_B.start(&mut StdRng::seed_from_u64(5));
        assert_eq!(SEED_SET_B.start_near_each_blob(&mut StdRng::seed_from_u64(5), 1), (first, 1));
        let exact = [10.0, 10.0, 0.0, 0.0, 15.0, 15.0, 5.0, 5.0];
        assert_eq!(SEED_SET_B.worst_mean_error(&exact), Some(0.0));
        let off = [10.0, 10.0, 0.0, 0.5, 15.0, 15.0, 5.0, 5.0];
        assert_eq!(SEED_SET_B.worst_mean_error(&off), Some(0.5));
        let nan = [10.0, 10.0, 0.0, f64::NAN, 15.0, 15.0, 5.0, 5.0];
        assert!(SEED_SET_B.worst_mean_error(&nan).unwrap().is_nan());
        assert_eq!(SEED_SET_B.worst_mean_error(&exact[..6]), None);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(blobs(&mut rng, 2, 3, 0, 1.0), Err(Error::ZeroDimension));
        assert!(matches!(blobs(&mut rng, 2, 3, 2, f64::NAN), Err(Error::InvalidParameter { name: "spacing", .. })));
        assert!(matches!(blobs(&mut rng, usize::MAX, 2, 2, 1.0), Err(Error::TooLarge { .. })));
        assert!(matches!(blobs(&mut rng, 2, usize::MAX, 2, 1.0), Err(Error::TooLarge { .. })));
        assert!(matches!(randn(&mut rng, usize::MAX), Err(Error::TooLarge { .. })));
        assert_eq!(blobs(&mut rng, 0, 3, 2, 1.0), Ok(vec![]));
        assert_eq!(blobs(&mut rng, 3, 0, 2, 1.0), Ok(vec![]));
    }
}
