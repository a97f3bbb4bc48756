//! The demo tour's pictures: besides the three photographed digits (`examples/`), a digit drawn
//! here, stroke by stroke, as a person with a thick pen would, so the tour shows the classifier a
//! digit it cannot have seen.

use image::{Rgb, RgbImage};

/// A stroke: points in the unit square (x right, y down), joined by straight lines.
pub type Stroke<'a> = &'a [(f32, f32)];

/// A seven: a bar across the top, then one stroke down and to the left.
pub const SEVEN: [Stroke<'static>; 1] = [&[(0.24, 0.2), (0.76, 0.2), (0.7, 0.3), (0.44, 0.84)]];

/// `strokes` drawn in dark ink on light paper, `size` pixels square, with a round pen whose
/// width is 12 % of the side.
pub fn drawn_digit(strokes: &[Stroke], size: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(size, size, Rgb([246, 243, 232]));
    let side = size as f32;
    let radius = 0.06 * side;
    for stroke in strokes {
        for pair in stroke.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            let steps = ((x1 - x0).hypot(y1 - y0) * side).ceil().max(1.0) as usize;
            for i in 0..=steps {
                let t = i as f32 / steps as f32;
                let centre = ((x0 + t * (x1 - x0)) * side, (y0 + t * (y1 - y0)) * side);
                stamp(&mut img, centre, radius);
            }
        }
    }
    img
}

/// Inks a disc of `radius` around `centre`.
fn stamp(img: &mut RgbImage, (cx, cy): (f32, f32), radius: f32) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let span = radius.ceil() as i64;
    for y in (cy as i64 - span).max(0)..(cy as i64 + span + 1).min(h) {
        for x in (cx as i64 - span).max(0)..(cx as i64 + span + 1).min(w) {
            if (x as f32 - cx).hypot(y as f32 - cy) <= radius {
                img.put_pixel(x as u32, y as u32, Rgb([28, 30, 42]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pen_inks_the_strokes_and_nothing_far_from_them() {
        let img = drawn_digit(&SEVEN, 100);
        let ink = |x: u32, y: u32| img.get_pixel(x, y)[0] < 100;
        assert!(ink(50, 20), "the top bar");
        assert!(ink(44, 84), "the end of the downstroke");
        assert!(!ink(10, 90) && !ink(90, 90) && !ink(50, 2), "paper away from the strokes");
    }
}
