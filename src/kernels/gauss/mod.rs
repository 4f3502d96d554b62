//! Gaussian log-densities and the fused E-step of a mixture (seed cells 37–52).
//!
//! The seed's EM computes, for every point and component,
//! `log_probability(X, mu, inv_cov, log_det, d)`: a double loop over an
//! explicit inverse covariance, `inv_cov[i + j*d]`, then `exp`, then divides
//! each row of densities by its sum. Here, one concept a file:
//!
//! - `mirror.rs`: [`log_probability_raw`], [`expectation_raw`] and
//!   [`expectation`], the seed's loops over raw pointers (the oracle), with
//!   two of its bugs fixed (the constant is `ln(2π)`, indices are `usize`);
//! - `components.rs`: [`Gaussians`], components prepared for the fast
//!   kernel — means, the precision Cholesky factor `W = L⁻¹` of each
//!   covariance `Σ = L·Lᵀ` (never an explicit inverse), and each
//!   component's constant `ln πₖ − ½·d·ln 2π + Σⱼ ln Wⱼⱼ`;
//! - `tile.rs`: a tile of rows transposed into lanes, and the walk over a
//!   block's tiles; `dims.rs`: the dimension as a constant or a value;
//! - `density.rs`: the log-densities of a tile; `softmax.rs`: their
//!   log-sum-exp into responsibilities; `moments.rs`: the M-step's
//!   sufficient statistics of a tile;
//! - `pass.rs`: the fused pass used by [`crate::gmm`] — per block of rows,
//!   the log-densities, their log-sum-exp and the statistics, without
//!   materialising the responsibilities — and what it holds in memory;
//! - `rows.rs`: per-row outputs, and [`log_densities`].
//!
//! The Cholesky factors and inverses are in [`crate::kernels::linalg`]
//! (re-exported here), the k-means passes on the same tiles in
//! [`crate::kernels::kmeans`].
//!
//! # The kernel
//!
//! Rows are taken in tiles of [`TILE`]; a tile is transposed into a
//! column-major scratch so that one vector holds one coordinate of `LANES`
//! rows (the lanes of the SIMD path chosen at run time, [`crate::simd`]).
//! For a component, `y = W·(x − μ)` costs `d(d+1)/2` multiply-adds per row
//! (`d` for diagonal covariances) and the squared Mahalanobis distance is
//! `‖y‖²`. Dimensions 1 to 4 are compiled with the dimension as a constant,
//! so the per-row state lives in registers; larger `d` runs loops that take
//! eight groups of rows (or four moments) at a time. Both do the same
//! operations in the same order for every lane, so their results agree to
//! the bit (a unit test holds them to it). Each lane keeps its own running
//! sums over a block, except where a block's full moments would take more
//! than 1 MiB so (many components at large `d`): each tile's moments are
//! then added across lanes as the tile ends, also in a fixed order, into
//! one value each.
//!
//! Responsibilities come from a log-sum-exp: `rₖ = exp(lₖ − m) / Σⱼ exp(lⱼ − m)`
//! with `m = maxₖ lₖ`, so a point whose densities all underflow still gets
//! responsibilities that sum to 1 (the seed's `exp` then divide gives 0/0).
//! The `exp` is nogil's own (within 2 ulps of `libm` in its test); for
//! `k ≤ 8` the log-sum-exp is compiled per `k`. The log-likelihood takes
//! one `ln` per block: each tile's product of row sums `s ∈ [1, k]` is kept
//! as a power of two and a mantissa.
//!
//! Every per-row value is computed by the same operations whichever tile or
//! thread holds the row, and every sum over rows runs in a fixed order inside
//! fixed blocks, so results are bit-identical for any executor (on one SIMD
//! path).

// Index loops over i, j, c mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

mod components;
mod density;
pub(crate) mod dims;
mod mirror;
mod moments;
mod panel;
mod pass;
mod rows;
mod softmax;
mod tied;
pub(crate) mod tile;

#[cfg(test)]
mod tests;

pub(crate) use components::rows;
pub use components::{Factor, Gaussians};
pub use mirror::{expectation, expectation_raw, log_probability_raw};
pub(crate) use moments::{Moments, PassStats};
pub use pass::Parallelism;
#[cfg(test)]
pub(crate) use pass::reduce_blocks;
pub(crate) use pass::{Weights, block_stats_on, each_block, pass, pass_block, pass_values, tile_values};
pub use rows::log_densities;
pub(crate) use rows::{RowOutput, per_row};

pub use crate::kernels::linalg::{cholesky, inverse_and_log_det, invert_lower};

/// `ln(2π)`: the constant the seed meant (its `0.79817986835` is `log₁₀(2π)`).
pub const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Rows per tile of the fused kernel: a multiple of every lane width, small
/// enough that a tile's scratch stays in L1 for small `d` and `K`.
pub const TILE: usize = 128;
