//! The modules of the talk's vocabulary.
//!
//! Fully connected layers, convolutions and embeddings are tch's own (`tch::nn`), re-exported
//! here: they compute what PyTorch's do, with PyTorch's parameter names (`weight`, `bias`, ...).
//! Their default initialisation is tch's, not PyTorch's: weights uniform in
//! `±sqrt(6 / fan_in)` (Kaiming with the ReLU gain) where PyTorch draws from `±1/sqrt(fan_in)`,
//! and convolution biases zero; pass a config with `ws_init` / `bs_init` for other schemes (the
//! basics app's `activations` experiment shows how much this choice matters in a deep network).
//! Batch normalization is wrapped to get PyTorch's initialisation. This module adds what tch
//! lacks or spreads around: the activations as one named type, pooling and dropout as plain
//! functions, the recurrent family with one explicit state type ([`Recurrent`]), and a
//! finite-difference gradient check ([`gradcheck`]) that shows each module's backward pass is
//! the derivative of its forward pass.

mod activation;
mod gradcheck;
mod recurrent;

pub use activation::{log_softmax, softmax, Activation};
pub use gradcheck::{gradcheck, GradCheck};
pub use recurrent::{CellKind, Recurrent, RecurrentConfig, State};
pub use tch::nn::{
    conv2d, embedding, linear, BatchNorm, BatchNormConfig, Conv2D, ConvConfig, Embedding,
    EmbeddingConfig, Linear, LinearConfig, Module, ModuleT, Path, VarStore,
};

use std::borrow::Borrow;
use tch::Tensor;

/// Batch normalization over `[batch, features]` inputs, initialised as PyTorch's
/// `BatchNorm1d` (scale 1, shift 0; tch's own default draws the scale uniformly in [0, 1]).
pub fn batch_norm1d<'a>(vs: impl Borrow<Path<'a>>, features: i64) -> BatchNorm {
    tch::nn::batch_norm1d(vs, features, pytorch_batch_norm())
}

/// Batch normalization over `[batch, channels, h, w]` inputs, initialised as PyTorch's
/// `BatchNorm2d` (scale 1, shift 0).
pub fn batch_norm2d<'a>(vs: impl Borrow<Path<'a>>, channels: i64) -> BatchNorm {
    tch::nn::batch_norm2d(vs, channels, pytorch_batch_norm())
}

fn pytorch_batch_norm() -> BatchNormConfig {
    BatchNormConfig { ws_init: tch::nn::Init::Const(1.0), ..Default::default() }
}

/// PyTorch's default initialisation of a layer with `fan_in` inputs (`nn.Linear`, `nn.Conv2d`:
/// Kaiming-uniform with `a = sqrt(5)`, which comes to uniform in `±1/sqrt(fan_in)`, for the
/// weights and the biases alike).
pub fn pytorch_init(fan_in: i64) -> tch::nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    tch::nn::Init::Uniform { lo: -bound, up: bound }
}

/// A fully connected layer initialised as PyTorch's `nn.Linear` (tch's [`linear`] draws wider
/// weights): what recipes tuned in PyTorch, such as CleanRL's, expect.
pub fn linear_pytorch<'a>(vs: impl Borrow<Path<'a>>, inputs: i64, outputs: i64) -> Linear {
    let init = pytorch_init(inputs);
    linear(vs, inputs, outputs, LinearConfig { ws_init: init, bs_init: Some(init), bias: true })
}

/// A convolution initialised as PyTorch's `nn.Conv2d` (`fan_in = c_in x kernel x kernel`);
/// `config`'s initialisers are replaced, its stride, padding and groups kept.
pub fn conv2d_pytorch<'a>(
    vs: impl Borrow<Path<'a>>,
    c_in: i64,
    c_out: i64,
    kernel: i64,
    config: ConvConfig,
) -> Conv2D {
    let init = pytorch_init(c_in / config.groups * kernel * kernel);
    conv2d(vs, c_in, c_out, kernel, ConvConfig { ws_init: init, bs_init: init, ..config })
}

/// Max pooling over `kernel`×`kernel` windows with stride `kernel` (PyTorch's `MaxPool2d(k)`).
pub fn max_pool2d(xs: &Tensor, kernel: i64) -> Tensor {
    xs.max_pool2d([kernel, kernel], [kernel, kernel], [0, 0], [1, 1], false)
}

/// Dropout with probability `p` while training (kept values scaled by `1/(1-p)`), identity
/// otherwise: PyTorch's `nn.functional.dropout`.
pub fn dropout(xs: &Tensor, p: f64, train: bool) -> Tensor {
    xs.dropout(p, train)
}
