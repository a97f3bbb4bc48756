//! The DQN training loop (Mnih et al. 2015, Algorithm 1), one environment, with CleanRL's
//! defaults as the documented baseline: act epsilon-greedily, store the transition, and every
//! `train_every` steps regress `Q(s, a)` on the TD target of a random minibatch from the replay
//! memory; copy the online network into the target network every `target_every` steps.

use crate::agent::{self, Epsilon, Loss};
use crate::env::atari::clip_reward;
use crate::env::{self, Obs, ObsSpace};
use crate::infer::{act, evaluate, Evaluation, Stacker};
use crate::model::{QNet, QNetSpec};
use crate::replay::{Batch, FrameReplay, VectorReplay};
use crate::APP;
use anyhow::{ensure, Context, Result};
use dl_core::checkpoint;
use dl_core::device::{rng, seed_step};
use dl_core::metrics::Mean;
use dl_core::optim::{Optimizer, OptimizerConfig};
use harness::session::{Goal, Session, State, TrainingConfig};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// Everything that defines a training run (saved as `config.toml` in the run directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Environment: `cartpole`, `mountaincar`, or an Atari game.
    pub env: String,
    /// Classic-control implementation.
    pub backend: env::Backend,
    /// Environment steps to train for.
    pub total_steps: u64,
    /// Adam's learning rate.
    pub lr: f64,
    /// Replay memory capacity, in transitions.
    pub buffer_size: usize,
    /// Discount factor.
    pub gamma: f64,
    /// Target network update: 1 copies (the paper), below 1 mixes `tau` of the online weights in.
    pub tau: f64,
    /// Steps between target network updates (`C` in the paper).
    pub target_every: u64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Exploration rate at the start.
    pub start_epsilon: f64,
    /// Exploration rate after the decay.
    pub end_epsilon: f64,
    /// Fraction of `total_steps` over which epsilon decays linearly.
    pub exploration_fraction: f64,
    /// Transitions collected before learning starts.
    pub learning_starts: u64,
    /// Environment steps between updates.
    pub train_every: u64,
    /// Double DQN targets (van Hasselt et al. 2016).
    pub double: bool,
    /// Regression loss.
    pub loss: Loss,
    /// Learn from the sign of each reward (Atari), not its value; scores stay real.
    #[serde(default)]
    pub clip_rewards: bool,
    /// Treat the loss of a life as the end of an episode for learning (Atari), not for scoring.
    #[serde(default)]
    pub episodic_life: bool,
    /// Hidden widths of the MLP (classic control).
    pub hidden: Vec<i64>,
    /// Steps between evaluations (0: only at the end).
    pub eval_every: u64,
    /// Episodes per periodic evaluation.
    pub eval_episodes: u64,
    /// Episodes of the final evaluation.
    pub final_eval_episodes: u64,
    /// Exploration rate while evaluating.
    pub eval_epsilon: f64,
    /// Steps between `last` checkpoints.
    pub checkpoint_every: u64,
    /// Save the replay memory with each `last` checkpoint, so `--resume` continues exactly.
    pub save_buffer: bool,
    /// Seed of everything random.
    pub seed: u64,
}

impl TrainConfig {
    /// CleanRL's `dqn.py` defaults for classic control (CartPole-v1): the documented baseline.
    pub fn classic(env: &str) -> TrainConfig {
        TrainConfig {
            env: env.to_string(),
            backend: env::Backend::Gymnasia,
            total_steps: 500_000,
            lr: 2.5e-4,
            buffer_size: 10_000,
            gamma: 0.99,
            tau: 1.0,
            target_every: 500,
            batch_size: 128,
            start_epsilon: 1.0,
            end_epsilon: 0.05,
            exploration_fraction: 0.5,
            learning_starts: 10_000,
            train_every: 10,
            double: false,
            loss: Loss::Mse,
            clip_rewards: false,
            episodic_life: false,
            hidden: vec![120, 84],
            eval_every: 10_000,
            eval_episodes: 10,
            final_eval_episodes: 100,
            eval_epsilon: 0.01,
            checkpoint_every: 10_000,
            save_buffer: false,
            seed: 1,
        }
    }

    /// CleanRL's `dqn_atari.py` defaults: 10M steps, Adam 1e-4, a million-transition memory,
    /// batch 32, a target copy every 1000 steps, an update every 4 steps after 80k, epsilon from
    /// 1 to 0.01 over the first 10 %; rewards clipped, a lost life terminal for learning.
    pub fn atari(env: &str) -> TrainConfig {
        TrainConfig {
            total_steps: 10_000_000,
            lr: 1e-4,
            buffer_size: 1_000_000,
            target_every: 1000,
            batch_size: 32,
            end_epsilon: 0.01,
            exploration_fraction: 0.1,
            learning_starts: 80_000,
            train_every: 4,
            clip_rewards: true,
            episodic_life: true,
            eval_every: 250_000,
            final_eval_episodes: 10,
            checkpoint_every: 100_000,
            ..TrainConfig::classic(env)
        }
    }

    /// The defaults for `env`.
    pub fn defaults_for(env: &str) -> Result<TrainConfig> {
        match env::Kind::of(env)? {
            env::Kind::Classic | env::Kind::Chain => Ok(TrainConfig::classic(env)),
            env::Kind::Atari => Ok(TrainConfig::atari(env)),
        }
    }

    /// Refuses settings that cannot work, with one sentence.
    pub fn validate(&self) -> Result<()> {
        env::Kind::of(&self.env)?;
        ensure!(self.total_steps > 0, "total steps must be positive");
        ensure!(self.lr > 0.0 && self.lr.is_finite(), "the learning rate must be positive");
        ensure!(
            self.buffer_size >= self.batch_size.max(2),
            "the buffer must hold at least a batch"
        );
        ensure!(self.batch_size > 0, "the batch size must be positive");
        ensure!((0.0..=1.0).contains(&self.gamma), "gamma must be in [0, 1]");
        ensure!(self.tau > 0.0 && self.tau <= 1.0, "tau must be in (0, 1]");
        ensure!(self.target_every > 0 && self.train_every > 0, "update intervals must be positive");
        for (name, e) in
            [("start", self.start_epsilon), ("end", self.end_epsilon), ("eval", self.eval_epsilon)]
        {
            ensure!((0.0..=1.0).contains(&e), "the {name} epsilon must be in [0, 1]");
        }
        ensure!(
            (0.0..=1.0).contains(&self.exploration_fraction),
            "the exploration fraction must be in [0, 1]"
        );
        ensure!(self.hidden.iter().all(|&h| h > 0), "hidden widths must be positive");
        ensure!(
            self.final_eval_episodes > 0 && self.eval_episodes > 0,
            "evaluations need episodes"
        );
        ensure!(self.checkpoint_every > 0, "the checkpoint interval must be positive");
        Ok(())
    }

    /// The exploration schedule.
    pub fn epsilon(&self) -> Epsilon {
        Epsilon {
            start: self.start_epsilon,
            end: self.end_epsilon,
            duration: (self.exploration_fraction * self.total_steps as f64) as u64,
        }
    }

    /// The Q-network for an environment with these observations and actions.
    pub fn qnet_spec(&self, space: ObsSpace, actions: usize) -> QNetSpec {
        match space {
            ObsSpace::Vector(n) => QNetSpec::Mlp {
                inputs: n as i64,
                hidden: self.hidden.clone(),
                actions: actions as i64,
            },
            ObsSpace::Frame { .. } => QNetSpec::NatureCnn { frames: 4, actions: actions as i64 },
        }
    }
}

/// Where and how a run goes (shared by every app).
pub use harness::run::RunOptions;

/// The state besides the weights that a checkpoint carries (the sidecar's `extra`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentState {
    /// The network's description.
    pub spec: QNetSpec,
    /// Action names, indexed by action.
    pub actions: Vec<String>,
    /// Episodes finished.
    pub episodes: u64,
    /// The exploration generator.
    pub explore_rng: ChaCha8Rng,
    /// The replay sampling generator.
    pub replay_rng: ChaCha8Rng,
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

/// The replay memory of either kind.
pub enum Memory {
    Vector(VectorReplay),
    Frames(FrameReplay),
}

impl Memory {
    /// An empty memory for observations of `space`.
    pub fn new(space: ObsSpace, capacity: usize) -> Memory {
        match space {
            ObsSpace::Vector(n) => Memory::Vector(VectorReplay::new(capacity, n)),
            ObsSpace::Frame { height, width } => {
                Memory::Frames(FrameReplay::new(capacity, 4, height, width))
            }
        }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        match self {
            Memory::Vector(m) => m.len(),
            Memory::Frames(m) => m.len(),
        }
    }

    /// True when no transition is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the first observation of an episode.
    pub fn start_episode(&mut self, obs: &Obs) {
        if let Memory::Frames(m) = self {
            m.start_episode(obs.frame());
        }
    }

    /// Records a transition.
    pub fn push(&mut self, obs: &Obs, action: usize, reward: f32, terminated: bool, next: &Obs) {
        match self {
            Memory::Vector(m) => {
                m.push(obs.vector(), action as i64, reward, terminated, next.vector())
            }
            Memory::Frames(m) => m.push(action as i64, reward, terminated, next.frame()),
        }
    }

    /// The memory as named tensors.
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        match self {
            Memory::Vector(m) => m.to_tensors(),
            Memory::Frames(m) => m.to_tensors(),
        }
    }

    /// Restores the memory from [`Memory::to_tensors`].
    pub fn load_tensors(&mut self, tensors: &[(String, Tensor)]) -> Result<()> {
        match self {
            Memory::Vector(m) => m.load_tensors(tensors),
            Memory::Frames(m) => m.load_tensors(tensors),
        }
    }

    /// A uniform minibatch.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng, device: Device) -> Batch {
        match self {
            Memory::Vector(m) => m.sample(batch, rng, device),
            Memory::Frames(m) => m.sample(batch, rng, device),
        }
    }
}

/// One gradient step on a minibatch; returns the loss and the mean `Q(s, a)`.
pub fn update(
    nets: &Networks,
    opt: &mut Optimizer,
    batch: &Batch,
    gamma: f64,
    double: bool,
    loss: Loss,
) -> (f64, f64) {
    let target = tch::no_grad(|| {
        let next_target = nets.target.forward(&batch.next_obs);
        let next_online = double.then(|| nets.online.forward(&batch.next_obs));
        agent::td_target(
            &batch.rewards,
            &batch.terminated,
            &next_target,
            next_online.as_ref(),
            gamma,
        )
    });
    let q = agent::q_taken(&nets.online.forward(&batch.obs), &batch.actions);
    let l = loss.apply(&q, &target);
    opt.zero_grad();
    l.backward();
    opt.step();
    (l.double_value(&[]), q.mean(tch::Kind::Float).double_value(&[]))
}

/// The outcome of a training run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The run directory.
    pub dir: PathBuf,
    /// The final evaluation of the last weights.
    pub final_eval: Evaluation,
    /// Environment steps taken.
    pub steps: u64,
    /// Whether the run stopped at `--max-minutes` before `total_steps`.
    pub stopped_early: bool,
}

/// The `last` checkpoint, and with `save_buffer` the replay memory next to it (written first:
/// a checkpoint never points at a memory older than itself).
fn save_last(
    session: &mut Session<TrainConfig>,
    nets: &Networks,
    opt: &Optimizer,
    state: &AgentState,
    memory: &Memory,
) -> Result<()> {
    if session.config().save_buffer {
        checkpoint::write_tensors(&buffer_path(session.dir()), memory.to_tensors())?;
    }
    Ok(session.save_last(&nets.vs, Some(opt), State::model(state)?)?)
}

fn buffer_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints").join("buffer.safetensors")
}

impl TrainingConfig for TrainConfig {
    fn seed(&self) -> u64 {
        self.seed
    }
}

/// Trains a DQN agent: a new run from `config`, or the run in `options.resume` from its last
/// checkpoint. What a resume keeps: weights, target network, optimizer, step, the exploration
/// and replay generators, and with `save_buffer` the replay memory; the episode running at the
/// checkpoint starts again from a reset.
pub fn train(config: TrainConfig, options: &RunOptions) -> Result<Summary> {
    if options.resume.is_none() {
        config.validate()?;
    }
    let mut session = Session::start(APP, config, options, Goal::MaxLatest("eval_return"))?;
    let (config, device) = (session.config().clone(), session.device());
    let mut env = env::make(&config.env, config.backend, config.seed)?;
    let mut eval_env = env::make(&config.env, config.backend, config.seed + 1_000_000)?;
    let space = env.obs_space();
    let action_names = env.action_names();
    let actions = action_names.len();
    let spec = config.qnet_spec(space, actions);
    let mut nets = Networks::new(&spec, device);
    let mut opt = Optimizer::new(OptimizerConfig::adam(config.lr), &nets.vs)?;
    let mut memory = Memory::new(space, config.buffer_size);
    let mut state = AgentState {
        spec: spec.clone(),
        actions: action_names.clone(),
        episodes: 0,
        explore_rng: rng(config.seed, "explore"),
        replay_rng: rng(config.seed, "replay"),
    };
    if let Some(saved) = session.restore(&mut nets.vs, Some(&mut opt))? {
        state = saved.model_as().context("the last checkpoint has no agent state")?;
        ensure!(state.spec == spec, "the checkpoint's network does not fit the environment");
        let buffer = buffer_path(session.dir());
        if config.save_buffer && buffer.exists() {
            memory.load_tensors(&checkpoint::read_tensors(&buffer)?)?;
            tracing::info!("the replay memory is restored too");
        } else {
            tracing::info!("the replay memory refills first (train with --save-buffer to keep it)");
        }
    }
    let epsilon = config.epsilon();
    tracing::info!(
        "DQN on {} ({} actions, {:?}), {} parameters, {device:?}",
        config.env,
        actions,
        space,
        nets.vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>()
    );

    let mut progress = session.progress("steps", config.total_steps - session.step(), "steps");
    let mut obs = env.reset();
    memory.start_episode(&obs);
    let mut stacker = Stacker::new(4, space);
    stacker.reset(&obs);
    let (mut episode_return, mut episode_length) = (0.0, 0u64);
    let (mut loss_mean, mut q_mean) = (Mean::default(), Mean::default());
    let mut window_start = (Instant::now(), session.step());
    let mut stopped_early = false;
    let warmup = (config.learning_starts as usize).min(config.buffer_size);
    while session.step() < config.total_steps {
        let eps = epsilon.at(session.step());
        let action =
            act(&nets.online, &stacker.input(&obs, device), actions, eps, &mut state.explore_rng);
        let s = env.step(action);
        episode_return += s.reward;
        episode_length += 1;
        let reward = if config.clip_rewards { clip_reward(s.reward) } else { s.reward as f32 };
        let terminal = s.terminated || (config.episodic_life && s.life_lost);
        memory.push(&obs, action, reward, terminal, &s.obs);
        session.advance();
        let step = session.step();
        if s.terminated || s.truncated {
            state.episodes += 1;
            session.log(&[
                ("episodic_return", episode_return),
                ("episodic_length", episode_length as f64),
            ])?;
            progress.println(&format!(
                "step {step}: episode {} return {episode_return}",
                state.episodes
            ));
            (episode_return, episode_length) = (0.0, 0);
            obs = env.reset();
            memory.start_episode(&obs);
            stacker.reset(&obs);
        } else {
            stacker.push(&s.obs);
            obs = s.obs;
        }

        if memory.len() >= warmup && step % config.train_every == 0 {
            seed_step(config.seed, step);
            let batch = memory.sample(config.batch_size, &mut state.replay_rng, device);
            let (l, q) = update(&nets, &mut opt, &batch, config.gamma, config.double, config.loss);
            loss_mean.add(l, 1.0);
            q_mean.add(q, 1.0);
        }
        if step % config.target_every == 0 {
            nets.update_target(config.tau);
        }
        if step % 1000 == 0 {
            let sps = (step - window_start.1) as f64 / window_start.0.elapsed().as_secs_f64();
            let mut values = vec![("epsilon", eps), ("steps_per_s", sps)];
            if loss_mean.count() > 0.0 {
                values.extend([("loss", loss_mean.value()), ("q_mean", q_mean.value())]);
            }
            session.log(&values)?;
            (loss_mean, q_mean) = (Mean::default(), Mean::default());
            window_start = (Instant::now(), step);
        }
        if config.eval_every > 0 && step % config.eval_every == 0 {
            let mut eval_rng = rng(config.seed ^ step, "eval");
            let e = evaluate(
                &nets.online,
                eval_env.as_mut(),
                config.eval_episodes,
                config.eval_epsilon,
                &mut eval_rng,
                device,
                |_, _| {},
            );
            progress.println(&format!(
                "step {step}: evaluation {:.1} ± {:.1} over {} episodes",
                e.mean(),
                e.std(),
                e.returns.len()
            ));
            let metrics = [("eval_return", e.mean()), ("eval_return_std", e.std())];
            session.evaluated(&nets.vs, &metrics, &state)?;
        }
        if step % config.checkpoint_every == 0 {
            save_last(&mut session, &nets, &opt, &state, &memory)?;
        }
        progress.inc(1, "");
        if session.expired() {
            stopped_early = true;
            break;
        }
    }
    progress.finish();
    save_last(&mut session, &nets, &opt, &state, &memory)?;
    let mut eval_rng = rng(config.seed, "final-eval");
    let final_eval = evaluate(
        &nets.online,
        eval_env.as_mut(),
        config.final_eval_episodes,
        config.eval_epsilon,
        &mut eval_rng,
        device,
        |_, _| {},
    );
    session.log(&[
        ("final_eval_return", final_eval.mean()),
        ("final_eval_return_std", final_eval.std()),
    ])?;
    session.plot()?;
    if stopped_early {
        tracing::info!(
            "stopped at step {} (--max-minutes); --resume {} continues",
            session.step(),
            session.dir().display()
        );
    }
    let (dir, steps) = (session.dir().to_path_buf(), session.step());
    Ok(Summary { dir, final_eval, steps, stopped_early })
}
