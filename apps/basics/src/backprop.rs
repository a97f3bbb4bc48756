//! `backprop`: the chain rule plus dynamic programming. The talk's graph differentiated by the
//! hand-written [`Tape`], checked against libtorch's autograd and finite differences; then
//! random graphs of thousands of nodes, where one backward walk costs a constant multiple of the
//! forward pass while differentiating input by input costs a forward pass per input.

use crate::tape::{Op, Tape, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::{Kind, Tensor};

/// The talk's example, `c = a + b, d = b + 1, y = c * d`, recorded at `(a, b)`.
/// Returns the tape and the nodes `[a, b, c, d, y]`.
pub fn talks_graph(a: f64, b: f64) -> (Tape, [Var; 5]) {
    let mut t = Tape::new();
    let (a, b) = (t.input(a), t.input(b));
    let c = t.add(a, b);
    let d = t.add_const(b, 1.0);
    let y = t.mul(c, d);
    (t, [a, b, c, d, y])
}

/// A random expression of `inputs` inputs and about `inputs * depth` operations: layer after
/// layer, each node combines two nodes of the previous layer by `+` or `*` and squashes the result
/// with `sin` or `tanh` (so values stay in [-1, 1]); the output is the sum of the last layer.
/// Returns the tape and its output.
pub fn random_graph(inputs: usize, depth: usize, seed: u64) -> (Tape, Var) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = Tape::new();
    let mut layer: Vec<Var> = (0..inputs).map(|_| t.input(rng.random_range(-1.0..1.0))).collect();
    for _ in 0..depth {
        layer = (0..inputs)
            .map(|j| {
                // Each node reads its own column and a random one, so every input reaches the end.
                let other = layer[rng.random_range(0..inputs)];
                let mixed = if rng.random_bool(0.5) {
                    t.add(layer[j], other)
                } else {
                    t.mul(layer[j], other)
                };
                if rng.random_bool(0.5) {
                    t.sin(mixed)
                } else {
                    t.tanh(mixed)
                }
            })
            .collect();
    }
    let mut y = layer[0];
    for &v in &layer[1..] {
        y = t.add(y, v);
    }
    (t, y)
}

/// `d output / d node` for every listed node, by libtorch's autograd on the same expression
/// rebuilt from scalar tensors (double precision).
pub fn autograd(tape: &Tape, output: Var, wrt: &[Var]) -> Vec<f64> {
    let mut values: Vec<Tensor> = Vec::with_capacity(output.index() + 1);
    for node in &tape.nodes()[..=output.index()] {
        let x = |v: Var| &values[v.index()];
        let value = match node.op {
            Op::Input => Tensor::from(node.value).to_kind(Kind::Double).set_requires_grad(true),
            Op::Add(a, b) => x(a) + x(b),
            Op::Mul(a, b) => x(a) * x(b),
            Op::AddConst(a, c) => x(a) + c,
            Op::Sin(a) => x(a).sin(),
            Op::Tanh(a) => x(a).tanh(),
        };
        values.push(value);
    }
    let targets: Vec<&Tensor> = wrt.iter().map(|v| &values[v.index()]).collect();
    Tensor::run_backward(&[&values[output.index()]], &targets, false, false)
        .iter()
        .map(|g| g.double_value(&[]))
        .collect()
}

/// How far the tape's gradients are from two independent references, over the listed nodes.
#[derive(Clone, Debug)]
pub struct Agreement {
    /// The tape's `d output / d node` for each listed node.
    pub tape: Vec<f64>,
    /// libtorch's autograd values, in the same order.
    pub autograd_values: Vec<f64>,
    /// Central finite differences, in the same order.
    pub fd_values: Vec<f64>,
    /// Largest absolute difference from libtorch's autograd.
    pub autograd: f64,
    /// Largest absolute difference from central finite differences.
    pub finite_differences: f64,
    /// Largest absolute difference from forward mode (inputs only; 0 when none are listed).
    pub forward_mode: f64,
}

/// Checks the tape's gradients of `output` with respect to `wrt` against libtorch's autograd,
/// central finite differences (step `h`) and forward mode.
pub fn check(tape: &mut Tape, output: Var, wrt: &[Var], h: f64) -> Agreement {
    let grads = tape.gradients(output);
    let ours: Vec<f64> = wrt.iter().map(|&v| grads.wrt(v)).collect();
    let max_diff =
        |theirs: &[f64]| ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let torch = autograd(tape, output, wrt);
    let fd: Vec<f64> = wrt.iter().map(|&v| tape.finite_difference(output, v, h)).collect();
    let inputs = tape.inputs();
    let tangents = tape.tangents(output);
    let forward_mode = wrt
        .iter()
        .filter_map(|v| {
            inputs.iter().position(|i| i == v).map(|k| (grads.wrt(*v) - tangents[k]).abs())
        })
        .fold(0.0, f64::max);
    Agreement {
        autograd: max_diff(&torch),
        finite_differences: max_diff(&fd),
        forward_mode,
        tape: ours,
        autograd_values: torch,
        fd_values: fd,
    }
}

/// The cost of differentiating one random graph, in node visits and in time.
#[derive(Clone, Debug)]
pub struct Cost {
    /// Inputs of the graph.
    pub inputs: usize,
    /// Nodes on the tape.
    pub nodes: usize,
    /// Nodes visited by forward mode: every node once per input.
    pub forward_mode_visits: usize,
    /// Seconds per forward pass.
    pub forward_s: f64,
    /// Seconds per backward walk (all gradients).
    pub reverse_s: f64,
    /// Seconds for forward mode (all gradients).
    pub forward_mode_s: f64,
}

impl Cost {
    /// Backward walk time over forward pass time.
    pub fn reverse_ratio(&self) -> f64 {
        self.reverse_s / self.forward_s
    }

    /// Forward-mode time over forward pass time.
    pub fn forward_mode_ratio(&self) -> f64 {
        self.forward_mode_s / self.forward_s
    }
}

/// Seconds per call of `f`, from enough calls to fill `min_s` seconds.
fn time_per_call(min_s: f64, mut f: impl FnMut()) -> f64 {
    let mut calls = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..calls {
            f();
        }
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= min_s {
            return elapsed / calls as f64;
        }
        calls *= 2;
    }
}

/// Measures [`Cost`] on a random graph of `inputs` inputs and `depth` layers, timing each
/// method for at least `min_s` seconds.
pub fn cost(inputs: usize, depth: usize, seed: u64, min_s: f64) -> Cost {
    let (mut tape, y) = random_graph(inputs, depth, seed);
    let x: Vec<f64> = tape.inputs().iter().map(|&v| tape.value(v)).collect();
    let nodes = tape.len();
    // The backward walk visits each node once; forward mode each node once per input.
    let forward_mode_visits = inputs * nodes;
    let forward_s = time_per_call(min_s, || {
        std::hint::black_box(tape.forward(&x));
    });
    let reverse_s = time_per_call(min_s, || {
        std::hint::black_box(tape.gradients(y));
    });
    let forward_mode_s = time_per_call(min_s, || {
        std::hint::black_box(tape.tangents(y));
    });
    Cost { inputs, nodes, forward_mode_visits, forward_s, reverse_s, forward_mode_s }
}
