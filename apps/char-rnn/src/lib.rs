//! # char-rnn
//!
//! The talk's language-modelling showcase (Karpathy's char-rnn, 2015): a recurrent network
//! reads text one character at a time and learns the probability of the next one; sampled, it
//! writes new text. The default corpus is Jane Austen's six novels.
//!
//! `main.rs` parses the command line; `data.rs` is the vocabulary, the corpus split and the
//! batch streams of truncated backpropagation through time, `model.rs` the network
//! (embedding, a recurrent stack, a linear read-out), `train.rs` the loop and evaluation,
//! `infer.rs` the trained model and generation, `bench.rs` the benchmark.

pub mod bench;
pub mod data;
pub mod infer;
pub mod model;
pub mod train;

/// The app's name, recorded in (and checked against) every checkpoint it writes.
pub const APP: &str = "char-rnn";
