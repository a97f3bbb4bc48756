//! `cnn-classifier`: train, evaluate and use convolutional image classifiers.
//! See the crate's README for the paper, the data, the commands and the measured results.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use cnn_classifier::infer::{Classifier, Preprocess};
use cnn_classifier::model::ModelKind;
use cnn_classifier::train::{self, RunOptions, TrainConfig};
use cnn_classifier::{bench, report};
use harness::cli::{DeviceArg, OptimizerArgs, RunArgs};
use serde::Serialize;
use std::path::PathBuf;

/// Convolutional image classifiers on MNIST, Fashion-MNIST, CIFAR-10 or your own images.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network; writes a run directory with config, metrics, checkpoints and plots.
    Train(Box<TrainArgs>),
    /// Accuracy, per-class accuracy and the confusion matrix (printed and saved as a PNG).
    Eval {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Which split of the checkpoint's dataset: test or train.
        #[arg(long, default_value = "test")]
        split: datasets::Split,
        /// Where to save the confusion matrix (default: confusion-<split>.png in the run
        /// directory; NAME-confusion-<split>.png here for a shipped model).
        #[arg(long, value_name = "FILE.png")]
        png: Option<PathBuf>,
        /// Also write the accuracy (%) and loss as JSON to this file.
        #[arg(long, value_name = "FILE.json")]
        metrics_json: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The trained models that ship with the workspace, with their cards' numbers.
    Models,
    /// Classify images (any PNG/JPEG, any size or colour): the top classes with probabilities.
    Predict {
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// How many classes to show per image.
        #[arg(long, default_value_t = 3)]
        top: usize,
        /// How to bring images to the network's input [default: digit for mnist, object for
        /// fashion-mnist, plain otherwise].
        #[arg(long, value_enum)]
        preprocess: Option<Preprocess>,
        #[command(flatten)]
        common: Common,
    },
    /// Save the first convolution's filters as a PNG grid.
    Filters {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// The PNG to write.
        #[arg(long, value_name = "FILE.png")]
        png: PathBuf,
    },
    /// The demo tour: the shipped `mnist` model reads three photographed digits and one drawn
    /// on the spot, and shows its first-layer filters (outputs in runs/demo/).
    Demo {
        /// Train a network from scratch first (for `--epochs`), as before models shipped.
        #[arg(long)]
        train: bool,
        /// Epochs to train with `--train`.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Time the PyTorch MNIST example's training step (cnn, batch 64, Adadelta) on synthetic data.
    Bench {
        #[command(flatten)]
        device: DeviceArg,
        /// libtorch CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// Untimed warm-up steps.
        #[arg(long, default_value_t = 10)]
        warmup: u32,
        /// Timed steps.
        #[arg(long, default_value_t = 100)]
        steps: u32,
        /// fp32, or bf16 (the forward pass under libtorch's autocast).
        #[arg(long, default_value = "fp32", value_parser = harness::cli::parse_precision)]
        precision: dl_core::precision::Precision,
    },
}

/// Flags of the inference commands.
#[derive(clap::Args)]
struct Common {
    #[command(flatten)]
    device: DeviceArg,
    /// Directory datasets are cached in.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Training flags; each overrides the `--config` file, which overrides the defaults.
#[derive(clap::Args, Serialize)]
struct TrainArgs {
    /// mnist, fashion-mnist, cifar10, folder:PATH or h5:FILE [default: mnist].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset: Option<String>,
    /// The network [default: cnn].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<ModelKind>,
    /// Passes over the training set [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<u64>,
    /// Examples per step [default: 64].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<usize>,
    /// Training examples held out for validation [default: 5000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_size: Option<usize>,
    /// Random small rotations, scalings, shifts (and flips for clothes and objects); on by
    /// default for MNIST, `--augment false` turns it off.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    augment: Option<bool>,
    /// Optimizer and its settings.
    #[command(flatten)]
    #[serde(skip_serializing_if = "OptimizerArgs::is_empty")]
    optimizer: OptimizerArgs,
    /// Learning-rate schedule.
    #[command(flatten)]
    #[serde(skip_serializing_if = "ScheduleArgs::is_empty")]
    schedule: ScheduleArgs,
    #[command(flatten)]
    #[serde(skip)]
    run: RunArgs,
    /// Directory datasets are cached in.
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args, Serialize, Default)]
struct ScheduleArgs {
    /// step (rate times --gamma each epoch), cosine or constant [default: step; cosine for
    /// fashion-mnist].
    #[arg(long = "schedule", id = "schedule_name", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Factor per epoch of the step schedule [default: 0.7].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    gamma: Option<f64>,
    /// Warm-up epochs of the cosine schedule.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    warmup_epochs: Option<u64>,
}

impl ScheduleArgs {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.gamma.is_none() && self.warmup_epochs.is_none()
    }
}

fn main() {
    harness::cli::main(run);
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => {
            let common = &args.run;
            harness::cli::init(common.quiet);
            let overrides = common.overrides(&args);
            // The dataset picks the defaults.
            let config = harness::config::resolve_chosen(
                &TrainConfig::default(),
                common.config.as_deref(),
                &overrides,
                |chosen: &TrainConfig| Ok(TrainConfig::defaults_for(&chosen.dataset)),
            )?;
            if common.printed(&config)? {
                return Ok(());
            }
            let data_dir = datasets::fetch::data_dir(args.data_dir.as_deref());
            train::train(config, &common.options()?, &data_dir)?;
        }
        Command::Models => print!("{}", harness::models::table(cnn_classifier::APP)?),
        Command::Eval { checkpoint, split, png, metrics_json, common } => {
            harness::cli::init(false);
            let device = common.device.resolve()?;
            let trained = Classifier::load(&checkpoint, device)?;
            let source: cnn_classifier::data::Source = trained.config.dataset.parse()?;
            let data_dir = datasets::fetch::data_dir(common.data_dir.as_deref());
            let data =
                cnn_classifier::data::Data::load(&source, &data_dir, trained.config.valid_size)?;
            let set = match split {
                datasets::Split::Test => &data.test,
                datasets::Split::Train => &data.train,
            };
            let eval = train::evaluate(
                &trained.net,
                set,
                &trained.info.norm,
                trained.config.eval_batch_size,
                device,
            )?;
            report::print_evaluation(&eval, &trained.info.classes);
            if let Some(path) = metrics_json {
                let metrics = [("accuracy", 100.0 * eval.accuracy), ("loss", eval.loss)];
                harness::models::write_metrics(&path, &metrics)?;
            }
            let png = png.unwrap_or_else(|| match checkpoint.exists() {
                true => run_dir_of(&checkpoint).join(format!("confusion-{split}.png")),
                false => PathBuf::from(format!("{}-confusion-{split}.png", checkpoint.display())),
            });
            let title = format!(
                "{} {} on {} {split}: {:.2}%",
                trained.config.model,
                "confusion",
                trained.config.dataset,
                100.0 * eval.accuracy
            );
            report::save_confusion(&eval, &trained.info.classes, &title, &png)?;
            println!("wrote {}", png.display());
        }
        Command::Predict { images, checkpoint, top, preprocess, common } => {
            harness::cli::init(false);
            let device = common.device.resolve()?;
            let trained = Classifier::load(&checkpoint, device)?;
            let mut failed = 0;
            for image in &images {
                match trained.predict_file(image, preprocess, top) {
                    Ok(ranked) => {
                        let shown: Vec<String> = ranked
                            .iter()
                            .map(|(c, p)| format!("{c} ({:.1}%)", 100.0 * p))
                            .collect();
                        println!("{}: {}", image.display(), shown.join(", "));
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("{}: error: {e:#}", image.display());
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} images could not be classified", images.len());
            }
        }
        Command::Filters { checkpoint, png } => {
            harness::cli::init(false);
            let trained = Classifier::load(&checkpoint, tch::Device::Cpu)?;
            let n = report::save_filters(&trained, &png)?;
            println!("wrote {} ({n} filters of the first convolution)", png.display());
        }
        Command::Demo { train, epochs, device } => {
            harness::cli::init(false);
            let device = device.resolve()?;
            let (trained, out) = if train {
                let config = TrainConfig { epochs, ..TrainConfig::default() };
                let data_dir = datasets::fetch::data_dir(None);
                let summary = train::train(config, &RunOptions::new(device), &data_dir)?;
                (Classifier::load(&summary.dir, device)?, summary.dir)
            } else {
                let Some(card) = harness::models::for_demo(cnn_classifier::APP, "mnist")? else {
                    return Ok(());
                };
                println!("the shipped model `mnist`: {}", card.summary);
                (Classifier::load(&card.checkpoint_path(), device)?, harness::models::demo_dir()?)
            };
            let show = |ranked: Vec<(String, f64)>| -> String {
                let shown: Vec<String> =
                    ranked.iter().map(|(c, p)| format!("{c} ({:.1}%)", 100.0 * p)).collect();
                shown.join(", ")
            };
            for (name, bytes) in cnn_classifier::DEMO_DIGITS {
                let img =
                    image::load_from_memory(bytes).with_context(|| format!("embedded {name}"))?;
                println!(
                    "photographed, examples/{name}: {}",
                    show(trained.predict(&img, None, 3)?)
                );
            }
            let drawn = cnn_classifier::demo::drawn_digit(&cnn_classifier::demo::SEVEN, 160);
            let drawn_png = out.join("drawn-7.png");
            drawn
                .save(&drawn_png)
                .with_context(|| format!("cannot write {}", drawn_png.display()))?;
            let ranked = trained.predict(&image::DynamicImage::ImageRgb8(drawn), None, 3)?;
            println!("a 7 drawn just now, {}: {}", drawn_png.display(), show(ranked));
            let png = out.join("filters.png");
            report::save_filters(&trained, &png)?;
            println!("first-layer filters in {}", png.display());
        }
        Command::Bench { device, threads, warmup, steps, precision } => {
            harness::cli::init(false);
            anyhow::ensure!(threads > 0 && steps > 0, "--threads and --steps must be at least 1");
            let device = device.resolve()?;
            let (inference, training) = bench::run(device, threads, warmup, steps, precision)
                .context("benchmark failed")?;
            println!(
                "inference: {inference:.0} images/s at batch {} on {device:?}, {threads} threads, {precision}",
                bench::INFERENCE_BATCH
            );
            let ceiling = dl_core::perf::matmul_gflops(device, precision.compute_kind());
            let flops = training * bench::TRAIN_FLOPS_PER_IMAGE;
            println!("achieved: {}", dl_core::perf::achieved(flops, ceiling, precision.name()));
            println!("bench: app=cnn-classifier metric=train_images_per_s value={training:.1} unit=images/s precision={precision}");
        }
    }
    Ok(())
}

/// The run directory a checkpoint path belongs to (the directory itself if one was given).
fn run_dir_of(checkpoint: &std::path::Path) -> PathBuf {
    if checkpoint.is_dir() {
        return checkpoint.to_path_buf();
    }
    let parent = checkpoint.parent().unwrap_or(std::path::Path::new("."));
    match parent.file_name() {
        Some(name) if name == "checkpoints" => parent.parent().unwrap_or(parent).to_path_buf(),
        _ => parent.to_path_buf(),
    }
}
