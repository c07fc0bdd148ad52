//! Charts (plotters): cost over time stacked by agent or provider with budget lines, a
//! budget's burn forecast, a series' forecast with its interval bands and anomalies. SVG
//! for the UI (light or dark), PNG for reports.
//!
//! Text is laid out with the DejaVu Sans shipped in `assets/fonts` (registered once with
//! plotters' ab_glyph renderer), so a PNG is the same on every machine; an SVG names that
//! family first (the UI and reports ship the font too).
//!
//! A chart is data (`Chart`: layers on a time axis) built by the functions below from the
//! domains' types, then drawn by [`render`]; nothing here reads the store.

pub mod build;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorCode;

/// The font shipped with the app (DejaVu Sans, see assets/fonts/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");
/// The family charts use.
const FAMILY: &str = "DejaVu Sans";

/// Failures of a chart.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("{0}")]
    BadRequest(String),
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

impl ChartError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Draw(_) => ErrorCode::Internal,
        }
    }
}

/// The UI's theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Svg => "image/svg+xml",
            Self::Png => "image/png",
        }
    }
}

/// A chart's colours.
struct Palette {
    background: RGBColor,
    text: RGBColor,
    grid: RGBColor,
    series: [RGBColor; 8],
    band: RGBColor,
    alert: RGBColor,
}

fn palette(theme: Theme) -> Palette {
    match theme {
        Theme::Light => Palette {
            background: RGBColor(255, 255, 255),
            text: RGBColor(31, 41, 55),
            grid: RGBColor(229, 231, 235),
            series: [
                RGBColor(37, 99, 235),
                RGBColor(234, 88, 12),
                RGBColor(22, 163, 74),
                RGBColor(147, 51, 234),
                RGBColor(13, 148, 136),
                RGBColor(202, 138, 4),
                RGBColor(219, 39, 119),
                RGBColor(100, 116, 139),
            ],
            band: RGBColor(124, 58, 237),
            alert: RGBColor(220, 38, 38),
        },
        Theme::Dark => Palette {
            background: RGBColor(17, 24, 39),
            text: RGBColor(229, 231, 235),
            grid: RGBColor(55, 65, 81),
            series: [
                RGBColor(96, 165, 250),
                RGBColor(251, 146, 60),
                RGBColor(74, 222, 128),
                RGBColor(192, 132, 252),
                RGBColor(45, 212, 191),
                RGBColor(250, 204, 21),
                RGBColor(244, 114, 182),
                RGBColor(148, 163, 184),
            ],
            band: RGBColor(167, 139, 250),
            alert: RGBColor(248, 113, 113),
        },
    }
}

/// What a layer is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    /// The n-th series colour.
    Series(usize),
    /// The interval colour.
    Band,
    /// Alerts: limits, anomalies.
    Alert,
    /// Muted (history, held-out points).
    Muted,
}

/// One layer of a chart, on a time axis (x: instants).
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// A filled band between `lo` and `hi` (intervals); `opacity` 0..1.
    Band {
        label: String,
        points: Vec<(DateTime<Utc>, f64, f64)>,
        opacity: f64,
    },
    Line {
        label: String,
        ink: Ink,
        points: Vec<(DateTime<Utc>, f64)>,
        dashed: bool,
    },
    Markers {
        label: String,
        ink: Ink,
        points: Vec<(DateTime<Utc>, f64)>,
    },
    /// Areas stacked in order (each series' values at the shared `x`).
    Stack {
        labels: Vec<String>,
        x: Vec<DateTime<Utc>>,
        values: Vec<Vec<f64>>,
    },
    /// A horizontal line across the chart (a budget's limit).
    Level { label: String, y: f64 },
}

/// A chart to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub y_label: String,
    pub layers: Vec<Layer>,
    /// Shown instead of an empty plot.
    pub empty_message: Option<String>,
}

/// Width and height in pixels at most.
pub const MAX_SIZE: u32 = 4000;

fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok()
            && plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    })
}

impl Chart {
    /// The x and y ranges of every layer (y from 0 when all values are positive).
    fn ranges(&self) -> Option<((f64, f64), (f64, f64))> {
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        let t = |d: &DateTime<Utc>| d.timestamp_millis() as f64 / 1000.0;
        for l in &self.layers {
            match l {
                Layer::Band { points, .. } => {
                    for (x, lo, hi) in points {
                        xs.push(t(x));
                        ys.extend([*lo, *hi]);
                    }
                }
                Layer::Line { points, .. } | Layer::Markers { points, .. } => {
                    for (x, y) in points {
                        xs.push(t(x));
                        ys.push(*y);
                    }
                }
                Layer::Stack { x, values, .. } => {
                    xs.extend(x.iter().map(t));
                    for i in 0..x.len() {
                        ys.push(
                            values
                                .iter()
                                .map(|v| v.get(i).copied().unwrap_or(0.0))
                                .sum(),
                        );
                    }
                }
                Layer::Level { y, .. } => ys.push(*y),
            }
        }
        let finite = |v: &Vec<f64>| {
            v.iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect::<Vec<_>>()
        };
        let (xs, ys) = (finite(&xs), finite(&ys));
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if xs.is_empty() || ys.is_empty() {
            return None;
        }
        let (mut x0, mut x1) = (min(&xs), max(&xs));
        if x1 <= x0 {
            x0 -= 43_200.0;
            x1 += 43_200.0;
        }
        let (mut y0, mut y1) = (min(&ys), max(&ys));
        if y0 >= 0.0 {
            y0 = 0.0;
        }
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        let pad = (y1 - y0) * 0.06;
        Some(((x0, x1), (if y0 < 0.0 { y0 - pad } else { y0 }, y1 + pad)))
    }
}

/// Draws `chart` `width` × `height` pixels in `theme`.
pub fn render(
    chart: &Chart,
    theme: Theme,
    format: Format,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, ChartError> {
    if !(200..=MAX_SIZE).contains(&width) || !(120..=MAX_SIZE).contains(&height) {
        return Err(ChartError::BadRequest(format!(
            "a chart is 200 to {MAX_SIZE} pixels wide and 120 to {MAX_SIZE} high"
        )));
    }
    if !font_ready() {
        return Err(ChartError::Draw(
            "the chart font could not be loaded".into(),
        ));
    }
    let p = palette(theme);
    match format {
        Format::Svg => {
            let mut out = String::new();
            {
                let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
                draw(&root, chart, &p)?;
                root.present()
                    .map_err(|e| ChartError::Draw(e.to_string()))?;
            }
            Ok(out.into_bytes())
        }
        Format::Png => {
            let mut buf = vec![0u8; (width as usize) * (height as usize) * 3];
            {
                let root =
                    BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
                draw(&root, chart, &p)?;
                root.present()
                    .map_err(|e| ChartError::Draw(e.to_string()))?;
            }
            encode_png(&buf, width, height)
        }
    }
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .map_err(|e| ChartError::Draw(e.to_string()))?;
    w.write_image_data(rgb)
        .map_err(|e| ChartError::Draw(e.to_string()))?;
    w.finish().map_err(|e| ChartError::Draw(e.to_string()))?;
    Ok(out)
}

fn ink(p: &Palette, i: Ink) -> RGBColor {
    match i {
        Ink::Series(n) => p.series[n % p.series.len()],
        Ink::Band => p.band,
        Ink::Alert => p.alert,
        Ink::Muted => p.series[7],
    }
}

/// A time label for `secs` fitting the span.
fn time_label(secs: f64, span: f64) -> String {
    let Some(t) = Utc.timestamp_opt(secs as i64, 0).single() else {
        return String::new();
    };
    if span <= 3.0 * 86_400.0 {
        t.format("%d %b %H:%M").to_string()
    } else if span <= 400.0 * 86_400.0 {
        t.format("%d %b").to_string()
    } else {
        t.format("%b %Y").to_string()
    }
}

fn value_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{v:.3}")
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
    p: &Palette,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ChartError::Draw(e.to_string());
    root.fill(&p.background).map_err(err)?;
    let title_style = TextStyle::from((FAMILY, 18).into_font()).color(&p.text);
    let Some(((x0, x1), (y0, y1))) = chart.ranges() else {
        let (w, h) = root.dim_in_pixel();
        root.draw(&Text::new(
            chart.title.clone(),
            (16, 12),
            title_style.clone(),
        ))
        .map_err(err)?;
        let msg = chart
            .empty_message
            .clone()
            .unwrap_or_else(|| "No data".into());
        root.draw(&Text::new(
            msg,
            (
                i32::try_from(w / 2).unwrap_or(100) - 120,
                i32::try_from(h / 2).unwrap_or(60),
            ),
            TextStyle::from((FAMILY, 14).into_font()).color(&p.text.mix(0.7)),
        ))
        .map_err(err)?;
        return Ok(());
    };
    let span = x1 - x0;
    let mut c = ChartBuilder::on(root)
        .caption(&chart.title, title_style)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let label_style = TextStyle::from((FAMILY, 12).into_font()).color(&p.text);
    c.configure_mesh()
        .light_line_style(p.grid.mix(0.5))
        .bold_line_style(p.grid)
        .axis_style(p.grid)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| time_label(*x, span))
        .y_label_formatter(&|y| value_label(*y))
        .y_desc(chart.y_label.as_str())
        .label_style(label_style.clone())
        .axis_desc_style(label_style.clone())
        .draw()
        .map_err(err)?;
    let t = |d: &DateTime<Utc>| d.timestamp_millis() as f64 / 1000.0;
    let mut legend = false;
    for layer in &chart.layers {
        match layer {
            Layer::Band {
                label,
                points,
                opacity,
            } => {
                if points.is_empty() {
                    continue;
                }
                let mut poly: Vec<(f64, f64)> =
                    points.iter().map(|(x, _, hi)| (t(x), *hi)).collect();
                poly.extend(points.iter().rev().map(|(x, lo, _)| (t(x), *lo)));
                let color = p.band.mix(*opacity);
                c.draw_series(std::iter::once(Polygon::new(poly, color.filled())))
                    .map_err(err)?
                    .label(label.as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                    });
                legend = true;
            }
            Layer::Line {
                label,
                ink: i,
                points,
                dashed,
            } => {
                if points.is_empty() {
                    continue;
                }
                let color = ink(p, *i);
                let style = color.stroke_width(2);
                let pts: Vec<(f64, f64)> = points.iter().map(|(x, y)| (t(x), *y)).collect();
                let series = if *dashed {
                    c.draw_series(DashedLineSeries::new(pts, 6, 4, style))
                        .map_err(err)?
                } else {
                    c.draw_series(LineSeries::new(pts, style)).map_err(err)?
                };
                series.label(label.as_str()).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2))
                });
                legend = true;
            }
            Layer::Markers {
                label,
                ink: i,
                points,
            } => {
                if points.is_empty() {
                    continue;
                }
                let color = ink(p, *i);
                c.draw_series(
                    points
                        .iter()
                        .map(|(x, y)| Circle::new((t(x), *y), 4, color.filled())),
                )
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| Circle::new((x + 7, y), 4, color.filled()));
                legend = true;
            }
            Layer::Stack { labels, x, values } => {
                // Cumulative from the bottom; drawn top first so each area reaches the axis.
                let n = x.len();
                let mut tops: Vec<Vec<f64>> = Vec::with_capacity(values.len());
                let mut acc = vec![0.0; n];
                for v in values {
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a += v.get(i).copied().unwrap_or(0.0);
                    }
                    tops.push(acc.clone());
                }
                for (k, top) in tops.iter().enumerate().rev() {
                    let color = p.series[k % p.series.len()];
                    let pts: Vec<(f64, f64)> = x.iter().map(t).zip(top.iter().copied()).collect();
                    c.draw_series(
                        AreaSeries::new(pts, 0.0, color.mix(0.75))
                            .border_style(color.stroke_width(1)),
                    )
                    .map_err(err)?
                    .label(labels.get(k).map_or("", String::as_str))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                    });
                }
                legend = true;
            }
            Layer::Level { label, y } => {
                let color = p.alert;
                c.draw_series(DashedLineSeries::new(
                    [(x0, *y), (x1, *y)],
                    8,
                    5,
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2))
                });
                legend = true;
            }
        }
    }
    if legend {
        c.configure_series_labels()
            .background_style(p.background.mix(0.85))
            .border_style(p.grid)
            .label_font(label_style)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}
