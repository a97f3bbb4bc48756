//! The losses of neural style transfer (Gatys, Ecker & Bethge, 2015): content (how far the
//! image's deep features are from the photo's), style (how far the correlations between
//! feature channels, Gram matrices, are from the painting's) and total variation (how rough the
//! image is).

use tch::{Kind, Reduction, Tensor};

/// The Gram matrix of features `[n, c, h, w]`: `F Fᵀ / (c h w)`, `[n, c, c]`. Channel
/// correlations, with the positions summed out: what a texture is, wherever it appears.
pub fn gram(features: &Tensor) -> Tensor {
    let (n, c, h, w) = features.size4().expect("features are [n, c, h, w]");
    let f = features.reshape([n, c, h * w]);
    f.bmm(&f.transpose(1, 2)) / (c * h * w) as f64
}

/// Mean squared difference between two tensors of the same shape.
pub fn mse(a: &Tensor, b: &Tensor) -> Tensor {
    a.mse_loss(b, Reduction::Mean)
}

/// Total variation: the mean squared difference between horizontally and between vertically
/// neighbouring pixels of `[n, c, h, w]`, added.
pub fn total_variation(image: &Tensor) -> Tensor {
    let (_, _, h, w) = image.size4().expect("images are [n, c, h, w]");
    let dy = image.narrow(2, 1, h - 1) - image.narrow(2, 0, h - 1);
    let dx = image.narrow(3, 1, w - 1) - image.narrow(3, 0, w - 1);
    dy.square().mean(Kind::Float) + dx.square().mean(Kind::Float)
}

/// The weighted terms of one evaluation, and their sum.
#[derive(Debug)]
pub struct Terms {
    /// Weighted content loss.
    pub content: Tensor,
    /// Weighted style loss.
    pub style: Tensor,
    /// Weighted total-variation loss.
    pub tv: Tensor,
}

impl Terms {
    /// The total loss.
    pub fn total(&self) -> Tensor {
        &self.content + &self.style + &self.tv
    }

    /// `(content, style, tv, total)` as numbers.
    pub fn values(&self) -> [f64; 4] {
        let v = |t: &Tensor| t.double_value(&[]);
        let (c, s, t) = (v(&self.content), v(&self.style), v(&self.tv));
        [c, s, t, c + s + t]
    }
}
