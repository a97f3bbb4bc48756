//! Using a trained network: [`Classifier`] loads a checkpoint and classifies your own images,
//! any PNG or JPEG of any size and colour, brought to what the network was trained on. For digits that is how MNIST itself was made (NIST's black-on-white
//! scans, inverted, fitted into 20x20 keeping the aspect ratio, centred by centre of mass in
//! 28x28); for clothes the same without the margin; for anything else a plain resize.

use crate::model::Net;
use crate::train::{ModelInfo, TrainConfig};
use crate::APP;
use anyhow::{bail, Context, Result};
use dl_core::checkpoint;
use dl_core::nn::ModuleT;
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, Luma};
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A trained classifier, loaded from a checkpoint and ready to classify images.
///
/// ```no_run
/// use cnn_classifier::infer::Classifier;
/// # fn main() -> anyhow::Result<()> {
/// let classifier = Classifier::load("runs/cnn-classifier/mnist".as_ref(), tch::Device::Cpu)?;
/// let photo = image::open("apps/cnn-classifier/examples/digit-3.png")?;
/// for (class, probability) in classifier.predict(&photo, None, 3)? {
///     println!("{class}: {:.1}%", 100.0 * probability);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Classifier {
    /// The weights.
    pub vs: VarStore,
    /// The network.
    pub net: Net,
    /// Its training configuration.
    pub config: TrainConfig,
    /// Shapes, classes, normalisation.
    pub info: ModelInfo,
}

impl Classifier {
    /// Loads a checkpoint (file or run directory) of this app onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Classifier> {
        let path = harness::models::resolve(path, APP)?;
        let sidecar = checkpoint::read_sidecar(&path, APP)?;
        let config: TrainConfig = sidecar.config()?;
        let info: ModelInfo = serde_json::from_value(sidecar.extra.clone()).with_context(|| {
            format!("{}: the checkpoint has no model description", path.display())
        })?;
        let mut vs = VarStore::new(device);
        let net = Net::new(&vs.root(), config.model, info.shape)?;
        checkpoint::load(&path, APP, &mut vs, None)?;
        Ok(Classifier { vs, net, config, info })
    }

    /// The device the network is on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// How images are brought to the network's input when the caller does not say:
    /// the recipe of the dataset it was trained on ([`Preprocess::for_dataset`]).
    pub fn default_preprocess(&self) -> Preprocess {
        Preprocess::for_dataset(&self.config.dataset, self.info.shape.channels)
    }

    /// The image as the network sees it, `[C, H, W]` floats in `[0, 1]` before normalisation
    /// (for showing what it was given).
    pub fn input(&self, img: &DynamicImage, recipe: Option<Preprocess>) -> Result<Tensor> {
        let s = self.info.shape;
        let recipe = recipe.unwrap_or_else(|| self.default_preprocess());
        preprocess(img, recipe, s.channels, s.height, s.width)
    }

    /// The top `k` classes of an image, with probabilities, most probable first.
    pub fn predict(
        &self,
        img: &DynamicImage,
        recipe: Option<Preprocess>,
        k: usize,
    ) -> Result<Vec<(String, f64)>> {
        let x = self.input(img, recipe)?;
        let _guard = tch::no_grad_guard();
        let x = self.info.norm.apply(&x.unsqueeze(0).to_device(self.device()));
        let probs = self.net.forward_t(&x, false).softmax(-1, Kind::Float).squeeze_dim(0);
        let k = k.min(self.info.shape.classes as usize) as i64;
        let (values, indices) = probs.topk(k, -1, true, true);
        let values = Vec::<f64>::try_from(&values.to_kind(Kind::Double).to_device(Device::Cpu))?;
        let indices = Vec::<i64>::try_from(&indices.to_device(Device::Cpu))?;
        Ok(indices
            .iter()
            .zip(values)
            .map(|(i, p)| (self.info.classes[*i as usize].clone(), p))
            .collect())
    }

    /// [`Classifier::predict`] for an image file.
    pub fn predict_file(
        &self,
        path: &Path,
        recipe: Option<Preprocess>,
        k: usize,
    ) -> Result<Vec<(String, f64)>> {
        let img = image::open(path)
            .map_err(|e| anyhow::anyhow!("{}: not a readable image ({e})", path.display()))?;
        self.predict(&img, recipe, k).with_context(|| format!("{}", path.display()))
    }
}

/// How an image is brought to the network's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preprocess {
    /// MNIST's recipe: bright ink on black, ink fitted into 20x20, centre of mass at the centre
    /// of 28x28.
    Digit,
    /// Fashion-MNIST's: bright object on black, fitted into the whole frame, centred.
    Object,
    /// Resize to the input size (colour or grey as the network expects).
    Plain,
}

impl Preprocess {
    /// The recipe for a network trained on `dataset` with `channels` input channels.
    pub fn for_dataset(dataset: &str, channels: i64) -> Preprocess {
        match (dataset, channels) {
            ("mnist", 1) => Preprocess::Digit,
            ("fashion-mnist", 1) => Preprocess::Object,
            _ => Preprocess::Plain,
        }
    }
}

/// Grey levels in `[0, 1]` with transparent pixels composited onto the background: onto black
/// when the opaque pixels are mostly bright (light ink), onto white otherwise.
fn grey(img: &DynamicImage) -> Vec<f32> {
    let rgba = img.to_rgba8();
    let lum = |p: &image::Rgba<u8>| {
        (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0
    };
    let opaque: Vec<f32> = rgba.pixels().filter(|p| p[3] > 127).map(lum).collect();
    let bright = !opaque.is_empty() && opaque.iter().sum::<f32>() / opaque.len() as f32 > 0.5;
    let background = if bright { 0.0 } else { 1.0 };
    rgba.pixels()
        .map(|p| {
            let a = p[3] as f32 / 255.0;
            a * lum(p) + (1.0 - a) * background
        })
        .collect()
}

/// The image as bright ink on a black background, contrast stretched to `[0, 1]`: inverted if
/// its border (the background) is lighter than its middle.
fn ink(img: &DynamicImage) -> Result<GrayImage> {
    let (w, h) = (img.width(), img.height());
    let mut v = grey(img);
    let border: Vec<f32> = (0..w * h)
        .filter(|i| {
            let (x, y) = (i % w, i / w);
            x == 0 || y == 0 || x == w - 1 || y == h - 1
        })
        .map(|i| v[i as usize])
        .collect();
    let mut sorted = border.clone();
    sorted.sort_by(f32::total_cmp);
    let background = sorted[sorted.len() / 2];
    if background > 0.5 {
        v.iter_mut().for_each(|p| *p = 1.0 - *p);
    }
    let floor = background.min(1.0 - background);
    let top = v.iter().copied().fold(0.0f32, f32::max);
    if top - floor < 0.1 {
        bail!("no ink found: the image is (nearly) one flat colour");
    }
    let stretched =
        v.iter().map(|p| (((p - floor) / (top - floor)).clamp(0.0, 1.0) * 255.0) as u8).collect();
    Ok(GrayImage::from_raw(w, h, stretched).expect("size matches"))
}

/// The ink's bounding box `(x, y, w, h)`: pixels above 20% of full brightness.
fn bounding_box(img: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if p[0] > 51 {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    (x0 <= x1).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// Scales `img` to fit a `box_size` square keeping its aspect ratio.
fn fit(img: &GrayImage, box_size: u32) -> GrayImage {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let scale = box_size as f64 / w.max(h);
    let (nw, nh) = (((w * scale).round() as u32).max(1), ((h * scale).round() as u32).max(1));
    image::imageops::resize(img, nw, nh, FilterType::Lanczos3)
}

/// Pastes `glyph` into a black `size`x`size` canvas at `(left, top)` (clipping what falls out).
fn paste(glyph: &GrayImage, size: u32, left: i64, top: i64) -> GrayImage {
    let mut canvas = GrayImage::from_pixel(size, size, Luma([0]));
    for (x, y, p) in glyph.enumerate_pixels() {
        let (cx, cy) = (left + x as i64, top + y as i64);
        if (0..size as i64).contains(&cx) && (0..size as i64).contains(&cy) {
            canvas.put_pixel(cx as u32, cy as u32, *p);
        }
    }
    canvas
}

/// The image as the network's input, `[C, H, W]` floats in `[0, 1]`.
pub fn preprocess(
    img: &DynamicImage,
    recipe: Preprocess,
    channels: i64,
    height: i64,
    width: i64,
) -> Result<Tensor> {
    let (h, w) = (height as u32, width as u32);
    let grey_input = |g: GrayImage| {
        Tensor::from_slice(g.as_raw()).view([1, height, width]).to_kind(Kind::Float) / 255.0
    };
    match recipe {
        Preprocess::Digit | Preprocess::Object => {
            let ink = ink(img)?;
            let (x, y, bw, bh) = bounding_box(&ink).context("no ink found")?;
            let cropped = image::imageops::crop_imm(&ink, x, y, bw, bh).to_image();
            if recipe == Preprocess::Object {
                let glyph = fit(&cropped, h.min(w));
                let (left, top) = ((w - glyph.width()) / 2, (h - glyph.height()) / 2);
                return Ok(grey_input(paste(&glyph, w, left as i64, top as i64)));
            }
            // MNIST: the digit fitted into 20x20, then placed so its centre of mass is at the
            // centre of the 28x28 frame.
            let glyph = fit(&cropped, 20);
            let (mut mass, mut mx, mut my) = (0.0, 0.0, 0.0);
            for (x, y, p) in glyph.enumerate_pixels() {
                let m = p[0] as f64;
                (mass, mx, my) = (mass + m, mx + m * x as f64, my + m * y as f64);
            }
            let (cx, cy) = (mx / mass.max(1e-9), my / mass.max(1e-9));
            let (left, top) = ((14.0 - cx).round() as i64, (14.0 - cy).round() as i64);
            Ok(grey_input(paste(&glyph, 28, left, top)))
        }
        Preprocess::Plain => {
            let resized = img.resize_exact(w, h, FilterType::Triangle);
            if channels == 1 {
                Ok(grey_input(resized.to_luma8()))
            } else {
                let rgb = resized.to_rgb8();
                Ok(Tensor::from_slice(rgb.as_raw())
                    .view([height, width, 3])
                    .permute([2, 0, 1])
                    .to_kind(Kind::Float)
                    / 255.0)
            }
        }
    }
}
