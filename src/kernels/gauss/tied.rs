//! Log-densities of a tile's rows under a tied covariance, one factor `W`
//! for every component: `y = (W/√2)·(x − m)` once per row by
//! [`panel`]'s register-blocked product, then for each component
//! `konst − ‖y − bₖ‖²` with `bₖ = (W/√2)·(μₖ − m)`. About `d²/2 + k·d`
//! multiply-adds a row, where a product per component takes `k·d²/2`.
//!
//! `m` is the mean of the means, so that `y` and `bₖ` stay of the size of
//! the components' spread around it: the subtraction `y − bₖ` costs digits
//! only in proportion to how far `μₖ` lies from `m` in the factor's units.

use super::TILE;
use super::panel::{FACTOR_W, factor_rows, product};
use super::tile::TileLanes;
use crate::simd::Lanes;

/// Values of one component's offset `bₖ`: `d` padded to the packed
/// factor's blocks (zeros past `d`, where `y` is 0 too).
pub(super) fn offsets_len(d: usize) -> usize {
    d.next_multiple_of(FACTOR_W)
}

/// `out = (W/√2)·delta` from `packed`, the factor as
/// [`panel::pack_factor`] packs it (times `√½`): each `out[i]` summed over
/// `j` ascending. Plain multiplies and adds, once per component and
/// iteration, outside the SIMD paths (so the same bits on any build).
pub(super) fn offset(d: usize, packed: &[f64], delta: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    let mut at = 0;
    for ib in 0..d.div_ceil(FACTOR_W) {
        let rows = factor_rows(d, ib);
        let o = &mut out[ib * FACTOR_W..(ib + 1) * FACTOR_W];
        for (w, &x) in packed[at..at + rows * FACTOR_W].chunks_exact(FACTOR_W).zip(delta) {
            for (o, &w) in o.iter_mut().zip(w) {
                *o += w * x;
            }
        }
        at += rows * FACTOR_W;
    }
}

/// Log-densities of a tile's rows for the components whose constants are
/// `consts` and offsets `offsets` ([`offsets_len`] values each): `packed`
/// the shared factor (see [`panel::pack_factor`]), `dt` the tile's `x − m`
/// group by group ([`tile_diffs_grouped`](super::tile::tile_diffs_grouped)),
/// `sq` scratch of at least `consts.len()·TILE` vectors, `out` one row of
/// `G` vectors per component.
///
/// Each row's value takes the same operations in the same order whichever
/// tile, lane or set of components holds it: `yᵢ` summed over `j`
/// ascending as [`panel::log_density`] sums it, `Σ (yᵢ − bᵢ)²` over blocks
/// and vectors ascending into one sum per lane, then the lanes' sum. So one
/// component at a time (the model-parallel densities) gives the bits of
/// all at once.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn log_densities<V: TileLanes>(
    d: usize,
    packed: &[f64],
    consts: &[f64],
    offsets: &[f64],
    dt: &[V],
    groups: usize,
    sq: &mut [V],
    out: &mut [V],
) {
    let (l, nc, stride) = (V::LANES, consts.len(), offsets_len(d));
    debug_assert_eq!(offsets.len(), nc * stride);
    let dt: &[f64] = bytemuck::cast_slice(dt);
    let sq = &mut sq[..nc * TILE];
    sq.fill(V::zero());
    let mut at = 0;
    for ib in 0..d.div_ceil(FACTOR_W) {
        let rows = factor_rows(d, ib);
        let block = &packed[at..at + rows * FACTOR_W];
        at += rows * FACTOR_W;
        let group = |pb: usize| &dt[pb * d * l..(pb + 1) * d * l];
        if l == 8 {
            for pb in 0..groups {
                let y = product::<V, 8, 3>(rows, block, 0, group(pb));
                add_squares(&y, offsets, stride, ib * FACTOR_W, sq, pb * 8);
            }
        } else {
            for half in 0..2 {
                for pb in 0..groups {
                    let y = product::<V, 4, 3>(rows, block, half * 12, group(pb));
                    add_squares(&y, offsets, stride, ib * FACTOR_W + half * 12, sq, pb * 4);
                }
            }
        }
    }
    for (c, (&konst, out)) in consts.iter().zip(out.chunks_exact_mut(V::G)).enumerate() {
        let konst = V::splat(konst);
        for (pb, o) in out[..groups].iter_mut().enumerate() {
            *o = konst - V::hsums(&sq[c * TILE + pb * l..c * TILE + (pb + 1) * l]);
        }
    }
}

/// For each component, `(y − b)²` of the `MR` rows' `NR` vectors of `y`
/// (coordinates from `first`) added to the rows' sums at `row` in its
/// `TILE` vectors of `sq`.
#[inline(always)]
fn add_squares<V: Lanes, const MR: usize, const NR: usize>(
    y: &[[V; NR]; MR],
    offsets: &[f64],
    stride: usize,
    first: usize,
    sq: &mut [V],
    row: usize,
) {
    let l = V::LANES;
    for (b, sq) in offsets.chunks_exact(stride).zip(sq.chunks_exact_mut(TILE)) {
        let mut bv = [V::zero(); NR];
        for v in 0..NR {
            bv[v] = V::load(&b[first + v * l..]);
        }
        for m in 0..MR {
            let mut s = sq[row + m];
            for v in 0..NR {
                let t = y[m][v] - bv[v];
                s = t.mul_add(t, s);
            }
            sq[row + m] = s;
        }
    }
}
