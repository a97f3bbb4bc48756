//! # cnn-classifier
//!
//! The talk's first showcase: convolution, ReLU and pooling stacked until the problem is solved.
//! Networks: the multilayer perceptron, PyTorch's MNIST example CNN (LeCun et al., 1998, in its
//! modern form), and ResNet-20 (He et al., 2016). Data: MNIST, Fashion-MNIST, CIFAR-10, or
//! your own (`folder:PATH`, `h5:FILE`).
//!
//! `main.rs` parses the command line; `model.rs` is the networks, `data.rs` the data and
//! augmentation, `train.rs` the loop and evaluation, `infer.rs` the trained classifier (load a checkpoint,
//! classify your own images),
//! `report.rs` the confusion matrix and filter pictures, `demo.rs` a digit drawn for the demo tour,
//! `bench.rs` the benchmark.

pub mod bench;
pub mod data;
pub mod demo;
pub mod infer;
pub mod model;
pub mod report;
pub mod train;

/// The app's name, recorded in (and checked against) every checkpoint it writes.
pub const APP: &str = "cnn-classifier";

/// Photographs of handwritten digits (MNIST test digits 3, 4 and 9 printed dark on cream paper,
/// at 142x130), embedded for the demo: `examples/digit-*.png`.
pub const DEMO_DIGITS: [(&str, &[u8]); 3] = [
    ("digit-3.png", include_bytes!("../examples/digit-3.png")),
    ("digit-4.png", include_bytes!("../examples/digit-4.png")),
    ("digit-9.png", include_bytes!("../examples/digit-9.png")),
];
