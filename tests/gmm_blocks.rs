//! A pass taken block by block, in pieces that start on block boundaries
//! (as a distributed fit's workers hold them), and merged in the fixed tree
//! written plainly here, has the bits of the pass over all the rows.

use nogil::data::standard_normal;
use nogil::gmm::{CovarianceType, GaussianMixture, GaussianMixtureModel, SufficientStats};
use nogil::{Error, Pool, Sequential};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The fixed pairwise tree over `leaves`, level by level, an odd last one carried up.
fn tree(mut level: Vec<SufficientStats>) -> SufficientStats {
    while level.len() > 1 {
        let mut next = Vec::new();
        let mut it = level.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.merge(&b).unwrap();
            }
            next.push(a);
        }
        level = next;
    }
    level.pop().unwrap()
}

fn bits(s: &SufficientStats) -> Vec<u64> {
    let parts = [s.weights_sum(), s.first_moments(), s.second_moments(), &[s.log_likelihood()]];
    parts.iter().flat_map(|p| p.iter().map(|v| v.to_bits())).collect()
}

#[test]
#[cfg_attr(miri, ignore = "four fits on a pool: minutes under Miri; no unsafe code of its own")]
fn blocks_of_pieces_merged_in_the_tree_are_the_whole_pass() {
    let d = 2;
    // Enough rows for five blocks and a short last one.
    let n = 4096 * 5 + 77;
    let mut rng = StdRng::seed_from_u64(3);
    let x: Vec<f64> = (0..n * d).map(|i| standard_normal(&mut rng) + (i % 7) as f64).collect();
    let pool = Pool::new(2).unwrap();
    for t in [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical] {
        let model = GaussianMixture::new(3).covariance_type(t).max_iter(1).seed(1).fit_with(&pool, &x, d).unwrap();
        let whole = model.summarize(&pool, &x).unwrap();
        let block = model.pass_block(n);
        assert_eq!(block, model.pass_block(n), "fixed by n");
        // Pieces of 1, 2 and the rest of the blocks.
        let b = block.get();
        let cuts = [0, b.min(n), (3 * b).min(n), n];
        let mut leaves = Vec::new();
        for w in cuts.windows(2) {
            leaves.extend(model.summarize_blocks(&Sequential, &x[w[0] * d..w[1] * d], block).unwrap());
        }
        assert_eq!(leaves.len(), n.div_ceil(b), "{t}");
        assert_eq!(leaves.iter().map(SufficientStats::samples).sum::<usize>(), n);
        let merged = tree(leaves);
        assert_eq!(merged.samples(), whole.samples());
        assert_eq!(bits(&merged), bits(&whole), "{t}");
        assert_eq!(
            GaussianMixtureModel::from_stats(&merged, 1e-6).unwrap(),
            GaussianMixtureModel::from_stats(&whole, 1e-6).unwrap()
        );
        // The parts rebuild the same statistics.
        let rebuilt = SufficientStats::from_parts(
            t,
            d,
            whole.shift().to_vec(),
            whole.weights_sum().to_vec(),
            whole.first_moments().to_vec(),
            whole.second_moments().to_vec(),
            whole.log_likelihood(),
            whole.samples(),
        )
        .unwrap();
        assert_eq!(rebuilt, whole);
    }
}

#[test]
fn summarize_blocks_names_a_nan_and_from_parts_checks_lengths() {
    let d = 2;
    let x: Vec<f64> = (0..400).map(|i| (i as f64 * 0.37).sin() + (i % 3) as f64).collect();
    let model = GaussianMixture::new(2).max_iter(1).seed(1).fit_with(&Sequential, &x, d).unwrap();
    let mut bad = x.clone();
    bad[2 * 150 + 1] = f64::NAN;
    let block = model.pass_block(200);
    assert!(matches!(model.summarize_blocks(&Sequential, &bad, block), Err(Error::NonFinite { row: 150, column: 1 })));
    assert!(matches!(model.summarize_blocks(&Sequential, &x[..3], block), Err(Error::Shape { .. })));
    assert!(model.summarize_blocks(&Sequential, &[], block).unwrap().is_empty());
    let s = model.summarize(&Sequential, &x).unwrap();
    let short = SufficientStats::from_parts(
        CovarianceType::Full,
        d,
        s.shift().to_vec(),
        s.weights_sum().to_vec(),
        s.first_moments().to_vec(),
        s.second_moments()[1..].to_vec(),
        0.0,
        200,
    );
    assert!(matches!(short, Err(Error::Shape { what: "second_moments", .. })));
}
