//! # style-transfer
//!
//! The talk's art showcase: a network trained only to classify photographs (VGG19) knows
//! enough about the visual world to repaint a photo in the style of a painting (Gatys, Ecker &
//! Bethge, 2015) or to hallucinate what it sees in it (DeepDream).
//!
//! `main.rs` parses the command line; `model.rs` is the network, the pretrained VGG19 feature
//! extractor (with the Caffe preprocessing folded in), `loss.rs` the content, style (Gram) and total-variation
//! losses, `transfer.rs` the optimisation of the image (L-BFGS from `dl_core::optim::lbfgs`,
//! or Adam), `train.rs` a run of it that checkpoints and resumes, `infer.rs` the library call
//! (with progress and cancellation), `dream.rs` DeepDream, `data.rs` images in and out,
//! `bench.rs` the benchmark.

pub mod bench;
pub mod data;
pub mod dream;
pub mod infer;
pub mod loss;
pub mod model;
pub mod train;
pub mod transfer;

/// The app's name (its run directories live in `runs/style-transfer/`).
pub const APP: &str = "style-transfer";
