//! `bench`: a fixed translator training step on synthetic sentences, so the same step can be
//! timed in PyTorch on the same machine (`tools/bench/seq2seq.py`).
//!
//! Vocabularies of 8000; encoder Embedding(8000, 256) → bidirectional GRU of 256; decoder
//! Embedding(8000, 256), GRU of 512 with Bahdanau attention (attention size 256), read-out
//! over [state; context; embedding] once for all steps; sources and targets of 20 positions
//! (real lengths uniform in 5..=20, the rest padding), batches of 64, Adam at 1e-3, teacher
//! forcing, masked cross-entropy. Throughput counts all 64 x 20 target positions.

use crate::data::{self, Tokenized};
use crate::model::{AttentionKind, ModelSpec, Seq2Seq};
use crate::train::{self, TrainConfig};
use anyhow::Result;
use dl_core::nn::CellKind;
use dl_core::optim::{Optimizer, OptimizerConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::{nn::VarStore, Device};

/// The fixed model.
pub const SPEC: ModelSpec = ModelSpec {
    cell: CellKind::Gru,
    src_vocab: 8000,
    tgt_vocab: 8000,
    embedding: 256,
    encoder_hidden: 256,
    decoder_hidden: 512,
    layers: 1,
    attention: AttentionKind::Bahdanau,
    attention_dim: 256,
    dropout: 0.0,
    readout: 0,
    tie_embeddings: false,
};
/// Sentence pairs per batch.
pub const BATCH: usize = 64;
/// Positions of every source and target (the decoder reads BOS + 19 and predicts 20).
pub const LEN: usize = 20;

/// Times `steps` training steps after `warmup` untimed ones; returns target positions per
/// second.
pub fn run(
    device: Device,
    threads: i32,
    warmup: u32,
    steps: u32,
    precision: dl_core::precision::Precision,
) -> Result<f64> {
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let vs = VarStore::new(device);
    let model = Seq2Seq::new(&vs.root(), SPEC);
    let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), &vs)?;
    let config = TrainConfig {
        label_smoothing: 0.0,
        clip: 0.0,
        teacher_forcing: 1.0,
        ..TrainConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let sentence = |rng: &mut ChaCha8Rng, len: usize| -> Vec<i64> {
        (0..len).map(|_| rng.random_range(4..SPEC.src_vocab)).collect()
    };
    // Targets of 5..=19 tokens + EOS fill 6..=20 positions; sources 5..=20 tokens.
    let batches: Vec<Vec<Tokenized>> = (0..4)
        .map(|_| {
            (0..BATCH)
                .map(|_| {
                    let (s, t) = (rng.random_range(5..=LEN), rng.random_range(5..LEN));
                    Tokenized { source: sentence(&mut rng, s), target: sentence(&mut rng, t) }
                })
                .collect()
        })
        .collect();
    // Every batch padded to the full 20 positions: the bench's fixed shapes.
    let padded: Vec<data::Batch> = batches
        .iter()
        .map(|b| {
            let mut refs: Vec<Tokenized> = b.clone();
            refs[0].source.resize(LEN, 4);
            refs[0].target.resize(LEN - 1, 4);
            let refs: Vec<&Tokenized> = refs.iter().collect();
            data::batch(&refs, device)
        })
        .collect();
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut start = Instant::now();
    let mut step_rng = ChaCha8Rng::seed_from_u64(1);
    for i in 0..warmup + steps {
        if i == warmup {
            sync();
            start = Instant::now();
        }
        let batch = &padded[i as usize % padded.len()];
        train::update(&model, &mut opt, batch, &config, &mut step_rng, precision)?;
    }
    sync();
    Ok((steps as usize * BATCH * LEN) as f64 / start.elapsed().as_secs_f64())
}
