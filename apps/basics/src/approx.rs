//! `mlp-approx`: one hidden layer is a universal approximator. A network `x -> Linear(1, w) ->
//! activation -> Linear(w, 1)` is fitted to a 1-D target on [-pi, pi]; the error on a fine grid
//! between the training points falls as the hidden width `w` grows.

use dl_core::nn::{self, Activation};
use dl_core::optim::{Optimizer, OptimizerConfig, Schedule};
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
