//! The three networks: the talk's multilayer perceptron, PyTorch's MNIST example CNN, and a
//! ResNet-20 for CIFAR-10. Parameter names follow PyTorch (`conv1.weight`, `fc1.bias`,
//! `layer1.0.bn1.running_mean`, ...) so the same weights load in both.

use dl_core::nn::{self, BatchNorm, Conv2D, ConvConfig, Linear, ModuleT};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// 784 → 512 → ReLU → 512 → ReLU → 10: fully connected layers only.
    Mlp,
    /// PyTorch's examples/mnist network: two 3x3 convolutions, max-pool, dropout, two linear.
    Cnn,
    /// ResNet-20 (He et al., 2016, CIFAR variant): 19 convolutions in residual blocks with
    /// batch norm, global average pooling, one linear layer.
    Resnet,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
            ModelKind::Resnet => "resnet",
        })
    }
}

/// The shape of a network's input and output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Channels (1 grey, 3 colour).
    pub channels: i64,
    /// Image height.
    pub height: i64,
    /// Image width.
    pub width: i64,
    /// Number of classes.
    pub classes: i64,
}

/// One of the networks, behind one interface: `[batch, C, H, W]` normalised images in,
/// `[batch, classes]` logits out.
#[derive(Debug)]
pub enum Net {
    /// See [`ModelKind::Mlp`].
    Mlp(Mlp),
    /// See [`ModelKind::Cnn`].
    Cnn(Cnn),
    /// See [`ModelKind::Resnet`].
    Resnet(ResNet),
}

impl Net {
    /// Builds `kind` for inputs and outputs of `shape` under `vs`.
    pub fn new(vs: &nn::Path, kind: ModelKind, shape: Shape) -> anyhow::Result<Net> {
        anyhow::ensure!(
            shape.channels > 0 && shape.classes > 1,
            "a classifier needs images with channels and at least two classes, got {shape:?}"
        );
        Ok(match kind {
            ModelKind::Mlp => Net::Mlp(Mlp::new(vs, shape)),
            ModelKind::Cnn => {
                anyhow::ensure!(
                    shape.height >= 6 && shape.width >= 6,
                    "the cnn needs images of at least 6x6, got {}x{}",
                    shape.height,
                    shape.width
                );
                Net::Cnn(Cnn::new(vs, shape))
            }
            ModelKind::Resnet => Net::Resnet(ResNet::new(vs, shape)),
        })
    }

    /// The first convolution's weights `[out, in, k, k]`, if the network has convolutions.
    pub fn first_filters(&self) -> Option<&Tensor> {
        match self {
            Net::Mlp(_) => None,
            Net::Cnn(net) => Some(&net.conv1.ws),
            Net::Resnet(net) => Some(&net.conv1.ws),
        }
    }
}

impl ModuleT for Net {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Net::Mlp(net) => net.forward_t(xs, train),
            Net::Cnn(net) => net.forward_t(xs, train),
            Net::Resnet(net) => net.forward_t(xs, train),
        }
    }
}

/// The multilayer perceptron.
#[derive(Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl Mlp {
    fn new(vs: &nn::Path, s: Shape) -> Mlp {
        let inputs = s.channels * s.height * s.width;
        Mlp {
            fc1: nn::linear(vs / "fc1", inputs, 512, Default::default()),
            fc2: nn::linear(vs / "fc2", 512, 512, Default::default()),
            fc3: nn::linear(vs / "fc3", 512, s.classes, Default::default()),
        }
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        xs.flatten(1, -1) // [B, C*H*W]
            .apply(&self.fc1)
            .relu() // [B, 512]
            .apply(&self.fc2)
            .relu() // [B, 512]
            .apply(&self.fc3) // [B, classes]
    }
}

/// PyTorch's examples/mnist `Net`.
#[derive(Debug)]
pub struct Cnn {
    conv1: Conv2D,
    conv2: Conv2D,
    fc1: Linear,
    fc2: Linear,
}

impl Cnn {
    fn new(vs: &nn::Path, s: Shape) -> Cnn {
        // Two unpadded 3x3 convolutions take 4 pixels off each side, the pooling halves.
        let flat = 64 * ((s.height - 4) / 2) * ((s.width - 4) / 2); // 9216 for 28x28
        Cnn {
            conv1: nn::conv2d(vs / "conv1", s.channels, 32, 3, Default::default()),
            conv2: nn::conv2d(vs / "conv2", 32, 64, 3, Default::default()),
            fc1: nn::linear(vs / "fc1", flat, 128, Default::default()),
            fc2: nn::linear(vs / "fc2", 128, s.classes, Default::default()),
        }
    }
}

impl ModuleT for Cnn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.apply(&self.conv1) // [B, 32, 26, 26] for 28x28 inputs
            .relu()
            .apply(&self.conv2) // [B, 64, 24, 24]
            .relu()
            .max_pool2d_default(2) // [B, 64, 12, 12]
            .dropout(0.25, train)
            .flatten(1, -1) // [B, 9216]
            .apply(&self.fc1)
            .relu() // [B, 128]
            .dropout(0.5, train)
            .apply(&self.fc2) // [B, classes]
    }
}

fn conv3x3(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> Conv2D {
    let config = ConvConfig { stride, padding: 1, bias: false, ..Default::default() };
    nn::conv2d(vs, cin, cout, 3, config)
}

/// A basic residual block: two 3x3 convolutions with batch norm, plus the input (through a
/// 1x1 convolution when the shape changes).
#[derive(Debug)]
struct Block {
    conv1: Conv2D,
    bn1: BatchNorm,
    conv2: Conv2D,
    bn2: BatchNorm,
    shortcut: Option<(Conv2D, BatchNorm)>,
}

impl Block {
    fn new(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> Block {
        let shortcut = (stride != 1 || cin != cout).then(|| {
            let config = ConvConfig { stride, bias: false, ..Default::default() };
            (
                nn::conv2d(&vs / "shortcut" / "0", cin, cout, 1, config),
                nn::batch_norm2d(&vs / "shortcut" / "1", cout),
            )
        });
        Block {
            conv1: conv3x3(&vs / "conv1", cin, cout, stride),
            bn1: nn::batch_norm2d(&vs / "bn1", cout),
            conv2: conv3x3(&vs / "conv2", cout, cout, 1),
            bn2: nn::batch_norm2d(&vs / "bn2", cout),
            shortcut,
        }
    }
}

impl ModuleT for Block {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train);
        let skip = match &self.shortcut {
            Some((conv, bn)) => xs.apply(conv).apply_t(bn, train),
            None => xs.shallow_clone(),
        };
        (out + skip).relu()
    }
}

/// ResNet-20: a 3x3 stem, three stages of three blocks (16, 32, 64 channels; the second and
/// third halve the resolution), global average pooling, a linear classifier.
#[derive(Debug)]
pub struct ResNet {
    conv1: Conv2D,
    bn1: BatchNorm,
    blocks: Vec<Block>,
    fc: Linear,
}

impl ResNet {
    fn new(vs: &nn::Path, s: Shape) -> ResNet {
        let mut blocks = Vec::new();
        let mut cin = 16;
        for (stage, (cout, stride)) in [(16, 1), (32, 2), (64, 2)].into_iter().enumerate() {
            for b in 0..3 {
                let path = vs / format!("layer{}", stage + 1) / b.to_string();
                blocks.push(Block::new(path, cin, cout, if b == 0 { stride } else { 1 }));
                cin = cout;
            }
        }
        ResNet {
            conv1: conv3x3(vs / "conv1", s.channels, 16, 1),
            bn1: nn::batch_norm2d(vs / "bn1", 16),
            blocks,
            fc: nn::linear(vs / "fc", 64, s.classes, Default::default()),
        }
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.apply(&self.conv1).apply_t(&self.bn1, train).relu(); // [B, 16, H, W]
        for block in &self.blocks {
            x = block.forward_t(&x, train); // ... [B, 64, H/4, W/4]
        }
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&self.fc) // [B, classes]
    }
}
