//! Atari 2600 games as DQN sees them: the DeepMind preprocessing (Mnih et al. 2015; the
//! `AtariPreprocessing` of Gymnasium and the wrappers of OpenAI Baselines), each step a small
//! documented function over an [`Emulator`], so each can be tested against hand-made frames.
//!
//! 1. No-op starts: after a reset, 1 to 30 (uniformly) NOOP actions, so episodes do not all start
//!    from the same frame.
//! 2. FIRE on reset, for games that wait for it (Breakout): FIRE, then the game's second action.
//! 3. Frame skip 4: each agent action is repeated on 4 emulator frames, the rewards summed, and
//!    the observation is the pixel-wise maximum of the last two frames (Atari sprites flicker:
//!    some are drawn only on every other frame).
//! 4. 84x84 grayscale: luminance (ITU-R 601), then area-averaged down from 210x160.
//! 5. Reward clipping to its sign, for learning only (`clip_reward`); scores stay real.
//! 6. Loss of a life ends the episode for learning (`Step::life_lost`), not for scoring: the game
//!    goes on until it is over.
//! 7. A time limit of 27,000 agent steps (108,000 frames, 30 minutes of play).
//!
//! The stack of the last 4 frames is built by the agent (`train::Stacker`, and the replay memory
//! rebuilds it from single frames).

use super::{Environment, Obs, ObsSpace, Step};
use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The raw console: what the Arcade Learning Environment offers.
pub trait Emulator {
    /// The game's minimal action set: ALE action ids with their names.
    fn actions(&mut self) -> Vec<(i32, String)>;
    /// Plays one frame with `action` (an ALE action id); returns the reward.
    fn act(&mut self, action: i32) -> i32;
    /// Whether the game is over.
    fn game_over(&mut self) -> bool;
    /// Lives left (0 for games without lives).
    fn lives(&mut self) -> i32;
    /// Starts a new game.
    fn reset(&mut self);
    /// `(height, width)` of the screen.
    fn screen_size(&mut self) -> (usize, usize);
    /// The screen as interleaved RGB, `height x width x 3`.
    fn screen_rgb(&mut self, out: &mut [u8]);
    /// The emulator's whole state as bytes (for checkpoints), if it can be saved.
    fn save_state(&mut self) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("this emulator's state cannot be saved")
    }
    /// Restores what [`Emulator::save_state`] returned.
    fn load_state(&mut self, _state: &[u8]) -> anyhow::Result<()> {
        anyhow::bail!("this emulator's state cannot be restored")
    }
}

/// What [`Atari`] saves besides the emulator: the no-op generator, the frames kept for
/// max-pooling, the lives and the step count of the episode.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    emulator: Vec<u8>,
    rng: ChaCha8Rng,
    frames: [Vec<u8>; 2],
    lives: i32,
    steps: u64,
}

/// ALE's action ids of the two actions the preprocessing presses itself.
pub const NOOP: i32 = 0;
/// FIRE.
pub const FIRE: i32 = 1;

/// Options of the preprocessing.
#[derive(Clone, Debug, PartialEq)]
pub struct AtariOptions {
    /// Most NOOP actions after a reset (at least 1 are taken when positive).
    pub noop_max: u32,
    /// Emulator frames per agent action.
    pub frame_skip: u32,
    /// Side of the square observation.
    pub size: usize,
    /// Agent steps before an episode is cut.
    pub max_steps: u64,
}

impl Default for AtariOptions {
    fn default() -> Self {
        AtariOptions { noop_max: 30, frame_skip: 4, size: 84, max_steps: 27_000 }
    }
}

/// The sign of a reward: -1, 0 or 1 (DQN learns from clipped rewards so one learning rate suits
/// every game).
pub fn clip_reward(r: f64) -> f32 {
    if r > 0.0 {
        1.0
    } else if r < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The pixel-wise maximum of two frames.
pub fn max_pool(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| *x.max(y)).collect()
}

/// Luminance of interleaved RGB pixels (ITU-R 601, as OpenCV's `cvtColor` and Gymnasium).
pub fn grayscale(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| {
            let y = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            y.round().min(255.0) as u8
        })
        .collect()
}

/// Resizes a `h x w` grayscale image to `out_h x out_w` by area averaging (each output pixel is
/// the mean of the input area it covers, partial pixels weighted by their overlap), as OpenCV's
/// `INTER_AREA`.
pub fn resize_area(src: &[u8], (h, w): (usize, usize), (out_h, out_w): (usize, usize)) -> Vec<u8> {
    // Overlap of output cell i with input pixel k along one axis, as (k, weight) lists.
    let weights = |n: usize, out: usize| -> Vec<Vec<(usize, f32)>> {
        let scale = n as f32 / out as f32;
        (0..out)
            .map(|i| {
                let (lo, hi) = (i as f32 * scale, (i + 1) as f32 * scale);
                (lo.floor() as usize..(hi.ceil() as usize).min(n))
                    .map(|k| {
                        let overlap = (hi.min(k as f32 + 1.0) - lo.max(k as f32)).max(0.0);
                        (k, overlap / scale)
                    })
                    .collect()
            })
            .collect()
    };
    let (wy, wx) = (weights(h, out_h), weights(w, out_w));
    let mut out = Vec::with_capacity(out_h * out_w);
    for ys in &wy {
        for xs in &wx {
            let mut sum = 0.0;
            for &(y, a) in ys {
                for &(x, b) in xs {
                    sum += a * b * f32::from(src[y * w + x]);
                }
            }
            out.push(sum.round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

/// An Atari game behind the DeepMind preprocessing.
pub struct Atari<E> {
    emu: E,
    options: AtariOptions,
    actions: Vec<(i32, String)>,
    rng: ChaCha8Rng,
    /// The last two raw RGB frames of a step, for max-pooling.
    frames: [Vec<u8>; 2],
    screen: (usize, usize),
    lives: i32,
    steps: u64,
    /// NOOP actions taken by the last reset (for tests).
    pub last_noops: u32,
}

impl<E: Emulator> Atari<E> {
    /// Wraps `emu`; `seed` drives the no-op starts.
    pub fn new(mut emu: E, options: AtariOptions, seed: u64) -> Self {
        let actions = emu.actions();
        let screen = emu.screen_size();
        let len = screen.0 * screen.1 * 3;
        Atari {
            emu,
            options,
            actions,
            rng: dl_core::device::rng(seed, "noop-starts"),
            frames: [vec![0; len], vec![0; len]],
            screen,
            lives: 0,
            steps: 0,
            last_noops: 0,
        }
    }

    /// The emulator.
    pub fn emulator(&mut self) -> &mut E {
        &mut self.emu
    }

    fn needs_fire(&self) -> bool {
        self.actions.len() >= 3 && self.actions.iter().any(|(id, _)| *id == FIRE)
    }

    /// The current observation: the max of the last two frames, grayscale, resized.
    fn observe(&self) -> Obs {
        let pooled = max_pool(&self.frames[0], &self.frames[1]);
        let size = self.options.size;
        Obs::Frame(resize_area(&grayscale(&pooled), self.screen, (size, size)))
    }

    /// Plays `action` for `frame_skip` frames; returns the summed reward. The last two frames
    /// are kept for max-pooling (if the game ends early, the final screen is the newest).
    fn repeat(&mut self, action: i32) -> i64 {
        let skip = self.options.frame_skip.max(1);
        let mut reward = 0i64;
        for k in 0..skip {
            reward += i64::from(self.emu.act(action));
            let over = self.emu.game_over();
            if k + 2 >= skip || over {
                self.frames.swap(0, 1);
                self.emu.screen_rgb(&mut self.frames[1]);
            }
            if over {
                break;
            }
        }
        if skip == 1 {
            self.frames[0] = self.frames[1].clone();
        }
        reward
    }
}

impl<E: Emulator> Environment for Atari<E> {
    fn obs_space(&self) -> ObsSpace {
        let s = self.options.size as i64;
        ObsSpace::Frame { height: s, width: s }
    }

    fn action_names(&self) -> Vec<String> {
        self.actions.iter().map(|(_, n)| n.clone()).collect()
    }

    fn reset(&mut self) -> Obs {
        loop {
            self.emu.reset();
            let noops = if self.options.noop_max > 0 {
                self.rng.random_range(1..=self.options.noop_max)
            } else {
                0
            };
            self.last_noops = noops;
            let mut over = false;
            for _ in 0..noops {
                self.emu.act(NOOP);
                if self.emu.game_over() {
                    over = true;
                    break;
                }
            }
            if !over && self.needs_fire() {
                for action in [FIRE, self.actions[2].0] {
                    self.emu.act(action);
                    over |= self.emu.game_over();
                }
            }
            if !over {
                break;
            }
        }
        self.emu.screen_rgb(&mut self.frames[1]);
        self.frames[0] = self.frames[1].clone();
        self.lives = self.emu.lives();
        self.steps = 0;
        self.observe()
    }

    fn step(&mut self, action: usize) -> Step {
        let reward = self.repeat(self.actions[action].0);
        self.steps += 1;
        let lives = self.emu.lives();
        let life_lost = lives < self.lives;
        self.lives = lives;
        let terminated = self.emu.game_over();
        Step {
            obs: self.observe(),
            reward: reward as f64,
            terminated,
            truncated: !terminated && self.steps >= self.options.max_steps,
            life_lost,
        }
    }

    fn save_state(&mut self) -> anyhow::Result<Vec<u8>> {
        let saved = Saved {
            emulator: self.emu.save_state()?,
            rng: self.rng.clone(),
            frames: self.frames.clone(),
            lives: self.lives,
            steps: self.steps,
        };
        Ok(serde_json::to_vec(&saved)?)
    }

    fn load_state(&mut self, state: &[u8]) -> anyhow::Result<()> {
        let saved: Saved = serde_json::from_slice(state)
            .map_err(|e| anyhow::anyhow!("not a saved Atari game: {e}"))?;
        anyhow::ensure!(
            saved.frames.iter().all(|f| f.len() == self.frames[0].len()),
            "the saved screens are not this game's size"
        );
        self.emu.load_state(&saved.emulator)?;
        (self.rng, self.frames, self.lives, self.steps) =
            (saved.rng, saved.frames, saved.lives, saved.steps);
        Ok(())
    }

    fn render(&self) -> RgbImage {
        let (h, w) = self.screen;
        RgbImage::from_raw(w as u32, h as u32, self.frames[1].clone())
            .expect("the screen buffer has height x width x 3 bytes")
    }

    fn fps(&self) -> u32 {
        60 / self.options.frame_skip.max(1)
    }
}
