//! # cnn-classifier
//!
//! The talk's first showcase: convolution, ReLU and pooling stacked until the problem is solved.
//! Networks: the multilayer perceptron, PyTorch's MNIST example CNN (LeCun et al., 1998, in its
//! modern form), and ResNet-20 (He et al., 2016). Data: MNIST, Fashion-MNIST, CIFAR-10, or
//! your own (`folder:PATH`, `h5:FILE`).
//!
//! `main.rs` parses the command line; `model.rs` is the networks, `data.rs` the data and
//! augmentation, `train.rs` the loop and evaluation, `predict.rs` classifying your own images,
//! `report.rs` the confusion matrix and filter pictures, `bench.rs` the benchmark.

pub mod bench;
pub mod data;
pub mod model;
pub mod predict;
pub mod report;
pub mod train;

/// The app's name, recorded in (and checked against) every checkpoint it writes.
pub const APP: &str = "cnn-classifier";
