//! Gradient descent and its refinements, with state that can be saved and restored: SGD (with
//! momentum, Nesterov, weight decay), Adam, AdamW and Adadelta; and [`lbfgs`], the
//! quasi-Newton method for deterministic objectives.
//!
//! tch wraps libtorch's C++ optimizers, but their state (momentum buffers, Adam's moments) is
//! out of reach from Rust, so a run could not resume exactly. These optimizers are written
//! here over tensors, following PyTorch's single-tensor implementations (`torch/optim/sgd.py`,
//! `adam.py`, `adadelta.py`) operation for operation, so that they give PyTorch's numbers (checked against
//! golden values in the tests) and their whole state is a list of named tensors plus a step
//! count.

mod clip;
pub mod lbfgs;
mod schedule;

pub use clip::clip_grad_norm;
pub use lbfgs::{Lbfgs, LbfgsConfig, LbfgsMeta, LineSearch};
pub use schedule::{Schedule, StepSchedule};

use crate::shim;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::{nn::VarStore, Tensor};

/// An optimizer and its hyper-parameters, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor (0 disables momentum).
        #[serde(default)]
        momentum: f64,
        /// Dampening of the gradient added to the momentum buffer.
        #[serde(default)]
        dampening: f64,
        /// Nesterov's look-ahead momentum (needs momentum > 0 and no dampening).
        #[serde(default)]
        nesterov: bool,
        /// L2 penalty added to the gradient: `g + wd * w`.
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam (Kingma & Ba, 2015) with L2 weight decay added to the gradient.
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first-moment (mean) estimate.
        #[serde(default = "default_beta1")]
        beta1: f64,
        /// Decay of the second-moment (uncentred variance) estimate.
        #[serde(default = "default_beta2")]
        beta2: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "default_eps")]
        eps: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
        /// The AMSGrad variant: divide by the running maximum of the second moment.
        #[serde(default)]
        amsgrad: bool,
    },
    /// AdamW (Loshchilov & Hutter, 2019): Adam with weight decay applied to the weights
    /// directly, decoupled from the gradient statistics.
    AdamW {
        /// Learning rate.
        lr: f64,
        /// Decay of the first-moment estimate.
        #[serde(default = "default_beta1")]
        beta1: f64,
        /// Decay of the second-moment estimate.
        #[serde(default = "default_beta2")]
        beta2: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "default_eps")]
        eps: f64,
        /// Decoupled weight decay: `w <- w * (1 - lr * wd)` before the Adam update.
        #[serde(default = "default_adamw_decay")]
        weight_decay: f64,
        /// The AMSGrad variant.
        #[serde(default)]
        amsgrad: bool,
    },
    /// Adadelta (Zeiler, 2012): per-weight step sizes from running averages of squared
    /// gradients and squared updates; the optimizer of PyTorch's MNIST example.
    Adadelta {
        /// Learning rate (scales the update; 1.0 is the paper's method).
        lr: f64,
        /// Decay of both running averages.
        #[serde(default = "default_rho")]
        rho: f64,
        /// Added inside the square roots for numerical stability.
        #[serde(default = "default_adadelta_eps")]
        eps: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_rho() -> f64 {
    0.9
}
fn default_adadelta_eps() -> f64 {
    1e-6
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_adamw_decay() -> f64 {
    0.01
}

impl OptimizerConfig {
    /// Plain SGD with learning rate `lr` (PyTorch's defaults for everything else).
    pub fn sgd(lr: f64) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Adam with learning rate `lr` and PyTorch's defaults.
    pub fn adam(lr: f64) -> Self {
        OptimizerConfig::Adam {
            lr,
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay: 0.0,
            amsgrad: false,
        }
    }

    /// AdamW with learning rate `lr` and PyTorch's defaults (weight decay 0.01).
    pub fn adamw(lr: f64) -> Self {
        OptimizerConfig::AdamW {
            lr,
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay: default_adamw_decay(),
            amsgrad: false,
        }
    }

    /// Adadelta with learning rate `lr` and PyTorch's defaults.
    pub fn adadelta(lr: f64) -> Self {
        OptimizerConfig::Adadelta {
            lr,
            rho: default_rho(),
            eps: default_adadelta_eps(),
            weight_decay: 0.0,
        }
    }

    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::Adadelta { lr, .. } => lr,
        }
    }

    /// Checks every hyper-parameter's range, as PyTorch's constructors do.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("learning rate must be a positive number, got {lr}"));
        }
        match *self {
            OptimizerConfig::Sgd { momentum, dampening, nesterov, weight_decay, .. } => {
                if !(0.0..1.0).contains(&momentum) {
                    return bad(format!("momentum must be in [0, 1), got {momentum}"));
                }
                if !(0.0..=1.0).contains(&dampening) {
                    return bad(format!("dampening must be in [0, 1], got {dampening}"));
                }
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return bad("Nesterov momentum needs momentum > 0 and dampening 0".into());
                }
                if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
                    return bad(format!("weight decay must be >= 0, got {weight_decay}"));
                }
            }
            OptimizerConfig::Adam { beta1, beta2, eps, weight_decay, .. }
            | OptimizerConfig::AdamW { beta1, beta2, eps, weight_decay, .. } => {
                for (name, beta) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&beta) {
                        return bad(format!("{name} must be in [0, 1), got {beta}"));
                    }
                }
                if !(eps > 0.0 && eps.is_finite()) {
                    return bad(format!("eps must be > 0, got {eps}"));
                }
                if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
                    return bad(format!("weight decay must be >= 0, got {weight_decay}"));
                }
            }
            OptimizerConfig::Adadelta { rho, eps, weight_decay, .. } => {
                if !(0.0..=1.0).contains(&rho) {
                    return bad(format!("rho must be in [0, 1], got {rho}"));
                }
                if !(eps > 0.0 && eps.is_finite()) {
                    return bad(format!("eps must be > 0, got {eps}"));
                }
                if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
                    return bad(format!("weight decay must be >= 0, got {weight_decay}"));
                }
            }
        }
        Ok(())
    }
}

/// Per-parameter state: the slots each algorithm keeps (absent until first needed).
#[derive(Debug, Default)]
struct Slots {
    /// SGD's momentum buffer, or Adam's first moment `exp_avg`.
    first: Option<Tensor>,
    /// Adam's second moment `exp_avg_sq`.
    second: Option<Tensor>,
    /// AMSGrad's running maximum of the second moment.
    max_second: Option<Tensor>,
}

/// The scalar part of an optimizer's state (the tensors go to a safetensors file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerMeta {
    /// The hyper-parameters.
    pub config: OptimizerConfig,
    /// The current learning rate (a schedule may have moved it from the base rate).
    pub lr: f64,
    /// Number of updates made.
    pub steps: u64,
}

/// An optimizer over the trainable variables of a [`VarStore`].
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    lr: f64,
    steps: u64,
    /// Trainable parameters sorted by name (the order is part of nothing but determinism).
    params: Vec<(String, Tensor)>,
    slots: Vec<Slots>,
    /// Update every parameter in a few multi-tensor kernels where the optimizer has them.
    fused: bool,
}

impl Optimizer {
    /// An optimizer over every trainable variable of `vs` (variables created later are not
    /// included: build the model first).
    pub fn new(config: OptimizerConfig, vs: &VarStore) -> Result<Self> {
        config.validate()?;
        let mut params: Vec<(String, Tensor)> =
            vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = params.iter().map(|_| Slots::default()).collect();
        Ok(Optimizer { lr: config.lr(), config, steps: 0, params, slots, fused: true })
    }

    /// Whether updates use libtorch's multi-tensor kernels (the default): Adam and AdamW by
    /// `_fused_adam_` / `_fused_adamw_` (one kernel for all parameters), SGD without momentum by
    /// `_foreach_add_`; SGD with momentum and Adadelta always update parameter by parameter.
    /// `false` updates parameter by parameter everywhere (PyTorch's `foreach=False`).
    pub fn set_fused(&mut self, fused: bool) {
        self.fused = fused;
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate of the next steps (what a [`Schedule`] does).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Number of updates made so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The parameters being optimised, by name.
    pub fn parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update from the current gradients. Parameters without a gradient are skipped.
    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        self.steps += 1;
        if self.fused && self.fused_step() {
            return;
        }
        let lr = self.lr;
        for ((_, param), slots) in self.params.iter_mut().zip(&mut self.slots) {
            let grad = param.grad();
            if !grad.defined() {
                continue;
            }
            match self.config {
                OptimizerConfig::Sgd { momentum, dampening, nesterov, weight_decay, .. } => {
                    sgd(param, grad, slots, lr, momentum, dampening, nesterov, weight_decay)
                }
                OptimizerConfig::Adam { beta1, beta2, eps, weight_decay, amsgrad, .. } => {
                    let h = AdamStep { lr, beta1, beta2, eps, weight_decay, amsgrad };
                    adam(param, grad, slots, self.steps, &h, false)
                }
                OptimizerConfig::AdamW { beta1, beta2, eps, weight_decay, amsgrad, .. } => {
                    let h = AdamStep { lr, beta1, beta2, eps, weight_decay, amsgrad };
                    adam(param, grad, slots, self.steps, &h, true)
                }
                OptimizerConfig::Adadelta { rho, eps, weight_decay, .. } => {
                    adadelta(param, grad, slots, lr, rho, eps, weight_decay)
                }
            }
        }
    }

    /// The step in multi-tensor kernels, where this optimizer has them and every parameter has
    /// a gradient; false (nothing done) otherwise.
    fn fused_step(&mut self) -> bool {
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).collect();
        if grads.is_empty() || grads.iter().any(|g| !g.defined()) {
            return false;
        }
        let params: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        let grads: Vec<&Tensor> = grads.iter().collect();
        let (lr, step) = (self.lr, self.steps);
        let done = match self.config {
            OptimizerConfig::Sgd { momentum: 0.0, weight_decay, .. } => {
                shim::foreach_sgd(&params, &grads, lr, weight_decay)
            }
            OptimizerConfig::Adam { beta1, beta2, eps, weight_decay, amsgrad, .. }
            | OptimizerConfig::AdamW { beta1, beta2, eps, weight_decay, amsgrad, .. } => {
                let decoupled = matches!(self.config, OptimizerConfig::AdamW { .. });
                for ((_, p), slots) in self.params.iter().zip(&mut self.slots) {
                    slots.first.get_or_insert_with(|| p.zeros_like());
                    slots.second.get_or_insert_with(|| p.zeros_like());
                    if amsgrad {
                        slots.max_second.get_or_insert_with(|| p.zeros_like());
                    }
                }
                // The step count this update is (torch.optim counts it up before the kernel).
                let steps: Vec<Tensor> = params
                    .iter()
                    .map(|p| Tensor::from(step as f32).to_device(p.device()))
                    .collect();
                let slot = |get: fn(&Slots) -> Option<&Tensor>| -> Vec<&Tensor> {
                    self.slots.iter().filter_map(get).collect()
                };
                let tensors = shim::AdamTensors {
                    params,
                    grads,
                    exp_avgs: slot(|s| s.first.as_ref()),
                    exp_avg_sqs: slot(|s| s.second.as_ref()),
                    max_exp_avg_sqs: slot(|s| s.max_second.as_ref()),
                    steps: steps.iter().collect(),
                };
                let h = shim::AdamHyper { lr, beta1, beta2, weight_decay, eps, amsgrad, decoupled };
                shim::fused_adam(&tensors, &h)
            }
            _ => return false,
        };
        // The kernels check what they are given; a refusal (a dtype they lack) falls back.
        done.is_ok()
    }

    /// The scalar state: hyper-parameters, current learning rate, step count.
    pub fn meta(&self) -> OptimizerMeta {
        OptimizerMeta { config: self.config.clone(), lr: self.lr, steps: self.steps }
    }

    /// The tensor state, named `<parameter>.<slot>` (`momentum_buffer`, `exp_avg`,
    /// `exp_avg_sq`, `max_exp_avg_sq`, `square_avg`, `acc_delta`: PyTorch's names).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for ((name, _), slots) in self.params.iter().zip(&self.slots) {
            for (slot, tensor) in self.slot_names().iter().zip(slots.all()) {
                if let Some(t) = tensor {
                    out.push((format!("{name}.{slot}"), t.shallow_clone()));
                }
            }
        }
        out
    }

    /// Restores a state saved by [`Optimizer::meta`] and [`Optimizer::state_tensors`].
    /// The hyper-parameters must match (a different optimizer is an error, not a reset), and
    /// every tensor must belong to a known parameter and have its shape.
    pub fn load_state(
        &mut self,
        meta: &OptimizerMeta,
        tensors: Vec<(String, Tensor)>,
    ) -> Result<()> {
        if std::mem::discriminant(&meta.config) != std::mem::discriminant(&self.config) {
            return Err(Error::Config(format!(
                "saved optimizer state is for {:?}, not {:?}",
                meta.config, self.config
            )));
        }
        let mut by_name: BTreeMap<String, Tensor> = tensors.into_iter().collect();
        let slot_names = self.slot_names();
        for ((name, param), slots) in self.params.iter().zip(&mut self.slots) {
            let mut restored = [None, None, None];
            for (i, slot) in slot_names.iter().enumerate() {
                if let Some(t) = by_name.remove(&format!("{name}.{slot}")) {
                    if t.size() != param.size() {
                        return Err(Error::Config(format!(
                            "optimizer state {name}.{slot} has shape {:?}, the parameter {:?}",
                            t.size(),
                            param.size()
                        )));
                    }
                    restored[i] = Some(t.to_device(param.device()).to_kind(param.kind()));
                }
            }
            let [first, second, max_second] = restored;
            *slots = Slots { first, second, max_second };
        }
        if let Some(name) = by_name.keys().next() {
            return Err(Error::Config(format!(
                "optimizer state {name:?} matches no parameter of this model"
            )));
        }
        self.config = meta.config.clone();
        self.lr = meta.lr;
        self.steps = meta.steps;
        Ok(())
    }

    fn slot_names(&self) -> [&'static str; 3] {
        match self.config {
            OptimizerConfig::Sgd { .. } => ["momentum_buffer", "unused", "unused_max"],
            OptimizerConfig::Adadelta { .. } => ["square_avg", "acc_delta", "unused"],
            _ => ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
        }
    }
}

impl Slots {
    fn all(&self) -> [Option<&Tensor>; 3] {
        [self.first.as_ref(), self.second.as_ref(), self.max_second.as_ref()]
    }
}

/// `torch.optim.sgd._single_tensor_sgd`, for one parameter.
#[allow(clippy::too_many_arguments)]
fn sgd(
    param: &mut Tensor,
    grad: Tensor,
    slots: &mut Slots,
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
) {
    let mut d_p = if weight_decay != 0.0 { grad + &*param * weight_decay } else { grad };
    if momentum != 0.0 {
        let buf = match slots.first.take() {
            None => d_p.copy(),
            Some(mut buf) => {
                let _ = buf.g_mul_scalar_(momentum);
                let _ = buf.g_add_(&(&d_p * (1.0 - dampening)));
                buf
            }
        };
        d_p = if nesterov { d_p + &buf * momentum } else { buf.shallow_clone() };
        slots.first = Some(buf);
    }
    let _ = param.g_add_(&(d_p * -lr));
}

/// `torch.optim.adadelta._single_tensor_adadelta`, for one parameter.
fn adadelta(
    param: &mut Tensor,
    grad: Tensor,
    slots: &mut Slots,
    lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
) {
    let grad = if weight_decay != 0.0 { grad + &*param * weight_decay } else { grad };
    let square_avg = slots.first.get_or_insert_with(|| param.zeros_like());
    let _ = square_avg.g_mul_scalar_(rho);
    let _ = square_avg.g_add_(&(&grad * (1.0 - rho) * &grad));
    let std = (&*square_avg + eps).sqrt();
    let acc_delta = slots.second.get_or_insert_with(|| param.zeros_like());
    let delta = (&*acc_delta + eps).sqrt() / std * &grad;
    let _ = acc_delta.g_mul_scalar_(rho);
    let _ = acc_delta.g_add_(&(&delta * (1.0 - rho) * &delta));
    let _ = param.g_add_(&(delta * -lr));
}

struct AdamStep {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
}

/// `torch.optim.adam._single_tensor_adam` (AdamW when `decoupled`), for one parameter.
fn adam(
    param: &mut Tensor,
    grad: Tensor,
    slots: &mut Slots,
    step: u64,
    h: &AdamStep,
    decoupled: bool,
) {
    let grad = if h.weight_decay == 0.0 {
        grad
    } else if decoupled {
        let _ = param.g_mul_scalar_(1.0 - h.lr * h.weight_decay);
        grad
    } else {
        grad + &*param * h.weight_decay
    };
    let exp_avg = slots.first.get_or_insert_with(|| param.zeros_like());
    let _ = exp_avg.lerp_(&grad, 1.0 - h.beta1);
    let exp_avg_sq = slots.second.get_or_insert_with(|| param.zeros_like());
    let _ = exp_avg_sq.g_mul_scalar_(h.beta2);
    let _ = exp_avg_sq.g_add_(&(&grad * (1.0 - h.beta2) * &grad));

    let bias_correction1 = 1.0 - h.beta1.powf(step as f64);
    let bias_correction2 = 1.0 - h.beta2.powf(step as f64);
    let step_size = h.lr / bias_correction1;
    let bias_correction2_sqrt = bias_correction2.sqrt();
    let second = if h.amsgrad {
        let max = slots.max_second.get_or_insert_with(|| param.zeros_like());
        max.copy_(&max.maximum(exp_avg_sq));
        &*max
    } else {
        &*exp_avg_sq
    };
    let denom = second.sqrt() / bias_correction2_sqrt + h.eps;
    let exp_avg = slots.first.as_ref().expect("set above");
    let _ = param.g_add_(&(exp_avg * -step_size / denom));
}
