//! Dense linear algebra for the mixture: Cholesky factors, triangular
//! inverses, inverses with log-determinants, and the packed layout of a
//! symmetric matrix's lower triangle, over row-major `d × d` matrices.
//!
//! [`cholesky`] and [`invert_lower`] run once per component per EM
//! iteration, `d³/6` multiply-adds each: at d = 1000 they were most of an
//! iteration as row-by-row loops that stream the whole matrix from L3 for
//! every row. So they are blocked for the caches and run on the SIMD path
//! chosen at run time ([`crate::simd`]), with no threads inside:
//!
//! - almost all of the work is one product, a few rows times a packed
//!   strip of `2·LANES` columns, done by a register-tiled micro-kernel
//!   (`tile`: `MR` rows × 2 vectors of independent sums);
//! - strips are packed `DEPTH` values of the inner dimension at a time,
//!   so that a strip stays in L1 while every row block sweeps it;
//! - [`cholesky`] is left-looking by panels of `PANEL` columns: a panel
//!   first loses its products with every earlier column in one sweep of
//!   the rows below it, then its strips are finished one by one (the rest
//!   of the in-panel products, then forward substitution, a lane per row);
//! - [`invert_lower`] is forward substitution by blocks of `BLOCK_ROWS`
//!   rows: a block's columns left of its diagonal get their products with
//!   the finished rows above from the micro-kernel, then the block's own
//!   rows are substituted one at a time, for up to 8 vectors of columns at
//!   once, their sums in registers (below d = `TINY`, value by value).
//!
//! **Summation order.** Blocking changes when a term is subtracted, never
//! the order of the terms: every entry is computed as the dot-product
//! forms compute it,
//! `Lᵢⱼ = (((aᵢⱼ − Lᵢ₀·Lⱼ₀) − Lᵢ₁·Lⱼ₁) − … − Lᵢ,ⱼ₋₁·Lⱼ,ⱼ₋₁) / Lⱼⱼ` (and
//! `Lⱼⱼ = √(…)`), `Wᵢ꜀ = ((δᵢ꜀ − Lᵢ꜀·W꜀꜀) − … − Lᵢ,ᵢ₋₁·Wᵢ₋₁,꜀) / Lᵢᵢ`, the
//! terms in ascending order. (A sum of `W` may start a few terms early, at
//! the first row of its strip or block: those terms multiply zeros of
//! `W`'s upper triangle and leave the sum's `+0.0` as it is, for finite
//! `L`.) Each subtraction is one `mul_neg_add` of the path's lanes
//! (`Lanes::mul_neg_add`): rounded once on AVX-512 and AVX2 (and on the
//! portable path of a build with FMA), twice on the portable path of a
//! default x86-64 build, which therefore gives the bits of the plain loops.
//! The tests hold every path, bit for bit, to a scalar loop that rounds as
//! it does. So a result is a pure function of the input on a given path.

// Index loops over i, j mirror the formulas they compute.
#![allow(clippy::needless_range_loop)]

use std::ops::Range;

use crate::simd::{Kernel, Lanes, Simd};

/// Where entry `(i, j)`, `j ≤ i`, of a symmetric `d × d` matrix sits in its
/// lower triangle packed row by row: `i(i+1)/2 + j`.
#[inline(always)]
pub(crate) const fn packed(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}

/// Rows of the micro-kernel's tile. Times two vectors of columns, 12
/// independent multiply-add chains, more than the 8 that two FMA units
/// need to hide a 4-cycle latency; with the strip's two vectors and a
/// broadcast, 15 of AVX2's 16 registers. (At d = 1000 on AVX-512, 6 and 8
/// rows ran a few percent faster than 4; 8 would spill on AVX2.)
const MR: usize = 6;

/// Columns of a Cholesky panel: the rows below a panel are read once per
/// panel (instead of once per strip), for 4 strips of 16 columns on
/// AVX-512, 8 of 8 on the 4-lane paths.
const PANEL: usize = 64;

/// Values of the inner dimension packed at a time: a packed panel of
/// `DEPTH × PANEL` values is 32 KiB, within a 48 KiB L1 beside the rows
/// that stream past it.
const DEPTH: usize = 64;

/// Rows of a block of the triangular inverse: a packed strip is reused by
/// the block's `⌈BLOCK_ROWS / MR⌉` tiles, and the block's rows of `L`
/// (`BLOCK_ROWS × d` values, 512 KiB at d = 1000) stay in L2 while the
/// strips go by.
const BLOCK_ROWS: usize = 64;

/// The order below which [`invert_lower`] substitutes value by value: at
/// d = 11 that beat a strip of vectors on AVX-512 (a third of a
/// microsecond), at 12 they were even.
const TINY: usize = 12;

/// The lower-triangular Cholesky factor `L` of a symmetric `d × d` matrix
/// (row-major; only its lower triangle is read), `a = L·Lᵀ`.
///
/// Returns `None` when `a` is not positive definite in floating point (a
/// pivot that is not strictly positive and finite), or holds other than
/// `d·d` values. Blocked and vectorized on the [active](crate::simd::active)
/// path; the order of every sum is the dot-product form's (see the
/// [module docs](self)).
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    cholesky_on(Simd::active(), a, d)
}

/// [`cholesky`] on `simd`'s path: for work on other threads, which must
/// run on the path their caller read.
pub(crate) fn cholesky_on(simd: Simd, a: &[f64], d: usize) -> Option<Vec<f64>> {
    if a.len() != d.checked_mul(d)? {
        return None;
    }
    Cholesky { a, d }.run_on(simd)
}

/// The inverse of a lower-triangular `d × d` matrix with a nonzero diagonal
/// (row-major; only its lower triangle is read), by forward substitution.
/// The result is lower-triangular. Blocked and vectorized on the
/// [active](crate::simd::active) path; the order of every sum is
/// column-by-column forward substitution's (see the [module docs](self)).
///
/// Panics if `l` holds fewer than `d·d` values.
pub fn invert_lower(l: &[f64], d: usize) -> Vec<f64> {
    invert_lower_on(Simd::active(), l, d)
}

/// [`invert_lower`] on `simd`'s path (see [`cholesky_on`]).
pub(crate) fn invert_lower_on(simd: Simd, l: &[f64], d: usize) -> Vec<f64> {
    let len = d.checked_mul(d).expect("a d × d matrix fits in memory");
    InvertLower { l: &l[..len], d }.run_on(simd)
}

/// [`cholesky`]'s kernel: `a` holds `d·d` values.
struct Cholesky<'a> {
    a: &'a [f64],
    d: usize,
}

impl Kernel for Cholesky<'_> {
    type Output = Option<Vec<f64>>;

    #[inline(always)]
    fn run<V: Lanes>(self) -> Option<Vec<f64>> {
        let Cholesky { a, d } = self;
        debug_assert_eq!(a.len(), d * d);
        let mut l = vec![0.0; d * d];
        for i in 0..d {
            l[i * d..=i * d + i].copy_from_slice(&a[i * d..=i * d + i]);
        }
        // Each entry of the lower triangle holds `aᵢⱼ` less the products
        // subtracted so far, in ascending column, until it is finished.
        let mut packed = Vec::new();
        for k0 in (0..d).step_by(PANEL) {
            let panel = k0..(k0 + PANEL).min(d);
            subtract_products::<V>(&mut l, d, panel.clone(), 0..k0, &mut packed);
            for j0 in panel.clone().step_by(2 * V::LANES) {
                let strip = j0..(j0 + 2 * V::LANES).min(panel.end);
                subtract_products::<V>(&mut l, d, strip.clone(), k0..j0, &mut packed);
                factor_strip::<V>(&mut l, d, strip)?;
            }
        }
        Some(l)
    }
}

/// `Lᵢⱼ ← Lᵢⱼ − Σ_{p ∈ inner} Lᵢₚ·Lⱼₚ` for the columns `j ∈ cols` and every
/// row `i ≥ cols.start` (the entries with `j ≤ i`), in ascending `p`:
/// `DEPTH` columns of `inner` at a time, each time with the rows of `cols`
/// packed as strips of `2·LANES` columns in `packed` and every row below
/// taken `MR` rows at a time through all the strips. `inner` ends at or
/// before `cols.start`.
#[inline(always)]
fn subtract_products<V: Lanes>(
    l: &mut [f64],
    d: usize,
    cols: Range<usize>,
    inner: Range<usize>,
    packed: &mut Vec<f64>,
) {
    let n = 2 * V::LANES;
    let strips = cols.len().div_ceil(n);
    for p0 in inner.clone().step_by(DEPTH) {
        let depth = p0..(p0 + DEPTH).min(inner.end);
        let size = depth.len() * n;
        // Strip `s`, row `p`, lane `c`: `L[j][p]` for column `j = cols.start + s·n + c`.
        let packed = aligned::<V>(packed, strips * size);
        for (s, strip) in packed.chunks_exact_mut(size).enumerate() {
            for c in 0..n {
                let j = cols.start + s * n + c;
                if j < cols.end {
                    for (at, &v) in l[j * d + depth.start..j * d + depth.end].iter().enumerate() {
                        strip[at * n + c] = v;
                    }
                } else {
                    strip.iter_mut().skip(c).step_by(n).for_each(|v| *v = 0.0);
                }
            }
        }
        for i in (cols.start..d).step_by(MR) {
            let last = (i + MR).min(d) - 1;
            for (s, strip) in packed.chunks_exact(size).enumerate() {
                let j = cols.start + s * n..(cols.start + (s + 1) * n).min(cols.end);
                if j.start > last {
                    break;
                }
                let sums = tile::<V>(l, l, d, i..last + 1, j.clone(), depth.clone(), strip);
                for (r, sums) in sums.into_iter().enumerate() {
                    let i = i + r;
                    // Only the lower triangle: rows of the diagonal block end at `i`.
                    if i <= last && j.start <= i {
                        store_pair::<V>(sums, &mut l[i * d + j.start..i * d + j.end.min(i + 1)]);
                    }
                }
            }
        }
    }
}

/// Finishes the columns `cols` (at most `2·LANES`) of `L`, whose entries
/// hold `aᵢⱼ` less their products over every column before `cols`: the
/// diagonal block by the dot-product form, a row at a time, then the rows
/// below it `2·LANES` at a time, a lane per row, by forward substitution with
/// the block. `None` at a pivot that is not strictly positive and finite.
#[inline(always)]
fn factor_strip<V: Lanes>(l: &mut [f64], d: usize, cols: Range<usize>) -> Option<()> {
    let (j0, width) = (cols.start, cols.len());
    for i in cols.clone() {
        for j in j0..=i {
            let mut s = l[i * d + j];
            for p in j0..j {
                s = sub_product::<V>(s, l[i * d + p], l[j * d + p]);
            }
            if j < i {
                l[i * d + j] = s / l[j * d + j];
            } else if s > 0.0 && s.is_finite() {
                l[i * d + i] = s.sqrt();
            } else {
                return None;
            }
        }
    }
    // Two vectors of rows at a time: two independent chains through the
    // divisions, whose latency the substitution waits on.
    for i in (cols.end..d).step_by(2 * V::LANES) {
        let rows = (d - i).min(2 * V::LANES);
        // Column `c` of the strip for the rows `i..i + rows` (zeros past the last row).
        let mut x = [[V::zero(); 2]; 16];
        for (c, x) in x[..width].iter_mut().enumerate() {
            let at = |r: usize| if r < rows { l[(i + r) * d + j0 + c] } else { 0.0 };
            *x = [V::from_fn(at), V::from_fn(|r| at(V::LANES + r))];
        }
        for c in 0..width {
            let lc = &l[(j0 + c) * d + j0..=(j0 + c) * d + j0 + c];
            let mut s = x[c];
            for p in 0..c {
                let lcp = V::splat(lc[p]);
                s = [lcp.mul_neg_add(x[p][0], s[0]), lcp.mul_neg_add(x[p][1], s[1])];
            }
            let lcc = V::splat(lc[c]);
            x[c] = [s[0] / lcc, s[1] / lcc];
        }
        for (c, x) in x[..width].iter().enumerate() {
            let (low, high) = (x[0].to_array(), x[1].to_array());
            for r in 0..rows {
                l[(i + r) * d + j0 + c] = if r < V::LANES { low[r] } else { high[r - V::LANES] };
            }
        }
    }
    Some(())
}

/// [`invert_lower`]'s kernel: `l` holds `d·d` values.
struct InvertLower<'a> {
    l: &'a [f64],
    d: usize,
}

impl Kernel for InvertLower<'_> {
    type Output = Vec<f64>;

    #[inline(always)]
    fn run<V: Lanes>(self) -> Vec<f64> {
        let InvertLower { l, d } = self;
        debug_assert_eq!(l.len(), d * d);
        let n = 2 * V::LANES;
        let mut w = vec![0.0; d * d];
        if d < TINY {
            // The plain loop, its terms in the same order: below a strip's
            // width, its scratch and vector divisions cost more than the work.
            for i in 0..d {
                for c in 0..=i {
                    let mut s = if c == i { 1.0 } else { 0.0 };
                    for p in c..i {
                        s = sub_product::<V>(s, l[i * d + p], w[p * d + c]);
                    }
                    w[i * d + c] = s / l[i * d + i];
                }
            }
            return w;
        }
        let mut packed = Vec::new();
        for i0 in (0..d).step_by(BLOCK_ROWS) {
            let block = i0..(i0 + BLOCK_ROWS).min(d);
            // Left of the block's diagonal: `Wᵢ꜀ = −Σ_{c₀ ≤ p < i₀} Lᵢₚ·Wₚ꜀` so far,
            // strip by strip of columns `c₀..`, `DEPTH` rows of `W` at a time.
            for c0 in (0..i0).step_by(n) {
                let cols = c0..(c0 + n).min(i0);
                for p0 in (c0..i0).step_by(DEPTH) {
                    let depth = p0..(p0 + DEPTH).min(i0);
                    let packed = aligned::<V>(&mut packed, depth.len() * n);
                    for (p, strip) in depth.clone().zip(packed.chunks_exact_mut(n)) {
                        let v = load_pair::<V>(&w[p * d + cols.start..p * d + cols.end]);
                        v[0].store(strip);
                        v[1].store(&mut strip[V::LANES..]);
                    }
                    for i in block.clone().step_by(MR) {
                        let last = (i + MR).min(block.end) - 1;
                        let sums = tile::<V>(&w, l, d, i..last + 1, cols.clone(), depth.clone(), packed);
                        for (r, sums) in sums.into_iter().enumerate().take(last + 1 - i) {
                            let i = i + r;
                            store_pair::<V>(sums, &mut w[i * d + cols.start..i * d + cols.end]);
                        }
                    }
                }
            }
            // The block's rows in order, a group of columns at a time.
            for i in block.clone() {
                w[i * d + i] = 1.0;
            }
            let mut g0 = 0;
            while g0 < block.end {
                if block.end - g0 > 3 * n {
                    substitute::<V, 4>(l, &mut w, d, block.clone(), g0, &mut packed);
                    g0 += 4 * n;
                } else {
                    substitute::<V, 1>(l, &mut w, d, block.clone(), g0, &mut packed);
                    g0 += n;
                }
            }
        }
        w
    }
}

/// Forward substitution of the rows `block` of `W` in the `P` column
/// strips from `g0` (`P·2·LANES` columns, those past the block's end
/// ignored): `Wᵢ꜀ ← (Wᵢ꜀ − Σ_{p} Lᵢₚ·Wₚ꜀) / Lᵢᵢ` for the rows `i` of the block
/// in order, `p` ascending over the block's rows before `i`, each row's
/// `2·P` vectors of sums in registers. Entries hold what the rows above the
/// block left (and `Wᵢᵢ` 1); rows and terms left of `g0` are skipped, as
/// `W` is 0 above its diagonal. The finished rows go to `packed` too, a
/// row of whole vectors each, which the sums of the next rows read.
#[inline(always)]
fn substitute<V: Lanes, const P: usize>(
    l: &[f64],
    w: &mut [f64],
    d: usize,
    block: Range<usize>,
    g0: usize,
    packed: &mut Vec<f64>,
) {
    let (n, width) = (2 * V::LANES, 2 * V::LANES * P);
    let first = block.start.max(g0);
    let len = (block.end - first) * width;
    let packed = aligned::<V>(packed, len);
    for i in first..block.end {
        // Strip `q`'s columns of row `i` of `W`, the lower triangle only.
        let strip = |q: usize| (g0 + q * n).min(i + 1)..(g0 + (q + 1) * n).min(i + 1);
        let mut sums = [[V::zero(); 2]; P];
        for (q, sums) in sums.iter_mut().enumerate() {
            *sums = load_pair::<V>(&w[i * d..][strip(q)]);
        }
        let (done, rest) = packed.split_at_mut((i - first) * width);
        for (&lip, x) in l[i * d + first..i * d + i].iter().zip(done.chunks_exact(width)) {
            let lip = V::splat(lip);
            for (sums, x) in sums.iter_mut().zip(x.chunks_exact(n)) {
                sums[0] = lip.mul_neg_add(V::load(x), sums[0]);
                sums[1] = lip.mul_neg_add(V::load(&x[V::LANES..]), sums[1]);
            }
        }
        let lii = V::splat(l[i * d + i]);
        for (q, (sums, x)) in sums.iter().zip(rest.chunks_exact_mut(n)).enumerate() {
            let sums = [sums[0] / lii, sums[1] / lii];
            sums[0].store(x);
            sums[1].store(&mut x[V::LANES..]);
            store_pair::<V>(sums, &mut w[i * d..][strip(q)]);
        }
    }
}

/// `Cᵢⱼ − Σ_{p ∈ depth} Xᵢₚ·yₚⱼ` for the rows `rows` (at most `MR`) and
/// the columns `cols` (at most `2·LANES`) of the row-major `d`-column
/// matrices `c` and `x`, `y` the packed strip (row `p − depth.start` of
/// `y` holds `2·LANES` values, zeros past `cols`): a tile of `MR` rows × 2
/// vectors of sums, each its own chain in registers, the terms in
/// ascending `p`, each one [`Lanes::mul_neg_add`]. Past the last row the
/// tile repeats it; sums past `rows` and `cols` are to be dropped.
#[inline(always)]
fn tile<V: Lanes>(
    c: &[f64],
    x: &[f64],
    d: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    depth: Range<usize>,
    y: &[f64],
) -> [[V; 2]; MR] {
    let n = 2 * V::LANES;
    let y = &y[..depth.len() * n];
    let mut sums = [[V::zero(); 2]; MR];
    let mut xs: [&[f64]; MR] = [&[]; MR];
    for (r, (sums, xs)) in sums.iter_mut().zip(&mut xs).enumerate() {
        let i = (rows.start + r).min(rows.end - 1);
        *sums = load_pair::<V>(&c[i * d + cols.start..i * d + cols.end]);
        *xs = &x[i * d + depth.start..i * d + depth.end];
    }
    for (p, y) in y.chunks_exact(n).enumerate() {
        let (y0, y1) = (V::load(y), V::load(&y[V::LANES..]));
        for (sums, xs) in sums.iter_mut().zip(&xs) {
            let x = V::splat(xs[p]);
            sums[0] = x.mul_neg_add(y0, sums[0]);
            sums[1] = x.mul_neg_add(y1, sums[1]);
        }
    }
    sums
}

/// `len` values of `buffer`, grown to hold them, from its first value
/// aligned as a vector is (a whole cache line on AVX-512): scratch for
/// packed strips, from which no load splits across two lines. (An
/// allocation aligned to 64 bytes costs as much as a small inverse.)
#[inline(always)]
fn aligned<V: Lanes>(buffer: &mut Vec<f64>, len: usize) -> &mut [f64] {
    buffer.resize(len + V::LANES - 1, 0.0);
    let skip = buffer.as_ptr().align_offset(align_of::<V>()).min(V::LANES - 1);
    &mut buffer[skip..skip + len]
}

/// The values of `s` (at most `2·LANES`) as two vectors, zeros past its end.
#[inline(always)]
fn load_pair<V: Lanes>(s: &[f64]) -> [V; 2] {
    let n = V::LANES;
    if s.len() >= 2 * n {
        return [V::load(s), V::load(&s[n..])];
    }
    let at = |k: usize| if k < s.len() { s[k] } else { 0.0 };
    [V::from_fn(at), V::from_fn(|k| at(n + k))]
}

/// The first `s.len()` (at most `2·LANES`) values of `v`, written to `s`.
#[inline(always)]
fn store_pair<V: Lanes>(v: [V; 2], s: &mut [f64]) {
    let n = V::LANES;
    if s.len() == 2 * n {
        v[0].store(s);
        v[1].store(&mut s[n..]);
        return;
    }
    let (low, high) = (v[0].to_array(), v[1].to_array());
    for (k, s) in s.iter_mut().enumerate() {
        *s = if k < n { low[k] } else { high[k - n] };
    }
}

/// `s − x·y`, rounded as the path's [`Lanes::mul_neg_add`] rounds it, so
/// the scalar steps of a sum agree with its vector steps.
#[inline(always)]
fn sub_product<V: Lanes>(s: f64, x: f64, y: f64) -> f64 {
    V::splat(x).mul_neg_add(V::splat(y), V::splat(s)).to_array()[0]
}

crate::simd::compiled_here!(Cholesky<'_>, InvertLower<'_>);

/// The inverse and log-determinant of a symmetric positive definite `d × d`
/// matrix (row-major), through its Cholesky factor `a = L·Lᵀ`:
/// `a⁻¹ = Wᵀ·W` with `W = L⁻¹`, and `ln det a = 2·Σ ln Lᵢᵢ`. What the seed
/// takes from `numpy.linalg.inv` and `slogdet`. `None` when `a` is not
/// positive definite or its inverse overflows.
pub fn inverse_and_log_det(a: &[f64], d: usize) -> Option<(Vec<f64>, f64)> {
    let l = cholesky(a, d)?;
    let w = invert_lower(&l, d);
    // `(a⁻¹)ᵢⱼ = Σ_{p ≥ max(i, j)} Wₚᵢ·Wₚⱼ`, a row at a time: each `p` adds
    // to the sums of every `j ≤ p` from row `p` of `W` (vectorizes), each sum
    // from `f64`'s `Sum` neutral in ascending `p`, as `Iterator::sum` takes it.
    let neutral: f64 = std::iter::empty::<f64>().sum();
    let mut inv = vec![neutral; d * d];
    for i in 0..d {
        let row = &mut inv[i * d..(i + 1) * d];
        for p in i..d {
            let wpi = w[p * d + i];
            for (o, &wpj) in row[..=p].iter_mut().zip(&w[p * d..=p * d + p]) {
                *o += wpi * wpj;
            }
        }
    }
    if inv.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let log_det = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
    Some((inv, log_det))
}

/// The lower-triangular `W` with `Wᵀ·W = a`, for a symmetric positive
/// definite `a` (`d × d`, row-major; only its lower triangle is read): the
/// Cholesky factor of `a` with its rows and columns taken in reverse order
/// (`J·a·J = C·Cᵀ`, `W = J·Cᵀ·J`), on `simd`'s path (see [`cholesky_on`]).
/// `None` when `a` is not positive definite.
pub(crate) fn lower_factor_on(simd: Simd, a: &[f64], d: usize) -> Option<Vec<f64>> {
    let r = |i: usize| d - 1 - i;
    // `(J·a·J)ᵢⱼ = a[r(i)][r(j)]`, read from the lower triangle as `a[r(j)][r(i)]`.
    let reversed: Vec<f64> = (0..d * d).map(|at| a[r(at % d) * d + r(at / d)]).collect();
    let c = cholesky_on(simd, &reversed, d)?;
    Some((0..d * d).map(|at| c[r(at % d) * d + r(at / d)]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Isa;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// Whether `simd`'s `mul_neg_add` rounds once.
    fn fused(simd: Simd) -> bool {
        simd.isa() != Isa::Portable || cfg!(any(target_feature = "fma", target_arch = "aarch64"))
    }

    /// `s − x·y`, rounded once when `fused`, else twice.
    fn sub(fused: bool, s: f64, x: f64, y: f64) -> f64 {
        if fused { (-x).mul_add(y, s) } else { s - x * y }
    }

    /// The dot-product form, plainly: the order every path's sums keep.
    fn cholesky_dot(a: &[f64], d: usize, fused: bool) -> Option<Vec<f64>> {
        if a.len() != d.checked_mul(d)? {
            return None;
        }
        let mut l = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                let mut s = a[i * d + j];
                for p in 0..j {
                    s = sub(fused, s, l[i * d + p], l[j * d + p]);
                }
                if i == j {
                    if !(s > 0.0 && s.is_finite()) {
                        return None;
                    }
                    l[i * d + i] = s.sqrt();
                } else {
                    l[i * d + j] = s / l[j * d + j];
                }
            }
        }
        Some(l)
    }

    /// Column-by-column forward substitution, plainly.
    fn invert_lower_dot(l: &[f64], d: usize, fused: bool) -> Vec<f64> {
        let mut w = vec![0.0; d * d];
        for c in 0..d {
            for i in c..d {
                let mut s = if i == c { 1.0 } else { 0.0 };
                for p in c..i {
                    s = sub(fused, s, l[i * d + p], w[p * d + c]);
                }
                w[i * d + c] = s / l[i * d + i];
            }
        }
        w
    }

    fn inverse_dot(w: &[f64], d: usize) -> Vec<f64> {
        let mut inv = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                inv[i * d + j] = (i.max(j)..d).map(|p| w[p * d + i] * w[p * d + j]).sum();
            }
        }
        inv
    }

    /// `B·Bᵀ + shift·I` for a random `d × rank` matrix `B` with entries in
    /// `(−1, 1)`. With `rank = d` and `shift = d`, the condition number is
    /// below 3 (`‖B‖² ≈ 4d/3`); with `rank < d` and a small shift, about
    /// `d·rank / (3·shift)`.
    fn spd_with(rng: &mut StdRng, d: usize, rank: usize, shift: f64) -> Vec<f64> {
        let b: Vec<f64> = (0..d * rank).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                let s: f64 = (0..rank).map(|p| b[i * rank + p] * b[j * rank + p]).sum();
                a[i * d + j] = s + if i == j { shift } else { 0.0 };
            }
        }
        a
    }

    /// A well-conditioned symmetric positive definite matrix.
    fn spd(rng: &mut StdRng, d: usize) -> Vec<f64> {
        spd_with(rng, d, d, d as f64)
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// `x·y` and `|x|·|y|` for row-major `d × d` matrices.
    fn product(x: &[f64], y: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut xy, mut abs) = (vec![0.0; d * d], vec![0.0; d * d]);
        for i in 0..d {
            for p in 0..d {
                let xip = x[i * d + p];
                for j in 0..d {
                    xy[i * d + j] += xip * y[p * d + j];
                    abs[i * d + j] += xip.abs() * y[p * d + j].abs();
                }
            }
        }
        (xy, abs)
    }

    fn transpose(x: &[f64], d: usize) -> Vec<f64> {
        (0..d * d).map(|at| x[(at % d) * d + at / d]).collect()
    }

    fn frobenius(v: impl IntoIterator<Item = f64>) -> f64 {
        v.into_iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    /// Sizes around every blocking boundary: lanes, strips, panels, depth chunks, row blocks.
    fn sizes() -> Vec<usize> {
        if cfg!(miri) {
            // Past `TINY` and across two strips of the 4-lane portable path.
            return vec![0, 1, 2, 5, 9, 13, 20];
        }
        let edges = [31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 257, 2 * DEPTH + PANEL + 5, 3 * BLOCK_ROWS + 2];
        (0..=20).chain(edges).collect()
    }

    #[test]
    fn blocked_forms_have_the_bits_of_the_plain_loops_on_every_path() {
        for simd in Simd::each() {
            let (mut rng, fused) = (StdRng::seed_from_u64(24), fused(simd));
            for d in sizes() {
                let a = spd(&mut rng, d);
                let l = cholesky_on(simd, &a, d).expect("positive definite");
                let want = cholesky_dot(&a, d, fused).unwrap();
                assert_eq!(bits(&l), bits(&want), "cholesky, {:?}, d = {d}", simd.isa());
                let w = invert_lower_on(simd, &l, d);
                assert_eq!(bits(&w), bits(&invert_lower_dot(&l, d, fused)), "invert_lower, {:?}, d = {d}", simd.isa());
            }
        }
    }

    #[test]
    fn the_plain_loops_tell_the_roundings_apart() {
        // So that the test above holds each path to its own rounding.
        let (mut rng, d) = (StdRng::seed_from_u64(5), 40);
        let a = spd(&mut rng, d);
        let (once, twice) = (cholesky_dot(&a, d, true).unwrap(), cholesky_dot(&a, d, false).unwrap());
        assert_ne!(bits(&once), bits(&twice));
        assert_ne!(bits(&invert_lower_dot(&once, d, true)), bits(&invert_lower_dot(&once, d, false)));
    }

    #[test]
    fn factors_and_inverses_have_small_residuals_on_every_path() {
        let sizes: &[usize] = if cfg!(miri) { &[1, 2, 13] } else { &[1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 65, 100, 257] };
        for simd in Simd::each() {
            let mut rng = StdRng::seed_from_u64(11);
            for &d in sizes {
                // Well-conditioned (κ < 3), then κ about 10⁸ (rank d/2 + 1, shift 10⁻⁸·d).
                let families = [spd(&mut rng, d), spd_with(&mut rng, d, d / 2 + 1, 1e-8 * d as f64)];
                for (family, a) in families.iter().enumerate() {
                    let (eps, n) = (f64::EPSILON, d as f64);
                    let l = cholesky_on(simd, a, d).expect("positive definite");
                    // Backward stable whatever the condition: |L·Lᵀ − a| ≤ γ(d+1)·|L|·|Lᵀ|.
                    let (llt, abs) = product(&l, &transpose(&l, d), d);
                    let residual = frobenius(llt.iter().zip(a).map(|(x, y)| x - y));
                    let bound = (n + 1.0) * eps * frobenius(abs.iter().copied());
                    assert!(
                        residual <= bound,
                        "L·Lᵀ − a, {:?}, d = {d}, family {family}: {residual:e} > {bound:e}",
                        simd.isa()
                    );
                    // Each column solves L·w = e with |ΔL| ≤ γ(d)·|L|: |L·W − I| ≤ γ(d)·|L|·|W|.
                    let w = invert_lower_on(simd, &l, d);
                    let (lw, abs) = product(&l, &w, d);
                    let off =
                        |x: &[f64]| frobenius((0..d * d).map(|at| x[at] - if at % (d + 1) == 0 { 1.0 } else { 0.0 }));
                    let bound = n * eps * frobenius(abs.iter().copied());
                    assert!(
                        off(&lw) <= bound,
                        "L·W − I, {:?}, d = {d}, family {family}: {:e} > {bound:e}",
                        simd.isa(),
                        off(&lw)
                    );
                    if family == 0 {
                        // The other side has no such bound: `W·L − I` is about κ(L) times `L·W − I`
                        // (at κ(a) = 10⁸ it fails it). Well-conditioned, it holds.
                        let (wl, abs) = product(&w, &l, d);
                        let bound = n * eps * frobenius(abs.iter().copied());
                        assert!(off(&wl) <= bound, "W·L − I, {:?}, d = {d}: {:e} > {bound:e}", simd.isa(), off(&wl));
                        // And within κ·d·ε of the plain loop's factor.
                        let plain = cholesky_dot(a, d, false).unwrap();
                        let apart = frobenius(l.iter().zip(&plain).map(|(x, y)| x - y));
                        let bound = 3.0 * n * eps * frobenius(plain.iter().copied());
                        assert!(
                            apart <= bound,
                            "L against the plain loop, {:?}, d = {d}: {apart:e} > {bound:e}",
                            simd.isa()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn cholesky_refuses_what_the_plain_loop_refuses_on_every_path() {
        let sizes: &[usize] = if cfg!(miri) { &[2, 3] } else { &[2, 3, 9, 17, 70, 130] };
        for simd in Simd::each() {
            let (mut rng, fused) = (StdRng::seed_from_u64(7), fused(simd));
            for &d in sizes {
                let a = spd(&mut rng, d);
                let both_refuse = |a: &[f64], what: &str| {
                    assert!(cholesky_on(simd, a, d).is_none(), "{what}, {:?}, d = {d}", simd.isa());
                    assert!(cholesky_dot(a, d, fused).is_none(), "the plain loop: {what}, d = {d}");
                };
                let changed = |at: usize, v: f64| {
                    let mut a = a.clone();
                    a[at] = v;
                    a
                };
                // Entries in the last panel and strip, then in the middle.
                let (last, mid) = (d - 1, d / 2);
                both_refuse(&changed(last * d + last, -1e3 * d as f64), "a negative last pivot");
                both_refuse(&changed(mid * d + mid, -1e3 * d as f64), "a negative middle pivot");
                both_refuse(&changed(last * d + last, f64::NAN), "a NaN pivot");
                both_refuse(&changed(last * d + last, f64::INFINITY), "an infinite pivot");
                both_refuse(&changed(last * d + mid.min(last - 1), f64::NAN), "a NaN below the diagonal");
                both_refuse(
                    &changed(last * d + mid.min(last - 1), f64::INFINITY),
                    "an infinite value below the diagonal",
                );
                both_refuse(&a[1..], "one value short");
                both_refuse(&[a.as_slice(), &[1.0]].concat(), "one value over");
                // Semidefinite, exactly: `v·vᵀ` with `v₀ = 1` makes the second pivot 0.
                let v: Vec<f64> = (0..d).map(|i| 1.0 + i as f64).collect();
                both_refuse(&(0..d * d).map(|at| v[at / d] * v[at % d]).collect::<Vec<_>>(), "a singular matrix");
                // Only the lower triangle is read: garbage above it changes nothing.
                let upper = changed(d - 1, f64::NAN);
                let l = cholesky_on(simd, &upper, d).expect("the lower triangle is positive definite");
                assert_eq!(bits(&l), bits(&cholesky_dot(&a, d, fused).unwrap()), "{:?}, d = {d}", simd.isa());
            }
            assert!(cholesky_on(simd, &[], usize::MAX).is_none() && cholesky_dot(&[], usize::MAX, fused).is_none());
            assert_eq!(cholesky_on(simd, &[], 0), Some(vec![]));
            assert_eq!(cholesky_on(simd, &[4.0], 1), Some(vec![2.0]));
        }
    }

    #[test]
    fn inverse_is_the_product_of_the_inverted_factors() {
        let mut rng = StdRng::seed_from_u64(24);
        let sizes: &[usize] = if cfg!(miri) { &[0, 1, 2, 5] } else { &[0, 1, 2, 5, 17, 33, 64, 97] };
        for &d in sizes {
            let a = spd(&mut rng, d);
            let (inv, log_det) = inverse_and_log_det(&a, d).unwrap();
            let l = cholesky(&a, d).unwrap();
            let w = invert_lower(&l, d);
            assert_eq!(bits(&inv), bits(&inverse_dot(&w, d)), "inverse, d = {d}");
            let want: f64 = (0..d).map(|i| 2.0 * l[i * d + i].ln()).sum();
            assert!((log_det - want).abs() <= 1e-12 * want.abs().max(1.0), "log det, d = {d}");
            // a·a⁻¹ = I, for a matrix with κ < 3.
            let (ainv, _) = product(&a, &inv, d);
            let worst =
                (0..d * d).map(|at| (ainv[at] - if at % (d + 1) == 0 { 1.0 } else { 0.0 }).abs()).fold(0.0, f64::max);
            assert!(worst <= 1e-13, "a·a⁻¹ − I, d = {d}: {worst:e}");
        }
    }
}
