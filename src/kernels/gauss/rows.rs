//! Per-row outputs of a mixture: weighted log-densities, responsibilities,
//! log-likelihoods and labels of every row, in parallel.

use std::ops::Range;

use super::components::{Factor, Gaussians, rows};
use super::dims::with_dim;
use super::softmax::{tile_responsibilities, tile_softmax};
use super::tile::Tiles;
use super::{TILE, tile_values};
use crate::Error;
use crate::error::{try_filled, try_room};
use crate::sched::{Executor, for_each_chunk_mut};
use crate::simd::{Kernel, Lanes, Simd};

/// What [`per_row`] writes for each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowOutput {
    /// `k` weighted log-densities `ln πₖ + ln N(x | μₖ, Σₖ)`.
    LogDensities,
    /// `k` responsibilities.
    Responsibilities,
    /// One value: `ln Σₖ πₖ N(x | μₖ, Σₖ)`.
    LogLikelihood,
    /// One value: the index of the most responsible component (as f64).
    Label,
}

impl RowOutput {
    pub fn width(self, k: usize) -> usize {
        match self {
            RowOutput::LogDensities | RowOutput::Responsibilities => k,
            RowOutput::LogLikelihood | RowOutput::Label => 1,
        }
    }
}

/// Per-row outputs of `x` under `g`, in parallel on `simd`'s lanes; `out`
/// holds `width` values per row.
///
/// [`Error::TooLarge`], before any work, if the tiles cannot be allocated:
/// each thread that takes rows holds one of `k + d + 3` rows of [`TILE`]
/// values (`k + 2d + 3` for a triangular factor with `d > 4`), which for
/// many components outgrows the data and the output.
pub(crate) fn per_row<E: Executor + ?Sized>(
    exec: &E,
    simd: Simd,
    g: &Gaussians,
    x: &[f64],
    what: RowOutput,
    out: &mut [f64],
) -> Result<(), Error> {
    let (k, d) = (g.k, g.d);
    let width = what.width(k);
    debug_assert_eq!(out.len(), x.len() / d * width);
    let threads = exec.threads().min(x.len() / d);
    let triangular = g.factor == Factor::Triangular;
    let tied = g.one_product().then_some(simd.lanes());
    let values = tile_values(k, d, triangular, false, tied).and_then(|v| v.checked_mul(threads));
    try_room("the per-row tiles", values.and_then(|v| v.checked_mul(8)), || {
        format!("{k} components of dimension {d} on {threads} threads")
    })?;
    for_each_chunk_mut(exec, out, width, |rows, out| RowsOut { g, x, what, rows, out }.run_on(simd));
    Ok(())
}

/// [`per_row`]'s work on one chunk of rows.
struct RowsOut<'a> {
    g: &'a Gaussians,
    x: &'a [f64],
    what: RowOutput,
    rows: Range<usize>,
    out: &'a mut [f64],
}

impl Kernel for RowsOut<'_> {
    type Output = ();

    #[inline(always)]
    fn run<V: Lanes>(self) {
        let RowsOut { g, x, what, rows, out } = self;
        let (k, width) = (g.k, what.width(g.k));
        let first = rows.start;
        with_dim!(g.d, |dim| {
            let mut walk = Tiles::<V, _>::new(dim, k, x, rows);
            while let Some(r) = walk.next() {
                let tile = walk.tile();
                tile.densities(dim, g);
                match what {
                    RowOutput::LogDensities => {}
                    RowOutput::LogLikelihood => {
                        tile_softmax(k, tile);
                        let groups = tile.groups();
                        for (s, &m) in tile.sum[..groups].iter_mut().zip(&tile.top[..groups]) {
                            *s = m + s.ln_normal();
                        }
                    }
                    RowOutput::Responsibilities | RowOutput::Label => {
                        tile_softmax(k, tile);
                        tile_responsibilities(k, tile);
                    }
                }
                let base = (r.start - first) * width;
                let (lt, ll) = (tile.lt_values(), bytemuck::cast_slice::<V, f64>(&tile.sum));
                for i in 0..r.len() {
                    let o = &mut out[base + i * width..base + (i + 1) * width];
                    match what {
                        RowOutput::LogDensities | RowOutput::Responsibilities => {
                            for (c, v) in o.iter_mut().enumerate() {
                                *v = lt[c * TILE + i];
                            }
                        }
                        RowOutput::LogLikelihood => o[0] = ll[i],
                        RowOutput::Label => {
                            // First maximum, as NumPy's argmax; NaN where the
                            // responsibilities are (every density overflowed).
                            let mut best = 0;
                            for c in 1..k {
                                if lt[c * TILE + i] > lt[best * TILE + i] {
                                    best = c;
                                }
                            }
                            o[0] = if lt[best * TILE + i].is_nan() { f64::NAN } else { best as f64 };
                        }
                    }
                }
            }
        })
    }
}

/// Weighted log-densities `ln πₖ + ln N(xᵢ | μₖ, Σₖ)` of every row of `x`
/// (row-major, `g.dim()` columns) for every component: `n × k`, row-major.
///
/// # Errors
///
/// [`Error::Shape`] when `x` is not whole rows; [`Error::TooLarge`], before
/// any work, when the output or each thread's scratch of
/// `(k + 3d + 3) × 128` values cannot be allocated.
///
/// ```
/// use nogil::kernels::gauss::{Factor, Gaussians, LN_2PI, log_densities};
/// // One standard normal in 2-D: ln N(0 | 0, I) = −ln 2π.
/// let g = Gaussians::new(2, Factor::Diagonal, vec![0.0, 0.0], vec![1.0, 1.0], &[0.0])?;
/// let l = log_densities(&nogil::Sequential, &g, &[0.0, 0.0])?;
/// assert!((l[0] + LN_2PI).abs() < 1e-15);
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn log_densities<E: Executor + ?Sized>(exec: &E, g: &Gaussians, x: &[f64]) -> Result<Vec<f64>, Error> {
    let n = rows(x, g.d)?;
    let mut out = try_filled("the log-densities", n, g.k, 0.0)?;
    per_row(exec, Simd::active(), g, x, RowOutput::LogDensities, &mut out)?;
    Ok(out)
}

crate::simd::compiled_here!(RowsOut<'_>);
