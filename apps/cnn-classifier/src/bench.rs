//! `bench`: the PyTorch MNIST example's training step, timed on synthetic data, so the same
//! configuration can be timed in PyTorch on the same machine (`tools/bench/cnn_classifier.py`).

use crate::model::{ModelKind, Net, Shape};
use anyhow::Result;
use dl_core::nn::ModuleT;
use dl_core::optim::{Optimizer, OptimizerConfig};
use dl_core::precision::Precision;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// The fixed configuration: the `cnn` on 1x28x28 inputs, batches of 64, Adadelta at 1.0,
/// negative log-likelihood of log-softmax outputs.
pub const BATCH: i64 = 64;
/// Batch size of the inference measurement.
pub const INFERENCE_BATCH: i64 = 1000;

/// Floating-point operations of one training image: the two convolutions' and two linear
/// layers' multiply-adds (26x26x32 outputs of 3x3x1, 24x24x64 outputs of 3x3x32, 9216 x 128,
/// 128 x 10), 2 per multiply-add, forward and backward (twice the forward).
pub const TRAIN_FLOPS_PER_IMAGE: f64 = 3.0
    * 2.0
    * (26.0 * 26.0 * 32.0 * 9.0 + 24.0 * 24.0 * 64.0 * 32.0 * 9.0 + 9216.0 * 128.0 + 1280.0);

/// Times `steps` training steps after `warmup` untimed ones, and inference at batch 1000.
/// Returns (inference images/s, training images/s).
pub fn run(
    device: Device,
    threads: i32,
    warmup: u32,
    steps: u32,
    precision: Precision,
) -> Result<(f64, f64)> {
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let vs = VarStore::new(device);
    let shape = Shape { channels: 1, height: 28, width: 28, classes: 10 };
    let net = Net::new(&vs.root(), ModelKind::Cnn, shape)?;
    let mut opt = Optimizer::new(OptimizerConfig::adadelta(1.0), &vs)?;
    let x = Tensor::randn([BATCH, 1, 28, 28], (Kind::Float, device));
    let y = Tensor::randint(10, [BATCH], (Kind::Int64, device));
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };

    let xi = Tensor::randn([INFERENCE_BATCH, 1, 28, 28], (Kind::Float, device));
    let infer = || {
        let _guard = tch::no_grad_guard();
        let out =
            precision.autocast(device, || net.forward_t(&xi, false).log_softmax(-1, Kind::Float));
        out.map(|o| o.sum(Kind::Float).double_value(&[]))
    };
    for _ in 0..3 {
        infer()?;
    }
    let start = Instant::now();
    let rounds = 10;
    for _ in 0..rounds {
        infer()?;
    }
    let inference = (rounds as i64 * INFERENCE_BATCH) as f64 / start.elapsed().as_secs_f64();

    let mut train_step = || -> Result<()> {
        opt.zero_grad();
        let loss = precision.autocast(device, || {
            net.forward_t(&x, true).log_softmax(-1, Kind::Float).nll_loss(&y)
        })?;
        loss.backward();
        opt.step();
        Ok(())
    };
    for _ in 0..warmup {
        train_step()?;
    }
    sync();
    let start = Instant::now();
    for _ in 0..steps {
        train_step()?;
    }
    sync();
    let training = (steps as i64 * BATCH) as f64 / start.elapsed().as_secs_f64();
    Ok((inference, training))
}
