//! The training harness: what every app's training command does around its loop, so that the
//! loop is all an app's `train.rs` has to show.
//!
//! - [`session`]: a training session: start a run or resume one exactly (configuration,
//!   weights, optimizer, RNG and the app's own state), the time budget, the best and last
//!   checkpoints by one named metric, metrics, plots and progress;
//! - [`run`], [`metrics`], [`plot`], [`progress`]: the run directory and what is written in it;
//! - [`cli`], [`config`]: the flags every app shares, and configurations resolved from
//!   defaults, a TOML file and flags;
//! - [`doctor`]: what libtorch this binary runs on and whether CUDA works;
//! - [`models`]: the trained models that ship in `models/`, their cards, and names that resolve
//!   to them wherever a checkpoint is read.
//!
//! The vocabulary it trains (modules, optimizers, checkpoints, devices) is `dl_core`; this
//! crate adds no model code.

pub mod cli;
pub mod config;
pub mod doctor;
pub mod metrics;
pub mod models;
pub mod plot;
pub mod progress;
pub mod run;
pub mod session;
