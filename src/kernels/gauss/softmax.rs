//! A tile's log-sum-exp: log-densities into responsibilities and the rows'
//! log-likelihood, with no 0/0 when every density underflows.

use super::moments::Sums;
use super::tile::{Tile, TileLanes};
use crate::simd::Lanes;

/// The tile's log-sum-exp, row by row: `lt[c]` becomes `eₖ = exp(lₖ − m)`
/// with `m = maxₖ lₖ`, and `top`, `sum`, `inv` get `m`, `s = Σₖ eₖ` and
/// `1/s`. The responsibilities are `eₖ·(1/s)` and the row's log-likelihood
/// is `m + ln s`. Padding lanes get `m = 0`, `s = 1` and `1/s = 0`, so they
/// add nothing to any sum over rows.
#[inline(always)]
pub(super) fn tile_softmax<V: Lanes>(k: usize, tile: &mut Tile<V>) {
    // With k a constant the row's k values, its maximum and its sum stay in
    // registers; any other k takes one pass per step over the tile.
    match k {
        1 => softmax_fixed::<V, 1>(tile),
        2 => softmax_fixed::<V, 2>(tile),
        3 => softmax_fixed::<V, 3>(tile),
        4 => softmax_fixed::<V, 4>(tile),
        5 => softmax_fixed::<V, 5>(tile),
        6 => softmax_fixed::<V, 6>(tile),
        7 => softmax_fixed::<V, 7>(tile),
        8 => softmax_fixed::<V, 8>(tile),
        _ => softmax_any(k, tile),
    }
    mask_padding(tile);
}

/// Gives the padding lanes `m = 0`, `s = 1` and `1/s = 0`.
#[inline(always)]
pub(super) fn mask_padding<V: Lanes>(tile: &mut Tile<V>) {
    if let Some((last, valid)) = tile.padding() {
        tile.top[last] = tile.top[last].keep(valid);
        tile.sum[last] = V::select(valid, tile.sum[last], V::splat(1.0));
        tile.inv[last] = tile.inv[last].keep(valid);
    }
}

/// [`tile_softmax`] for `K` components, group by group. The same operations
/// in the same order as [`softmax_any`], so the bits agree.
#[inline(always)]
pub(super) fn softmax_fixed<V: Lanes, const K: usize>(tile: &mut Tile<V>) {
    let groups = tile.groups().min(V::G);
    let Tile { lt, top, sum, inv, .. } = tile;
    // Slices of exactly `groups` vectors, made once: indexing the tile's
    // vectors in the loop reloaded their pointers after every store and
    // checked every index, which left the divide's latency exposed.
    let mut rows = lt.chunks_exact_mut(V::G);
    let rows: [&mut [V]; K] = core::array::from_fn(|_| &mut rows.next().expect("K rows")[..groups]);
    let (top, sum, inv) = (&mut top[..groups], &mut sum[..groups], &mut inv[..groups]);
    for grp in 0..groups {
        let mut l = [V::zero(); K];
        for c in 0..K {
            l[c] = rows[c][grp];
        }
        let mut m = l[0];
        for c in 1..K {
            m = m.max(l[c]);
        }
        let mut s = V::zero();
        for c in 0..K {
            let e = (l[c] - m).exp_nonpositive();
            rows[c][grp] = e;
            s = if c == 0 { e } else { s + e };
        }
        top[grp] = m;
        sum[grp] = s;
        inv[grp] = V::splat(1.0) / s;
    }
}

/// [`tile_softmax`] for any `k`, one step at a time over the whole tile.
#[inline(always)]
pub(super) fn softmax_any<V: Lanes>(k: usize, tile: &mut Tile<V>) {
    let groups = tile.groups();
    let Tile { lt, top, sum, inv, .. } = tile;
    let (top, sum, inv) = (&mut top[..groups], &mut sum[..groups], &mut inv[..groups]);
    let lt = &mut lt[..k * V::G];
    // maxpd's max: a NaN lₖ still makes its eₖ, s and ln s NaN.
    top.copy_from_slice(&lt[..groups]);
    for row in lt.chunks_exact(V::G).skip(1) {
        for (m, &l) in top.iter_mut().zip(&row[..groups]) {
            *m = m.max(l);
        }
    }
    let (first, rest) = lt.split_at_mut(V::G);
    for ((l, &m), s) in first[..groups].iter_mut().zip(top.iter()).zip(sum.iter_mut()) {
        *l = (*l - m).exp_nonpositive();
        *s = *l;
    }
    for row in rest.chunks_exact_mut(V::G) {
        for ((l, &m), s) in row[..groups].iter_mut().zip(top.iter()).zip(sum.iter_mut()) {
            *l = (*l - m).exp_nonpositive();
            *s += *l;
        }
    }
    for (i, &s) in inv.iter_mut().zip(sum.iter()) {
        *i = V::splat(1.0) / s;
    }
}

/// Multiplies `lt` by `inv` in place: the responsibilities.
#[inline(always)]
pub(super) fn tile_responsibilities<V: Lanes>(k: usize, tile: &mut Tile<V>) {
    let groups = tile.groups();
    for row in tile.lt[..k * V::G].chunks_exact_mut(V::G) {
        for (e, &inv) in row[..groups].iter_mut().zip(&tile.inv[..groups]) {
            *e *= inv;
        }
    }
}

/// Adds the tile's `Σ (m + ln s)` to `sums`: `Σ m`, and `Π s` kept as a
/// power of two and a mantissa, so the block needs one `ln` per lane. Each
/// `s` is in `[1, k]` and a lane holds `G ≤ 32` of them, so the tile's
/// product stays below `k³²`, finite for every `k < 2³¹`. A NaN `s` (from
/// NaN data) makes the power NaN.
#[inline(always)]
pub(super) fn tile_loglik<V: Lanes>(tile: &Tile<V>, sums: &mut Sums<V>) {
    let groups = tile.groups();
    let mut prod = V::splat(1.0);
    for (&m, &s) in tile.top[..groups].iter().zip(&tile.sum[..groups]) {
        sums.top += m;
        prod *= s;
    }
    #[allow(clippy::eq_op)]
    let nan = prod - prod;
    let (e1, m1) = prod.split_exponent();
    let (e2, m2) = (sums.mant * m1).split_exponent();
    sums.twos += (e1 + nan) + e2;
    sums.mant = m2;
}

/// Turns a tile's log-densities, in place, into responsibilities (as `lt`
/// times `inv`) and adds its log-likelihood to `sums`.
#[inline(always)]
pub(super) fn responsibilities<V: Lanes>(k: usize, tile: &mut Tile<V>, sums: &mut Sums<V>) {
    tile_softmax(k, tile);
    tile_loglik(tile, sums);
}
