//! The M-step's sufficient statistics of a tile, summed into a block's
//! running sums: `Σ r`, `Σ r·(x − μ)` and the second moments
//! `Σ r·(x − μ)(x − μ)ᵀ` (packed lower triangle, diagonal, or none).

use std::any::Any;
use std::cell::Cell;

use super::Gaussians;
use super::density::{columns, diffs};
use super::panel;
use super::tile::{Spare, Tile, TileLanes, grow, part, reuse, tile_diffs};
use crate::kernels::linalg::packed;
use crate::simd::Lanes;

/// Sums over rows of the M-step's statistics for each component, shifted by
/// each component's mean in the [`Gaussians`] the pass used:
/// `n[k] = Σ rₖ`, `s[k] = Σ rₖ·(x − μₖ)`, `q[k] = Σ rₖ·(x − μₖ)(x − μₖ)ᵀ`
/// (lower triangle packed row by row, [`packed`], or the diagonal only),
/// and the log-likelihood `Σ ln Σₖ πₖ N(x | μₖ, Σₖ)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PassStats {
    pub n: Vec<f64>,
    pub s: Vec<f64>,
    pub q: Vec<f64>,
    pub loglik: f64,
}

impl PassStats {
    pub(crate) fn zeros(k: usize, d: usize, moments: Moments) -> Self {
        let q_per = moments.per_component(d);
        PassStats { n: vec![0.0; k], s: vec![0.0; k * d], q: vec![0.0; k * q_per], loglik: 0.0 }
    }

    /// Adds `other` element by element.
    pub fn add(mut self, other: PassStats) -> PassStats {
        for (a, b) in self.n.iter_mut().zip(&other.n) {
            *a += b;
        }
        for (a, b) in self.s.iter_mut().zip(&other.s) {
            *a += b;
        }
        for (a, b) in self.q.iter_mut().zip(&other.q) {
            *a += b;
        }
        self.loglik += other.loglik;
        self
    }
}

/// Which second moments the pass accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moments {
    /// The packed lower triangle of `Σ r·(x−μ)(x−μ)ᵀ`: full and tied covariances.
    Full,
    /// Its diagonal only: diagonal and spherical covariances.
    Diagonal,
    /// None: the counts and first moments only (the rounds of k-means).
    Means,
}

impl Moments {
    /// Second moments per component.
    pub fn per_component(self, d: usize) -> usize {
        match self {
            Moments::Full => d * (d + 1) / 2,
            Moments::Diagonal => d,
            Moments::Means => 0,
        }
    }

    /// Whether `q[i][j]` (`j ≤ i`) is accumulated.
    #[inline(always)]
    pub fn has(self, i: usize, j: usize) -> bool {
        match self {
            Moments::Full => true,
            Moments::Diagonal => i == j,
            Moments::Means => false,
        }
    }

    /// Where `q[i][j]` (`j ≤ i`, [`has`](Self::has)) sits among one
    /// component's second moments.
    #[inline(always)]
    pub fn index(self, i: usize, j: usize) -> usize {
        match self {
            Moments::Full => packed(i, j),
            Moments::Diagonal | Moments::Means => i,
        }
    }
}

/// A block's running sums, one vector per sum so that each lane adds its
/// own rows: per component `c`, at `per·c`, the vectors of `n`, then `s`
/// (`d`), then `q` (packed as in [`PassStats`]); and the two parts of the
/// log-likelihood. Lanes are summed once, at the end of the block.
///
/// Except `q` where it is `summed` ([`sums_q`]): each tile's sums are
/// added across their lanes as the tile ends, so `q` holds one value per
/// moment, `LANES` to a vector.
pub(super) struct Sums<V: Lanes> {
    /// Boxed so that it goes back to the thread's spare slot (a `Box<dyn
    /// Any>`) without a new allocation per block.
    #[allow(clippy::box_collection)]
    v: Box<Vec<V>>,
    per: usize,
    /// Moments per component in `q` ([`Moments::per_component`]).
    q_per: usize,
    summed: bool,
    /// Whether `q` is in [`panel`]'s micro-tiles.
    panel: bool,
    /// `Σ m` over rows (see [`tile_softmax`](super::softmax::tile_softmax)).
    pub top: V,
    /// `Π s` over rows as `2^twos · mant`, `mant ∈ [1, 2)`: one `ln` per
    /// block instead of one per row.
    pub twos: V,
    pub mant: V,
}

/// The largest [`Sums`] a thread keeps for its next block, in bytes. Sums
/// are reused so that small blocks do not each allocate theirs; larger ones
/// cost little to allocate beside their blocks' work, and a pool's threads
/// outlive the fit: at d = 1000, k = 100, each would otherwise hold 410 MB.
const SPARE_AT_MOST: usize = 8 << 20;

thread_local! {
    /// The vectors of this thread's last [`Sums`], kept for its next block
    /// (up to [`SPARE_AT_MOST`] bytes).
    static SPARE_SUMS: Cell<Option<Box<dyn Any>>> = const { Cell::new(None) };
}

/// Vectors per component of a block's [`Sums`] on `lanes`-wide lanes, for
/// `moments` (in lanes, `summed`, or in [`panel`]'s micro-tiles); `None`
/// past `usize`.
pub(super) fn sum_vectors(d: usize, moments: Moments, summed: bool, lanes: usize) -> Option<usize> {
    let q_per = moments.per_component(d);
    let q = if panel::applies(d, moments) {
        panel::vectors(d, lanes)?
    } else if summed {
        q_per.div_ceil(lanes)
    } else {
        q_per
    };
    d.checked_add(1)?.checked_add(q)
}

impl<V: Lanes> Sums<V> {
    #[inline(always)]
    pub(super) fn new(k: usize, d: usize, moments: Moments, summed: bool) -> Self {
        let q_per = moments.per_component(d);
        let per = sum_vectors(d, moments, summed, V::LANES).expect("counted by pass_values before any pass");
        let spare: &'static Spare = &SPARE_SUMS;
        let mut v = reuse::<Vec<V>>(spare).unwrap_or_default();
        v.clear();
        v.resize(k * per, V::zero());
        let zero = V::zero();
        let panel = panel::applies(d, moments);
        Sums { v, per, q_per, summed, panel, top: zero, twos: zero, mant: V::splat(1.0) }
    }

    /// Component `c`'s vectors.
    #[inline(always)]
    pub(super) fn component(&mut self, c: usize) -> &mut [V] {
        &mut self.v[c * self.per..(c + 1) * self.per]
    }

    /// The lanes summed: the block's statistics.
    #[inline(always)]
    pub(super) fn finish(self, k: usize, d: usize, moments: Moments) -> PassStats {
        let q_per = self.q_per;
        let mut stats = PassStats::zeros(k, d, moments);
        for (c, v) in self.v.chunks_exact(self.per).enumerate() {
            stats.n[c] = v[0].hsum();
            for (o, &a) in stats.s[c * d..(c + 1) * d].iter_mut().zip(&v[1..1 + d]) {
                *o = a.hsum();
            }
            let q = &mut stats.q[c * q_per..(c + 1) * q_per];
            if self.panel {
                panel::unpack(d, &v[1 + d..], q);
            } else if self.summed {
                q.copy_from_slice(&bytemuck::cast_slice::<V, f64>(&v[1 + d..])[..q_per]);
            } else {
                for (o, &a) in q.iter_mut().zip(&v[1 + d..]) {
                    *o = a.hsum();
                }
            }
        }
        let ln_prod = self.twos.mul_add(V::splat(std::f64::consts::LN_2), self.mant.ln_normal());
        stats.loglik = self.top.hsum() + ln_prod.hsum();
        if self.v.capacity() * size_of::<V>() <= SPARE_AT_MOST {
            SPARE_SUMS.set(Some(self.v));
        }
        stats
    }
}

/// [`Dim::stats`](super::dims::Dim::stats) for a constant `D` and one kind
/// of moments, inlined where it is a constant.
#[inline(always)]
pub(super) fn fixed_stats<V: Lanes, const D: usize>(
    g: &Gaussians,
    moments: Moments,
    c: usize,
    tile: &mut Tile<V>,
    acc: &mut [V],
) {
    let groups = tile.groups();
    let (cols, mu) = columns::<V, D>(tile, g, c);
    let (e, inv) = (part(&tile.lt, c, groups), &tile.inv[..groups]);
    // The position of q[i][j] in `acc`.
    let q_at = |i: usize, j: usize| 1 + D + moments.index(i, j);
    // Two sets of sums, even groups into the first (which starts from
    // `acc`) and odd groups into the second: each chain of dependent
    // multiply-adds is half as long. The blocked loops do the same.
    let mut sets = [([V::zero(); D], [[V::zero(); D]; D]); 2];
    let mut n = [acc[0], V::zero()];
    for i in 0..D {
        sets[0].0[i] = acc[1 + i];
        for j in 0..=i {
            if moments.has(i, j) {
                sets[0].1[i][j] = acc[q_at(i, j)];
            }
        }
    }
    let [(s0, q0), (s1, q1)] = &mut sets;
    let [n0, n1] = &mut n;
    for pair in 0..groups / 2 {
        let (g0, g1) = (2 * pair, 2 * pair + 1);
        fixed_step(moments, e[g0] * inv[g0], diffs(&cols, &mu, g0), n0, s0, q0);
        fixed_step(moments, e[g1] * inv[g1], diffs(&cols, &mu, g1), n1, s1, q1);
    }
    if groups % 2 == 1 {
        let last = groups - 1;
        fixed_step(moments, e[last] * inv[last], diffs(&cols, &mu, last), n0, s0, q0);
    }
    acc[0] = n[0] + n[1];
    for i in 0..D {
        acc[1 + i] = sets[0].0[i] + sets[1].0[i];
        for j in 0..=i {
            if moments.has(i, j) {
                acc[q_at(i, j)] = sets[0].1[i][j] + sets[1].1[i][j];
            }
        }
    }
}

/// One group's terms of [`fixed_stats`]: its weights `r` and differences
/// `xs` added to the sums `n`, `acc_s` and `acc_q`.
#[inline(always)]
fn fixed_step<V: Lanes, const D: usize>(
    moments: Moments,
    r: V,
    xs: [V; D],
    n: &mut V,
    acc_s: &mut [V; D],
    acc_q: &mut [[V; D]; D],
) {
    *n += r;
    for i in 0..D {
        let ri = r * xs[i];
        acc_s[i] += ri;
        match moments {
            Moments::Full => {
                for j in 0..=i {
                    acc_q[i][j] = ri.mul_add(xs[j], acc_q[i][j]);
                }
            }
            Moments::Diagonal => acc_q[i][i] = ri.mul_add(xs[i], acc_q[i][i]),
            Moments::Means => {}
        }
    }
}

/// [`Dim::stats`](super::dims::Dim::stats) for large `d`: for the full
/// triangle, `x − μ` and `r·(x − μ)` of the whole tile first, then each
/// moment summed over the tile's groups in one register, instead of `d²`
/// accumulators stored and reloaded for every group; from
/// [`panel::PANEL_FROM`] on, by [`panel`]'s micro-tiles from the tile's rows
/// `src` (row-major); the other moments by [`tile_stats_diagonal`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn tile_stats_blocked<V: Lanes>(
    d: usize,
    g: &Gaussians,
    moments: Moments,
    c: usize,
    tile: &mut Tile<V>,
    src: &[f64],
    acc: &mut [V],
    summed: bool,
) {
    if moments != Moments::Full {
        return tile_stats_diagonal(d, g, moments, c, tile, acc);
    }
    if panel::applies(d, moments) {
        tile_stats_diagonal(d, g, Moments::Means, c, tile, acc);
        // Each row's weight, as the lanes' `e·(1/s)`.
        let rows = tile.rows;
        let (e, inv) = (&tile.lt_values()[c * super::TILE..c * super::TILE + rows], &tile.inv_values()[..rows]);
        let mut r = [0.0; super::TILE];
        for ((r, &e), &inv) in r.iter_mut().zip(e).zip(inv) {
            *r = e * inv;
        }
        let Tile { dt, rt, .. } = tile;
        return panel::add_moments::<V>(d, src, g.mean(c), &r[..rows], dt, rt, &mut acc[1 + d..]);
    }
    tile_diffs(d, g.mean(c), tile);
    grow(&mut tile.rt, d);
    let groups = tile.groups();
    let Tile { lt, inv, dt, rt, .. } = tile;
    let (e, inv) = (part(lt, c, groups), &inv[..groups]);
    fold2(&mut acc[0], e.iter().zip(inv), |a, (&e, &inv)| a + e * inv);
    for i in 0..d {
        let (x, out) = (part(dt, i, groups), &mut rt[i * V::G..i * V::G + groups]);
        let terms = out.iter_mut().zip(x).zip(e.iter().zip(inv));
        fold2(&mut acc[1 + i], terms, |a, ((o, &x), (&e, &inv))| {
            *o = (e * inv) * x;
            a + *o
        });
    }
    // The full triangle (the other moments are `tile_stats_diagonal`'s).
    let (dt, rt, q) = (&*dt, &*rt, &mut acc[1 + d..]);
    if summed {
        let mut q = LaneSums::new(q);
        full_moments(d, groups, dt, rt, &mut q);
        q.finish();
    } else {
        full_moments(d, groups, dt, rt, &mut InLanes(q));
    }
}

/// The tile's full moments `Σ r·(x − μ)ᵢ·(x − μ)ⱼ`, `j ≤ i`, from its
/// `x − μ` (`dt`) and `r·(x − μ)` (`rt`), each summed over the groups into
/// one vector from where `q` says and given to `q`, in packed order.
#[inline(always)]
fn full_moments<V: Lanes>(d: usize, groups: usize, dt: &[V], rt: &[V], q: &mut impl MomentSums<V>) {
    let mut at = 0;
    for i in 0..d {
        // Four moments of row i at a time: each r·(x − μ)ᵢ loaded once
        // feeds four chains (eight, with fold2's two halves).
        let mut j = 0;
        while j + 4 <= i + 1 {
            let x = [part(dt, j, groups), part(dt, j + 1, groups), part(dt, j + 2, groups), part(dt, j + 3, groups)];
            q.put(at, moments4(part(rt, i, groups), x, q.start(at)));
            (j, at) = (j + 4, at + 4);
        }
        for j in j..=i {
            let [mut a] = q.start(at);
            fold2(&mut a, part(rt, i, groups).iter().zip(part(dt, j, groups)), |a, (&r, &x)| r.mul_add(x, a));
            q.put(at, [a]);
            at += 1;
        }
    }
}

/// Whether a block sums the full moments `q` across lanes tile by tile
/// (see [`Sums`]) on `lanes`-wide lanes: where `k` components' moments in
/// lanes would take more than [`SUM_Q_ABOVE`] bytes, all read and written
/// for every tile. Only the blocked path (`d > 4`) does; at most 10 moments
/// per component stay in registers over a tile.
pub(super) fn sums_q(k: usize, d: usize, moments: Moments, lanes: usize) -> bool {
    let bytes = k.saturating_mul(moments.per_component(d)).saturating_mul(lanes * size_of::<f64>());
    d > 4 && moments == Moments::Full && bytes > SUM_Q_ABOVE && !panel::applies(d, moments)
}

/// About half a core's level-2 cache. Summing every block's moments across
/// lanes (per tile, 21 permutes and adds for 8 moments with AVX-512) was
/// measured on a Xeon, one thread: with k = 16, d = 8 and 32 ran 12% and 5%
/// slower per iteration, d = 64 and 160 3–21% and 10% faster; with k = 64,
/// d = 256 ran 9–16% faster. Above it the sums also take a `LANES`-th of
/// the memory, on every thread.
const SUM_Q_ABOVE: usize = 1 << 20;

/// Where [`full_moments`] puts each moment's sum over a tile, at its packed
/// position `at`.
trait MomentSums<V: Lanes> {
    /// What the tile's sums of moments `at..at + M` start from.
    fn start<const M: usize>(&self, at: usize) -> [V; M];

    /// Puts the tile's sums of moments `at..at + M`.
    fn put<const M: usize>(&mut self, at: usize, sums: [V; M]);
}

/// `LANES` running sums per moment, from which the tile's start.
struct InLanes<'a, V: Lanes>(&'a mut [V]);

impl<V: Lanes> MomentSums<V> for InLanes<'_, V> {
    #[inline(always)]
    fn start<const M: usize>(&self, at: usize) -> [V; M] {
        self.0[at..at + M].try_into().expect("M sums")
    }

    #[inline(always)]
    fn put<const M: usize>(&mut self, at: usize, sums: [V; M]) {
        self.0[at..at + M].copy_from_slice(&sums);
    }
}

/// One value per moment: each tile's sums start from 0 and are added
/// across lanes.
impl<V: Lanes> MomentSums<V> for LaneSums<'_, V> {
    #[inline(always)]
    fn start<const M: usize>(&self, _: usize) -> [V; M] {
        [V::zero(); M]
    }

    #[inline(always)]
    fn put<const M: usize>(&mut self, at: usize, sums: [V; M]) {
        debug_assert_eq!(self.pushed(), at);
        for v in sums {
            self.push(v);
        }
    }
}

/// Adds vectors' lane sums ([`Lanes::hsum`]) to consecutive values packed
/// `LANES` to a vector, `LANES` vectors at a time ([`Lanes::hsums`]).
struct LaneSums<'a, V: Lanes> {
    out: &'a mut [V],
    held: [V; 8],
    len: usize,
    next: usize,
}

impl<'a, V: Lanes> LaneSums<'a, V> {
    #[inline(always)]
    fn new(out: &'a mut [V]) -> Self {
        LaneSums { out, held: [V::zero(); 8], len: 0, next: 0 }
    }

    /// Values given so far.
    fn pushed(&self) -> usize {
        self.next * V::LANES + self.len
    }

    /// The next value gets `v.hsum()`.
    #[inline(always)]
    fn push(&mut self, v: V) {
        self.held[self.len] = v;
        self.len += 1;
        if self.len == V::LANES {
            self.out[self.next] += V::hsums(&self.held[..V::LANES]);
            self.next += 1;
            self.len = 0;
        }
    }

    /// Adds what is held (the values past it get 0).
    #[inline(always)]
    fn finish(mut self) {
        if self.len > 0 {
            self.held[self.len..V::LANES].fill(V::zero());
            self.out[self.next] += V::hsums(&self.held[..V::LANES]);
        }
    }
}

/// [`tile_stats_blocked`] without the off-diagonal moments: each `x − μ`
/// and `r·(x − μ)` is used only where it is made, so neither is stored. The
/// same operations, each sum split as [`fold2`] splits it, so the same bits.
#[inline(always)]
fn tile_stats_diagonal<V: Lanes>(d: usize, g: &Gaussians, moments: Moments, c: usize, tile: &Tile<V>, acc: &mut [V]) {
    let groups = tile.groups();
    let (e, inv) = (part(&tile.lt, c, groups), &tile.inv[..groups]);
    fold2(&mut acc[0], e.iter().zip(inv), |a, (&e, &inv)| a + e * inv);
    let (first, second) = acc[1..].split_at_mut(d);
    for (i, &mu) in g.mean(c).iter().enumerate() {
        let m = V::splat(mu);
        let terms = part(&tile.xt, i, groups).iter().zip(e.iter().zip(inv));
        let r_x = |(&x, (&e, &inv)): (&V, (&V, &V))| {
            let x = x - m;
            ((e * inv) * x, x)
        };
        if moments == Moments::Diagonal {
            let mut sums = [first[i], second[i]];
            fold2_each(&mut sums, terms.map(r_x), |[s, q], (o, x)| [s + o, o.mul_add(x, q)]);
            [first[i], second[i]] = sums;
        } else {
            fold2(&mut first[i], terms.map(r_x), |s, (o, _)| s + o);
        }
    }
}

/// `start[b] + Σ_g r[g]·x[b][g]` for four `b` at once, each sum split as
/// [`fold2`] splits it (so the bits are those of four `fold2` calls).
#[inline(always)]
fn moments4<V: Lanes>(r: &[V], x: [&[V]; 4], start: [V; 4]) -> [V; 4] {
    let groups = r.len();
    let x = [&x[0][..groups], &x[1][..groups], &x[2][..groups], &x[3][..groups]];
    let mut even = start;
    let mut odd = [V::zero(); 4];
    for pair in 0..groups / 2 {
        let (g0, g1) = (2 * pair, 2 * pair + 1);
        for b in 0..4 {
            even[b] = r[g0].mul_add(x[b][g0], even[b]);
        }
        for b in 0..4 {
            odd[b] = r[g1].mul_add(x[b][g1], odd[b]);
        }
    }
    if groups % 2 == 1 {
        let g = groups - 1;
        for b in 0..4 {
            even[b] = r[g].mul_add(x[b][g], even[b]);
        }
    }
    core::array::from_fn(|b| even[b] + odd[b])
}

/// Folds `items` into `acc` two ways, as [`fixed_stats`] does: items 0, 2,
/// 4, … into a partial that starts at `acc`, items 1, 3, … into one that
/// starts at 0, then `acc` becomes their sum ([`fold2_each`] of one sum).
#[inline(always)]
fn fold2<V: Lanes, T>(acc: &mut V, items: impl Iterator<Item = T>, mut f: impl FnMut(V, T) -> V) {
    fold2_each(core::array::from_mut(acc), items, |[a], item| [f(a, item)]);
}

/// [`fold2`] of `M` sums over the same items at once: each sum's even and
/// odd items in two partials, then added, as `fold2` of it alone would.
#[inline(always)]
fn fold2_each<V: Lanes, const M: usize, T>(
    acc: &mut [V; M],
    mut items: impl Iterator<Item = T>,
    mut f: impl FnMut([V; M], T) -> [V; M],
) {
    let (mut even, mut odd) = (*acc, [V::zero(); M]);
    while let Some(item) = items.next() {
        even = f(even, item);
        match items.next() {
            Some(item) => odd = f(odd, item),
            None => break,
        }
    }
    for (a, (e, o)) in acc.iter_mut().zip(even.into_iter().zip(odd)) {
        *a = e + o;
    }
}
