//! Tests of the datasets crate, no network: every format is written from
//! generated tensors and read back, and every kind of corruption gets its typed error.

mod batch;
mod ding;
mod fetch;
mod formats;
mod text;

use tch::{Kind, Tensor};

/// `n` deterministic u8 images of `[c, h, w]` and labels cycling through `classes`.
pub fn generated(n: i64, c: i64, h: i64, w: i64, classes: i64) -> (Tensor, Tensor) {
    let images = (Tensor::arange(n * c * h * w, (Kind::Int64, tch::Device::Cpu)) * 7)
        .remainder(256)
        .to_kind(Kind::Uint8)
        .view([n, c, h, w]);
    let labels = Tensor::arange(n, (Kind::Int64, tch::Device::Cpu)).remainder(classes);
    (images, labels)
}
