//! The dqn app: the TD target, the replay memories, learning on a chain and on CartPole.

use dl_core::device::rng_guard;
use dqn::agent::{self, Epsilon};
use dqn::env::{self, chain::Chain, Backend, Obs};
use dqn::replay::{FrameReplay, VectorReplay};
use dqn::train::{self, RunOptions, Stacker, TrainConfig};
use integration_tests::scalar;
use tch::{Device, Tensor};

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t).unwrap()
}

#[test]
fn the_td_target_bootstraps_from_the_target_network_except_at_terminal_states() {
    let rewards = Tensor::from_slice(&[1.0f32, 0.5, 2.0]);
    let terminated = Tensor::from_slice(&[0.0f32, 1.0, 0.0]);
    let next_target = Tensor::from_slice(&[1.0f32, 5.0, 3.0, 2.0, 4.0, 0.0]).view([3, 2]);
    let next_online = Tensor::from_slice(&[2.0f32, 1.0, 0.0, 1.0, 1.0, 3.0]).view([3, 2]);
    // DQN: r + 0.9 max_a' Q_target(s', a'); nothing after a terminal state.
    let dqn = agent::td_target(&rewards, &terminated, &next_target, None, 0.9);
    assert_eq!(values(&dqn), [1.0 + 0.9 * 5.0, 0.5, 2.0 + 0.9 * 4.0]);
    // Double DQN: the online network picks (actions 0, 1, 1), the target network scores.
    let double = agent::td_target(&rewards, &terminated, &next_target, Some(&next_online), 0.9);
    assert_eq!(values(&double), [1.0 + 0.9 * 1.0, 0.5, 2.0 + 0.9 * 0.0]);
    assert!(!double.requires_grad());
}

#[test]
fn epsilon_decays_linearly_then_stays() {
    let e = Epsilon { start: 1.0, end: 0.05, duration: 100 };
    assert_eq!(e.at(0), 1.0);
    assert!((e.at(50) - 0.525).abs() < 1e-12);
    assert_eq!(e.at(100), 0.05);
    assert_eq!(e.at(10_000), 0.05);
}

/// A 2x2 frame that records which episode and which step it came from.
fn frame(episode: u8, t: u8) -> Vec<u8> {
    vec![episode, t, episode, t]
}

/// `(episode, step)` of each frame of a `[4, 2, 2]` stack.
fn ids(stack: &[u8]) -> Vec<(u8, u8)> {
    stack.chunks(4).map(|f| (f[0], f[1])).collect()
}

#[test]
fn frame_stacks_rebuilt_from_single_frames_equal_the_stacks_an_agent_sees() {
    let _rng = rng_guard();
    // A capacity small enough to wrap around several times over these episodes.
    let mut memory = FrameReplay::new(23, 4, 2, 2);
    let mut expected = std::collections::HashMap::new();
    for (episode, length) in [5u8, 1, 9, 3, 12, 2, 7].into_iter().enumerate() {
        let episode = episode as u8;
        let mut stacker = Stacker::new(4);
        let first = Obs::Frame(frame(episode, 0));
        stacker.reset(&first);
        memory.start_episode(first.frame());
        for t in 0..length {
            let obs_stack = stacker_frames(&stacker, &first);
            let next = Obs::Frame(frame(episode, t + 1));
            stacker.push(&next);
            let next_stack = stacker_frames(&stacker, &next);
            let terminated = t + 1 == length;
            memory.push(i64::from(t), f32::from(t), terminated, next.frame());
            assert_eq!(memory.latest_stack(), next_stack);
            expected.insert((episode, t), (obs_stack, next_stack, terminated));
        }
    }
    let mut rng = dl_core::device::rng(0, "test");
    let batch = memory.sample(500, &mut rng, Device::Cpu);
    let obs = Vec::<u8>::try_from(batch.obs.flatten(0, -1)).unwrap();
    let next = Vec::<u8>::try_from(batch.next_obs.flatten(0, -1)).unwrap();
    let terminated = values(&batch.terminated);
    let mut seen = std::collections::HashSet::new();
    for i in 0..500 {
        let (o, n) = (&obs[i * 16..(i + 1) * 16], &next[i * 16..(i + 1) * 16]);
        let newest = ids(o)[3];
        let (want_obs, want_next, want_terminal) = &expected[&newest];
        assert_eq!(ids(o), ids(want_obs), "observation stack of {newest:?}");
        assert_eq!(ids(n), ids(want_next), "next stack of {newest:?}");
        assert_eq!(terminated[i] == 1.0, *want_terminal);
        // One episode per stack: nothing leaks across a reset.
        assert!(ids(o).iter().chain(&ids(n)).all(|(e, _)| *e == newest.0));
        seen.insert(newest);
    }
    // Only transitions still in memory are drawn: the 22 newest frames hold the last episodes.
    assert!(seen.iter().all(|(e, _)| *e >= 4), "{seen:?}");
    assert!(seen.len() > 10);
}

fn stacker_frames(stacker: &Stacker, newest: &Obs) -> Vec<u8> {
    let t = stacker.input(newest, Device::Cpu);
    Vec::<u8>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn a_vector_memory_returns_what_was_stored() {
    let _rng = rng_guard();
    let mut memory = VectorReplay::new(4, 2);
    for i in 0..6 {
        let x = i as f32;
        memory.push(&[x, -x], i, 10.0 * x, i % 2 == 1, &[x + 1.0, -x - 1.0]);
    }
    assert_eq!(memory.len(), 4);
    let batch = memory.sample(64, &mut dl_core::device::rng(1, "test"), Device::Cpu);
    let obs = values(&batch.obs.flatten(0, -1));
    let next = values(&batch.next_obs.flatten(0, -1));
    let actions = Vec::<i64>::try_from(&batch.actions).unwrap();
    let rewards = values(&batch.rewards);
    for k in 0..64 {
        let x = obs[2 * k];
        assert!(x >= 2.0, "transitions 0 and 1 were overwritten: {x}");
        assert_eq!(obs[2 * k + 1], -x);
        assert_eq!(next[2 * k], x + 1.0);
        assert_eq!(actions[k] as f32, x);
        assert_eq!(rewards[k], 10.0 * x);
    }
}

fn quick_config(env: &str, steps: u64) -> TrainConfig {
    let mut c = TrainConfig::classic(env);
    c.total_steps = steps;
    c.learning_starts = 500;
    c.train_every = 1;
    c.batch_size = 32;
    c.target_every = 100;
    c.lr = 1e-3;
    c.exploration_fraction = 0.5;
    c.hidden = vec![32];
    c.eval_every = 0;
    c.final_eval_episodes = 5;
    c.checkpoint_every = 1000;
    c
}

fn options(dir: &std::path::Path) -> RunOptions {
    RunOptions {
        device: Device::Cpu,
        out: Some(dir.to_path_buf()),
        resume: None,
        max_minutes: None,
        quiet: true,
    }
}

#[test]
fn on_a_chain_the_agent_learns_to_walk_past_the_small_reward() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick_config("chain", 3000);
    config.gamma = 0.9;
    let summary = train::train(config, &options(&dir.path().join("run"))).unwrap();
    // Optimal: walk right from state 1 to state 5, return 1.0 (the left end pays 0.1).
    assert!(summary.final_eval.returns.iter().all(|&r| r == 1.0), "{:?}", summary.final_eval);
    let (_, _, nets) =
        train::load(&dir.path().join("run/checkpoints/last.safetensors"), Device::Cpu).unwrap();
    let chain = Chain::new(6);
    for s in chain.inner_states() {
        let q = nets.online.forward(&Tensor::from_slice(chain.one_hot(s).vector()).unsqueeze(0));
        let (left, right) = (scalar(&q.get(0).get(0)), scalar(&q.get(0).get(1)));
        assert!(right > left, "state {s}: Q(left) {left} >= Q(right) {right}");
        // Q(s, right) approaches the discounted reward 0.9^(4 - s) from the right end.
        let optimal = 0.9f64.powi(4 - s as i32);
        assert!((right - optimal).abs() < 0.15, "state {s}: Q(right) {right}, optimal {optimal}");
    }
}

#[test]
fn a_short_cartpole_run_beats_a_random_policy_and_resumes() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut config = quick_config("cartpole", 6000);
    config.hidden = vec![64, 64];
    config.save_buffer = true;
    let options = RunOptions { max_minutes: None, ..options(&run) };
    // Stop at 4000 steps by training a shorter run, then resume it to 6000.
    let mut first = config.clone();
    first.total_steps = 4000;
    train::train(first, &options).unwrap();
    assert!(run.join("checkpoints/buffer.safetensors").exists());
    let config_path = run.join("config.toml");
    let text = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("total_steps = 4000", "total_steps = 6000");
    std::fs::write(&config_path, text).unwrap();
    let resumed = RunOptions { resume: Some(run.clone()), out: None, ..options };
    let summary = train::train(config, &resumed).unwrap();
    assert_eq!(summary.steps, 6000);
    let records = dl_core::metrics::read(&run.join("metrics.jsonl")).unwrap();
    assert!(records.iter().any(|r| r.step > 4000), "the resumed run kept logging");

    // A random policy balances CartPole for about 22 steps.
    let mut env = env::make("cartpole", Backend::Gymnasia, 99).unwrap();
    let mut rng = dl_core::device::rng(99, "random");
    let mut random_returns = Vec::new();
    for _ in 0..20 {
        env.reset();
        let mut total = 0.0;
        loop {
            let s = env.step(rand::Rng::random_range(&mut rng, 0..2));
            total += s.reward;
            if s.terminated || s.truncated {
                break;
            }
        }
        random_returns.push(total);
    }
    let random = random_returns.iter().sum::<f64>() / 20.0;
    assert!(random < 40.0, "random policy {random}");
    let trained = summary.final_eval.mean();
    assert!(trained > 2.0 * random, "trained {trained} vs random {random}");
}

#[test]
fn cartpole_follows_gymnasium() {
    let mut env = env::make("cartpole", Backend::Gymnasia, 3).unwrap();
    let obs = env.reset();
    // Starts within ±0.05 on every coordinate, like Gymnasium's CartPole-v1.
    assert!(obs.vector().iter().all(|v| v.abs() <= 0.05), "{obs:?}");
    assert_eq!(env.action_names(), ["left", "right"]);
    // Pushing one way only topples the pole (terminated, not truncated) within a few dozen steps.
    let mut steps = 0;
    loop {
        let s = env.step(1);
        steps += 1;
        assert_eq!(s.reward, 1.0);
        if s.terminated || s.truncated {
            assert!(s.terminated && !s.truncated);
            break;
        }
    }
    assert!((5..60).contains(&steps), "{steps} steps");
    // Frames for GIFs: the 600x400 scene, not blank.
    let img = env.render();
    assert_eq!(img.dimensions(), (600, 400));
    assert!(img.pixels().any(|p| p.0 != [255, 255, 255]));
}
