//! A training session: everything a training command does around its loop.
//!
//! An app's `train()` reads, top to bottom, as the algorithm: build the model and optimizer,
//! [`Session::restore`] them, then loop (forward, loss, backward, step), calling
//! [`Session::log`] now and then and [`Session::checkpoint`] at its evaluations, and stopping
//! when [`Session::expired`]. The session owns the rest:
//!
//! - start or resume: a new run directory for the configuration, or the run being resumed with
//!   its own saved configuration (so `--resume` needs no other flag);
//! - seeding: every generator from the configuration's seed;
//! - exact resume: weights, optimizer, step, epoch, the best value so far, and the app's own
//!   training state (a JSON value and tensors) come back from the last checkpoint;
//! - the time budget (`--max-minutes`);
//! - the best checkpoint (by one named metric) and the last one (with everything a resume
//!   needs), written so that a killed process never leaves a torn checkpoint;
//! - `metrics.jsonl`, the plots, and progress bars that `--quiet` silences.
//!
//! ```no_run
//! # use harness::session::{Goal, Session, State};
//! # use harness::run::RunOptions;
//! # #[derive(Clone, serde::Serialize, serde::Deserialize)] struct Config { seed: u64, steps: u64 }
//! # impl harness::session::TrainingConfig for Config { fn seed(&self) -> u64 { self.seed } }
//! # fn main() -> anyhow::Result<()> {
//! # let config = Config { seed: 1, steps: 10 };
//! let options = RunOptions::new(tch::Device::Cpu);
//! let mut session = Session::start("my-app", config, &options, Goal::Min("valid_loss"))?;
//! let mut vs = tch::nn::VarStore::new(session.device());
//! let net = tch::nn::linear(vs.root(), 4, 1, Default::default());
//! let mut opt = dl_core::optim::Optimizer::new(dl_core::optim::OptimizerConfig::adam(1e-3), &vs)?;
//! let _restored: Option<State> = session.restore(&mut vs, Some(&mut opt))?;
//! while session.step() < session.config().steps && !session.expired() {
//!     // forward, loss, backward, opt.step() ...
//!     session.advance();
//!     if session.step() % 5 == 0 {
//!         let valid_loss = 0.5; // evaluate
//!         session.checkpoint(&vs, &opt, &[("valid_loss", valid_loss)], State::default())?;
//!     }
//! }
//! # let _ = net; Ok(()) }
//! ```

use crate::progress::Progress;
use crate::run::{Deadline, Run, RunOptions};
use dl_core::checkpoint::{self, Sidecar};
use dl_core::optim::Optimizer;
use dl_core::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// A training configuration the harness can run: serialisable (it is saved with the run and
/// every checkpoint) and carrying the run's seed.
pub trait TrainingConfig: Serialize + DeserializeOwned {
    /// The seed of every random generator of the run.
    fn seed(&self) -> u64;
}

/// The metric that chooses the best checkpoint, and which way is better.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// Lower is better (a loss, bits per character).
    Min(&'static str),
    /// Higher is better (an accuracy, BLEU, a return).
    Max(&'static str),
    /// Higher is better, and a tie goes to the later checkpoint, which has more training
    /// behind it (a return that reaches its ceiling again and again, as CartPole's 500).
    MaxLatest(&'static str),
}

impl Goal {
    /// The metric's name.
    pub fn metric(self) -> &'static str {
        match self {
            Goal::Min(name) | Goal::Max(name) | Goal::MaxLatest(name) => name,
        }
    }

    /// Whether `value` beats `best` (anything finite beats no best yet).
    pub fn improves(self, value: f64, best: Option<f64>) -> bool {
        match (self, best) {
            _ if !value.is_finite() => false,
            (_, None) => true,
            (Goal::Min(_), Some(best)) => value < best,
            (Goal::Max(_), Some(best)) => value > best,
            (Goal::MaxLatest(_), Some(best)) => value >= best,
        }
    }
}

/// What a checkpoint holds besides the weights and the optimizer: what inference needs to
/// rebuild the model, and the app's own training state. Restored by [`Session::restore`].
#[derive(Debug, Default)]
pub struct State {
    /// The model's description (vocabulary, shapes, classes): saved in every checkpoint, best
    /// included, as the sidecar's `extra`.
    pub model: serde_json::Value,
    /// The app's training state (data position, Rust RNG, running episode): saved in the last
    /// checkpoint, as the sidecar's `state`.
    pub values: serde_json::Value,
    /// Tensors of the app's training state (a carried hidden state), by name.
    pub tensors: BTreeMap<String, Tensor>,
}

impl State {
    /// A state with the model description `model` (any serialisable value).
    pub fn model(model: &impl Serialize) -> Result<Self> {
        Ok(State { model: to_json(model)?, ..State::default() })
    }

    /// Adds the app's training state `values`.
    pub fn with_values(mut self, values: &impl Serialize) -> Result<Self> {
        self.values = to_json(values)?;
        Ok(self)
    }

    /// Adds a state tensor.
    pub fn with_tensor(mut self, name: &str, tensor: &Tensor) -> Self {
        self.tensors.insert(name.to_string(), tensor.shallow_clone());
        self
    }

    /// The model description, as the app's type.
    pub fn model_as<T: DeserializeOwned>(&self) -> Result<T> {
        from_json(&self.model, "model description")
    }

    /// The training state values, as the app's type.
    pub fn values_as<T: DeserializeOwned>(&self) -> Result<T> {
        from_json(&self.values, "training state")
    }

    /// State tensor `name`, moved to `device`.
    pub fn tensor(&self, name: &str, device: Device) -> Result<Tensor> {
        self.tensors.get(name).map(|t| t.to_device(device)).ok_or_else(|| {
            Error::Config(format!("the last checkpoint has no state tensor {name:?}"))
        })
    }
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Config(format!("cannot be serialised: {e}")))
}

fn from_json<T: DeserializeOwned>(value: &serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| Error::Config(format!("the checkpoint's {what} does not fit: {e}")))
}

/// The model description saved in the last checkpoint of run `dir` (`None` if it has no
/// checkpoint yet): for apps whose data preparation depends on it, such as saved tokenizers.
pub fn last_model<T: DeserializeOwned>(dir: &Path, app: &str) -> Result<Option<T>> {
    let last = dir.join("checkpoints").join("last.safetensors");
    checkpoint::recover(&last)?;
    if !checkpoint::Paths::of(&last).sidecar.is_file() {
        return Ok(None);
    }
    from_json(&checkpoint::read_sidecar(&last, app)?.extra, "model description").map(Some)
}

/// A training run in progress (see the module documentation).
#[derive(Debug)]
pub struct Session<C> {
    app: &'static str,
    config: C,
    run: Run,
    device: Device,
    deadline: Deadline,
    quiet: bool,
    goal: Goal,
    best: Option<f64>,
    step: u64,
    epoch: u64,
    /// The latest value of every metric recorded by [`Session::evaluated`].
    metrics: BTreeMap<String, f64>,
    resume_from: Option<PathBuf>,
}

impl<C: TrainingConfig> Session<C> {
    /// The configuration a training command will run with: the run's own saved one when
    /// resuming, else `config`. For apps that check their data before [`Session::start`]
    /// writes anything.
    pub fn configuration(config: C, options: &RunOptions) -> Result<C> {
        match &options.resume {
            Some(dir) => Run::read_config(dir),
            None => Ok(config),
        }
    }

    /// Starts a new run of `app` for `config` (validate it first: this writes the run
    /// directory), or reopens the run `options.resume` names, with its saved configuration.
    /// Seeds every generator from the configuration's seed. The best checkpoint is chosen by
    /// `goal`.
    pub fn start(app: &'static str, config: C, options: &RunOptions, goal: Goal) -> Result<Self> {
        let deadline = Deadline::after_minutes(options.max_minutes, options.stop.clone())?;
        let (config, run, resume_from) =
            Run::start(app, options.out.as_deref(), options.resume.as_deref(), config)?;
        dl_core::device::seed_all(config.seed());
        Ok(Session {
            app,
            config,
            run,
            device: options.device,
            deadline,
            quiet: options.quiet,
            goal,
            best: None,
            step: 0,
            epoch: 0,
            metrics: BTreeMap::new(),
            resume_from,
        })
    }

    /// When resuming: loads the last checkpoint's weights into `vs` and state into `opt` (for a
    /// run that has one: an optimizer of `dl_core::optim`), sets
    /// the step, epoch and best value, and returns the app's state saved with it. `None` for a
    /// new run (nothing changes). Call it once, after building the model and optimizer.
    pub fn restore(
        &mut self,
        vs: &mut VarStore,
        opt: Option<&mut Optimizer>,
    ) -> Result<Option<State>> {
        let Some(last) = self.resume_from.take() else { return Ok(None) };
        let (sidecar, tensors) = checkpoint::load_to_resume(&last, self.app, vs, opt)?;
        (self.step, self.epoch, self.best) = (sidecar.step, sidecar.epoch, sidecar.best);
        self.metrics = sidecar.metrics;
        tracing::info!(
            "resuming {} at step {} (epoch {})",
            self.run.dir().display(),
            self.step,
            self.epoch
        );
        Ok(Some(State { model: sidecar.extra, values: sidecar.state, tensors }))
    }

    /// The run's configuration (its saved one when resuming).
    pub fn config(&self) -> &C {
        &self.config
    }

    /// The device to train on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Optimizer steps done, over every session of the run.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Counts one optimizer step.
    pub fn advance(&mut self) {
        self.step += 1;
    }

    /// Completed epochs, over every session of the run.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Counts one completed epoch.
    pub fn end_epoch(&mut self) {
        self.epoch += 1;
    }

    /// The best value of the goal's metric so far (`None` before the first checkpoint).
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Whether the time budget (`--max-minutes`) is spent or a stop was asked for: the loop
    /// should checkpoint and stop.
    pub fn expired(&self) -> bool {
        self.deadline.expired()
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        self.run.dir()
    }

    /// Where checkpoint `name` of this run lives (`best`, `last`).
    pub fn checkpoint_path(&self, name: &str) -> PathBuf {
        self.run.checkpoint(name)
    }

    /// Seconds spent training, over every session of the run.
    pub fn elapsed(&self) -> f64 {
        self.run.elapsed()
    }

    /// Logs values to `metrics.jsonl` at the current step.
    pub fn log(&mut self, values: &[(&str, f64)]) -> Result<()> {
        self.run.log(self.step, values)
    }

    /// A progress report over `total` units (hidden with `--quiet`).
    pub fn progress(&self, label: &str, total: u64, unit: &str) -> Progress {
        Progress::new(label, total, unit, self.quiet)
    }

    /// Checkpoints the run at the current step: [`Session::evaluated`] with `metrics`, then
    /// [`Session::save_last`] with `state`. Returns whether this was a new best.
    pub fn checkpoint(
        &mut self,
        vs: &VarStore,
        opt: &Optimizer,
        metrics: &[(&str, f64)],
        state: State,
    ) -> Result<bool> {
        let improved = self.evaluated(vs, metrics, &state.model)?;
        self.save_last(vs, Some(opt), state)?;
        Ok(improved)
    }

    /// Records an evaluation at the current step: `metrics` are logged and kept for the next
    /// sidecars; if the goal's metric is among them and beats the best so far, the weights and
    /// the model description `model` become the `best` checkpoint. Returns whether they did.
    pub fn evaluated(
        &mut self,
        vs: &VarStore,
        metrics: &[(&str, f64)],
        model: &impl Serialize,
    ) -> Result<bool> {
        if !metrics.is_empty() {
            self.run.log(self.step, metrics)?;
        }
        self.metrics.extend(metrics.iter().map(|(k, v)| (k.to_string(), *v)));
        let value = metrics.iter().find(|(name, _)| *name == self.goal.metric()).map(|m| m.1);
        let improved = value.is_some_and(|v| self.goal.improves(v, self.best));
        if improved {
            self.best = value;
            let mut sidecar = self.sidecar()?;
            sidecar.extra = to_json(model)?;
            checkpoint::save(&self.run.checkpoint("best"), vs, None, &sidecar)?;
        }
        Ok(improved)
    }

    /// Saves everything a resume needs as the `last` checkpoint (weights, optimizer if the run
    /// has one, step, epoch, best value, `state`), and redraws the plots.
    pub fn save_last(
        &mut self,
        vs: &VarStore,
        opt: Option<&Optimizer>,
        state: State,
    ) -> Result<()> {
        let mut sidecar = self.sidecar()?;
        sidecar.extra = state.model;
        sidecar.state = state.values;
        let tensors = state.tensors.into_iter().collect();
        checkpoint::save_with_state(&self.run.checkpoint("last"), vs, opt, tensors, &sidecar)?;
        self.run.plot()?;
        Ok(())
    }

    /// Redraws the plots of every logged metric (the checkpoints do it too).
    pub fn plot(&self) -> Result<()> {
        self.run.plot().map(drop)
    }

    /// A sidecar for the current step, with the latest metrics and the best value.
    fn sidecar(&self) -> Result<Sidecar> {
        let mut sidecar =
            Sidecar::new(self.app, self.step, self.epoch, self.config.seed(), &self.config)?;
        sidecar.metrics = self.metrics.clone();
        sidecar.best = self.best;
        Ok(sidecar)
    }

    /// Saves the weights alone as checkpoint `name` of this run (e.g. `epoch-3`, for
    /// checkpoint averaging), with the model description `model` and the current step.
    pub fn save_weights(&self, name: &str, vs: &VarStore, model: &impl Serialize) -> Result<()> {
        let mut sidecar = self.sidecar()?;
        sidecar.extra = to_json(model)?;
        checkpoint::save(&self.run.checkpoint(name), vs, None, &sidecar)
    }
}
