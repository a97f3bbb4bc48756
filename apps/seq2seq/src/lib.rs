//! # seq2seq
//!
//! The talk's translation showcase (Sutskever et al., 2014; Bahdanau et al., 2015): one
//! recurrent network reads a German sentence, another writes it in English, and attention lets
//! the writer look back at every source word. Trained on the Ding dictionary's 19.5k sentence
//! pairs (and, optionally, its word and phrase pairs), scored with BLEU.
//!
//! `main.rs` parses the command line; `data.rs` reads, splits and batches the pairs,
//! `tokenize.rs` learns the subword vocabularies, `model.rs` is the network (encoder,
//! attention, decoder), `config.rs` the training configuration, `train.rs` the loop, `infer.rs` the trained translator (load, translate, ensembles,
//! averaging), `evaluate.rs` loss and BLEU, `beam.rs` greedy and beam-search decoding, `bleu.rs` sacreBLEU-compatible scoring, `bench.rs` the benchmark.

pub mod beam;
pub mod bench;
pub mod bleu;
pub mod config;
pub mod data;
pub mod evaluate;
pub mod infer;
pub mod lexicon;
pub mod model;
pub mod tokenize;
pub mod train;

/// The app's name, recorded in (and checked against) every checkpoint it writes.
pub const APP: &str = "seq2seq";
