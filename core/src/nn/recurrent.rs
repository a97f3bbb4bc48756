//! The recurrent family: a plain (Elman, tanh) RNN, the LSTM and the GRU.
//!
//! One type, [`Recurrent`], covers all three, multi-layer, with parameters named as PyTorch's
//! `nn.RNN` / `nn.LSTM` / `nn.GRU` name them (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
//! `bias_hh_l0`, ...), so weights move between the two. It runs either a whole sequence at once
//! ([`Recurrent::forward`], libtorch's fused kernels, cuDNN on a GPU) or one time step at a time
//! ([`Recurrent::step`], for sampling and decoding), and the two agree. The state is explicit:
//! the caller owns it, can carry it across batches (truncated backpropagation through time) and
//! must detach it when it wants the graph cut.

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;
use tch::{nn, Tensor};

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Elman RNN: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    Rnn,
    /// Long short-term memory (Hochreiter & Schmidhuber, 1997): gated cell state `c`.
    Lstm,
    /// Gated recurrent unit (Cho et al., 2014): reset and update gates, no separate cell.
    Gru,
}

impl CellKind {
    /// Rows of `W_ih` per hidden unit: one per gate.
    fn gates(self) -> i64 {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// cuDNN's mode number for this cell (`rnn.cpp` in PyTorch): used to flatten weights.
    fn cudnn_mode(self) -> i64 {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 2,
            CellKind::Gru => 3,
        }
    }
}

impl FromStr for CellKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rnn" | "elman" => Ok(CellKind::Rnn),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            _ => Err(Error::Config(format!("unknown cell {s:?}: expected rnn, lstm or gru"))),
        }
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        })
    }
}

/// Shape options of a [`Recurrent`] stack (PyTorch's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// Number of stacked layers; layer `l > 0` reads the hidden states of layer `l - 1`.
    pub layers: i64,
    /// Dropout on the outputs of every layer but the last, while training.
    pub dropout: f64,
    /// Whether the cells have the two bias vectors.
    pub bias: bool,
}

impl Default for RecurrentConfig {
    fn default() -> Self {
        RecurrentConfig { layers: 1, dropout: 0.0, bias: true }
    }
}

/// The state of a recurrent stack between time steps.
#[derive(Debug)]
pub struct State {
    /// Hidden state of every layer, `[layers, batch, hidden]`.
    pub h: Tensor,
    /// Cell state of every layer for an LSTM, `[layers, batch, hidden]`; `None` otherwise.
    pub c: Option<Tensor>,
}

impl State {
    /// The last layer's hidden state, `[batch, hidden]`: the stack's output at this step.
    pub fn output(&self) -> Tensor {
        self.h.get(-1)
    }

    /// The same values cut from the autograd graph (truncated backpropagation through time).
    pub fn detach(&self) -> State {
        State { h: self.h.detach(), c: self.c.as_ref().map(Tensor::detach) }
    }

    /// Selects batch rows, e.g. to follow the surviving hypotheses of a beam search.
    pub fn index_select(&self, rows: &Tensor) -> State {
        State {
            h: self.h.index_select(1, rows),
            c: self.c.as_ref().map(|c| c.index_select(1, rows)),
        }
    }
}

/// A multi-layer Elman RNN, LSTM or GRU over batch-first sequences `[batch, time, features]`.
#[derive(Debug)]
pub struct Recurrent {
    kind: CellKind,
    hidden: i64,
    config: RecurrentConfig,
    /// Per layer: `weight_ih, weight_hh` and, with biases, `bias_ih, bias_hh` (cuDNN's order).
    params: Vec<Tensor>,
}

impl Recurrent {
    /// Creates the parameters under `vs`, initialised as PyTorch does: every weight and bias
    /// uniform in `±1/sqrt(hidden)`.
    pub fn new(vs: &nn::Path, kind: CellKind, input: i64, hidden: i64, c: RecurrentConfig) -> Self {
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = nn::Init::Uniform { lo: -bound, up: bound };
        let rows = kind.gates() * hidden;
        let mut params = Vec::new();
        for l in 0..c.layers {
            let cols = if l == 0 { input } else { hidden };
            params.push(vs.var(&format!("weight_ih_l{l}"), &[rows, cols], init));
            params.push(vs.var(&format!("weight_hh_l{l}"), &[rows, hidden], init));
            if c.bias {
                params.push(vs.var(&format!("bias_ih_l{l}"), &[rows], init));
                params.push(vs.var(&format!("bias_hh_l{l}"), &[rows], init));
            }
        }
        if vs.device().is_cuda() && tch::Cuda::cudnn_is_available() {
            // Lay the weights out in one buffer so cuDNN does not copy them at every call.
            let _ = Tensor::internal_cudnn_rnn_flatten_weight(
                &params,
                if c.bias { 4 } else { 2 },
                input,
                kind.cudnn_mode(),
                hidden,
                0, // no projections
                c.layers,
                true, // batch first
                false,
            );
        }
        Recurrent { kind, hidden, config: c, params }
    }

    /// The cell kind.
    pub fn kind(&self) -> CellKind {
        self.kind
    }

    /// Size of the hidden state.
    pub fn hidden_size(&self) -> i64 {
        self.hidden
    }

    /// A zero state for `batch` sequences, on the parameters' device and precision.
    pub fn zero_state(&self, batch: i64) -> State {
        let w = &self.params[0];
        let zeros =
            || Tensor::zeros([self.config.layers, batch, self.hidden], (w.kind(), w.device()));
        State { h: zeros(), c: (self.kind == CellKind::Lstm).then(zeros) }
    }

    /// Runs a whole sequence `xs: [batch, time, input]` from `state` (zero if `None`), returning
    /// the last layer's hidden state at every step, `[batch, time, hidden]`, and the final state.
    pub fn forward(&self, xs: &Tensor, state: Option<&State>, train: bool) -> (Tensor, State) {
        let zero;
        let state = match state {
            Some(s) => s,
            None => {
                zero = self.zero_state(xs.size()[0]);
                &zero
            }
        };
        let (layers, dropout, bias) = (self.config.layers, self.config.dropout, self.config.bias);
        match self.kind {
            CellKind::Rnn => {
                let (out, h) =
                    xs.rnn_tanh(&state.h, &self.params, bias, layers, dropout, train, false, true);
                (out, State { h, c: None })
            }
            CellKind::Gru => {
                let (out, h) =
                    xs.gru(&state.h, &self.params, bias, layers, dropout, train, false, true);
                (out, State { h, c: None })
            }
            CellKind::Lstm => {
                let c = state.c.as_ref().expect("an LSTM state always has a cell state");
                let params: Vec<&Tensor> = self.params.iter().collect();
                let (out, h, c) =
                    xs.lstm(&[&state.h, c], &params, bias, layers, dropout, train, false, true);
                (out, State { h, c: Some(c) })
            }
        }
    }

    /// Advances one time step: `x: [batch, input]`; the output is [`State::output`].
    /// Agrees with [`Recurrent::forward`] run over the same inputs one step at a time.
    pub fn step(&self, x: &Tensor, state: &State, train: bool) -> State {
        let per_layer = if self.config.bias { 4 } else { 2 };
        let mut input = x.shallow_clone();
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for (l, p) in self.params.chunks(per_layer).enumerate() {
            if l > 0 {
                input = input.dropout(self.config.dropout, train);
            }
            let (w_ih, w_hh) = (&p[0], &p[1]);
            let (b_ih, b_hh) = (p.get(2), p.get(3));
            let h = state.h.get(l as i64);
            let h = match self.kind {
                CellKind::Rnn => input.rnn_tanh_cell(&h, w_ih, w_hh, b_ih, b_hh),
                CellKind::Gru => input.gru_cell(&h, w_ih, w_hh, b_ih, b_hh),
                CellKind::Lstm => {
                    let c = state.c.as_ref().expect("an LSTM state always has a cell state");
                    let (h, c) = input.lstm_cell(&[&h, &c.get(l as i64)], w_ih, w_hh, b_ih, b_hh);
                    cs.push(c);
                    h
                }
            };
            input = h.shallow_clone();
            hs.push(h);
        }
        State { h: Tensor::stack(&hs, 0), c: (!cs.is_empty()).then(|| Tensor::stack(&cs, 0)) }
    }

    /// The parameter tensors in cuDNN's flat order (for inspection and tests).
    pub fn parameters(&self) -> &[Tensor] {
        &self.params
    }
}
