//! `basics`: the talk's ideas about how deep learning works, as experiments you can run.
//! See the crate's README for what each subcommand shows and what it printed when we ran it.

use anyhow::Result;
use basics::{activations, approx, backprop, collapse, softmax, Common};
use clap::{Parser, Subcommand};

/// How deep learning works, measured: backprop, universal approximation, why non-linearities
/// and why ReLU, softmax.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Backpropagation on the talk's graph, checked three ways, and its cost on big graphs.
    Backprop(backprop::BackpropArgs),
    /// One hidden layer fitting sin and a step function, for growing widths.
    MlpApprox(approx::ApproxArgs),
    /// A deep linear stack is one matrix; with ReLU in between, no matrix fits.
    LinearCollapse(collapse::CollapseArgs),
    /// Sigmoid vs tanh vs ReLU in a deep MLP on digits: gradients at initialisation, loss after
    /// training.
    Activations(activations::ActivationsArgs),
    /// Softmax: overflow of the literal formula, the max-subtraction trick, its gradient.
    Softmax(Common),
    /// Every experiment at small sizes (well under a minute).
    Demo(Common),
}

fn main() {
    harness::cli::init(false);
    harness::cli::main(run);
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Backprop(a) => backprop::report(&a),
        Command::MlpApprox(a) => approx::report(&a),
        Command::LinearCollapse(a) => collapse::report(&a),
        Command::Activations(a) => activations::report(&a),
        Command::Softmax(c) => softmax::report(&c),
        Command::Demo(c) => basics::demo(&c),
    }
}
