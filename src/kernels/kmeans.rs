//! The passes of the k-means initialization, on the E-step's tiles: the
//! squared distances from rows to centres (the log-densities of
//! [`Gaussians::centres`], `−‖x − c‖²`), the nearest-centre assignment and
//! its statistics (Lloyd's rounds), the k-means++ seeding's distances and
//! scores, and the column moments of Lloyd's tolerance. One distance
//! kernel for every `d`, by the E-step's one dimension dispatch.

use crate::kernels::gauss::Gaussians;
use crate::kernels::gauss::dims::{Dim, with_dim};
use crate::kernels::gauss::tile::{Tile, TileLanes, Tiles};
use crate::simd::{Kernel, Lanes, Matches};

/// Turns the tile's `lt = −‖x − cₖ‖²` into the one-hot assignment to the
/// largest (the nearest centre, the first of equals), with `inv` 1 (0 on
/// padding lanes) so that the statistics sum it, and returns the sum over
/// groups of the largest values (0 on padding lanes).
#[inline(always)]
pub(crate) fn tile_nearest<V: Lanes>(k: usize, tile: &mut Tile<V>) -> V {
    // As in the softmax: k a constant where that unrolls the loops.
    match k {
        1 => nearest_groups::<V, 1>(k, tile),
        2 => nearest_groups::<V, 2>(k, tile),
        3 => nearest_groups::<V, 3>(k, tile),
        4 => nearest_groups::<V, 4>(k, tile),
        5 => nearest_groups::<V, 5>(k, tile),
        6 => nearest_groups::<V, 6>(k, tile),
        7 => nearest_groups::<V, 7>(k, tile),
        8 => nearest_groups::<V, 8>(k, tile),
        _ => nearest_groups::<V, 0>(k, tile),
    }
    if let Some((last, valid)) = tile.padding() {
        tile.top[last] = tile.top[last].keep(valid);
        tile.inv[last] = tile.inv[last].keep(valid);
    }
    let mut total = V::zero();
    for &b in &tile.top[..tile.groups()] {
        total += b;
    }
    total
}

/// [`tile_nearest`]'s assignment, group by group, into `lt`, `top` and
/// `inv` (all 1); for `K` components, or any `k` when `K` is 0.
#[inline(always)]
fn nearest_groups<V: Lanes, const K: usize>(k: usize, tile: &mut Tile<V>) {
    let k = if K > 0 { K } else { k };
    let groups = tile.groups().min(V::G);
    let Tile { lt, top, inv, .. } = tile;
    // Slices made once, as in the softmax: no pointer reloads or index checks in the loop.
    let (lt, top, inv) = (&mut lt[..k * V::G], &mut top[..groups], &mut inv[..groups]);
    for grp in 0..groups {
        // The 1s are stored group by group: `inv.fill` compiled to scatters.
        inv[grp] = V::splat(1.0);
        let mut best = lt[grp];
        for c in 1..k {
            best = best.max(lt[c * V::G + grp]);
        }
        let mut taken = Matches::<V>::none();
        for c in 0..k {
            lt[c * V::G + grp] = taken.first(lt[c * V::G + grp], best);
        }
        top[grp] = best;
    }
}

/// How a k-means++ block pass updates each row's distance to its closest
/// chosen centre, `closest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closest {
    /// Leaves it (every centre given is only scored).
    Keep,
    /// Sets it to the distance to the first centre given.
    Set,
    /// Lowers it to the distance to the first centre given, where that is less.
    Lower,
}

/// One block of the k-means++ seeding: each row's `closest` distance
/// updated as `update` says by the first of `centres` (unless `Keep`), then
/// for every other centre `c` (every centre, for `Keep`) the block's
/// `Σ min(closest, ‖x − c‖²)`. Returns `Σ closest` after the update and
/// those scores. `x` starts at the block's first row; `closest` has one
/// value per row of the block.
pub(crate) struct SeedBlock<'a> {
    pub x: &'a [f64],
    pub closest: &'a mut [f64],
    pub centres: &'a Gaussians,
    pub update: Closest,
}

impl Kernel for SeedBlock<'_> {
    type Output = (f64, Vec<f64>);

    #[inline(always)]
    fn run<V: Lanes>(self) -> (f64, Vec<f64>) {
        with_dim!(self.centres.dim(), |dim| seed_block::<V, _>(dim, self))
    }
}

/// [`SeedBlock`] with the dimension `dim`: for a constant `d` from the
/// data's rows directly, otherwise on the E-step's tiles.
#[inline(always)]
fn seed_block<V: Lanes, D: Dim>(dim: D, block: SeedBlock) -> (f64, Vec<f64>) {
    let SeedBlock { x, closest, centres, update } = block;
    let (n, d, k) = (closest.len(), centres.dim(), centres.components());
    let mut seed = SeedSums::<V> {
        update,
        scored: if update == Closest::Keep { 0 } else { 1 },
        total: V::zero(),
        sums: vec![V::zero(); k - usize::from(update != Closest::Keep)],
    };
    let mut dist = vec![V::zero(); k];
    let all = V::zero().cmp_eq(V::zero());
    match dim.fixed() {
        // d ≤ 4: each group of rows straight from the data as columns (by
        // [`column_distance`], which has the tiles' bits); the whole groups
        // with the update as a constant, then the partial last group.
        Some(_) => {
            let whole = n - n % V::LANES;
            let (full, rest) = closest.split_at_mut(whole);
            let means = centres.means();
            match update {
                Closest::Keep => seed_groups::<V, D, KEEP>(dim, x, full, means, &mut seed),
                Closest::Set => seed_groups::<V, D, SET>(dim, x, full, means, &mut seed),
                Closest::Lower => seed_groups::<V, D, LOWER>(dim, x, full, means, &mut seed),
            }
            if !rest.is_empty() {
                // Its lanes past the rows repeat the last row.
                let rows = rest.len();
                let group = &x[whole * d..n * d];
                let mut pad = [0.0; 32];
                for i in 0..V::LANES {
                    let r = i.min(rows - 1);
                    pad[i * d..(i + 1) * d].copy_from_slice(&group[r * d..(r + 1) * d]);
                }
                let cols = dim.columns::<V>(&pad[..V::LANES * d]);
                for (c, o) in dist.iter_mut().enumerate() {
                    *o = column_distance(dim, &cols, &means[c * d..(c + 1) * d]);
                }
                seed.group(rest, &dist, V::lanes_below(rows));
            }
        }
        None => {
            let mut walk = Tiles::<V, _>::new(dim, k, x, 0..n);
            while let Some(r) = walk.next() {
                let tile = walk.tile();
                // lt = −‖x − c‖², a group of LANES rows at a time.
                tile.densities(dim, centres);
                let padding = tile.padding();
                for grp in 0..tile.groups() {
                    for (c, o) in dist.iter_mut().enumerate() {
                        *o = -tile.lt[c * V::G + grp];
                    }
                    let valid = match padding {
                        Some((last, mask)) if last == grp => mask,
                        _ => all,
                    };
                    let at = r.start + grp * V::LANES;
                    seed.group(&mut closest[at..n.min(at + V::LANES)], &dist, valid);
                }
            }
        }
    }
    let mut scores = Vec::with_capacity(seed.sums.len());
    for s in seed.sums {
        scores.push(s.hsum());
    }
    (seed.total.hsum(), scores)
}

/// [`Closest`] as a constant of [`seed_groups`] (enums cannot be const
/// parameters).
const KEEP: u8 = Closest::Keep as u8;
const SET: u8 = Closest::Set as u8;
const LOWER: u8 = Closest::Lower as u8;

/// [`SeedSums::group`] over the whole groups of rows of `closest` (a
/// multiple of `LANES` rows, starting `x`) for a constant `d`, the update
/// `U` and each centre's distance computed in the scoring loop.
#[inline(always)]
fn seed_groups<V: Lanes, D: Dim, const U: u8>(
    dim: D,
    x: &[f64],
    closest: &mut [f64],
    means: &[f64],
    seed: &mut SeedSums<V>,
) {
    // The scores' count a constant where that keeps the sums in registers
    // (the `2 + ⌊ln k⌋` candidates of k ≤ 400).
    match seed.sums.len() {
        2 => seed_groups_scoring::<V, D, U, 2>(dim, x, closest, means, seed),
        3 => seed_groups_scoring::<V, D, U, 3>(dim, x, closest, means, seed),
        4 => seed_groups_scoring::<V, D, U, 4>(dim, x, closest, means, seed),
        5 => seed_groups_scoring::<V, D, U, 5>(dim, x, closest, means, seed),
        6 => seed_groups_scoring::<V, D, U, 6>(dim, x, closest, means, seed),
        7 => seed_groups_scoring::<V, D, U, 7>(dim, x, closest, means, seed),
        _ => seed_groups_scoring::<V, D, U, 0>(dim, x, closest, means, seed),
    }
}

/// [`seed_groups`] with `M` scores (any number when `M` is 0).
#[inline(always)]
fn seed_groups_scoring<V: Lanes, D: Dim, const U: u8, const M: usize>(
    dim: D,
    x: &[f64],
    closest: &mut [f64],
    means: &[f64],
    seed: &mut SeedSums<V>,
) {
    let d = dim.get();
    let first = &means[..d];
    let scored = &means[seed.scored * d..];
    let mut local = [V::zero(); 8];
    let sums: &mut [V] = if M > 0 { &mut local[..M] } else { &mut seed.sums };
    let mut total = V::zero();
    let rows = x.chunks_exact(V::LANES * d);
    for (group, cl) in rows.zip(closest.chunks_exact_mut(V::LANES)) {
        let cols = dim.columns::<V>(group);
        let v = match U {
            KEEP => V::load(cl),
            SET => column_distance(dim, &cols, first),
            _ => V::load(cl).min(column_distance(dim, &cols, first)),
        };
        if U != KEEP {
            v.store(cl);
        }
        total += v;
        for (sum, c) in sums.iter_mut().zip(scored.chunks_exact(d)) {
            *sum += v.min(column_distance(dim, &cols, c));
        }
    }
    seed.total += total;
    if M > 0 {
        for (s, l) in seed.sums.iter_mut().zip(local) {
            *s += l;
        }
    }
}

/// `‖x − c‖²` of a group of rows given as columns (a constant `d`), by
/// multiply-adds in ascending coordinate order: the bits of the tiles'
/// `−l` (`l −= y²` by negated multiply-adds, `y = (x − c)·1`), so both
/// forms give the same distances.
#[inline(always)]
fn column_distance<V: Lanes, D: Dim>(dim: D, cols: &[V; 4], c: &[f64]) -> V {
    let mut s = V::zero();
    for j in 0..dim.get() {
        let y = cols[j] - V::splat(c[j]);
        s = y.mul_add(y, s);
    }
    s
}

/// [`SeedBlock`]'s running sums, and its step for one group of rows.
struct SeedSums<V: Lanes> {
    update: Closest,
    /// Centres that update `closest` (0 or 1), before the scored ones.
    scored: usize,
    total: V,
    sums: Vec<V>,
}

impl<V: Lanes> SeedSums<V> {
    /// The rows of `closest` (at most `LANES`) updated by `dist[0]` as
    /// `update` says, then added to the sums; `dist[c]` is the group's
    /// squared distance to centre `c`, `valid` its lanes that hold rows.
    #[inline(always)]
    fn group(&mut self, closest: &mut [f64], dist: &[V], valid: V::Mask) {
        let v = match self.update {
            Closest::Keep => load_group::<V>(closest),
            Closest::Set => dist[0],
            Closest::Lower => load_group::<V>(closest).min(dist[0]),
        };
        if self.update != Closest::Keep {
            if closest.len() == V::LANES {
                v.store(closest);
            } else {
                let out = v.to_array();
                closest.copy_from_slice(&out[..closest.len()]);
            }
        }
        self.total += v.keep(valid);
        for (sum, &c) in self.sums.iter_mut().zip(&dist[self.scored..]) {
            *sum += v.min(c).keep(valid);
        }
    }
}

/// A group of at most `LANES` values as lanes, zeros past its end: a full
/// group loaded in place, a partial one through a copy.
#[inline(always)]
fn load_group<V: Lanes>(s: &[f64]) -> V {
    if s.len() == V::LANES {
        V::load(s)
    } else {
        let mut part = [0.0; 8];
        part[..s.len()].copy_from_slice(s);
        V::load(&part)
    }
}

/// `Σ (x − x₀)` and `Σ (x − x₀)²` of each column over the rows of `x`
/// (row-major, `d` columns): the first `d` values, then the next `d`. Each
/// lane sums its rows on the tiles, then the lanes are summed in pairwise
/// order.
pub(crate) struct ColumnSums<'a> {
    pub x: &'a [f64],
    pub d: usize,
    /// `x₀`: the values each column is shifted by.
    pub shift: &'a [f64],
}

impl Kernel for ColumnSums<'_> {
    type Output = Vec<f64>;

    #[inline(always)]
    fn run<V: Lanes>(self) -> Vec<f64> {
        let ColumnSums { x, d, shift } = self;
        let (mut s, mut q) = (vec![V::zero(); d], vec![V::zero(); d]);
        with_dim!(d, |dim| {
            let mut walk = Tiles::<V, _>::new(dim, 0, x, 0..x.len() / d);
            while walk.next().is_some() {
                let tile = walk.tile();
                let (groups, padding) = (tile.groups(), tile.padding());
                for j in 0..d {
                    let m = V::splat(shift[j]);
                    for grp in 0..groups {
                        let mut v = tile.xt[j * V::G + grp] - m;
                        if let Some((last, valid)) = padding
                            && last == grp
                        {
                            v = v.keep(valid);
                        }
                        s[j] += v;
                        q[j] = v.mul_add(v, q[j]);
                    }
                }
            }
        });
        let mut out = Vec::with_capacity(2 * d);
        for v in s.iter().chain(&q) {
            out.push(v.hsum());
        }
        out
    }
}

crate::simd::compiled_here!(SeedBlock<'_>, ColumnSums<'_>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gauss::dims::Dynamic;
    use crate::kernels::gauss::{Moments, PassStats, TILE, Weights};
    use crate::simd::Simd;

    /// For `d ≤ 4` the seeding's block pass reads rows as columns, above it
    /// the tiles: both promise the same bits, for every update and a partial
    /// last group.
    #[test]
    fn seeding_distances_from_columns_and_from_tiles_agree_to_the_bit() {
        struct Check;
        impl Kernel for Check {
            type Output = ();
            #[inline(always)]
            fn run<V: Lanes>(self) {
                let n = if cfg!(miri) { 13 } else { 2 * TILE + 13 };
                for d in 1..=4 {
                    let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
                    let centres = Gaussians::centres(d, (0..3 * d).map(|i| (i as f64 * 0.7).sin() * 3.0).collect());
                    let start: Vec<f64> = (0..n).map(|i| ((i * 31) % 17) as f64).collect();
                    for update in [Closest::Keep, Closest::Set, Closest::Lower] {
                        let run = |fixed: bool| {
                            let mut closest = start.clone();
                            let block = SeedBlock { x: &x, closest: &mut closest, centres: &centres, update };
                            let (total, scores) = if fixed {
                                with_dim!(d, |dim| seed_block::<V, _>(dim, block))
                            } else {
                                seed_block::<V, _>(Dynamic(d), block)
                            };
                            let mut bits: Vec<u64> = closest.iter().chain(&scores).map(|v| v.to_bits()).collect();
                            bits.push(total.to_bits());
                            bits
                        };
                        assert_eq!(run(true), run(false), "{} d={d} {update:?}", core::any::type_name::<V>());
                    }
                }
            }
        }
        for simd in Simd::each() {
            simd.run(Check);
        }
    }

    /// The k-means pass: each row of `x` goes to its nearest centre of
    /// `centres` (made by [`Gaussians::centres`]; squared Euclidean distance,
    /// the first of equal ones), and the statistics are those of that one-hot
    /// assignment, shifted by the centres, with `loglik` the negative inertia
    /// `−Σ minₖ ‖x − cₖ‖²`. The same blocks, tiles and sums as the E-step's
    /// pass, so it is bit-identical for any executor too.
    fn nearest_pass<E: crate::Executor + ?Sized>(
        exec: &E,
        simd: Simd,
        centres: &Gaussians,
        moments: Moments,
        x: &[f64],
    ) -> PassStats {
        crate::kernels::gauss::reduce_blocks(exec, simd, centres, moments, x, Weights::Nearest)
    }

    /// The k-means pass against plain loops: the counts exactly, the shifted
    /// sums and the inertia to rounding; a duplicated centre loses every row
    /// to the first copy.
    #[test]
    fn nearest_pass_matches_plain_loops() {
        let n = if cfg!(miri) { 45 } else { 2 * TILE + 45 };
        for simd in Simd::each() {
            let dims: &[usize] = if cfg!(miri) { &[2, 5] } else { &[1, 2, 3, 4, 5, 8] };
            for &d in dims {
                let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
                for k in [1, 3, 9] {
                    let mut centres: Vec<f64> = (0..k * d).map(|i| 3.0 * (i as f64 * 0.7).sin()).collect();
                    if k > 2 {
                        centres.copy_within(d..2 * d, 2 * d);
                    }
                    let g = Gaussians::centres(d, centres.clone());
                    for moments in [Moments::Full, Moments::Diagonal, Moments::Means] {
                        let got = nearest_pass(&crate::Sequential, simd, &g, moments, &x);
                        let per = moments.per_component(d);
                        let mut want = PassStats::zeros(k, d, moments);
                        for row in x.chunks_exact(d) {
                            let dist =
                                |c: usize| -> f64 { (0..d).map(|j| (row[j] - centres[c * d + j]).powi(2)).sum() };
                            let c = (1..k).fold(0, |b, c| if dist(c) < dist(b) { c } else { b });
                            want.n[c] += 1.0;
                            want.loglik -= dist(c);
                            for i in 0..d {
                                let xi = row[i] - centres[c * d + i];
                                want.s[c * d + i] += xi;
                                for j in 0..=i {
                                    let xj = row[j] - centres[c * d + j];
                                    if moments.has(i, j) {
                                        want.q[c * per + moments.index(i, j)] += xi * xj;
                                    }
                                }
                            }
                        }
                        let what = format!("{:?} d={d} k={k} {moments:?}", simd.isa());
                        assert_eq!(got.n, want.n, "{what}: counts");
                        assert_eq!(got.n.iter().sum::<f64>(), n as f64, "{what}: every row once");
                        if k > 2 {
                            assert_eq!(got.n[2], 0.0, "{what}: the second copy of a centre gets no row");
                        }
                        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
                        for (a, b) in got.s.iter().chain(&got.q).zip(want.s.iter().chain(&want.q)) {
                            assert!(close(*a, *b), "{what}: {a} vs {b}");
                        }
                        assert_eq!(got.q.len(), want.q.len(), "{what}");
                        assert!(close(got.loglik, want.loglik), "{what}: inertia {} vs {}", got.loglik, want.loglik);
                    }
                }
            }
        }
    }
}
