//! The dqn app: the TD target, the replay memories, learning on a chain and on CartPole.

use dl_core::device::rng_guard;
use dqn::agent::{self, Epsilon};
use dqn::env::{self, chain::Chain, Backend, Obs, ObsSpace};
use dqn::infer::Agent;
use dqn::infer::Stacker;
use dqn::replay::{FrameReplay, VectorReplay};
use dqn::train::{self, RunOptions, TrainConfig};
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
        let mut stacker = Stacker::new(4, ObsSpace::Frame { height: 2, width: 2 });
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
        stop: Default::default(),
        precision: Default::default(),
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
    let agent = Agent::load(&dir.path().join("run/checkpoints/last.safetensors"), Device::Cpu);
    let nets = agent.unwrap().nets;
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
fn a_stopped_run_resumes_to_the_same_networks_environment_and_memory() {
    if integration_tests::alone!(a_stopped_run_resumes_to_the_same_networks_environment_and_memory)
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for env_name in ["cartpole", "chain"] {
        let mut config = quick_config(env_name, 1500);
        config.eval_every = 500;
        config.eval_episodes = 2;
        let straight = dir.path().join(format!("straight-{env_name}"));
        train::train(config.clone(), &options(&straight)).unwrap();
        // Stopped after its first step: mid-episode, before learning starts; then resumed.
        let cut = dir.path().join(format!("cut-{env_name}"));
        let budget = RunOptions { max_minutes: Some(1e-9), ..options(&cut) };
        let stopped = train::train(config.clone(), &budget).unwrap();
        assert_eq!((stopped.steps, stopped.stopped_early), (1, true));
        let resumed = RunOptions { resume: Some(cut.clone()), out: None, ..options(&cut) };
        assert_eq!(train::train(config, &resumed).unwrap().steps, 1500);
        integration_tests::assert_same_checkpoints(&straight, &cut);
        let returns = |run: &std::path::Path| -> Vec<(u64, f64)> {
            let records = harness::metrics::read(&run.join("metrics.jsonl")).unwrap();
            let pick = |r: &harness::metrics::Record| {
                r.values.get("episodic_return").map(|v| (r.step, *v))
            };
            records.iter().filter_map(pick).collect()
        };
        assert_eq!(returns(&straight), returns(&cut), "{env_name}: the same episodes");
    }
}

#[test]
fn a_short_cartpole_run_beats_a_random_policy_and_resumes() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut config = quick_config("cartpole", 6000);
    config.hidden = vec![64, 64];
    let options = RunOptions { max_minutes: None, ..options(&run) };
    // Stop at 4000 steps by training a shorter run, then resume it to 6000.
    let mut first = config.clone();
    first.total_steps = 4000;
    train::train(first, &options).unwrap();
    let config_path = run.join("config.toml");
    let text = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("total_steps = 4000", "total_steps = 6000");
    std::fs::write(&config_path, text).unwrap();
    let resumed = RunOptions { resume: Some(run.clone()), out: None, ..options };
    let summary = train::train(config, &resumed).unwrap();
    assert_eq!(summary.steps, 6000);
    let records = harness::metrics::read(&run.join("metrics.jsonl")).unwrap();
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

#[test]
fn backend_choice_is_checked() {
    let err = env::make("chain", Backend::GymRs, 0).err().expect("chain has one implementation");
    assert!(err.to_string().contains("cartpole and mountaincar only"), "{err}");
    let made = env::make("cartpole", Backend::GymRs, 0);
    if cfg!(feature = "gym-rs") {
        assert!(made.is_ok());
    } else {
        let err = made.err().expect("a build without the gym-rs feature refuses it");
        assert!(err.to_string().contains("--features gym-rs"), "{err}");
    }
}

/// The optional gym-rs backend (`cargo test -p integration-tests --features gym-rs`).
#[cfg(feature = "gym-rs")]
mod gym_rs_backend {
    use dqn::env::{self, Backend, ObsSpace};

    #[test]
    fn cartpole_starts_like_gymnasium_and_is_seeded() {
        let mut env = env::make("cartpole", Backend::GymRs, 5).unwrap();
        assert_eq!(env.obs_space(), ObsSpace::Vector(4));
        assert_eq!(env.action_names(), ["left", "right"]);
        // gym-rs alone starts from ±0.5; the backend passes CartPole-v1's ±0.05 bounds. Over 200
        // episodes the largest start coordinate comes close to the bound and never past it.
        let mut largest = 0.0f32;
        let mut firsts = Vec::new();
        for _ in 0..200 {
            let obs = env.reset();
            largest = obs.vector().iter().fold(largest, |m, v| m.max(v.abs()));
            firsts.push(obs);
        }
        assert!((0.045..=0.05).contains(&largest), "largest start coordinate {largest}");
        // Episode k starts from seed + k: a second environment replays the same starts, and
        // different episodes start differently.
        let mut again = env::make("cartpole", Backend::GymRs, 5).unwrap();
        assert_eq!(again.reset(), firsts[0]);
        assert_eq!(again.reset(), firsts[1]);
        assert_ne!(firsts[0], firsts[1]);

        // Pushing one way topples the pole: terminated, +1 per step, within a few dozen steps.
        env.reset();
        let mut steps = 0;
        loop {
            let s = env.step(0);
            steps += 1;
            assert_eq!(s.reward, 1.0);
            if s.terminated || s.truncated {
                assert!(s.terminated && !s.truncated);
                break;
            }
        }
        assert!((3..60).contains(&steps), "{steps} steps");
        // Drawn with gymnasia's renderer: the 600x400 scene, not blank.
        let img = env.render();
        assert_eq!(img.dimensions(), (600, 400));
        assert!(img.pixels().any(|p| p.0 != [255, 255, 255]));
    }

    #[test]
    fn mountain_car_is_cut_at_200_steps() {
        let mut env = env::make("mountaincar", Backend::GymRs, 1).unwrap();
        assert_eq!(env.obs_space(), ObsSpace::Vector(2));
        let obs = env.reset();
        let (position, velocity) = (obs.vector()[0], obs.vector()[1]);
        assert!((-0.6..=-0.4).contains(&position) && velocity == 0.0, "{obs:?}");
        // Doing nothing never reaches the flag: -1 per step, truncated (not terminated) at 200.
        for step in 1..=200 {
            let s = env.step(1);
            assert_eq!(s.reward, -1.0);
            assert!(!s.terminated);
            assert_eq!(s.truncated, step == 200, "step {step}");
        }
    }
}

mod atari_wrappers {
    use dqn::env::atari::{self, Atari, AtariOptions, Emulator, FIRE, NOOP};
    use dqn::env::{Environment, Obs, ObsSpace};
    use dqn::infer::Stacker;
    use tch::Device;

    /// A scripted console with a 4x4 screen: every pixel shows the frame number times 10, and a
    /// "sprite" at the top-left pixel is drawn (255) on odd frames only, as Atari sprites
    /// flicker. Each frame pays 1; lives are lost at the listed frames; the game ends at
    /// `over_at`.
    struct Fake {
        frame: u32,
        lives: i32,
        loses_life_at: Vec<u32>,
        over_at: u32,
        actions: Vec<(i32, String)>,
        log: Vec<i32>,
    }

    impl Fake {
        fn new(with_fire: bool) -> Fake {
            let mut actions = vec![(NOOP, "NOOP".to_string())];
            if with_fire {
                actions.push((FIRE, "FIRE".into()));
            }
            actions.extend([(3, "RIGHT".to_string()), (4, "LEFT".to_string())]);
            Fake {
                frame: 0,
                lives: 3,
                loses_life_at: vec![],
                over_at: u32::MAX,
                actions,
                log: vec![],
            }
        }
    }

    impl Emulator for Fake {
        fn actions(&mut self) -> Vec<(i32, String)> {
            self.actions.clone()
        }
        fn act(&mut self, action: i32) -> i32 {
            self.log.push(action);
            self.frame += 1;
            if self.loses_life_at.contains(&self.frame) {
                self.lives -= 1;
            }
            1
        }
        fn game_over(&mut self) -> bool {
            self.frame >= self.over_at
        }
        fn lives(&mut self) -> i32 {
            self.lives
        }
        fn reset(&mut self) {
            self.frame = 0;
            self.lives = 3;
            self.log.clear();
        }
        fn screen_size(&mut self) -> (usize, usize) {
            (4, 4)
        }
        fn screen_rgb(&mut self, out: &mut [u8]) {
            let v = (self.frame * 10).min(250) as u8;
            out.fill(v);
            if self.frame % 2 == 1 {
                out[..3].fill(255);
            }
        }
    }

    fn options(noop_max: u32) -> AtariOptions {
        AtariOptions { noop_max, frame_skip: 4, size: 4, max_steps: 1000 }
    }

    #[test]
    fn pooling_grayscale_and_area_resizing_have_their_textbook_values() {
        assert_eq!(atari::max_pool(&[1, 5, 3], &[4, 2, 3]), [4, 5, 3]);
        let rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        assert_eq!(atari::grayscale(&rgb), [76, 150, 29, 255]);
        assert_eq!(atari::resize_area(&[7; 16], (4, 4), (2, 2)), [7; 4]);
        assert_eq!(atari::resize_area(&[0, 0, 200, 200, 0, 0, 200, 200], (2, 4), (1, 2)), [0, 200]);
        // 3 -> 2 pixels: each output covers one and a half inputs.
        assert_eq!(atari::resize_area(&[0, 90, 180], (1, 3), (1, 2)), [30, 150]);
        assert_eq!(
            [atari::clip_reward(-3.0), atari::clip_reward(0.0), atari::clip_reward(7.0)],
            [-1.0, 0.0, 1.0]
        );
    }

    #[test]
    fn frame_skip_sums_rewards_and_pools_the_last_two_frames() {
        let mut env = Atari::new(Fake::new(false), options(0), 0);
        env.reset();
        let step = env.step(1); // RIGHT, four frames: 1, 2, 3, 4
        assert_eq!(step.reward, 4.0);
        assert_eq!(env.emulator().log, [3, 3, 3, 3]);
        let Obs::Frame(f) = step.obs else { panic!("a frame") };
        // max(frame 3, frame 4): background 40, and the sprite drawn on frame 3 only.
        assert_eq!(f[0], 255, "the flickering sprite survives the pooling");
        assert_eq!(f[15], 40);
    }

    #[test]
    fn losing_a_life_ends_the_episode_for_learning_not_for_scoring() {
        let mut fake = Fake::new(false);
        fake.loses_life_at = vec![6];
        fake.over_at = 11;
        let mut env = Atari::new(fake, options(0), 0);
        env.reset();
        let first = env.step(0); // frames 1-4
        assert!(!first.life_lost && !first.terminated);
        let second = env.step(0); // frames 5-8: the life lost at frame 6
        assert!(second.life_lost && !second.terminated);
        let third = env.step(0); // frames 9-11: game over mid-skip
        assert!(third.terminated && !third.life_lost);
        assert_eq!(third.reward, 3.0, "the rewards up to the end, not beyond");
    }

    #[test]
    fn no_op_starts_take_one_to_thirty_noops_and_fire_starts_press_fire() {
        let mut env = Atari::new(Fake::new(false), options(30), 7);
        let mut counts = Vec::new();
        for _ in 0..300 {
            env.reset();
            let noops = env.last_noops;
            counts.push(noops);
            assert_eq!(env.emulator().log, vec![NOOP; noops as usize]);
        }
        assert_eq!((*counts.iter().min().unwrap(), *counts.iter().max().unwrap()), (1, 30));
        let mut fire = Atari::new(Fake::new(true), options(3), 7);
        fire.reset();
        let log = &fire.emulator().log;
        assert_eq!(log[log.len() - 2..], [FIRE, 3], "FIRE, then the game's second action");
        assert_eq!(fire.action_names(), ["NOOP", "FIRE", "RIGHT", "LEFT"]);
    }

    #[test]
    fn a_stack_puts_the_newest_frame_last() {
        let frame = |v: u8| Obs::Frame(vec![v; 4]);
        let mut stacker = Stacker::new(4, ObsSpace::Frame { height: 2, width: 2 });
        stacker.reset(&frame(1));
        stacker.push(&frame(2));
        stacker.push(&frame(3));
        let t = stacker.input(&frame(3), Device::Cpu);
        assert_eq!(t.size(), [1, 4, 2, 2]);
        let v = Vec::<u8>::try_from(t.flatten(0, -1)).unwrap();
        let firsts: Vec<u8> = v.chunks(4).map(|c| c[0]).collect();
        assert_eq!(firsts, [1, 1, 2, 3]);
    }
}

mod ale_games {
    use dqn::env::ale::{self, AleConsole};
    use dqn::env::atari::Emulator;
    use dqn::env::{self, Backend, ObsSpace};

    #[test]
    fn pong_resets_steps_shows_its_screen_scores_and_ends() {
        let mut console = AleConsole::new("pong", 0).unwrap();
        assert_eq!(console.screen_size(), (210, 160));
        let names: Vec<String> = console.actions().into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]);
        let mut screen = vec![0u8; 210 * 160 * 3];
        console.screen_rgb(&mut screen);
        assert!(screen.iter().any(|&p| p != screen[0]), "the screen shows something");

        let mut env = env::make("pong", Backend::Gymnasia, 0).unwrap();
        assert_eq!(env.obs_space(), ObsSpace::Frame { height: 84, width: 84 });
        let obs = env.reset();
        assert_eq!(obs.frame().len(), 84 * 84);
        let mut rng = dl_core::device::rng(0, "pong");
        let (mut score, mut steps, mut nonzero) = (0.0, 0, 0);
        loop {
            let s = env.step(rand::Rng::random_range(&mut rng, 0..6));
            score += s.reward;
            nonzero += usize::from(s.reward != 0.0);
            steps += 1;
            if s.terminated || s.truncated {
                assert!(s.terminated, "a random Pong game ends by losing, not by the time limit");
                break;
            }
        }
        // A random player loses 21 points to the computer, winning few if any.
        assert!(nonzero >= 21 && score <= -15.0, "score {score} after {steps} steps");
        assert_eq!(env.render().dimensions(), (160, 210));
    }

    #[test]
    fn a_saved_game_goes_on_exactly_in_another_emulator() {
        let mut rng = dl_core::device::rng(3, "breakout");
        let mut actions = (0..400).map(|_| rand::Rng::random_range(&mut rng, 0..4));
        let mut env = env::make("breakout", Backend::Gymnasia, 5).unwrap();
        env.reset();
        for a in actions.by_ref().take(150) {
            if env.step(a).terminated {
                env.reset();
            }
        }
        let saved = env.save_state().unwrap();
        // The same game made afresh (another seed: its own no-op starts) and given the state.
        let mut other = env::make("breakout", Backend::Gymnasia, 77).unwrap();
        other.load_state(&saved).unwrap();
        for a in actions {
            let (s, t) = (env.step(a), other.step(a));
            assert_eq!(s, t, "the restored game went another way");
            if s.terminated {
                assert_eq!(env.reset(), other.reset(), "the next episode starts elsewhere");
            }
        }
        assert!(other.load_state(b"not a game").is_err());
    }

    #[test]
    fn games_are_found_by_name_and_unknown_ones_refused() {
        assert!(
            ale::is_game("breakout") && ale::is_game("space-invaders") && ale::is_game("ms_pacman")
        );
        assert_eq!(ale::games().len(), 62);
        let err = env::make("pongg", Backend::Gymnasia, 0).err().unwrap().to_string();
        assert!(err.contains("unknown environment") && err.contains("pong"), "{err}");
    }
}
