//! `linear-collapse`: without a non-linearity, depth buys nothing. A stack of linear layers
//! `x -> W_L(...(W_2(W_1 x + b_1) + b_2)...) + b_L` is one affine map `x -> W x + b` with
//! `W = W_L ... W_1`: multiplied out, it gives the same outputs to float precision. Put a ReLU
//! between the layers and no single affine map fits: even the least-squares best one leaves a
//! large part of the output unexplained.

use crate::{plot_path, wrote, Common};
use anyhow::ensure;
use harness::plot::{line_chart, Series};
use tch::{Device, Kind, Tensor};

/// Settings of the experiment.
#[derive(Clone, Debug)]
pub struct CollapseConfig {
    /// Linear layers in the stack.
    pub depth: usize,
    /// Input, hidden and output width.
    pub width: i64,
    /// Random inputs (standard normal) the stacks are compared on.
    pub samples: i64,
    /// Seed of the weights and inputs.
    pub seed: u64,
}

/// One layer: `x -> x W^T + b`.
struct Layer {
    weight: Tensor,
    bias: Tensor,
}

/// Weights drawn to keep the signal's scale through the stack: `N(0, gain / fan_in)`, with gain 1
/// for a linear stack (LeCun) and 2 for a ReLU stack (He), so neither result is an artefact of
/// outputs shrinking to zero or blowing up.
fn stack(c: &CollapseConfig, gain: f64) -> Vec<Layer> {
    let std = (gain / c.width as f64).sqrt();
    (0..c.depth)
        .map(|_| Layer {
            weight: Tensor::randn([c.width, c.width], (Kind::Float, Device::Cpu)) * std,
            bias: Tensor::randn([c.width], (Kind::Float, Device::Cpu)) * 0.1,
        })
        .collect()
}

fn run_stack(layers: &[Layer], x: &Tensor, relu: bool) -> Tensor {
    let mut h = x.shallow_clone();
    for (i, l) in layers.iter().enumerate() {
        h = h.linear(&l.weight, Some(&l.bias));
        if relu && i + 1 < layers.len() {
            h = h.relu();
        }
    }
    h
}

/// The one affine map a linear stack computes: `W = W_L ... W_1`, and the bias pushed through
/// the later layers, `b = W_L(...(W_2 b_1 + b_2)...) + b_L`.
pub fn multiply_out(layers_w: &[Tensor], layers_b: &[Tensor]) -> (Tensor, Tensor) {
    let mut w = layers_w[0].shallow_clone();
    let mut b = layers_b[0].shallow_clone();
    for (wi, bi) in layers_w[1..].iter().zip(&layers_b[1..]) {
        w = wi.matmul(&w);
        b = wi.mv(&b) + bi;
    }
    (w, b)
}

/// `[x, 1]` in double precision: the design matrix of an affine fit.
fn design(x: &Tensor) -> Tensor {
    let ones = Tensor::ones([x.size()[0], 1], (Kind::Double, x.device()));
    Tensor::cat(&[x.to_kind(Kind::Double), ones], 1)
}

/// The least-squares affine map from `x` to `y`: coefficients `[A; c]` of `[x, 1] [A; c] ~ y`.
pub fn affine_fit(x: &Tensor, y: &Tensor) -> Tensor {
    let (coef, _, _, _) = design(x).linalg_lstsq(&y.to_kind(Kind::Double), None, "gelsd");
    coef
}

/// Fraction of the variance of `y` that the least-squares affine fit from `x` leaves
/// unexplained (0: an affine map is exact; 1: it explains nothing). Solved in double precision.
pub fn affine_residual(x: &Tensor, y: &Tensor) -> f64 {
    let y = y.to_kind(Kind::Double);
    let residual = (&y - design(x).matmul(&affine_fit(x, &y))).square().sum(Kind::Double);
    let spread = (&y - y.mean_dim(0, true, Kind::Double)).square().sum(Kind::Double);
    (residual / spread).double_value(&[])
}

/// What the experiment measured.
#[derive(Clone, Debug)]
pub struct Collapse {
    /// Largest |stack(x) - (W x + b)| over all samples and outputs (linear stack).
    pub max_abs_diff: f64,
    /// Largest |output| of the linear stack, for scale.
    pub max_abs_output: f64,
    /// Unexplained variance of the best affine fit to the linear stack.
    pub linear_residual: f64,
    /// Unexplained variance of the best affine fit to the ReLU stack.
    pub relu_residual: f64,
    /// Along the line `x0 + t d`, `t` in [-3, 3]: (t, linear stack, collapsed matrix, ReLU stack,
    /// best affine fit to the ReLU stack), first output.
    pub slice: Vec<[f64; 5]>,
}

/// Runs the experiment.
pub fn run(c: &CollapseConfig) -> Collapse {
    let _no_grad = tch::no_grad_guard();
    tch::manual_seed(c.seed as i64);
    let x = Tensor::randn([c.samples, c.width], (Kind::Float, Device::Cpu));

    let linear = stack(c, 1.0);
    let ws: Vec<Tensor> = linear.iter().map(|l| l.weight.shallow_clone()).collect();
    let bs: Vec<Tensor> = linear.iter().map(|l| l.bias.shallow_clone()).collect();
    let (w, b) = multiply_out(&ws, &bs);
    let deep = run_stack(&linear, &x, false);
    let single = x.linear(&w, Some(&b));
    let max_abs_diff = (&deep - &single).abs().max().double_value(&[]);
    let max_abs_output = deep.abs().max().double_value(&[]);
    let linear_residual = affine_residual(&x, &deep);

    let relu = stack(c, 2.0);
    let deep_relu = run_stack(&relu, &x, true);
    let relu_residual = affine_residual(&x, &deep_relu);

    // A picture: the first output along a line through input space.
    let (x0, d) = (x.get(0), x.get(1) - x.get(0));
    let t = Tensor::linspace(-3.0, 3.0, 201, (Kind::Float, Device::Cpu));
    let line = x0.unsqueeze(0) + t.unsqueeze(1) * d.unsqueeze(0);
    let fit_relu = design(&line).matmul(&affine_fit(&x, &deep_relu));
    let columns = [
        t.to_kind(Kind::Double),
        run_stack(&linear, &line, false).select(1, 0).to_kind(Kind::Double),
        line.linear(&w, Some(&b)).select(1, 0).to_kind(Kind::Double),
        run_stack(&relu, &line, true).select(1, 0).to_kind(Kind::Double),
        fit_relu.select(1, 0),
    ];
    let columns: Vec<Vec<f64>> =
        columns.iter().map(|t| Vec::<f64>::try_from(t).expect("double column")).collect();
    let slice = (0..201).map(|i| std::array::from_fn(|k| columns[k][i])).collect();
    Collapse { max_abs_diff, max_abs_output, linear_residual, relu_residual, slice }
}

// The experiment as a command: its flags, and what it prints and draws.

/// The flags of this experiment's command.
#[derive(clap::Args)]
pub struct CollapseArgs {
    /// Linear layers in the stack.
    #[arg(long, default_value_t = 10)]
    pub depth: usize,
    /// Width of every layer.
    #[arg(long, default_value_t = 64)]
    pub width: i64,
    /// Random inputs compared on.
    #[arg(long, default_value_t = 4096)]
    pub samples: i64,
    #[command(flatten)]
    pub common: Common,
}

/// Runs the experiment: prints what it measured and draws its plots.
pub fn report(a: &CollapseArgs) -> anyhow::Result<()> {
    ensure!(a.depth >= 2, "--depth must be at least 2 (one layer has nothing to collapse)");
    ensure!(a.width >= 1 && a.samples > a.width + 1, "--samples must exceed --width + 1");
    let c =
        CollapseConfig { depth: a.depth, width: a.width, samples: a.samples, seed: a.common.seed };
    let r = run(&c);
    println!(
        "{} linear layers of width {} on {} random inputs, multiplied out into one matrix \
         W = W_{} ... W_1 (and one bias):",
        a.depth, a.width, a.samples, a.depth
    );
    println!(
        "  largest |stack(x) - (W x + b)| = {:.1e} (outputs up to {:.2}): the same function",
        r.max_abs_diff, r.max_abs_output
    );
    println!(
        "  best affine fit, variance left unexplained: {:.1e} (linear stack), {:.3} (ReLU \
         between the layers)",
        r.linear_residual, r.relu_residual
    );
    let path = plot_path(&a.common, "linear-collapse.png")?;
    let column = |name: &str, k: usize| Series {
        name: name.into(),
        points: r.slice.iter().map(|row| (row[0], row[k])).collect(),
    };
    line_chart(
        &path,
        "First output along a line through input space",
        "t (x = x0 + t d)",
        &[
            column("linear stack", 1),
            column("its one matrix", 2),
            column("ReLU stack", 3),
            column("best affine fit to the ReLU stack", 4),
        ],
    )?;
    wrote(&path);
    Ok(())
}
