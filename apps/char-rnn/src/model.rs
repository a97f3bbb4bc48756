//! The network: characters are embedded, read by a recurrent stack (plain RNN, LSTM or GRU),
//! and a linear layer turns each hidden state into scores for the next character.
//!
//! ```text
//! x_t ─ Embedding(V, E) ─ Recurrent(E → H, L layers) ─ dropout ─ Linear(H, V) ─ logits_t
//!                                  ↑ state carried from t-1
//! ```

use dl_core::nn::{self, CellKind, Recurrent, RecurrentConfig, State};
use serde::{Deserialize, Serialize};
use tch::nn::Module;
use tch::Tensor;

/// The shape of a model (saved in every checkpoint).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The recurrent cell.
    pub cell: CellKind,
    /// Characters in the vocabulary.
    pub vocab: i64,
    /// Size of a character's embedding.
    pub embedding: i64,
    /// Size of each layer's hidden state.
    pub hidden: i64,
    /// Stacked recurrent layers.
    pub layers: i64,
    /// Dropout between recurrent layers and before the read-out, while training.
    pub dropout: f64,
}

/// Embedding → recurrent stack → linear read-out.
#[derive(Debug)]
pub struct CharRnn {
    spec: ModelSpec,
    embed: tch::nn::Embedding,
    rnn: Recurrent,
    head: tch::nn::Linear,
}

impl CharRnn {
    /// Creates the parameters under `vs`, initialised as PyTorch initialises `nn.Embedding`
    /// (standard normal), `nn.LSTM` and `nn.Linear` (uniform in `±1/sqrt(fan_in)`).
    pub fn new(vs: &tch::nn::Path, spec: ModelSpec) -> CharRnn {
        let embed =
            tch::nn::embedding(vs / "embed", spec.vocab, spec.embedding, Default::default());
        let config =
            RecurrentConfig { layers: spec.layers, dropout: spec.dropout, ..Default::default() };
        let rnn = Recurrent::new(&(vs / "rnn"), spec.cell, spec.embedding, spec.hidden, config);
        let head = nn::linear_pytorch(vs / "head", spec.hidden, spec.vocab);
        CharRnn { spec, embed, rnn, head }
    }

    /// Its shape.
    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    /// A zero state for `batch` streams.
    pub fn zero_state(&self, batch: i64) -> State {
        self.rnn.zero_state(batch)
    }

    /// Scores for the next character after every position of `xs: [batch, time]` (i64),
    /// `[batch, time, vocab]`, reading from `state` (zero if `None`); and the final state.
    pub fn forward(&self, xs: &Tensor, state: Option<&State>, train: bool) -> (Tensor, State) {
        let (hs, state) = self.rnn.forward(&self.embed.forward(xs), state, train);
        (nn::dropout(&hs, self.spec.dropout, train).apply(&self.head), state)
    }

    /// One time step for generation: `x: [batch]` (i64) → scores `[batch, vocab]` and the new
    /// state. Equal to [`CharRnn::forward`] over the same characters one at a time.
    pub fn step(&self, x: &Tensor, state: &State) -> (Tensor, State) {
        let state = self.rnn.step(&self.embed.forward(x), state, false);
        (state.output().apply(&self.head), state)
    }

    /// Sets every LSTM layer's forget-gate bias to `value` (`b_ih` to `value`, `b_hh` to 0, so
    /// their sum is `value`): with 1, the cell keeps about 73 % of its memory per step at the
    /// start of training instead of half, and gradients reach further back from the first
    /// step (Gers et al., 2000; Jozefowicz et al., 2015). No-op for the other cells.
    pub fn set_forget_bias(&self, value: f64) {
        if self.spec.cell != CellKind::Lstm {
            return;
        }
        let _guard = tch::no_grad_guard();
        let h = self.spec.hidden;
        // Per layer: weight_ih, weight_hh, bias_ih, bias_hh; gate rows i, f, g, o (PyTorch's order).
        for layer in self.rnn.parameters().chunks(4) {
            let _ = layer[2].narrow(0, h, h).fill_(value);
            let _ = layer[3].narrow(0, h, h).fill_(0.0);
        }
    }

    /// Number of trainable numbers.
    pub fn parameters(spec: ModelSpec) -> i64 {
        let gates = match spec.cell {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        };
        let (v, e, h) = (spec.vocab, spec.embedding, spec.hidden);
        let layer = |input: i64| gates * h * (input + h + 2);
        v * e + layer(e) + (spec.layers - 1) * layer(h) + h * v + v
    }
}
