//! One fused E-step pass over the data: blocks of rows, each tile's weights
//! (responsibilities, or the nearest centre's one-hot) and every
//! component's statistics, merged in the fixed tree; and what a pass holds
//! in memory.

use std::num::NonZeroUsize;
use std::ops::Range;

use super::TILE;
use super::components::Gaussians;
use super::dims::{Dim, with_dim};
use super::moments::{Moments, PassStats, Sums, sum_vectors, sums_q};
use super::panel;
use super::softmax::responsibilities;
use super::tile::{Tile, TileLanes, Tiles};
use crate::kernels::kmeans::tile_nearest;
use crate::sched::{Executor, for_each_chunk_mut, map_reduce};
use crate::simd::{Kernel, Lanes, Simd};

/// How a block's tiles get each row's weight for each component, as `lt`
/// times `inv` (see [`Tile`]), and the rows' log-likelihood.
#[derive(Clone, Copy)]
pub(crate) enum Weights<'a> {
    /// Log-densities computed in the tile, then their log-sum-exp
    /// ([`responsibilities`]): data parallelism.
    Densities,
    /// Log-densities copied from the model-parallel `k × n` buffer, then
    /// their log-sum-exp.
    Copied { densities: &'a [f64], n: usize },
    /// The nearest centre's one-hot ([`tile_nearest`]), `loglik` the
    /// negative inertia: the rounds of k-means.
    Nearest,
}

impl Weights<'_> {
    #[inline(always)]
    fn weigh<V: Lanes, D: Dim>(self, dim: D, g: &Gaussians, tile: &mut Tile<V>, r: Range<usize>, sums: &mut Sums<V>) {
        let k = g.k;
        match self {
            Weights::Densities => {
                tile.densities(dim, g);
                responsibilities(k, tile, sums);
            }
            Weights::Copied { densities, n } => {
                for c in 0..k {
                    let lt: &mut [f64] = bytemuck::cast_slice_mut(&mut tile.lt[c * V::G..(c + 1) * V::G]);
                    lt[..r.len()].copy_from_slice(&densities[c * n + r.start..c * n + r.end]);
                    lt[r.len()..].fill(0.0);
                }
                responsibilities(k, tile, sums);
            }
            Weights::Nearest => {
                tile.densities(dim, g);
                sums.top += tile_nearest(k, tile);
            }
        }
    }
}

/// Statistics of `rows` of `x`, tile by tile, in order: the map of a block.
/// Each tile gets its weights from `weights`, then every component's
/// statistics, shifted by its mean in `g`, are added to the block's sums;
/// the full moments summed across lanes tile by tile exactly when `summed`
/// (see [`Sums`]).
#[inline(always)]
pub(super) fn block_stats<V: Lanes, D: Dim>(
    dim: D,
    g: &Gaussians,
    moments: Moments,
    summed: bool,
    x: &[f64],
    rows: Range<usize>,
    weights: Weights,
) -> PassStats {
    let (k, d) = (g.k, dim.get());
    let mut sums = Sums::<V>::new(k, d, moments, summed);
    let mut walk = Tiles::new(dim, k, x, rows);
    while let Some(r) = walk.next() {
        let src = &x[r.start * d..r.end * d];
        let tile = walk.tile();
        weights.weigh(dim, g, tile, r, &mut sums);
        for c in 0..k {
            dim.stats(g, moments, c, tile, src, sums.component(c), summed);
        }
    }
    sums.finish(k, d, moments)
}

/// [`block_stats`] of one block, on a SIMD path: what a pass maps.
pub(crate) struct BlockStats<'a> {
    pub g: &'a Gaussians,
    pub moments: Moments,
    /// Whether the full moments are summed across lanes ([`sums_q`] on the
    /// path's lanes).
    pub summed: bool,
    pub x: &'a [f64],
    pub rows: Range<usize>,
    pub weights: Weights<'a>,
}

impl Kernel for BlockStats<'_> {
    type Output = PassStats;

    #[inline(always)]
    fn run<V: Lanes>(self) -> PassStats {
        let BlockStats { g, moments, summed, x, rows, weights } = self;
        with_dim!(g.d, |dim| block_stats::<V, _>(dim, g, moments, summed, x, rows, weights))
    }
}

/// [`BlockStats`] of `rows` of `x` on `simd`, its moments summed as a pass
/// on that path sums them: one leaf of a pass, for a caller that maps the
/// blocks itself.
pub(crate) fn block_stats_on(
    simd: Simd,
    g: &Gaussians,
    moments: Moments,
    x: &[f64],
    rows: Range<usize>,
    weights: Weights,
) -> PassStats {
    let summed = sums_q(g.k, g.d, moments, simd.lanes());
    BlockStats { g, moments, summed, x, rows, weights }.run_on(simd)
}

/// The fixed-block reduction of [`BlockStats`] over all of `x`: a pass.
pub(crate) fn reduce_blocks<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    g: &Gaussians,
    moments: Moments,
    x: &[f64],
    weights: Weights,
) -> PassStats {
    let (k, d) = (g.k, g.d);
    let n = x.len() / d;
    let summed = sums_q(k, d, moments, simd.lanes());
    let block = |rows| BlockStats { g, moments, summed, x, rows, weights }.run_on(simd);
    map_reduce(exec, n, pass_block(n, d, k, moments), block, PassStats::add)
        .unwrap_or_else(|| PassStats::zeros(k, d, moments))
}

/// The statistics of each `block`-row block of `x` (the last may be
/// shorter), in block order, each exactly as [`reduce_blocks`] maps it when
/// `block` is the pass's [`pass_block`]: the leaves of a pass's tree, for a
/// caller that holds some of them and combines them elsewhere.
pub(crate) fn each_block<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    g: &Gaussians,
    moments: Moments,
    x: &[f64],
    block: NonZeroUsize,
) -> Vec<PassStats> {
    let (k, d) = (g.k, g.d);
    let n = x.len() / d;
    let block = block.get();
    let summed = sums_q(k, d, moments, simd.lanes());
    let mut out: Vec<Option<PassStats>> = vec![None; n.div_ceil(block)];
    for_each_chunk_mut(exec, &mut out, 1, |blocks, slots| {
        for (b, slot) in blocks.zip(slots) {
            let rows = b * block..n.min(b * block + block);
            *slot = Some(BlockStats { g, moments, summed, x, rows, weights: Weights::Densities }.run_on(simd));
        }
    });
    out.into_iter().map(|s| s.expect("for_each_chunk_mut visits every block")).collect()
}

/// The block of rows a pass reduces at a time: fixed for given `n`, `d` and
/// `k` (never by thread count, so the sums have the same bits on every
/// executor). At least 4096 rows, so that a block's partial statistics are
/// small beside its rows (1024 where the full moments are summed by
/// [`panel`], each row then costing thousands of multiply-adds); about `n / 64` for large `n`, because every block
/// costs a result to make and combine (at 4096 rows, a tenth of a
/// two-thread pass over 4·10⁶ points when measured), while 64 blocks still
/// give any schedule room to balance 16 threads; at most 2¹⁶.
pub(crate) fn pass_block(n: usize, d: usize, k: usize, moments: Moments) -> NonZeroUsize {
    let stats_len = k * (1 + d + moments.per_component(d));
    let least = if panel::applies(d, moments) {
        // Each row costs `k·d²` multiply-adds, so a block of 1024 rows
        // already does a thousand per value of its statistics; but all the
        // blocks' statistics together stay within the size of the data.
        (stats_len / d).clamp(1024, 1 << 16)
    } else {
        (stats_len.saturating_mul(8) / d.max(1)).clamp(4096, 1 << 16)
    };
    let rows = (n / 64).clamp(least, 1 << 16).next_multiple_of(TILE);
    NonZeroUsize::new(rows).expect("at least 4096")
}

/// The most `f64` values a [`pass`] of `k` components over `n` rows of
/// dimension `d` holds beside its inputs, on `threads` threads with
/// `lanes`-wide lanes, for a fit (whose factors are triangular exactly when
/// its moments are full): each thread's running sums (`lanes` per
/// statistic, but one per moment of `q` where [`sums_q`]) and tile, every
/// block's statistics (an executor that runs blocks in no useful order may
/// hold about half of them at once; [`map_reduce`] combines ascending ones
/// as they come) and the result, and for [`Parallelism::Model`] the
/// `k × n` log-densities; `tied` where one factor serves every component
/// ([`Gaussians::tied`]). `None` when the count overflows `usize`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pass_values(
    n: usize,
    d: usize,
    k: usize,
    moments: Moments,
    tied: bool,
    parallelism: Parallelism,
    threads: usize,
    lanes: usize,
) -> Option<usize> {
    let second = match moments {
        Moments::Full => d.checked_mul(d.checked_add(1)?)? / 2,
        Moments::Diagonal => d,
        Moments::Means => 0,
    };
    let stats = k.checked_mul(d.checked_add(1)?.checked_add(second)?)?;
    let full = moments == Moments::Full;
    let sums = k.checked_mul(sum_vectors(d, moments, sums_q(k, d, moments, lanes), lanes)?)?;
    let tied = (tied && full).then_some(lanes);
    let per_thread = sums.checked_mul(lanes)?.checked_add(tile_values(k, d, full, full, tied)?)?;
    let blocks = n.div_ceil(pass_block(n, d, k, moments).get());
    let densities = match parallelism {
        Parallelism::Data => 0,
        Parallelism::Model => k.checked_mul(n)?,
    };
    per_thread.checked_mul(threads)?.checked_add(stats.checked_mul(blocks.checked_add(1)?)?)?.checked_add(densities)
}

/// The `f64` values of one thread's [`Tile`] for `k` components of
/// dimension `d`, with the blocked path's scratch (`d > 4`): `x − μ` for a
/// `triangular` factor's densities or for full moments, and `r·(x − μ)`
/// for `full_moments`; and where a `tied` factor's densities take one
/// product ([`Gaussians::one_product`]), `k` running sums per row on
/// `tied`-wide lanes. `None` when that overflows `usize`.
pub(crate) fn tile_values(
    k: usize,
    d: usize,
    triangular: bool,
    full_moments: bool,
    tied: Option<usize>,
) -> Option<usize> {
    let scratch = if d <= 4 {
        0
    } else if panel::applies(d, if full_moments { Moments::Full } else { Moments::Diagonal }) {
        // `x − μ` and `r·(x − μ)` packed in rows of `panel::stride(d)`.
        2 * panel::stride(d)
    } else {
        d * (usize::from(triangular || full_moments) + usize::from(full_moments))
    };
    let sums = match tied {
        Some(lanes) if triangular && d >= panel::PANEL_FROM => k.checked_mul(lanes)?,
        _ => 0,
    };
    k.checked_add(d)?.checked_add(scratch)?.checked_add(sums)?.checked_add(3)?.checked_mul(TILE)
}

/// How the E-step is spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// Threads over blocks of rows; each block does every component (the default).
    #[default]
    Data,
    /// Threads over components for the log-densities (the seed's last cells),
    /// written to a `k × n` buffer; then blocks of rows normalize and sum.
    Model,
}

/// One fused E-step pass on `simd`'s lanes: the sufficient statistics and
/// log-likelihood of all of `x` under `g`. Bit-identical for any executor,
/// and for either [`Parallelism`].
pub(crate) fn pass<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    g: &Gaussians,
    moments: Moments,
    parallelism: Parallelism,
    x: &[f64],
) -> PassStats {
    match parallelism {
        Parallelism::Data => reduce_blocks(exec, simd, g, moments, x, Weights::Densities),
        Parallelism::Model => {
            let n = x.len() / g.d;
            let densities = model_parallel_densities(exec, simd, g, x, n);
            reduce_blocks(exec, simd, g, moments, x, Weights::Copied { densities: &densities, n })
        }
    }
}

/// The seed's model parallelism: one task per component, each computing its
/// log-densities for every row into its own row of a `k × n` buffer.
fn model_parallel_densities<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    g: &Gaussians,
    x: &[f64],
    n: usize,
) -> Vec<f64> {
    let mut densities = vec![0.0; g.k * n];
    if n > 0 {
        for_each_chunk_mut(exec, &mut densities, n, |components, out| {
            ComponentDensities { g, x, components, out }.run_on(simd)
        });
    }
    densities
}

/// Components `components`' log-densities of every row of `x`, into `out`
/// (a row of `n` values per component).
struct ComponentDensities<'a> {
    g: &'a Gaussians,
    x: &'a [f64],
    components: Range<usize>,
    out: &'a mut [f64],
}

impl Kernel for ComponentDensities<'_> {
    type Output = ();

    #[inline(always)]
    fn run<V: Lanes>(self) {
        let ComponentDensities { g, x, components, out } = self;
        let n = x.len() / g.d;
        with_dim!(g.d, |dim| {
            let mut scratch = vec![V::zero(); V::G];
            for (c, row) in components.zip(out.chunks_exact_mut(n)) {
                let mut walk = Tiles::<V, _>::new(dim, 1, x, 0..n);
                while let Some(r) = walk.next() {
                    dim.log_density(g, c, walk.tile(), &mut scratch);
                    let values: &[f64] = bytemuck::cast_slice(&scratch);
                    row[r.clone()].copy_from_slice(&values[..r.len()]);
                }
            }
        })
    }
}

crate::simd::compiled_here!(BlockStats<'_>, ComponentDensities<'_>);
