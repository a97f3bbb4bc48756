//! Line charts of training curves, as PNG (or SVG), with no system font dependency: text is
//! drawn with DejaVu Sans, embedded in the binary.

use crate::fs::write_atomic;
use crate::{metrics, Error, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const WIDTH: u32 = 800;
const HEIGHT: u32 = 500;

/// One named curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// `(x, y)` points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The embedded font is a valid TrueType file; failing to parse it is a build defect.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("embedded DejaVu Sans font parses");
    });
}

/// Draws `series` as a line chart into `path`: SVG if it ends in `.svg`, PNG otherwise.
/// Written atomically.
pub fn line_chart(path: &Path, title: &str, x_label: &str, series: &[Series]) -> Result<()> {
    register_font();
    let finite: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if finite.is_empty() {
        return Err(Error::Config(format!("nothing to plot for {title:?}: no finite points")));
    }
    let (x0, x1) = bounds(finite.iter().map(|p| p.0));
    let (y0, y1) = bounds(finite.iter().map(|p| p.1));
    let draw_err = |e: String| Error::bad_file(path, format!("cannot draw chart: {e}"));

    if path.extension().is_some_and(|e| e == "svg") {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, title, x_label, series, (x0, x1), (y0, y1)).map_err(draw_err)?;
        }
        write_atomic(path, svg.as_bytes()).map_err(|e| Error::io(path, e))
    } else {
        let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, title, x_label, series, (x0, x1), (y0, y1)).map_err(draw_err)?;
        }
        let img = image::RgbImage::from_raw(WIDTH, HEIGHT, pixels).expect("buffer has the size");
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| draw_err(e.to_string()))?;
        write_atomic(path, &png).map_err(|e| Error::io(path, e))
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    series: &[Series],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// Min and max of `values`, widened a little (and made non-empty) so lines are not on the frame.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.05 };
    (lo - pad, hi + pad)
}

/// The chart a metric goes on and its label there: `train_loss` and `valid_loss` share the
/// chart `loss`; any other key has a chart of its own.
fn chart_of(key: &str) -> (String, String) {
    for prefix in ["train", "valid", "test", "eval"] {
        for sep in ['_', '/'] {
            if let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix(sep)) {
                if !rest.is_empty() {
                    return (rest.to_string(), prefix.to_string());
                }
            }
        }
    }
    (key.to_string(), key.to_string())
}

/// Draws every metric of a `metrics.jsonl` file against the step, one PNG per chart in
/// `out_dir` (`loss.png` holds both `train_loss` and `valid_loss`). Returns the files written.
pub fn plot_metrics(metrics_path: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let records = metrics::read(metrics_path)?;
    let mut charts: BTreeMap<String, BTreeMap<String, Vec<(f64, f64)>>> = BTreeMap::new();
    for r in &records {
        for (key, value) in &r.values {
            let (chart, label) = chart_of(key);
            charts
                .entry(chart)
                .or_default()
                .entry(label)
                .or_default()
                .push((r.step as f64, *value));
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut written = Vec::new();
    for (chart, series) in charts {
        let series: Vec<Series> =
            series.into_iter().map(|(name, points)| Series { name, points }).collect();
        if !series.iter().flat_map(|s| &s.points).any(|(_, y)| y.is_finite()) {
            continue;
        }
        let file: String = chart
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let path = out_dir.join(format!("{file}.png"));
        line_chart(&path, &chart, "step", &series)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_group_by_split() {
        assert_eq!(chart_of("train_loss"), ("loss".into(), "train".into()));
        assert_eq!(chart_of("valid/acc"), ("acc".into(), "valid".into()));
        assert_eq!(chart_of("lr"), ("lr".into(), "lr".into()));
        assert_eq!(chart_of("training"), ("training".into(), "training".into()));
    }

    #[test]
    fn bounds_are_padded_and_never_empty() {
        assert_eq!(bounds([2.0, 2.0].into_iter()), (1.9, 2.1));
        let (lo, hi) = bounds([0.0, 10.0].into_iter());
        assert!(lo < 0.0 && hi > 10.0);
    }
}
