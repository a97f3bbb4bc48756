//! Environments: what the agent observes, the actions it has, and the rewards it gets.
//!
//! Every environment is an [`Environment`]; [`make`] builds one by name. Classic control comes
//! from the pure-Rust `gymnasia` crate (or `gym-rs`, behind the `gym-rs` feature), Atari from the
//! Arcade Learning Environment, and [`chain::Chain`] is a tiny deterministic task for tests.

#[cfg(feature = "atari")]
pub mod ale;
pub mod atari;
pub mod chain;
#[cfg(feature = "gym-rs")]
pub mod gymrs;

use image::RgbImage;

/// An observation: a small vector (classic control), or the newest preprocessed frame
/// (Atari: 84x84 grayscale, u8; the stack of the last 4 is built by the caller).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Obs {
    /// A state vector.
    Vector(Vec<f32>),
    /// One grayscale frame, row-major.
    Frame(Vec<u8>),
}

impl Obs {
    /// The state vector; panics on a frame (a programming error: the caller knows the kind).
    pub fn vector(&self) -> &[f32] {
        match self {
            Obs::Vector(v) => v,
            Obs::Frame(_) => panic!("expected a vector observation, got a frame"),
        }
    }

    /// The frame; panics on a vector.
    pub fn frame(&self) -> &[u8] {
        match self {
            Obs::Frame(f) => f,
            Obs::Vector(_) => panic!("expected a frame observation, got a vector"),
        }
    }
}

/// What one step returned.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The observation after the action.
    pub obs: Obs,
    /// The reward, unclipped: the game's own score change.
    pub reward: f64,
    /// The episode ended in a terminal state (pole fell, game over): nothing to bootstrap from.
    pub terminated: bool,
    /// The episode was cut by a time limit: not terminal, the state still has a value.
    pub truncated: bool,
    /// A life was lost on this step (Atari); the game goes on.
    pub life_lost: bool,
}

/// The shape of an environment's observations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ObsSpace {
    /// Vectors of this many numbers.
    Vector(usize),
    /// Grayscale frames of `height x width`.
    Frame {
        /// Rows.
        height: i64,
        /// Columns.
        width: i64,
    },
}

/// An episodic environment, gymnasium style.
pub trait Environment {
    /// The observation space.
    fn obs_space(&self) -> ObsSpace;
    /// Names of the actions, indexed by action.
    fn action_names(&self) -> Vec<String>;
    /// Starts a new episode (the first reset after creation uses the seed given to [`make`]).
    fn reset(&mut self) -> Obs;
    /// Takes `action` (an index into [`Environment::action_names`]).
    fn step(&mut self, action: usize) -> Step;
    /// The current screen as RGB, for GIFs.
    fn render(&self) -> RgbImage;
    /// Frames per second the screen is meant to be shown at.
    fn fps(&self) -> u32 {
        50
    }
    /// Everything the environment's future depends on (its state, generators and counters),
    /// as bytes: what a checkpoint keeps so that a resumed run steps on exactly as a run never
    /// stopped would.
    fn save_state(&mut self) -> anyhow::Result<Vec<u8>>;
    /// Restores what [`Environment::save_state`] returned, on an environment made alike.
    fn load_state(&mut self, state: &[u8]) -> anyhow::Result<()>;
}

/// The state of an environment whose episodes are a function of their index and actions
/// (classic control, seeded per episode): saved as the episodes begun and the actions of the
/// current one, restored by replaying them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Replay {
    /// Episodes begun (the current one included).
    pub episodes: u64,
    /// Actions taken since the current episode began.
    pub actions: Vec<usize>,
}

impl Replay {
    /// As bytes (JSON).
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }

    /// From [`Replay::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Replay> {
        serde_json::from_slice(bytes).map_err(|e| anyhow::anyhow!("not a saved environment: {e}"))
    }

    /// Brings `env`, whose `reset` begins episode `*episodes` and counts it, to the saved
    /// state: the current episode begun again and its actions taken again.
    pub fn restore<E: Environment + ?Sized>(
        &self,
        env: &mut E,
        episodes: impl FnOnce(&mut E) -> &mut u64,
    ) {
        if self.episodes == 0 {
            *episodes(env) = 0;
            return;
        }
        *episodes(env) = self.episodes - 1;
        env.reset();
        for &action in &self.actions {
            env.step(action);
        }
    }
}

pub mod classic;

/// Which implementation of classic control.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The `gymnasia` crate (pure Rust; the default).
    Gymnasia,
    /// The `gym-rs` crate (needs the `gym-rs` cargo feature, which builds SDL2).
    GymRs,
}

/// What family an environment name belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// CartPole, MountainCar.
    Classic,
    /// The test chain.
    Chain,
    /// An Atari game bundled with the `ale` crate.
    Atari,
}

impl Kind {
    /// The family of `name`, or an error naming the known environments.
    pub fn of(name: &str) -> anyhow::Result<Kind> {
        match name {
            "cartpole" | "mountaincar" => Ok(Kind::Classic),
            "chain" => Ok(Kind::Chain),
            #[cfg(feature = "atari")]
            _ if ale::is_game(name) => Ok(Kind::Atari),
            _ => anyhow::bail!(
                "unknown environment {name:?}: use cartpole, mountaincar{}",
                if cfg!(feature = "atari") {
                    " or an Atari game (pong, breakout, space_invaders, ...)"
                } else {
                    " (this build has no Atari games: build with the atari feature)"
                }
            ),
        }
    }
}

/// Builds environment `name` seeded with `seed`.
pub fn make(name: &str, backend: Backend, seed: u64) -> anyhow::Result<Box<dyn Environment>> {
    let kind = Kind::of(name)?;
    if backend == Backend::GymRs {
        if kind != Kind::Classic {
            anyhow::bail!("--backend gym-rs is for cartpole and mountaincar only, not {name:?}");
        }
        if !cfg!(feature = "gym-rs") {
            anyhow::bail!(
                "this build has no gym-rs backend: rebuild with `--features gym-rs` (needs SDL2_gfx \
                 and cmake) or use --backend gymnasia"
            );
        }
    }
    Ok(match (name, backend) {
        #[cfg(feature = "gym-rs")]
        ("cartpole", Backend::GymRs) => Box::new(gymrs::cartpole(seed)),
        #[cfg(feature = "gym-rs")]
        ("mountaincar", Backend::GymRs) => Box::new(gymrs::mountain_car(seed)),
        ("cartpole", _) => Box::new(classic::cartpole(seed)),
        ("mountaincar", _) => Box::new(classic::mountain_car(seed)),
        ("chain", _) => Box::new(chain::Chain::new(6)),
        #[cfg(feature = "atari")]
        (game, _) => {
            let console = ale::AleConsole::new(game, seed)?;
            Box::new(atari::Atari::new(console, atari::AtariOptions::default(), seed))
        }
        #[cfg(not(feature = "atari"))]
        _ => unreachable!("Kind::of accepted {name:?}"),
    })
}
