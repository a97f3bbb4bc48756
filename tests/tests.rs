//! Integration tests, one module per app, compiled into a single binary (each test binary
//! links libtorch, so one binary keeps the suite quick to build).

mod basics;
mod char_rnn;
mod cli;
mod cnn_classifier;
mod core_crate;
mod datasets_crate;
mod dqn;
mod faults;
mod gallery;
mod gallery_browser;
mod models;
mod seq2seq;
mod style_transfer;
mod vocabulary;
mod workspace;
