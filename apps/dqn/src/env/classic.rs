//! Classic control from the pure-Rust `gymnasia` crate: CartPole-v1 and MountainCar-v0, with
//! Gymnasium's time limits (500 and 200 steps), which `gymnasia` leaves to the caller.

use super::{Environment, Obs, ObsSpace, Step};
use crate::render::rasterize;
use gymnasia::core::{Env, Flatten, Renderable};
use gymnasia::envs::classical_control::cartpole::CartPoleEnv;
use gymnasia::envs::classical_control::mountain_car::MountainCarEnv;
use image::RgbImage;

/// A `gymnasia` environment with a time limit and deterministic seeding: episode `k` starts
/// from seed `seed + k` (gymnasia reseeds from the operating system when given no seed).
pub struct Classic<E> {
    env: E,
    obs_len: usize,
    actions: Vec<String>,
    limit: u64,
    seed: u64,
    episodes: u64,
    steps: u64,
    /// Actions taken since the current episode began (its saved state).
    taken: Vec<usize>,
}

/// CartPole-v1: push the cart left or right to keep the pole up; +1 per step, at most 500.
pub fn cartpole(seed: u64) -> Classic<CartPoleEnv> {
    Classic::new(CartPoleEnv::new(), 4, &["left", "right"], 500, seed)
}

/// MountainCar-v0: rock the car up the hill; -1 per step until the flag, at most 200.
pub fn mountain_car(seed: u64) -> Classic<MountainCarEnv> {
    Classic::new(MountainCarEnv::new(), 2, &["left", "none", "right"], 200, seed)
}

impl<E> Classic<E> {
    fn new(env: E, obs_len: usize, actions: &[&str], limit: u64, seed: u64) -> Self {
        let actions = actions.iter().map(|a| a.to_string()).collect();
        Classic { env, obs_len, actions, limit, seed, episodes: 0, taken: Vec::new(), steps: 0 }
    }
}

fn to_f32(values: Vec<f64>) -> Obs {
    Obs::Vector(values.into_iter().map(|v| v as f32).collect())
}

impl<E> Environment for Classic<E>
where
    E: Env<Action = i64> + Renderable,
    E::Observation: Flatten,
{
    fn obs_space(&self) -> ObsSpace {
        ObsSpace::Vector(self.obs_len)
    }

    fn action_names(&self) -> Vec<String> {
        self.actions.clone()
    }

    fn reset(&mut self) -> Obs {
        let seed = self.seed.wrapping_add(self.episodes);
        self.episodes += 1;
        self.steps = 0;
        self.taken.clear();
        to_f32(self.env.reset(Some(seed), Default::default()).flatten())
    }

    fn step(&mut self, action: usize) -> Step {
        let r = self.env.step(action as i64);
        self.steps += 1;
        self.taken.push(action);
        Step {
            obs: to_f32(r.observation.flatten()),
            reward: r.reward,
            terminated: r.terminated,
            truncated: !r.terminated && (r.truncated || self.steps >= self.limit),
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
        rasterize(&self.env.draw_list())
    }

    fn fps(&self) -> u32 {
        self.env.render_fps()
    }
}
