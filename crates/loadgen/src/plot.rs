//! The sweep's picture: p50 and p99 latency against the offered rate, as a PNG. Text is
//! drawn with an embedded DejaVu Sans, so no system font is needed.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// One step of a sweep: offered rate, p50 and p99 in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

const FONT: &str = "sans-serif";

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    anyhow::ensure!(ok, "the embedded font could not be loaded");
    Ok(())
}

/// The latency axis: from below the lowest value to above the highest (log scale).
pub fn latency_range(points: &[Point], bound_ms: f64) -> (f64, f64) {
    let values = points
        .iter()
        .flat_map(|p| [p.p50_ms, p.p99_ms])
        .chain([bound_ms])
        .filter(|v| v.is_finite() && *v > 0.0);
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if low > high {
        return (0.1, 100.0);
    }
    ((low / 2.0).max(0.01), high * 2.0)
}

/// Draws `points` to a PNG at `path`, with the p99 bound as a horizontal line.
pub fn sweep_png(path: &Path, title: &str, points: &[Point], bound_ms: f64) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    draw(&root, title, points, bound_ms).map_err(|e| anyhow::anyhow!("drawing the plot: {e}"))?;
    root.present()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("writing {}", path.display()))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    points: &[Point],
    bound_ms: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let max_rate = points.iter().map(|p| p.rate).fold(1.0, f64::max) * 1.05;
    let (low, high) = latency_range(points, bound_ms);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..max_rate, (low..high).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("offered rate (requests/s)")
        .y_desc("latency (ms, log scale)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        })
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;
    let series = [
        (
            "p50",
            BLUE,
            points
                .iter()
                .map(|p| (p.rate, p.p50_ms))
                .collect::<Vec<_>>(),
        ),
        (
            "p99",
            RED,
            points
                .iter()
                .map(|p| (p.rate, p.p99_ms))
                .collect::<Vec<_>>(),
        ),
    ];
    for (label, color, data) in series {
        let data: Vec<(f64, f64)> = data.into_iter().map(|(x, y)| (x, y.max(low))).collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(data.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    let bound_color = RGBColor(230, 140, 0);
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, bound_ms), (max_rate, bound_ms)],
            bound_color.stroke_width(2),
        ))?
        .label(format!("p99 bound {bound_ms} ms"))
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], bound_color.stroke_width(2))
        });
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_axis_covers_values_and_bound() {
        let points = [
            Point {
                rate: 100.0,
                p50_ms: 1.0,
                p99_ms: 4.0,
            },
            Point {
                rate: 200.0,
                p50_ms: 2.0,
                p99_ms: 300.0,
            },
        ];
        assert_eq!(latency_range(&points, 50.0), (0.5, 600.0));
        assert_eq!(latency_range(&[], 0.0), (0.1, 100.0));
    }

    #[test]
    fn draws_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sweep.png");
        let points = [
            Point {
                rate: 50.0,
                p50_ms: 1.2,
                p99_ms: 3.4,
            },
            Point {
                rate: 100.0,
                p50_ms: 1.5,
                p99_ms: 80.0,
            },
        ];
        sweep_png(&path, "sweep", &points, 50.0).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(bytes.len() > 5_000, "{} bytes", bytes.len());
    }
}
