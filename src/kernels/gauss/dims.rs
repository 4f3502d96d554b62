//! The dimension, as a constant (`d ≤ 4`) or a value: the one dimension
//! dispatch of the E-step, the moments and the k-means distances.

use super::Gaussians;
use super::density::{fixed_log_density, tile_log_density_blocked};
use super::moments::{Moments, fixed_stats, tile_stats_blocked};
use super::tile::{Tile, transpose_blocks, transpose_columns};
use crate::simd::Lanes;

/// How a tile's per-component loops are compiled: with `d` a constant
/// ([`Fixed`], the per-row state in registers) or a value ([`Dynamic`], loop
/// orders blocked for large `d`). Both do the same operations in the same
/// order for every lane, so their results agree to the bit.
pub(crate) trait Dim: Copy + Send + Sync {
    fn get(self) -> usize;

    /// `Some(d)` when `d` is a constant ([`Fixed`]), so that whole groups of
    /// rows can be read as [`columns`](Dim::columns).
    fn fixed(self) -> Option<usize>;

    /// The columns of the first `LANES` rows of `rows` (row-major, `d`
    /// values each), zero past `d`. Only for a [`fixed`](Dim::fixed) `d`.
    fn columns<V: Lanes>(self, rows: &[f64]) -> [V; 4];

    /// Writes the rows of `src` (row-major, `d` columns) into the tile's
    /// columns `xt`: coordinate `j` of row `i` is lane `i % LANES` of
    /// `xt[j·G + i / LANES]`.
    fn transpose<V: Lanes>(self, src: &[f64], xt: &mut [V]);

    /// Component `c`'s log-densities of the tile's rows, into `out` (one
    /// vector per group).
    fn log_density<V: Lanes>(self, g: &Gaussians, c: usize, tile: &mut Tile<V>, out: &mut [V]);

    /// Adds component `c`'s statistics of the tile, whose rows are `src`
    /// (row-major, as loaded), to its sums `acc` (see
    /// [`Sums`](super::moments::Sums); `q` across lanes where `summed`).
    #[allow(clippy::too_many_arguments)]
    fn stats<V: Lanes>(
        self,
        g: &Gaussians,
        moments: Moments,
        c: usize,
        tile: &mut Tile<V>,
        src: &[f64],
        acc: &mut [V],
        summed: bool,
    );
}

/// `d` as the constant `D`.
#[derive(Clone, Copy)]
pub(crate) struct Fixed<const D: usize>;

impl<const D: usize> Dim for Fixed<D> {
    #[inline(always)]
    fn get(self) -> usize {
        D
    }

    #[inline(always)]
    fn fixed(self) -> Option<usize> {
        Some(D)
    }

    #[inline(always)]
    fn columns<V: Lanes>(self, rows: &[f64]) -> [V; 4] {
        let (rows, _) = rows.as_chunks::<D>();
        let cols = V::load_columns::<D>(rows);
        core::array::from_fn(|j| if j < D { cols[j] } else { V::zero() })
    }

    #[inline(always)]
    fn transpose<V: Lanes>(self, src: &[f64], xt: &mut [V]) {
        transpose_columns::<V, D>(src, xt)
    }

    #[inline(always)]
    fn log_density<V: Lanes>(self, g: &Gaussians, c: usize, tile: &mut Tile<V>, out: &mut [V]) {
        fixed_log_density::<V, D>(g, c, tile, out)
    }

    #[inline(always)]
    fn stats<V: Lanes>(
        self,
        g: &Gaussians,
        moments: Moments,
        c: usize,
        tile: &mut Tile<V>,
        _src: &[f64],
        acc: &mut [V],
        summed: bool,
    ) {
        debug_assert!(!summed, "d ≤ 4 keeps its at most 10 moments in lanes");
        // One copy of the loop per kind, so the kind is not tested per group.
        match moments {
            Moments::Full => fixed_stats::<V, D>(g, Moments::Full, c, tile, acc),
            Moments::Diagonal => fixed_stats::<V, D>(g, Moments::Diagonal, c, tile, acc),
            Moments::Means => fixed_stats::<V, D>(g, Moments::Means, c, tile, acc),
        }
    }
}

/// `d` as a value: the blocked loops.
#[derive(Clone, Copy)]
pub(crate) struct Dynamic(pub usize);

impl Dim for Dynamic {
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }

    #[inline(always)]
    fn fixed(self) -> Option<usize> {
        None
    }

    fn columns<V: Lanes>(self, _: &[f64]) -> [V; 4] {
        unreachable!("columns are read only for a fixed d")
    }

    #[inline(always)]
    fn transpose<V: Lanes>(self, src: &[f64], xt: &mut [V]) {
        transpose_blocks(self.0, src, xt)
    }

    #[inline(always)]
    fn log_density<V: Lanes>(self, g: &Gaussians, c: usize, tile: &mut Tile<V>, out: &mut [V]) {
        tile_log_density_blocked(self.0, g, c, tile, out)
    }

    #[inline(always)]
    fn stats<V: Lanes>(
        self,
        g: &Gaussians,
        moments: Moments,
        c: usize,
        tile: &mut Tile<V>,
        src: &[f64],
        acc: &mut [V],
        summed: bool,
    ) {
        tile_stats_blocked(self.0, g, moments, c, tile, src, acc, summed)
    }
}

/// Runs `$body` with `$dim` the [`Dim`] of `$d`: a constant where that is
/// compiled in (`d ≤ 4`), else [`Dynamic`].
macro_rules! with_dim {
    ($d:expr, |$dim:ident| $body:expr) => {
        match $d {
            1 => {
                let $dim = $crate::kernels::gauss::dims::Fixed::<1>;
                $body
            }
            2 => {
                let $dim = $crate::kernels::gauss::dims::Fixed::<2>;
                $body
            }
            3 => {
                let $dim = $crate::kernels::gauss::dims::Fixed::<3>;
                $body
            }
            4 => {
                let $dim = $crate::kernels::gauss::dims::Fixed::<4>;
                $body
            }
            d => {
                let $dim = $crate::kernels::gauss::dims::Dynamic(d);
                $body
            }
        }
    };
}
pub(crate) use with_dim;
