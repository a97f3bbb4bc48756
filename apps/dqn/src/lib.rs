//! `dqn`: Deep Q-Networks (Mnih et al. 2015) on classic control and Atari.
//! See the crate's README for the algorithm, the commands and the measured results.
//!
//! - [`env`](mod@env): environments behind one trait (classic control from `gymnasia`, a test chain);
//! - [`replay`]: replay memories, including one that stores each Atari frame once;
//! - [`model`]: the Q-networks (an MLP, the Nature CNN);
//! - [`agent`]: the online and target networks, the TD target (DQN and Double DQN), the loss,
//!   one gradient step, epsilon-greedy exploration;
//! - [`config`]: every hyperparameter, with CleanRL's defaults;
//! - [`train`]: the training loop and its checkpoints;
//! - [`infer`]: a trained agent that plays (what `play`, the tests and other programs use);
//! - [`render`]: frames and animated GIFs of episodes;
//! - [`bench`](mod@bench): the fixed benchmarks.

pub mod agent;
pub mod bench;
pub mod config;
pub mod env;
pub mod infer;
pub mod model;
pub mod render;
pub mod replay;
pub mod train;

/// The app's name in checkpoints and run directories.
pub const APP: &str = "dqn";
