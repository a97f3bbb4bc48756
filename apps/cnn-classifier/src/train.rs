//! The training loop: mini-batch gradient descent on cross-entropy, a validation pass and a
//! test pass every epoch, the best checkpoint kept, metrics and plots in the run directory.

use crate::data::{self, Data, Normalization, Source};
use crate::infer::Classifier;
use crate::model::{ModelKind, Net, Shape};
use crate::APP;
use anyhow::{bail, Result};
use datasets::batch::Batches;
use dl_core::device::seed_step;
use dl_core::metrics::{correct, Mean};
use dl_core::nn::ModuleT;
use dl_core::optim::{Optimizer, OptimizerConfig, Schedule};
use harness::session::{Goal, Session, State, TrainingConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// How the learning rate moves, in epochs (converted to a per-step [`Schedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum LrSchedule {
    /// Multiply by `gamma` after every epoch (PyTorch's example: StepLR(step_size=1, gamma=0.7)).
    Step {
        /// Factor per epoch.
        gamma: f64,
    },
    /// Linear warm-up for `warmup_epochs`, then cosine decay to zero at the last epoch.
    Cosine {
        /// Epochs of warm-up.
        #[serde(default)]
        warmup_epochs: u64,
    },
    /// The base rate throughout.
    Constant,
}

impl LrSchedule {
    fn per_step(self, steps_per_epoch: u64, epochs: u64) -> Schedule {
        match self {
            LrSchedule::Step { gamma } => Schedule::Step { every: steps_per_epoch, gamma },
            LrSchedule::Cosine { warmup_epochs } => Schedule::Cosine {
                warmup: warmup_epochs * steps_per_epoch,
                total: epochs * steps_per_epoch,
                min_factor: 0.0,
            },
            LrSchedule::Constant => Schedule::Constant,
        }
    }
}

/// Everything that defines a training run (saved as `config.toml` in the run directory).
/// `Default` is PyTorch's MNIST example: Adadelta at 1.0, the rate times 0.7 every epoch,
/// batches of 64; [`TrainConfig::defaults_for`] tunes it per dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// `mnist`, `fashion-mnist`, `cifar10`, `folder:PATH` or `h5:FILE`.
    pub dataset: String,
    /// The network.
    pub model: ModelKind,
    /// Passes over the training set.
    pub epochs: u64,
    /// Examples per gradient step.
    pub batch_size: usize,
    /// Examples per batch when evaluating.
    pub eval_batch_size: usize,
    /// Training examples held out for validation (the best checkpoint is chosen on them).
    pub valid_size: usize,
    /// Random small rotations, scalings and shifts (and flips where they keep the label).
    pub augment: bool,
    /// Seed of every random generator.
    pub seed: u64,
    /// Log the running training loss every this many steps.
    pub log_every: u64,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            dataset: "mnist".into(),
            model: ModelKind::Cnn,
            epochs: 10,
            batch_size: 64,
            eval_batch_size: 1000,
            valid_size: 5000,
            augment: false,
            seed: 1,
            log_every: 100,
            optimizer: OptimizerConfig::adadelta(1.0),
            schedule: LrSchedule::Step { gamma: 0.7 },
        }
    }
}

impl TrainConfig {
    /// The tuned defaults for `dataset`, as the tables in the README measure them:
    /// - MNIST: PyTorch's example recipe with augmentation (99.41 % test after 10 epochs where
    ///   the plain recipe stops near 99.2 %);
    /// - Fashion-MNIST: Adam at 0.001 with a cosine decay to zero (92.43 % after 10 epochs;
    ///   Adadelta's rate decays to 4 % by epoch 10 and learning stops at 91.95 %; augmentation
    ///   was worse after 5 epochs);
    /// - anything else: PyTorch's example recipe.
    pub fn defaults_for(dataset: &str) -> TrainConfig {
        let base = TrainConfig { dataset: dataset.to_string(), ..TrainConfig::default() };
        match dataset {
            "mnist" => TrainConfig { augment: true, ..base },
            "fashion-mnist" => TrainConfig {
                optimizer: OptimizerConfig::adam(1e-3),
                schedule: LrSchedule::Cosine { warmup_epochs: 0 },
                ..base
            },
            _ => base,
        }
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0
            || self.batch_size == 0
            || self.eval_batch_size == 0
            || self.log_every == 0
        {
            bail!("epochs, batch_size, eval_batch_size and log_every must be at least 1");
        }
        if self.valid_size == 0 {
            bail!("valid_size must be at least 1 (the best checkpoint is chosen on validation accuracy)");
        }
        self.optimizer.validate()?;
        if let LrSchedule::Step { gamma } = self.schedule {
            if !(gamma > 0.0 && gamma.is_finite()) {
                bail!("the step schedule's gamma must be a positive number, got {gamma}");
            }
        }
        self.dataset.parse::<Source>()?;
        Ok(())
    }
}

/// What a checkpoint of this app carries besides the weights: what `predict` and `eval` need
/// to rebuild the network and feed it (kept in the sidecar's `extra`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Input and output shape.
    pub shape: Shape,
    /// Class names, by label.
    pub classes: Vec<String>,
    /// Input normalisation.
    pub norm: Normalization,
}

/// Loss and accuracy on a set, and the confusion matrix `[true][predicted]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Counts of (true class, predicted class).
    pub confusion: Vec<Vec<i64>>,
}

/// Evaluates `net` on `images`/`labels` in eval mode (no dropout, batch-norm running stats).
pub fn evaluate(
    net: &Net,
    set: &datasets::ImageSet,
    norm: &Normalization,
    batch: usize,
    device: Device,
) -> Result<Evaluation> {
    let _guard = tch::no_grad_guard();
    let classes = set.classes.len() as i64;
    let mut loss = Mean::default();
    let mut confusion = Tensor::zeros([classes * classes], (Kind::Int64, device));
    for b in Batches::new(&[&set.images, &set.labels], batch, None, false, device)? {
        let logits = net.forward_t(&data::inputs(&b[0], norm, device), false);
        let n = b[1].size()[0] as f64;
        loss.add(logits.cross_entropy_for_logits(&b[1]).double_value(&[]), n);
        let predicted = logits.argmax(-1, false);
        confusion += (&b[1] * classes + predicted).bincount::<Tensor>(None, classes * classes);
    }
    let flat = Vec::<i64>::try_from(&confusion.to_device(Device::Cpu))?;
    let confusion: Vec<Vec<i64>> = flat.chunks(classes as usize).map(<[i64]>::to_vec).collect();
    let right: i64 = (0..classes as usize).map(|i| confusion[i][i]).sum();
    Ok(Evaluation { loss: loss.value(), accuracy: right as f64 / set.len() as f64, confusion })
}

/// Options of a training command besides the configuration (shared by every app).
pub use harness::run::RunOptions;

/// The outcome of a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The run directory.
    pub dir: PathBuf,
    /// Epochs completed.
    pub epochs: u64,
    /// Best validation accuracy.
    pub best_valid_acc: f64,
    /// Test accuracy of the best checkpoint.
    pub test_acc: f64,
    /// Whether `--max-minutes` stopped it early.
    pub stopped_early: bool,
}

impl TrainingConfig for TrainConfig {
    fn seed(&self) -> u64 {
        self.seed
    }
}

/// Where a run stopped inside an epoch (the last checkpoint's training state).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Position {
    /// Batches already done in the epoch the checkpoint was taken in.
    batch_in_epoch: u64,
}

/// Trains a network: a new run from `config`, or the run in `options.resume` from its last
/// checkpoint (with its own saved configuration), continuing exactly where it stopped.
/// Datasets are read from (and fetched into) `data_dir`.
pub fn train(config: TrainConfig, options: &RunOptions, data_dir: &Path) -> Result<Summary> {
    if options.resume.is_none() {
        config.validate()?;
    }
    let mut session = Session::start(APP, config, options, Goal::Max("valid_acc"))?;
    let (config, device) = (session.config().clone(), session.device());
    let data = Data::load(&config.dataset.parse()?, data_dir, config.valid_size)?;
    let [channels, height, width] = data.train.image_shape();
    let shape = Shape { channels, height, width, classes: data.train.classes.len() as i64 };
    let norm = Normalization::of(&data.train.images);
    let info = ModelInfo { shape, classes: data.train.classes.clone(), norm: norm.clone() };

    let mut vs = VarStore::new(device);
    let net = Net::new(&vs.root(), config.model, shape)?;
    let mut opt = Optimizer::new(config.optimizer.clone(), &vs)?;
    let mut position = Position::default();
    if let Some(saved) = session.restore(&mut vs, Some(&mut opt))? {
        position = saved.values_as()?;
    }
    let steps_per_epoch = data.train.len().div_ceil(config.batch_size) as u64;
    let schedule = config.schedule.per_step(steps_per_epoch, config.epochs);
    describe(&config, &data, &vs);

    let mut stopped_early = false;
    while session.epoch() < config.epochs && !stopped_early {
        let epoch = session.epoch();
        let skip = std::mem::take(&mut position.batch_in_epoch);
        let images_and_labels = [&data.train.images, &data.train.labels];
        let shuffle = Some((config.seed, epoch));
        let batches = Batches::new(&images_and_labels, config.batch_size, shuffle, false, device)?
            .skip_batches(skip as usize);
        let label = format!("epoch {}/{}", epoch + 1, config.epochs);
        let mut progress = session.progress(&label, steps_per_epoch - skip, "batches");
        let mut stats = EpochStats::after(skip);
        for batch in batches {
            let step = session.step();
            seed_step(config.seed, step);
            let x = batch[0].to_kind(Kind::Float) / 255.0;
            let x = if config.augment { data::augment(&x, data.flips_keep_label) } else { x };
            let (logits, loss) = options.precision.autocast(device, || {
                let logits = net.forward_t(&norm.apply(&x), true); // [batch, classes]
                let loss = logits.cross_entropy_for_logits(&batch[1]);
                (logits, loss)
            })?;
            opt.set_lr(schedule.lr(config.optimizer.lr(), step));
            opt.zero_grad();
            loss.backward();
            opt.step();
            session.advance();

            stats.add(loss.double_value(&[]), &logits, &batch[1]);
            progress.inc(1, &format!("loss {:.4}", stats.window.value()));
            if session.step() % config.log_every == 0 {
                session.log(&[("train_loss", stats.window.value()), ("lr", opt.lr())])?;
                stats.window = Mean::default();
            }
            if session.expired() && stats.done < steps_per_epoch {
                (stopped_early, position.batch_in_epoch) = (true, stats.done);
                break;
            }
        }
        progress.finish();
        if !stopped_early {
            session.end_epoch();
        }
        stats.stopped_early = stopped_early;
        let metrics = end_of_epoch(&net, &norm, &data, &config, &stats, session.epoch(), device)?;
        session.checkpoint(&vs, &opt, &metrics, State::model(&info)?.with_values(&position)?)?;
    }

    // The result of a run is its best checkpoint (by validation accuracy) on the test set.
    let best = Classifier::load(session.dir(), device)?;
    let test_acc = evaluate(&best.net, &data.test, &norm, config.eval_batch_size, device)?.accuracy;
    let best_valid_acc = session.best().unwrap_or(f64::NAN);
    say(format_args!(
        "best valid accuracy {:.2}%, its test accuracy {:.2}%; run in {}",
        100.0 * best_valid_acc,
        100.0 * test_acc,
        session.dir().display()
    ));
    let (dir, epochs) = (session.dir().to_path_buf(), session.epoch());
    Ok(Summary { dir, epochs, best_valid_acc, test_acc, stopped_early })
}

/// Prints a result line on stdout; a closed stdout (a server's, a finished `| head`) loses the
/// line, not the run.
fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Logs what is about to be trained on what.
fn describe(config: &TrainConfig, data: &Data, vs: &VarStore) {
    let [c, h, w] = data.train.image_shape();
    tracing::info!(
        "{} on {}: {} train / {} valid / {} test images of {c}x{h}x{w}, {} classes, {} parameters, {:?}",
        config.model,
        config.dataset,
        data.train.len(),
        data.valid.len(),
        data.test.len(),
        data.train.classes.len(),
        vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>(),
        vs.device()
    );
}

/// What an epoch's batches add up to.
struct EpochStats {
    /// Training loss over the epoch, and since the last log line.
    loss: Mean,
    window: Mean,
    /// Examples classified right, and seen.
    right: i64,
    seen: i64,
    /// Batches of the epoch done (those skipped on resuming included).
    done: u64,
    started: Instant,
    /// Whether the time budget cut the epoch short.
    stopped_early: bool,
}

impl EpochStats {
    /// An epoch whose first `skip` batches were done before a resume.
    fn after(skip: u64) -> EpochStats {
        let (loss, window) = (Mean::default(), Mean::default());
        let started = Instant::now();
        EpochStats { loss, window, right: 0, seen: 0, done: skip, started, stopped_early: false }
    }

    /// Counts a batch with mean loss `loss`, `logits` and `labels`.
    fn add(&mut self, loss: f64, logits: &Tensor, labels: &Tensor) {
        let n = labels.size()[0];
        self.loss.add(loss, n as f64);
        self.window.add(loss, n as f64);
        (self.right, self.seen, self.done) =
            (self.right + correct(logits, labels), self.seen + n, self.done + 1);
    }
}

/// Evaluates on the validation and test sets, prints the epoch's line and returns its metrics.
fn end_of_epoch(
    net: &Net,
    norm: &Normalization,
    data: &Data,
    config: &TrainConfig,
    stats: &EpochStats,
    epoch: u64,
    device: Device,
) -> Result<Vec<(&'static str, f64)>> {
    let seconds = stats.started.elapsed().as_secs_f64();
    let valid = evaluate(net, &data.valid, norm, config.eval_batch_size, device)?;
    let test = evaluate(net, &data.test, norm, config.eval_batch_size, device)?;
    let images_per_s = stats.seen as f64 / seconds;
    say(format_args!(
        "epoch {epoch:>2}{}: train loss {:.4}, valid acc {:.2}%, test acc {:.2}%, {seconds:.1} s ({images_per_s:.0} images/s)",
        if stats.stopped_early { " (stopped early)" } else { "" },
        stats.loss.value(),
        100.0 * valid.accuracy,
        100.0 * test.accuracy
    ));
    Ok(vec![
        ("epoch", epoch as f64),
        ("train_loss", stats.loss.value()),
        ("train_acc", stats.right as f64 / stats.seen.max(1) as f64),
        ("valid_loss", valid.loss),
        ("valid_acc", valid.accuracy),
        ("test_loss", test.loss),
        ("test_acc", test.accuracy),
        ("epoch_seconds", seconds),
        ("images_per_s", images_per_s),
    ])
}
