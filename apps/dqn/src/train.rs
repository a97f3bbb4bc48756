//! The DQN training loop (Mnih et al. 2015, Algorithm 1), one environment, with CleanRL's
//! defaults as the documented baseline: act epsilon-greedily, store the transition, and every
//! `train_every` steps regress `Q(s, a)` on the TD target of a random minibatch from the replay
//! memory; copy the online network into the target network every `target_every` steps.

use crate::agent::{self, Epsilon, Loss};
use crate::env::atari::clip_reward;
use crate::env::{self, Environment, Obs, ObsSpace};
use crate::infer::{act, evaluate, Evaluation, Stacker};
use crate::model::{QNet, QNetSpec};
use crate::replay::{Batch, FrameReplay, VectorReplay};
use crate::APP;
use anyhow::{ensure, Context, Result};
use dl_core::device::{rng, seed_step};
use dl_core::metrics::Mean;
use dl_core::optim::{Optimizer, OptimizerConfig};
use harness::session::{Goal, Session, State, TrainingConfig};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Tensor};

fn default_save_buffer_up_to_mb() -> u64 {
    1024
}

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
    /// Save the replay memory with each `last` checkpoint whatever its size (it is saved
    /// anyway when it holds at most `save_buffer_up_to_mb`).
    pub save_buffer: bool,
    /// The largest replay memory saved with every `last` checkpoint, in MB: a memory within it
    /// makes `--resume` continue exactly; a larger one is refilled after a resume.
    #[serde(default = "default_save_buffer_up_to_mb")]
    pub save_buffer_up_to_mb: u64,
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
            save_buffer_up_to_mb: default_save_buffer_up_to_mb(),
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

/// What a checkpoint carries besides the weights to play with them (the sidecar's `extra`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentState {
    /// The network's description.
    pub spec: QNetSpec,
    /// Action names, indexed by action.
    pub actions: Vec<String>,
}

/// Where training stands besides the networks, the optimizer, the environments and the replay
/// memory (which the last checkpoint holds as tensors): the running episode and the generators.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Running {
    /// Episodes finished.
    episodes: u64,
    /// The exploration generator.
    explore_rng: ChaCha8Rng,
    /// The replay sampling generator.
    replay_rng: ChaCha8Rng,
    /// The current observation and the frame stack it belongs to.
    obs: Obs,
    stacker: Stacker,
    /// Return and length of the running episode so far.
    episode_return: f64,
    episode_length: u64,
    /// Loss and mean Q since the last log line.
    loss_mean: Mean,
    q_mean: Mean,
    /// Whether the replay memory was saved with the checkpoint.
    memory_saved: bool,
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

    /// Bytes it holds.
    pub fn bytes(&self) -> usize {
        match self {
            Memory::Vector(m) => m.bytes(),
            Memory::Frames(m) => m.bytes(),
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

impl TrainingConfig for TrainConfig {
    fn seed(&self) -> u64 {
        self.seed
    }
}

/// Trains a DQN agent: a new run from `config`, or the run in `options.resume` from its last
/// checkpoint, which goes on exactly as if it had never stopped: networks, optimizer, step,
/// both environments (the running episode included), the generators, and the replay memory
/// (when it is within `save_buffer_up_to_mb`, or with `save_buffer`; else it refills first).
pub fn train(config: TrainConfig, options: &RunOptions) -> Result<Summary> {
    if options.resume.is_none() {
        config.validate()?;
    }
    let mut session = Session::start(APP, config, options, Goal::MaxLatest("eval_return"))?;
    let (config, device) = (session.config().clone(), session.device());
    let mut env = env::make(&config.env, config.backend, config.seed)?;
    let mut eval_env = env::make(&config.env, config.backend, config.seed + 1_000_000)?;
    let space = env.obs_space();
    let agent = AgentState {
        spec: config.qnet_spec(space, env.action_names().len()),
        actions: env.action_names(),
    };
    let mut nets = Networks::new(&agent.spec, device);
    let mut opt = Optimizer::new(OptimizerConfig::adam(config.lr), &nets.vs)?;
    let mut memory = Memory::new(space, config.buffer_size);
    let keep_memory = keeps_memory(&config, &memory);
    let mut run = match session.restore(&mut nets.vs, Some(&mut opt))? {
        Some(saved) => resume(&saved, &agent, env.as_mut(), eval_env.as_mut(), &mut memory)?,
        None => Running::start(
            env.as_mut(),
            &mut memory,
            rng(config.seed, "explore"),
            rng(config.seed, "replay"),
        ),
    };
    tracing::info!(
        "DQN on {} ({} actions, {space:?}), {} parameters, {device:?}",
        config.env,
        agent.actions.len(),
        nets.vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>()
    );

    let epsilon = config.epsilon();
    let mut progress = session.progress("steps", config.total_steps - session.step(), "steps");
    let mut window_start = (Instant::now(), session.step());
    let mut stopped_early = false;
    let warmup = (config.learning_starts as usize).min(config.buffer_size);
    while session.step() < config.total_steps {
        // Act epsilon-greedily and store the transition.
        let eps = epsilon.at(session.step());
        let input = run.stacker.input(&run.obs, device);
        let action = act(&nets.online, &input, agent.actions.len(), eps, &mut run.explore_rng);
        let s = env.step(action);
        (run.episode_return, run.episode_length) =
            (run.episode_return + s.reward, run.episode_length + 1);
        let reward = if config.clip_rewards { clip_reward(s.reward) } else { s.reward as f32 };
        let terminal = s.terminated || (config.episodic_life && s.life_lost);
        memory.push(&run.obs, action, reward, terminal, &s.obs);
        session.advance();
        let step = session.step();
        if s.terminated || s.truncated {
            run.episodes += 1;
            let logged = [
                ("episodic_return", run.episode_return),
                ("episodic_length", run.episode_length as f64),
            ];
            session.log(&logged)?;
            progress.println(&format!(
                "step {step}: episode {} return {}",
                run.episodes, run.episode_return
            ));
            run.new_episode(env.reset(), &mut memory);
        } else {
            run.stacker.push(&s.obs);
            run.obs = s.obs;
        }

        // Learn: regress Q(s, a) on the TD target of a minibatch; now and then copy the target.
        if memory.len() >= warmup && step % config.train_every == 0 {
            seed_step(config.seed, step);
            let batch = memory.sample(config.batch_size, &mut run.replay_rng, device);
            let (l, q) = update(&nets, &mut opt, &batch, config.gamma, config.double, config.loss);
            run.loss_mean.add(l, 1.0);
            run.q_mean.add(q, 1.0);
        }
        if step % config.target_every == 0 {
            nets.update_target(config.tau);
        }

        if step % 1000 == 0 {
            let sps = (step - window_start.1) as f64 / window_start.0.elapsed().as_secs_f64();
            let mut values = vec![("epsilon", eps), ("steps_per_s", sps)];
            if run.loss_mean.count() > 0.0 {
                values.extend([("loss", run.loss_mean.value()), ("q_mean", run.q_mean.value())]);
            }
            session.log(&values)?;
            (run.loss_mean, run.q_mean) = (Mean::default(), Mean::default());
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
            session.evaluated(
                &nets.vs,
                &[("eval_return", e.mean()), ("eval_return_std", e.std())],
                &agent,
            )?;
        }
        stopped_early = session.expired() && step < config.total_steps;
        if step % config.checkpoint_every == 0 || step == config.total_steps || stopped_early {
            run.memory_saved = keep_memory;
            let state = checkpoint_state(&agent, &run, env.as_mut(), eval_env.as_mut(), &memory)?;
            session.save_last(&nets.vs, Some(&opt), state)?;
        }
        progress.inc(1, "");
        if stopped_early {
            break;
        }
    }
    progress.finish();

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

impl Running {
    /// The first episode of a new run.
    fn start(
        env: &mut dyn Environment,
        memory: &mut Memory,
        explore_rng: ChaCha8Rng,
        replay_rng: ChaCha8Rng,
    ) -> Running {
        let obs = env.reset();
        memory.start_episode(&obs);
        let mut stacker = Stacker::new(4, env.obs_space());
        stacker.reset(&obs);
        Running {
            episodes: 0,
            explore_rng,
            replay_rng,
            obs,
            stacker,
            episode_return: 0.0,
            episode_length: 0,
            loss_mean: Mean::default(),
            q_mean: Mean::default(),
            memory_saved: false,
        }
    }

    /// Begins the next episode from its first observation.
    fn new_episode(&mut self, obs: Obs, memory: &mut Memory) {
        memory.start_episode(&obs);
        self.stacker.reset(&obs);
        (self.obs, self.episode_return, self.episode_length) = (obs, 0.0, 0);
    }
}

/// Whether checkpoints hold the replay memory: when it is small enough, or when asked.
fn keeps_memory(config: &TrainConfig, memory: &Memory) -> bool {
    let mb = memory.bytes() as f64 / 1e6;
    let keep = config.save_buffer || mb <= config.save_buffer_up_to_mb as f64;
    if !keep {
        tracing::info!(
            "the replay memory ({mb:.0} MB) is larger than save_buffer_up_to_mb ({} MB): \
             checkpoints leave it out, so a resumed run refills it first (--save-buffer keeps it)",
            config.save_buffer_up_to_mb
        );
    }
    keep
}

/// Prefix of the replay memory's tensors among a checkpoint's state tensors.
const REPLAY: &str = "replay/";

/// What the `last` checkpoint holds besides the networks and the optimizer: the running
/// episode and generators, both environments' states, and the replay memory if it is kept.
fn checkpoint_state(
    agent: &AgentState,
    run: &Running,
    env: &mut dyn Environment,
    eval_env: &mut dyn Environment,
    memory: &Memory,
) -> Result<State> {
    let mut state = State::model(agent)?
        .with_values(run)?
        .with_tensor("env", &Tensor::from_slice(&env.save_state()?))
        .with_tensor("eval_env", &Tensor::from_slice(&eval_env.save_state()?));
    if run.memory_saved {
        for (name, tensor) in memory.to_tensors() {
            state = state.with_tensor(&format!("{REPLAY}{name}"), &tensor);
        }
    }
    Ok(state)
}

/// Restores what [`checkpoint_state`] saved.
fn resume(
    saved: &State,
    agent: &AgentState,
    env: &mut dyn Environment,
    eval_env: &mut dyn Environment,
    memory: &mut Memory,
) -> Result<Running> {
    let saved_agent: AgentState =
        saved.model_as().context("the last checkpoint has no agent description")?;
    ensure!(
        saved_agent.spec == agent.spec,
        "the checkpoint's network does not fit the environment"
    );
    let run: Running = saved.values_as()?;
    let bytes = |name: &str| -> Result<Vec<u8>> {
        Ok(Vec::<u8>::try_from(&saved.tensor(name, Device::Cpu)?)?)
    };
    env.load_state(&bytes("env")?).context("restoring the environment")?;
    eval_env.load_state(&bytes("eval_env")?).context("restoring the evaluation environment")?;
    if run.memory_saved {
        let tensors: Vec<(String, Tensor)> = saved
            .tensors
            .iter()
            .filter_map(|(n, t)| n.strip_prefix(REPLAY).map(|n| (n.to_string(), t.shallow_clone())))
            .collect();
        memory.load_tensors(&tensors)?;
    } else {
        tracing::info!("the checkpoint has no replay memory: it refills before learning resumes");
        memory.start_episode(&run.obs);
    }
    Ok(run)
}
