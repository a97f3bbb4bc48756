//! A hand-written reverse-mode automatic differentiation of scalar expressions: the whole of
//! backpropagation in a couple of hundred lines.
//!
//! Building an expression records it on a [`Tape`]: one [`Node`] per operation, in the order
//! the operations ran, which is a topological order of the graph (every node comes after its
//! inputs). [`Tape::gradients`] then walks the tape once, backwards. Each node's gradient
//! `dy/dnode` (its *adjoint*) is complete by the time the walk reaches it, because every node
//! that reads it comes later on the tape and has already been visited; the walk multiplies it by
//! the node's local derivatives and adds the products into the node's inputs. That is the chain
//! rule plus dynamic programming: the gradient of a node is computed once, cached, and reused by
//! every path through it, so one backward walk costs a constant multiple of the forward pass,
//! whatever the number of inputs.
//!
//! [`Tape::tangents`] is the naive alternative for comparison: forward-mode differentiation, one
//! pass over the whole graph per input.

/// A handle on a node of a [`Tape`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(usize);

impl Var {
    /// Position of the node on its tape.
    pub fn index(self) -> usize {
        self.0
    }
}

/// The operation that computed a node, with the nodes it read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// A value the expression is differentiated with respect to.
    Input,
    /// `a + b`
    Add(Var, Var),
    /// `a * b`
    Mul(Var, Var),
    /// `a + c` for a constant `c`
    AddConst(Var, f64),
    /// `sin(a)`
    Sin(Var),
    /// `tanh(a)`
    Tanh(Var),
}

/// One recorded operation and the value it produced.
#[derive(Clone, Debug)]
pub struct Node {
    /// What computed it.
    pub op: Op,
    /// Its value in the last forward pass.
    pub value: f64,
}

/// The record of an expression, in evaluation order.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
}

/// `dy/dnode` for every node of a tape, from one backward walk.
#[derive(Clone, Debug)]
pub struct Gradients {
    adjoints: Vec<f64>,
}

impl Gradients {
    /// `dy/dv`.
    pub fn wrt(&self, v: Var) -> f64 {
        self.adjoints[v.0]
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    /// Number of nodes recorded.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The recorded nodes, in evaluation order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The inputs, in the order they were created.
    pub fn inputs(&self) -> Vec<Var> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].op == Op::Input).map(Var).collect()
    }

    /// The value of `v` in the last forward pass.
    pub fn value(&self, v: Var) -> f64 {
        self.nodes[v.0].value
    }

    fn push(&mut self, op: Op) -> Var {
        let value = self.eval(op, |v| self.nodes[v.0].value);
        self.nodes.push(Node { op, value });
        Var(self.nodes.len() - 1)
    }

    /// A new input with value `x`.
    pub fn input(&mut self, x: f64) -> Var {
        self.nodes.push(Node { op: Op::Input, value: x });
        Var(self.nodes.len() - 1)
    }

    /// Records `a + b`.
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.push(Op::Add(a, b))
    }

    /// Records `a * b`.
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.push(Op::Mul(a, b))
    }

    /// Records `a + c`.
    pub fn add_const(&mut self, a: Var, c: f64) -> Var {
        self.push(Op::AddConst(a, c))
    }

    /// Records `sin(a)`.
    pub fn sin(&mut self, a: Var) -> Var {
        self.push(Op::Sin(a))
    }

    /// Records `tanh(a)`.
    pub fn tanh(&mut self, a: Var) -> Var {
        self.push(Op::Tanh(a))
    }

    /// The value of `op` given the values of its inputs (`Input` keeps its own value: callers
    /// handle it).
    fn eval(&self, op: Op, value: impl Fn(Var) -> f64) -> f64 {
        match op {
            Op::Input => f64::NAN,
            Op::Add(a, b) => value(a) + value(b),
            Op::Mul(a, b) => value(a) * value(b),
            Op::AddConst(a, c) => value(a) + c,
            Op::Sin(a) => value(a).sin(),
            Op::Tanh(a) => value(a).tanh(),
        }
    }

    /// Re-runs the forward pass with new input values (in the order of [`Tape::inputs`]) and
    /// returns the number of nodes evaluated.
    ///
    /// # Panics
    /// If `inputs` has the wrong length.
    pub fn forward(&mut self, inputs: &[f64]) -> usize {
        self.forward_nudged(inputs, None)
    }

    /// The forward pass, with `h` added to node `nudge.0`'s value right after it is computed:
    /// the primitive of finite differences with respect to any node, intermediate ones included.
    fn forward_nudged(&mut self, inputs: &[f64], nudge: Option<(Var, f64)>) -> usize {
        let mut next_input = inputs.iter();
        for i in 0..self.nodes.len() {
            let op = self.nodes[i].op;
            let mut value = match op {
                Op::Input => *next_input.next().expect("one value per input"),
                _ => self.eval(op, |v| self.nodes[v.0].value),
            };
            if let Some((v, h)) = nudge {
                if v.0 == i {
                    value += h;
                }
            }
            self.nodes[i].value = value;
        }
        assert!(next_input.next().is_none(), "one value per input");
        self.nodes.len()
    }

    /// Every `d output / d node` by one backward walk from `output` (reverse mode).
    pub fn gradients(&self, output: Var) -> Gradients {
        let mut adjoint = vec![0.0; output.0 + 1];
        adjoint[output.0] = 1.0;
        for i in (0..=output.0).rev() {
            // Complete: everything that reads node i sits later on the tape, already visited.
            let g = adjoint[i];
            let value = self.nodes[i].value;
            let x = |v: Var| self.nodes[v.0].value;
            match self.nodes[i].op {
                Op::Input => {}
                Op::Add(a, b) => {
                    adjoint[a.0] += g;
                    adjoint[b.0] += g;
                }
                Op::Mul(a, b) => {
                    adjoint[a.0] += g * x(b);
                    adjoint[b.0] += g * x(a);
                }
                Op::AddConst(a, _) => adjoint[a.0] += g,
                Op::Sin(a) => adjoint[a.0] += g * x(a).cos(),
                Op::Tanh(a) => adjoint[a.0] += g * (1.0 - value * value),
            }
        }
        Gradients { adjoints: adjoint }
    }

    /// `d output / d input` for every input by forward mode: one pass over the graph per input,
    /// carrying `d node / d input` forward. The derivatives are in the order of
    /// [`Tape::inputs`].
    pub fn tangents(&self, output: Var) -> Vec<f64> {
        let inputs = self.inputs();
        let mut dot = vec![0.0; output.0 + 1];
        let mut derivatives = Vec::with_capacity(inputs.len());
        for &wrt in &inputs {
            for i in 0..=output.0 {
                let x = |v: Var| self.nodes[v.0].value;
                dot[i] = match self.nodes[i].op {
                    Op::Input => f64::from(u8::from(i == wrt.0)),
                    Op::Add(a, b) => dot[a.0] + dot[b.0],
                    Op::Mul(a, b) => dot[a.0] * x(b) + x(a) * dot[b.0],
                    Op::AddConst(a, _) => dot[a.0],
                    Op::Sin(a) => x(a).cos() * dot[a.0],
                    Op::Tanh(a) => (1.0 - self.nodes[i].value.powi(2)) * dot[a.0],
                };
            }
            derivatives.push(dot[output.0]);
        }
        derivatives
    }

    /// `d output / d v` by central finite differences with step `h`: two forward passes with
    /// `v` nudged by `±h`. The tape's values are left as they were.
    pub fn finite_difference(&mut self, output: Var, v: Var, h: f64) -> f64 {
        let inputs: Vec<f64> = self.inputs().iter().map(|&i| self.value(i)).collect();
        self.forward_nudged(&inputs, Some((v, h)));
        let plus = self.value(output);
        self.forward_nudged(&inputs, Some((v, -h)));
        let minus = self.value(output);
        self.forward(&inputs);
        (plus - minus) / (2.0 * h)
    }
}
