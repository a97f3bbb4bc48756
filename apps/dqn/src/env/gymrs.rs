//! Classic control from `gym-rs` 0.3.0, the crate the project's owner first named (cargo feature
//! `gym-rs`, selected with `--backend gym-rs`). `gymnasia` is its maintained successor and the
//! default; this backend keeps the original usable, with two of its departures from Gymnasium
//! handled here:
//!
//! - its CartPole starts from U(±0.5) on every coordinate instead of Gymnasium's U(±0.05), a start
//!   that often fails within a few steps: [`cartpole`] passes the ±0.05 bounds through the reset
//!   options, so episodes start as in CartPole-v1;
//! - it has no time limit: 500 steps (CartPole-v1) and 200 (MountainCar-v0) are applied here, as a
//!   truncation, the same as with `gymnasia`.
//!
//! One departure is left as it is, because it is inside the crate's step function: its CartPole
//! computes the pole's mass-length as `masspole + length` (0.6) where Gymnasium multiplies them
//! (0.05), so the cart is pushed harder by the swinging pole. The task is still balancing a
//! pole, but returns are not comparable with CartPole-v1's; the app README gives both.
//!
//! gym-rs draws through an SDL2 window, which a server has no display for; [`GymRs::render`]
//! draws the same state with `gymnasia`'s renderer instead, so GIFs look alike with either backend.

use super::{Environment, Obs, ObsSpace, Step};
use crate::render::rasterize;
use gym_rs::core::Env as _;
use gym_rs::envs::classical_control::cartpole::{CartPoleEnv, CartPoleObservation};
use gym_rs::envs::classical_control::mountain_car::MountainCarEnv;
use gym_rs::spaces::BoxR;
use gym_rs::utils::renderer::RenderMode;
use gymnasia::core::Renderable;
use image::RgbImage;

/// Gymnasium's CartPole-v1 start: every coordinate uniform in ±0.05.
pub const CARTPOLE_START_BOUND: f64 = 0.05;

/// The two gym-rs environments (their observation types differ, so an enum, not a generic).
enum Game {
    CartPole(Box<CartPoleEnv>),
    MountainCar(Box<MountainCarEnv>),
}

/// A gym-rs environment with Gymnasium's start state and time limit and deterministic seeding:
/// episode `k` starts from seed `seed + k`.
pub struct GymRs {
    game: Game,
    actions: Vec<String>,
    limit: u64,
    seed: u64,
    episodes: u64,
    steps: u64,
    /// Actions taken since the current episode began (its saved state).
    taken: Vec<usize>,
    /// The latest observation, for [`GymRs::render`].
    state: Vec<f64>,
}

/// CartPole through gym-rs, started within ±0.05 as CartPole-v1; +1 per step, at most 500.
pub fn cartpole(seed: u64) -> GymRs {
    let game = Game::CartPole(Box::new(CartPoleEnv::new(RenderMode::None)));
    GymRs::new(game, &["left", "right"], 500, seed)
}

/// MountainCar through gym-rs (its start, position U(-0.6, -0.4) at rest, is Gymnasium's);
/// -1 per step until the flag, at most 200.
pub fn mountain_car(seed: u64) -> GymRs {
    let game = Game::MountainCar(Box::new(MountainCarEnv::new(RenderMode::None)));
    GymRs::new(game, &["left", "none", "right"], 200, seed)
}

impl GymRs {
    fn new(game: Game, actions: &[&str], limit: u64, seed: u64) -> Self {
        let actions = actions.iter().map(|a| a.to_string()).collect();
        GymRs {
            game,
            actions,
            limit,
            seed,
            episodes: 0,
            taken: Vec::new(),
            steps: 0,
            state: Vec::new(),
        }
    }

    fn observe(&mut self, state: Vec<f64>) -> Obs {
        self.state = state;
        Obs::Vector(self.state.iter().map(|&v| v as f32).collect())
    }
}

impl Environment for GymRs {
    fn obs_space(&self) -> ObsSpace {
        ObsSpace::Vector(match self.game {
            Game::CartPole(_) => 4,
            Game::MountainCar(_) => 2,
        })
    }

    fn action_names(&self) -> Vec<String> {
        self.actions.clone()
    }

    fn reset(&mut self) -> Obs {
        let seed = Some(self.seed.wrapping_add(self.episodes));
        self.episodes += 1;
        self.steps = 0;
        self.taken.clear();
        let state = match &mut self.game {
            Game::CartPole(env) => {
                let b = CARTPOLE_START_BOUND.into();
                let high = CartPoleObservation::new(b, b, b, b);
                let start = BoxR::new(-high, high);
                env.reset(seed, false, Some(start)).0.into()
            }
            Game::MountainCar(env) => env.reset(seed, false, None).0.into(),
        };
        self.observe(state)
    }

    fn step(&mut self, action: usize) -> Step {
        let (state, reward, terminated) = match &mut self.game {
            Game::CartPole(env) => {
                let r = env.step(action);
                (r.observation.into(), r.reward.into_inner(), r.done)
            }
            Game::MountainCar(env) => {
                let r = env.step(action);
                (r.observation.into(), r.reward.into_inner(), r.done)
            }
        };
        self.steps += 1;
        self.taken.push(action);
        Step {
            obs: self.observe(state),
            reward,
            terminated,
            truncated: !terminated && self.steps >= self.limit,
            life_lost: false,
        }
    }

    fn save_state(&mut self) -> anyhow::Result<Vec<u8>> {
        super::Replay { episodes: self.episodes, actions: self.taken.clone() }.to_bytes()
    }

    fn load_state(&mut self, state: &[u8]) -> anyhow::Result<()> {
        super::Replay::from_bytes(state)?.restore(self, |env| &mut env.episodes);
        Ok(())
    }

    fn render(&self) -> RgbImage {
        let s = |i: usize| self.state.get(i).copied().unwrap_or(0.0).into();
        match self.game {
            Game::CartPole(_) => {
                let mut painter = gymnasia::envs::classical_control::cartpole::CartPoleEnv::new();
                painter.state.x = s(0);
                painter.state.x_dot = s(1);
                painter.state.theta = s(2);
                painter.state.theta_dot = s(3);
                rasterize(&painter.draw_list())
            }
            Game::MountainCar(_) => {
                let mut painter =
                    gymnasia::envs::classical_control::mountain_car::MountainCarEnv::new();
                painter.state.position = s(0);
                painter.state.velocity = s(1);
                rasterize(&painter.draw_list())
            }
        }
    }

    fn fps(&self) -> u32 {
        // Gymnasium's render_fps for the two.
        match self.game {
            Game::CartPole(_) => 50,
            Game::MountainCar(_) => 30,
        }
    }
}
