//! Pictures of episodes: `gymnasia`'s drawing commands rasterised into RGB frames (it has no
//! headless pixel output of its own), and animated GIFs of a played episode.

use anyhow::{Context, Result};
use gymnasia::render::draw::{DrawCommand, DrawList};
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgb, RgbImage, RgbaImage};
use std::path::Path;

/// Draws `list` (y pointing up, as in Gymnasium's classic-control renderers) into an image.
pub fn rasterize(list: &DrawList) -> RgbImage {
    let (w, h) = (list.width, list.height);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    // Pixel (col, row) samples the point (col + 0.5, h - row - 0.5) of the drawing.
    let to_point = |col: u32, row: u32| (col as f32 + 0.5, h as f32 - row as f32 - 0.5);
    let fill = |img: &mut RgbImage,
                (x0, y0, x1, y1): (f32, f32, f32, f32),
                inside: &dyn Fn(f32, f32) -> bool,
                c: Rgb<u8>| {
        let cols = (x0.floor().max(0.0) as u32)..(x1.ceil().min(w as f32) as u32);
        let rows_lo = (h as f32 - y1).floor().max(0.0) as u32;
        let rows_hi = (h as f32 - y0).ceil().min(h as f32) as u32;
        for row in rows_lo..rows_hi {
            for col in cols.clone() {
                let (x, y) = to_point(col, row);
                if inside(x, y) {
                    img.put_pixel(col, row, c);
                }
            }
        }
    };
    for command in &list.commands {
        match command {
            DrawCommand::Clear(c) => {
                for p in img.pixels_mut() {
                    *p = Rgb([c.r, c.g, c.b]);
                }
            }
            DrawCommand::FilledPolygon { vertices, color } => {
                let b = bounds(vertices.iter().copied());
                let inside = |x: f32, y: f32| in_convex_polygon(vertices, x, y);
                fill(&mut img, b, &inside, Rgb([color.r, color.g, color.b]));
            }
            DrawCommand::FilledCircle { x, y, radius, color } => {
                let b = (x - radius, y - radius, x + radius, y + radius);
                let inside =
                    |px: f32, py: f32| (px - x).powi(2) + (py - y).powi(2) <= radius * radius;
                fill(&mut img, b, &inside, Rgb([color.r, color.g, color.b]));
            }
            DrawCommand::Line { x1, y1, x2, y2, color } => {
                draw_line(&mut img, (*x1, *y1), (*x2, *y2), Rgb([color.r, color.g, color.b]));
            }
            DrawCommand::Polyline { points, color } => {
                for pair in points.windows(2) {
                    draw_line(&mut img, pair[0], pair[1], Rgb([color.r, color.g, color.b]));
                }
            }
        }
    }
    img
}

fn bounds(points: impl Iterator<Item = (f32, f32)>) -> (f32, f32, f32, f32) {
    points.fold((f32::MAX, f32::MAX, f32::MIN, f32::MIN), |(a, b, c, d), (x, y)| {
        (a.min(x), b.min(y), c.max(x), d.max(y))
    })
}

/// Whether `(x, y)` is inside the convex polygon (either winding): on the same side of every
/// edge.
fn in_convex_polygon(v: &[(f32, f32)], x: f32, y: f32) -> bool {
    let (mut pos, mut neg) = (false, false);
    for i in 0..v.len() {
        let (ax, ay) = v[i];
        let (bx, by) = v[(i + 1) % v.len()];
        let cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax);
        pos |= cross > 0.0;
        neg |= cross < 0.0;
    }
    !(pos && neg)
}

/// A one-pixel line, by sampling it every half pixel.
fn draw_line(img: &mut RgbImage, (x1, y1): (f32, f32), (x2, y2): (f32, f32), c: Rgb<u8>) {
    let (w, h) = img.dimensions();
    let n = ((x2 - x1).abs().max((y2 - y1).abs()) * 2.0).ceil().max(1.0) as u32;
    for i in 0..=n {
        let t = i as f32 / n as f32;
        let (x, y) = (x1 + t * (x2 - x1), y1 + t * (y2 - y1));
        let (col, row) = (x.floor(), h as f32 - 1.0 - y.floor());
        if col >= 0.0 && row >= 0.0 && (col as u32) < w && (row as u32) < h {
            img.put_pixel(col as u32, row as u32, c);
        }
    }
}

/// Writes `frames` as an animated GIF at `fps`, looping, atomically; `scale` resizes them (0.5
/// makes a file about four times smaller).
pub fn write_gif(path: &Path, frames: &[RgbImage], fps: u32, scale: f32) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite)?;
        let delay = Delay::from_numer_denom_ms(1000, fps.max(1));
        for f in frames {
            let (w, h) = f.dimensions();
            let (sw, sh) =
                ((w as f32 * scale).round().max(1.0), (h as f32 * scale).round().max(1.0));
            let resized = if scale == 1.0 {
                f.clone()
            } else {
                image::imageops::resize(
                    f,
                    sw as u32,
                    sh as u32,
                    image::imageops::FilterType::Nearest,
                )
            };
            let rgba: RgbaImage = image::DynamicImage::ImageRgb8(resized).to_rgba8();
            encoder.encode_frame(Frame::from_parts(rgba, 0, 0, delay))?;
        }
    }
    dl_core::fs::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
