//! `basics`: the talk's claims about how deep learning works, each turned into an experiment
//! that measures it. See the crate's README for the claims, the commands and what they print.
//!
//! - [`tape`]: a hand-written reverse-mode autodiff (backpropagation in a hundred lines);
//! - [`backprop`]: it checked against libtorch and finite differences, and its cost measured;
//! - [`approx`]: one hidden layer approximates any 1-D function, better as it widens;
//! - [`collapse`]: linear layers without a non-linearity collapse into one matrix;
//! - [`activations`]: vanishing gradients, sigmoid vs tanh vs ReLU, on real digits;
//! - [`softmax`]: exponentiate then normalise, stably, and its gradient.

pub mod activations;
pub mod approx;
pub mod backprop;
pub mod collapse;
pub mod softmax;
pub mod tape;
