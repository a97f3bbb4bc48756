//! `basics`: the talk's claims about how deep learning works, each turned into an experiment
//! that measures it. See the crate's README for the claims, the commands and what they print.
//!
//! - [`tape`]: a hand-written reverse-mode autodiff (backpropagation in a hundred lines);
//! - [`backprop`]: it checked against libtorch and finite differences, and its cost measured;
//! - [`approx`]: one hidden layer approximates any 1-D function, better as it widens;
//! - [`collapse`]: linear layers without a non-linearity collapse into one matrix;
//! - [`activations`]: vanishing gradients, sigmoid vs tanh vs ReLU, on real digits;
//! - [`softmax`]: exponentiate then normalise, stably, and its gradient.

pub mod activations;
pub mod approx;
pub mod backprop;
pub mod collapse;
pub mod softmax;
pub mod tape;

use anyhow::{Context, Result};
use dl_core::device::DeviceSpec;
use dl_core::nn::Activation;
use harness::cli::DeviceArg;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the plots go and the seed.
#[derive(Clone, clap::Args)]
pub struct Common {
    /// Directory for the plots.
    #[arg(long, default_value = "runs/basics")]
    pub out: PathBuf,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Creates the output directory and returns the path of `name` in it.
pub fn plot_path(common: &Common, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("cannot create the output directory {}", common.out.display()))?;
    Ok(common.out.join(name))
}

/// Says where a file was written.
pub fn wrote(path: &Path) {
    println!("wrote {}", path.display());
}

/// An activation by name, for flags: relu, tanh or sigmoid.
pub fn parse_activation(s: &str) -> Result<Activation, String> {
    match s {
        "relu" => Ok(Activation::Relu),
        "tanh" => Ok(Activation::Tanh),
        "sigmoid" => Ok(Activation::Sigmoid),
        _ => Err(format!("unknown activation {s:?}: use relu, tanh or sigmoid")),
    }
}

/// Every experiment at small sizes (well under a minute).
pub fn demo(c: &Common) -> Result<()> {
    let start = Instant::now();
    println!("== backprop");
    backprop::report(&backprop::BackpropArgs {
        a: 2.0,
        b: 1.0,
        inputs: vec![10, 100, 1000],
        depth: 10,
        min_ms: 20.0,
        common: c.clone(),
    })?;
    println!("\n== mlp-approx");
    approx::report(&approx::ApproxArgs {
        widths: vec![2, 8, 32, 128],
        targets: vec![approx::Target::Sin, approx::Target::Step],
        activation: Activation::Relu,
        points: 128,
        steps: 1000,
        lr: 0.01,
        device: DeviceArg { device: DeviceSpec::Cpu },
        common: c.clone(),
    })?;
    println!("\n== linear-collapse");
    collapse::report(&collapse::CollapseArgs {
        depth: 10,
        width: 64,
        samples: 4096,
        common: c.clone(),
    })?;
    println!("\n== activations");
    activations::report(&activations::ActivationsArgs {
        dataset: "mnist".into(),
        activations: vec![Activation::Sigmoid, Activation::Tanh, Activation::Relu],
        depth: 10,
        width: 128,
        init: vec![activations::Init::Pytorch, activations::Init::He],
        steps: 300,
        batch: 64,
        lr: 0.1,
        momentum: 0.0,
        device: DeviceArg { device: DeviceSpec::Auto },
        data_dir: None,
        common: c.clone(),
    })?;
    println!("\n== softmax");
    softmax::report(c)?;
    println!("\nbasics demo done in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}
