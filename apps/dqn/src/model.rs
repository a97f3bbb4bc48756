//! The Q-networks: `Q(s, ·)`, one value per action, from an observation.

use dl_core::nn::{conv2d_pytorch, linear_pytorch};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Which network, and the sizes it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum QNetSpec {
    /// A multilayer perceptron over an observation vector (classic control). CleanRL's
    /// CartPole network is `4 -> 120 -> 84 -> 2`.
    Mlp {
        /// Observation size.
        inputs: i64,
        /// Hidden layer widths.
        hidden: Vec<i64>,
        /// Actions.
        actions: i64,
    },
    /// The Nature CNN (Mnih et al. 2015) over a stack of u8 frames `[frames, 84, 84]`:
    /// conv 8x8/4 (32) -> conv 4x4/2 (64) -> conv 3x3/1 (64) -> 512 -> actions, ReLU between.
    NatureCnn {
        /// Frames in a stack.
        frames: i64,
        /// Actions.
        actions: i64,
    },
}

/// A Q-network: observations in, one value per action out. Initialised as PyTorch initialises
/// its layers, as the CleanRL baseline was tuned with (tch's wider default initialisation made
/// CartPole's Q-values diverge on some seeds).
#[derive(Debug)]
pub struct QNet {
    body: nn::Sequential,
    /// u8 frames are scaled to [0, 1] first.
    frames: bool,
}

impl QNet {
    /// Builds the network's variables under `vs` (PyTorch's names: `net.0.weight`, ...).
    pub fn new(vs: &nn::Path, spec: &QNetSpec) -> QNet {
        let p = vs / "net";
        match spec {
            QNetSpec::Mlp { inputs, hidden, actions } => {
                let mut body = nn::seq();
                let mut width = *inputs;
                for (i, &h) in hidden.iter().enumerate() {
                    body = body.add(linear_pytorch(&p / (2 * i), width, h));
                    body = body.add_fn(|x| x.relu());
                    width = h;
                }
                body = body.add(linear_pytorch(&p / (2 * hidden.len()), width, *actions));
                QNet { body, frames: false }
            }
            QNetSpec::NatureCnn { frames, actions } => {
                let conv = |i: i64, c_in, c_out, k, stride| {
                    let config = nn::ConvConfig { stride, ..Default::default() };
                    conv2d_pytorch(&p / i, c_in, c_out, k, config)
                };
                let body = nn::seq()
                    .add(conv(0, *frames, 32, 8, 4))
                    .add_fn(|x| x.relu())
                    .add(conv(2, 32, 64, 4, 2))
                    .add_fn(|x| x.relu())
                    .add(conv(4, 64, 64, 3, 1))
                    .add_fn(|x| x.relu().flatten(1, -1))
                    .add(linear_pytorch(&p / 7, 64 * 7 * 7, 512))
                    .add_fn(|x| x.relu())
                    .add(linear_pytorch(&p / 9, 512, *actions));
                QNet { body, frames: true }
            }
        }
    }

    /// `Q(s, ·)` for a batch of observations: `[B, actions]`.
    pub fn forward(&self, obs: &Tensor) -> Tensor {
        if self.frames {
            self.body.forward(&(obs.to_kind(Kind::Float) / 255.0))
        } else {
            self.body.forward(obs)
        }
    }
}
