//! `style-transfer`: repaint a photo in the style of paintings, or dream on it, with VGG19.
//! See the crate's README for the method, the commands and the measured results.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use harness::cli::DeviceArg;
use harness::plot::{self, Axis};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use style_transfer::dream::{self, DreamSettings};
use style_transfer::model::{Pooling, Vgg19};
use style_transfer::train::{self, RunOptions, StyleConfig};
use style_transfer::transfer::{Init, Method};
use style_transfer::{bench, data, infer};
use tch::{Kind, Tensor};

/// Neural style transfer (Gatys et al., 2015) and DeepDream on the pretrained VGG19.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Repaint the content photo in the style of one or more images.
    Run(Box<StyleArgs>),
    /// DeepDream: amplify what one layer sees in a photo, at several scales.
    Dream(Box<DreamArgs>),
    /// Check that the weights are real: the first layer's filters as a picture, and how the
    /// trained network's activations on a photo differ from a random network's.
    Inspect {
        /// Photo to look at.
        #[arg(long, default_value = "astronaut")]
        image: String,
        /// Folder to write `filters.png`, `filters-random.png` and `activations.png` into.
        #[arg(long, default_value = "runs/style-transfer/inspect")]
        out_dir: PathBuf,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Draw a logged loss of several runs against minutes (or iterations) into one chart, on a
    /// log scale.
    Curves {
        /// Run directories (each series is named after its directory).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The loss to draw: total, content, style or tv (weighted).
        #[arg(long, default_value = "total")]
        metric: String,
        /// Against iterations instead of minutes.
        #[arg(long)]
        iterations: bool,
        /// The PNG (or SVG) to write.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
    },
    /// The demo tour: a quick transfer of Starry Night onto the astronaut at 256 px (no trained
    /// model needed: VGG19 is fetched, the image is optimised).
    Demo {
        /// Longest side of the image.
        #[arg(long, default_value_t = 256)]
        size: u32,
        /// L-BFGS iterations.
        #[arg(long, default_value_t = 30)]
        iterations: usize,
        /// Also write the image here (the run directory gets its result.png).
        #[arg(long, value_name = "FILE.png", default_value = "runs/demo/styled.png")]
        image: PathBuf,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Time a fixed iteration (random VGG19, Adam on a 256x256 image).
    Bench {
        #[command(flatten)]
        device: DeviceArg,
        /// libtorch CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// Side of the square image.
        #[arg(long, default_value_t = 256)]
        size: i64,
        /// Untimed warm-up iterations.
        #[arg(long, default_value_t = 2)]
        warmup: u32,
        /// Timed iterations.
        #[arg(long, default_value_t = 10)]
        iterations: u32,
    },
}

/// The network: weights, pooling, device.
#[derive(Clone, Debug, clap::Args)]
struct NetArgs {
    /// VGG19 weights in safetensors with torchvision's names [default: fetched by the
    /// datasets crate, as `datasets fetch vgg19` does].
    #[arg(long, value_name = "FILE.safetensors")]
    weights: Option<PathBuf>,
    /// Pooling between blocks.
    #[arg(long, value_enum, default_value = "max")]
    pooling: Pooling,
    #[command(flatten)]
    device: DeviceArg,
}

impl NetArgs {
    fn load(&self) -> Result<Vgg19> {
        infer::load_vgg(self.weights.as_deref(), self.pooling, self.device.resolve()?)
    }
}

/// The flags of `run`; each overrides the `--config` file, which overrides the defaults (see
/// `StyleConfig`, whose documentation each default comes from).
#[derive(clap::Args, Serialize)]
struct StyleArgs {
    /// The photo: an image file, or a vendored picture by name [default: astronaut].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// A style image, optionally with a blend weight (`IMG:WEIGHT`); repeat to blend styles
    /// [default: starry_night].
    #[arg(long = "style", value_name = "IMG[:WEIGHT]")]
    #[serde(rename = "styles", skip_serializing_if = "Vec::is_empty")]
    styles: Vec<String>,
    /// Longest side of the images, in pixels [default: 512].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u32>,
    /// Weight of the content loss [default: 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    content_weight: Option<f64>,
    /// Weight of the style loss [default: 1000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    style_weight: Option<f64>,
    /// Weight of the total-variation loss [default: 10000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    tv_weight: Option<f64>,
    /// lbfgs (the paper's) or adam [default: lbfgs].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    optimizer: Option<Method>,
    /// Adam's learning rate (0..1 pixels) [default 0.02], or L-BFGS's step [default 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    lr: Option<f64>,
    /// Pairs L-BFGS remembers [default: 100].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<usize>,
    /// Start from the photo or from noise [default: content].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    init: Option<Init>,
    /// Iterations (an L-BFGS iteration may evaluate the losses more than once) [default: 150].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    iterations: Option<usize>,
    /// Keep the photo's colours: take only the luminance of the result.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    preserve_colors: bool,
    /// Write the image every N iterations into the run directory's frames/.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    save_every: Option<usize>,
    /// Checkpoint the image and the optimizer every N iterations [default: 25].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint_every: Option<usize>,
    /// Content layers [default: relu4_2; the paper's conv4_2 is relu4_2 here, as Caffe's ReLU
    /// works in place].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    content_layers: Option<Vec<String>>,
    /// Style layers [default: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    style_layers: Option<Vec<String>>,
    /// Pooling between blocks [default: max].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pooling: Option<Pooling>,
    /// VGG19 weights in safetensors with torchvision's names [default: fetched by the
    /// datasets crate, as `datasets fetch vgg19` does].
    #[arg(long, value_name = "FILE.safetensors")]
    #[serde(skip_serializing_if = "Option::is_none")]
    weights: Option<PathBuf>,
    /// Also write the stylised image here (it is always written as result.png in the run
    /// directory).
    #[arg(long, value_name = "FILE.png")]
    #[serde(skip)]
    image: Option<PathBuf>,
    #[command(flatten)]
    #[serde(skip)]
    run: harness::cli::RunArgs,
}

#[derive(clap::Args)]
struct DreamArgs {
    /// The photo: an image file, or a vendored picture by name.
    #[arg(long, default_value = "astronaut")]
    image: String,
    /// The layer whose activations are amplified.
    #[arg(long, default_value = "relu4_3")]
    layer: String,
    /// The dreamed image to write.
    #[arg(long, value_name = "OUT.png")]
    out: PathBuf,
    /// Longest side of the image.
    #[arg(long, default_value_t = 512)]
    size: u32,
    /// Number of scales.
    #[arg(long, default_value_t = 4)]
    octaves: usize,
    /// Ratio between successive scales.
    #[arg(long, default_value_t = 1.4)]
    octave_scale: f64,
    /// Gradient-ascent steps per octave.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Step size, in mean absolute gradients, on 0..1 pixels.
    #[arg(long, default_value_t = 0.008)]
    lr: f64,
    /// Largest random shift, pixels.
    #[arg(long, default_value_t = 32)]
    jitter: i64,
    /// Seed of the jitter.
    #[arg(long, default_value_t = 1)]
    seed: i64,
    #[command(flatten)]
    net: NetArgs,
}

fn main() {
    harness::cli::main(run);
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => {
            let common = &args.run;
            harness::cli::init(common.quiet);
            let overrides = common.overrides(args.as_ref());
            let config: StyleConfig =
                harness::config::resolve(common.config.as_deref(), &overrides)?;
            if common.printed(&config)? {
                return Ok(());
            }
            let summary = train::run(config, &common.options()?, args.image.as_deref())?;
            report(&summary, args.image.as_deref());
        }
        Command::Dream(args) => {
            harness::cli::init(false);
            dream_on(*args)?;
        }
        Command::Inspect { image, out_dir, net } => {
            harness::cli::init(false);
            inspect(&image, &out_dir, &net)?;
        }
        Command::Curves { runs, metric, iterations, out } => {
            let axis = match iterations {
                true => Axis::Step("iterations"),
                false => Axis::Minutes("minutes"),
            };
            plot::run_curves(&runs, &metric, axis, true, &out)?;
            println!("wrote {}", out.display());
        }
        Command::Demo { size, iterations, image, net } => {
            harness::cli::init(false);
            let config = StyleConfig {
                size,
                iterations,
                pooling: net.pooling,
                weights: net.weights,
                ..StyleConfig::default()
            };
            let options = RunOptions::new(net.device.resolve()?);
            let summary = train::run(config, &options, Some(&image))?;
            report(&summary, Some(&image));
        }
        Command::Bench { device, threads, size, warmup, iterations } => {
            harness::cli::init(false);
            anyhow::ensure!(
                threads > 0 && iterations > 0 && (32..=2048).contains(&size),
                "--threads and --iterations must be at least 1, --size within 32..=2048"
            );
            let device = device.resolve()?;
            let at_512 = bench::run(device, threads, 512, 1, 2).context("benchmark failed")?;
            println!("seconds per iteration at 512 px: {:.2}", 1.0 / at_512);
            let rate = bench::run(device, threads, size, warmup, iterations)
                .context("benchmark failed")?;
            println!(
                "random VGG19 to conv5_1, {size}x{size} image, Adam, {iterations} iterations on {device:?}, {threads} threads"
            );
            println!("bench: app=style-transfer metric=iters_per_s value={rate:.3} unit=iters/s");
        }
    }
    Ok(())
}

/// Refuses a `--size` outside [`data::SIZES`].
fn check_size(size: u32) -> Result<()> {
    if !data::SIZES.contains(&size) {
        let (lo, hi) = (data::SIZES.start(), data::SIZES.end());
        bail!("--size {size} is out of range: use {lo}..={hi} pixels");
    }
    Ok(())
}

/// Prints what a run did and where its image is.
fn report(summary: &train::Summary, image: Option<&Path>) {
    let [c, s, t, total] = summary.losses;
    println!(
        "{} iterations ({} evaluations) in {:.1} s{}: content {c:.4e} style {s:.4e} tv {t:.4e} total {total:.4e}",
        summary.iterations,
        summary.evaluations,
        summary.seconds,
        if summary.stopped_early { " (stopped early: --resume goes on)" } else { "" },
    );
    let result = summary.dir.join("result.png");
    match image {
        Some(path) => println!("wrote {} and {}", path.display(), result.display()),
        None => println!("wrote {}", result.display()),
    }
}

fn dream_on(args: DreamArgs) -> Result<()> {
    check_size(args.size)?;
    Vgg19::check_layers(std::slice::from_ref(&args.layer))?;
    let image = data::open(&args.image)?;
    let vgg = args.net.load()?;
    let image = data::to_tensor(&image, args.size, vgg.device());
    let settings = DreamSettings {
        layer: args.layer,
        octaves: args.octaves,
        octave_scale: args.octave_scale,
        steps: args.steps,
        lr: args.lr,
        jitter: args.jitter,
        seed: args.seed,
    };
    let started = Instant::now();
    let dreamed = dream::dream(&vgg, &settings, &image, |octave, step, objective, _| {
        if step + 1 == settings.steps {
            tracing::info!(
                "octave {}/{}: {} mean square {objective:.4e}",
                octave + 1,
                settings.octaves,
                settings.layer
            );
        }
        std::ops::ControlFlow::Continue(())
    })?;
    data::save(&dreamed, &args.out)?;
    println!("wrote {} in {:.1} s", args.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// The first layer's filters, and activations of the trained and a random network on a photo.
fn inspect(image: &str, out_dir: &Path, net: &NetArgs) -> Result<()> {
    let vgg = net.load()?;
    let random = Vgg19::random(net.pooling, vgg.device(), 0);
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    // Filters are stored for BGR input: flip to RGB to show them in their colours.
    for (name, v) in [("filters.png", &vgg), ("filters-random.png", &random)] {
        plot::image_grid(&out_dir.join(name), &v.first_filters().flip([1]), 8, 12)?;
    }
    let photo = data::to_tensor(&data::open(image)?, 224, vgg.device());
    let layers: Vec<String> =
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"].map(String::from).to_vec();
    println!("{:<8} {:>22} {:>22}", "layer", "trained: zeros / std", "random: zeros / std");
    let (trained, untrained) = tch::no_grad(|| -> Result<_> {
        Ok((vgg.features(&photo, &layers)?, random.features(&photo, &layers)?))
    })?;
    for ((name, a), b) in layers.iter().zip(&trained).zip(&untrained) {
        let stats = |t: &Tensor| {
            let zeros = t.eq(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
            (zeros, t.std(true).double_value(&[]))
        };
        let ((za, sa), (zb, sb)) = (stats(a), stats(b));
        println!("{name:<8} {:>13.1} % / {sa:>6.2} {:>13.1} % / {sb:>6.2}", za * 100.0, zb * 100.0);
    }
    // The eight most active channels of relu3_1: top row trained, bottom row random.
    let pick = |t: &Tensor| {
        let t = t.squeeze_dim(0);
        let top = t.mean_dim(&[1i64, 2][..], false, Kind::Float).argsort(0, true).narrow(0, 0, 8);
        t.index_select(0, &top).unsqueeze(1)
    };
    let tiles = Tensor::cat(&[pick(&trained[2]), pick(&untrained[2])], 0);
    plot::image_grid(&out_dir.join("activations.png"), &tiles, 8, 3)?;
    println!("wrote filters.png, filters-random.png and activations.png to {}", out_dir.display());
    Ok(())
}
