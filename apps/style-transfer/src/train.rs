//! A style-transfer run: the image is what is trained. The run directory holds the
//! configuration, every iteration's losses, checkpoints of the image and of the optimizer
//! (Adam's moments, or L-BFGS's history), frames and the result, so that `--resume` goes on
//! exactly where the run stopped.

use crate::infer::load_vgg;
use crate::model::{Pooling, Vgg19};
use crate::transfer::{self, Init, Method, Optimisation, Settings, Targets};
use crate::{data, APP};
use anyhow::{bail, Context, Result};
use harness::plot::{self, Series};
use harness::session::{Goal, Session, State, TrainingConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Tensor;

/// Options of a run besides its configuration (shared by every app).
pub use harness::run::RunOptions;

/// Everything that defines a run (saved as `config.toml` in the run directory). The defaults
/// are Gatys et al.'s method as Johnson's neural-style runs it: L-BFGS from the photo, 512 px.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StyleConfig {
    /// The photo: an image file, or a vendored picture by name.
    pub content: String,
    /// Style images, each optionally with a blend weight (`IMG:WEIGHT`).
    pub styles: Vec<String>,
    /// Longest side of the images, in pixels.
    pub size: u32,
    /// Weight of the content loss.
    pub content_weight: f64,
    /// Weight of the style loss.
    pub style_weight: f64,
    /// Weight of the total-variation loss.
    pub tv_weight: f64,
    /// `lbfgs` (the paper's) or `adam`.
    pub optimizer: Method,
    /// Adam's learning rate (0..1 pixels), or L-BFGS's step [default: 0.02 for Adam, 1 for
    /// L-BFGS].
    pub lr: Option<f64>,
    /// Pairs L-BFGS remembers.
    pub history: usize,
    /// Start from the photo or from noise.
    pub init: Init,
    /// Iterations (an L-BFGS iteration may evaluate the losses more than once).
    pub iterations: usize,
    /// Keep the photo's colours: take only the luminance of the result.
    pub preserve_colors: bool,
    /// Write the image into `frames/` every this many iterations (0: never).
    pub save_every: usize,
    /// Checkpoint the image and the optimizer every this many iterations (L-BFGS's history is
    /// two images per remembered pair: 630 MB at 512 px with 100 pairs).
    pub checkpoint_every: usize,
    /// Content layers (the paper's conv4_2 is relu4_2 here: Caffe's ReLU works in place).
    pub content_layers: Vec<String>,
    /// Style layers.
    pub style_layers: Vec<String>,
    /// Pooling between VGG19's blocks.
    pub pooling: Pooling,
    /// VGG19 weights in safetensors with torchvision's names [default: the ones the datasets
    /// crate fetches].
    pub weights: Option<PathBuf>,
    /// Seed of the noise initialisation.
    pub seed: u64,
}

impl Default for StyleConfig {
    fn default() -> Self {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        StyleConfig {
            content: "astronaut".into(),
            styles: vec!["starry_night".into()],
            size: 512,
            content_weight: 1.0,
            style_weight: 1e3,
            tv_weight: 1e4,
            optimizer: Method::Lbfgs,
            lr: None,
            history: 100,
            init: Init::Content,
            iterations: 150,
            preserve_colors: false,
            save_every: 0,
            checkpoint_every: 25,
            content_layers: names(&["relu4_2"]),
            style_layers: names(&["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]),
            pooling: Pooling::Max,
            weights: None,
            seed: 1,
        }
    }
}

impl TrainingConfig for StyleConfig {
    fn seed(&self) -> u64 {
        self.seed
    }
}

impl StyleConfig {
    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        if !data::SIZES.contains(&self.size) {
            let (lo, hi) = (data::SIZES.start(), data::SIZES.end());
            bail!("--size {} is out of range: use {lo}..={hi} pixels", self.size);
        }
        self.styles()?;
        Vgg19::check_layers(&self.content_layers)?;
        Vgg19::check_layers(&self.style_layers)?;
        for (name, w) in [
            ("--content-weight", self.content_weight),
            ("--style-weight", self.style_weight),
            ("--tv-weight", self.tv_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                bail!("{name} must be a non-negative number, got {w}");
            }
        }
        if self.iterations == 0 || self.checkpoint_every == 0 {
            bail!("--iterations and --checkpoint-every must be at least 1");
        }
        if self.history == 0 && self.optimizer == Method::Lbfgs {
            bail!("--history must be at least 1");
        }
        if let Some(lr) = self.lr.filter(|lr| !(*lr > 0.0 && lr.is_finite())) {
            bail!("--lr must be a positive number, got {lr}");
        }
        Ok(())
    }

    /// The style images and their blend weights, from `IMG` or `IMG:WEIGHT` (the weight after
    /// the last colon, when it is a number).
    pub fn styles(&self) -> Result<Vec<(String, f64)>> {
        if self.styles.is_empty() {
            bail!("at least one --style image is needed");
        }
        let parse = |spec: &String| -> Result<(String, f64)> {
            if let Some((image, weight)) = spec.rsplit_once(':') {
                if let Ok(weight) = weight.parse::<f64>() {
                    if !(weight.is_finite() && weight >= 0.0) {
                        bail!("style weight in {spec:?} must be a non-negative number");
                    }
                    return Ok((image.to_string(), weight));
                }
            }
            Ok((spec.clone(), 1.0))
        };
        self.styles.iter().map(parse).collect()
    }

    /// What the optimisation needs of it.
    pub fn settings(&self) -> Settings {
        Settings {
            content_layers: self.content_layers.clone(),
            style_layers: self.style_layers.clone(),
            content_weight: self.content_weight,
            style_weight: self.style_weight,
            tv_weight: self.tv_weight,
            optimizer: self.optimizer,
            lr: self.lr.unwrap_or(match self.optimizer {
                Method::Lbfgs => 1.0,
                Method::Adam => 0.02,
            }),
            history: self.history,
            init: self.init,
            iterations: self.iterations,
            preserve_colors: self.preserve_colors,
            seed: self.seed as i64,
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The run directory (its `result.png` is the image).
    pub dir: PathBuf,
    /// Iterations done, over every session of the run.
    pub iterations: usize,
    /// Loss evaluations done.
    pub evaluations: usize,
    /// The last iteration's weighted content, style, total-variation and total losses.
    pub losses: [f64; 4],
    /// Seconds this session optimised for.
    pub seconds: f64,
    /// Whether `--max-minutes` stopped it before its last iteration.
    pub stopped_early: bool,
}

/// Runs a transfer: a new run from `config`, or the run in `options.resume` from its last
/// checkpoint. The result is written as `result.png` in the run directory, and to `image` too
/// if given.
pub fn run(config: StyleConfig, options: &RunOptions, image: Option<&Path>) -> Result<Summary> {
    if options.precision != dl_core::precision::Precision::Fp32 {
        anyhow::bail!(
            "--precision {} is not built for style-transfer yet (the other apps have it): use fp32",
            options.precision
        );
    }
    let config = Session::configuration(config, options)?;
    if options.resume.is_none() {
        config.validate()?;
    }
    // Read every image and the network before the long part starts.
    let device = options.device;
    let settings = config.settings();
    let content = data::to_tensor(&data::open(&config.content)?, config.size, device);
    let mut styles: Vec<(Tensor, f64)> = Vec::new();
    for (path, weight) in config.styles()? {
        styles.push((data::to_tensor(&data::open(&path)?, config.size, device), weight));
    }
    let (_, _, h, w) = content.size4()?;
    transfer::check_memory(h, w, &settings, device)?;
    let vgg = load_vgg(config.weights.as_deref(), config.pooling, device)?;
    let targets = Targets::new(&vgg, &settings, &content, &styles)?;

    let mut session = Session::start(APP, config, options, Goal::Min("total"))?;
    let config = session.config().clone();
    let mut optimisation = Optimisation::new(&settings, &content)?;
    let (vs, adam) = optimisation.parts_mut();
    if let Some(saved) = session.restore(vs, adam)? {
        optimisation.restore(saved.values_as()?, &saved.tensors)?;
    }
    tracing::info!(
        "{} x {}: {w}x{h} on {device:?}, {:?}, {} iterations",
        config.content,
        config.styles.join(" + "),
        settings.optimizer,
        settings.iterations
    );

    let started = Instant::now();
    let remaining = settings.iterations.saturating_sub(optimisation.position.iteration);
    let mut progress = session.progress("transfer", remaining as u64, "iterations");
    let mut last = None;
    let mut stopped_early = false;
    while !optimisation.done(&settings) {
        let it = optimisation.step(&vgg, &settings, &targets)?;
        session.advance();
        let [c, s, t, total] = it.losses;
        progress.inc(1, &format!("content {c:.3e} style {s:.3e} tv {t:.3e} total {total:.3e}"));
        if config.save_every > 0 && it.iteration % config.save_every == 0 {
            let frame = optimisation.result(&settings, &content);
            let path = session.dir().join("frames").join(format!("{:05}.png", it.iteration));
            data::save(&frame, &path)?;
        }
        stopped_early = session.expired() && !optimisation.done(&settings);
        let metrics = [
            ("content", c),
            ("style", s),
            ("tv", t),
            ("total", total),
            ("evaluations", it.evaluations as f64),
        ];
        if it.iteration % config.checkpoint_every == 0
            || optimisation.done(&settings)
            || stopped_early
        {
            session.evaluated(optimisation.store(), &metrics, &())?;
            let state = State::default().with_values(&optimisation.saved_position())?;
            let state = optimisation
                .state_tensors()
                .iter()
                .fold(state, |state, (name, tensor)| state.with_tensor(name, tensor));
            session.save_last(optimisation.store(), optimisation.optimizer(), state)?;
        } else {
            session.log(&metrics)?;
        }
        last = Some(it);
        if stopped_early {
            break;
        }
    }
    progress.finish();
    let result = optimisation.result(&settings, &content);
    data::save(&result, &session.dir().join("result.png"))?;
    if let Some(path) = image {
        data::save(&result, path)?;
    }
    loss_chart(session.dir())?;
    let position = &optimisation.position;
    let losses = match last {
        Some(it) => it.losses,
        // Resumed after its last iteration: nothing ran, the log has the last losses.
        None => last_losses(session.dir())?,
    };
    Ok(Summary {
        dir: session.dir().to_path_buf(),
        iterations: position.iteration,
        evaluations: position.evaluations,
        losses,
        seconds: started.elapsed().as_secs_f64(),
        stopped_early,
    })
}

/// The weighted loss terms of the last iteration `metrics.jsonl` records.
fn last_losses(dir: &Path) -> Result<[f64; 4]> {
    let records = harness::metrics::read(&dir.join("metrics.jsonl"))?;
    let last = records.iter().rev().find(|r| r.values.contains_key("total"));
    let value = |name: &str| last.and_then(|r| r.values.get(name)).copied().unwrap_or(f64::NAN);
    Ok(["content", "style", "tv", "total"].map(value))
}

/// `loss.png`: the weighted loss terms against the iteration, on a log scale, from the run's
/// `metrics.jsonl` (every session of it).
fn loss_chart(dir: &Path) -> Result<()> {
    let records = harness::metrics::read(&dir.join("metrics.jsonl"))?;
    let series: Vec<Series> = ["content", "style", "tv", "total"]
        .iter()
        .map(|name| Series {
            name: name.to_string(),
            points: records
                .iter()
                .filter_map(|r| r.values.get(*name).map(|v| (r.step as f64, *v)))
                .filter(|(_, v)| *v > 0.0)
                .map(|(step, v)| (step, v.log10()))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    plot::line_chart(&dir.join("loss.png"), "weighted losses (log10)", "iteration", &series)
        .context("drawing loss.png")?;
    Ok(())
}
