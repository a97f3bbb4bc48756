//! The DQN training loop (Mnih et al. 2015, Algorithm 1), one environment, with CleanRL's
//! defaults as the documented baseline: act epsilon-greedily, store the transition, and every
//! `train_every` steps regress `Q(s, a)` on the TD target of a random minibatch from the replay
//! memory; copy the online network into the target network every `target_every` steps.

use crate::agent::{update, Networks};
use crate::env::atari::clip_reward;
use crate::env::{Environment, Obs, ObsSpace};
use crate::infer::{act, evaluate, Evaluation, Stacker};
use crate::model::QNetSpec;
use crate::replay::Memory;
use crate::APP;
use anyhow::{ensure, Context, Result};
use dl_core::device::{rng, seed_step};
use dl_core::metrics::Mean;
use dl_core::optim::{Optimizer, OptimizerConfig};
use harness::session::{Goal, Session, State, TrainingConfig};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Tensor};

pub use crate::config::TrainConfig;

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
    // Training and evaluation play their own copies of the environment, seeded apart.
    let (mut env, mut eval_env) = (config.environment(0)?, config.environment(1_000_000)?);
    let (space, actions) = (env.obs_space(), env.action_names());
    let agent = AgentState { spec: config.qnet_spec(space, actions.len()), actions };
    let mut nets = Networks::new(&agent.spec, device);
    let mut opt = Optimizer::new(OptimizerConfig::adam(config.lr), &nets.vs)?;
    let (mut memory, keep_memory) = Memory::for_run(&config, space);
    let mut run = match session.restore(&mut nets.vs, Some(&mut opt))? {
        Some(saved) => resume(&saved, &agent, env.as_mut(), eval_env.as_mut(), &mut memory)?,
        None => Running::start(env.as_mut(), &mut memory, config.seed),
    };
    let parameters: usize = nets.vs.trainable_variables().iter().map(Tensor::numel).sum();
    tracing::info!("DQN on {} ({space:?}), {parameters} parameters, {device:?}", config.env);

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
        run.score(s.reward);
        let reward = if config.clip_rewards { clip_reward(s.reward) } else { s.reward as f32 };
        let terminal = s.terminated || (config.episodic_life && s.life_lost);
        memory.push(&run.obs, action, reward, terminal, &s.obs);
        session.advance();
        let step = session.step();
        if s.terminated || s.truncated {
            run.episodes += 1;
            let (episode, score) = (run.episodes, run.episode_return);
            session.log(&[
                ("episodic_return", score),
                ("episodic_length", run.episode_length as f64),
            ])?;
            progress.println(&format!("step {step}: episode {episode} return {score}"));
            run.new_episode(env.reset(), &mut memory);
        } else {
            run.stacker.push(&s.obs);
            run.obs = s.obs;
        }

        // Learn: regress Q(s, a) on the TD target of a minibatch; now and then copy the target.
        if memory.len() >= warmup && step % config.train_every == 0 {
            seed_step(config.seed, step);
            let batch = memory.sample(config.batch_size, &mut run.replay_rng, device);
            let (l, q) = update(
                &nets,
                &mut opt,
                &batch,
                config.gamma,
                config.double,
                config.loss,
                options.precision,
            )?;
            run.loss_mean.add(l, 1.0);
            run.q_mean.add(q, 1.0);
        }
        if step % config.target_every == 0 {
            nets.update_target(config.tau);
        }

        if step % 1000 == 0 {
            session.log(&run.take_window(eps, &mut window_start, step))?;
        }
        if config.eval_every > 0 && step % config.eval_every == 0 {
            let e = play_evaluation(&nets, eval_env.as_mut(), &config, config.eval_episodes, step);
            progress.println(&format!("step {step}: evaluation {e}"));
            let metrics = [("eval_return", e.mean()), ("eval_return_std", e.std())];
            session.evaluated(&nets.vs, &metrics, &agent)?;
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

    let episodes = config.final_eval_episodes;
    let final_eval = play_evaluation(&nets, eval_env.as_mut(), &config, episodes, u64::MAX);
    let metrics =
        [("final_eval_return", final_eval.mean()), ("final_eval_return_std", final_eval.std())];
    session.log(&metrics)?;
    session.plot()?;
    let (dir, steps) = (session.dir().to_path_buf(), session.step());
    if stopped_early {
        tracing::info!(
            "stopped at step {steps} (--max-minutes); --resume {} continues",
            dir.display()
        );
    }
    Ok(Summary { dir, final_eval, steps, stopped_early })
}

/// Plays `episodes` evaluation episodes at the evaluation epsilon, with the generator of
/// evaluation `at` (a step, or `u64::MAX` for the final evaluation).
fn play_evaluation(
    nets: &Networks,
    eval_env: &mut dyn Environment,
    config: &TrainConfig,
    episodes: u64,
    at: u64,
) -> Evaluation {
    let mut eval_rng = match at {
        u64::MAX => rng(config.seed, "final-eval"),
        step => rng(config.seed ^ step, "eval"),
    };
    let device = nets.vs.device();
    evaluate(
        &nets.online,
        eval_env,
        episodes,
        config.eval_epsilon,
        &mut eval_rng,
        device,
        |_, _| {},
    )
}

impl Running {
    /// The first episode of a new run.
    fn start(env: &mut dyn Environment, memory: &mut Memory, seed: u64) -> Running {
        let (explore_rng, replay_rng) = (rng(seed, "explore"), rng(seed, "replay"));
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

    /// The values of a periodic log line (epsilon, throughput since `window_start`, and the
    /// mean loss and Q since the last line), restarting the window.
    fn take_window(
        &mut self,
        eps: f64,
        window_start: &mut (Instant, u64),
        step: u64,
    ) -> Vec<(&'static str, f64)> {
        let sps = (step - window_start.1) as f64 / window_start.0.elapsed().as_secs_f64();
        let mut values = vec![("epsilon", eps), ("steps_per_s", sps)];
        if self.loss_mean.count() > 0.0 {
            values.extend([("loss", self.loss_mean.value()), ("q_mean", self.q_mean.value())]);
        }
        (self.loss_mean, self.q_mean) = (Mean::default(), Mean::default());
        *window_start = (Instant::now(), step);
        values
    }

    /// Adds a step's reward to the running episode.
    fn score(&mut self, reward: f64) {
        (self.episode_return, self.episode_length) =
            (self.episode_return + reward, self.episode_length + 1);
    }

    /// Begins the next episode from its first observation.
    fn new_episode(&mut self, obs: Obs, memory: &mut Memory) {
        memory.start_episode(&obs);
        self.stacker.reset(&obs);
        (self.obs, self.episode_return, self.episode_length) = (obs, 0.0, 0);
    }
}

impl Memory {
    /// The run's replay memory, and whether its checkpoints hold it: when it is small enough, or
    /// when asked.
    fn for_run(config: &TrainConfig, space: ObsSpace) -> (Memory, bool) {
        let memory = Memory::new(space, config.buffer_size);
        let keep = keeps_memory(config, &memory);
        (memory, keep)
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
