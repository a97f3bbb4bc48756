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

/// A schedule over a run's steps as its configuration names it (`[schedule] name = "cosine"`
/// with `warmup_steps`, or `name = "constant"`), for apps that count their run in steps;
/// [`StepSchedule::over`] fixes it to a run of known length.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum StepSchedule {
    /// Linear warm-up for `warmup_steps`, then cosine decay to zero at the last step.
    Cosine {
        /// Steps of warm-up.
        #[serde(default)]
        warmup_steps: u64,
    },
    /// The base rate throughout.
    Constant,
}

impl StepSchedule {
    /// The [`Schedule`] of a run of `total_steps` updates; more warm-up than that is an error.
    pub fn over(self, total_steps: u64) -> Result<Schedule> {
        let schedule = match self {
            StepSchedule::Cosine { warmup_steps } if warmup_steps > total_steps => {
                return Err(Error::Config(format!(
                    "the cosine schedule's {warmup_steps} warm-up steps exceed the run's \
                     {total_steps} steps: lower --warmup-steps"
                )));
            }
            StepSchedule::Cosine { warmup_steps } => {
                Schedule::Cosine { warmup: warmup_steps, total: total_steps, min_factor: 0.0 }
            }
            StepSchedule::Constant => Schedule::Constant,
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_schedule_warms_up_then_decays_to_zero_at_the_last_step() {
        let s = StepSchedule::Cosine { warmup_steps: 4 }.over(104).unwrap();
        assert_eq!(s.factor(0), 0.25);
        assert_eq!(s.factor(3), 1.0);
        assert!((s.factor(54) - 0.5).abs() < 1e-12, "{}", s.factor(54));
        assert_eq!(s.factor(104), 0.0);
        assert_eq!(StepSchedule::Constant.over(10).unwrap().factor(9), 1.0);
        let err = StepSchedule::Cosine { warmup_steps: 11 }.over(10).unwrap_err();
        assert!(err.to_string().contains("11 warm-up steps exceed the run's 10"), "{err}");
    }
}
