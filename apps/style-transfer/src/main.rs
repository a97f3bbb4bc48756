//! `style-transfer`: repaint a photo in the style of paintings, or dream on it, with VGG19.
//! See the crate's README for the method, the commands and the measured results.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use dl_core::device::DeviceSpec;
use harness::plot::{self, Axis, Series};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use style_transfer::dream::{self, DreamSettings};
use style_transfer::transfer::{self, Init, Iteration, Method, Settings, Targets};
use style_transfer::vgg::{Pooling, Vgg19};
use style_transfer::{bench, picture, APP};
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
    Run(Box<RunArgs>),
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
    /// The demo tour: a quick, small transfer of Starry Night onto the astronaut.
    Demo {
        /// Longest side of the image.
        #[arg(long, default_value_t = 192)]
        size: u32,
        /// L-BFGS iterations.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Where to write the image.
        #[arg(long, default_value = "runs/style-transfer/demo.png")]
        out: PathBuf,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Time a fixed iteration (random VGG19, Adam on a 256x256 image).
    Bench {
        /// Device: auto, cpu, cuda or cuda:N.
        #[arg(long, default_value = "auto")]
        device: DeviceSpec,
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
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
}

impl NetArgs {
    fn load(&self) -> Result<Vgg19> {
        let device = self.device.resolve()?;
        let path = match &self.weights {
            Some(path) => path.clone(),
            None => datasets::registry::vgg19_weights(&datasets::fetch::data_dir(None))?,
        };
        Vgg19::load(&path, self.pooling, device)
    }
}

#[derive(clap::Args)]
struct RunArgs {
    /// The photo: an image file, or a vendored picture by name.
    #[arg(long, default_value = "astronaut")]
    content: String,
    /// A style image, optionally with a blend weight (`IMG:WEIGHT`); repeat to blend styles.
    #[arg(long = "style", value_name = "IMG[:WEIGHT]", default_value = "starry_night")]
    styles: Vec<String>,
    /// The stylised image to write [default: result.png in the run directory].
    #[arg(long, value_name = "OUT.png")]
    out: Option<PathBuf>,
    /// Longest side of the images, in pixels.
    #[arg(long, default_value_t = 512)]
    size: u32,
    /// Weight of the content loss.
    #[arg(long, default_value_t = 1.0)]
    content_weight: f64,
    /// Weight of the style loss.
    #[arg(long, default_value_t = 1e3)]
    style_weight: f64,
    /// Weight of the total-variation loss.
    #[arg(long, default_value_t = 1e4)]
    tv_weight: f64,
    /// lbfgs (the paper's) or adam.
    #[arg(long, value_enum, default_value = "lbfgs")]
    optimizer: Method,
    /// Adam's learning rate (0..1 pixels) [default 0.02], or L-BFGS's step [default 1].
    #[arg(long)]
    lr: Option<f64>,
    /// Pairs L-BFGS remembers.
    #[arg(long, default_value_t = 100)]
    history: usize,
    /// Start from the photo or from noise.
    #[arg(long, value_enum, default_value = "content")]
    init: Init,
    /// Iterations (an L-BFGS iteration may evaluate the losses more than once).
    #[arg(long, default_value_t = 150)]
    iterations: usize,
    /// Keep the photo's colours: take only the luminance of the result.
    #[arg(long)]
    preserve_colors: bool,
    /// Write the image every N iterations into the run directory's frames/.
    #[arg(long, value_name = "N")]
    save_every: Option<usize>,
    /// Content layers (the paper's conv4_2 is relu4_2 here: Caffe's ReLU works in place).
    #[arg(long, value_delimiter = ',', default_value = "relu4_2")]
    content_layers: Vec<String>,
    /// Style layers.
    #[arg(long, value_delimiter = ',', default_value = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")]
    style_layers: Vec<String>,
    /// Seed of the noise initialisation.
    #[arg(long, default_value_t = 1)]
    seed: i64,
    /// Run directory for the configuration, losses, curve and frames [default:
    /// runs/style-transfer/TIMESTAMP].
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Print only results and errors.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    net: NetArgs,
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

/// A style image and its blend weight, as recorded in the run's config.
#[derive(Serialize)]
struct Style {
    image: String,
    weight: f64,
}

/// The run's configuration, written to `config.toml`.
#[derive(Serialize)]
struct RunRecord {
    content: String,
    styles: Vec<Style>,
    size: u32,
    pooling: Pooling,
    weights: String,
    settings: Settings,
}

/// `IMG` or `IMG:WEIGHT` (the weight after the last colon, when it is a number).
fn parse_style(spec: &str) -> Result<Style> {
    if let Some((image, weight)) = spec.rsplit_once(':') {
        if let Ok(weight) = weight.parse::<f64>() {
            if !(weight.is_finite() && weight >= 0.0) {
                bail!("style weight in {spec:?} must be a non-negative number");
            }
            return Ok(Style { image: image.to_string(), weight });
        }
    }
    Ok(Style { image: spec.to_string(), weight: 1.0 })
}

fn main() {
    harness::cli::main(run);
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => {
            harness::cli::init(args.quiet);
            stylise(*args)?;
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
        Command::Demo { size, iterations, out, net } => {
            harness::cli::init(false);
            let args = RunArgs::parse_from([
                "run".to_string(),
                "--size".into(),
                size.to_string(),
                "--iterations".into(),
                iterations.to_string(),
                "--out".into(),
                out.display().to_string(),
            ]);
            stylise(RunArgs { net, ..args })?;
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

/// Parses `parse_from` arguments for the demo (clap needs a top-level parser).
impl RunArgs {
    fn parse_from<I: IntoIterator<Item = String>>(args: I) -> RunArgs {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: RunArgs,
        }
        Wrapper::parse_from(args).args
    }
}

/// Refuses a `--size` outside [`picture::SIZES`].
fn check_size(size: u32) -> Result<()> {
    if !picture::SIZES.contains(&size) {
        let (lo, hi) = (picture::SIZES.start(), picture::SIZES.end());
        bail!("--size {size} is out of range: use {lo}..={hi} pixels");
    }
    Ok(())
}

fn stylise(args: RunArgs) -> Result<()> {
    check_size(args.size)?;
    let styles = args.styles.iter().map(|s| parse_style(s)).collect::<Result<Vec<_>>>()?;
    let settings = Settings {
        content_layers: args.content_layers.clone(),
        style_layers: args.style_layers.clone(),
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        tv_weight: args.tv_weight,
        optimizer: args.optimizer,
        lr: args.lr.unwrap_or(match args.optimizer {
            Method::Lbfgs => 1.0,
            Method::Adam => 0.02,
        }),
        history: args.history,
        init: args.init,
        iterations: args.iterations,
        preserve_colors: args.preserve_colors,
        seed: args.seed,
    };
    Vgg19::check_layers(&settings.content_layers)?;
    Vgg19::check_layers(&settings.style_layers)?;
    for (name, w) in [
        ("--content-weight", settings.content_weight),
        ("--style-weight", settings.style_weight),
        ("--tv-weight", settings.tv_weight),
    ] {
        if !(w.is_finite() && w >= 0.0) {
            bail!("{name} must be a non-negative number, got {w}");
        }
    }
    if args.save_every == Some(0) {
        bail!("--save-every must be at least 1");
    }
    if args.history == 0 && settings.optimizer == Method::Lbfgs {
        bail!("--history must be at least 1");
    }

    // Read every image before the long part starts.
    let content_image = picture::open(&args.content)?;
    let style_images =
        styles.iter().map(|s| picture::open(&s.image)).collect::<Result<Vec<_>>>()?;
    let device = args.net.device.resolve()?;
    let content = picture::to_tensor(&content_image, args.size, device);
    let (_, _, h, w) = content.size4()?;
    transfer::check_memory(h, w, &settings, device)?;
    let vgg = args.net.load()?;

    let record = RunRecord {
        content: args.content.clone(),
        styles,
        size: args.size,
        pooling: args.net.pooling,
        weights: args.net.weights.as_ref().map_or("fetched".into(), |p| p.display().to_string()),
        settings: settings.clone(),
    };
    let mut run = harness::run::Run::create(APP, args.run_dir.as_deref(), &record)?;
    let out = args.out.clone().unwrap_or_else(|| run.dir().join("result.png"));
    let styles: Vec<(Tensor, f64)> = style_images
        .iter()
        .zip(&record.styles)
        .map(|(image, s)| (picture::to_tensor(image, args.size, device), s.weight))
        .collect();
    let targets = Targets::new(&vgg, &settings, &content, &styles)?;

    tracing::info!(
        "{} x {}: {w}x{h} on {device:?}, {:?}, {} iterations",
        args.content,
        args.styles.join(" + "),
        settings.optimizer,
        settings.iterations
    );
    let started = Instant::now();
    let mut history: Vec<Iteration> = Vec::new();
    let mut progress = harness::progress::Progress::new(
        "transfer",
        settings.iterations as u64,
        "iterations",
        args.quiet,
    );
    let frames = run.dir().join("frames");
    let result = transfer::optimise(&vgg, &settings, &targets, &content, |it, image| {
        let [c, s, t, total] = it.losses;
        run.log(
            it.iteration as u64,
            &[
                ("content", c),
                ("style", s),
                ("tv", t),
                ("total", total),
                ("evaluations", it.evaluations as f64),
            ],
        )?;
        progress.inc(1, &format!("content {c:.3e} style {s:.3e} tv {t:.3e} total {total:.3e}"));
        if args.save_every.is_some_and(|n| it.iteration % n == 0) {
            let frame = image.clamp(0.0, 1.0);
            let frame = if settings.preserve_colors {
                picture::keep_colors(&frame, &content)
            } else {
                frame
            };
            picture::save(&frame, &frames.join(format!("{:05}.png", it.iteration)))?;
        }
        history.push(*it);
        Ok(())
    })?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    picture::save(&result, &out)?;
    if out != run.dir().join("result.png") {
        picture::save(&result, &run.dir().join("result.png"))?;
    }
    loss_chart(&history, &run.dir().join("loss.png"))?;
    let last = history.last().context("no iteration ran")?;
    let [c, s, t, total] = last.losses;
    println!(
        "{} iterations ({} evaluations) in {seconds:.1} s ({:.2} s/iteration): content {c:.4e} style {s:.4e} tv {t:.4e} total {total:.4e}",
        last.iteration,
        last.evaluations,
        seconds / last.iteration as f64
    );
    println!("wrote {} (run directory {})", out.display(), run.dir().display());
    Ok(())
}

/// The weighted loss terms against the iteration, on a log scale.
fn loss_chart(history: &[Iteration], path: &Path) -> Result<()> {
    let names = ["content", "style", "tv", "total"];
    let series: Vec<Series> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name: name.to_string(),
            points: history
                .iter()
                .filter(|it| it.losses[i] > 0.0)
                .map(|it| (it.iteration as f64, it.losses[i].log10()))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    plot::line_chart(path, "weighted losses (log10)", "iteration", &series)?;
    Ok(())
}

fn dream_on(args: DreamArgs) -> Result<()> {
    check_size(args.size)?;
    Vgg19::check_layers(std::slice::from_ref(&args.layer))?;
    let image = picture::open(&args.image)?;
    let vgg = args.net.load()?;
    let image = picture::to_tensor(&image, args.size, vgg.device());
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
    let dreamed = dream::dream(&vgg, &settings, &image, |octave, step, objective| {
        if step + 1 == settings.steps {
            tracing::info!(
                "octave {}/{}: {} mean square {objective:.4e}",
                octave + 1,
                settings.octaves,
                settings.layer
            );
        }
    })?;
    picture::save(&dreamed, &args.out)?;
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
    let photo = picture::to_tensor(&picture::open(image)?, 224, vgg.device());
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
