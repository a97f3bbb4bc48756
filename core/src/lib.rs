//! The vocabulary of deep learning, as the talk tells it: a handful of modules, each with a
//! forward pass (libtorch's autograd supplies the backward pass), composed into a graph and
//! trained by gradient descent on one scalar loss, on CPU or CUDA.
//!
//! - [`device`]: choosing a device (`auto | cpu | cuda | cuda:N`) and seeding every generator;
//! - [`nn`]: the modules (fully connected, convolution, pooling, dropout, normalization,
//!   embedding, activations, and the recurrent family: Elman RNN, LSTM, GRU);
//! - [`optim`]: optimizers whose state can be saved (SGD, Adam, AdamW, Adadelta, L-BFGS),
//!   learning-rate schedules and gradient clipping;
//! - [`checkpoint`]: weights, optimizer state and a sidecar, written so that a run resumes
//!   exactly and a crash never leaves a torn checkpoint;
//! - [`metrics`]: running means and counts a training loop keeps;
//! - [`perf`]: this machine's matmul ceiling, to put a bench's FLOP/s beside;
//! - [`precision`]: mixed precision (bf16 autocast on CPU and CUDA) as one switch;
//! - [`shim`]: the few libtorch calls tch does not expose (autocast on CPU, fused optimizer
//!   kernels), through a small C++ file built against the same libtorch.
//!
//! No plotting, progress bars or command-line parsing: those are the harness's (the `harness`
//! crate), which depends on this one and never the other way round.

pub mod checkpoint;
pub mod device;
pub mod error;
pub mod fs;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod perf;
pub mod precision;
pub mod shim;

pub use error::{Error, Result};
