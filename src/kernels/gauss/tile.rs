//! One tile: [`TILE`] rows of data transposed into columns of lanes, with
//! the per-row scratch of the E-step (log-densities, their maximum, sum
//! and its inverse), and the walk over a block's tiles.

use std::any::Any;
use std::cell::Cell;
use std::ops::Range;
use std::thread::LocalKey;

use super::TILE;
use super::density::tied_densities;
use super::dims::Dim;
use crate::simd::{self, Lanes};

/// The tile layout of a lane type: `TILE` rows as `G` groups of `LANES`.
pub(crate) trait TileLanes: Lanes {
    /// Vectors per row of a tile array.
    const G: usize = TILE / Self::LANES;
}

impl<V: Lanes> TileLanes for V {}

/// Row `i` of a `… × G` tile array, its first `groups` vectors.
#[inline(always)]
pub(super) fn part<V: Lanes>(v: &[V], i: usize, groups: usize) -> &[V] {
    &v[i * V::G..i * V::G + groups]
}

/// A thread's scratch of one type, kept from one block to the next: a pass
/// takes hundreds of blocks, each of which would otherwise allocate its own
/// (allocating the sums anew for every block cost about a tenth of a pass
/// when measured). Any type, so one slot serves every lane type.
pub(super) type Spare = LocalKey<Cell<Option<Box<dyn Any>>>>;

/// What `slot` holds, if it is a `T`.
#[inline(always)]
pub(super) fn reuse<T: 'static>(slot: &'static Spare) -> Option<Box<T>> {
    slot.take().and_then(|b| b.downcast().ok())
}

/// Scratch for one tile. Each array is rows of `G` vectors, a vector holding
/// one value of `LANES` consecutive rows of data. Vectors are aligned, so no
/// load or store splits a cache line.
pub(crate) struct Tile<V: Lanes> {
    /// `d × G`: coordinate `j` of every row.
    pub xt: Vec<V>,
    /// `k × G`: log-densities `lₖ`, then `eₖ = exp(lₖ − m)` (see [`tile_softmax`](super::softmax::tile_softmax)).
    pub lt: Vec<V>,
    /// Per row, `m = maxₖ lₖ` (0 on padding lanes).
    pub top: Vec<V>,
    /// Per row, `s = Σₖ eₖ ≥ 1` (1 on padding lanes).
    pub sum: Vec<V>,
    /// Per row, `1/s`: responsibilities are `eₖ·(1/s)` (0 on padding lanes).
    pub inv: Vec<V>,
    /// Rows held (≤ TILE); lanes past it are padding.
    pub rows: usize,
    /// `d × G` scratch of the blocked (large-`d`) path: `x − μ`, for a
    /// triangular factor or full moments. Empty until first used.
    pub dt: Vec<V>,
    /// `d × G` scratch of the blocked path: `r·(x − μ)`, for full moments.
    /// Empty until first used.
    pub rt: Vec<V>,
    /// `k × TILE` running sums of the tied densities (one vector per row
    /// and component, lanes along the coordinates: see
    /// [`tied::log_densities`](super::tied::log_densities)). Empty until
    /// first used.
    pub sq: Vec<V>,
}

impl<V: Lanes> Tile<V> {
    pub(super) fn new(k: usize, d: usize) -> Self {
        // Zeroed bits, not `V::zero()`: this runs outside the kernels'
        // compiled paths, where a lane constructor would not be inlined.
        let zeros = |rows: usize| {
            let mut v = Vec::new();
            v.resize_with(rows * V::G, bytemuck::Zeroable::zeroed);
            v
        };
        Tile {
            xt: zeros(d),
            lt: zeros(k),
            top: zeros(1),
            sum: zeros(1),
            inv: zeros(1),
            rows: 0,
            dt: Vec::new(),
            rt: Vec::new(),
            sq: Vec::new(),
        }
    }

    /// Number of vector groups covering the rows.
    #[inline(always)]
    pub(crate) fn groups(&self) -> usize {
        self.rows.div_ceil(V::LANES)
    }

    /// The group holding padding lanes (only ever the last), and its mask
    /// of valid lanes; `None` when every lane holds a row.
    #[inline(always)]
    pub(crate) fn padding(&self) -> Option<(usize, V::Mask)> {
        let last = self.rows / V::LANES;
        (last < self.groups()).then(|| (last, V::lanes_below(self.rows - last * V::LANES)))
    }

    /// Copies rows `rows` of `x` (row-major, `d` columns) in, column-major.
    /// Padding lanes of the last group repeat the first row, so every lane
    /// holds finite data.
    #[inline(always)]
    pub(super) fn load<D: Dim>(&mut self, dim: D, x: &[f64], rows: Range<usize>) {
        let d = dim.get();
        let t = rows.len();
        debug_assert!(t <= TILE && t > 0);
        let src = &x[rows.start * d..rows.end * d];
        dim.transpose(src, &mut self.xt);
        let xt: &mut [f64] = bytemuck::cast_slice_mut(&mut self.xt);
        for i in t..t.next_multiple_of(V::LANES) {
            for j in 0..d {
                xt[j * TILE + i] = src[j];
            }
        }
        self.rows = t;
    }

    /// Every component's log-densities of the loaded rows, into `lt`.
    #[inline(always)]
    pub(crate) fn densities<D: Dim>(&mut self, dim: D, g: &super::Gaussians) {
        let mut lt = std::mem::take(&mut self.lt);
        if g.one_product() {
            tied_densities(dim.get(), g, 0..g.k, self, &mut lt);
        } else {
            for (c, out) in lt.chunks_exact_mut(V::G).enumerate() {
                dim.log_density(g, c, self, out);
            }
        }
        self.lt = lt;
    }

    /// `lt` as `k × TILE` values.
    #[inline(always)]
    pub(super) fn lt_values(&self) -> &[f64] {
        bytemuck::cast_slice(&self.lt)
    }

    /// `inv` as `TILE` values.
    #[inline(always)]
    pub(super) fn inv_values(&self) -> &[f64] {
        bytemuck::cast_slice(&self.inv)
    }
}

thread_local! {
    /// The last tile this thread used, kept for the next block.
    static SPARE_TILE: Cell<Option<Box<dyn Any>>> = const { Cell::new(None) };
}

/// The tiles of `rows` of `x` in order, each loaded in turn into one tile:
///
/// ```ignore
/// let mut walk = Tiles::new(dim, k, x, rows);
/// while let Some(r) = walk.next() {
///     let tile = walk.tile(); // holds rows `r`
/// }
/// ```
///
/// A loop, not a closure: a closure's body is compiled without the SIMD
/// path's instructions unless it is inlined, and a large one is not.
pub(crate) struct Tiles<'a, V: Lanes, D: Dim> {
    dim: D,
    x: &'a [f64],
    next: usize,
    end: usize,
    tile: Option<Box<Tile<V>>>,
}

impl<'a, V: Lanes, D: Dim> Tiles<'a, V, D> {
    /// The walk over `rows` of `x` (row-major, `d` columns) with a tile for
    /// `k` components: this thread's last tile if it has the shape.
    #[inline(always)]
    pub(crate) fn new(dim: D, k: usize, x: &'a [f64], rows: Range<usize>) -> Self {
        let d = dim.get();
        let tile = reuse::<Tile<V>>(&SPARE_TILE)
            .filter(|t| t.lt.len() == k * V::G && t.xt.len() == d * V::G)
            .unwrap_or_else(|| Box::new(Tile::new(k, d)));
        Tiles { dim, x, next: rows.start, end: rows.end, tile: Some(tile) }
    }

    /// Loads the next tile's rows and returns them; `None` past the last.
    #[inline(always)]
    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next(&mut self) -> Option<Range<usize>> {
        let (start, d, x) = (self.next, self.dim.get(), self.x);
        if start >= self.end {
            return None;
        }
        let end = self.end.min(start + TILE);
        // The next tile's rows, so they arrive while this one is worked on:
        // the hardware prefetcher alone left a quarter of a d = 2 pass
        // waiting on memory on a Xeon.
        simd::prefetch(&x[(end * d).min(x.len())..((end + TILE) * d).min(x.len())]);
        let dim = self.dim;
        self.tile().load(dim, x, start..end);
        self.next = end;
        Some(start..end)
    }

    /// The tile, holding the rows [`next`](Self::next) returned last.
    #[inline(always)]
    pub(crate) fn tile(&mut self) -> &mut Tile<V> {
        self.tile.as_mut().expect("held until drop")
    }
}

impl<V: Lanes, D: Dim> Drop for Tiles<'_, V, D> {
    /// Keeps the tile for this thread's next block.
    fn drop(&mut self) {
        if let Some(tile) = self.tile.take() {
            SPARE_TILE.set(Some(tile));
        }
    }
}

/// Writes the rows of `src` (row-major, `d` columns) into the tile's
/// columns `xt` as rows `first`, `first + 1`, …, one value at a time.
#[inline(always)]
pub(super) fn transpose_rows<V: Lanes>(d: usize, src: &[f64], xt: &mut [V], first: usize) {
    let xt: &mut [f64] = bytemuck::cast_slice_mut(xt);
    for (i, row) in src.chunks_exact(d).enumerate() {
        for j in 0..d {
            xt[j * TILE + first + i] = row[j];
        }
    }
}

/// [`transpose_rows`] for a constant `D`: whole groups of `LANES` rows by
/// [`Lanes::load_columns`], the rest row by row.
#[inline(always)]
pub(super) fn transpose_columns<V: Lanes, const D: usize>(src: &[f64], xt: &mut [V]) {
    let (rows, _) = src.as_chunks::<D>();
    let mut groups = rows.chunks_exact(V::LANES);
    for (grp, group) in (&mut groups).enumerate() {
        let cols = V::load_columns::<D>(group);
        for j in 0..D {
            xt[j * V::G + grp] = cols[j];
        }
    }
    let done = rows.len() / V::LANES * V::LANES;
    transpose_rows(D, groups.remainder().as_flattened(), xt, done);
}

/// [`transpose_rows`] for any `d`: whole groups of `LANES` rows as
/// `LANES × LANES` blocks by [`Lanes::transpose`] when `d ≥ LANES`, the
/// last block of a row overlapping the one before when `LANES` does not
/// divide `d`; the rest row by row. (Value by value, LLVM vectorizes this
/// loop with scatters, 1.4 cycles a value at d = 8.)
#[inline(always)]
pub(super) fn transpose_blocks<V: Lanes>(d: usize, src: &[f64], xt: &mut [V]) {
    let l = V::LANES;
    if d < l {
        return transpose_rows(d, src, xt, 0);
    }
    let groups = src.len() / d / l;
    let mut block = [V::zero(); 8];
    for (grp, group) in src.chunks_exact(l * d).enumerate() {
        let mut j = 0;
        loop {
            let at = j.min(d - l);
            for (i, b) in block[..l].iter_mut().enumerate() {
                *b = V::load(&group[i * d + at..]);
            }
            V::transpose(&mut block[..l]);
            for (c, col) in block[..l].iter().enumerate() {
                xt[(at + c) * V::G + grp] = *col;
            }
            j += l;
            if j >= d {
                break;
            }
        }
    }
    transpose_rows(d, &src[groups * l * d..], xt, groups * l);
}

/// Makes `scratch` hold at least `rows` rows of `G` vectors: [`Tile::dt`]
/// and [`Tile::rt`] are allocated only by the paths that use them.
pub(super) fn grow<V: Lanes>(scratch: &mut Vec<V>, rows: usize) {
    if scratch.len() < rows * V::G {
        scratch.resize_with(rows * V::G, bytemuck::Zeroable::zeroed);
    }
}

/// Writes `x − μₖ` of every group of the tile into `tile.dt`.
#[inline(always)]
pub(super) fn tile_diffs<V: Lanes>(d: usize, mu: &[f64], tile: &mut Tile<V>) {
    grow(&mut tile.dt, d);
    let groups = tile.groups();
    for j in 0..d {
        let m = V::splat(mu[j]);
        let dt = &mut tile.dt[j * V::G..j * V::G + groups];
        for (o, &x) in dt.iter_mut().zip(part(&tile.xt, j, groups)) {
            *o = x - m;
        }
    }
}

/// `x − μ` of the tile's rows into `tile.dt` group by group: group `grp`'s
/// `d` vectors at `grp·d`, coordinate `j` of its `LANES` rows in vector
/// `grp·d + j` (the same values as [`tile_diffs`], in the order
/// [`panel::log_density`](super::panel::log_density) reads them, so that its
/// micro-kernel streams them from consecutive memory rather than one
/// vector every `G`).
#[inline(always)]
pub(super) fn tile_diffs_grouped<V: Lanes>(d: usize, mu: &[f64], tile: &mut Tile<V>) {
    grow(&mut tile.dt, d);
    let groups = tile.groups();
    let Tile { xt, dt, .. } = tile;
    for (j, &m) in mu.iter().enumerate() {
        let m = V::splat(m);
        for (grp, &x) in part(xt, j, groups).iter().enumerate() {
            dt[grp * d + j] = x - m;
        }
    }
}
