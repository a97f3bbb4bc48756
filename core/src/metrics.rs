//! Measures a training loop keeps as it goes: running means and counts of correct answers.
//! (Logging them to a run directory's `metrics.jsonl` is the harness's job.)

use tch::Tensor;

/// A running mean, weighted by counts (e.g. a loss averaged over examples, not batches).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mean {
    sum: f64,
    count: f64,
}

impl Mean {
    /// Adds `value` with weight `count`.
    pub fn add(&mut self, value: f64, count: f64) {
        self.sum += value * count;
        self.count += count;
    }

    /// The mean so far (NaN if nothing was added).
    pub fn value(&self) -> f64 {
        if self.count == 0.0 {
            f64::NAN
        } else {
            self.sum / self.count
        }
    }

    /// Total weight added.
    pub fn count(&self) -> f64 {
        self.count
    }
}

/// Number of rows of `logits: [batch, classes]` whose arg-max equals `labels: [batch]`.
pub fn correct(logits: &Tensor, labels: &Tensor) -> i64 {
    logits.argmax(-1, false).eq_tensor(labels).sum(tch::Kind::Int64).int64_value(&[])
}
