//! SVG plots of the report, with plotters' SVG backend.

use std::path::Path;

use plotters::prelude::*;

/// One bar of a speedup chart.
pub struct Bar {
    /// What the bar measures, e.g. `summarize · SIMD, one thread · 1t`.
    pub label: String,
    /// The speedup over the experiment's baseline (×).
    pub speedup: f64,
    /// Whether the variant's correctness check passed (a red bar if not).
    pub ok: bool,
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot draw {}: {e}", path.display())
}

/// Draws an SVG document of `size` in memory with `draw`, then writes it
/// with [`write_atomic`](crate::io::write_atomic), so a plot is never left half-written.
fn svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), String> {
    let mut text = String::new();
    draw(SVGBackend::with_string(&mut text, size).into_drawing_area())?;
    crate::io::write_atomic(path, text.as_bytes())
}

/// Horizontal bars: each variant's speedup over its experiment's baseline
/// (log scale). Bars whose speedup is not a positive number are left out.
pub fn speedup_bars(path: &Path, title: &str, bars: &[Bar]) -> Result<(), String> {
    let rows: Vec<&Bar> = bars.iter().filter(|b| b.speedup.is_finite() && b.speedup > 0.0).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let height = 80 + 22 * rows.len() as u32;
    svg(path, (1100, height), |root| {
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let speedups: Vec<f64> = rows.iter().map(|r| r.speedup).collect();
        let lo = speedups.iter().copied().fold(1.0, f64::min) / 2.0;
        let hi = speedups.iter().copied().fold(1.0, f64::max) * 2.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{title}: speedup over the baseline (log scale)"), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(420)
            .build_cartesian_2d((lo..hi).log_scale(), (0..rows.len()).into_segmented())
            .map_err(|e| err(path, e))?;
        chart
            .configure_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => rows.get(*i).map(|r| r.label.clone()).unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("speedup (×)")
            .draw()
            .map_err(|e| err(path, e))?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let color = if r.ok { BLUE.mix(0.6) } else { RED.mix(0.6) };
                Rectangle::new([(lo, SegmentValue::Exact(i)), (r.speedup, SegmentValue::Exact(i + 1))], color.filled())
            }))
            .map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))
    })
}

/// The fitted clusters as the notebook drew them (colours 'cmgr'), with the means.
pub fn clusters(path: &Path, title: &str, points: &[(f64, f64, usize)], means: &[f64]) -> Result<(), String> {
    svg(path, (900, 700), |root| {
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y, _) in points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if !(x0.is_finite() && y0.is_finite()) {
            return Ok(());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(x0 - 0.5..x1 + 0.5, y0 - 0.5..y1 + 0.5)
            .map_err(|e| err(path, e))?;
        chart.configure_mesh().draw().map_err(|e| err(path, e))?;
        let palette = [CYAN, MAGENTA, GREEN, RED, BLUE, YELLOW, BLACK];
        chart
            .draw_series(
                points.iter().map(|&(x, y, c)| Circle::new((x, y), 1, palette[c % palette.len()].mix(0.5).filled())),
            )
            .map_err(|e| err(path, e))?;
        chart
            .draw_series(means.chunks_exact(2).map(|m| Cross::new((m[0], m[1]), 6, BLACK.stroke_width(2))))
            .map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))
    })
}

/// The EM lower bound (mean log-likelihood) per iteration.
pub fn lower_bound(path: &Path, title: &str, values: &[f64]) -> Result<(), String> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return Ok(());
    }
    svg(path, (800, 500), |root| {
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.05).max(1e-9);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(1..values.len().max(2), lo - pad..hi + pad)
            .map_err(|e| err(path, e))?;
        chart.configure_mesh().x_desc("iteration").y_desc("mean log-likelihood").draw().map_err(|e| err(path, e))?;
        chart
            .draw_series(LineSeries::new(values.iter().enumerate().map(|(i, &v)| (i + 1, v)), BLUE.stroke_width(2)))
            .map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))
    })
}
