//! Training: teacher forcing (or scheduled sampling) on padded, length-sorted batches, masked
//! cross-entropy with label smoothing, validation loss and greedy BLEU after every epoch, the
//! checkpoint with the best validation BLEU kept.

use crate::data::{self, Corpus, Direction, Example, Tokenized};
use crate::evaluate::{bleu_on, loss_on, token_loss};
use crate::infer::Decoding;
use crate::model::{AttentionKind, ModelSpec, Seq2Seq};
use crate::tokenize::{TokenizerKind, Vocab, PAD, SPECIALS};
use crate::APP;
use anyhow::{bail, Context, Result};
use dl_core::checkpoint;
use dl_core::device::seed_step;
use dl_core::metrics::Mean;
use dl_core::nn::CellKind;
use dl_core::optim::{clip_grad_norm, Optimizer, OptimizerConfig, StepSchedule};
use harness::session::{Goal, Session, State, TrainingConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Tensor};

/// Everything that defines a training run (saved as `config.toml` in the run directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// `English<TAB>German` pair file; `None`: the vendored Ding sentence pairs.
    pub pairs: Option<PathBuf>,
    /// Translation direction.
    pub direction: Direction,
    /// Add the Ding dictionary's word and phrase pairs to the training split.
    pub dictionary: bool,
    /// The dictionary file (`German :: English` lines); `None`: fetched into the data cache.
    pub dictionary_file: Option<PathBuf>,
    /// Dictionary pairs per sentence pair in each epoch (drawn afresh every epoch).
    pub dictionary_ratio: f64,
    /// How sentences are cut into tokens.
    pub tokenizer: TokenizerKind,
    /// Tokens per language's vocabulary (specials included).
    pub vocab_size: usize,
    /// The source language's vocabulary size, if not `vocab_size`: a larger one costs only
    /// embedding rows (the output layer's cost is the target's), and pays where the
    /// dictionary data teaches the rarer words.
    pub src_vocab_size: Option<usize>,
    /// Lowercase both languages (BLEU is scored lowercased).
    pub lowercase: bool,
    /// Longest sentence, in tokens, kept for training.
    pub max_len: usize,
    /// Recurrent cell of encoder and decoder.
    pub cell: CellKind,
    /// Embedding size.
    pub embedding: i64,
    /// Hidden size of each encoder direction.
    pub encoder_hidden: i64,
    /// Hidden size of the decoder.
    pub decoder_hidden: i64,
    /// Stacked layers of each recurrent network.
    pub layers: i64,
    /// The attention.
    pub attention: AttentionKind,
    /// Size of Bahdanau's attention layer.
    pub attention_dim: i64,
    /// Dropout on embeddings, between layers and before the read-out.
    pub dropout: f64,
    /// Width of a `tanh` read-out layer before the output projection (0: none).
    pub readout: i64,
    /// Use the target embedding matrix as the output projection (needs `readout ==
    /// embedding`).
    pub tie_embeddings: bool,
    /// Probability of feeding the true previous token rather than the model's own guess.
    pub teacher_forcing: f64,
    /// Label smoothing of the cross-entropy (Szegedy et al., 2016).
    pub label_smoothing: f64,
    /// Probability of replacing each source token by `[UNK]` while training (word dropout,
    /// Sennrich et al., 2016).
    pub word_dropout: f64,
    /// Sentence pairs per batch.
    pub batch_size: usize,
    /// If above 0: batches of up to this many padded tokens instead of `batch_size` pairs.
    pub batch_tokens: usize,
    /// Passes over the training data.
    pub epochs: u64,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule over all steps.
    pub schedule: StepSchedule,
    /// Largest global gradient norm (0 turns clipping off).
    pub clip: f64,
    /// Seed of every random generator.
    pub seed: u64,
    /// Log the running training loss every this many steps.
    pub log_every: u64,
    /// Keep the weights after each of the last this many epochs (`checkpoints/epoch-N`), to
    /// average them with `seq2seq average` (0 keeps none).
    pub keep_last_epochs: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            pairs: None,
            direction: Direction::DeEn,
            dictionary: true,
            dictionary_file: None,
            dictionary_ratio: 2.0,
            tokenizer: TokenizerKind::Word,
            vocab_size: 8000,
            src_vocab_size: None,
            lowercase: true,
            max_len: 60,
            cell: CellKind::Gru,
            embedding: 256,
            encoder_hidden: 256,
            decoder_hidden: 512,
            layers: 1,
            attention: AttentionKind::Bahdanau,
            attention_dim: 256,
            dropout: 0.3,
            readout: 0,
            tie_embeddings: false,
            teacher_forcing: 1.0,
            label_smoothing: 0.1,
            word_dropout: 0.0,
            batch_size: 64,
            batch_tokens: 1024,
            epochs: 10,
            optimizer: OptimizerConfig::adam(1e-3),
            schedule: StepSchedule::Cosine { warmup_steps: 200 },
            clip: 1.0,
            seed: 1,
            log_every: 20,
            keep_last_epochs: 0,
        }
    }
}

impl TrainConfig {
    /// How epochs are cut into batches.
    pub fn batching(&self) -> data::Batching {
        match self.batch_tokens {
            0 => data::Batching::Pairs(self.batch_size),
            n => data::Batching::Tokens(n),
        }
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        if self.embedding < 1 || self.encoder_hidden < 1 || self.decoder_hidden < 1 {
            bail!("embedding and hidden sizes must be at least 1");
        }
        if self.layers < 1 || self.attention_dim < 1 {
            bail!("layers and attention_dim must be at least 1");
        }
        if self.batch_size < 1 || self.epochs < 1 || self.log_every < 1 || self.max_len < 1 {
            bail!("batch_size, epochs, log_every and max_len must be at least 1");
        }
        if self.readout < 0 {
            bail!("readout must be 0 (none) or a width, got {}", self.readout);
        }
        if self.tie_embeddings && self.readout != self.embedding {
            bail!(
                "tie_embeddings needs a read-out layer as wide as the embedding (--readout {}), \
                 got readout {}",
                self.embedding,
                self.readout
            );
        }
        if !(self.dictionary_ratio > 0.0 && self.dictionary_ratio <= 1000.0) {
            bail!("dictionary_ratio must be in (0, 1000], got {}", self.dictionary_ratio);
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("dropout must be in [0, 1), got {}", self.dropout);
        }
        if !(0.0..=1.0).contains(&self.teacher_forcing) {
            bail!("teacher_forcing must be in [0, 1], got {}", self.teacher_forcing);
        }
        if !(0.0..1.0).contains(&self.word_dropout) {
            bail!("word_dropout must be in [0, 1), got {}", self.word_dropout);
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            bail!("label_smoothing must be in [0, 1), got {}", self.label_smoothing);
        }
        if !(self.clip >= 0.0 && self.clip.is_finite()) {
            bail!("clip must be 0 (off) or a positive number, got {}", self.clip);
        }
        for (name, size) in
            [("vocab_size", Some(self.vocab_size)), ("src_vocab_size", self.src_vocab_size)]
        {
            if let Some(size) = size.filter(|&n| n <= SPECIALS.len() || n > 1_000_000) {
                bail!("{name} must be in 5..=1000000, got {size}");
            }
        }
        self.optimizer.validate()?;
        Ok(())
    }
}

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

fn prepare(config: &TrainConfig, saved: Option<&ModelInfo>) -> Result<Prepared> {
    let pairs = data::read_pairs(config.pairs.as_deref())?;
    let mut corpus = data::split(&pairs, config.direction)?;
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
) -> (f64, f64) {
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
    let loss = token_loss(&logits, &batch.tgt_out, config.label_smoothing, tch::Reduction::Mean);
    opt.zero_grad();
    loss.backward();
    let norm =
        if config.clip > 0.0 { clip_grad_norm(opt.parameters(), config.clip) } else { f64::NAN };
    opt.step();
    (loss.double_value(&[]), norm)
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
    let dictionary = data.train.len() - data.sentences;
    let epoch_batches = |config: &TrainConfig, epoch| {
        let examples = data::epoch_examples(
            data.sentences,
            dictionary,
            config.dictionary_ratio,
            config.seed,
            epoch,
        );
        data::epoch_batches(&data.train, examples, config.batching(), config.seed, epoch)
    };
    // Cut by tokens, epochs differ a little in batches: count them all for the schedule.
    let total_steps: u64 = (0..config.epochs).map(|e| epoch_batches(&config, e).len() as u64).sum();
    let steps_per_epoch = epoch_batches(&config, 0).len();
    let schedule = config.schedule.over(total_steps)?;

    let mut session = Session::start(APP, config, options, Goal::Max("valid_bleu"))?;
    let (config, device) = (session.config().clone(), session.device());
    let spec = ModelSpec {
        cell: config.cell,
        src_vocab: data.src.size(),
        tgt_vocab: data.tgt.size(),
        embedding: config.embedding,
        encoder_hidden: config.encoder_hidden,
        decoder_hidden: config.decoder_hidden,
        layers: config.layers,
        attention: config.attention,
        attention_dim: config.attention_dim,
        dropout: config.dropout,
        readout: config.readout,
        tie_embeddings: config.tie_embeddings,
    };
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
        None => {
            for (name, vocab) in
                [("tokenizer-src.json", &data.src), ("tokenizer-tgt.json", &data.tgt)]
            {
                dl_core::fs::write_atomic(&session.dir().join(name), vocab.to_json().as_bytes())
                    .with_context(|| format!("writing {name}"))?;
            }
        }
    }
    tracing::info!(
        "{} {}x{} encoder, {} decoder, {} attention: {} parameters, {steps_per_epoch} batches per \
         epoch, {device:?}",
        config.cell,
        config.layers,
        config.encoder_hidden,
        config.decoder_hidden,
        config.attention,
        Seq2Seq::parameters(spec)
    );

    let mut stopped_early = false;
    let mut valid_loss_at_best = f64::NAN;
    while session.epoch() < config.epochs && !stopped_early {
        let epoch = session.epoch();
        let batches = epoch_batches(&config, epoch);
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
            let (loss, norm) = update(&model, &mut opt, &batch, &config, &mut position.rng);
            if !loss.is_finite() {
                bail!("the training loss became {loss} at step {step}: lower the learning rate");
            }
            session.advance();
            batches_done += 1;
            window.add(loss, 1.0);
            progress.inc(1, &format!("loss {:.3}", window.value()));
            if session.step() % config.log_every == 0 {
                session.log(&[
                    ("train_loss", window.value()),
                    ("lr", opt.lr()),
                    ("grad_norm", norm),
                ])?;
                window = Mean::default();
            }
            if session.expired() {
                break;
            }
        }
        progress.finish();
        // An epoch cut short is not done: its checkpoint says where to go on from.
        let progress_in_epoch = if batches_done < batches.len() {
            tracing::info!(
                "time budget spent after batch {batches_done} of {} in epoch {}: evaluating",
                batches.len(),
                epoch + 1
            );
            position.batch_in_epoch = batches_done;
            batches_done as f64 / batches.len() as f64
        } else {
            session.end_epoch();
            0.0
        };
        let epoch = session.epoch();
        stopped_early = session.expired() && epoch < config.epochs;
        let valid_loss = loss_on(&[&model], &data.valid, 64, device);
        // The model alone chooses the best checkpoint: no dictionary for unknown words.
        let (bleu, translations) = bleu_on(
            &[&model],
            &data.src,
            &data.tgt,
            None,
            &data.corpus.valid,
            Decoding::GREEDY,
            device,
        );
        let label = match position.batch_in_epoch {
            0 => format!("epoch {epoch}"),
            done => format!("epoch {} (stopped after batch {done})", epoch + 1),
        };
        println!(
            "{label}: valid loss {valid_loss:.3}, BLEU {:.2} (greedy), {:.0} s",
            bleu.score,
            session.elapsed()
        );
        if let (Some(t), Some(e)) = (translations.first(), data.corpus.valid.first()) {
            tracing::info!("  {} => {} (reference: {})", e.source, t.text, e.target);
        }
        let metrics = [
            ("valid_loss", valid_loss),
            ("valid_bleu", bleu.score),
            ("epoch", epoch as f64 + progress_in_epoch),
        ];
        let state = State::model(&info)?.with_values(&position)?;
        if session.checkpoint(&vs, &opt, &metrics, state)? {
            valid_loss_at_best = valid_loss;
        }
        if config.keep_last_epochs > 0 && position.batch_in_epoch == 0 {
            session.save_weights(&format!("epoch-{epoch}"), &vs, &info)?;
            if let Some(old) = epoch.checked_sub(config.keep_last_epochs).filter(|&e| e > 0) {
                remove_checkpoint(&session.checkpoint_path(&format!("epoch-{old}")))?;
            }
        }
    }
    let best_valid_bleu = session.best().unwrap_or(f64::NAN);
    println!(
        "best valid BLEU {best_valid_bleu:.2} (greedy) after {} epochs, {:.0} s; run in {}",
        session.epoch(),
        session.elapsed(),
        session.dir().display()
    );
    Ok(Summary {
        dir: session.dir().to_path_buf(),
        epochs: session.epoch(),
        best_valid_bleu,
        valid_loss: valid_loss_at_best,
        stopped_early,
    })
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
