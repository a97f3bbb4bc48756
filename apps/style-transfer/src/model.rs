//! VGG19's convolutional part (Simonyan & Zisserman, 2014) as a feature extractor: sixteen 3x3
//! convolutions in five blocks, each followed by a ReLU, a 2x2 pooling after each block. It
//! takes RGB images in 0..1 and applies the Caffe preprocessing the weights were trained with
//! (BGR order, 0..255 scale, ImageNet mean subtracted) itself, and returns the activations of
//! the layers asked for by their paper names (`conv4_2`, `relu5_1`, `pool3`), running only as
//! deep as the deepest one.

use anyhow::{bail, Context, Result};
use datasets::vgg19::{CAFFE_MEAN_BGR, CONVS};
use std::path::Path;
use tch::nn::{self, Module, VarStore};
use tch::{Device, Tensor};

/// Max pooling (the trained network's) or average pooling (Gatys et al. prefer its images).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// 2x2 max pooling, as trained.
    Max,
    /// 2x2 average pooling.
    Avg,
}

/// One stage of the network.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// Convolution `CONVS[i]`.
    Conv(usize),
    Relu,
    Pool,
}

/// VGG19 features, frozen.
pub struct Vgg19 {
    vs: VarStore,
    convs: Vec<nn::Conv2D>,
    /// Every layer in order: its name and what it does.
    layers: Vec<(String, Stage)>,
    pooling: Pooling,
    mean: Tensor,
}

/// Every layer name, in order: `conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...`.
pub fn layer_names() -> Vec<String> {
    layers().into_iter().map(|(name, _)| name).collect()
}

fn layers() -> Vec<(String, Stage)> {
    let mut layers = Vec::new();
    for (i, (name, ..)) in CONVS.iter().enumerate() {
        let suffix = &name["conv".len()..];
        layers.push((name.to_string(), Stage::Conv(i)));
        layers.push((format!("relu{suffix}"), Stage::Relu));
        let last_of_block = CONVS.get(i + 1).is_none_or(|next| next.0[4..5] != name[4..5]);
        if last_of_block {
            layers.push((format!("pool{}", &name[4..5]), Stage::Pool));
        }
    }
    layers
}

impl Vgg19 {
    /// The network with weights from a safetensors file of torchvision-named tensors
    /// (`features.N.weight`): what `datasets fetch vgg19` writes.
    pub fn load(path: &Path, pooling: Pooling, device: Device) -> Result<Self> {
        let vgg = Vgg19::new(pooling, device);
        let tensors = datasets::vgg19::load(path)?;
        tch::no_grad(|| -> Result<()> {
            for (name, var) in vgg.vs.variables() {
                let (_, t) = tensors
                    .iter()
                    .find(|(n, _)| *n == name)
                    .with_context(|| format!("{}: {name} is missing", path.display()))?;
                var.to_device(device).copy_(t);
            }
            Ok(())
        })?;
        Ok(vgg)
    }

    /// The network with random weights: Kaiming-normal (fan-in, gain for ReLU), zero biases.
    /// PyTorch's default initialisation shrinks activations towards zero over 16 layers.
    pub fn random(pooling: Pooling, device: Device, seed: i64) -> Self {
        let vgg = Vgg19::new(pooling, device);
        tch::manual_seed(seed);
        tch::no_grad(|| {
            for (conv, (_, _, _, inputs, _)) in vgg.convs.iter().zip(CONVS) {
                let std = (2.0 / (inputs * 9) as f64).sqrt();
                let _ = conv.ws.shallow_clone().normal_(0.0, std);
                if let Some(b) = &conv.bs {
                    let _ = b.shallow_clone().zero_();
                }
            }
        });
        vgg
    }

    fn new(pooling: Pooling, device: Device) -> Self {
        let mut vs = VarStore::new(device);
        let features = vs.root() / "features";
        let config = nn::ConvConfig { padding: 1, ..Default::default() };
        let convs = CONVS
            .iter()
            .map(|&(_, _, index, inputs, outputs)| {
                nn::conv2d(&features / index, inputs, outputs, 3, config)
            })
            .collect();
        vs.freeze();
        let mean = Tensor::from_slice(&CAFFE_MEAN_BGR.map(|m| m as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        Vgg19 { vs, convs, layers: layers(), pooling, mean }
    }

    /// Writes the weights as safetensors with torchvision's names (the layout [`Vgg19::load`]
    /// reads).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.vs.save(path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The first convolution's weights, `[64, 3, 3, 3]`, channels in BGR order.
    pub fn first_filters(&self) -> Tensor {
        self.convs[0].ws.shallow_clone()
    }

    /// Checks that every name is a layer of the network.
    pub fn check_layers(names: &[String]) -> Result<()> {
        let all = layer_names();
        for name in names {
            if !all.contains(name) {
                bail!("unknown VGG19 layer {name:?}: expected one of {}", all.join(", "));
            }
        }
        Ok(())
    }

    /// Caffe's input from RGB images in 0..1 `[n, 3, h, w]`.
    pub fn preprocess(&self, rgb: &Tensor) -> Tensor {
        rgb.flip([1]) * 255.0 - &self.mean
    }

    /// The activations of `names` for RGB images in 0..1 `[n, 3, h, w]`, in the order asked.
    pub fn features(&self, rgb: &Tensor, names: &[String]) -> Result<Vec<Tensor>> {
        Vgg19::check_layers(names)?;
        let deepest = self
            .layers
            .iter()
            .rposition(|(n, _)| names.contains(n))
            .context("no layer asked for")?;
        let mut out: Vec<Option<Tensor>> = names.iter().map(|_| None).collect();
        let mut x = self.preprocess(rgb);
        for (name, stage) in &self.layers[..=deepest] {
            x = match stage {
                Stage::Conv(i) => self.convs[*i].forward(&x),
                Stage::Relu => x.relu(),
                Stage::Pool => match self.pooling {
                    Pooling::Max => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
                    Pooling::Avg => x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None),
                },
            };
            for (slot, wanted) in out.iter_mut().zip(names) {
                if wanted == name {
                    *slot = Some(x.shallow_clone());
                }
            }
        }
        Ok(out.into_iter().map(|t| t.expect("every name is a layer up to the deepest")).collect())
    }
}
