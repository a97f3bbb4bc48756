//! Watching an agent play: each game runs on its own thread with its own copy of the agent,
//! and every step's screen, Q-values and score stream to the page at the game's frame rate.
//! The random agent plays the same game from the same seed, for comparison.

use crate::api::{within, within_f64, ApiError};
use crate::stream::{self, EventStream, Events};
use crate::{About, Gallery, Named};
use anyhow::Result;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use base64::Engine;
use dqn::infer::{Agent, Stacker};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tch::Device;

/// Games streamed at once, across all agents: each holds a thread and a copy of its network.
pub const MAX_GAMES: usize = 4;

/// A trained agent the page can start games of.
pub struct Player {
    /// What the page lists.
    pub about: About,
    /// Its checkpoint: each game loads its own copy.
    pub path: PathBuf,
    /// The environment it was trained on.
    pub env: String,
    /// Its actions' names.
    pub actions: Vec<String>,
    device: Device,
}

impl Named for Player {
    fn about(&self) -> &About {
        &self.about
    }
}

impl Player {
    /// Checks that the checkpoint at `path` loads and that its environment can be made (the
    /// Atari ROM found, say), so that a broken agent fails at start-up, not in a page.
    pub fn load(about: About, path: &std::path::Path, device: Device) -> Result<Player> {
        let agent = Agent::load(path, device)?;
        agent.environment(0)?;
        let (env, actions) = (agent.config.env.clone(), agent.state.actions.clone());
        Ok(Player { about, path: path.to_path_buf(), env, actions, device })
    }
}

/// Who chooses the actions.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// The trained network, greedily.
    #[default]
    Agent,
    /// Uniformly random actions (the Q-values are still the network's view of the screen).
    Random,
}

/// The query of `GET /api/play/{agent}`.
#[derive(Debug, Deserialize)]
pub struct PlayQuery {
    /// `agent` or `random`.
    #[serde(default)]
    pub policy: Policy,
    /// Seed of the game (and of the random agent's choices).
    #[serde(default)]
    pub seed: u64,
    /// Playback speed, 0.25 to 8 times the game's frame rate.
    #[serde(default = "one")]
    pub speed: f64,
    /// Longest game, in steps (1 to 100000).
    #[serde(default = "max_steps")]
    pub max_steps: u64,
}

fn one() -> f64 {
    1.0
}

fn max_steps() -> u64 {
    10_000
}

/// One step of a game, as the page draws it.
#[derive(Debug, Serialize)]
pub struct Frame {
    /// Steps taken so far.
    pub step: u64,
    /// The screen as a PNG data URL.
    pub screen: String,
    /// The network's Q-value of each action for this screen.
    pub q: Vec<f32>,
    /// The action about to be taken (none on the last screen of a game).
    pub action: Option<usize>,
    /// Game score so far.
    pub score: f64,
}

/// The end of a game.
#[derive(Debug, Serialize)]
pub struct GameOver {
    /// The game score.
    pub score: f64,
    /// Steps played.
    pub steps: u64,
    /// Whether the game ended by itself (not at `max_steps`).
    pub finished: bool,
}

/// What the page needs before the first frame.
#[derive(Debug, Serialize)]
struct Start<'a> {
    env: &'a str,
    actions: &'a [String],
    policy: Policy,
    fps: u32,
}

/// `GET /api/play/{agent}?policy=agent|random&seed=..&speed=..&max_steps=..`: a game as
/// server-sent events: `start`, then a `frame` per step, then `over` (or `failed`). Closing the
/// stream ends the game.
pub async fn play(
    State(gallery): State<Arc<Gallery>>,
    Path(name): Path<String>,
    query: Result<Query<PlayQuery>, QueryRejection>,
) -> Result<EventStream, ApiError> {
    let Query(q) = query?;
    let player = gallery.agents.get(&name)?;
    let speed = within_f64("speed", q.speed, 0.25..=8.0)?;
    let max_steps = within("max_steps", q.max_steps, 1..=100_000)?;
    let seat = gallery.games.clone().try_acquire_owned().map_err(|_| {
        ApiError::busy(format!(
            "{MAX_GAMES} games are being watched already; try again when one ends"
        ))
    })?;
    let (events, stream) = stream::channel(8);
    std::thread::Builder::new()
        .name(format!("play:{name}"))
        .spawn(move || {
            let _seat = seat;
            if let Err(e) = game(&player, q.policy, q.seed, speed, max_steps, &events) {
                events.send("failed", &serde_json::json!({ "error": format!("{e:#}") }));
            }
        })
        .map_err(|e| ApiError::internal(format!("cannot start a game: {e}")))?;
    Ok(stream)
}

/// Plays one game, sending every step; stops early when the page goes.
fn game(
    player: &Player,
    policy: Policy,
    seed: u64,
    speed: f64,
    max_steps: u64,
    events: &Events,
) -> Result<()> {
    let agent = Agent::load(&player.path, player.device)?;
    let mut env = agent.environment(seed)?;
    let fps = env.fps();
    let start = Start { env: &player.env, actions: &player.actions, policy, fps };
    if !events.send("start", &start) {
        return Ok(());
    }
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    let mut stacker = Stacker::new(4, env.obs_space());
    let mut obs = env.reset();
    stacker.reset(&obs);
    let period = Duration::from_secs_f64(1.0 / (fps as f64 * speed));
    let (mut score, mut step, mut finished) = (0.0, 0u64, false);
    let q_values = |stacker: &Stacker, obs: &dqn::env::Obs| -> Result<Vec<f32>> {
        let input = stacker.input(obs, player.device);
        let q = tch::no_grad(|| agent.nets.online.forward(&input)).squeeze_dim(0);
        Ok(Vec::<f32>::try_from(q.to_device(Device::Cpu))?)
    };
    let mut next = Instant::now();
    loop {
        let q = q_values(&stacker, &obs)?;
        let over = finished || step == max_steps;
        let action = match policy {
            _ if over => None,
            Policy::Agent => Some(argmax(&q)),
            Policy::Random => Some(random.random_range(0..q.len())),
        };
        let screen = png_data_url(&env.render())?;
        if !events.send("frame", &Frame { step, screen, q, action, score }) || over {
            break;
        }
        let s = env.step(action.unwrap_or(0));
        (score, step) = (score + s.reward, step + 1);
        finished = s.terminated || s.truncated;
        stacker.push(&s.obs);
        obs = s.obs;
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    events.send("over", &GameOver { score, steps: step, finished });
    Ok(())
}

fn argmax(values: &[f32]) -> usize {
    let best = values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
    best.map_or(0, |(i, _)| i)
}

/// An image as a `data:image/png;base64,...` URL.
pub fn png_data_url(image: &image::RgbImage) -> Result<String> {
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(format!("data:image/png;base64,{encoded}"))
}
