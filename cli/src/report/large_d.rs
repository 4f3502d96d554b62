//! The Gaussian mixture at large `d`: one EM iteration of full covariances
//! on the shapes of the FMA-floor issue, each beside its floor, the
//! iteration's multiply-adds run by `fma_peak` in registers on the same
//! pool in the same run. Beside them, where a Python with scikit-learn is
//! found (`$NOGIL_PYTHON`, else `python3`), scikit-learn's figure: one
//! iteration of its `GaussianMixture` on the same data from the same
//! parameters, BLAS on the same thread count, timed as `python/bench.py`
//! times it ([`super::sklearn`]); without one, a notice and no such rows.

use std::time::Instant;

use nogil::Pool;
use nogil::data::{blobs, standard_normal};
use nogil::gmm::{CovarianceType, GaussianMixtureModel, Parallelism};
use nogil::kernels::pairwise::fma_peak;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::sklearn::{self, Problem};
use super::{Ctx, header, progress, time};

/// `(n, d, k)`: the shapes, a tenth of the rows with `--quick`.
const SHAPES: [(usize, usize, usize); 4] = [(200_000, 16, 8), (50_000, 64, 16), (20_000, 256, 8), (4_000, 1000, 4)];

pub(super) fn large_d(ctx: &mut Ctx) -> Result<(), String> {
    let t = ctx.threads;
    header("6. Gaussian mixture at large d: one EM iteration beside the FMA floor");
    let python = match sklearn::probe(ctx.quick) {
        Ok(python) => Some(python),
        Err(why) => {
            say!("  scikit-learn not found ({why}): its figures are skipped");
            None
        }
    };
    let bar = progress((2 + usize::from(python.is_some())) * SHAPES.len(), "large d");
    let pool = Pool::new(t).map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(ctx.seed ^ 24);
    let mut sk_details = serde_json::Map::new();
    let mut sk_seconds = 0.0;
    for (n, d, k) in SHAPES {
        let n = if ctx.quick { n / 10 } else { n };
        let x = blobs(&mut rng, k, n / k, d, 4.0).map_err(|e| e.to_string())?;
        // Means near the blobs' centres, covariances 1.2 on the diagonal
        // and 0.1 off it: a model EM would hold midway.
        let means: Vec<f64> = (0..k * d).map(|i| (i / d) as f64 * 4.0 + 0.3 * standard_normal(&mut rng)).collect();
        let cov: Vec<f64> =
            (0..k).flat_map(|_| (0..d * d).map(move |e| if e / d == e % d { 1.2 } else { 0.1 })).collect();
        let weights = vec![1.0 / k as f64; k];
        // scikit-learn starts from the same parameters, kept apart here.
        let initial = python.as_ref().map(|_| (weights.clone(), means.clone(), cov.clone()));
        let model = GaussianMixtureModel::from_parameters(CovarianceType::Full, d, weights, means, cov)
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
        let (ok, check) = match &result {
            Ok((next, bound)) => (
                bound.is_finite() && next.means().iter().all(|m| m.is_finite()),
                format!("{:.2}× the floor; lower bound {bound:.6}", step.median / floor.median),
            ),
            Err(e) => (false, e.to_string()),
        };
        ctx.push(&name, "one EM iteration, full covariances (pool)", t, step, Some(floor.median), ok, check);
        let (Some(python), Some((weights, means, cov))) = (&python, initial) else { continue };
        let started = Instant::now();
        let problem = Problem { x: &x, d, weights: &weights, means: &means, covariances: &cov };
        let figure = python.time(&problem, t, ctx.runs, ctx.quick);
        sk_seconds += started.elapsed().as_secs_f64();
        bar.inc(1);
        match figure {
            Ok(sk) => {
                // The same initial model: the same mean log-likelihood.
                let (ok, agrees) = match &result {
                    Ok((_, bound)) => {
                        let rel = (sk.lower_bound - bound).abs() / bound.abs().max(f64::MIN_POSITIVE);
                        if rel <= 1e-8 {
                            (true, "lower bound as nogil's".to_string())
                        } else {
                            (false, format!("lower bound {:.6}, {rel:.1e} off nogil's", sk.lower_bound))
                        }
                    }
                    Err(_) => (true, format!("lower bound {:.6}", sk.lower_bound)),
                };
                let check = format!(
                    "{:.2}× the floor; nogil {:.2}× faster; {agrees}",
                    sk.timing.median / floor.median,
                    sk.timing.median / step.median
                );
                let variant = "scikit-learn, one EM iteration (full, BLAS)";
                ctx.push(&name, variant, t, sk.timing, Some(floor.median), ok, check);
                sk_details.insert(
                    name.clone(),
                    json!({ "iterations_per_repeat": sk.m, "versions": sk.versions, "lower_bound": sk.lower_bound }),
                );
            }
            Err(why) => say!("  scikit-learn's figure for {name} is skipped: {why}"),
        }
    }
    bar.finish_and_clear();
    if let Some(python) = &python {
        ctx.extra.insert(
            "gmm_large_d_sklearn".into(),
            json!({ "python": python.python, "threads": t, "elapsed_s": sk_seconds, "shapes": sk_details }),
        );
    }
    say!();
    Ok(())
}
