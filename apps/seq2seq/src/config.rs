//! The configuration of a training run: every hyperparameter a named, documented field, with
//! the defaults of the best configuration measured (see the README); `config.toml` in every
//! run directory is this struct.

/// Everything that defines a training run (saved as `config.toml` in the run directory).
use crate::data::{self, Direction};
use crate::model::{AttentionKind, ModelSpec};
use crate::tokenize::{TokenizerKind, SPECIALS};
use anyhow::{bail, Result};
use dl_core::nn::CellKind;
use dl_core::optim::{OptimizerConfig, StepSchedule};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The sentence pairs: `ding` (the embedded Ding pairs, or `pairs`, split by a stable
    /// hash) or `multi30k` (its official train / val / test 2016 splits, fetched).
    pub data: String,
    /// `English<TAB>German` pair file to split instead of the Ding pairs.
    pub pairs: Option<PathBuf>,
    /// Official splits as `English<TAB>German` files (all three together), instead of `data`.
    pub train: Option<PathBuf>,
    /// The validation file that goes with `train`.
    pub valid: Option<PathBuf>,
    /// The test file that goes with `train`.
    pub test: Option<PathBuf>,
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
            data: "ding".into(),
            pairs: None,
            train: None,
            valid: None,
            test: None,
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
    /// The defaults for the data `data`: Multi30k trains on its own sentences (no dictionary
    /// data, as the published models it is compared with) and keeps case, so that its output
    /// can be scored cased (sacreBLEU's default).
    pub fn defaults_for(data: &str) -> TrainConfig {
        let base = TrainConfig { data: data.to_string(), ..TrainConfig::default() };
        match data {
            "multi30k" => TrainConfig { dictionary: false, lowercase: false, ..base },
            _ => base,
        }
    }

    /// How epochs are cut into batches.
    pub fn batching(&self) -> data::Batching {
        match self.batch_tokens {
            0 => data::Batching::Pairs(self.batch_size),
            n => data::Batching::Tokens(n),
        }
    }

    /// The network for vocabularies of `src_vocab` and `tgt_vocab` tokens.
    pub fn model_spec(&self, src_vocab: i64, tgt_vocab: i64) -> ModelSpec {
        ModelSpec {
            cell: self.cell,
            src_vocab,
            tgt_vocab,
            embedding: self.embedding,
            encoder_hidden: self.encoder_hidden,
            decoder_hidden: self.decoder_hidden,
            layers: self.layers,
            attention: self.attention,
            attention_dim: self.attention_dim,
            dropout: self.dropout,
            readout: self.readout,
            tie_embeddings: self.tie_embeddings,
        }
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        data::Source::of(self)?;
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
