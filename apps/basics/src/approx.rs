//! `mlp-approx`: one hidden layer is a universal approximator. A network `x -> Linear(1, w) ->
//! activation -> Linear(w, 1)` is fitted to a 1-D target on [-pi, pi]; the error on a fine grid
//! between the training points falls as the hidden width `w` grows.

use crate::{parse_activation, plot_path, wrote, Common};
use anyhow::ensure;
use dl_core::nn::{self, Activation};
use dl_core::optim::{Optimizer, OptimizerConfig, Schedule};
use harness::cli::DeviceArg;
use harness::plot::{line_chart, Series};
use std::f64::consts::PI;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A 1-D function to approximate on [-pi, pi].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// `sin(x)`: smooth.
    Sin,
    /// `-1` for `x < 0`, `+1` for `x >= 0`: a jump no finite network draws exactly.
    Step,
}

impl Target {
    /// The target's values at `x`.
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Target::Sin => x.sin(),
            Target::Step => x.ge(0.0).to_kind(Kind::Float) * 2.0 - 1.0,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Sin => "sin",
            Target::Step => "step",
        }
    }
}

/// Settings of one fit.
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// Activation of the hidden layer.
    pub activation: Activation,
    /// Evenly spaced training points on [-pi, pi].
    pub points: i64,
    /// Full-batch Adam steps (learning rate `lr`, cosine decay to 0).
    pub steps: u64,
    /// Adam's learning rate.
    pub lr: f64,
    /// Seed of the initial weights.
    pub seed: u64,
    /// Where to compute.
    pub device: Device,
}

/// A fitted network's error and its curve.
#[derive(Clone, Debug)]
pub struct Fit {
    /// Hidden units.
    pub width: i64,
    /// Mean squared error on the evaluation grid (4x denser than the training points, so
    /// mostly between them).
    pub mse: f64,
    /// `(x, prediction)` on the evaluation grid.
    pub curve: Vec<(f64, f64)>,
}

/// `n` evenly spaced points on [-pi, pi] as a `[n, 1]` column.
pub fn grid(n: i64, device: Device) -> Tensor {
    Tensor::linspace(-PI, PI, n, (Kind::Float, device)).unsqueeze(1)
}

/// Fits a one-hidden-layer network of `width` units to `target`.
pub fn fit(target: Target, width: i64, c: &FitConfig) -> dl_core::Result<Fit> {
    tch::manual_seed(c.seed as i64);
    let vs = VarStore::new(c.device);
    let hidden = nn::linear(vs.root() / "hidden", 1, width, Default::default());
    let out = nn::linear(vs.root() / "out", width, 1, Default::default());
    let net = |x: &Tensor| c.activation.apply(&x.apply(&hidden)).apply(&out);
    let mut opt = Optimizer::new(OptimizerConfig::adam(c.lr), &vs)?;
    let schedule = Schedule::Cosine { warmup: 0, total: c.steps, min_factor: 0.0 };
    let (x, y) = {
        let x = grid(c.points, c.device);
        let y = target.apply(&x);
        (x, y)
    };
    for step in 0..c.steps {
        opt.set_lr(schedule.lr(c.lr, step));
        opt.zero_grad();
        let loss = net(&x).mse_loss(&y, tch::Reduction::Mean);
        loss.backward();
        opt.step();
    }
    let _no_grad = tch::no_grad_guard();
    let xe = grid(4 * c.points, c.device);
    let pred = net(&xe);
    let mse = pred.mse_loss(&target.apply(&xe), tch::Reduction::Mean).double_value(&[]);
    let xs = Vec::<f32>::try_from(xe.view([-1]).to_device(Device::Cpu)).expect("float grid");
    let ps = Vec::<f32>::try_from(pred.view([-1]).to_device(Device::Cpu)).expect("float output");
    let curve = xs.iter().zip(&ps).map(|(&x, &p)| (f64::from(x), f64::from(p))).collect();
    Ok(Fit { width, mse, curve })
}

// The experiment as a command: its flags, and what it prints and draws.

/// The flags of this experiment's command.
#[derive(clap::Args)]
pub struct ApproxArgs {
    /// Hidden widths to fit.
    #[arg(long, value_delimiter = ',', default_value = "2,8,32,128,512")]
    pub widths: Vec<i64>,
    /// Targets to fit.
    #[arg(long, value_delimiter = ',', value_enum, default_value = "sin,step")]
    pub targets: Vec<Target>,
    /// Activation of the hidden layer.
    #[arg(long, value_parser = parse_activation, default_value = "relu")]
    pub activation: Activation,
    /// Evenly spaced training points on [-pi, pi].
    #[arg(long, default_value_t = 256)]
    pub points: i64,
    /// Full-batch Adam steps.
    #[arg(long, default_value_t = 3000)]
    pub steps: u64,
    /// Adam's learning rate (cosine decay to 0).
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    #[command(flatten)]
    pub device: DeviceArg,
    #[command(flatten)]
    pub common: Common,
}

/// Runs the experiment: prints what it measured and draws its plots.
pub fn report(a: &ApproxArgs) -> anyhow::Result<()> {
    ensure!(!a.widths.is_empty() && a.widths.iter().all(|&w| w >= 1), "--widths must be positive");
    ensure!(a.points >= 2, "--points must be at least 2");
    ensure!(a.steps >= 1, "--steps must be at least 1");
    ensure!(a.lr > 0.0 && a.lr.is_finite(), "--lr must be positive");
    let config = FitConfig {
        activation: a.activation,
        points: a.points,
        steps: a.steps,
        lr: a.lr,
        seed: a.common.seed,
        device: a.device.resolve()?,
    };
    println!(
        "x -> Linear(1, width) -> {} -> Linear(width, 1), {} full-batch Adam steps on {} points \
         of [-pi, pi];\nmean squared error on {} points in between:",
        a.activation,
        a.steps,
        a.points,
        4 * a.points
    );
    let names: Vec<&str> = a.targets.iter().map(|t| t.name()).collect();
    println!("  width  {}", names.iter().map(|n| format!("{n:>12}")).collect::<String>());
    let mut fits = vec![Vec::new(); a.targets.len()];
    for &width in &a.widths {
        let mut row = format!("  {width:>5}  ");
        for (k, &target) in a.targets.iter().enumerate() {
            let fit = fit(target, width, &config)?;
            row += &format!("{:>12.2e}", fit.mse);
            fits[k].push(fit);
        }
        println!("{row}");
    }
    for (target, fits) in a.targets.iter().zip(&fits) {
        let path = plot_path(&a.common, &format!("mlp-approx-{}.png", target.name()))?;
        let xs: Vec<f64> = fits[0].curve.iter().map(|p| p.0).collect();
        let truth = grid(xs.len() as i64, tch::Device::Cpu);
        let truth = Vec::<f32>::try_from(target.apply(&truth).view([-1]))?;
        let mut series = vec![Series {
            name: format!("target: {}", target.name()),
            points: xs.iter().zip(&truth).map(|(&x, &y)| (x, f64::from(y))).collect(),
        }];
        series.extend(
            fits.iter()
                .map(|f| Series { name: format!("width {}", f.width), points: f.curve.clone() }),
        );
        line_chart(&path, &format!("One hidden layer fitting {}", target.name()), "x", &series)?;
        wrote(&path);
    }
    Ok(())
}
