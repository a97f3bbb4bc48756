//! The DQN agent: its online and target networks, the temporal-difference target, the loss,
//! one gradient step, and exploration.

use crate::model::{QNet, QNetSpec};
use crate::replay::Batch;
use dl_core::optim::Optimizer;
use dl_core::precision::Precision;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// How far the target looks: the TD target of Mnih et al. (2015), or the Double DQN target of
/// van Hasselt et al. (2016).
///
/// - DQN: `y = r + gamma (1 - terminated) max_a' Q_target(s', a')`.
/// - Double DQN: the online network chooses, the target network evaluates:
///   `y = r + gamma (1 - terminated) Q_target(s', argmax_a' Q_online(s', a'))`, which removes
///   most of the max operator's upward bias.
///
/// `next_q_target` and `next_q_online` are `[B, actions]`; the result is `[B]`, without
/// gradient.
pub fn td_target(
    rewards: &Tensor,
    terminated: &Tensor,
    next_q_target: &Tensor,
    next_q_online: Option<&Tensor>,
    gamma: f64,
) -> Tensor {
    let next_value = match next_q_online {
        None => next_q_target.max_dim(1, false).0,
        Some(online) => {
            let best = online.argmax(1, true);
            next_q_target.gather(1, &best, false).squeeze_dim(1)
        }
    };
    let bootstrap = terminated.neg() + 1.0; // 0 where s' is terminal
    (rewards + next_value * bootstrap * gamma).detach()
}

/// The regression loss between `Q(s, a)` and its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Huber (smooth L1, delta 1): quadratic near zero, linear beyond, so one surprising reward
    /// cannot blow up the gradient; the paper's "error clipping".
    Huber,
    /// Mean squared error (CleanRL's choice).
    Mse,
}

impl Loss {
    /// The mean loss over the batch.
    pub fn apply(self, q: &Tensor, target: &Tensor) -> Tensor {
        match self {
            Loss::Huber => q.smooth_l1_loss(target, tch::Reduction::Mean, 1.0),
            Loss::Mse => q.mse_loss(target, tch::Reduction::Mean),
        }
    }
}

/// `Q(s, a)` for the actions taken: `[B]`.
pub fn q_taken(q: &Tensor, actions: &Tensor) -> Tensor {
    q.gather(1, &actions.unsqueeze(1), false).squeeze_dim(1)
}

/// Epsilon-greedy exploration decaying linearly from `start` to `end` over `duration` steps,
/// then constant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Epsilon {
    /// Value at step 0.
    pub start: f64,
    /// Final value.
    pub end: f64,
    /// Steps the decay takes.
    pub duration: u64,
}

impl Epsilon {
    /// The exploration rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        if self.duration == 0 || step >= self.duration {
            return self.end;
        }
        self.start + (self.end - self.start) * step as f64 / self.duration as f64
    }
}

/// The greedy action of each row of `q` (`[B, actions]`).
pub fn greedy(q: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(q.argmax(1, false).to_device(tch::Device::Cpu))
        .expect("argmax gives integers")
}

/// The online and target networks, in one variable store (`online.net.*`, `target.net.*`)
/// so that one checkpoint holds both; only the online weights are trained.
pub struct Networks {
    /// Both networks' variables.
    pub vs: VarStore,
    /// The network that acts and learns.
    pub online: QNet,
    /// The slowly moving copy the targets are computed with.
    pub target: QNet,
}

impl Networks {
    /// Builds both networks with equal weights.
    pub fn new(spec: &QNetSpec, device: Device) -> Networks {
        let vs = VarStore::new(device);
        let online = QNet::new(&(vs.root() / "online"), spec);
        let target = QNet::new(&(vs.root() / "target"), spec);
        for (name, t) in vs.variables() {
            if name.starts_with("target.") {
                let _ = t.set_requires_grad(false);
            }
        }
        let mut nets = Networks { vs, online, target };
        nets.update_target(1.0);
        nets
    }

    /// `target = tau online + (1 - tau) target`.
    pub fn update_target(&mut self, tau: f64) {
        let _no_grad = tch::no_grad_guard();
        let vars = self.vs.variables();
        for (name, t) in &vars {
            if let Some(rest) = name.strip_prefix("target.") {
                let src = &vars[&format!("online.{rest}")];
                let mut t = t.shallow_clone();
                if tau >= 1.0 {
                    t.copy_(src);
                } else {
                    let mixed = src * tau + &t * (1.0 - tau);
                    t.copy_(&mixed);
                }
            }
        }
    }
}

/// One gradient step on a minibatch, the networks' forward passes in `precision`; returns the
/// loss and the mean `Q(s, a)`.
#[allow(clippy::too_many_arguments)]
pub fn update(
    nets: &Networks,
    opt: &mut Optimizer,
    batch: &Batch,
    gamma: f64,
    double: bool,
    loss: Loss,
    precision: Precision,
) -> anyhow::Result<(f64, f64)> {
    let (q, l) = precision.autocast(batch.obs.device(), || {
        let target = tch::no_grad(|| {
            let next_target = nets.target.forward(&batch.next_obs).to_kind(Kind::Float);
            let next_online =
                double.then(|| nets.online.forward(&batch.next_obs).to_kind(Kind::Float));
            td_target(&batch.rewards, &batch.terminated, &next_target, next_online.as_ref(), gamma)
        });
        // The loss in fp32 on the network's (possibly bf16) values.
        let q = q_taken(&nets.online.forward(&batch.obs), &batch.actions).to_kind(Kind::Float);
        let l = loss.apply(&q, &target);
        (q, l)
    })?;
    opt.zero_grad();
    l.backward();
    opt.step();
    Ok((l.double_value(&[]), q.mean(Kind::Float).double_value(&[])))
}
