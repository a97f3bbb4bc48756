//! The DQN update: the temporal-difference target, the loss, and exploration.

use serde::{Deserialize, Serialize};
use tch::Tensor;

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
