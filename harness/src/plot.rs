//! Pictures of training: line charts of curves (PNG or SVG), heatmaps (confusion matrices,
//! attention) and image grids (filters, samples). No system font dependency: text is drawn with
//! DejaVu Sans, embedded in the binary.

use crate::metrics;
use dl_core::fs::write_atomic;
use dl_core::{Error, Result};
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
        save_rgb(path, WIDTH, HEIGHT, pixels)
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

/// Draws a matrix as a heatmap with row and column labels and each cell's value written in
/// it (a confusion matrix, an attention map). `values[r][c]`; PNG, written atomically.
pub fn heatmap(
    path: &Path,
    title: &str,
    (row_title, col_title): (&str, &str),
    rows: &[String],
    cols: &[String],
    values: &[Vec<f64>],
) -> Result<()> {
    register_font();
    let (nr, nc) = (rows.len(), cols.len());
    if nr == 0 || nc == 0 || values.len() != nr || values.iter().any(|r| r.len() != nc) {
        return Err(Error::Config(format!("heatmap {title:?}: values must be {nr} rows of {nc}")));
    }
    let cell = (600 / nr.max(nc)).clamp(12, 60) as u32;
    let (width, height) = (cell * nc as u32 + 200, cell * nr as u32 + 160);
    let max = values.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let draw_err = |e: String| Error::bad_file(path, format!("cannot draw heatmap: {e}"));
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let e2 = |e: DrawingAreaErrorKind<_>| draw_err(format!("{e:?}"));
        root.fill(&WHITE).map_err(e2)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(120)
            .build_cartesian_2d(0.0..nc as f64, 0.0..nr as f64)
            .map_err(e2)?;
        // Float axes: plotters' integer axes loop forever when asked for zero labels.
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc(col_title)
            .y_desc(row_title)
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(e2)?;
        // Row and column names centred on their cells (plotters puts tick labels on the cell
        // boundaries of an integer axis).
        let anchored = |h, v| {
            ("sans-serif", 12)
                .into_font()
                .color(&BLACK)
                .pos(plotters::style::text_anchor::Pos::new(h, v))
        };
        use plotters::style::text_anchor::{HPos, VPos};
        for (c, name) in cols.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(c as f64, 0.0));
            let style = anchored(HPos::Center, VPos::Top);
            root.draw(&Text::new(name.clone(), (px + cell as i32 / 2, py + 4), style))
                .map_err(e2)?;
        }
        for (r, name) in rows.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, (nr - r) as f64));
            let style = anchored(HPos::Right, VPos::Center);
            root.draw(&Text::new(name.clone(), (px - 4, py + cell as i32 / 2), style))
                .map_err(e2)?;
        }
        let font_size = (cell as f64 * 0.3).clamp(8.0, 14.0);
        for (r, row) in values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let t = if max > 0.0 && v.is_finite() { (v / max).clamp(0.0, 1.0) } else { 0.0 };
                // White to dark blue.
                let color = RGBColor(
                    (255.0 * (1.0 - 0.85 * t)) as u8,
                    (255.0 * (1.0 - 0.7 * t)) as u8,
                    (255.0 * (1.0 - 0.3 * t)) as u8,
                );
                let (x, y) = (c as f64, (nr - 1 - r) as f64); // row 0 at the top
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        color.filled(),
                    )))
                    .map_err(e2)?;
                let text_color = if t > 0.55 { WHITE } else { BLACK };
                let label = if v.fract() == 0.0 { format!("{v}") } else { format!("{v:.2}") };
                let style = ("sans-serif", font_size).into_font().color(&text_color).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                );
                let (px, py) = chart.backend_coord(&(x, y + 1.0));
                let center = (px + cell as i32 / 2, py + cell as i32 / 2);
                root.draw(&Text::new(label, center, style)).map_err(e2)?;
            }
        }
        root.present().map_err(e2)?;
    }
    save_rgb(path, width, height, pixels)
}

/// Lays out `tiles: [n, c, h, w]` (c = 1 or 3, any range: each tile is min-max scaled on its
/// own) as a grid of `cols` columns, each pixel drawn `scale`x`scale`, 1-pixel grey gutters.
/// PNG, written atomically. Shows what a convolution's filters look for.
pub fn image_grid(path: &Path, tiles: &tch::Tensor, cols: usize, scale: u32) -> Result<()> {
    let size = tiles.size();
    if size.len() != 4 || !(size[1] == 1 || size[1] == 3) || size[0] == 0 || cols == 0 || scale == 0
    {
        return Err(Error::Config(format!(
            "image grid needs tiles [n, 1 or 3, h, w], got {size:?}"
        )));
    }
    let (n, c, h, w) = (size[0] as usize, size[1] as usize, size[2] as u32, size[3] as u32);
    let t = tiles.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).view([n as i64, -1]);
    let (lo, hi) = (t.amin(1, true), t.amax(1, true));
    let scaled = ((t - &lo) / (hi - &lo).clamp_min(1e-12) * 255.0)
        .view([n as i64, c as i64, h as i64, w as i64]);
    let values = Vec::<f32>::try_from(&scaled.contiguous().view([-1])).map_err(Error::from)?;
    let rows = n.div_ceil(cols);
    let (tw, th) = (w * scale + 1, h * scale + 1);
    let (width, height) = (cols as u32 * tw + 1, rows as u32 * th + 1);
    let mut img = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    for i in 0..n {
        let (x0, y0) = ((i % cols) as u32 * tw + 1, (i / cols) as u32 * th + 1);
        for y in 0..h * scale {
            for x in 0..w * scale {
                let at = |ch: usize| {
                    values[((i * c + ch) * h as usize + (y / scale) as usize) * w as usize
                        + (x / scale) as usize] as u8
                };
                let px = if c == 1 { [at(0); 3] } else { [at(0), at(1), at(2)] };
                img.put_pixel(x0 + x, y0 + y, image::Rgb(px));
            }
        }
    }
    save_rgb(path, width, height, img.into_raw())
}

fn save_rgb(path: &Path, width: u32, height: u32, pixels: Vec<u8>) -> Result<()> {
    let img = image::RgbImage::from_raw(width, height, pixels).expect("buffer has the size");
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::bad_file(path, format!("cannot encode PNG: {e}")))?;
    write_atomic(path, &png).map_err(|e| Error::io(path, e))
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

/// What the x axis of [`run_curves`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis<'a> {
    /// The logged step, labelled (e.g. `"environment steps"`).
    Step(&'a str),
    /// Minutes since the run started (its `time`, over all its sessions).
    Minutes(&'a str),
}

/// Draws `metric` of several run directories (their `metrics.jsonl`) into one chart, each
/// series named after its directory; its log10 with `log` (non-positive values are skipped).
/// A run without that metric is an error naming it.
pub fn run_curves(runs: &[PathBuf], metric: &str, axis: Axis, log: bool, out: &Path) -> Result<()> {
    let mut series = Vec::new();
    for dir in runs {
        let records = metrics::read(&dir.join("metrics.jsonl"))?;
        let points: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|r| {
                let x = match axis {
                    Axis::Step(_) => r.step as f64,
                    Axis::Minutes(_) => r.time / 60.0,
                };
                let v = *r.values.get(metric)?;
                match log {
                    true => (v > 0.0).then(|| (x, v.log10())),
                    false => Some((x, v)),
                }
            })
            .collect();
        if points.is_empty() {
            return Err(Error::Config(format!("{} has no {metric:?} values", dir.display())));
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        series.push(Series { name: name.unwrap_or_default(), points });
    }
    let (Axis::Step(label) | Axis::Minutes(label)) = axis;
    let title = if log { format!("log10 {metric}") } else { metric.to_string() };
    line_chart(out, &title, label, &series)
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
