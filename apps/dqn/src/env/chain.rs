//! A tiny deterministic chain for tests: states `0..n`, start at 1, actions left and right.
//! The left end pays 0.1 and the right end 1.0, both terminal; every other step pays 0. With a
//! discount above `0.1^(1/(n-2))` the optimal policy walks right from everywhere, past the
//! nearby small reward: the agent has to propagate value back through the chain.

use super::{Environment, Obs, ObsSpace, Step};
use image::{Rgb, RgbImage};

/// The chain environment.
#[derive(Clone, Debug)]
pub struct Chain {
    n: usize,
    state: usize,
    steps: usize,
    limit: usize,
}

impl Chain {
    /// A chain of `n >= 3` states, with a time limit of `4 n` steps.
    pub fn new(n: usize) -> Chain {
        assert!(n >= 3, "a chain needs at least 3 states");
        Chain { n, state: 1, steps: 0, limit: 4 * n }
    }

    /// The one-hot observation of state `s`.
    pub fn one_hot(&self, s: usize) -> Obs {
        let mut v = vec![0.0; self.n];
        v[s] = 1.0;
        Obs::Vector(v)
    }

    /// The non-terminal states.
    pub fn inner_states(&self) -> std::ops::Range<usize> {
        1..self.n - 1
    }
}

impl Environment for Chain {
    fn obs_space(&self) -> ObsSpace {
        ObsSpace::Vector(self.n)
    }

    fn action_names(&self) -> Vec<String> {
        vec!["left".into(), "right".into()]
    }

    fn reset(&mut self) -> Obs {
        self.state = 1;
        self.steps = 0;
        self.one_hot(1)
    }

    fn step(&mut self, action: usize) -> Step {
        self.state = if action == 0 { self.state - 1 } else { self.state + 1 };
        self.steps += 1;
        let (reward, terminated) = match self.state {
            0 => (0.1, true),
            s if s == self.n - 1 => (1.0, true),
            _ => (0.0, false),
        };
        Step {
            obs: self.one_hot(self.state),
            reward,
            terminated,
            truncated: !terminated && self.steps >= self.limit,
            life_lost: false,
        }
    }

    fn save_state(&mut self) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(&(self.state, self.steps))?)
    }

    fn load_state(&mut self, state: &[u8]) -> anyhow::Result<()> {
        (self.state, self.steps) = serde_json::from_slice(state)?;
        Ok(())
    }

    fn render(&self) -> RgbImage {
        let mut img = RgbImage::from_pixel(16 * self.n as u32, 16, Rgb([255, 255, 255]));
        for y in 4..12 {
            for x in 4..12 {
                img.put_pixel(16 * self.state as u32 + x, y, Rgb([200, 30, 30]));
            }
        }
        img
    }
}
