//! `backprop`: the chain rule plus dynamic programming. The talk's graph differentiated by the
//! hand-written [`Tape`], checked against libtorch's autograd and finite differences; then
//! random graphs of thousands of nodes, where one backward walk costs a constant multiple of the
//! forward pass while differentiating input by input costs a forward pass per input.

use crate::tape::{Op, Tape, Var};
use crate::{plot_path, wrote, Common};
use anyhow::ensure;
use harness::plot::{line_chart, Series};
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

// The experiment as a command: its flags, and what it prints and draws.

/// The flags of this experiment's command.
#[derive(clap::Args)]
pub struct BackpropArgs {
    /// Value of `a` in the talk's graph.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub a: f64,
    /// Value of `b` in the talk's graph.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub b: f64,
    /// Input counts of the random graphs timed.
    #[arg(long, value_delimiter = ',', default_value = "10,30,100,300,1000")]
    pub inputs: Vec<usize>,
    /// Layers of each random graph (nodes = about 2 x inputs x depth).
    #[arg(long, default_value_t = 10)]
    pub depth: usize,
    /// Minimum milliseconds each timing runs for.
    #[arg(long, default_value_t = 100.0)]
    pub min_ms: f64,
    #[command(flatten)]
    pub common: Common,
}

/// Runs the experiment: prints what it measured and draws its plots.
pub fn report(a: &BackpropArgs) -> anyhow::Result<()> {
    ensure!(!a.inputs.is_empty() && a.inputs.iter().all(|&n| n >= 1), "--inputs must be positive");
    ensure!(a.depth >= 1, "--depth must be at least 1");
    ensure!(a.min_ms > 0.0 && a.min_ms.is_finite(), "--min-ms must be positive");
    ensure!(a.a.is_finite() && a.b.is_finite(), "--a and --b must be finite numbers");

    let (mut tape, nodes) = talks_graph(a.a, a.b);
    let [_, _, c, d, y] = nodes;
    println!("The talk's graph: c = a + b, d = b + 1, y = c * d");
    println!(
        "at a = {}, b = {}: c = {}, d = {}, y = {}",
        a.a,
        a.b,
        tape.value(c),
        tape.value(d),
        tape.value(y)
    );
    let check = self::check(&mut tape, y, &nodes, 1e-6);
    println!("\n  node   dy/dnode (tape)   libtorch autograd   finite differences");
    for (k, name) in ["a", "b", "c", "d", "y"].iter().enumerate() {
        println!(
            "  {name:<4}   {:>15.10}   {:>17.10}   {:>18.10}",
            check.tape[k], check.autograd_values[k], check.fd_values[k]
        );
    }
    println!(
        "  largest difference from the tape: autograd {:.1e}, finite differences {:.1e}, \
         forward mode {:.1e}",
        check.autograd, check.finite_differences, check.forward_mode
    );

    let n = *a.inputs.iter().max().expect("non-empty");
    let (mut big, out) = random_graph(n, a.depth, a.common.seed);
    let inputs = big.inputs();
    let check = self::check(&mut big, out, &inputs, 1e-6);
    println!(
        "\nA random graph of {} nodes ({n} inputs, {} layers of + or *, each followed by sin or \
         tanh):\nall {n} gradients by one backward walk; largest difference from autograd {:.1e}, \
         from finite differences {:.1e}, from forward mode {:.1e}",
        big.len(),
        a.depth,
        check.autograd,
        check.finite_differences,
        check.forward_mode
    );

    println!(
        "\nCost of all the gradients, in forward passes (timed, {} ms or more each):",
        a.min_ms
    );
    println!(
        "  inputs    nodes   forward pass   backward walk (x forward)   one pass per input (x forward)"
    );
    let mut costs = Vec::new();
    for &inputs in &a.inputs {
        let cost = cost(inputs, a.depth, a.common.seed, a.min_ms / 1000.0);
        println!(
            "  {:>6} {:>8} {:>11.1} us {:>14.1} us ({:>5.2}x) {:>17.1} us ({:>7.1}x)",
            cost.inputs,
            cost.nodes,
            cost.forward_s * 1e6,
            cost.reverse_s * 1e6,
            cost.reverse_ratio(),
            cost.forward_mode_s * 1e6,
            cost.forward_mode_ratio()
        );
        costs.push(cost);
    }
    println!(
        "node visits: the backward walk visits each node once; forward mode visits each node once \
         per input ({} x {} = {} for the largest graph).",
        costs.last().expect("non-empty").inputs,
        costs.last().expect("non-empty").nodes,
        costs.last().expect("non-empty").forward_mode_visits
    );
    let path = plot_path(&a.common, "backprop-cost.png")?;
    let series = |name: &str, f: &dyn Fn(&Cost) -> f64| Series {
        name: name.into(),
        points: costs.iter().map(|c| (c.inputs as f64, f(c))).collect(),
    };
    line_chart(
        &path,
        "Time for all gradients, in forward passes",
        "inputs of the graph",
        &[
            series("backward walk (reverse mode)", &|c| c.reverse_ratio()),
            series("one pass per input (forward mode)", &|c| c.forward_mode_ratio()),
        ],
    )?;
    wrote(&path);
    Ok(())
}
