//! Using a trained agent: [`Agent`] loads a checkpoint and plays its environment; the pieces
//! it plays with ([`Stacker`], [`act`], [`evaluate`]) are the ones training acts and evaluates
//! with.

use crate::agent;
use crate::agent::Networks;
use crate::env::{self, Environment, Obs, ObsSpace};
use crate::model::QNet;
use crate::train::{AgentState, TrainConfig};
use crate::APP;
use anyhow::{ensure, Context, Result};
use dl_core::checkpoint;
use dl_core::device::rng;
use rand::Rng;
use std::path::Path;
use tch::{Device, Tensor};

/// The observation the network acts on, built from the environment's observations: the vector
/// itself, or the stack of the last 4 frames.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Stacker {
    frames: std::collections::VecDeque<Vec<u8>>,
    size: usize,
    space: ObsSpace,
}

impl Stacker {
    /// Keeps the last `size` observations of `space` (only frames are stacked).
    pub fn new(size: usize, space: ObsSpace) -> Stacker {
        Stacker { frames: Default::default(), size, space }
    }

    /// Starts an episode: a frame observation fills every slot of the stack (as gymnasium's
    /// frame stacking does after a reset).
    pub fn reset(&mut self, obs: &Obs) {
        self.frames.clear();
        if let Obs::Frame(f) = obs {
            self.frames.extend(std::iter::repeat_n(f.clone(), self.size));
        }
    }

    /// Adds the newest observation.
    pub fn push(&mut self, obs: &Obs) {
        if let Obs::Frame(f) = obs {
            self.frames.pop_front();
            self.frames.push_back(f.clone());
        }
    }

    /// The network input for `obs` (the newest observation): `[1, ...]`.
    pub fn input(&self, obs: &Obs, device: Device) -> Tensor {
        match (obs, self.space) {
            (Obs::Vector(v), _) => Tensor::from_slice(v).unsqueeze(0).to_device(device),
            (Obs::Frame(_), ObsSpace::Frame { height, width }) => {
                let flat: Vec<u8> = self.frames.iter().flatten().copied().collect();
                Tensor::from_slice(&flat)
                    .view([1, self.size as i64, height, width])
                    .to_device(device)
            }
            (Obs::Frame(_), ObsSpace::Vector(_)) => {
                panic!("a frame observation from an environment of vectors")
            }
        }
    }
}

/// An epsilon-greedy action.
pub fn act(q: &QNet, input: &Tensor, actions: usize, epsilon: f64, rng: &mut impl Rng) -> usize {
    if rng.random::<f64>() < epsilon {
        rng.random_range(0..actions)
    } else {
        let values = tch::no_grad(|| q.forward(input));
        agent::greedy(&values)[0] as usize
    }
}

/// Scores of evaluation episodes.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The real game score of each episode.
    pub returns: Vec<f64>,
    /// Steps of each episode.
    pub lengths: Vec<u64>,
}

impl std::fmt::Display for Evaluation {
    /// `mean ± std over N episodes`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.returns.len();
        write!(f, "{:.1} ± {:.1} over {n} episodes", self.mean(), self.std())
    }
}

impl Evaluation {
    /// Mean score.
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len().max(1) as f64
    }

    /// Population standard deviation of the score.
    pub fn std(&self) -> f64 {
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m).powi(2)).sum::<f64>()
            / self.returns.len().max(1) as f64)
            .sqrt()
    }
}

/// Plays `episodes` episodes epsilon-greedily and records their scores. `on_frame` sees every
/// step's environment (for GIFs).
pub fn evaluate(
    q: &QNet,
    env: &mut dyn Environment,
    episodes: u64,
    epsilon: f64,
    rng: &mut impl Rng,
    device: Device,
    mut on_frame: impl FnMut(&dyn Environment, u64),
) -> Evaluation {
    let actions = env.action_names().len();
    let mut eval = Evaluation { returns: Vec::new(), lengths: Vec::new() };
    let mut stacker = Stacker::new(4, env.obs_space());
    for episode in 0..episodes {
        let mut obs = env.reset();
        stacker.reset(&obs);
        on_frame(env, episode);
        let (mut score, mut length) = (0.0, 0u64);
        loop {
            let a = act(q, &stacker.input(&obs, device), actions, epsilon, rng);
            let step = env.step(a);
            score += step.reward;
            length += 1;
            stacker.push(&step.obs);
            on_frame(env, episode);
            obs = step.obs;
            if step.terminated || step.truncated {
                break;
            }
        }
        eval.returns.push(score);
        eval.lengths.push(length);
    }
    eval
}

/// A trained agent, loaded from a checkpoint and ready to play.
///
/// ```no_run
/// use dqn::infer::Agent;
/// # fn main() -> anyhow::Result<()> {
/// let agent = Agent::load("runs/dqn/cartpole".as_ref(), tch::Device::Cpu)?;
/// // Ten greedy episodes on an environment seeded with 1, the first one's screens kept.
/// let played = agent.play(10, 0.0, 1, true)?;
/// println!("{:.1} ± {:.1}", played.eval.mean(), played.eval.std());
/// # Ok(()) }
/// ```
pub struct Agent {
    /// The configuration it was trained with (its environment among it).
    pub config: TrainConfig,
    /// Its network's description and its actions' names.
    pub state: AgentState,
    /// Its networks (it acts with the online one).
    pub nets: Networks,
}

impl Agent {
    /// Loads the agent of a checkpoint (file or run directory) onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Agent> {
        let file = harness::models::resolve(path, APP)?;
        let sidecar = checkpoint::read_sidecar(&file, APP)?;
        let config: TrainConfig = sidecar.config()?;
        let state: AgentState = serde_json::from_value(sidecar.extra.clone())
            .with_context(|| format!("{} has no agent description", file.display()))?;
        let mut nets = Networks::new(&state.spec, device);
        checkpoint::load_weights(&file, &mut nets.vs)?;
        Ok(Agent { config, state, nets })
    }

    /// The environment it was trained on, seeded with `seed` (its actions checked against the
    /// agent's).
    pub fn environment(&self, seed: u64) -> Result<Box<dyn Environment>> {
        let env = env::make(&self.config.env, self.config.backend, seed)?;
        ensure!(
            env.action_names() == self.state.actions,
            "the checkpoint's actions {:?} are not those of {} ({:?})",
            self.state.actions,
            self.config.env,
            env.action_names()
        );
        Ok(env)
    }

    /// Plays `episodes` episodes at `epsilon` on its environment seeded with `seed`; with
    /// `record`, keeps the first episode's screens for a GIF.
    pub fn play(&self, episodes: u64, epsilon: f64, seed: u64, record: bool) -> Result<Played> {
        let mut env = self.environment(seed)?;
        let mut frames = Vec::new();
        let mut explore = rng(seed, "play");
        let fps = env.fps();
        let device = self.nets.vs.device();
        let eval = evaluate(
            &self.nets.online,
            env.as_mut(),
            episodes,
            epsilon,
            &mut explore,
            device,
            |e, episode| {
                if record && episode == 0 {
                    frames.push(e.render());
                }
            },
        );
        Ok(Played { env: self.config.env.clone(), eval, frames, fps })
    }
}

/// What [`Agent::play`] returns: the scores, and the first episode's screens if asked for.
pub struct Played {
    /// The environment the checkpoint was trained on.
    pub env: String,
    /// Scores of the episodes.
    pub eval: Evaluation,
    /// Screens of the first episode (empty unless recorded).
    pub frames: Vec<image::RgbImage>,
    /// The rate the screens are meant to be shown at.
    pub fps: u32,
}
