//! Training: truncated backpropagation through time over contiguous streams, with the hidden
//! state carried from batch to batch and detached between them; periodic validation in bits
//! per character, samples written into the run directory, the best checkpoint kept.

use crate::data::{self, Split, Streams, Vocab};
use crate::infer::{self, SampleOptions};
use crate::model::{CharRnn, ModelSpec};
use crate::APP;
use anyhow::{bail, Context, Result};
use dl_core::device::seed_step;
use dl_core::metrics::Mean;
use dl_core::nn::{CellKind, State as RecurrentState};
use dl_core::optim::{clip_grad_norm, Optimizer, OptimizerConfig, StepSchedule};
use dl_core::precision::Precision;
use harness::session::{Goal, Session, State, TrainingConfig};
use serde::{Deserialize, Serialize};
use std::f64::consts::LN_2;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Everything that defines a training run (saved as `config.toml` in the run directory). The
/// defaults are a 2-layer LSTM of 512 over 64-wide embeddings, with the recipe that fits it
/// best into 20 minutes of a 2-core CPU: batches of 32 windows of 64 characters, Adam at 6e-3
/// (100 warm-up steps, then cosine decay to zero over 2,160 steps), gradient norm clipped at 5.
/// A large-batch recipe for the same model (64 x 128, Adam 2e-3, 600 steps) is
/// `configs/large-batch.toml`; the README compares the two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The embedded corpus to learn from when `text` is empty: `austen` (Jane Austen's six
    /// novels) or `tinyshakespeare`.
    pub data: String,
    /// UTF-8 text files to learn from instead of `data`.
    pub text: Vec<PathBuf>,
    /// Fraction at the end of every file held out for validation.
    pub valid_fraction: f64,
    /// The recurrent cell.
    pub cell: CellKind,
    /// Stacked recurrent layers.
    pub layers: i64,
    /// Hidden state size of each layer.
    pub hidden: i64,
    /// Size of the character embedding.
    pub embedding: i64,
    /// Dropout between layers and before the read-out.
    pub dropout: f64,
    /// Initial LSTM forget-gate bias (0 keeps PyTorch's initialisation).
    pub forget_bias: f64,
    /// Characters per truncated-backpropagation window.
    pub seq_len: i64,
    /// Streams read in parallel (rows of a batch).
    pub batch_size: i64,
    /// Optimizer updates in the whole run (the schedule spans them).
    pub steps: u64,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    pub schedule: StepSchedule,
    /// Largest global gradient norm (0 turns clipping off).
    pub clip: f64,
    /// Seed of every random generator.
    pub seed: u64,
    /// Log the running training loss every this many steps.
    pub log_every: u64,
    /// Evaluate on the validation text (and checkpoint) every this many steps.
    pub eval_every: u64,
    /// Write a sample into `samples/` at every evaluation, of this many characters (0: none).
    pub sample_length: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: "austen".into(),
            text: Vec::new(),
            valid_fraction: 0.05,
            cell: CellKind::Lstm,
            layers: 2,
            hidden: 512,
            embedding: 64,
            dropout: 0.0,
            forget_bias: 0.0,
            seq_len: 64,
            batch_size: 32,
            steps: 2160,
            optimizer: OptimizerConfig::adam(6e-3),
            schedule: StepSchedule::Cosine { warmup_steps: 100 },
            clip: 5.0,
            seed: 1,
            log_every: 10,
            eval_every: 400,
            sample_length: 300,
        }
    }
}

impl TrainConfig {
    /// The defaults for the embedded corpus `data`: tiny Shakespeare holds out its last 10 %
    /// for validation, as nanoGPT splits it, so the numbers compare with nanoGPT's.
    pub fn defaults_for(data: &str) -> TrainConfig {
        let base = TrainConfig { data: data.to_string(), ..TrainConfig::default() };
        match data {
            "tinyshakespeare" => TrainConfig { valid_fraction: 0.1, ..base },
            _ => base,
        }
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        if self.text.is_empty() {
            data::embedded(&self.data)?;
        }
        if self.layers < 1 || self.hidden < 1 || self.embedding < 1 {
            bail!("layers, hidden and embedding must be at least 1");
        }
        if self.seq_len < 1 || self.batch_size < 1 {
            bail!("seq_len and batch_size must be at least 1");
        }
        if self.steps == 0 || self.log_every == 0 || self.eval_every == 0 {
            bail!("steps, log_every and eval_every must be at least 1");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("dropout must be in [0, 1), got {}", self.dropout);
        }
        if !self.forget_bias.is_finite() {
            bail!("forget_bias must be a number, got {}", self.forget_bias);
        }
        if !(self.clip >= 0.0 && self.clip.is_finite()) {
            bail!("clip must be 0 (off) or a positive number, got {}", self.clip);
        }
        self.optimizer.validate()?;
        self.schedule.over(self.steps)?;
        Ok(())
    }
}

/// What a checkpoint of this app carries besides the weights (the sidecar's `extra`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The characters the model knows.
    pub vocab: Vocab,
    /// The network's shape.
    pub spec: ModelSpec,
}

/// Mean loss over a text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean negative log-likelihood of the next character, in nats.
    pub loss: f64,
    /// The same in bits per character.
    pub bpc: f64,
    /// Characters predicted.
    pub chars: i64,
}

/// The model's loss on `tokens` (1-D, i64), read as `streams` contiguous rows with the state
/// carried through each row, `seq_len` characters at a time. Every character of the rows but
/// the first is predicted from all that precede it in its row.
pub fn evaluate(
    model: &CharRnn,
    tokens: &Tensor,
    streams: i64,
    seq_len: i64,
    device: Device,
) -> Result<Evaluation> {
    let _guard = tch::no_grad_guard();
    let len = tokens.size()[0];
    let rows = streams.min((len - 1).max(1));
    let row_len = len / rows;
    if row_len < 2 {
        bail!("the text is too short to evaluate ({len} characters)");
    }
    let grid = tokens.narrow(0, 0, rows * row_len).view([rows, row_len]).to_device(device);
    let mut state = model.zero_state(rows);
    let (mut total, mut count) = (0.0, 0i64);
    let mut start = 0;
    while start + 1 < row_len {
        let n = seq_len.min(row_len - 1 - start);
        let x = grid.narrow(1, start, n);
        let y = grid.narrow(1, start + 1, n);
        let (logits, next) = model.forward(&x, Some(&state), false);
        let v = logits.size()[2];
        let nll = logits.view([-1, v]).cross_entropy_loss::<Tensor>(
            &y.reshape([-1]),
            None,
            tch::Reduction::Sum,
            -100,
            0.0,
        );
        total += nll.double_value(&[]);
        count += rows * n;
        state = next;
        start += n;
    }
    let loss = total / count as f64;
    Ok(Evaluation { loss, bpc: loss / std::f64::consts::LN_2, chars: count })
}

/// nanoGPT's protocol: the mean loss over consecutive windows of `window` characters of
/// `tokens`, each read from a fresh (zero) state, so every character is predicted from at most
/// `window` characters before it (the first of a window from one). nanoGPT averages random
/// windows; these cover the text once, which is the same expectation without the noise.
pub fn evaluate_windows(
    model: &CharRnn,
    tokens: &Tensor,
    window: i64,
    device: Device,
) -> Result<Evaluation> {
    let _guard = tch::no_grad_guard();
    let len = tokens.size()[0];
    let windows = (len - 1) / window;
    if window < 1 || windows < 1 {
        bail!("the text ({len} characters) is shorter than one window of {window}");
    }
    let (mut total, mut count) = (0.0, 0i64);
    const BATCH: i64 = 64;
    for first in (0..windows).step_by(BATCH as usize) {
        let n = BATCH.min(windows - first);
        let chunk = |offset: i64| {
            let idx =
                Tensor::arange(n, (Kind::Int64, Device::Cpu)) * window + (first * window + offset);
            let cols = Tensor::arange(window, (Kind::Int64, Device::Cpu));
            tokens.index_select(0, &(idx.unsqueeze(1) + cols.unsqueeze(0)).view([-1]))
        };
        let x = chunk(0).view([n, window]).to_device(device);
        let y = chunk(1).view([-1]).to_device(device);
        let (logits, _) = model.forward(&x, Some(&model.zero_state(n)), false);
        let v = logits.size()[2];
        let nll = logits.view([-1, v]).cross_entropy_loss::<Tensor>(
            &y,
            None,
            tch::Reduction::Sum,
            -100,
            0.0,
        );
        total += nll.double_value(&[]);
        count += n * window;
    }
    let loss = total / count as f64;
    Ok(Evaluation { loss, bpc: loss / std::f64::consts::LN_2, chars: count })
}

/// Options of a training command besides the configuration (shared by every app).
pub use harness::run::RunOptions;

/// The outcome of a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The run directory.
    pub dir: PathBuf,
    /// Steps done (over all sessions of the run).
    pub steps: u64,
    /// Best validation bits per character.
    pub best_valid_bpc: f64,
    /// Whether `--max-minutes` stopped it before `steps`.
    pub stopped_early: bool,
}

/// Streams read in parallel when evaluating.
pub const EVAL_STREAMS: i64 = 64;

impl TrainingConfig for TrainConfig {
    fn seed(&self) -> u64 {
        self.seed
    }
}

/// Trains a model: a new run from `config`, or the run in `options.resume` from its last
/// checkpoint (with its own saved configuration). A resumed run goes on exactly: weights,
/// optimizer, step, data position and the carried hidden state all come back.
pub fn train(config: TrainConfig, options: &RunOptions) -> Result<Summary> {
    // A resumed run goes on with its own saved configuration (and so its own corpus); the data
    // is read and checked before a run directory is written.
    let config = Session::configuration(config, options)?;
    if options.resume.is_none() {
        config.validate()?;
    }
    let corpus = Corpus::load(&config)?;
    let mut session = Session::start(APP, config, options, Goal::Min("valid_bpc"))?;
    let (config, device) = (session.config().clone(), session.device());
    let spec = ModelSpec {
        cell: config.cell,
        vocab: corpus.vocab.len() as i64,
        embedding: config.embedding,
        hidden: config.hidden,
        layers: config.layers,
        dropout: config.dropout,
    };
    let info = ModelInfo { vocab: corpus.vocab.clone(), spec };
    let mut vs = VarStore::new(device);
    let model = CharRnn::new(&vs.root(), spec);
    if config.forget_bias != 0.0 {
        model.set_forget_bias(config.forget_bias);
    }
    let mut opt = Optimizer::new(config.optimizer.clone(), &vs)?;
    let mut state = model.zero_state(config.batch_size);
    if let Some(saved) = session.restore(&mut vs, Some(&mut opt))? {
        if saved.model_as::<ModelInfo>()?.vocab != corpus.vocab {
            bail!("the corpus no longer has the vocabulary the run was started with");
        }
        state = restore_hidden(&saved, state.c.is_some(), device)?;
    }
    let schedule = config.schedule.over(config.steps)?;
    let per_epoch = corpus.streams.batches_per_epoch();
    corpus.describe(&config, spec, device);

    let remaining = config.steps.saturating_sub(session.step());
    let mut progress = session.progress("train", remaining, "steps");
    let mut window = Window::new(config.batch_size * config.seq_len);
    let mut stopped_early = false;
    while session.step() < config.steps {
        let step = session.step();
        let (epoch, i) = (step / per_epoch, step % per_epoch);
        if i == 0 {
            // A new pass over the text: the streams start again from their beginnings.
            state = model.zero_state(config.batch_size);
        }
        seed_step(config.seed, step);
        let (x, y) = corpus.streams.batch(epoch, i, device); // [batch, seq_len] each
        opt.set_lr(schedule.lr(config.optimizer.lr(), step));
        let (loss, grad_norm, next) =
            update(&model, &mut opt, &x, &y, &state, config.clip, options.precision)?;
        state = next;
        session.advance();

        let step = session.step();
        window.add(loss);
        progress.inc(1, &format!("bpc {:.3}", window.loss.value() / LN_2));
        if step % config.log_every == 0 {
            session.log(&window.take(opt.lr(), grad_norm))?;
        }
        stopped_early = session.expired() && step < config.steps;
        if step % config.eval_every == 0 || step == config.steps || stopped_early {
            let eval = evaluate(&model, &corpus.valid, EVAL_STREAMS, config.seq_len, device)?;
            let elapsed = session.elapsed();
            let (bpc, nats) = (eval.bpc, eval.loss);
            progress.println(&format!(
                "step {step}: valid {bpc:.4} bpc ({nats:.4} nats), {elapsed:.0} s"
            ));
            let saved = State::model(&info)?.with_tensor("hidden.h", &state.h);
            let saved = match &state.c {
                Some(c) => saved.with_tensor("hidden.c", c),
                None => saved,
            };
            session.checkpoint(&vs, &opt, &[("valid_loss", nats), ("valid_bpc", bpc)], saved)?;
            if config.sample_length > 0 {
                write_sample(&model, &corpus.vocab, &config, step, session.dir(), device)?;
            }
            window.restart_clock();
        }
        if stopped_early {
            break;
        }
    }
    progress.finish();
    let best_valid_bpc = session.best().unwrap_or(f64::NAN);
    println!(
        "best valid {best_valid_bpc:.4} bpc after {} steps, {:.0} s; run in {}",
        session.step(),
        session.elapsed(),
        session.dir().display()
    );
    let (dir, steps) = (session.dir().to_path_buf(), session.step());
    Ok(Summary { dir, steps, best_valid_bpc, stopped_early })
}

/// The text of a run: its vocabulary, the training streams and the validation characters.
struct Corpus {
    files: usize,
    train_chars: usize,
    vocab: Vocab,
    streams: Streams,
    valid: Tensor,
}

impl Corpus {
    /// Reads and checks the configuration's text.
    fn load(config: &TrainConfig) -> Result<Corpus> {
        let parts = data::load_parts(&config.data, &config.text)?;
        let split = Split::new(&parts, config.valid_fraction)?;
        let vocab = Vocab::from_texts([split.train.as_str(), split.valid.as_str()]);
        let train = data::tensor(&vocab, &split.train)?;
        let streams = Streams::new(train, config.batch_size, config.seq_len)?;
        let valid = data::tensor(&vocab, &split.valid)?;
        if valid.size()[0] < 2 {
            bail!("the validation text is too short: raise valid_fraction or give more text");
        }
        let train_chars = split.train.chars().count();
        Ok(Corpus { files: parts.len(), train_chars, vocab, streams, valid })
    }

    /// Logs what is about to be trained on what.
    fn describe(&self, config: &TrainConfig, spec: ModelSpec, device: Device) {
        tracing::info!(
            "{} {}x{} on {} files: {} training / {} validation characters, vocabulary {}, {} parameters, {} batches per epoch, {device:?}",
            config.cell,
            config.layers,
            config.hidden,
            self.files,
            self.train_chars,
            self.valid.size()[0],
            self.vocab.len(),
            CharRnn::parameters(spec),
            self.streams.batches_per_epoch()
        );
    }
}

/// The training loss and throughput since the last log line.
struct Window {
    loss: Mean,
    started: Instant,
    tokens: i64,
    tokens_per_step: i64,
}

impl Window {
    fn new(tokens_per_step: i64) -> Window {
        Window { loss: Mean::default(), started: Instant::now(), tokens: 0, tokens_per_step }
    }

    fn add(&mut self, loss: f64) {
        self.loss.add(loss, 1.0);
        self.tokens += self.tokens_per_step;
    }

    /// Evaluation time does not count towards throughput.
    fn restart_clock(&mut self) {
        (self.started, self.tokens) = (Instant::now(), 0);
    }

    /// The values of a log line, and a fresh window.
    fn take(&mut self, lr: f64, grad_norm: f64) -> [(&'static str, f64); 5] {
        let tokens_per_s = self.tokens as f64 / self.started.elapsed().as_secs_f64();
        let loss = std::mem::take(&mut self.loss).value();
        self.restart_clock();
        [
            ("train_loss", loss),
            ("train_bpc", loss / LN_2),
            ("lr", lr),
            ("grad_norm", grad_norm),
            ("tokens_per_s", tokens_per_s),
        ]
    }
}

/// The hidden state carried into the next window, as the last checkpoint saved it.
fn restore_hidden(saved: &State, lstm: bool, device: Device) -> Result<RecurrentState> {
    let h = saved.tensor("hidden.h", device)?;
    let c = if lstm { Some(saved.tensor("hidden.c", device)?) } else { None };
    Ok(RecurrentState { h, c })
}

/// One update of truncated backpropagation through time: the window `x` (targets `y`, both
/// `[batch, seq_len]`) is read from `state`, the mean cross-entropy is backpropagated through
/// the window only, gradients are clipped to global norm `clip` (0: not clipped) and the
/// optimizer steps. Returns the loss (nats per character), the gradient norm before clipping
/// (NaN when not clipped) and the final state, detached: the next window starts from it
/// without a path back into this one.
#[allow(clippy::too_many_arguments)]
pub fn update(
    model: &CharRnn,
    opt: &mut Optimizer,
    x: &Tensor,
    y: &Tensor,
    state: &RecurrentState,
    clip: f64,
    precision: Precision,
) -> Result<(f64, f64, RecurrentState)> {
    let (loss, next) = precision.autocast(x.device(), || {
        let (logits, next) = model.forward(x, Some(state), true);
        let vocab = logits.size()[2];
        (logits.view([-1, vocab]).cross_entropy_for_logits(&y.reshape([-1])), next)
    })?;
    opt.zero_grad();
    loss.backward();
    let norm = if clip > 0.0 { clip_grad_norm(opt.parameters(), clip) } else { f64::NAN };
    opt.step();
    Ok((loss.double_value(&[]), norm, next.detach()))
}

/// Writes `samples/step-NNNNNN.txt`: a sample at temperature 0.8 from a line break.
fn write_sample(
    model: &CharRnn,
    vocab: &Vocab,
    config: &TrainConfig,
    step: u64,
    dir: &Path,
    device: Device,
) -> Result<()> {
    let options = SampleOptions {
        prime: String::new(),
        length: config.sample_length,
        temperature: 0.8,
        top_k: None,
        seed: config.seed,
    };
    let text = infer::generate(model, vocab, &options, device, |_| ControlFlow::Continue(()))?;
    let path = dir.join("samples").join(format!("step-{step:06}.txt"));
    std::fs::create_dir_all(path.parent().expect("a parent")).context("creating samples/")?;
    dl_core::fs::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    tracing::info!("sample: {}", first.chars().take(100).collect::<String>());
    Ok(())
}
