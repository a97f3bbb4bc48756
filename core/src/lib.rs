//! The vocabulary of deep learning, as the talk tells it: a handful of modules, each with a
//! forward pass (libtorch's autograd supplies the backward pass), composed into a graph and
//! trained by gradient descent on one scalar loss, on CPU or CUDA.
//!
//! - [`device`]: choosing a device (`auto | cpu | cuda | cuda:N`) and seeding every generator;
//! - [`nn`]: the modules (fully connected, convolution, pooling, dropout, normalization,
//!   embedding, activations, and the recurrent family: Elman RNN, LSTM, GRU);
//! - [`optim`]: optimizers whose state can be saved (SGD, Adam, AdamW), learning-rate schedules
//!   and gradient clipping;
//! - [`checkpoint`], [`run`], [`metrics`], [`plot`], [`progress`], [`config`]: the machinery of
//!   a training run (run directories, checkpoints that resume exactly, curves, progress);
//! - [`doctor`]: what libtorch this binary runs on and whether CUDA works.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod device;
pub mod doctor;
pub mod error;
pub mod fs;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod run;

pub use error::{Error, Result};
