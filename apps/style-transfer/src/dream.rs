//! DeepDream (Mordvintsev, Olah & Tyka, 2015): change the photo to make one layer's activations
//! stronger, by gradient ascent on their mean square, so that what the layer faintly sees
//! becomes what is there. Done at several scales (octaves: small first, the detail it adds
//! carried up to the next), with the image shifted by a random jitter each step so the
//! patterns do not lock onto the pixel grid.

use crate::model::Vgg19;
use anyhow::{ensure, Result};
use serde::Serialize;
use std::ops::ControlFlow;
use tch::{Kind, Tensor};

/// DeepDream's options.
#[derive(Clone, Debug, Serialize)]
pub struct DreamSettings {
    /// The layer whose activations are amplified.
    pub layer: String,
    /// Number of scales.
    pub octaves: usize,
    /// Ratio between successive scales.
    pub octave_scale: f64,
    /// Gradient-ascent steps per octave.
    pub steps: usize,
    /// Step size, in units of the mean absolute gradient, on 0..1 pixels.
    pub lr: f64,
    /// Largest random shift in pixels.
    pub jitter: i64,
    /// Seed of the jitter.
    pub seed: i64,
}

fn resize(image: &Tensor, h: i64, w: i64) -> Tensor {
    image.upsample_bilinear2d([h, w], false, None, None)
}

/// Dreams on `image` (`[1, 3, h, w]` in 0..1). After every step, `each(octave, step,
/// objective, image)` sees the image so far (at that octave's scale); returning `Break` stops
/// there, and the image so far comes back at the original size.
pub fn dream(
    vgg: &Vgg19,
    d: &DreamSettings,
    image: &Tensor,
    mut each: impl FnMut(usize, usize, f64, &Tensor) -> ControlFlow<()>,
) -> Result<Tensor> {
    ensure!(d.octaves >= 1 && d.steps >= 1, "--octaves and --steps must be at least 1");
    ensure!(d.octave_scale > 1.0, "--octave-scale must be above 1, got {}", d.octave_scale);
    ensure!(d.lr > 0.0 && d.lr.is_finite(), "--lr must be positive, got {}", d.lr);
    Vgg19::check_layers(std::slice::from_ref(&d.layer))?;
    let (_, _, h, w) = image.size4()?;
    let sizes: Vec<(i64, i64)> = (0..d.octaves)
        .rev()
        .map(|o| {
            let f = d.octave_scale.powi(o as i32);
            (((h as f64 / f).round() as i64).max(16), ((w as f64 / f).round() as i64).max(16))
        })
        .collect();
    tch::manual_seed(d.seed);
    let layers = [d.layer.clone()];
    let mut detail = Tensor::zeros_like(&resize(image, sizes[0].0, sizes[0].1));
    let mut dreamed = image.shallow_clone();
    for (octave, &(oh, ow)) in sizes.iter().enumerate() {
        let base = resize(image, oh, ow);
        let mut x = (&base + resize(&detail, oh, ow)).clamp(0.0, 1.0);
        for step in 0..d.steps {
            let shift = |n: i64| {
                if d.jitter > 0 {
                    (Tensor::randint(2 * d.jitter + 1, [1], (Kind::Int64, tch::Device::Cpu))
                        .int64_value(&[0])
                        - d.jitter)
                        % n.max(1)
                } else {
                    0
                }
            };
            let (dy, dx) = (shift(oh), shift(ow));
            let shifted = x.roll([dy, dx], [2, 3]).detach().set_requires_grad(true);
            let activations = vgg.features(&shifted, &layers)?.remove(0);
            let objective = activations.square().mean(Kind::Float);
            objective.backward();
            let grad = shifted.grad().roll([-dy, -dx], [2, 3]);
            let grad = &grad / (grad.abs().mean(Kind::Float) + 1e-8);
            x = (x + grad * d.lr).clamp(0.0, 1.0).detach();
            if each(octave, step, objective.double_value(&[]), &x).is_break() {
                return Ok(resize(&x, h, w).clamp(0.0, 1.0));
            }
        }
        detail = &x - &base;
        dreamed = x;
    }
    Ok(dreamed)
}
