//! The kernel's promises between its own forms, on every SIMD path this CPU
//! runs: fixed and blocked loops, per-`k` and any-`k` softmax, summed and
//! in-lane moments, the tile's scratch, the transposes.

use std::ops::Range;

use super::dims::{Dim, Dynamic, with_dim};
use super::moments::{Sums, sums_q};
use super::panel;
use super::pass::block_stats;
use super::softmax::{mask_padding, responsibilities, softmax_any, tile_softmax};
use super::tile::{Tile, TileLanes, transpose_rows};
use super::*;
use crate::simd::{Kernel, Lanes, Simd};

/// Runs the kernel `make()` gives once on every path this CPU runs.
fn on_every_path<K: Kernel<Output = ()>>(make: impl Fn() -> K) {
    for simd in Simd::each() {
        simd.run(make());
    }
}

/// The path a kernel runs on, for messages.
fn path<V: Lanes>() -> &'static str {
    core::any::type_name::<V>()
}

fn bits(s: &PassStats) -> Vec<u64> {
    s.n.iter().chain(&s.s).chain(&s.q).chain([&s.loglik]).map(|v| v.to_bits()).collect()
}

/// [`block_stats`] of `rows` with log-densities and their softmax.
fn densities_stats<V: Lanes, D: Dim>(
    dim: D,
    g: &Gaussians,
    moments: Moments,
    summed: bool,
    x: &[f64],
    rows: Range<usize>,
) -> PassStats {
    block_stats::<V, D>(dim, g, moments, summed, x, rows, Weights::Densities)
}

/// The fixed-`d` loops and the blocked loops promise the same bits.
#[test]
fn fixed_and_blocked_paths_agree_to_the_bit() {
    struct Check;
    impl Kernel for Check {
        type Output = ();
        #[inline(always)]
        fn run<V: Lanes>(self) {
            let (k, n) = (3, if cfg!(miri) { 45 } else { 2 * TILE + 45 });
            for d in 1..=4 {
                let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
                let means: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.7).sin()).collect();
                for factor in [Factor::Triangular, Factor::Diagonal] {
                    let per = if factor == Factor::Triangular { d * d } else { d };
                    let factors: Vec<f64> = (0..k * per)
                        .map(|i| {
                            let (r, c) = ((i % per) / d, (i % per) % d);
                            if factor == Factor::Diagonal || r == c { 1.0 + 0.1 * (i % 5) as f64 } else { 0.2 }
                        })
                        .collect();
                    let g = Gaussians::new(d, factor, means.clone(), factors, &[-1.0, -1.2, -0.9]).unwrap();
                    for moments in [Moments::Full, Moments::Diagonal] {
                        let fixed = with_dim!(d, |dim| densities_stats::<V, _>(dim, &g, moments, false, &x, 0..n));
                        let blocked = densities_stats::<V, _>(Dynamic(d), &g, moments, false, &x, 0..n);
                        assert_eq!(bits(&fixed), bits(&blocked), "{} d={d} {factor:?} {moments:?}", path::<V>());
                    }
                }
            }
        }
    }
    on_every_path(|| Check);
}

/// The blocked path's scratch is allocated only where it is used, and
/// `tile_values` counts exactly what a tile then holds.
#[test]
fn a_tile_holds_what_tile_values_counts() {
    struct Check;
    impl Kernel for Check {
        type Output = ();
        #[inline(always)]
        fn run<V: Lanes>(self) {
            let k = 3;
            for d in [2, 6, 50] {
                let rows = if cfg!(miri) { 13 } else { TILE };
                let x: Vec<f64> = (0..rows * d).map(|i| ((i * 31) % 17) as f64 * 0.25 - 2.0).collect();
                // Per component, diagonal, and one factor for all (tied).
                for (factor, shared) in
                    [(Factor::Triangular, false), (Factor::Diagonal, false), (Factor::Triangular, true)]
                {
                    let triangular = factor == Factor::Triangular;
                    let per = if triangular { d * d } else { d };
                    let mats = if shared { 1 } else { k };
                    let factors = (0..mats * per)
                        .map(|i| if !triangular || (i % per) % (d + 1) == 0 { 1.5 } else { 0.1 })
                        .collect();
                    let means = (0..k * d).map(|i| (i as f64 * 0.37).cos()).collect();
                    let g = if shared {
                        Gaussians::tied(d, means, factors, &vec![-0.5; k]).unwrap()
                    } else {
                        Gaussians::new(d, factor, means, factors, &vec![-0.5; k]).unwrap()
                    };
                    for moments in [Moments::Means, Moments::Diagonal, Moments::Full] {
                        let full = moments == Moments::Full;
                        let mut tile = Tile::<V>::new(k, d);
                        let mut sums = Sums::<V>::new(k, d, moments, false);
                        // As a pass runs it: fixed loops for d ≤ 4, blocked ones above.
                        with_dim!(d, |dim| {
                            tile.load(dim, &x, 0..rows);
                            tile.densities(dim, &g);
                            responsibilities(k, &mut tile, &mut sums);
                            for c in 0..k {
                                dim.stats(&g, moments, c, &mut tile, &x, sums.component(c), false);
                            }
                        });
                        let scratch = |v: &Vec<V>| v.len() / V::G;
                        let what = format!("{} {factor:?} shared={shared} {moments:?} d={d}", path::<V>());
                        let blocked = d > 4;
                        // The panel's packed rows are `stride(d)` long.
                        let rows = if panel::applies(d, moments) { panel::stride(d) } else { d };
                        assert_eq!(scratch(&tile.dt), if blocked && (triangular || full) { rows } else { 0 }, "{what}");
                        assert_eq!(scratch(&tile.rt), if blocked && full { rows } else { 0 }, "{what}");
                        // The tied densities' sums: `k` vectors per row.
                        let one_product = shared && d >= panel::PANEL_FROM;
                        assert_eq!(tile.sq.len(), if one_product { k * TILE } else { 0 }, "{what}");
                        let held = [&tile.xt, &tile.lt, &tile.top, &tile.sum, &tile.inv, &tile.dt, &tile.rt, &tile.sq]
                            .map(|v| v.len())
                            .iter()
                            .sum::<usize>();
                        let tied = shared.then_some(V::LANES);
                        assert_eq!(Some(held * V::LANES), tile_values(k, d, triangular, full, tied), "{what}");
                    }
                }
            }
        }
    }
    on_every_path(|| Check);
}

/// One factor for all components ([`Gaussians::tied`]) gives the
/// densities of that factor given once per component, to rounding (from
/// `PANEL_FROM` on, by one product per row and an offset per component),
/// at dimensions on and off the factor's 24-wide blocks, in full and
/// partial tiles; and one component at a time gives the bits of all at
/// once (the model-parallel densities).
#[test]
fn tied_densities_agree_with_the_factor_given_per_component() {
    struct Check;
    impl Kernel for Check {
        type Output = ();
        #[inline(always)]
        fn run<V: Lanes>(self) {
            let k = 3;
            let dims: &[usize] = if cfg!(miri) { &[48] } else { &[5, 47, 48, 61, 96, 100] };
            for &d in dims {
                let n = if cfg!(miri) { 11 } else { TILE + 37 };
                let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
                // Means apart from one another and from their mean.
                let means: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.7).sin() + 3.0 * (i / d) as f64).collect();
                let w: Vec<f64> = (0..d * d)
                    .map(|i| match (i / d, i % d) {
                        (r, c) if r == c => 1.0 + 0.1 * (r % 5) as f64,
                        (r, c) if c < r => 0.3 * ((r * 7 + c * 3) % 11) as f64 / 11.0 - 0.15,
                        _ => 0.0,
                    })
                    .collect();
                let lw = [-1.0, -1.2, -0.9];
                let tied = Gaussians::tied(d, means.clone(), w.clone(), &lw).unwrap();
                let each = Gaussians::new(d, Factor::Triangular, means, w.repeat(k), &lw).unwrap();
                assert_eq!(tied.factors().len(), d * d, "one factor is held");
                let what = format!("{} d={d}", path::<V>());
                with_dim!(d, |dim| {
                    let mut walk = super::tile::Tiles::<V, _>::new(dim, k, &x, 0..n);
                    while let Some(r) = walk.next() {
                        let tile = walk.tile();
                        tile.densities(dim, &each);
                        let want = tile.lt_values()[..k * TILE].to_vec();
                        tile.densities(dim, &tied);
                        let got = tile.lt_values()[..k * TILE].to_vec();
                        for c in 0..k {
                            let mut one = vec![V::zero(); V::G];
                            dim.log_density(&tied, c, tile, &mut one);
                            let one: &[f64] = bytemuck::cast_slice(&one);
                            for i in 0..r.len() {
                                let (a, b) = (got[c * TILE + i], want[c * TILE + i]);
                                assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{what} c={c}: {a} against {b}");
                                assert_eq!(one[i].to_bits(), a.to_bits(), "{what} c={c}, row {i}: alone");
                            }
                        }
                    }
                });
            }
        }
    }
    on_every_path(|| Check);
}

/// Where a block sums `q` across lanes ([`sums_q`]), its `q` is each
/// tile's lane sums added in order, and its other sums keep the bits of
/// the sums in lanes.
#[test]
fn summed_moments_are_the_tiles_lane_sums_added_in_order() {
    for lanes in [4, 8] {
        assert!(sums_q(30, 47, Moments::Full, lanes) && !sums_q(3, 6, Moments::Full, lanes));
        // From `PANEL_FROM`, moments are never in lanes.
        assert!(!sums_q(2, 182, Moments::Full, lanes) && !sums_q(30, panel::PANEL_FROM, Moments::Full, lanes));
        assert!(!sums_q(1000, 4, Moments::Full, lanes) && !sums_q(1000, 100, Moments::Diagonal, lanes));
    }
    struct Check;
    impl Kernel for Check {
        type Output = ();
        #[inline(always)]
        fn run<V: Lanes>(self) {
            // d = 6: 21 moments per component, so the last vector is part full.
            let (k, d) = (3, 6);
            let n = if cfg!(miri) { TILE + 9 } else { 3 * TILE + 45 };
            let x: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
            let means: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.7).sin()).collect();
            let factors: Vec<f64> = (0..k * d * d)
                .map(|i| if (i % (d * d)) % (d + 1) == 0 { 1.0 + 0.1 * (i % 5) as f64 } else { 0.2 })
                .collect();
            let g = Gaussians::new(d, Factor::Triangular, means, factors, &[-1.0, -1.2, -0.9]).unwrap();
            let run = |rows: Range<usize>, summed: bool| {
                densities_stats::<V, _>(Dynamic(d), &g, Moments::Full, summed, &x, rows)
            };
            let b = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let (lanes, summed) = (run(0..n, false), run(0..n, true));
            let what = path::<V>();
            assert_eq!(b(&summed.n), b(&lanes.n), "{what}");
            assert_eq!(b(&summed.s), b(&lanes.s), "{what}");
            assert_eq!(summed.loglik.to_bits(), lanes.loglik.to_bits(), "{what}");
            let mut want = vec![0.0; summed.q.len()];
            for start in (0..n).step_by(TILE) {
                // One tile in lanes: its sums from 0, added across lanes.
                let tile = run(start..n.min(start + TILE), false);
                for (w, t) in want.iter_mut().zip(&tile.q) {
                    *w += t;
                }
            }
            assert_eq!(b(&summed.q), b(&want), "{what}");
            for (a, b) in summed.q.iter().zip(&lanes.q) {
                assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{what}: {a} against {b} in lanes");
            }
        }
    }
    on_every_path(|| Check);
}

/// A tile whose first `rows` rows hold `k` log-densities each, spread
/// widely (so some exps underflow), with a NaN in row 5 if `nan`.
fn tile_of<V: Lanes>(k: usize, rows: usize, nan: bool) -> Tile<V> {
    let mut tile = Tile::new(k, 1);
    tile.rows = rows;
    let lt: &mut [f64] = bytemuck::cast_slice_mut(&mut tile.lt);
    for (i, v) in lt.iter_mut().enumerate() {
        *v = -(((i * 7919) % 1013) as f64) * 0.9 + 3.0;
    }
    if nan {
        lt[TILE + 5] = f64::NAN;
    }
    tile
}

/// The per-`k` softmax and the any-`k` one promise the same bits, and a
/// NaN stays in its own row.
#[test]
fn softmax_for_each_fixed_k_agrees_with_any_k_to_the_bit() {
    struct Check;
    impl Kernel for Check {
        type Output = ();
        #[inline(always)]
        fn run<V: Lanes>(self) {
            let bits = |v: &[V]| bytemuck::cast_slice::<V, u64>(v).to_vec();
            for k in 1..=8 {
                let sizes: &[usize] = if cfg!(miri) { &[61, 1] } else { &[TILE, 61, 8, 1] };
                for &rows in sizes {
                    let (nan, what) = (k > 1 && rows > 5, format!("{} k={k} rows={rows}", path::<V>()));
                    let mut fixed = tile_of::<V>(k, rows, nan);
                    let mut any = tile_of::<V>(k, rows, nan);
                    tile_softmax(k, &mut fixed);
                    softmax_any(k, &mut any);
                    // tile_softmax also masks the padding lanes; do the same here.
                    mask_padding(&mut any);
                    let groups = any.groups();
                    assert_eq!(bits(&fixed.lt[..k * V::G]), bits(&any.lt[..k * V::G]), "{what}");
                    for (a, b) in [(&fixed.top, &any.top), (&fixed.sum, &any.sum), (&fixed.inv, &any.inv)] {
                        assert_eq!(bits(&a[..groups]), bits(&b[..groups]), "{what}");
                    }
                    let sum: &[f64] = bytemuck::cast_slice(&fixed.sum);
                    for (i, s) in sum[..rows].iter().enumerate() {
                        assert_eq!(s.is_nan(), nan && i == 5, "row {i}, {what}");
                        assert!(s.is_nan() || (1.0..=k as f64).contains(s), "s = {s}, {what}");
                    }
                    let inv: &[f64] = bytemuck::cast_slice(&fixed.inv);
                    assert!(
                        inv[rows..groups * V::LANES].iter().all(|&v| v == 0.0),
                        "padding lanes get 1/s = 0, {what}"
                    );
                }
            }
        }
    }
    on_every_path(|| Check);
}

/// A thread's reused scratch carries nothing from one pass to the next:
/// passes of other shapes and on other paths in between leave the result's
/// bits alone.
#[test]
fn reused_scratch_does_not_change_a_pass() {
    let n = if cfg!(miri) { 21 } else { 3 * TILE + 5 };
    let g = |k: usize, d: usize| {
        let means: Vec<f64> = (0..k * d).map(|i| (i as f64 * 0.37).cos()).collect();
        Gaussians::new(d, Factor::Diagonal, means, vec![1.3; k * d], &vec![-0.5; k]).unwrap()
    };
    let x = |d: usize| (0..n * d).map(|i| ((i * 31) % 17) as f64 * 0.25 - 2.0).collect::<Vec<f64>>();
    let run = |simd: Simd, k: usize, d: usize| {
        bits(&pass(&crate::Sequential, simd, &g(k, d), Moments::Full, Parallelism::Data, &x(d)))
    };
    for simd in Simd::each() {
        let first = run(simd, 3, 2);
        for other in Simd::each() {
            for (k, d) in [(5, 2), (3, 7), (1, 2), (3, 3)] {
                run(other, k, d);
            }
        }
        assert_eq!(run(simd, 3, 2), first, "{:?}", simd.isa());
    }
}

/// The blocked transpose moves the same values as the row-by-row one,
/// for `d` below, at and past multiples of the lane count, in full and
/// partial tiles.
#[test]
fn dynamic_transpose_matches_the_row_by_row_one() {
    struct Check;
    impl Kernel for Check {
        type Output = ();
        #[inline(always)]
        fn run<V: Lanes>(self) {
            let l = V::LANES;
            let dims: Vec<usize> = if cfg!(miri) { vec![l + 1] } else { vec![3, l, l + 1, 2 * l, 2 * l + 3, 17] };
            for d in dims {
                for rows in [TILE, TILE - 3, l + 1, 1] {
                    let src: Vec<f64> = (0..rows * d).map(|i| i as f64 + 0.5).collect();
                    let mut want = vec![V::splat(-1.0); d * V::G];
                    transpose_rows(d, &src, &mut want, 0);
                    let mut got = vec![V::splat(-1.0); d * V::G];
                    Dynamic(d).transpose(&src, &mut got);
                    let (got, want): (&[f64], &[f64]) = (bytemuck::cast_slice(&got), bytemuck::cast_slice(&want));
                    assert_eq!(got, want, "{} d={d}, {rows} rows", path::<V>());
                }
            }
        }
    }
    on_every_path(|| Check);
}
