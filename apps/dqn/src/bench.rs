//! The fixed benchmarks (DESIGN.md), matched by `tools/bench/dqn.py` on the PyTorch side.
//!
//! 1. CleanRL's CartPole setup, the whole loop (environment, acting, replay, training): MLP
//!    4 -> 120 -> 84 -> 2, MSE loss, Adam 2.5e-4, buffer 10k, batch 128, gamma 0.99, target copy every
//!    500 steps, train every 10 steps, learning starts 10k, epsilon 1 -> 0.05 over 250k steps;
//!    30k steps timed after the 10k of warm-up.
//! 2. Nature CNN updates on random u8 batches of 32 stacks of 4 84x84 frames: target forward,
//!    online forward and backward, Huber loss, Adam 1e-4.

use crate::agent::{update, Networks};
use crate::agent::{Epsilon, Loss};
use crate::env::{self, Backend};
use crate::infer::{act, Stacker};
use crate::model::QNetSpec;
use crate::replay::Batch;
use crate::replay::Memory;
use dl_core::device::rng;
use dl_core::optim::{Optimizer, OptimizerConfig};
use dl_core::precision::Precision;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Environment steps per second of the CartPole loop over `timed` steps after 10k of warm-up.
pub fn cartpole_steps_per_s(
    device: Device,
    timed: u64,
    precision: Precision,
) -> anyhow::Result<f64> {
    tch::manual_seed(0);
    let mut env = env::make("cartpole", Backend::Gymnasia, 0)?;
    let spec = QNetSpec::Mlp { inputs: 4, hidden: vec![120, 84], actions: 2 };
    let mut nets = Networks::new(&spec, device);
    let mut opt = Optimizer::new(OptimizerConfig::adam(2.5e-4), &nets.vs)?;
    let mut memory = Memory::new(env.obs_space(), 10_000);
    let epsilon = Epsilon { start: 1.0, end: 0.05, duration: 250_000 };
    let (mut explore, mut replay) = (rng(0, "explore"), rng(0, "replay"));
    let stacker = Stacker::new(4, env.obs_space());
    let mut obs = env.reset();
    let warmup = 10_000;
    let mut start = Instant::now();
    for step in 1..=warmup + timed {
        if step == warmup + 1 {
            start = Instant::now();
        }
        let a = act(&nets.online, &stacker.input(&obs, device), 2, epsilon.at(step), &mut explore);
        let s = env.step(a);
        memory.push(&obs, a, s.reward as f32, s.terminated, &s.obs);
        obs = if s.terminated || s.truncated { env.reset() } else { s.obs };
        if step > warmup && step % 10 == 0 {
            let batch = memory.sample(128, &mut replay, device);
            update(&nets, &mut opt, &batch, 0.99, false, Loss::Mse, precision)?;
        }
        if step % 500 == 0 {
            nets.update_target(1.0);
        }
    }
    Ok(timed as f64 / start.elapsed().as_secs_f64())
}

/// Floating-point operations of one Nature-CNN update on a batch of 32 (2 per multiply-add):
/// the online network forward and backward (3 forward passes' worth) and the target network
/// forward. Per frame stack: conv 8x8/4 to 20x20x32, conv 4x4/2 to 9x9x64, conv 3x3 to 7x7x64,
/// linear 3136 -> 512 -> 6.
pub const UPDATE_FLOPS: f64 = 2.0
    * (20.0 * 20.0 * 32.0 * 4.0 * 64.0
        + 9.0 * 9.0 * 64.0 * 32.0 * 16.0
        + 7.0 * 7.0 * 64.0 * 64.0 * 9.0
        + 3136.0 * 512.0
        + 512.0 * 6.0)
    * 32.0
    * 4.0;

/// Nature CNN updates per second over `timed` updates after 5 of warm-up.
pub fn atari_updates_per_s(
    device: Device,
    timed: u64,
    precision: Precision,
) -> anyhow::Result<f64> {
    tch::manual_seed(0);
    let spec = QNetSpec::NatureCnn { frames: 4, actions: 6 };
    let nets = Networks::new(&spec, device);
    let mut opt = Optimizer::new(OptimizerConfig::adam(1e-4), &nets.vs)?;
    let frames = |_: ()| Tensor::randint(256, [32, 4, 84, 84], (Kind::Uint8, device));
    let batch = Batch {
        obs: frames(()),
        actions: Tensor::randint(6, [32], (Kind::Int64, device)),
        rewards: Tensor::randint(2, [32], (Kind::Float, device)),
        next_obs: frames(()),
        terminated: Tensor::zeros([32], (Kind::Float, device)),
    };
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    for _ in 0..5 {
        update(&nets, &mut opt, &batch, 0.99, false, Loss::Huber, precision)?;
    }
    sync();
    let start = Instant::now();
    for _ in 0..timed {
        update(&nets, &mut opt, &batch, 0.99, false, Loss::Huber, precision)?;
    }
    sync();
    Ok(timed as f64 / start.elapsed().as_secs_f64())
}

/// Raw emulator frames per second: Pong with random actions from its minimal set, one frame
/// per call, resetting at game over; no preprocessing.
#[cfg(feature = "atari")]
pub fn pong_frames_per_s(frames: u64) -> anyhow::Result<f64> {
    use crate::env::atari::Emulator;
    use rand::Rng;
    let mut console = crate::env::ale::AleConsole::new("pong", 0)?;
    let actions: Vec<i32> = console.actions().into_iter().map(|(id, _)| id).collect();
    let mut rng = rng(0, "bench");
    let start = Instant::now();
    for _ in 0..frames {
        console.act(actions[rng.random_range(0..actions.len())]);
        if console.game_over() {
            console.reset();
        }
    }
    Ok(frames as f64 / start.elapsed().as_secs_f64())
}
