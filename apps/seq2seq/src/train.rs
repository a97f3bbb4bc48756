//! Training: teacher forcing (or scheduled sampling) on padded, length-sorted batches, masked
//! cross-entropy with label smoothing, validation loss and greedy BLEU after every epoch, the
//! checkpoint with the best validation BLEU kept.

use crate::data::{self, Corpus, Direction, Example, Tokenized};
use crate::evaluate::{bleu_on, loss_on, token_loss};
use crate::infer::Decoding;
use crate::model::{ModelSpec, Seq2Seq};
use crate::tokenize::{Vocab, PAD};
use crate::APP;
use anyhow::{bail, Context, Result};
use dl_core::checkpoint;
use dl_core::device::seed_step;
use dl_core::metrics::Mean;
use dl_core::optim::{clip_grad_norm, Optimizer};
use dl_core::precision::Precision;
use harness::session::{Goal, Session, State, TrainingConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Tensor};

pub use crate::config::TrainConfig;

/// What a checkpoint of this app carries besides the weights (the sidecar's `extra`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The network's shape.
    pub spec: ModelSpec,
    /// Translation direction.
    pub direction: Direction,
    /// The source language's tokenizer (JSON).
    pub src_tokenizer: String,
    /// The target language's tokenizer (JSON).
    pub tgt_tokenizer: String,
}

impl ModelInfo {
    /// Whether `other` reads and writes the same tokens in the same direction, so that the two
    /// can decode together as an ensemble.
    pub fn shares_vocabularies(&self, other: &ModelInfo) -> bool {
        self.src_tokenizer == other.src_tokenizer
            && self.tgt_tokenizer == other.tgt_tokenizer
            && self.direction == other.direction
    }
}

/// Where and how a run goes (shared by every app).
pub use harness::run::RunOptions;

/// The outcome of a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The run directory.
    pub dir: PathBuf,
    /// Epochs done (over all sessions of the run).
    pub epochs: u64,
    /// Best validation BLEU (greedy).
    pub best_valid_bleu: f64,
    /// Validation loss at the best epoch.
    pub valid_loss: f64,
    /// Whether `--max-minutes` stopped it early.
    pub stopped_early: bool,
}

/// The data of a run, tokenized.
struct Prepared {
    corpus: Corpus,
    src: Vocab,
    tgt: Vocab,
    /// Sentence pairs first, then dictionary pairs.
    train: Vec<Tokenized>,
    /// How many of `train` are sentence pairs.
    sentences: usize,
    valid: Vec<Tokenized>,
}

impl Prepared {
    /// The batches of `epoch`, as indices into `train`.
    fn epoch_batches(&self, config: &TrainConfig, epoch: u64) -> Vec<Vec<usize>> {
        let dictionary = self.train.len() - self.sentences;
        let ratio = config.dictionary_ratio;
        let examples = data::epoch_examples(self.sentences, dictionary, ratio, config.seed, epoch);
        data::epoch_batches(&self.train, examples, config.batching(), config.seed, epoch)
    }

    /// Writes the tokenizers into the run directory `dir`.
    fn write_tokenizers(&self, dir: &Path) -> Result<()> {
        for (name, vocab) in [("tokenizer-src.json", &self.src), ("tokenizer-tgt.json", &self.tgt)]
        {
            dl_core::fs::write_atomic(&dir.join(name), vocab.to_json().as_bytes())
                .with_context(|| format!("writing {name}"))?;
        }
        Ok(())
    }
}

fn prepare(config: &TrainConfig, saved: Option<&ModelInfo>) -> Result<Prepared> {
    let mut corpus = data::Source::of(config)?.corpus(config.direction)?;
    if config.dictionary {
        let dictionary = data::read_dictionary(config.dictionary_file.as_ref())?;
        let added = data::add_dictionary(&mut corpus, &dictionary, config.direction);
        tracing::info!("dictionary: {added} pairs join the training split");
    }
    let (src, tgt) = match saved {
        Some(info) => {
            (Vocab::from_json(&info.src_tokenizer)?, Vocab::from_json(&info.tgt_tokenizer)?)
        }
        None => {
            let side = |pick: fn(&Example) -> &str| -> Vec<&str> {
                corpus.train.iter().map(pick).collect()
            };
            let learn = |size: usize, sentences: Vec<&str>| {
                Vocab::train(config.tokenizer, size, config.lowercase, &sentences)
            };
            let src_size = config.src_vocab_size.unwrap_or(config.vocab_size);
            (learn(src_size, side(|e| &e.source))?, learn(config.vocab_size, side(|e| &e.target))?)
        }
    };
    let n = corpus.train.len() - corpus.dictionary_pairs;
    let (mut train, dropped) = data::encode_all(&corpus.train[..n], &src, &tgt, config.max_len);
    let sentences = train.len();
    let (dictionary, _) = data::encode_all(&corpus.train[n..], &src, &tgt, config.max_len);
    train.extend(dictionary);
    let (valid, _) = data::encode_all(&corpus.valid, &src, &tgt, usize::MAX);
    if train.is_empty() {
        bail!("no training pair fits max_len = {} tokens", config.max_len);
    }
    let unknown =
        src.unknown_rate(&corpus.test.iter().map(|e| e.source.as_str()).collect::<Vec<_>>());
    tracing::info!(
        "{}: {} training pairs ({} from the dictionary, {dropped} longer than {} tokens left \
         out), {} validation, {} test; {} tokenizer, vocabularies {} / {}, unknown source tokens \
         in test {:.1} %",
        config.direction,
        train.len(),
        corpus.dictionary_pairs,
        config.max_len,
        corpus.valid.len(),
        corpus.test.len(),
        config.tokenizer,
        src.size(),
        tgt.size(),
        100.0 * unknown
    );
    Ok(Prepared { corpus, src, tgt, train, sentences, valid })
}

/// One update: encode, decode (teacher forcing with probability `teacher_forcing` per step,
/// else the model's own previous guess), masked smoothed cross-entropy, backward, clip, step.
/// Returns the loss per target token and the gradient norm before clipping.
pub fn update(
    model: &Seq2Seq,
    opt: &mut Optimizer,
    batch: &data::Batch,
    config: &TrainConfig,
    rng: &mut ChaCha8Rng,
    precision: Precision,
) -> Result<(f64, f64)> {
    let loss = precision.autocast(batch.src.device(), || loss_of(model, batch, config, rng))?;
    opt.zero_grad();
    loss.backward();
    let norm =
        if config.clip > 0.0 { clip_grad_norm(opt.parameters(), config.clip) } else { f64::NAN };
    opt.step();
    Ok((loss.double_value(&[]), norm))
}

/// The loss of one batch (the forward pass of [`update`]).
fn loss_of(
    model: &Seq2Seq,
    batch: &data::Batch,
    config: &TrainConfig,
    rng: &mut ChaCha8Rng,
) -> Tensor {
    let src = if config.word_dropout > 0.0 {
        let draws = Tensor::rand(batch.src.size(), (tch::Kind::Float, batch.src.device()));
        let dropped = draws.lt(config.word_dropout).logical_and(&batch.src.ne(PAD));
        batch.src.masked_fill(&dropped, crate::tokenize::UNK)
    } else {
        batch.src.shallow_clone()
    };
    let encoded = model.encode(&src, &batch.src_lengths, true);
    let logits = if config.teacher_forcing >= 1.0 {
        model.decode_teacher(&encoded, &batch.tgt_in, true).0
    } else {
        // Scheduled sampling (Bengio et al., 2015): step by step, feeding at each step either
        // the true previous token or the model's own most probable one.
        let steps = batch.tgt_in.size()[1];
        let mut state = model.initial_state(&encoded);
        let mut prev = batch.tgt_in.select(1, 0);
        let mut all = Vec::with_capacity(steps as usize);
        for t in 0..steps {
            let step = model.step(&encoded, &prev, &state, true);
            if t + 1 < steps {
                prev = if rng.random::<f64>() < config.teacher_forcing {
                    batch.tgt_in.select(1, t + 1)
                } else {
                    step.logits.argmax(-1, false).detach()
                };
            }
            all.push(step.logits);
            state = step.state;
        }
        Tensor::stack(&all, 1)
    };
    token_loss(&logits, &batch.tgt_out, config.label_smoothing, tch::Reduction::Mean)
}

impl TrainingConfig for TrainConfig {
    fn seed(&self) -> u64 {
        self.seed
    }
}

/// Where a run stopped, besides its weights and optimizer (the last checkpoint's state).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Position {
    /// Batches of the current epoch already trained when `--max-minutes` stopped the run
    /// inside it (0 at an epoch's end); `--resume` goes on from the next one.
    batch_in_epoch: usize,
    /// The generator of scheduled sampling's coin flips.
    rng: ChaCha8Rng,
}

/// Trains a model: a new run from `config`, or the run in `options.resume` from its last
/// checkpoint (with its own saved configuration and tokenizers), continuing exactly.
pub fn train(config: TrainConfig, options: &RunOptions) -> Result<Summary> {
    let config = Session::configuration(config, options)?;
    if options.resume.is_none() {
        config.validate()?;
    }
    let saved: Option<ModelInfo> = match &options.resume {
        Some(dir) => harness::session::last_model(dir, APP)?,
        None => None,
    };
    let data = prepare(&config, saved.as_ref())?;
    // Cut by tokens, epochs differ a little in batches: count them all for the schedule.
    let total_steps: u64 =
        (0..config.epochs).map(|e| data.epoch_batches(&config, e).len() as u64).sum();
    let schedule = config.schedule.over(total_steps)?;

    let mut session = Session::start(APP, config, options, Goal::Max("valid_bleu"))?;
    let (config, device) = (session.config().clone(), session.device());
    let spec = config.model_spec(data.src.size(), data.tgt.size());
    let info = ModelInfo {
        spec,
        direction: config.direction,
        src_tokenizer: data.src.to_json(),
        tgt_tokenizer: data.tgt.to_json(),
    };
    let mut vs = VarStore::new(device);
    let model = Seq2Seq::new(&vs.root(), spec);
    let mut opt = Optimizer::new(config.optimizer.clone(), &vs)?;
    let mut position = Position { batch_in_epoch: 0, rng: ChaCha8Rng::seed_from_u64(config.seed) };
    match session.restore(&mut vs, Some(&mut opt))? {
        Some(saved) => position = saved.values_as()?,
        None => data.write_tokenizers(session.dir())?,
    }
    describe(&config, spec, data.epoch_batches(&config, 0).len(), device);

    let mut stopped_early = false;
    let mut valid_loss_at_best = f64::NAN;
    while session.epoch() < config.epochs && !stopped_early {
        let epoch = session.epoch();
        let batches = data.epoch_batches(&config, epoch);
        let skip = std::mem::take(&mut position.batch_in_epoch).min(batches.len());
        let label = format!("epoch {}", epoch + 1);
        let mut progress = session.progress(&label, (batches.len() - skip) as u64, "batches");
        let mut window = Mean::default();
        let mut batches_done = skip;
        for indices in &batches[skip..] {
            let step = session.step();
            seed_step(config.seed, step);
            let examples: Vec<&Tokenized> = indices.iter().map(|&i| &data.train[i]).collect();
            let batch = data::batch(&examples, device);
            opt.set_lr(schedule.lr(config.optimizer.lr(), step));
            let (loss, norm) =
                update(&model, &mut opt, &batch, &config, &mut position.rng, options.precision)?;
            if !loss.is_finite() {
                bail!("the training loss became {loss} at step {step}: lower the learning rate");
            }
            session.advance();
            batches_done += 1;
            window.add(loss, 1.0);
            progress.inc(1, &format!("loss {:.3}", window.value()));
            if session.step() % config.log_every == 0 {
                let logged =
                    [("train_loss", window.value()), ("lr", opt.lr()), ("grad_norm", norm)];
                session.log(&logged)?;
                window = Mean::default();
            }
            if session.expired() {
                break;
            }
        }
        progress.finish();
        // An epoch cut short is not done: its checkpoint says where to go on from.
        let fraction_done = batches_done as f64 / batches.len() as f64;
        let (epoch_count, label) = if batches_done < batches.len() {
            position.batch_in_epoch = batches_done;
            (
                epoch as f64 + fraction_done,
                format!("epoch {} (stopped after batch {batches_done})", epoch + 1),
            )
        } else {
            session.end_epoch();
            (session.epoch() as f64, format!("epoch {}", session.epoch()))
        };
        stopped_early = session.expired() && session.epoch() < config.epochs;
        let (valid_loss, bleu) = validate(&model, &data, &label, session.elapsed(), device);
        let metrics = [("valid_loss", valid_loss), ("valid_bleu", bleu), ("epoch", epoch_count)];
        if session.checkpoint(&vs, &opt, &metrics, State::model(&info)?.with_values(&position)?)? {
            valid_loss_at_best = valid_loss;
        }
        if config.keep_last_epochs > 0 && position.batch_in_epoch == 0 {
            keep_epoch(&session, &vs, &info, config.keep_last_epochs)?;
        }
    }
    let (dir, epochs, seconds) = (session.dir().to_path_buf(), session.epoch(), session.elapsed());
    let best_valid_bleu = session.best().unwrap_or(f64::NAN);
    let run = dir.display();
    println!("best valid BLEU {best_valid_bleu:.2} (greedy) after {epochs} epochs, {seconds:.0} s; run in {run}");
    Ok(Summary { dir, epochs, best_valid_bleu, valid_loss: valid_loss_at_best, stopped_early })
}

/// Logs what is about to be trained.
fn describe(config: &TrainConfig, spec: ModelSpec, batches_per_epoch: usize, device: Device) {
    tracing::info!(
        "{} {}x{} encoder, {} decoder, {} attention: {} parameters, {batches_per_epoch} batches \
         per epoch, {device:?}",
        config.cell,
        config.layers,
        config.encoder_hidden,
        config.decoder_hidden,
        config.attention,
        Seq2Seq::parameters(spec)
    );
}

/// Validation loss and greedy BLEU (the model alone: no dictionary for unknown words, so that
/// the model chooses the best checkpoint), printed on a line that starts with `label`.
fn validate(
    model: &Seq2Seq,
    data: &Prepared,
    label: &str,
    elapsed: f64,
    device: Device,
) -> (f64, f64) {
    let valid_loss = loss_on(&[model], &data.valid, 64, device);
    let valid = &data.corpus.valid;
    let (bleu, translations) =
        bleu_on(&[model], &data.src, &data.tgt, None, valid, Decoding::GREEDY, device);
    println!(
        "{label}: valid loss {valid_loss:.3}, BLEU {:.2} (greedy), {elapsed:.0} s",
        bleu.score
    );
    if let (Some(t), Some(e)) = (translations.first(), valid.first()) {
        tracing::info!("  {} => {} (reference: {})", e.source, t.text, e.target);
    }
    (valid_loss, bleu.score)
}

/// Saves the weights of the epoch just finished as `epoch-N` (for checkpoint averaging) and
/// deletes the one that is now `keep` epochs old.
fn keep_epoch(
    session: &Session<TrainConfig>,
    vs: &VarStore,
    info: &ModelInfo,
    keep: u64,
) -> Result<()> {
    let epoch = session.epoch();
    session.save_weights(&format!("epoch-{epoch}"), vs, info)?;
    match epoch.checked_sub(keep).filter(|&e| e > 0) {
        Some(old) => remove_checkpoint(&session.checkpoint_path(&format!("epoch-{old}"))),
        None => Ok(()),
    }
}

/// Deletes the files of a weights-only checkpoint, if they are there.
fn remove_checkpoint(path: &Path) -> Result<()> {
    let paths = checkpoint::Paths::of(path);
    for file in [paths.sidecar, paths.model] {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", file.display()))
            }
            _ => {}
        }
    }
    Ok(())
}
