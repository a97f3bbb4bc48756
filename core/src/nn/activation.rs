//! Non-linearities: what makes a stack of layers more than one linear map.

use crate::Error;
use std::fmt;
use std::str::FromStr;
use tch::{Kind, Tensor};

/// An element-wise activation, selectable by name (`sigmoid`, `tanh`, `relu`, `identity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `1 / (1 + e^-x)`: the classic squashing function, saturates (vanishing gradients).
    Sigmoid,
    /// `tanh(x)`: zero-centred sigmoid, also saturates.
    Tanh,
    /// `max(0, x)`: does not saturate for positive inputs; the default of modern networks.
    Relu,
    /// `x`: no non-linearity (a deep linear network collapses to one linear map).
    Identity,
}

impl Activation {
    /// Applies the activation element-wise.
    pub fn apply(self, xs: &Tensor) -> Tensor {
        match self {
            Activation::Sigmoid => xs.sigmoid(),
            Activation::Tanh => xs.tanh(),
            Activation::Relu => xs.relu(),
            Activation::Identity => xs.shallow_clone(),
        }
    }
}

impl tch::nn::Module for Activation {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.apply(xs)
    }
}

impl FromStr for Activation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "sigmoid" => Ok(Activation::Sigmoid),
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            "identity" | "linear" | "none" => Ok(Activation::Identity),
            _ => Err(Error::Config(format!(
                "unknown activation {s:?}: expected sigmoid, tanh, relu or identity"
            ))),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Identity => "identity",
        })
    }
}

/// Softmax along `dim`: non-negative, sums to one, invariant to adding a constant. Computed in
/// the input's precision (libtorch subtracts the maximum first, so large logits do not overflow).
pub fn softmax(xs: &Tensor, dim: i64) -> Tensor {
    xs.softmax(dim, None::<Kind>)
}

/// Log-softmax along `dim`: `x - logsumexp(x)`, the numerically stable companion of
/// [`softmax`] that cross-entropy losses are built on.
pub fn log_softmax(xs: &Tensor, dim: i64) -> Tensor {
    xs.log_softmax(dim, None::<Kind>)
}
