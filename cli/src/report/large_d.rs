//! The Gaussian mixture at large `d`: one EM iteration of full covariances
//! on the shapes of the FMA-floor issue, each beside its floor, the
//! iteration's multiply-adds run by `fma_peak` in registers on the same
//! pool in the same run.

use nogil::Pool;
use nogil::data::{blobs, standard_normal};
use nogil::gmm::{CovarianceType, GaussianMixtureModel, Parallelism};
use nogil::kernels::pairwise::fma_peak;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Ctx, header, progress, time};

/// `(n, d, k)`: the shapes, a tenth of the rows with `--quick`.
const SHAPES: [(usize, usize, usize); 4] = [(200_000, 16, 8), (50_000, 64, 16), (20_000, 256, 8), (4_000, 1000, 4)];

pub(super) fn large_d(ctx: &mut Ctx) -> Result<(), String> {
    let t = ctx.threads;
    header("6. Gaussian mixture at large d: one EM iteration beside the FMA floor");
    let bar = progress(2 * SHAPES.len(), "large d");
    let pool = Pool::new(t).map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(ctx.seed ^ 24);
    for (n, d, k) in SHAPES {
        let n = if ctx.quick { n / 10 } else { n };
        let x = blobs(&mut rng, k, n / k, d, 4.0).map_err(|e| e.to_string())?;
        // Means near the blobs' centres, covariances 1.2 on the diagonal
        // and 0.1 off it: a model EM would hold midway.
        let means: Vec<f64> = (0..k * d).map(|i| (i / d) as f64 * 4.0 + 0.3 * standard_normal(&mut rng)).collect();
        let cov: Vec<f64> =
            (0..k).flat_map(|_| (0..d * d).map(move |e| if e / d == e % d { 1.2 } else { 0.1 })).collect();
        let model = GaussianMixtureModel::from_parameters(CovarianceType::Full, d, vec![1.0 / k as f64; k], means, cov)
            .map_err(|e| e.to_string())?;
        // The quadratic form and the moments, each `d(d+1)/2` per row and
        // component with a triangular factor and symmetric moments, and
        // `x − μ` and `r·(x − μ)`.
        let fmas = n * k * (d * d + 2 * d);
        let name = format!("large-d gmm {n}×{d}, k={k}");
        let (floor, _) = time(ctx.runs, || fma_peak(&pool, fmas / t));
        bar.inc(1);
        ctx.push(
            &name,
            "FMA floor: fma_peak, n·k·(d²+2d) multiply-adds",
            t,
            floor,
            Some(floor.median),
            true,
            String::new(),
        );
        let (step, result) = time(ctx.runs.at_most(5), || model.step(&pool, &x, Parallelism::Data, 1e-6));
        bar.inc(1);
        let (ok, check) = match result {
            Ok((next, bound)) => (
                bound.is_finite() && next.means().iter().all(|m| m.is_finite()),
                format!("{:.2}× the floor; lower bound {bound:.6}", step.median / floor.median),
            ),
            Err(e) => (false, e.to_string()),
        };
        ctx.push(&name, "one EM iteration, full covariances (pool)", t, step, Some(floor.median), ok, check);
    }
    bar.finish_and_clear();
    say!();
    Ok(())
}
