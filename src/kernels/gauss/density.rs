//! Log-densities of a tile's rows for one component:
//! `l = ln πₖ − ½·d·ln 2π + Σⱼ ln Wⱼⱼ − ‖(W/√2)·(x − μ)‖²`, with `d` a
//! constant (the per-row state in registers) or blocked for large `d`.

use std::ops::Range;

use super::components::{Factor, Gaussians};
use super::tile::{Tile, TileLanes, grow, part, tile_diffs, tile_diffs_grouped};
use super::{TILE, panel, tied};
use crate::simd::Lanes;

/// Coordinate `j` of the rows of group `grp`, minus `mu[j]`.
#[inline(always)]
pub(super) fn diffs<V: Lanes, const D: usize>(cols: &[&[V]; D], mu: &[V; D], grp: usize) -> [V; D] {
    let mut xs = [V::zero(); D];
    for j in 0..D {
        xs[j] = cols[j][grp] - mu[j];
    }
    xs
}

/// The tile's columns, `groups` vectors each, and `μ_c` broadcast.
#[inline(always)]
pub(super) fn columns<'t, V: Lanes, const D: usize>(
    tile: &'t Tile<V>,
    g: &Gaussians,
    c: usize,
) -> ([&'t [V]; D], [V; D]) {
    let groups = tile.groups();
    let mut cols: [&[V]; D] = [&[]; D];
    let mut mu = [V::zero(); D];
    for j in 0..D {
        cols[j] = part(&tile.xt, j, groups);
        mu[j] = V::splat(g.mean(c)[j]);
    }
    (cols, mu)
}

/// [`Dim::log_density`](super::dims::Dim::log_density) for a constant `D`:
/// `y = (W/√2)·(x − μ)` and `l = konst − Σᵢ yᵢ²`, group by group.
#[inline(always)]
pub(super) fn fixed_log_density<V: Lanes, const D: usize>(g: &Gaussians, c: usize, tile: &mut Tile<V>, out: &mut [V]) {
    let (cols, mu) = columns::<V, D>(tile, g, c);
    let out = &mut out[..tile.groups()];
    let w = g.scaled_w(c);
    let konst = V::splat(g.consts[c]);
    match g.factor {
        Factor::Triangular => {
            let mut wv = [[V::zero(); D]; D];
            for i in 0..D {
                for j in 0..=i {
                    wv[i][j] = V::splat(w[i * D + j]);
                }
            }
            for (grp, o) in out.iter_mut().enumerate() {
                let xs = diffs(&cols, &mu, grp);
                let mut l = konst;
                for i in 0..D {
                    let mut y = V::zero();
                    for j in 0..=i {
                        y = xs[j].mul_add(wv[i][j], y);
                    }
                    l = y.mul_neg_add(y, l);
                }
                *o = l;
            }
        }
        Factor::Diagonal => {
            let mut wv = [V::zero(); D];
            for j in 0..D {
                wv[j] = V::splat(w[j]);
            }
            for (grp, o) in out.iter_mut().enumerate() {
                let xs = diffs(&cols, &mu, grp);
                let mut l = konst;
                for j in 0..D {
                    let y = xs[j] * wv[j];
                    l = y.mul_neg_add(y, l);
                }
                *o = l;
            }
        }
    }
}

/// [`Dim::log_density`](super::dims::Dim::log_density) for large `d`: for a
/// triangular factor, the differences of the whole tile first, then
/// `y = W·(x − μ)` eight groups at a time, so each broadcast factor entry
/// feeds eight multiply-adds (from [`panel::PANEL_FROM`] on, by
/// [`panel::log_density`]'s micro-tiles); for a diagonal one, eight groups
/// at a time straight from the tile's columns.
#[inline(always)]
pub(super) fn tile_log_density_blocked<V: Lanes>(d: usize, g: &Gaussians, c: usize, tile: &mut Tile<V>, out: &mut [V]) {
    let groups = tile.groups();
    if g.one_product() {
        return tied_densities(d, g, c..c + 1, tile, out);
    }
    if g.packed() {
        tile_diffs_grouped(d, g.mean(c), tile);
        return panel::log_density(d, g.packed_w(c), g.consts[c], &tile.dt, groups, out);
    }
    let (w, konst) = (g.scaled_w(c), V::splat(g.consts[c]));
    let (blocks, rest) = out[..groups].as_chunks_mut::<8>();
    let first_rest = 8 * blocks.len();
    match g.factor {
        Factor::Triangular => {
            tile_diffs(d, g.mean(c), tile);
            for (b, o) in blocks.iter_mut().enumerate() {
                *o = log_density_groups::<V, 8>(d, w, konst, &tile.dt, 8 * b);
            }
            for (i, o) in rest.iter_mut().enumerate() {
                *o = log_density_groups::<V, 1>(d, w, konst, &tile.dt, first_rest + i)[0];
            }
        }
        Factor::Diagonal => {
            let mu = g.mean(c);
            for (b, o) in blocks.iter_mut().enumerate() {
                *o = diagonal_groups::<V, 8>(mu, w, konst, &tile.xt, 8 * b);
            }
            for (i, o) in rest.iter_mut().enumerate() {
                *o = diagonal_groups::<V, 1>(mu, w, konst, &tile.xt, first_rest + i)[0];
            }
        }
    }
}

/// Components `cs`' log-densities of the tile's rows under a shared factor
/// ([`Gaussians::one_product`]), into `out` (a row of `G` vectors per
/// component): `x − m` of the whole tile, then [`tied::log_densities`].
#[inline(always)]
pub(super) fn tied_densities<V: Lanes>(d: usize, g: &Gaussians, cs: Range<usize>, tile: &mut Tile<V>, out: &mut [V]) {
    tile_diffs_grouped(d, g.shift(), tile);
    grow(&mut tile.sq, cs.len() * TILE / V::G);
    let groups = tile.groups();
    let consts = &g.consts[cs.clone()];
    tied::log_densities(d, g.packed_w(0), consts, g.offsets(cs), &tile.dt, groups, &mut tile.sq, out);
}

/// `N` consecutive groups from `first` of row `j` of a tile array.
#[inline(always)]
fn groups_of<V: Lanes, const N: usize>(v: &[V], j: usize, first: usize) -> &[V; N] {
    v[j * V::G + first..j * V::G + first + N].try_into().expect("N groups")
}

/// Diagonal log-densities of `N` consecutive groups from `first`, from the
/// tile's columns `xt`: `y = (x − μ)·w`, then `l −= y²`, in ascending
/// coordinate order. Each `x − μ` is used once, so it is formed here rather
/// than stored by [`tile_diffs`] and loaded back.
#[inline(always)]
fn diagonal_groups<V: Lanes, const N: usize>(mu: &[f64], w: &[f64], konst: V, xt: &[V], first: usize) -> [V; N] {
    let mut l = [konst; N];
    for (j, (&m, &wj)) in mu.iter().zip(w).enumerate() {
        let (m, wj) = (V::splat(m), V::splat(wj));
        let x = groups_of::<V, N>(xt, j, first);
        for b in 0..N {
            let y = (x[b] - m) * wj;
            l[b] = y.mul_neg_add(y, l[b]);
        }
    }
    l
}

/// Triangular log-densities of `N` consecutive groups from `first`, from
/// the tile's differences `dt` (a constant `N`, so the `N` running sums
/// stay in registers).
#[inline(always)]
fn log_density_groups<V: Lanes, const N: usize>(d: usize, w: &[f64], konst: V, dt: &[V], first: usize) -> [V; N] {
    let mut l = [konst; N];
    let x = |j: usize| groups_of::<V, N>(dt, j, first);
    // Rows i and i + 1 together, in the same order as one row at a time:
    // each xⱼ loaded once feeds two rows, and 2N chains of dependent
    // multiply-adds cover the latency that N alone left exposed on a
    // core with two FMA pipes (one row over four groups took up to a
    // quarter longer at d = 32 on a Xeon).
    let mut i = 0;
    while i + 1 < d {
        let mut y0 = [V::zero(); N];
        let mut y1 = [V::zero(); N];
        for j in 0..=i {
            let (w0, w1, xj) = (V::splat(w[i * d + j]), V::splat(w[(i + 1) * d + j]), x(j));
            for b in 0..N {
                y0[b] = xj[b].mul_add(w0, y0[b]);
                y1[b] = xj[b].mul_add(w1, y1[b]);
            }
        }
        let (w1, xj) = (V::splat(w[(i + 1) * d + i + 1]), x(i + 1));
        for b in 0..N {
            y1[b] = xj[b].mul_add(w1, y1[b]);
        }
        for b in 0..N {
            l[b] = y0[b].mul_neg_add(y0[b], l[b]);
        }
        for b in 0..N {
            l[b] = y1[b].mul_neg_add(y1[b], l[b]);
        }
        i += 2;
    }
    if i < d {
        // The last row alone: Σⱼ wᵢⱼ·xⱼ in ascending j, then l −= y².
        let mut y = [V::zero(); N];
        for j in 0..=i {
            let (wij, xj) = (V::splat(w[i * d + j]), x(j));
            for b in 0..N {
                y[b] = xj[b].mul_add(wij, y[b]);
            }
        }
        for b in 0..N {
            l[b] = y[b].mul_neg_add(y[b], l[b]);
        }
    }
    l
}
