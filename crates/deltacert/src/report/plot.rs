//! Figures (plotters; SVG or PNG by file extension). Text is drawn with the
//! bundled DejaVu Sans (assets/, free licence), so no system fonts are needed.
//!
//! - 1-D input: `|f(x) - g(x)|` over the interval, the certified bound as a
//!   line, the witness marked (the seed paper's figure);
//! - 2-D input: a heat map of the error, the bound in the title;
//! - more inputs: a histogram of sampled errors with the lower and certified
//!   bound marked, and (several outputs) per-output bars of the bounds.

use crate::error::{invalid_option, Error, ErrorKind, Result};
use crate::input_set::InputSet;
use crate::network::Network;
use plotters::prelude::*;
use plotters::style::FontStyle;
use rand::SeedableRng;
use std::path::Path;

/// What a bound figure shows besides the networks.
#[derive(Debug, Clone)]
pub struct BoundFigure {
    /// The certified bound (None: no certificate).
    pub certified: Option<f64>,
    /// The largest observed error.
    pub lower: f64,
    /// Where it was observed.
    pub witness: Vec<f64>,
    /// Per-output certified bounds (linf).
    pub per_output_certified: Vec<Option<f64>>,
    /// Per-output observed errors (linf).
    pub per_output_lower: Vec<f64>,
    /// `true` for the L2 norm, `false` for L-infinity.
    pub l2: bool,
    /// Extra text for the title (mode, method).
    pub note: String,
}

/// Registers the bundled font once.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

fn draw_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("cannot draw the figure: {e}"))
}

/// Draws with an SVG or PNG backend chosen by the extension of `path`.
macro_rules! with_area {
    ($path:expr, $size:expr, |$area:ident| $body:block) => {{
        register_font();
        let ext = $path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("svg") => {
                let $area = SVGBackend::new($path, $size).into_drawing_area();
                $body;
                $area.present().map_err(draw_error)?;
            }
            Some("png") => {
                let $area = BitMapBackend::new($path, $size).into_drawing_area();
                $body;
                $area.present().map_err(draw_error)?;
            }
            _ => return Err(invalid_option(format!("{}: plots are written as .svg or .png", $path.display()))),
        }
        Ok(())
    }};
}

fn norm_label(l2: bool, arg: &str) -> String {
    if l2 { format!("||f({arg}) - g({arg})||_2") } else { format!("max_j |f_j({arg}) - g_j({arg})|") }
}

fn error_at(f: &Network, g: &Network, x: &[f64], l2: bool) -> f64 {
    let d: Vec<f64> = f.eval(x).iter().zip(g.eval(x)).map(|(a, b)| a - b).collect();
    if l2 { d.iter().map(|v| v * v).sum::<f64>().sqrt() } else { d.iter().fold(0.0, |m, v| m.max(v.abs())) }
}

/// Significant digits after the first in a figure's numbers.
const FIGURE_DECIMALS: usize = 3;

/// A certified bound as a figure prints it: rounded up (never below the bound).
fn upper_label(bound: f64) -> String {
    super::above(bound, FIGURE_DECIMALS)
}

/// An observed error as a figure prints it: rounded down (never above it).
fn lower_label(error: f64) -> String {
    super::below(error, FIGURE_DECIMALS)
}

/// Refuses axes plotters cannot draw: an end that is not finite, or so far
/// out that the axis' own arithmetic overflows (its tick search then never
/// ends), instead of hanging with the result already printed.
fn drawable(what: &str, ends: &[f64]) -> Result<()> {
    match ends.iter().find(|v| !v.is_finite() || v.abs() > AXIS_LIMIT) {
        Some(v) => Err(Error::new(ErrorKind::Io, format!("cannot draw the figure: its {what} reaches {v:e} (axes end within 1e300)"))),
        None => Ok(()),
    }
}

/// The largest magnitude an axis end may have.
const AXIS_LIMIT: f64 = 1e300;

fn title(figure: &BoundFigure) -> String {
    let bound = figure.certified.map_or("no certificate".to_string(), |b| format!("certified <= {}", upper_label(b)));
    format!("{bound}, observed {} {}", lower_label(figure.lower), figure.note)
}

/// Draws the figure for a bound of `f` vs `g` over `set` (raw units) to `path`.
pub fn plot_bound(path: &Path, f: &Network, g: &Network, set: &InputSet, figure: &BoundFigure) -> Result<()> {
    match set.dim() {
        1 => plot_1d(path, f, g, set, figure),
        2 => plot_2d(path, f, g, set, figure),
        _ => plot_histogram(path, f, g, set, figure),
    }
}

fn plot_1d(path: &Path, f: &Network, g: &Network, set: &InputSet, figure: &BoundFigure) -> Result<()> {
    let (lo, hi) = (set.lower()[0], set.upper()[0]);
    let points: Vec<(f64, f64)> = (0..=1000).map(|i| lo + (hi - lo) * i as f64 / 1000.0).map(|x| (x, error_at(f, g, &[x], figure.l2))).collect();
    let top = points.iter().map(|p| p.1).fold(figure.lower, f64::max).max(figure.certified.unwrap_or(0.0)) * 1.1 + 1e-12;
    let span = if hi > lo { lo..hi } else { lo - 0.5..hi + 0.5 };
    drawable("input axis", &[span.start, span.end, hi - lo])?;
    drawable("error axis", &[top])?;
    with_area!(path, (900, 560), |area| {
        area.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&area)
            .caption(title(figure), ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(span, 0.0..top)
            .map_err(draw_error)?;
        chart.configure_mesh().x_desc("input x").y_desc(norm_label(figure.l2, "x")).axis_desc_style(("sans-serif", 16)).draw().map_err(draw_error)?;
        chart
            .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
            .map_err(draw_error)?
            .label("error |f(x) - g(x)| (same input)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        if let Some(b) = figure.certified {
            chart
                .draw_series(LineSeries::new(vec![(lo, b), (hi, b)], RED.stroke_width(2)))
                .map_err(draw_error)?
                .label(format!("certified bound {}", upper_label(b)))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        }
        if let Some(&w) = figure.witness.first() {
            chart
                .draw_series(std::iter::once(Circle::new((w, figure.lower), 6, BLACK.filled())))
                .map_err(draw_error)?
                .label(format!("witness x = {w:.4}, error {}", lower_label(figure.lower)))
                .legend(|(x, y)| Circle::new((x + 10, y), 5, BLACK.filled()));
        }
        chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(("sans-serif", 14)).draw().map_err(draw_error)?;
    })
}

/// A dark-blue → yellow colour ramp for `t in [0, 1]`.
fn ramp(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t) as u8;
    RGBColor(lerp(30.0, 250.0), lerp(20.0, 230.0), lerp(110.0, 30.0))
}

fn plot_2d(path: &Path, f: &Network, g: &Network, set: &InputSet, figure: &BoundFigure) -> Result<()> {
    let n = 80;
    let (x0, x1, y0, y1) = (set.lower()[0], set.upper()[0], set.lower()[1], set.upper()[1]);
    let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
    let mut cells = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let (x, y) = (x0 + (i as f64 + 0.5) * dx, y0 + (j as f64 + 0.5) * dy);
            let mut point = vec![x, y];
            set.project(&mut point);
            cells.push((x, y, error_at(f, g, &point, figure.l2)));
        }
    }
    let top = cells.iter().map(|c| c.2).fold(1e-300, f64::max);
    drawable("input axes", &[x0, x1, y0, y1, x1 - x0, y1 - y0])?;
    drawable("error scale", &[top])?;
    with_area!(path, (820, 720), |area| {
        area.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&area)
            .caption(title(figure), ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1.max(x0 + 1e-12), y0..y1.max(y0 + 1e-12))
            .map_err(draw_error)?;
        chart.configure_mesh().disable_mesh().x_desc("input x_1").y_desc("input x_2").axis_desc_style(("sans-serif", 16)).draw().map_err(draw_error)?;
        chart
            .draw_series(cells.iter().map(|&(x, y, e)| Rectangle::new([(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)], ramp(e / top).filled())))
            .map_err(draw_error)?
            .label(format!("error {} : dark 0 .. yellow {}", norm_label(figure.l2, "x"), lower_label(top)))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], ramp(1.0).filled()));
        if figure.witness.len() == 2 {
            chart
                .draw_series(std::iter::once(Cross::new((figure.witness[0], figure.witness[1]), 8, RED.stroke_width(3))))
                .map_err(draw_error)?
                .label(format!("witness, error {}", lower_label(figure.lower)))
                .legend(|(x, y)| Cross::new((x + 10, y), 6, RED.stroke_width(3)));
        }
        chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(("sans-serif", 14)).draw().map_err(draw_error)?;
    })
}

fn plot_histogram(path: &Path, f: &Network, g: &Network, set: &InputSet, figure: &BoundFigure) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let errors: Vec<f64> = (0..4000).map(|_| set.sample(&mut rng)).filter(|x| set.contains(x, 0.0)).map(|x| error_at(f, g, &x, figure.l2)).collect();
    let right = errors.iter().copied().fold(figure.lower, f64::max).max(figure.certified.unwrap_or(0.0)) * 1.05 + 1e-12;
    drawable("error axis", &[right])?;
    // fine bins: in many dimensions sampled errors concentrate in a narrow band
    let bins = 160;
    let mut counts = vec![0usize; bins];
    for e in &errors {
        counts[((e / right * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let highest = *counts.iter().max().unwrap_or(&1) as f64 * 1.15 + 1.0;
    let bars = figure.per_output_certified.len() > 1;
    with_area!(path, (if bars { 1300 } else { 900 }, 560), |area| {
        area.fill(&WHITE).map_err(draw_error)?;
        let (left_area, right_area) = if bars { area.split_horizontally(800) } else { (area.clone(), area.clone()) };
        let mut chart = ChartBuilder::on(&left_area)
            .caption(title(figure), ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..right, 0.0..highest)
            .map_err(draw_error)?;
        chart.configure_mesh().x_desc(format!("sampled error {}", norm_label(figure.l2, "x"))).y_desc("samples").y_label_formatter(&|v| format!("{}", v.round() as i64)).axis_desc_style(("sans-serif", 16)).draw().map_err(draw_error)?;
        let width = right / bins as f64;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| Rectangle::new([(i as f64 * width, 0.0), ((i + 1) as f64 * width, c as f64)], BLUE.mix(0.6).filled())))
            .map_err(draw_error)?
            .label(format!("{} uniform samples", errors.len()))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], BLUE.mix(0.6).filled()));
        chart
            .draw_series(LineSeries::new(vec![(figure.lower, 0.0), (figure.lower, highest)], BLACK.stroke_width(2)))
            .map_err(draw_error)?
            .label(format!("lower bound (witness) {}", lower_label(figure.lower)))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        if let Some(b) = figure.certified {
            chart
                .draw_series(LineSeries::new(vec![(b, 0.0), (b, highest)], RED.stroke_width(2)))
                .map_err(draw_error)?
                .label(format!("certified bound {}", upper_label(b)))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        }
        chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(("sans-serif", 14)).draw().map_err(draw_error)?;
        if bars {
            let outputs = figure.per_output_certified.len();
            let top = figure.per_output_certified.iter().flatten().copied().chain(figure.per_output_lower.iter().copied()).fold(1e-12, f64::max) * 1.15;
            drawable("per-output axis", &[top])?;
            let mut bar_chart = ChartBuilder::on(&right_area)
                .caption("per output |f_j - g_j|", ("sans-serif", 18))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d(-0.5..outputs as f64 - 0.5, 0.0..top)
                .map_err(draw_error)?;
            bar_chart.configure_mesh().disable_x_mesh().x_desc("output j").x_labels(outputs.min(20)).x_label_formatter(&|v| format!("{}", v.round() as i64)).axis_desc_style(("sans-serif", 16)).draw().map_err(draw_error)?;
            bar_chart
                .draw_series(figure.per_output_certified.iter().enumerate().filter_map(|(j, b)| b.map(|b| Rectangle::new([(j as f64 - 0.4, 0.0), (j as f64, b)], RED.mix(0.7).filled()))))
                .map_err(draw_error)?
                .label("certified")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], RED.mix(0.7).filled()));
            bar_chart
                .draw_series(figure.per_output_lower.iter().enumerate().map(|(j, &l)| Rectangle::new([(j as f64, 0.0), (j as f64 + 0.4, l)], BLUE.mix(0.7).filled())))
                .map_err(draw_error)?
                .label("observed")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], BLUE.mix(0.7).filled()));
            bar_chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(("sans-serif", 14)).draw().map_err(draw_error)?;
        }
    })
}

/// One row of a planner figure: the setting's value and its bounds.
#[derive(Debug, Clone)]
pub struct PlanPoint {
    /// The setting (bits, or pruned fraction).
    pub setting: f64,
    /// Certified bound (None: no certificate).
    pub certified: Option<f64>,
    /// Observed error.
    pub lower: f64,
}

/// Certified and observed error against the compression setting, with the tolerance.
pub fn plot_plan(path: &Path, points: &[PlanPoint], setting_label: &str, tolerance: f64, log_scale: bool) -> Result<()> {
    let xs: Vec<f64> = points.iter().map(|p| p.setting).collect();
    let (x0, x1) = (xs.iter().copied().fold(f64::INFINITY, f64::min), xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let values: Vec<f64> = points.iter().flat_map(|p| [p.lower, p.certified.unwrap_or(p.lower)]).chain([tolerance]).filter(|v| *v > 0.0 && v.is_finite()).collect();
    // all 0 (a tolerance of 0 met exactly): a unit scale around the zeros
    let (vmin, vmax) = match values.is_empty() {
        true => (1.0, 1.0),
        false => (values.iter().copied().fold(f64::INFINITY, f64::min), values.iter().copied().fold(0.0, f64::max)),
    };
    drawable("setting axis", &[x0, x1, x1 - x0])?;
    drawable("error axis", &[vmin, vmax * 2.0])?;
    let span = if x1 > x0 { x0 - 0.05 * (x1 - x0)..x1 + 0.05 * (x1 - x0) } else { x0 - 0.5..x0 + 0.5 };
    // the log axis' floor: half the smallest value, never 0 (5e-324 / 2 is)
    let floor = (vmin * 0.5).max(f64::MIN_POSITIVE);
    let transform = |v: f64| if log_scale { v.max(floor).log10() } else { v };
    let (ylo, yhi) = if log_scale { (floor.log10(), (vmax * 2.0).log10()) } else { (0.0, vmax * 1.15 + 1e-12) };
    drawable("error axis", &[ylo, yhi])?;
    with_area!(path, (900, 560), |area| {
        area.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&area)
            .caption(format!("certified error vs {setting_label} (tolerance {tolerance})"), ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(span.clone(), ylo..yhi)
            .map_err(draw_error)?;
        let y_desc = if log_scale { "error (log10)" } else { "error" };
        chart.configure_mesh().x_desc(setting_label).y_desc(y_desc).axis_desc_style(("sans-serif", 16)).draw().map_err(draw_error)?;
        let certified: Vec<(f64, f64)> = points.iter().filter_map(|p| p.certified.filter(|c| c.is_finite()).map(|c| (p.setting, transform(c)))).collect();
        chart
            .draw_series(LineSeries::new(certified.clone(), RED.stroke_width(2)))
            .map_err(draw_error)?
            .label("certified bound")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart.draw_series(certified.iter().map(|&p| Circle::new(p, 4, RED.filled()))).map_err(draw_error)?;
        let lower: Vec<(f64, f64)> = points.iter().filter(|p| p.lower.is_finite()).map(|p| (p.setting, transform(p.lower))).collect();
        chart
            .draw_series(LineSeries::new(lower.clone(), BLUE.stroke_width(2)))
            .map_err(draw_error)?
            .label("observed (lower bound)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart.draw_series(lower.iter().map(|&p| Circle::new(p, 4, BLUE.filled()))).map_err(draw_error)?;
        chart
            .draw_series(LineSeries::new(vec![(span.start, transform(tolerance)), (span.end, transform(tolerance))], BLACK.stroke_width(1)))
            .map_err(draw_error)?
            .label("tolerance")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1)));
        chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(("sans-serif", 14)).draw().map_err(draw_error)?;
    })
}
