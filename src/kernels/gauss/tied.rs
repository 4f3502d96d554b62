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
use super::panel::{FACTOR_W, TakeY, factor_rows, products};
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
/// the shared factor and `dt` the tile's `x − m`, as for
/// [`panel::products`], `sq` scratch of at least `consts.len()·TILE`
/// vectors, `out` one row of `G` vectors per component.
///
/// Each row's value takes the same operations in the same order whichever
/// tile, lane or set of components holds it: `y` as [`panel::products`]
/// forms it, `Σ (yᵢ − bᵢ)²` over its micro-tiles and vectors ascending into
/// one sum per lane, then the lanes' sum. So one component at a time (the
/// model-parallel densities) gives the bits of all at once.
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
    let sq = &mut sq[..nc * TILE];
    sq.fill(V::zero());
    products(d, packed, dt, groups, &mut Squares { offsets, stride, sq: &mut *sq });
    for (c, (&konst, out)) in consts.iter().zip(out.chunks_exact_mut(V::G)).enumerate() {
        let konst = V::splat(konst);
        for (pb, o) in out[..groups].iter_mut().enumerate() {
            *o = konst - V::hsums(&sq[c * TILE + pb * l..c * TILE + (pb + 1) * l]);
        }
    }
}

/// Per component and row of a tile, the running `Σ (yᵢ − bᵢ)²` (lanes
/// along the coordinates): `TILE` vectors of `sq` per component, whose
/// offsets are `stride` values each.
struct Squares<'a, V> {
    offsets: &'a [f64],
    stride: usize,
    sq: &'a mut [V],
}

impl<V: Lanes> TakeY<V> for Squares<'_, V> {
    #[inline(always)]
    fn take<const MR: usize, const NR: usize>(&mut self, y: &[[V; NR]; MR], first: usize, row: usize) {
        let l = V::LANES;
        for (b, sq) in self.offsets.chunks_exact(self.stride).zip(self.sq.chunks_exact_mut(TILE)) {
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
}
