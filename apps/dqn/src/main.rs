//! `dqn`: train Deep Q-Networks, watch them play, time them.
//! See the crate's README for the algorithm, the commands and the measured results.

use anyhow::{ensure, Result};
use clap::{Parser, Subcommand};
use dl_core::device::DeviceSpec;
use dqn::agent::Loss;
use dqn::env::Backend;
use dqn::infer::Agent;
use dqn::train::{self, RunOptions, TrainConfig};
use dqn::{bench, render};
use harness::cli::{DeviceArg, RunArgs};
use serde::Serialize;
use std::path::PathBuf;

/// Deep Q-Networks (Mnih et al. 2015): CartPole and MountainCar in pure Rust, Atari games
/// through the Arcade Learning Environment.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an agent; writes a run directory with config, metrics, checkpoints and plots.
    Train(Box<TrainArgs>),
    /// Play episodes with a trained agent and report the scores; optionally record a GIF.
    Play {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Episodes to play.
        #[arg(long, default_value_t = 10)]
        episodes: u64,
        /// Exploration rate while playing (the paper evaluates at 0.01... 0.05).
        #[arg(long, default_value_t = 0.01)]
        epsilon: f64,
        /// Record the first episode as an animated GIF.
        #[arg(long, value_name = "FILE.gif")]
        gif: Option<PathBuf>,
        /// Size of the GIF's frames relative to the screen.
        #[arg(long, default_value_t = 1.0)]
        gif_scale: f32,
        /// Seed of the episodes and of the exploration.
        #[arg(long, default_value_t = 12345)]
        seed: u64,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// The mean return of a trained agent over many episodes (a card's headline number).
    Eval {
        /// A shipped model's name (`models` lists them), a checkpoint file, or a run directory
        /// (its best checkpoint).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Episodes to play.
        #[arg(long, default_value_t = 100)]
        episodes: u64,
        /// Exploration rate while playing.
        #[arg(long, default_value_t = 0.01)]
        epsilon: f64,
        /// Seed of the episodes and of the exploration.
        #[arg(long, default_value_t = 12345)]
        seed: u64,
        /// Also write the mean return and its standard deviation as JSON to this file.
        #[arg(long, value_name = "FILE.json")]
        metrics_json: Option<PathBuf>,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// The trained models that ship with the workspace, with their cards' numbers.
    Models,
    /// Draw one metric of several runs as curves in one chart (e.g. the seeds of an experiment).
    Curves {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The metric to draw.
        #[arg(long, default_value = "eval_return")]
        metric: String,
        /// The PNG (or SVG) to write.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
    },
    /// The demo tour: the shipped agents play a CartPole episode and a game of Breakout,
    /// recorded as GIFs in runs/demo/.
    Demo {
        /// Train a CartPole agent from scratch first (for `--steps`), as before models shipped.
        #[arg(long)]
        train: bool,
        /// Environment steps to train with `--train`.
        #[arg(long, default_value_t = 30_000)]
        steps: u64,
        /// Run directory (default: runs/dqn/demo-<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Time CleanRL's CartPole loop and Nature-CNN updates (fixed configurations).
    Bench {
        #[command(flatten)]
        device: DeviceArg,
        /// libtorch CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// Timed CartPole steps (after 10k of warm-up).
        #[arg(long, default_value_t = 30_000)]
        steps: u64,
        /// Timed Nature-CNN updates.
        #[arg(long, default_value_t = 50)]
        updates: u64,
        /// fp32, or bf16 (the networks' forward passes under libtorch's autocast).
        #[arg(long, default_value = "fp32", value_parser = harness::cli::parse_precision)]
        precision: dl_core::precision::Precision,
    },
}

/// Training flags; each overrides the `--config` file, which overrides the environment's
/// defaults (CleanRL's).
#[derive(clap::Args, Serialize)]
struct TrainArgs {
    /// cartpole, mountaincar, or an Atari game: pong, breakout, ... [default: cartpole].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    /// Classic-control implementation [default: gymnasia].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<Backend>,
    /// Environment steps [default: 500000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    total_steps: Option<u64>,
    /// Adam's learning rate [default: 2.5e-4].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    lr: Option<f64>,
    /// Replay memory capacity [default: 10000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    buffer_size: Option<usize>,
    /// Discount factor [default: 0.99].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    gamma: Option<f64>,
    /// Target update mix: 1 copies [default: 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    tau: Option<f64>,
    /// Steps between target updates [default: 500].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    target_every: Option<u64>,
    /// Minibatch size [default: 128].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<usize>,
    /// Initial exploration rate [default: 1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    start_epsilon: Option<f64>,
    /// Final exploration rate [default: 0.05].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    end_epsilon: Option<f64>,
    /// Fraction of the steps over which epsilon decays [default: 0.5].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    exploration_fraction: Option<f64>,
    /// Transitions collected before learning [default: 10000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    learning_starts: Option<u64>,
    /// Steps between updates [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    train_every: Option<u64>,
    /// Double DQN targets.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    double: bool,
    /// Regression loss [default: mse, CleanRL's].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    loss: Option<Loss>,
    /// Learn from the sign of rewards (Atari's reward clipping).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    clip_rewards: bool,
    /// A lost life ends the episode for learning, not for scoring (Atari).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    episodic_life: bool,
    /// MLP hidden widths, comma-separated [default: 120,84].
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden: Option<Vec<i64>>,
    /// Steps between evaluations [default: 10000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_every: Option<u64>,
    /// Episodes per evaluation [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_episodes: Option<u64>,
    /// Episodes of the final evaluation [default: 100].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    final_eval_episodes: Option<u64>,
    /// Exploration rate while evaluating [default: 0.01].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_epsilon: Option<f64>,
    /// Steps between checkpoints [default: 10000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint_every: Option<u64>,
    /// Save the replay memory with each last checkpoint whatever its size (it is saved anyway
    /// when within --save-buffer-up-to-mb), so --resume continues exactly where it stopped.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    save_buffer: bool,
    /// The largest replay memory checkpoints hold, in MB; a larger one refills after a resume
    /// [default: 1024].
    #[arg(long, value_name = "MB")]
    #[serde(skip_serializing_if = "Option::is_none")]
    save_buffer_up_to_mb: Option<u64>,
    #[command(flatten)]
    #[serde(skip)]
    run: RunArgs,
}

fn main() {
    harness::cli::main(|cli: Cli| {
        harness::cli::init(matches!(&cli.command, Command::Train(a) if a.run.quiet));
        run(cli)
    });
}

/// Resolves the training configuration: the environment's defaults, the TOML file, the flags.
fn resolve(args: &TrainArgs) -> Result<TrainConfig> {
    let overrides = args.run.overrides(args);
    // The environment picks the defaults (flag, else file, else cartpole).
    Ok(harness::config::resolve_chosen(
        &TrainConfig::cartpole(),
        args.run.config.as_deref(),
        &overrides,
        |chosen| {
            TrainConfig::defaults_for(&chosen.env)
                .map_err(|e| dl_core::Error::Config(format!("{e:#}")))
        },
    )?)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => {
            let config = resolve(&args)?;
            if args.run.printed(&config)? {
                return Ok(());
            }
            let options = args.run.options()?;
            let summary = train::train(config, &options)?;
            println!(
                "final evaluation: {:.1} ± {:.1} over {} episodes after {} steps; run in {}",
                summary.final_eval.mean(),
                summary.final_eval.std(),
                summary.final_eval.returns.len(),
                summary.steps,
                summary.dir.display()
            );
            Ok(())
        }
        Command::Play { checkpoint, episodes, epsilon, gif, gif_scale, seed, device } => {
            ensure!(episodes > 0, "--episodes must be positive");
            ensure!((0.0..=1.0).contains(&epsilon), "--epsilon must be in [0, 1]");
            ensure!(gif_scale > 0.0 && gif_scale <= 4.0, "--gif-scale must be in (0, 4]");
            let agent = Agent::load(&checkpoint, device.resolve()?)?;
            let played = agent.play(episodes, epsilon, seed, gif.is_some())?;
            let eval = &played.eval;
            for (i, (r, l)) in eval.returns.iter().zip(&eval.lengths).enumerate() {
                println!("episode {:>3}: return {r:>8.1} in {l} steps", i + 1);
            }
            println!(
                "{}: mean return {:.1} ± {:.1} over {episodes} episodes (epsilon {epsilon})",
                played.env,
                eval.mean(),
                eval.std()
            );
            if let Some(path) = gif {
                render::write_gif(&path, &played.frames, played.fps, gif_scale)?;
                println!("wrote {} ({} frames)", path.display(), played.frames.len());
            }
            Ok(())
        }
        Command::Eval { checkpoint, episodes, epsilon, seed, metrics_json, device } => {
            ensure!(episodes > 0, "--episodes must be positive");
            ensure!((0.0..=1.0).contains(&epsilon), "--epsilon must be in [0, 1]");
            let agent = Agent::load(&checkpoint, device.resolve()?)?;
            let eval = agent.play(episodes, epsilon, seed, false)?.eval;
            let (min, max) = eval
                .returns
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            println!(
                "{}: mean return {:.1} ± {:.1} over {episodes} episodes (epsilon {epsilon}), \
                 min {min:.1}, max {max:.1}",
                agent.config.env,
                eval.mean(),
                eval.std()
            );
            if let Some(path) = metrics_json {
                let metrics = [("mean_return", eval.mean()), ("std_return", eval.std())];
                harness::models::write_metrics(&path, &metrics)?;
            }
            Ok(())
        }
        Command::Models => {
            print!("{}", harness::models::table(dqn::APP)?);
            Ok(())
        }
        Command::Demo { train: false, .. } => {
            let out = harness::models::demo_dir()?;
            for (name, what, scale) in
                [("cartpole", "an episode", 0.5), ("breakout", "a game", 2.0)]
            {
                let Some(card) = harness::models::for_demo(dqn::APP, name)? else { continue };
                let agent = Agent::load(&card.checkpoint_path(), DeviceSpec::Auto.resolve()?)?;
                let played = agent.play(1, 0.01, 7, true)?;
                let path = out.join(format!("{name}.gif"));
                render::write_gif(&path, &played.frames, played.fps, scale)?;
                println!(
                    "the shipped `{name}` ({}) played {what}: return {:.0} in {} steps; {}",
                    card.summary,
                    played.eval.returns[0],
                    played.eval.lengths[0],
                    path.display()
                );
            }
            Ok(())
        }
        Command::Demo { train: true, steps, out } => {
            ensure!(steps > 1000, "--steps must exceed 1000");
            let mut config = TrainConfig::classic("cartpole");
            config.total_steps = steps;
            config.learning_starts = 1000;
            config.exploration_fraction = 0.3;
            config.eval_every = 10_000;
            config.final_eval_episodes = 10;
            let options =
                RunOptions { out, quiet: true, ..RunOptions::new(DeviceSpec::Auto.resolve()?) };
            let summary = train::train(config, &options)?;
            println!(
                "CartPole after {steps} steps: {:.1} ± {:.1} over {} episodes (a random policy scores about 22)",
                summary.final_eval.mean(),
                summary.final_eval.std(),
                summary.final_eval.returns.len()
            );
            let played = Agent::load(&summary.dir, options.device)?.play(1, 0.0, 7, true)?;
            let path = summary.dir.join("cartpole.gif");
            render::write_gif(&path, &played.frames, played.fps, 0.5)?;
            println!("wrote {} ({} frames)", path.display(), played.frames.len());
            Ok(())
        }
        Command::Curves { runs, metric, out } => {
            let axis = harness::plot::Axis::Step("environment steps");
            harness::plot::run_curves(&runs, &metric, axis, false, &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Bench { device, threads, steps, updates, precision } => {
            ensure!(
                threads > 0 && steps > 0 && updates > 0,
                "--threads, --steps and --updates must be positive"
            );
            tch::set_num_threads(threads);
            let device = device.resolve()?;
            let sps = bench::cartpole_steps_per_s(device, steps, precision)?;
            println!("bench: app=dqn metric=env_steps_per_s value={sps:.1} unit=steps/s");
            #[cfg(feature = "atari")]
            {
                let fps = bench::pong_frames_per_s(20_000)?;
                println!(
                    "bench: app=dqn metric=ale_pong_frames_per_s value={fps:.0} unit=frames/s"
                );
            }
            let ups = bench::atari_updates_per_s(device, updates, precision)?;
            let ceiling = dl_core::perf::matmul_gflops(device, precision.compute_kind());
            let flops = ups * bench::UPDATE_FLOPS;
            println!("achieved: {}", dl_core::perf::achieved(flops, ceiling, precision.name()));
            println!("bench: app=dqn metric=updates_per_s value={ups:.2} unit=updates/s precision={precision}");
            Ok(())
        }
    }
}
