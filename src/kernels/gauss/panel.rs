//! The full second moments of a tile for large `d` as a register-blocked
//! symmetric rank-`t` update, the way BLIS computes `syrk`:
//! `q += Aᵀ·B` with `B = x − μ` (rows × d) and `A = r·(x − μ)`, both
//! row-major, each output micro-tile `MR × NR·LANES` of the lower triangle
//! held in registers over the tile's rows.
//!
//! Lanes run along the coordinates `j`, not along the rows as in the rest
//! of the E-step, so no sum is ever split across lanes: each moment
//! `q[i][j]` is one running sum, over the block's rows in order (one
//! multiply-add per row, `A[p][i]·B[p][j]` added to it), the same for
//! whichever thread runs the block. The micro-tiles cover the lower
//! triangle in `W = NR·LANES`-wide column blocks, so the tiles that cross
//! the diagonal also sum a few moments above it, which are dropped.

use super::TILE;
use super::moments::Moments;
use super::tile::{TileLanes, grow};
use crate::kernels::linalg::packed;
use crate::simd::Lanes;

/// The dimension from which a pass sums the full moments with this module.
/// Below it, the blocked loops of [`super::moments`] were faster: the
/// micro-tiles that cross the diagonal sum up to half their moments in
/// vain. Measured on a Xeon (Sapphire Rapids, AVX-512, one thread, 10⁵
/// rows, k = 8), a pass took 30 → 33 ms at d = 16, 66 → 80 at d = 32,
/// 98 → 98 at d = 40, 142 → 123 at d = 48 and 135 → 99 at d = 64.
pub(crate) const PANEL_FROM: usize = 48;

/// Columns of the packed rows are padded to a multiple of this: of every
/// path's block width `W` (24 with 8 lanes, 12 with 4).
pub(super) const STRIDE_STEP: usize = 24;

/// Whether a pass sums `moments` of dimension `d` here.
#[inline(always)]
pub(super) fn applies(d: usize, moments: Moments) -> bool {
    moments == Moments::Full && d >= PANEL_FROM
}

/// `d` padded to [`STRIDE_STEP`]: each packed operand of a tile takes
/// `rows · stride(d)` values (its blocks of `W` or `MR` columns side by side).
#[inline(always)]
pub(super) fn stride(d: usize) -> usize {
    d.next_multiple_of(STRIDE_STEP)
}

/// The micro-tile of lanes `V`: `MR` moment rows by `NR` vectors of
/// columns. 8 × 3 with 8 lanes (24 sums, 3 loads and 8 broadcasts per row,
/// of AVX-512's 32 registers), 4 × 3 with 4 (12 of AVX2's 16).
#[inline(always)]
pub(super) const fn shape<V: Lanes>() -> (usize, usize) {
    shape_of(V::LANES)
}

/// [`shape`] for `lanes`-wide lanes.
#[inline(always)]
const fn shape_of(lanes: usize) -> (usize, usize) {
    if lanes == 8 { (8, 3) } else { (4, 3) }
}

/// Vectors of one component's moments in the micro-tile layout of lanes
/// `lanes` for dimension `d` (see [`Tiles`]); `None` past `usize`.
pub(super) fn vectors(d: usize, lanes: usize) -> Option<usize> {
    let (mr, nr) = shape_of(lanes);
    let tiles = Tiles::new(d, mr, nr * lanes).count()?;
    tiles.checked_mul(mr * nr)
}

/// The micro-tiles of the lower triangle of a `d × d` matrix, `mr` rows by
/// `w` columns, column block by column block: block `jb` (columns
/// `jb·w ..`) has the row blocks from the first that reaches its first
/// column down to the last.
#[derive(Clone, Copy)]
pub(super) struct Tiles {
    mr: usize,
    w: usize,
    /// Row blocks: `⌈d / mr⌉`.
    rows: usize,
    /// Column blocks: `⌈d / w⌉`.
    cols: usize,
}

impl Tiles {
    #[inline(always)]
    pub(super) fn new(d: usize, mr: usize, w: usize) -> Self {
        Tiles { mr, w, rows: d.div_ceil(mr), cols: d.div_ceil(w) }
    }

    /// The first row block of column block `jb`: the first whose last row
    /// is at or below the block's first column.
    #[inline(always)]
    fn first(self, jb: usize) -> usize {
        jb * self.w / self.mr
    }

    /// Number of micro-tiles; `None` past `usize`.
    fn count(self) -> Option<usize> {
        (0..self.cols).try_fold(0usize, |n, jb| n.checked_add(self.rows - self.first(jb)))
    }

    /// Row blocks of column block `jb`.
    #[inline(always)]
    pub(super) fn rows_of(self, jb: usize) -> std::ops::Range<usize> {
        self.first(jb)..self.rows
    }

    /// Column blocks.
    #[inline(always)]
    pub(super) fn cols(self) -> usize {
        self.cols
    }
}

/// Adds the tile's full moments to `acc` (one component's, in the
/// micro-tile layout): `src` the tile's rows (row-major, `d` columns),
/// `mu` the component's mean and `r` each row's weight. `b` and `a` are
/// the tile's scratch for the packed `x − μ` and `r·(x − μ)`.
///
/// Rows of weight 0 are left out: their terms are zeros, and a sum that
/// starts at +0 is never −0 (in round-to-nearest `+0 + −0` is +0), so
/// adding them changes no bit. A one-hot tile (the rounds of k-means) or
/// components whose responsibilities underflow, as they do where clusters
/// lie apart at large `d`, then cost only their rows of weight.
#[inline(always)]
pub(super) fn add_moments<V: TileLanes>(
    d: usize,
    src: &[f64],
    mu: &[f64],
    r: &[f64],
    b: &mut Vec<V>,
    a: &mut Vec<V>,
    acc: &mut [V],
) {
    let stride = stride(d);
    grow(b, stride);
    grow(a, stride);
    let rows = r.iter().filter(|&&r| r != 0.0).count();
    if rows == 0 {
        return;
    }
    let b: &mut [f64] = &mut bytemuck::cast_slice_mut(b)[..rows * stride];
    let a: &mut [f64] = &mut bytemuck::cast_slice_mut(a)[..rows * stride];
    let (mr, nr) = shape::<V>();
    debug_assert_eq!(mr, V::LANES, "pack writes row blocks of LANES");
    pack::<V>(d, nr * V::LANES, src, mu, r, b, a);
    match (mr, nr) {
        (8, 3) => micro_tiles::<V, 8, 3>(d, rows, b, a, acc),
        _ => micro_tiles::<V, 4, 3>(d, rows, b, a, acc),
    }
}

/// Packs `x − μ` of each row of `src` of non-zero weight `r` into `b` and
/// `r·(x − μ)` into `a`, zero past `d`, each in the order its micro-kernel
/// reads it (`b` and `a` hold the kept rows exactly): `b` by
/// column blocks of `W = NR·LANES` (block `jb`'s rows `W` values apart),
/// `a` by row blocks of `MR = LANES` (block `ib`'s rows `MR` apart), so
/// that every micro-tile streams its operands from consecutive memory.
#[inline(always)]
fn pack<V: Lanes>(d: usize, w: usize, src: &[f64], mu: &[f64], r: &[f64], b: &mut [f64], a: &mut [f64]) {
    let l = V::LANES;
    let rows = b.len() / stride(d);
    let padded = d.next_multiple_of(w);
    let kept = src.chunks_exact(d).zip(r).filter(|&(_, &r)| r != 0.0);
    for (p, (x, &r)) in kept.enumerate() {
        let rv = V::splat(r);
        for j in (0..padded).step_by(l) {
            let diff = if j + l <= d {
                V::load(&x[j..]) - V::load(&mu[j..])
            } else {
                V::from_fn(|c| if j + c < d { x[j + c] - mu[j + c] } else { 0.0 })
            };
            diff.store(&mut b[(j / w * rows + p) * w + j % w..]);
            if j < d.next_multiple_of(l) {
                (rv * diff).store(&mut a[(j / l * rows + p) * l..]);
            }
        }
    }
}

/// Every micro-tile of the lower triangle, in [`Tiles`] order:
/// `acc[t] += Σ_p a[p][ib·MR + m]·b[p][jb·W + …]` over the `rows` rows.
#[inline(always)]
fn micro_tiles<V: Lanes, const MR: usize, const NR: usize>(d: usize, rows: usize, b: &[f64], a: &[f64], acc: &mut [V]) {
    let w = NR * V::LANES;
    let tiles = Tiles::new(d, MR, w);
    let acc: &mut [[[V; NR]; MR]] = bytemuck::cast_slice_mut(acc);
    let mut t = 0;
    for jb in 0..tiles.cols() {
        for ib in tiles.rows_of(jb) {
            let (bp, ap) = (&b[jb * rows * w..(jb + 1) * rows * w], &a[ib * rows * MR..(ib + 1) * rows * MR]);
            micro::<V, MR, NR>(bp, ap, &mut acc[t]);
            t += 1;
        }
    }
}

/// One micro-tile: for each row, [`rank_one`] of its packed blocks (`MR`
/// values of `a`, `NR` vectors of `b`, in order) into sums held in
/// registers from `out` and back.
#[inline(always)]
fn micro<V: Lanes, const MR: usize, const NR: usize>(b: &[f64], a: &[f64], out: &mut [[V; NR]; MR]) {
    let mut sums = *out;
    for (bp, ap) in b.chunks_exact(NR * V::LANES).zip(a.chunks_exact(MR)) {
        rank_one(ap.try_into().expect("MR values"), bp, &mut sums);
    }
    *out = sums;
}

/// The micro-kernels' step: `sums[m][v] += a[m]·b[v·LANES ..]`, `NR`
/// vectors loaded from `b` and each of the `MR` values broadcast once.
#[inline(always)]
fn rank_one<V: Lanes, const MR: usize, const NR: usize>(a: &[f64; MR], b: &[f64], sums: &mut [[V; NR]; MR]) {
    let l = V::LANES;
    let mut bv = [V::zero(); NR];
    for v in 0..NR {
        bv[v] = V::load(&b[v * l..]);
    }
    for m in 0..MR {
        let am = V::splat(a[m]);
        for v in 0..NR {
            sums[m][v] = am.mul_add(bv[v], sums[m][v]);
        }
    }
}

/// Writes one component's moments in the micro-tile layout (`sums`, as
/// [`vectors`] counts them) into its packed lower triangle `q` (see
/// [`super::moments::PassStats`]), dropping the sums above the diagonal
/// and past `d`.
pub(super) fn unpack<V: Lanes>(d: usize, sums: &[V], q: &mut [f64]) {
    let (mr, nr) = shape::<V>();
    let w = nr * V::LANES;
    let values: &[f64] = bytemuck::cast_slice(sums);
    let tiles = Tiles::new(d, mr, w);
    let mut t = 0;
    for jb in 0..tiles.cols() {
        for ib in tiles.rows_of(jb) {
            let tile = &values[t * mr * w..(t + 1) * mr * w];
            for m in 0..mr {
                let i = ib * mr + m;
                for c in 0..w {
                    let j = jb * w + c;
                    if i < d && j <= i {
                        q[packed(i, j)] = tile[m * w + c];
                    }
                }
            }
            t += 1;
        }
    }
}

/// Columns of a packed factor's blocks ([`pack_factor`]): every path's
/// `NR·LANES` divides it (24 with 8 lanes; two blocks of 12 with 4).
pub(super) const FACTOR_W: usize = 24;

/// Rows of `Wᵀ` in a factor's block `ib`: its columns `ib·24 ..` have no
/// entry past row `(ib + 1)·24` (the factor is lower-triangular).
#[inline(always)]
pub(super) fn factor_rows(d: usize, ib: usize) -> usize {
    d.min((ib + 1) * FACTOR_W)
}

/// Values of one component's packed factor for dimension `d`.
pub(super) fn factor_len(d: usize) -> usize {
    (0..d.div_ceil(FACTOR_W)).map(|ib| factor_rows(d, ib) * FACTOR_W).sum()
}

/// Appends the lower-triangular `w` (`d × d`, row-major) times `scale` to
/// `out` as the density's micro-kernel reads it: `Wᵀ` in blocks of 24 columns, block
/// `ib` holding rows `j < min(d, (ib + 1)·24)` of `Wᵀ`, each row's 24
/// values `w[ib·24 + c][j]` (zero above the diagonal and past `d`).
pub(super) fn pack_factor(d: usize, w: &[f64], scale: f64, out: &mut Vec<f64>) {
    for ib in 0..d.div_ceil(FACTOR_W) {
        for j in 0..factor_rows(d, ib) {
            out.extend((0..FACTOR_W).map(|c| {
                let i = ib * FACTOR_W + c;
                if i < d && j <= i { w[i * d + j] * scale } else { 0.0 }
            }));
        }
    }
}

/// What [`products`] gives each micro-tile of `y` to.
pub(super) trait TakeY<V: Lanes> {
    /// `y` of the tile's rows `row .. row + MR`, its coordinates
    /// `first .. first + NR·LANES` (`NR` vectors, lanes along them).
    fn take<const MR: usize, const NR: usize>(&mut self, y: &[[V; NR]; MR], first: usize, row: usize);
}

/// `y = (x − μ)·Wᵀ` of a tile's rows as a register-blocked product,
/// `MR = LANES` rows at a time against `NR` vectors of a block of `packed`
/// (see [`pack_factor`]), lanes along `y`'s coordinates, each micro-tile of
/// `y` given to `to`: `dt` the tile's `x − μ` group by group (`d` vectors
/// per group, lanes along the rows:
/// [`tile_diffs_grouped`](super::tile::tile_diffs_grouped)). Each `yᵢ` is
/// summed over `j` ascending; a row's micro-tiles come in ascending order
/// of their coordinates, whichever tile or lane holds it.
#[inline(always)]
pub(super) fn products<V: Lanes>(d: usize, packed: &[f64], dt: &[V], groups: usize, to: &mut impl TakeY<V>) {
    let dt: &[f64] = bytemuck::cast_slice(dt);
    let mut at = 0;
    for ib in 0..d.div_ceil(FACTOR_W) {
        let rows = factor_rows(d, ib);
        let block = &packed[at..at + rows * FACTOR_W];
        at += rows * FACTOR_W;
        let group = |pb: usize| &dt[pb * d * V::LANES..(pb + 1) * d * V::LANES];
        if V::LANES == 8 {
            for pb in 0..groups {
                to.take(&product::<V, 8, 3>(rows, block, 0, group(pb)), ib * FACTOR_W, pb * 8);
            }
        } else {
            for half in 0..2 {
                for pb in 0..groups {
                    to.take(&product::<V, 4, 3>(rows, block, half * 12, group(pb)), ib * FACTOR_W + half * 12, pb * 4);
                }
            }
        }
    }
}

/// `MR` rows' `y` over `NR` vectors of one factor block (its columns from
/// `col`), `j` over the block's `rows`: `MR` broadcasts of `x − μ` from
/// `dt` (the group's `d` vectors, `MR = LANES` rows each) and `NR` loads of
/// `Wᵀ` per `j`.
#[inline(always)]
fn product<V: Lanes, const MR: usize, const NR: usize>(
    rows: usize,
    block: &[f64],
    col: usize,
    dt: &[f64],
) -> [[V; NR]; MR] {
    let mut y = [[V::zero(); NR]; MR];
    for (w, x) in block.chunks_exact(FACTOR_W).zip(dt.chunks_exact(MR)).take(rows) {
        rank_one(x.try_into().expect("MR rows"), &w[col..col + NR * V::LANES], &mut y);
    }
    y
}

/// Log-densities `konst − ‖W·(x − μ)‖²` of a tile's rows for one component
/// (`dt`, `packed` as for [`products`]), `out` one vector per group. Each
/// row's value takes the same operations in the same order whichever tile
/// or lane holds it: `Σ yᵢ²` over [`products`]' micro-tiles and vectors
/// ascending into one sum per lane, then the lanes' sum.
#[inline(always)]
pub(super) fn log_density<V: TileLanes>(d: usize, packed: &[f64], konst: f64, dt: &[V], groups: usize, out: &mut [V]) {
    let mut sq = Squares([V::zero(); TILE]);
    products(d, packed, dt, groups, &mut sq);
    let konst = V::splat(konst);
    for (pb, o) in out[..groups].iter_mut().enumerate() {
        *o = konst - V::hsums(&sq.0[pb * V::LANES..(pb + 1) * V::LANES]);
    }
}

/// Per row of a tile, its running `Σ yᵢ²` (lanes along the coordinates).
struct Squares<V>([V; TILE]);

impl<V: Lanes> TakeY<V> for Squares<V> {
    #[inline(always)]
    fn take<const MR: usize, const NR: usize>(&mut self, y: &[[V; NR]; MR], _: usize, row: usize) {
        for m in 0..MR {
            let s = &mut self.0[row + m];
            for v in 0..NR {
                *s = y[m][v].mul_add(y[m][v], *s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{Kernel, Simd};

    /// The micro-tiles' moments, unpacked, against `Σ r·(x − μ)(x − μ)ᵀ`
    /// summed plainly, row by row in order: each moment is one running sum
    /// over the rows, so they agree to a few ulps of the sum's terms, and
    /// exactly where the terms are small integers. Two tiles into one
    /// accumulator, as a block adds them.
    #[test]
    fn micro_tiles_sum_the_lower_triangle() {
        struct Check;
        impl Kernel for Check {
            type Output = ();
            #[inline(always)]
            fn run<V: Lanes>(self) {
                let sizes: &[usize] = if cfg!(miri) { &[13] } else { &[1, 13, TILE] };
                for d in [48, 50, 61] {
                    for &rows in sizes {
                        let x: Vec<f64> = (0..2 * rows * d).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
                        let mu: Vec<f64> = (0..d).map(|j| (j % 3) as f64).collect();
                        let r: Vec<f64> = (0..2 * rows).map(|p| ((p * 7) % 4) as f64).collect();
                        let mut acc = vec![V::zero(); vectors(d, V::LANES).unwrap()];
                        let (mut b, mut a) = (Vec::new(), Vec::new());
                        for t in 0..2 {
                            let src = &x[t * rows * d..(t + 1) * rows * d];
                            add_moments::<V>(d, src, &mu, &r[t * rows..(t + 1) * rows], &mut b, &mut a, &mut acc);
                        }
                        let mut q = vec![f64::NAN; d * (d + 1) / 2];
                        unpack::<V>(d, &acc, &mut q);
                        for i in 0..d {
                            for j in 0..=i {
                                let want: f64 =
                                    (0..2 * rows).map(|p| r[p] * (x[p * d + i] - mu[i]) * (x[p * d + j] - mu[j])).sum();
                                assert_eq!(q[packed(i, j)], want, "d={d} rows={rows} ({i}, {j})");
                            }
                        }
                    }
                }
            }
        }
        for simd in Simd::each() {
            simd.run(Check);
        }
    }

    /// The micro-tiles cover the lower triangle: every `(i, j)`, `j ≤ i <
    /// d`, in exactly one tile, and [`vectors`] counts them.
    #[test]
    fn the_tiles_cover_the_lower_triangle_once() {
        for lanes in [4, 8] {
            let (mr, nr) = shape_of(lanes);
            for d in [1, 7, 8, 23, 24, 25, 48, 50, 97] {
                let tiles = Tiles::new(d, mr, nr * lanes);
                let mut seen = vec![0; d * d];
                let mut count = 0;
                for jb in 0..tiles.cols() {
                    for ib in tiles.rows_of(jb) {
                        count += 1;
                        for i in ib * mr..(ib * mr + mr).min(d) {
                            for j in jb * nr * lanes..(jb * nr * lanes + nr * lanes).min(i + 1) {
                                seen[i * d + j] += 1;
                            }
                        }
                    }
                }
                for i in 0..d {
                    for j in 0..=i {
                        assert_eq!(seen[i * d + j], 1, "lanes={lanes} d={d} ({i}, {j})");
                    }
                }
                assert_eq!(vectors(d, lanes), Some(count * mr * nr), "lanes={lanes} d={d}");
            }
        }
    }
}
