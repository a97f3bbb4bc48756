//! Neural style transfer (Gatys, Ecker & Bethge, 2015): start from the photo (or noise) and
//! change its pixels, with the network fixed, until its deep features match the photo's and
//! its feature correlations match the painting's.

use crate::data;
use crate::loss::{self, Terms};
use crate::model::Vgg19;
use anyhow::{bail, ensure, Result};
use dl_core::optim::{Lbfgs, LbfgsConfig, LbfgsMeta, LineSearch, Optimizer, OptimizerConfig};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// How the image is optimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// L-BFGS with a strong-Wolfe line search, as in the paper.
    Lbfgs,
    /// Adam: cheaper iterations, more of them.
    Adam,
}

/// Where the optimisation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
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

/// Where an optimisation stands besides its image and tensors: what a checkpoint records so
/// that a resumed run goes on exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Iterations done.
    pub iteration: usize,
    /// Loss evaluations done (an L-BFGS iteration may take several).
    pub evaluations: usize,
    /// Whether L-BFGS has converged (further iterations would change nothing).
    pub converged: bool,
    /// L-BFGS's scalar state (its tensors are [`Optimisation::state_tensors`]).
    pub lbfgs: Option<LbfgsMeta>,
}

/// The method's own state.
enum Stepper {
    Lbfgs(Lbfgs),
    Adam(Optimizer),
}

/// An optimisation of the image in progress, one [`Optimisation::step`] per iteration; its
/// whole state can be saved and restored, so a run can stop and resume exactly.
pub struct Optimisation {
    /// The image being optimised, `[1, 3, h, w]`, as the store's one variable, `image` (read
    /// it through [`Optimisation::store`]).
    vs: VarStore,
    image: Tensor,
    stepper: Stepper,
    /// Iterations and evaluations so far.
    pub position: Position,
}

impl Optimisation {
    /// Starts from the photo or from noise (seeded by the settings), as the settings say.
    pub fn new(s: &Settings, content: &Tensor) -> Result<Self> {
        ensure!(s.iterations > 0, "--iterations must be at least 1");
        ensure!(s.lr > 0.0 && s.lr.is_finite(), "the learning rate must be positive, got {}", s.lr);
        let start = match s.init {
            Init::Content => content.copy(),
            Init::Noise => {
                tch::manual_seed(s.seed);
                Tensor::rand_like(content)
            }
        };
        let vs = VarStore::new(content.device());
        let (image, stepper) = match s.optimizer {
            Method::Lbfgs => {
                // L-BFGS moves the point itself, a tensor of the photo's own memory layout (so
                // the convolutions round as they always did); the store's variable only carries
                // it in and out of checkpoints (see `Optimisation::store`).
                let _ = vs.root().zeros_no_train("image", &start.size());
                let config = LbfgsConfig {
                    lr: s.lr,
                    history: s.history,
                    line_search: LineSearch::StrongWolfe,
                    ..LbfgsConfig::default()
                };
                (start, Stepper::Lbfgs(Lbfgs::new(config)?))
            }
            Method::Adam => {
                let image = vs.root().var_copy("image", &start);
                let adam = Optimizer::new(OptimizerConfig::adam(s.lr), &vs)?;
                (image, Stepper::Adam(adam))
            }
        };
        Ok(Optimisation { vs, image, stepper, position: Position::default() })
    }

    /// Whether it is over: all iterations done, or L-BFGS converged.
    pub fn done(&self, s: &Settings) -> bool {
        self.position.iteration >= s.iterations || self.position.converged
    }

    /// The image as it is now (not clamped).
    pub fn image(&self) -> Tensor {
        self.image.detach()
    }

    /// The result: the image clamped to 0..1, with the photo's colours if asked for.
    pub fn result(&self, s: &Settings, content: &Tensor) -> Tensor {
        let image = self.image().clamp(0.0, 1.0);
        if s.preserve_colors {
            data::keep_colors(&image, content)
        } else {
            image
        }
    }

    /// One iteration. Returns its record (the weighted loss terms at the new image).
    pub fn step(&mut self, vgg: &Vgg19, s: &Settings, targets: &Targets) -> Result<Iteration> {
        let losses = match &mut self.stepper {
            Stepper::Lbfgs(lbfgs) => {
                let last = RefCell::new([0.0; 4]);
                let mut objective = |x: &Tensor| -> dl_core::Result<(f64, Tensor)> {
                    let x = x.detach().set_requires_grad(true);
                    let terms = targets
                        .terms(vgg, s, &x)
                        .map_err(|e| dl_core::Error::Config(e.to_string()))?;
                    let total = terms.total();
                    total.backward();
                    *last.borrow_mut() = terms.values();
                    Ok((total.double_value(&[]), x.grad()))
                };
                let report = lbfgs.step(&mut self.image, &mut objective)?;
                self.position.evaluations += report.evaluations;
                if let Some(why) = report.converged {
                    tracing::info!(
                        "L-BFGS converged after {} iterations ({why:?})",
                        self.position.iteration + 1
                    );
                    self.position.converged = true;
                }
                // The terms of the last evaluation are those of the accepted point, except
                // after a line search that fell back to an earlier trial: recompute then.
                let last = *last.borrow();
                if (last[3] - report.loss).abs() <= 1e-6 * report.loss.abs() {
                    last
                } else {
                    tch::no_grad(|| targets.terms(vgg, s, &self.image))?.values()
                }
            }
            Stepper::Adam(adam) => {
                adam.zero_grad();
                let terms = targets.terms(vgg, s, &self.image)?;
                terms.total().backward();
                adam.step();
                tch::no_grad(|| {
                    let _ = self.image.shallow_clone().clamp_(0.0, 1.0);
                });
                self.position.evaluations += 1;
                terms.values()
            }
        };
        self.position.iteration += 1;
        let p = &self.position;
        Ok(Iteration { iteration: p.iteration, evaluations: p.evaluations, losses })
    }

    /// The variable store with the image as it is now, to checkpoint.
    pub fn store(&self) -> &VarStore {
        if let Stepper::Lbfgs(_) = self.stepper {
            let mut variable = self.vs.variables()["image"].shallow_clone();
            tch::no_grad(|| variable.copy_(&self.image));
        }
        &self.vs
    }

    /// The image's variable store and Adam (when the image is optimised with it), to restore
    /// them from a checkpoint (then [`Optimisation::restore`] the rest).
    pub fn parts_mut(&mut self) -> (&mut VarStore, Option<&mut Optimizer>) {
        let adam = match &mut self.stepper {
            Stepper::Adam(adam) => Some(adam),
            Stepper::Lbfgs(_) => None,
        };
        (&mut self.vs, adam)
    }

    /// Adam, when the image is optimised with it (its state is saved with the checkpoint).
    pub fn optimizer(&self) -> Option<&Optimizer> {
        match &self.stepper {
            Stepper::Adam(adam) => Some(adam),
            Stepper::Lbfgs(_) => None,
        }
    }

    /// The position to save, with L-BFGS's scalar state.
    pub fn saved_position(&self) -> Position {
        let lbfgs = match &self.stepper {
            Stepper::Lbfgs(lbfgs) => Some(lbfgs.meta()),
            Stepper::Adam(_) => None,
        };
        Position { lbfgs, ..self.position.clone() }
    }

    /// L-BFGS's history, to save as state tensors (none with Adam).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        match &self.stepper {
            Stepper::Lbfgs(lbfgs) => lbfgs.state_tensors(),
            Stepper::Adam(_) => Vec::new(),
        }
    }

    /// Restores what [`Optimisation::saved_position`] and [`Optimisation::state_tensors`]
    /// saved (the image and Adam come back with the variable store and optimizer).
    pub fn restore(
        &mut self,
        position: Position,
        tensors: &BTreeMap<String, Tensor>,
    ) -> Result<()> {
        let device = self.image.device();
        if let (Stepper::Lbfgs(lbfgs), Some(meta)) = (&mut self.stepper, &position.lbfgs) {
            // Saved tensors come back contiguous; the history is laid out as the image is (the
            // photo's layout), so that every sum over it adds in the order it always did.
            let like_image = |t: &Tensor| {
                let mut out = self.image.empty_like();
                tch::no_grad(|| out.copy_(&t.to_device(device)));
                out
            };
            let restored = tensors.iter().map(|(n, t)| (n.clone(), like_image(t))).collect();
            lbfgs.load_state(meta, &restored)?;
            let restored = &self.vs.variables()["image"];
            tch::no_grad(|| self.image.copy_(restored));
        }
        self.position = Position { lbfgs: None, ..position };
        Ok(())
    }
}
