//! `bench`: a fixed training configuration on synthetic characters, so the same
//! step can be timed in PyTorch on the same machine (`tools/bench/char_rnn.py`).
//!
//! Vocabulary 96, Embedding(96, 64) → 2-layer LSTM of 512 → Linear(512, 96), windows of 128
//! characters, batches of 64, Adam at 2e-3, gradients clipped at norm 5, the state carried
//! from window to window. `--precision bf16` runs the forward pass under autocast.

use crate::data::Streams;
use crate::model::{CharRnn, ModelSpec};
use crate::train::update;
use anyhow::Result;
use dl_core::nn::CellKind;
use dl_core::optim::{Optimizer, OptimizerConfig};
use dl_core::precision::Precision;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// The fixed model.
pub const SPEC: ModelSpec = ModelSpec {
    cell: CellKind::Lstm,
    vocab: 96,
    embedding: 64,
    hidden: 512,
    layers: 2,
    dropout: 0.0,
};
/// Rows per batch.
pub const BATCH: i64 = 64;
/// Characters per window.
pub const SEQ_LEN: i64 = 128;

/// Floating-point operations of one training step per character: the LSTM layers' and the
/// head's matrix products, forward (2 per multiply-add) and backward (twice the forward); the
/// element-wise gate arithmetic is left out (under 1 %).
pub fn train_flops_per_token() -> f64 {
    let (h, e, v) = (SPEC.hidden as f64, SPEC.embedding as f64, SPEC.vocab as f64);
    let first = 4.0 * h * (e + h);
    let others = (SPEC.layers as f64 - 1.0) * 4.0 * h * (h + h);
    let head = h * v;
    3.0 * 2.0 * (first + others + head)
}

/// Times `steps` training steps after `warmup` untimed ones; returns characters per second.
pub fn run(
    device: Device,
    threads: i32,
    warmup: u32,
    steps: u32,
    precision: Precision,
) -> Result<f64> {
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let vs = VarStore::new(device);
    let model = CharRnn::new(&vs.root(), SPEC);
    let mut opt = Optimizer::new(OptimizerConfig::adam(2e-3), &vs)?;
    let total = (warmup + steps) as i64 + 2;
    let tokens = Tensor::randint(SPEC.vocab, [BATCH * SEQ_LEN * total], (Kind::Int64, Device::Cpu));
    let streams = Streams::new(tokens, BATCH, SEQ_LEN)?;
    let mut state = model.zero_state(BATCH);
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut start = Instant::now();
    for i in 0..warmup + steps {
        if i == warmup {
            sync();
            start = Instant::now();
        }
        let (x, y) = streams.batch(0, i as u64, device);
        state = update(&model, &mut opt, &x, &y, &state, 5.0, precision)?.2;
    }
    sync();
    Ok((steps as i64 * BATCH * SEQ_LEN) as f64 / start.elapsed().as_secs_f64())
}
