//! `char-rnn`: train a character-level language model, sample from it, evaluate it.
//! See the crate's README for the model, the data, the commands and the measured results.

use anyhow::{Context, Result};
use char_rnn::infer::{CharModel, SampleOptions};
use char_rnn::train::{self, RunOptions, TrainConfig};
use char_rnn::{bench, data};
use clap::{Parser, Subcommand};
use dl_core::nn::CellKind;
use dl_core::optim::StepSchedule;
use harness::cli::{DeviceArg, OptimizerArgs, RunArgs, StepScheduleArgs};
use harness::plot::Axis;
use serde::Serialize;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

/// A character-level recurrent language model (RNN, LSTM or GRU): trained on Jane Austen by
/// default, on any UTF-8 text with --text.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model; writes a run directory with config, metrics, checkpoints, samples, plots.
    Train(Box<TrainArgs>),
    /// Generate text, streamed to stdout as it is drawn.
    Sample {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Text to start from (printed, then continued); default: the start of a line.
        #[arg(long, default_value = "")]
        prime: String,
        /// Characters to generate.
        #[arg(long, default_value_t = 1000)]
        length: usize,
        /// Sharpness: below 1 safer, above 1 wilder, 0 always the most probable character.
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        /// Draw only among the K most probable characters.
        #[arg(long, value_name = "K")]
        top_k: Option<usize>,
        /// Seed of the draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Loss and bits per character of a checkpoint: on its own validation text, or on files.
    Eval {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// UTF-8 files to evaluate on (each whole); default: the run's validation split.
        #[arg(long, num_args = 1.., value_name = "FILE")]
        text: Vec<PathBuf>,
        /// Streams read in parallel, the state carried through each (the first protocol).
        #[arg(long, default_value_t = train::EVAL_STREAMS)]
        streams: i64,
        /// Characters per window of the second protocol (nanoGPT's: each window read from a
        /// fresh state); 0 skips it.
        #[arg(long, default_value_t = 256)]
        window: i64,
        /// Also write the bits and nats per character as JSON to this file (of the last text).
        #[arg(long, value_name = "FILE.json")]
        metrics_json: Option<PathBuf>,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// The trained models that ship with the workspace, with their cards' numbers.
    Models,
    /// Draw a metric of several runs against wall-clock minutes (or steps) into one chart.
    Curves {
        /// Run directories (each series is named after its directory).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The metric to draw.
        #[arg(long, default_value = "valid_bpc")]
        metric: String,
        /// Against steps instead of minutes of training.
        #[arg(long)]
        steps: bool,
        /// The PNG (or SVG) to write.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
    },
    /// The demo tour: the shipped `austen` model continues a line of Pride and Prejudice,
    /// streamed as it writes (also saved in runs/demo/).
    Demo {
        /// Train a small model from scratch first (for `--seconds`), as before models shipped.
        #[arg(long)]
        train: bool,
        /// Seconds of training with `--train`.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Time a fixed training step (LSTM 2x512, batch 64 x 128, Adam) on synthetic text.
    Bench {
        #[command(flatten)]
        device: DeviceArg,
        /// libtorch CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// Untimed warm-up steps.
        #[arg(long, default_value_t = 3)]
        warmup: u32,
        /// Timed steps.
        #[arg(long, default_value_t = 20)]
        steps: u32,
        /// fp32, or bf16 (the forward pass under libtorch's autocast).
        #[arg(long, default_value = "fp32", value_parser = harness::cli::parse_precision)]
        precision: dl_core::precision::Precision,
    },
}

/// Training flags; each overrides the `--config` file, which overrides the defaults.
#[derive(clap::Args, Serialize)]
struct TrainArgs {
    /// The embedded corpus: austen (Jane Austen's six novels) or tinyshakespeare [default:
    /// austen].
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    /// UTF-8 text files to learn from instead [default: the embedded corpus].
    #[arg(long, num_args = 1.., value_name = "FILE")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    text: Vec<PathBuf>,
    /// Fraction at the end of every file held out for validation [default: 0.05; 0.1 for
    /// tinyshakespeare, as nanoGPT splits it].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_fraction: Option<f64>,
    /// Recurrent cell: rnn, lstm or gru [default: lstm].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    cell: Option<CellKind>,
    /// Stacked recurrent layers [default: 2].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    layers: Option<i64>,
    /// Hidden state size [default: 512].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden: Option<i64>,
    /// Character embedding size [default: 64].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding: Option<i64>,
    /// Dropout between layers and before the read-out [default: 0].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    dropout: Option<f64>,
    /// Initial LSTM forget-gate bias; 0 keeps PyTorch's initialisation [default: 0].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    forget_bias: Option<f64>,
    /// Characters per truncated-backpropagation window [default: 64].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    seq_len: Option<i64>,
    /// Streams per batch [default: 32].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<i64>,
    /// Optimizer updates in the run; the schedule spans them [default: 2160].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<u64>,
    /// Optimizer and its settings.
    #[command(flatten)]
    #[serde(skip_serializing_if = "OptimizerArgs::is_empty")]
    optimizer: OptimizerArgs,
    /// Learning-rate schedule.
    #[command(flatten)]
    #[serde(skip_serializing_if = "StepScheduleArgs::is_empty")]
    schedule: StepScheduleArgs,
    /// Largest global gradient norm, 0 for no clipping [default: 5].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    clip: Option<f64>,
    /// Evaluate, checkpoint and write a sample every this many steps [default: 400].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_every: Option<u64>,
    /// Characters of the sample written at each evaluation, 0 for none [default: 300].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_length: Option<usize>,
    #[command(flatten)]
    #[serde(skip)]
    run: RunArgs,
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
            // The corpus picks the defaults.
            let config = harness::config::resolve_chosen(
                &TrainConfig::default(),
                common.config.as_deref(),
                &overrides,
                |chosen: &TrainConfig| Ok(TrainConfig::defaults_for(&chosen.data)),
            )?;
            if common.printed(&config)? {
                return Ok(());
            }
            let options = common.options()?;
            train::train(config, &options)?;
        }
        Command::Sample { checkpoint, prime, length, temperature, top_k, seed, device } => {
            harness::cli::init(true);
            let options = SampleOptions { prime, length, temperature, top_k, seed };
            options.validate()?;
            let trained = CharModel::load(&checkpoint, device.resolve()?)?;
            trained.info.vocab.encode(&options.prime).context("the prime cannot be used")?;
            let mut out = std::io::stdout().lock();
            write!(out, "{}", options.prime)?;
            trained.generate(&options, |c| {
                match write!(out, "{c}").and_then(|()| out.flush()) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()), // the reader went away
                }
            })?;
            writeln!(out)?;
        }
        Command::Models => print!("{}", harness::models::table(char_rnn::APP)?),
        Command::Eval { checkpoint, text, streams, window, metrics_json, device } => {
            harness::cli::init(false);
            anyhow::ensure!(streams >= 1, "--streams must be at least 1");
            anyhow::ensure!(window >= 0, "--window must be 0 (off) or positive");
            let trained = CharModel::load(&checkpoint, device.resolve()?)?;
            let vocab = &trained.info.vocab;
            let sets: Vec<(String, String)> = if text.is_empty() {
                let parts = data::load_parts(&trained.config.data, &trained.config.text)?;
                let split = data::Split::new(&parts, trained.config.valid_fraction)?;
                vec![("validation split".to_string(), split.valid)]
            } else {
                data::load_parts(&trained.config.data, &text)?
                    .into_iter()
                    .map(|p| (p.source.display().to_string(), p.text))
                    .collect()
            };
            for (name, text) in sets {
                let tokens = data::tensor(vocab, &text).with_context(|| name.clone())?;
                let eval = train::evaluate(
                    &trained.model,
                    &tokens,
                    streams,
                    trained.config.seq_len,
                    trained.vs.device(),
                )?;
                let read_as = match streams.min(eval.chars) {
                    1 => "one stream".to_string(),
                    n => format!("{n} streams"),
                };
                println!(
                    "{name}: {:.4} bits per character ({:.4} nats) over {} characters, read as \
                     {read_as} with the state carried",
                    eval.bpc, eval.loss, eval.chars,
                );
                let mut metrics = vec![("bpc", eval.bpc), ("nats", eval.loss)];
                if window > 0 {
                    let device = trained.vs.device();
                    let w = train::evaluate_windows(&trained.model, &tokens, window, device)?;
                    println!(
                        "{name}: {:.4} bits per character ({:.4} nats) over {} characters, in \
                         windows of {window} each read from a fresh state (nanoGPT's protocol)",
                        w.bpc, w.loss, w.chars
                    );
                    metrics.extend([("window_bpc", w.bpc), ("window_nats", w.loss)]);
                }
                if let Some(path) = &metrics_json {
                    harness::models::write_metrics(path, &metrics)?;
                }
            }
        }
        Command::Curves { runs, metric, steps, out } => {
            let axis = match steps {
                true => Axis::Step("steps"),
                false => Axis::Minutes("minutes of training"),
            };
            harness::plot::run_curves(&runs, &metric, axis, false, &out)?;
            println!("wrote {}", out.display());
        }
        Command::Demo { train, seconds, device } => {
            harness::cli::init(false);
            anyhow::ensure!(seconds > 0.0, "--seconds must be positive");
            let device = device.resolve()?;
            let (trained, out, prime) = if train {
                let summary = train::train(
                    demo_config(),
                    &RunOptions { max_minutes: Some(seconds / 60.0), ..RunOptions::new(device) },
                )?;
                (CharModel::load(&summary.dir, device)?, summary.dir, "Elizabeth")
            } else {
                let Some(card) = harness::models::for_demo(char_rnn::APP, "austen")? else {
                    return Ok(());
                };
                println!("the shipped model `austen`: {}\n", card.summary);
                let trained = CharModel::load(&card.checkpoint_path(), device)?;
                (trained, harness::models::demo_dir()?, "It is a truth universally acknowledged")
            };
            let options = SampleOptions {
                prime: prime.into(),
                length: 400,
                temperature: 0.8,
                top_k: None,
                seed: 1,
            };
            print!("{}", options.prime);
            let text = trained.generate(&options, |c| {
                print!("{c}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
                ControlFlow::Continue(())
            })?;
            let path = out.join("austen-sample.txt");
            dl_core::fs::write_atomic(&path, format!("{}{text}\n", options.prime).as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("\n\n(temperature 0.8, seed 1; saved in {})", path.display());
        }
        Command::Bench { device, threads, warmup, steps, precision } => {
            harness::cli::init(false);
            anyhow::ensure!(threads > 0 && steps > 0, "--threads and --steps must be at least 1");
            let device = device.resolve()?;
            let tokens_per_s = bench::run(device, threads, warmup, steps, precision)
                .context("benchmark failed")?;
            println!(
                "LSTM 2x512, batch {} x {} characters, {steps} steps on {device:?}, {threads} threads, {precision}",
                bench::BATCH,
                bench::SEQ_LEN
            );
            let ceiling = dl_core::perf::matmul_gflops(device, precision.compute_kind());
            let flops = tokens_per_s * bench::train_flops_per_token();
            println!("achieved: {}", dl_core::perf::achieved(flops, ceiling, precision.name()));
            println!("bench: app=char-rnn metric=train_tokens_per_s value={tokens_per_s:.0} unit=tokens/s precision={precision}");
        }
    }
    Ok(())
}

/// The small model `demo --train` trains for a minute: one layer of 256, a constant rate.
fn demo_config() -> TrainConfig {
    TrainConfig {
        hidden: 256,
        layers: 1,
        seq_len: 64,
        batch_size: 32,
        steps: 100_000,
        eval_every: 250,
        optimizer: dl_core::optim::OptimizerConfig::adam(2e-3),
        schedule: StepSchedule::Constant,
        ..TrainConfig::default()
    }
}
