//! A pass taken block by block, in pieces that start on block boundaries
//! (as a distributed fit's workers hold them), and merged in the fixed tree
//! written plainly here, has the bits of the pass over all the rows; and
//! the initialization on rows in such pieces is the local one.

use std::num::NonZeroUsize;

use nogil::data::standard_normal;
use nogil::gmm::chunked::{BlockPass, ChunkedRows, SeedScan, SeedStep, SeedUpdate};
use nogil::gmm::{CovarianceType, GaussianMixture, GaussianMixtureModel, Init, InitialParams, SufficientStats};
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

/// The fixed pairwise tree over blocks' values, element by element.
fn tree_values(mut level: Vec<Vec<f64>>) -> Vec<f64> {
    while level.len() > 1 {
        let mut next = Vec::new();
        let mut it = level.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.iter_mut().zip(&b).for_each(|(p, q)| *p += q);
            }
            next.push(a);
        }
        level = next;
    }
    level.pop().unwrap_or_default()
}

/// Rows in pieces cut at `cuts` (block boundaries), each piece's passes run
/// on its own as a worker runs them, the scans on copies of the distances
/// (as a worker that does not keep what a scan lowers).
struct Pieces<'a> {
    x: &'a [f64],
    d: usize,
    cuts: Vec<usize>,
    closest: Vec<Vec<f64>>,
    /// Passes run, to show that every one went through the pieces.
    passes: usize,
}

impl Pieces<'_> {
    fn piece(&self, p: usize) -> &[f64] {
        &self.x[self.cuts[p] * self.d..self.cuts[p + 1] * self.d]
    }
}

impl ChunkedRows for Pieces<'_> {
    type Error = Error;

    fn rows(&self) -> usize {
        self.x.len() / self.d
    }

    fn gather(&mut self, rows: &[usize]) -> Result<Vec<f64>, Error> {
        Ok(rows.iter().flat_map(|&i| self.x[i * self.d..(i + 1) * self.d].to_vec()).collect())
    }

    fn reduce(&mut self, pass: &BlockPass<'_>, block: NonZeroUsize) -> Result<Vec<f64>, Error> {
        self.passes += 1;
        let mut leaves = Vec::new();
        for p in 0..self.cuts.len() - 1 {
            leaves.extend(pass.run(&Sequential, self.piece(p), self.d, self.cuts[p], block)?);
        }
        Ok(tree_values(leaves))
    }

    fn seed(&mut self, step: &SeedStep<'_>, block: NonZeroUsize) -> Result<Vec<Vec<f64>>, Error> {
        self.passes += 1;
        let mut out = Vec::new();
        for p in 0..self.cuts.len() - 1 {
            let rows = self.cuts[p + 1] - self.cuts[p];
            let mut closest = std::mem::take(&mut self.closest[p]);
            closest.resize(rows, 0.0);
            out.extend(step.run(&Sequential, self.piece(p), self.d, &mut closest, block)?);
            self.closest[p] = closest;
        }
        Ok(out)
    }

    fn scan(&mut self, scan: &SeedScan<'_>, block: NonZeroUsize) -> Result<(Option<usize>, f64), Error> {
        let first = scan.block * block.get();
        let p = (0..self.cuts.len() - 1).find(|&p| self.cuts[p + 1] > first).unwrap();
        let at = first - self.cuts[p];
        let end = (at + block.get()).min(self.cuts[p + 1] - self.cuts[p]);
        let mut closest = self.closest[p][at..end].to_vec();
        scan.run(&self.piece(p)[at * self.d..end * self.d], self.d, &mut closest)
    }
}

/// Every initialization, on rows in pieces of several cuts, is the local
/// fit's initial model bit for bit (`max_iter` 0): k-means, k-means++,
/// random rows, random responsibilities, and given means with the rest
/// from k-means; for each covariance type, `d` = 2 (the seeding's columns)
/// and 5 (its tiles).
#[test]
#[cfg_attr(miri, ignore = "dozens of initializations: hours under Miri; no unsafe code of its own")]
fn every_initialization_on_pieces_is_the_local_one() {
    let pool = Pool::new(3).unwrap();
    let n = 4096 * 6 + 123;
    for d in [2, 5] {
        let mut rng = StdRng::seed_from_u64(d as u64);
        let x: Vec<f64> = (0..n * d).map(|i| standard_normal(&mut rng) + 4.0 * ((i / d) % 3) as f64).collect();
        let inits = [
            Init::KMeans,
            Init::KMeansPlusPlus,
            Init::RandomFromData,
            Init::Random,
            Init::Given(InitialParams { means: Some((0..3 * d).map(|i| i as f64).collect()), ..Default::default() }),
        ];
        for t in [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical] {
            for init in &inits {
                let gm = GaussianMixture::new(3).covariance_type(t).seed(11).init(init.clone());
                let local = gm.clone().max_iter(0).fit_with(&pool, &x, d).unwrap();
                let b = gm.block_rows(n, d).get();
                assert_eq!(b, local.pass_block(n).get(), "one block for the whole fit");
                let blocks = n.div_ceil(b);
                assert!(blocks >= 4, "{blocks} blocks");
                let cuts =
                    [vec![0, n], vec![0, b, n], vec![0, b, 3 * b, n], (0..blocks).map(|i| i * b).chain([n]).collect()];
                for cuts in cuts {
                    let mut pieces = Pieces { x: &x, d, closest: vec![Vec::new(); cuts.len() - 1], cuts, passes: 0 };
                    let got = gm.initialize(&mut pieces, d).unwrap();
                    assert_eq!(got, local, "d = {d}, {t}, {init:?}, cuts {:?}", pieces.cuts);
                    let passes = if matches!(init, Init::RandomFromData) { 0 } else { 2 };
                    assert!(pieces.passes >= passes, "{init:?}: {} passes", pieces.passes);
                }
            }
        }
    }
}

/// The pieces' passes refuse what they cannot compute and name a bad row;
/// an initialization stops at the rows' own error and returns it.
#[test]
fn chunked_passes_check_their_inputs_and_stop_at_an_error() {
    let d = 2;
    let block = NonZeroUsize::new(64).unwrap();
    let x: Vec<f64> = (0..300 * d).map(|i| (i as f64 * 0.37).sin()).collect();
    let centres = [0.0, 0.0, 1.0, 1.0];
    let nearest = BlockPass::Nearest { centres: &centres, second: Some(CovarianceType::Full) };
    let ok = nearest.run(&Sequential, &x, d, 128, block).unwrap();
    assert_eq!(ok.len(), 5);
    assert!(ok.iter().all(|v| v.len() == nearest.values(d)));
    assert!(matches!(
        nearest.run(&Sequential, &x, d, 100, block),
        Err(Error::Shape { what: "a chunk's first row", .. })
    ));
    assert!(matches!(nearest.run(&Sequential, &x[..3], d, 0, block), Err(Error::Shape { .. })));
    let odd = BlockPass::Nearest { centres: &centres[..3], second: None };
    assert!(matches!(odd.run(&Sequential, &x, d, 0, block), Err(Error::Shape { what: "the centres", .. })));
    let columns = BlockPass::Columns { shift: &[0.0] };
    assert!(matches!(columns.run(&Sequential, &x, d, 0, block), Err(Error::Shape { .. })));
    let mut bad = x.clone();
    bad[2 * 150 + 1] = f64::NAN;
    assert!(matches!(nearest.run(&Sequential, &bad, d, 0, block), Err(Error::NonFinite { row: 150, column: 1 })));
    let mut closest = vec![0.0; 300];
    let set = SeedStep { update: SeedUpdate::Set, centres: &centres[..2] };
    assert!(matches!(
        set.run(&Sequential, &bad, d, &mut closest, block),
        Err(Error::NonFinite { row: 150, column: 1 })
    ));
    assert!(matches!(set.run(&Sequential, &x, d, &mut closest[..10], block), Err(Error::Shape { .. })));
    let sums = set.run(&Sequential, &x, d, &mut closest, block).unwrap();
    let total: f64 = sums.iter().map(|s| s[0]).sum();
    let scan = SeedScan { block: 0, pending: None, acc: 0.0, target: total * 2.0 };
    let (hit, acc) = scan.run(&x[..64 * d], d, &mut closest[..64]).unwrap();
    assert_eq!(hit, None, "a target past the block's sum is not reached");
    assert_eq!(acc.to_bits(), closest[..64].iter().fold(0.0, |a, v| a + v).to_bits());
    assert!(matches!(
        SeedScan { pending: Some(&[1.0]), ..scan }.run(&x[..64 * d], d, &mut closest[..64]),
        Err(Error::Shape { .. })
    ));

    /// Rows whose every pass fails as a lost worker would.
    struct Lost;
    #[derive(Debug, PartialEq)]
    enum Gone {
        Lib,
        Worker,
    }
    impl From<Error> for Gone {
        fn from(_: Error) -> Self {
            Gone::Lib
        }
    }
    impl ChunkedRows for Lost {
        type Error = Gone;
        fn rows(&self) -> usize {
            1000
        }
        fn gather(&mut self, rows: &[usize]) -> Result<Vec<f64>, Gone> {
            Ok(vec![0.0; rows.len() * 2])
        }
        fn reduce(&mut self, _: &BlockPass<'_>, _: NonZeroUsize) -> Result<Vec<f64>, Gone> {
            Err(Gone::Worker)
        }
        fn seed(&mut self, _: &SeedStep<'_>, _: NonZeroUsize) -> Result<Vec<Vec<f64>>, Gone> {
            Err(Gone::Worker)
        }
        fn scan(&mut self, _: &SeedScan<'_>, _: NonZeroUsize) -> Result<(Option<usize>, f64), Gone> {
            Err(Gone::Worker)
        }
    }
    for init in [Init::KMeans, Init::KMeansPlusPlus, Init::Random] {
        assert_eq!(GaussianMixture::new(3).init(init).initialize(&mut Lost, 2).unwrap_err(), Gone::Worker);
    }
    assert_eq!(GaussianMixture::new(3).initialize(&mut Lost, 0).unwrap_err(), Gone::Lib, "d = 0");

    /// Rows whose answers have the wrong size, each way in turn: a short
    /// gather, too few blocks, a block of the wrong width, a scan past its
    /// block, a short pass. Each is a shape error, never a panic or a number.
    struct Short(u8);
    impl ChunkedRows for Short {
        type Error = Error;
        fn rows(&self) -> usize {
            1000
        }
        fn gather(&mut self, rows: &[usize]) -> Result<Vec<f64>, Error> {
            Ok(vec![0.5; rows.len() * 2 - usize::from(self.0 == 0)])
        }
        fn reduce(&mut self, _: &BlockPass<'_>, _: NonZeroUsize) -> Result<Vec<f64>, Error> {
            Ok(vec![1.0])
        }
        fn seed(&mut self, _: &SeedStep<'_>, block: NonZeroUsize) -> Result<Vec<Vec<f64>>, Error> {
            let blocks = 1000usize.div_ceil(block.get());
            Ok(match self.0 {
                1 => vec![vec![1.0]; blocks + 1],
                2 => vec![vec![1.0, 2.0]; blocks],
                _ => vec![vec![1.0]; blocks],
            })
        }
        fn scan(&mut self, _: &SeedScan<'_>, block: NonZeroUsize) -> Result<(Option<usize>, f64), Error> {
            Ok((Some(block.get()), 0.0))
        }
    }
    for (mode, init) in
        [(0, Init::KMeans), (1, Init::KMeans), (2, Init::KMeansPlusPlus), (3, Init::KMeans), (4, Init::Random)]
    {
        let got = GaussianMixture::new(3).init(init).initialize(&mut Short(mode), 2);
        assert!(matches!(got, Err(Error::Shape { .. })), "mode {mode}: {got:?}");
    }
    assert_eq!(
        GaussianMixture::new(3000).initialize(&mut Lost, 2).unwrap_err(),
        Gone::Lib,
        "fewer rows than components"
    );
}
