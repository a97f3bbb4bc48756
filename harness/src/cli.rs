//! Flags every app's training command shares, named the same everywhere.

use dl_core::device::DeviceSpec;
use dl_core::precision::Precision;
use std::path::PathBuf;

/// The device flag of every command that computes (`#[command(flatten)]` it).
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct DeviceArg {
    /// Device to run on: auto (CUDA if available, else CPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
}

impl DeviceArg {
    /// The device (CUDA where there is none is an error, never a silent fallback).
    pub fn resolve(&self) -> dl_core::Result<tch::Device> {
        self.device.resolve()
    }
}

/// The common flags of a training command (`#[command(flatten)]` them into the app's own).
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub device: DeviceArg,
    /// Seed of every random generator (initialisation, shuffling, dropout).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run directory to create (default: runs/APP/TIMESTAMP).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint, with its saved configuration.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "config"])]
    pub resume: Option<PathBuf>,
    /// TOML file of settings; flags given on the command line override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Stop training cleanly after this many minutes (final checkpoint and evaluation).
    #[arg(long, value_name = "M")]
    pub max_minutes: Option<f64>,
    /// Print only results and errors: no progress.
    #[arg(long, short)]
    pub quiet: bool,
    /// fp32, or bf16: the forward pass under libtorch's autocast (weights, gradients and
    /// optimizer state stay fp32).
    #[arg(long, default_value = "fp32", value_parser = parse_precision)]
    pub precision: Precision,
    /// Print the configuration this command would train with (the defaults, then --config,
    /// then the flags) as TOML, and exit without training.
    #[arg(long, conflicts_with = "resume")]
    pub print_config: bool,
}

impl RunArgs {
    /// The run options these flags ask for (the device resolved: CUDA where there is none is
    /// an error).
    pub fn options(&self) -> dl_core::Result<crate::run::RunOptions> {
        Ok(crate::run::RunOptions {
            device: self.device.resolve()?,
            out: self.out.clone(),
            resume: self.resume.clone(),
            max_minutes: self.max_minutes,
            quiet: self.quiet,
            stop: Default::default(),
            precision: self.precision,
        })
    }

    /// With `--print-config`: prints `config` as TOML and returns true (the command stops
    /// there); else returns false.
    pub fn printed(&self, config: &impl serde::Serialize) -> dl_core::Result<bool> {
        if self.print_config {
            let toml = toml::to_string_pretty(config).map_err(|e| {
                dl_core::Error::Config(format!("configuration cannot be written as TOML: {e}"))
            })?;
            print!("{toml}");
        }
        Ok(self.print_config)
    }

    /// The app's own training flags (`args`, which flatten these) with this `--seed`, as
    /// overrides of its configuration for [`crate::config::resolve`].
    pub fn overrides<'a, A>(&self, args: &'a A) -> Overrides<'a, A> {
        Overrides { args, seed: self.seed }
    }
}

/// A training command's flags as overrides of its configuration: the app's own (whose unset
/// flags serialise to nothing) and the shared `--seed`.
#[derive(Debug, serde::Serialize)]
pub struct Overrides<'a, A> {
    /// The app's flags.
    #[serde(flatten)]
    pub args: &'a A,
    /// `--seed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// An app's `main`: parses the command line into `C` (clap prints usage errors and exits with
/// status 2 itself) and runs it; a failure is printed as one line, `error: ` and the error's
/// chain of causes, and exits with status 1.
pub fn main<C: clap::Parser, E: std::fmt::Display>(run: impl FnOnce(C) -> Result<(), E>) {
    if let Err(e) = run(C::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `--precision`'s parser: `fp32` or `bf16`, else the sentence saying why not.
pub fn parse_precision(s: &str) -> Result<Precision, String> {
    s.parse().map_err(|e: dl_core::Error| e.to_string())
}

/// For a long-lived server (the gallery), after [`init`]: a closed stdout or a client that
/// hangs up makes writes fail with an error instead of ending the process.
pub fn ignore_broken_pipes() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition is async-signal-safe and has no preconditions;
    // it is done before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// What every binary of the workspace does first: restores the default SIGPIPE behaviour (so
/// `app ... | head` ends quietly instead of panicking on a closed pipe) and sets up `tracing`
/// output on stderr (`RUST_LOG` overrides the level; `quiet` means warnings only). Safe to call
/// more than once.
pub fn init(quiet: bool) {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default is async-signal-safe and has no
    // preconditions; it is done before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// The flags of a [`dl_core::optim::StepSchedule`], as overrides of a configuration's
/// `[schedule]` table (`#[command(flatten)]` them, `#[serde(skip_serializing_if =
/// "StepScheduleArgs::is_empty")]`). Each app's defaults are in its README and in every run's
/// `config.toml`.
#[derive(Clone, Debug, Default, PartialEq, clap::Args, serde::Serialize)]
pub struct StepScheduleArgs {
    /// cosine (linear warm-up, then decay to zero at the last step) or constant.
    #[arg(long = "schedule", id = "schedule_name", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Warm-up steps of the cosine schedule.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_steps: Option<u64>,
}

impl StepScheduleArgs {
    /// Whether no schedule flag was given.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.warmup_steps.is_none()
    }
}

/// The optimizer flags of a training command, as overrides of its `[optimizer]` table
/// (`#[command(flatten)]` them, `#[serde(skip_serializing_if = "OptimizerArgs::is_empty")]`).
/// Each app's defaults are in its README and in every run's `config.toml`.
#[derive(Clone, Debug, Default, PartialEq, clap::Args, serde::Serialize)]
pub struct OptimizerArgs {
    /// sgd, adam, adamw or adadelta.
    #[arg(long = "optimizer", id = "optimizer_name", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Learning rate.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// SGD momentum.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

impl OptimizerArgs {
    /// Whether no optimizer flag was given.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.lr.is_none()
            && self.momentum.is_none()
            && self.weight_decay.is_none()
    }
}
