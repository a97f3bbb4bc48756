//! Batches over tensors that share their first dimension: shuffled by seed, optionally
//! dropping the last incomplete batch, moved to a device.

use crate::{DataError, Result};
use rand::seq::SliceRandom;
use tch::{Device, Tensor};

/// An iterator of batches: each item holds one slice of every tensor, in the order given.
#[derive(Debug)]
pub struct Batches {
    tensors: Vec<Tensor>,
    order: Tensor,
    batch_size: i64,
    position: i64,
    end: i64,
    device: Device,
}

impl Batches {
    /// Batches of `batch_size` rows of `tensors`. With `shuffle = Some((seed, epoch))` the rows
    /// are visited in a random order that depends only on the seed and the epoch (so a resumed
    /// run sees the same order); otherwise in order. `drop_last` drops a final smaller batch.
    pub fn new(
        tensors: &[&Tensor],
        batch_size: usize,
        shuffle: Option<(u64, u64)>,
        drop_last: bool,
        device: Device,
    ) -> Result<Batches> {
        let n = tensors.first().map(|t| t.size().first().copied().unwrap_or(0)).unwrap_or(0);
        if tensors.iter().any(|t| t.size().first().copied() != Some(n)) {
            let sizes: Vec<Vec<i64>> = tensors.iter().map(|t| t.size()).collect();
            return Err(DataError::Argument(format!(
                "batched tensors must share their first dimension, got {sizes:?}"
            )));
        }
        if batch_size == 0 {
            return Err(DataError::Argument("batch size must be at least 1".into()));
        }
        let mut order: Vec<i64> = (0..n).collect();
        if let Some((seed, epoch)) = shuffle {
            order.shuffle(&mut dl_core::device::rng(seed, &format!("shuffle-epoch-{epoch}")));
        }
        let batch_size = batch_size as i64;
        let end = if drop_last { n - n % batch_size } else { n };
        Ok(Batches {
            tensors: tensors.iter().map(|t| t.shallow_clone()).collect(),
            order: Tensor::from_slice(&order),
            batch_size,
            position: 0,
            end,
            device,
        })
    }

    /// Number of batches this iterator yields in total.
    pub fn batches(&self) -> usize {
        ((self.end + self.batch_size - 1) / self.batch_size) as usize
    }

    /// Skips the first `n` batches (resuming in the middle of an epoch).
    pub fn skip_batches(mut self, n: usize) -> Batches {
        self.position = (self.position + n as i64 * self.batch_size).min(self.end);
        self
    }
}

impl Iterator for Batches {
    type Item = Vec<Tensor>;

    fn next(&mut self) -> Option<Vec<Tensor>> {
        if self.position >= self.end {
            return None;
        }
        let len = self.batch_size.min(self.end - self.position);
        let rows = self.order.narrow(0, self.position, len);
        self.position += len;
        Some(self.tensors.iter().map(|t| t.index_select(0, &rows).to_device(self.device)).collect())
    }
}
