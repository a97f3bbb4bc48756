//! Images in and out: files (any format the `image` crate reads) or the vendored pictures by
//! name, resized to a longest side, as RGB tensors `[1, 3, h, w]` in 0..1; and back to PNG.

use anyhow::{bail, Context, Result};
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Longest sides accepted by `--size`.
pub const SIZES: std::ops::RangeInclusive<u32> = 32..=4096;

/// Reads an image: a file, or a vendored picture by name (`astronaut`, `chelsea`, `coffee`,
/// `starry_night`) when no file of that name exists.
pub fn open(spec: &str) -> Result<DynamicImage> {
    let path = Path::new(spec);
    let image = if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {spec}"))?;
        image::load_from_memory(&bytes)
            .with_context(|| format!("{spec} is not an image this program can read"))?
    } else if let Ok(image) = datasets::vendored::image(spec) {
        image
    } else {
        bail!("no image file {spec} (nor a vendored picture of that name: astronaut, chelsea, coffee, starry_night)");
    };
    if image.width() == 0 || image.height() == 0 {
        bail!("{spec} is an empty image ({}x{})", image.width(), image.height());
    }
    Ok(image)
}

/// The image scaled (Lanczos) so that its longest side is `size`, as `[1, 3, h, w]` in 0..1.
pub fn to_tensor(image: &DynamicImage, size: u32, device: Device) -> Tensor {
    let (w, h) = (image.width(), image.height());
    let scale = size as f64 / w.max(h) as f64;
    let (nw, nh) =
        (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1));
    let rgb = image.resize_exact(nw, nh, FilterType::Lanczos3).to_rgb8();
    from_rgb(&rgb).to_device(device)
}

/// An RGB image as `[1, 3, h, w]` in 0..1.
pub fn from_rgb(rgb: &RgbImage) -> Tensor {
    let (w, h) = (rgb.width() as i64, rgb.height() as i64);
    Tensor::from_slice(rgb.as_raw())
        .view([h, w, 3])
        .permute([2, 0, 1])
        .unsqueeze(0)
        .to_kind(Kind::Float)
        / 255.0
}

/// `[1, 3, h, w]` (values clamped to 0..1) as an 8-bit RGB image.
pub fn to_rgb(t: &Tensor) -> Result<RgbImage> {
    let size = t.size();
    if size.len() != 4 || size[0] != 1 || size[1] != 3 {
        bail!("expected an image tensor [1, 3, h, w], got {size:?}");
    }
    let bytes = (t.detach().to_device(Device::Cpu).clamp(0.0, 1.0) * 255.0)
        .round()
        .to_kind(Kind::Uint8)
        .squeeze_dim(0)
        .permute([1, 2, 0])
        .contiguous()
        .view([-1]);
    let bytes = Vec::<u8>::try_from(&bytes)?;
    Ok(RgbImage::from_raw(size[3] as u32, size[2] as u32, bytes).expect("the buffer matches"))
}

/// Writes `[1, 3, h, w]` as a PNG (or any format its extension names), atomically.
pub fn save(t: &Tensor, path: &Path) -> Result<()> {
    let rgb = to_rgb(t)?;
    let format = image::ImageFormat::from_path(path).unwrap_or(image::ImageFormat::Png);
    let mut bytes = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    dl_core::fs::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// ITU-R BT.601 luma and chroma (YCbCr, all in 0..1 scale, chroma centred on 0).
fn to_ycbcr(rgb: &Tensor) -> Tensor {
    let m = Tensor::from_slice(&[
        0.299f32, 0.587, 0.114, //
        -0.168_736, -0.331_264, 0.5, //
        0.5, -0.418_688, -0.081_312,
    ])
    .view([3, 3])
    .to_device(rgb.device());
    Tensor::einsum("ij,njhw->nihw", &[m, rgb.shallow_clone()], None::<i64>)
}

fn from_ycbcr(ycc: &Tensor) -> Tensor {
    let m = Tensor::from_slice(&[
        1.0f32, 0.0, 1.402, //
        1.0, -0.344_136, -0.714_136, //
        1.0, 1.772, 0.0,
    ])
    .view([3, 3])
    .to_device(ycc.device());
    Tensor::einsum("ij,njhw->nihw", &[m, ycc.shallow_clone()], None::<i64>)
}

/// The luminance of `styled` with the colours (chroma) of `content`: style transfer that
/// keeps the photo's colours (Gatys et al., 2016, "Preserving color in neural artistic style
/// transfer", the colour-space variant).
pub fn keep_colors(styled: &Tensor, content: &Tensor) -> Tensor {
    let y = to_ycbcr(styled).narrow(1, 0, 1);
    let cbcr = to_ycbcr(content).narrow(1, 1, 2);
    from_ycbcr(&Tensor::cat(&[y, cbcr], 1)).clamp(0.0, 1.0)
}
