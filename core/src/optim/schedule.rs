//! Learning-rate schedules: pure functions of the step, so a resumed run needs no state.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// How the learning rate moves over training. `lr(step)` is the rate used for update number
/// `step` (counted from 0), as a multiple of the base rate is in PyTorch's schedulers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` steps (PyTorch's `StepLR`).
    Step {
        /// Steps between decays.
        every: u64,
        /// Factor applied at each decay.
        gamma: f64,
    },
    /// Linear warm-up from 0 over `warmup` steps, then cosine decay to `min_factor` times the
    /// base rate at `total` steps (constant afterwards).
    Cosine {
        /// Steps of linear warm-up.
        #[serde(default)]
        warmup: u64,
        /// Step at which the decay reaches its floor.
        total: u64,
        /// Final rate as a fraction of the base rate.
        #[serde(default)]
        min_factor: f64,
    },
}

impl Schedule {
    /// Checks the schedule's parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } if every > 0 && gamma > 0.0 && gamma.is_finite() => {
                Ok(())
            }
            Schedule::Step { every, gamma } => Err(Error::Config(format!(
                "step schedule needs every > 0 and gamma > 0, got every={every}, gamma={gamma}"
            ))),
            Schedule::Cosine { warmup, total, min_factor }
                if total > 0 && warmup <= total && (0.0..=1.0).contains(&min_factor) =>
            {
                Ok(())
            }
            Schedule::Cosine { warmup, total, min_factor } => Err(Error::Config(format!(
                "cosine schedule needs 0 < total, warmup <= total and min_factor in [0, 1], \
                 got total={total}, warmup={warmup}, min_factor={min_factor}"
            ))),
        }
    }

    /// The factor applied to the base rate at update `step` (0-based).
    pub fn factor(&self, step: u64) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Step { every, gamma } => gamma.powf((step / every.max(1)) as f64),
            Schedule::Cosine { warmup, total, min_factor } => {
                if step < warmup {
                    // Step 0 trains at 1/warmup of the rate rather than not at all.
                    (step + 1) as f64 / warmup as f64
                } else if step >= total {
                    min_factor
                } else {
                    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
                    min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (PI * progress).cos())
                }
            }
        }
    }

    /// The learning rate at update `step` for base rate `base`.
    pub fn lr(&self, base: f64, step: u64) -> f64 {
        base * self.factor(step)
    }
}
