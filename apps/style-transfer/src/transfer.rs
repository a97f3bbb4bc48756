//! Neural style transfer (Gatys, Ecker & Bethge, 2015): start from the photo (or noise) and
//! change its pixels, with the network fixed, until its deep features match the photo's and
//! its feature correlations match the painting's.

use crate::loss::{self, Terms};
use crate::picture;
use crate::vgg::Vgg19;
use anyhow::{bail, ensure, Result};
use dl_core::optim::{Lbfgs, LbfgsConfig, LineSearch, Optimizer, OptimizerConfig};
use serde::Serialize;
use std::cell::RefCell;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// How the image is optimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// L-BFGS with a strong-Wolfe line search, as in the paper.
    Lbfgs,
    /// Adam: cheaper iterations, more of them.
    Adam,
}

/// Where the optimisation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The content photo.
    Content,
    /// Uniform noise (the paper's choice; needs more iterations).
    Noise,
}

/// Everything that decides the result.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Layers whose activations the content loss compares.
    pub content_layers: Vec<String>,
    /// Layers whose Gram matrices the style loss compares.
    pub style_layers: Vec<String>,
    /// Weight of the content loss.
    pub content_weight: f64,
    /// Weight of the style loss.
    pub style_weight: f64,
    /// Weight of the total-variation loss.
    pub tv_weight: f64,
    /// Optimiser.
    pub optimizer: Method,
    /// Adam's learning rate (on 0..1 pixels), or L-BFGS's step length.
    pub lr: f64,
    /// Pairs L-BFGS remembers.
    pub history: usize,
    /// Starting image.
    pub init: Init,
    /// Iterations (L-BFGS iterations may take several evaluations each).
    pub iterations: usize,
    /// Keep the photo's colours: only luminance comes from the optimised image.
    pub preserve_colors: bool,
    /// Seed of the noise initialisation.
    pub seed: i64,
}

/// The fixed targets of one transfer: the photo's features and the blended Gram matrices.
pub struct Targets {
    content: Vec<Tensor>,
    grams: Vec<Tensor>,
}

impl Targets {
    /// Computes the targets from the content image and `(style image, weight)` pairs; the
    /// Gram matrices of several styles are averaged with their weights (normalised to sum 1).
    pub fn new(
        vgg: &Vgg19,
        s: &Settings,
        content: &Tensor,
        styles: &[(Tensor, f64)],
    ) -> Result<Self> {
        ensure!(!styles.is_empty(), "at least one style image is needed");
        let total: f64 = styles.iter().map(|(_, w)| w).sum();
        ensure!(
            styles.iter().all(|(_, w)| *w >= 0.0 && w.is_finite()) && total > 0.0,
            "style weights must be non-negative with a positive sum"
        );
        tch::no_grad(|| {
            let content = vgg.features(content, &s.content_layers)?;
            let mut grams: Vec<Tensor> = Vec::new();
            for (image, weight) in styles {
                let features = vgg.features(image, &s.style_layers)?;
                for (i, f) in features.iter().enumerate() {
                    let g = loss::gram(f) * (weight / total);
                    match grams.get_mut(i) {
                        Some(sum) => *sum += g,
                        None => grams.push(g),
                    }
                }
            }
            Ok(Targets { content, grams })
        })
    }

    /// The weighted loss terms of `image` (which should require gradients to optimise it).
    pub fn terms(&self, vgg: &Vgg19, s: &Settings, image: &Tensor) -> Result<Terms> {
        let layers: Vec<String> = s.content_layers.iter().chain(&s.style_layers).cloned().collect();
        let features = vgg.features(image, &layers)?;
        let (content_f, style_f) = features.split_at(s.content_layers.len());
        let mean = |losses: Vec<Tensor>| Tensor::stack(&losses, 0).mean(Kind::Float);
        let content =
            mean(content_f.iter().zip(&self.content).map(|(f, p)| loss::mse(f, p)).collect());
        let style = mean(
            style_f.iter().zip(&self.grams).map(|(f, a)| loss::mse(&loss::gram(f), a)).collect(),
        );
        Ok(Terms {
            content: content * s.content_weight,
            style: style * s.style_weight,
            tv: loss::total_variation(image) * s.tv_weight,
        })
    }
}

/// The record of one iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iteration {
    /// 1-based iteration number.
    pub iteration: usize,
    /// Objective evaluations (forward and backward passes) so far.
    pub evaluations: usize,
    /// Weighted content, style, TV and total loss at the new image.
    pub losses: [f64; 4],
}

/// Bytes a transfer of an `h x w` image needs, roughly: activations and their gradients
/// through VGG19 up to conv5_1 (about 5 kB per pixel), plus L-BFGS's history (two images per
/// remembered pair). Measured peak at 512 px on the CPU: see the README.
pub fn memory_estimate(h: i64, w: i64, s: &Settings) -> f64 {
    let pixels = (h * w) as f64;
    let history = match s.optimizer {
        Method::Lbfgs => 2.0 * s.history as f64 * 3.0 * 4.0,
        Method::Adam => 2.0 * 3.0 * 4.0,
    };
    pixels * (5000.0 + history)
}

/// Refuses an image size that would not fit in the memory available (on the CPU: what the
/// kernel reports as available; on CUDA the check is left to the allocator).
pub fn check_memory(h: i64, w: i64, s: &Settings, device: Device) -> Result<()> {
    let need = memory_estimate(h, w, s);
    if device == Device::Cpu {
        if let Some(available) = available_memory() {
            if need > available {
                bail!(
                    "a {w}x{h} image needs about {:.1} GB and {:.1} GB is available: choose a smaller --size{}",
                    need / 1e9,
                    available / 1e9,
                    if s.optimizer == Method::Lbfgs { " or a shorter --history" } else { "" }
                );
            }
        }
    }
    Ok(())
}

fn available_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Runs the optimisation from `init`; calls `each` after every iteration with the record and
/// the current image. Returns the final image (colours preserved if asked, clamped to 0..1).
pub fn optimise(
    vgg: &Vgg19,
    s: &Settings,
    targets: &Targets,
    content: &Tensor,
    mut each: impl FnMut(&Iteration, &Tensor) -> Result<()>,
) -> Result<Tensor> {
    ensure!(s.iterations > 0, "--iterations must be at least 1");
    ensure!(s.lr > 0.0 && s.lr.is_finite(), "the learning rate must be positive, got {}", s.lr);
    let start = match s.init {
        Init::Content => content.copy(),
        Init::Noise => {
            tch::manual_seed(s.seed);
            Tensor::rand_like(content)
        }
    };
    let image = match s.optimizer {
        Method::Lbfgs => {
            let last = RefCell::new([0.0; 4]);
            let mut objective = |x: &Tensor| -> dl_core::Result<(f64, Tensor)> {
                let x = x.detach().set_requires_grad(true);
                let terms =
                    targets.terms(vgg, s, &x).map_err(|e| dl_core::Error::Config(e.to_string()))?;
                let total = terms.total();
                total.backward();
                *last.borrow_mut() = terms.values();
                Ok((total.double_value(&[]), x.grad()))
            };
            let config = LbfgsConfig {
                lr: s.lr,
                history: s.history,
                line_search: LineSearch::StrongWolfe,
                ..LbfgsConfig::default()
            };
            let mut lbfgs = Lbfgs::new(config)?;
            let mut x = start;
            let mut evaluations = 0;
            for iteration in 1..=s.iterations {
                let report = lbfgs.step(&mut x, &mut objective)?;
                evaluations += report.evaluations;
                // The terms of the last evaluation are those of the accepted point, except
                // after a line search that fell back to an earlier trial: recompute then.
                let losses = if (last.borrow()[3] - report.loss).abs() <= 1e-6 * report.loss.abs() {
                    *last.borrow()
                } else {
                    tch::no_grad(|| targets.terms(vgg, s, &x))?.values()
                };
                each(&Iteration { iteration, evaluations, losses }, &x)?;
                if let Some(why) = report.converged {
                    tracing::info!("L-BFGS converged after {iteration} iterations ({why:?})");
                    break;
                }
            }
            x
        }
        Method::Adam => {
            let vs = VarStore::new(content.device());
            let x = vs.root().var_copy("image", &start);
            let mut adam = Optimizer::new(OptimizerConfig::adam(s.lr), &vs)?;
            for iteration in 1..=s.iterations {
                adam.zero_grad();
                let terms = targets.terms(vgg, s, &x)?;
                terms.total().backward();
                adam.step();
                tch::no_grad(|| {
                    let _ = x.shallow_clone().clamp_(0.0, 1.0);
                });
                let losses = terms.values();
                each(&Iteration { iteration, evaluations: iteration, losses }, &x)?;
            }
            x.detach()
        }
    };
    let image = image.clamp(0.0, 1.0);
    Ok(if s.preserve_colors { picture::keep_colors(&image, content) } else { image })
}
