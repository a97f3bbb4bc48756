//! The translator: an encoder reads the source sentence in both directions, a decoder writes
//! the target sentence one token at a time, and attention lets every decoder step look back at
//! every source position (Bahdanau et al., 2015; Luong et al., 2015).
//!
//! ```text
//! source ─ Embedding ─┬─ RNN →  ─┐
//!                     └─ RNN ←  ─┴─ memory h_1..h_S ─┬─ summary [h→_S; h←_1] ─ tanh(Linear) ─ s_0
//!                                                    │
//!   none:     c_t = summary                          │
//!   bahdanau: c_t = Σ_j softmax_j(v·tanh(W s_{t-1} + U h_j)) h_j, then s_t = RNN([e_{t-1}; c_t], s_{t-1})
//!   luong:    s_t = RNN(e_{t-1}, s_{t-1}), then c_t = Σ_j softmax_j(s_t·W h_j) h_j
//!
//! logits_t = Linear([s_t; c_t; e_{t-1}])                   readout = 0 (applied once to all steps)
//! logits_t = W_o tanh(Linear([s_t; c_t; e_{t-1}])) + b_o    readout > 0 ("deep output")
//! ```
//!
//! With a read-out layer as wide as the embedding, `W_o` can be the target embedding matrix
//! itself (tied embeddings, Press & Wolf, 2017): one matrix learns both what a word means as an
//! input and when to write it, and the largest matrix of the model is gone.
//!
//! Padding never matters: the backward RNN reads each sentence's own tokens reversed (padding
//! stays at the end, where a forward reader never looks back at it), padded positions get no
//! attention, and padded targets no loss.

use dl_core::nn::{self, CellKind, Recurrent, RecurrentConfig, State};
use serde::{Deserialize, Serialize};
use tch::nn::{Linear, LinearConfig, Module};
use tch::{Device, Kind, Tensor};

/// How the decoder looks at the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKind {
    /// No attention: the encoder's summary is the context of every step (Cho et al., 2014).
    None,
    /// Additive attention queried by the previous decoder state (Bahdanau et al., 2015).
    Bahdanau,
    /// Multiplicative ("general") attention queried by the current state (Luong et al., 2015).
    Luong,
}

impl std::fmt::Display for AttentionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttentionKind::None => "none",
            AttentionKind::Bahdanau => "bahdanau",
            AttentionKind::Luong => "luong",
        })
    }
}

/// The shape of a model (saved in every checkpoint).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The recurrent cell of encoder and decoder.
    pub cell: CellKind,
    /// Source vocabulary size.
    pub src_vocab: i64,
    /// Target vocabulary size.
    pub tgt_vocab: i64,
    /// Embedding size (both languages).
    pub embedding: i64,
    /// Hidden size of each encoder direction.
    pub encoder_hidden: i64,
    /// Hidden size of the decoder.
    pub decoder_hidden: i64,
    /// Stacked layers of each recurrent network.
    pub layers: i64,
    /// The attention.
    pub attention: AttentionKind,
    /// Size of Bahdanau's attention layer.
    pub attention_dim: i64,
    /// Dropout on embeddings, between layers and before the read-out, while training.
    pub dropout: f64,
    /// Width of the `tanh` read-out layer before the output projection; 0: none, the
    /// projection reads `[s_t; c_t; e_{t-1}]` directly.
    #[serde(default)]
    pub readout: i64,
    /// The output projection is the target embedding matrix (needs `readout == embedding`).
    #[serde(default)]
    pub tie_embeddings: bool,
}

impl ModelSpec {
    fn memory(&self) -> i64 {
        2 * self.encoder_hidden
    }
}

/// The encoder's reading of a batch of source sentences.
#[derive(Debug)]
pub struct Encoded {
    /// Both directions' states at every position, `[batch, src_len, 2 x encoder_hidden]`.
    pub memory: Tensor,
    /// The memory projected for the attention's scores (`U h_j` or `W h_j`); `None` without
    /// attention.
    pub keys: Option<Tensor>,
    /// `true` at real tokens, `false` at padding, `[batch, src_len]`.
    pub mask: Tensor,
    /// `[h→_last; h←_first]`, `[batch, 2 x encoder_hidden]`.
    pub summary: Tensor,
}

impl Encoded {
    /// The same encodings for the batch rows `rows` (i64), e.g. one sentence repeated per beam.
    pub fn index_select(&self, rows: &Tensor) -> Encoded {
        Encoded {
            memory: self.memory.index_select(0, rows),
            keys: self.keys.as_ref().map(|k| k.index_select(0, rows)),
            mask: self.mask.index_select(0, rows),
            summary: self.summary.index_select(0, rows),
        }
    }
}

/// What the decoder carries from one step to the next.
#[derive(Debug)]
pub struct DecoderState {
    /// The recurrent state.
    pub rnn: State,
}

/// One decoder step's result.
#[derive(Debug)]
pub struct Step {
    /// Scores of the next token, `[batch, tgt_vocab]`.
    pub logits: Tensor,
    /// Attention weights over the source, `[batch, src_len]` (zeros without attention).
    pub attention: Tensor,
    /// The state after the step.
    pub state: DecoderState,
}

enum Attention {
    None,
    Bahdanau { query: Linear, key: Linear, v: Linear },
    Luong { key: Linear },
}

/// Encoder, attention and decoder.
pub struct Seq2Seq {
    spec: ModelSpec,
    src_embed: tch::nn::Embedding,
    tgt_embed: tch::nn::Embedding,
    forward_rnn: Recurrent,
    backward_rnn: Recurrent,
    bridge: Linear,
    attention: Attention,
    decoder: Recurrent,
    readout: Option<Linear>,
    /// The output projection `[tgt_vocab, features]` (the target embedding when tied) and bias.
    out_weight: Tensor,
    out_bias: Tensor,
}

impl std::fmt::Debug for Seq2Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Seq2Seq({:?})", self.spec)
    }
}

fn linear_no_bias(vs: tch::nn::Path, inputs: i64, outputs: i64) -> Linear {
    let config = LinearConfig { ws_init: nn::pytorch_init(inputs), bs_init: None, bias: false };
    tch::nn::linear(vs, inputs, outputs, config)
}

impl Seq2Seq {
    /// Creates the parameters under `vs` (PyTorch's default initialisations).
    pub fn new(vs: &tch::nn::Path, spec: ModelSpec) -> Seq2Seq {
        let (e, he, hd, m) =
            (spec.embedding, spec.encoder_hidden, spec.decoder_hidden, spec.memory());
        let rnn = RecurrentConfig { layers: spec.layers, dropout: spec.dropout, bias: true };
        let attention = match spec.attention {
            AttentionKind::None => Attention::None,
            AttentionKind::Bahdanau => Attention::Bahdanau {
                query: linear_no_bias(vs / "attn_query", hd, spec.attention_dim),
                key: nn::linear_pytorch(vs / "attn_key", m, spec.attention_dim),
                v: linear_no_bias(vs / "attn_v", spec.attention_dim, 1),
            },
            AttentionKind::Luong => {
                Attention::Luong { key: linear_no_bias(vs / "attn_key", m, hd) }
            }
        };
        let features = hd + m + e;
        let readout =
            (spec.readout > 0).then(|| nn::linear_pytorch(vs / "readout", features, spec.readout));
        let projected = if spec.readout > 0 { spec.readout } else { features };
        // Tied, the matrix also scores tokens: N(0, 1/e) keeps the first logits near zero
        // (PyTorch's N(0, 1) would start them with a spread of about sqrt(e)).
        let stdev = if spec.tie_embeddings { 1.0 / (e as f64).sqrt() } else { 1.0 };
        let tgt_init = tch::nn::Init::Randn { mean: 0.0, stdev };
        let tgt_embed = tch::nn::embedding(
            vs / "tgt_embed",
            spec.tgt_vocab,
            e,
            tch::nn::EmbeddingConfig { ws_init: tgt_init, ..Default::default() },
        );
        let (out_weight, out_bias) = if spec.tie_embeddings {
            assert_eq!(projected, e, "tied embeddings need readout == embedding");
            let bias = (vs / "out").zeros("bias", &[spec.tgt_vocab]);
            (tgt_embed.ws.shallow_clone(), bias)
        } else {
            let out = nn::linear_pytorch(vs / "out", projected, spec.tgt_vocab);
            (out.ws, out.bs.expect("linear_pytorch has a bias"))
        };
        let decoder_input = match spec.attention {
            AttentionKind::Luong => e,
            AttentionKind::None | AttentionKind::Bahdanau => e + m,
        };
        Seq2Seq {
            spec,
            src_embed: tch::nn::embedding(vs / "src_embed", spec.src_vocab, e, Default::default()),
            tgt_embed,
            forward_rnn: Recurrent::new(&(vs / "enc_fwd"), spec.cell, e, he, rnn),
            backward_rnn: Recurrent::new(&(vs / "enc_bwd"), spec.cell, e, he, rnn),
            bridge: nn::linear_pytorch(vs / "bridge", m, spec.layers * hd),
            attention,
            decoder: Recurrent::new(&(vs / "decoder"), spec.cell, decoder_input, hd, rnn),
            readout,
            out_weight,
            out_bias,
        }
    }

    /// Its shape.
    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    /// Reads source ids `[batch, src_len]` (padded with [`crate::tokenize::PAD`] after each
    /// sentence) of sentences `lengths` long (each at least 1).
    pub fn encode(&self, src: &Tensor, lengths: &[i64], train: bool) -> Encoded {
        let (batch, len) = src.size2().expect("source ids are [batch, len]");
        let device = src.device();
        // reverse[b, j] = lengths[b] - 1 - j inside the sentence, j on the padding: reading
        // through it gives each sentence backwards with its padding still at the end.
        let mut reverse = Vec::with_capacity((batch * len) as usize);
        for &l in lengths {
            reverse.extend((0..len).map(|j| if j < l { l - 1 - j } else { j }));
        }
        let reverse = Tensor::from_slice(&reverse).view([batch, len]).to(device);
        let last = Tensor::from_slice(&lengths.iter().map(|l| l - 1).collect::<Vec<_>>())
            .to(device)
            .view([batch, 1]);

        let x = nn::dropout(&self.src_embed.forward(src), self.spec.dropout, train);
        let along = |t: &Tensor, index: &Tensor| {
            let width = t.size()[2];
            t.gather(1, &index.unsqueeze(-1).expand([batch, -1, width], false), false)
        };
        let (forward, _) = self.forward_rnn.forward(&x, None, train);
        let (backward_reversed, _) = self.backward_rnn.forward(&along(&x, &reverse), None, train);
        let backward = along(&backward_reversed, &reverse);
        let memory = Tensor::cat(&[&forward, &backward], 2);
        let summary = Tensor::cat(
            &[
                along(&forward, &last).squeeze_dim(1),
                along(&backward_reversed, &last).squeeze_dim(1),
            ],
            1,
        );
        let keys = match &self.attention {
            Attention::None => None,
            Attention::Bahdanau { key, .. } | Attention::Luong { key } => Some(memory.apply(key)),
        };
        let mask = Tensor::arange(len, (Kind::Int64, device))
            .unsqueeze(0)
            .lt_tensor(&Tensor::from_slice(lengths).to(device).unsqueeze(1));
        Encoded { memory, keys, mask, summary }
    }

    /// The decoder's first state.
    pub fn initial_state(&self, encoded: &Encoded) -> DecoderState {
        let batch = encoded.summary.size()[0];
        let h = encoded
            .summary
            .apply(&self.bridge)
            .tanh()
            .view([batch, self.spec.layers, self.spec.decoder_hidden])
            .transpose(0, 1)
            .contiguous();
        let c = (self.spec.cell == CellKind::Lstm).then(|| h.zeros_like());
        DecoderState { rnn: State { h, c } }
    }

    /// Attention of `queries: [batch, steps, q]` over the memory: weights `[batch, steps, src]`
    /// and contexts `[batch, steps, memory]`.
    fn attend(&self, queries: &Tensor, encoded: &Encoded) -> (Tensor, Tensor) {
        let keys = encoded.keys.as_ref().expect("attention has keys");
        let scores = match &self.attention {
            Attention::Bahdanau { query, v, .. } => {
                // [b, steps, 1, a] + [b, 1, src, a] -> [b, steps, src]
                (queries.apply(query).unsqueeze(2) + keys.unsqueeze(1))
                    .tanh()
                    .apply(v)
                    .squeeze_dim(-1)
            }
            Attention::Luong { .. } => queries.matmul(&keys.transpose(1, 2)),
            Attention::None => unreachable!("no attention, no scores"),
        };
        let masked =
            scores.masked_fill(&encoded.mask.logical_not().unsqueeze(1), f64::NEG_INFINITY);
        let weights = masked.softmax(-1, Kind::Float);
        let contexts = weights.matmul(&encoded.memory);
        (weights, contexts)
    }

    /// Teacher-forced decoding: `tgt_in: [batch, steps]` are the decoder's inputs (BOS, then the
    /// target shifted right). Returns logits `[batch, steps, tgt_vocab]` and attention weights
    /// `[batch, steps, src_len]`; the read-out is applied once to all steps.
    pub fn decode_teacher(
        &self,
        encoded: &Encoded,
        tgt_in: &Tensor,
        train: bool,
    ) -> (Tensor, Tensor) {
        let (batch, steps) = tgt_in.size2().expect("target ids are [batch, steps]");
        let src_len = encoded.memory.size()[1];
        let e = nn::dropout(&self.tgt_embed.forward(tgt_in), self.spec.dropout, train);
        let init = self.initial_state(encoded);
        let (states, contexts, weights) = match self.spec.attention {
            AttentionKind::None => {
                let c = encoded.summary.unsqueeze(1).expand([batch, steps, -1], false);
                let (s, _) =
                    self.decoder.forward(&Tensor::cat(&[&e, &c], 2), Some(&init.rnn), train);
                let w = Tensor::zeros([batch, steps, src_len], (Kind::Float, e.device()));
                (s, c, w)
            }
            AttentionKind::Luong => {
                let (s, _) = self.decoder.forward(&e, Some(&init.rnn), train);
                let (w, c) = self.attend(&s, encoded);
                (s, c, w)
            }
            AttentionKind::Bahdanau => {
                let mut state = init.rnn;
                let (mut ss, mut cs, mut ws) = (Vec::new(), Vec::new(), Vec::new());
                for t in 0..steps {
                    let (w, c) = self.attend(&state.output().unsqueeze(1), encoded);
                    let input = Tensor::cat(&[&e.select(1, t), &c.squeeze_dim(1)], 1);
                    state = self.decoder.step(&input, &state, train);
                    ss.push(state.output());
                    cs.push(c.squeeze_dim(1));
                    ws.push(w.squeeze_dim(1));
                }
                (Tensor::stack(&ss, 1), Tensor::stack(&cs, 1), Tensor::stack(&ws, 1))
            }
        };
        (self.read_out(&states, &contexts, &e, train), weights)
    }

    fn read_out(
        &self,
        states: &Tensor,
        contexts: &Tensor,
        embedded: &Tensor,
        train: bool,
    ) -> Tensor {
        let features = Tensor::cat(&[states, contexts, embedded], -1);
        let mut x = nn::dropout(&features, self.spec.dropout, train);
        if let Some(readout) = &self.readout {
            x = nn::dropout(&x.apply(readout).tanh(), self.spec.dropout, train);
        }
        x.linear(&self.out_weight, Some(&self.out_bias))
    }

    /// One decoding step from the previous tokens `prev: [batch]` (i64). Equal to
    /// [`Seq2Seq::decode_teacher`] run over the same tokens one at a time.
    pub fn step(
        &self,
        encoded: &Encoded,
        prev: &Tensor,
        state: &DecoderState,
        train: bool,
    ) -> Step {
        let e = nn::dropout(&self.tgt_embed.forward(prev), self.spec.dropout, train);
        let batch = e.size()[0];
        let src_len = encoded.memory.size()[1];
        let (rnn, context, attention) = match self.spec.attention {
            AttentionKind::None => {
                let c = encoded.summary.shallow_clone();
                let rnn = self.decoder.step(&Tensor::cat(&[&e, &c], 1), &state.rnn, train);
                (rnn, c, Tensor::zeros([batch, src_len], (Kind::Float, e.device())))
            }
            AttentionKind::Luong => {
                let rnn = self.decoder.step(&e, &state.rnn, train);
                let (w, c) = self.attend(&rnn.output().unsqueeze(1), encoded);
                (rnn, c.squeeze_dim(1), w.squeeze_dim(1))
            }
            AttentionKind::Bahdanau => {
                let (w, c) = self.attend(&state.rnn.output().unsqueeze(1), encoded);
                let c = c.squeeze_dim(1);
                let rnn = self.decoder.step(&Tensor::cat(&[&e, &c], 1), &state.rnn, train);
                (rnn, c, w.squeeze_dim(1))
            }
        };
        let logits = self.read_out(&rnn.output(), &context, &e, train);
        Step { logits, attention, state: DecoderState { rnn } }
    }

    /// Number of trainable numbers of a model of this shape.
    pub fn parameters(spec: ModelSpec) -> i64 {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let _guard = tch::no_grad_guard();
        let _ = Seq2Seq::new(&vs.root(), spec);
        vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64
    }
}
