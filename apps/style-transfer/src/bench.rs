//! `bench`: a fixed style-transfer iteration, so the same step can be timed in
//! PyTorch on the same machine (`tools/bench/style_transfer.py`).
//!
//! VGG19 features with random frozen Kaiming-normal weights (no download needed), a `1x3xSxS`
//! image as the optimised parameter, features at the convolution outputs (before the ReLU):
//! content at conv4_2, style Gram MSE at conv1_1..conv5_1, mean-squared TV; weights 1 / 1e4 /
//! 1e-2; Adam at 0.02. One iteration is a forward pass to conv5_1, the losses, a backward pass
//! (to the image only) and an Adam step.

use crate::model::{Pooling, Vgg19};
use crate::transfer::{Init, Method, Settings, Targets};
use anyhow::Result;
use dl_core::optim::{Optimizer, OptimizerConfig};
use std::time::Instant;
use tch::{nn::VarStore, Device, Tensor};

/// The fixed loss settings.
pub fn settings() -> Settings {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    Settings {
        content_layers: names(&["conv4_2"]),
        style_layers: names(&["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]),
        content_weight: 1.0,
        style_weight: 1e4,
        tv_weight: 1e-2,
        optimizer: Method::Adam,
        lr: 0.02,
        history: 0,
        init: Init::Content,
        iterations: 1,
        preserve_colors: false,
        seed: 0,
    }
}

/// Times `iterations` iterations on a `size x size` image after `warmup` untimed ones;
/// returns iterations per second.
pub fn run(device: Device, threads: i32, size: i64, warmup: u32, iterations: u32) -> Result<f64> {
    tch::set_num_threads(threads);
    let s = settings();
    let vgg = Vgg19::random(Pooling::Max, device, 0);
    let content = Tensor::rand([1, 3, size, size], (tch::Kind::Float, device));
    let style = Tensor::rand([1, 3, size, size], (tch::Kind::Float, device));
    let targets = Targets::new(&vgg, &s, &content, &[(style, 1.0)])?;
    let vs = VarStore::new(device);
    let image = vs.root().var_copy("image", &Tensor::rand_like(&content));
    let mut adam = Optimizer::new(OptimizerConfig::adam(s.lr), &vs)?;
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut start = Instant::now();
    for i in 0..warmup + iterations {
        if i == warmup {
            sync();
            start = Instant::now();
        }
        adam.zero_grad();
        targets.terms(&vgg, &s, &image)?.total().backward();
        adam.step();
    }
    sync();
    Ok(iterations as f64 / start.elapsed().as_secs_f64())
}
