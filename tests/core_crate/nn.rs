//! The modules: exact values with constant weights, PyTorch golden values, gradient checks.

use super::{assert_close, golden, tensor, values};
use dl_core::nn::{self, gradcheck, Activation, CellKind, ModuleT, Recurrent, RecurrentConfig};
use tch::nn::{Module, VarStore};
use tch::{Device, Kind, Tensor};

fn fill(t: &Tensor, value: f64) {
    let _guard = tch::no_grad_guard();
    let _ = t.shallow_clone().fill_(value);
}

#[test]
fn linear_with_constant_weights_gives_hand_computed_values() {
    let vs = VarStore::new(Device::Cpu);
    let layer = nn::linear(vs.root() / "fc", 2, 3, Default::default());
    fill(&layer.ws, 0.5);
    fill(layer.bs.as_ref().unwrap(), 0.1);
    let y = layer.forward(&tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    // 0.5 * (1 + 2) + 0.1 = 1.6 and 0.5 * (3 + 4) + 0.1 = 3.6 in every output.
    assert_close(&y, &[1.6, 1.6, 1.6, 3.6, 3.6, 3.6], 1e-6);
    assert_eq!(vs.variables().len(), 2);
    assert!(vs.variables().contains_key("fc.weight") && vs.variables().contains_key("fc.bias"));
}

#[test]
fn conv2d_with_constant_weights_sums_each_window() {
    let vs = VarStore::new(Device::Cpu);
    let conv = nn::conv2d(vs.root(), 1, 1, 3, Default::default());
    fill(&conv.ws, 1.0);
    fill(conv.bs.as_ref().unwrap(), 0.0);
    let x = Tensor::arange(16, (Kind::Float, Device::Cpu)).view([1, 1, 4, 4]);
    // Windows of 0..16 laid out 4x4: 0+1+2+4+5+6+8+9+10 = 45, then +9 per column, +36 per row.
    assert_close(&conv.forward(&x), &[45.0, 54.0, 81.0, 90.0], 1e-6);
}

#[test]
fn max_pool_keeps_the_largest_of_each_window() {
    let x = Tensor::arange(16, (Kind::Float, Device::Cpu)).view([1, 1, 4, 4]);
    assert_close(&nn::max_pool2d(&x, 2), &[5.0, 7.0, 13.0, 15.0], 0.0);
}

#[test]
fn dropout_zeroes_about_p_and_rescales_the_rest() {
    let _rng = dl_core::device::rng_guard();
    tch::manual_seed(0);
    let x = Tensor::ones([20_000], (Kind::Float, Device::Cpu));
    assert!(nn::dropout(&x, 0.3, false).equal(&x), "eval mode is the identity");
    let y = values(&nn::dropout(&x, 0.3, true));
    let zeros = y.iter().filter(|v| **v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.3).abs() < 0.02, "dropped fraction {zeros}");
    assert!(y.iter().all(|v| *v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
}

#[test]
fn batch_norm_normalises_in_training_and_uses_running_stats_in_eval() {
    let vs = VarStore::new(Device::Cpu);
    let bn = nn::batch_norm1d(vs.root(), 2);
    let x = tensor(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 6.0, 60.0], &[4, 2]);
    let y = bn.forward_t(&x, true);
    let mean = y.mean_dim(0, false, Kind::Float);
    let var = y.var_dim(0, false, false);
    assert_close(&mean, &[0.0, 0.0], 1e-6);
    assert_close(&var, &[1.0, 1.0], 1e-4);
    // running_mean = 0.9 * 0 + 0.1 * batch mean (3 and 30).
    assert_close(&bn.running_mean, &[0.3, 3.0], 1e-6);
    // In eval mode the running statistics are used, so the output is not normalised.
    let y_eval = bn.forward_t(&x, false);
    assert!(y_eval.mean_dim(0, false, Kind::Float).abs().max().double_value(&[]) > 1.0);
}

#[test]
fn embedding_looks_rows_up() {
    let vs = VarStore::new(Device::Cpu);
    let emb = nn::embedding(vs.root(), 4, 3, Default::default());
    {
        let _guard = tch::no_grad_guard();
        emb.ws.shallow_clone().copy_(&Tensor::arange(12, (Kind::Float, Device::Cpu)).view([4, 3]));
    }
    let ids = Tensor::from_slice(&[2i64, 0]);
    assert_close(&emb.forward(&ids), &[6.0, 7.0, 8.0, 0.0, 1.0, 2.0], 0.0);
}

#[test]
fn activations_have_their_defining_values() {
    let x = tensor(&[-2.0, 0.0, 3.0], &[3]);
    assert_close(&Activation::Relu.apply(&x), &[0.0, 0.0, 3.0], 0.0);
    assert_close(
        &Activation::Sigmoid.apply(&x),
        &[1.0 / (1.0 + 2f64.exp()), 0.5, 1.0 / (1.0 + (-3f64).exp())],
        1e-6,
    );
    assert_close(&Activation::Tanh.apply(&x), &[(-2f64).tanh(), 0.0, 3f64.tanh()], 1e-6);
    assert_close(&Activation::Identity.apply(&x), &[-2.0, 0.0, 3.0], 0.0);
    for a in [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::Identity] {
        assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
    }
    let err = "swish".parse::<Activation>().unwrap_err().to_string();
    assert!(err.contains("\"swish\""), "{err}");
}

#[test]
fn softmax_is_a_distribution_invariant_to_shifts_and_stable() {
    let x = tensor(&[1.0, 2.0, 3.0, -1.0, 0.0, 1.0], &[2, 3]);
    let p = nn::softmax(&x, -1);
    assert_close(&p.sum_dim_intlist(-1, false, Kind::Float), &[1.0, 1.0], 1e-6);
    // Both rows differ by a constant shift, so they get the same distribution.
    assert_close(&p.get(0), &values(&p.get(1)), 1e-6);
    let e = [1f64.exp(), 2f64.exp(), 3f64.exp()];
    let z: f64 = e.iter().sum();
    assert_close(&p.get(0), &[e[0] / z, e[1] / z, e[2] / z], 1e-6);
    assert_close(&nn::log_softmax(&x, -1), &values(&p.log()), 1e-6);
    // Logits far beyond exp's range: no overflow, no NaN.
    let big = tensor(&[1000.0, 0.0], &[2]);
    assert_close(&nn::softmax(&big, 0), &[1.0, 0.0], 1e-6);
    assert_close(&nn::log_softmax(&big, 0), &[0.0, -1000.0], 1e-6);
}

/// A double-precision input that requires gradients.
fn input(shape: &[i64], seed: i64) -> Tensor {
    let n: i64 = shape.iter().product();
    (Tensor::arange(n, (Kind::Double, Device::Cpu)) * 0.731 + seed as f64)
        .sin()
        .view(shape)
        .set_requires_grad(true)
}

/// A scalar that depends on every output element with a different weight, so gradients of
/// all of them are checked (a plain sum would hide a permutation of the outputs).
fn weigh(y: &Tensor) -> Tensor {
    let w = (Tensor::arange(y.numel() as i64, (Kind::Double, Device::Cpu)) * 0.37)
        .cos()
        .view(y.size().as_slice());
    (y * w).sum(Kind::Double)
}

#[track_caller]
fn check(f: impl Fn() -> Tensor, wrt: &[Tensor]) {
    let report = gradcheck(f, wrt, 1e-6);
    assert!(report.elements > 0);
    assert!(report.passes(1e-6), "{report:?}");
}

#[test]
fn backward_passes_match_finite_differences() {
    let _rng = dl_core::device::rng_guard();
    tch::manual_seed(1);
    let mut vs = VarStore::new(Device::Cpu);
    let root = vs.root();
    let fc = nn::linear(&root / "fc", 4, 3, Default::default());
    let conv = nn::conv2d(&root / "conv", 2, 3, 2, Default::default());
    let bn = nn::batch_norm2d(&root / "bn", 2);
    let emb = nn::embedding(&root / "emb", 5, 3, Default::default());
    vs.double();

    let x = input(&[2, 4], 0);
    check(|| weigh(&fc.forward(&x)), &with(&x, params_of(&vs, "fc")));
    let img = input(&[2, 2, 4, 4], 1);
    check(|| weigh(&conv.forward(&img)), &with(&img, params_of(&vs, "conv")));
    check(|| weigh(&nn::max_pool2d(&img, 2)), &[img.shallow_clone()]);
    check(|| weigh(&bn.forward_t(&img, true)), &with(&img, params_of(&vs, "bn")));
    let ids = Tensor::from_slice(&[3i64, 1, 3]);
    check(|| weigh(&emb.forward(&ids)), &params_of(&vs, "emb"));
    // Keep ReLU's inputs away from its kink at 0, where no derivative exists.
    let base = input(&[6], 2).detach();
    let away = (&base + base.sign() * 0.3).set_requires_grad(true);
    for a in [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::Identity] {
        check(|| weigh(&a.apply(&away)), &[away.shallow_clone()]);
    }
    let logits = input(&[2, 5], 3);
    check(|| weigh(&nn::softmax(&logits, -1)), &[logits.shallow_clone()]);
    check(|| weigh(&nn::log_softmax(&logits, -1)), &[logits.shallow_clone()]);
}

/// `x` followed by `rest`: the tensors a gradient check perturbs.
fn with(x: &Tensor, rest: Vec<Tensor>) -> Vec<Tensor> {
    std::iter::once(x.shallow_clone()).chain(rest).collect()
}

/// The trainable tensors of `vs` whose name starts with `prefix`, sorted by name.
fn params_of(vs: &VarStore, prefix: &str) -> Vec<Tensor> {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, t)| n.starts_with(prefix) && t.requires_grad())
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, t)| t).collect()
}

#[test]
fn gradcheck_catches_a_wrong_backward_pass() {
    // detach() hides the second use of x from autograd: the gradient is 2x instead of 3x^2.
    let x = input(&[3], 4);
    let wrong = gradcheck(|| (&x * &x * x.detach()).sum(Kind::Double), &[x.shallow_clone()], 1e-6);
    assert!(!wrong.passes(1e-3), "{wrong:?}");
    let right = gradcheck(|| (&x * &x * &x).sum(Kind::Double), &[x.shallow_clone()], 1e-6);
    assert!(right.passes(1e-6), "{right:?}");
}

const KINDS: [CellKind; 3] = [CellKind::Rnn, CellKind::Lstm, CellKind::Gru];

fn recurrent(kind: CellKind, layers: i64, double: bool) -> (VarStore, Recurrent) {
    let mut vs = VarStore::new(Device::Cpu);
    let config = RecurrentConfig { layers, ..Default::default() };
    let rnn = Recurrent::new(&vs.root(), kind, 3, 4, config);
    if double {
        vs.double();
    }
    (vs, rnn)
}

#[test]
fn recurrent_matches_pytorch_names_and_values() {
    for (kind, (name, output, final_h)) in KINDS.into_iter().zip(golden::RECURRENT) {
        assert_eq!(kind.to_string(), name);
        let (vs, rnn) = recurrent(kind, 2, false);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        let mut expected: Vec<String> =
            golden::RECURRENT_NAMES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(names, expected);
        // Weights as the script sets them: sin(0.37 k + i) for the i-th parameter.
        {
            let _guard = tch::no_grad_guard();
            for (i, p) in rnn.parameters().iter().enumerate() {
                let v = (Tensor::arange(p.numel() as i64, (Kind::Float, Device::Cpu)) * 0.37
                    + i as f64)
                    .sin();
                p.shallow_clone().copy_(&v.view(p.size().as_slice()));
            }
        }
        let x = (Tensor::arange(18, (Kind::Float, Device::Cpu)) * 0.29).cos().view([2, 3, 3]);
        let (out, state) = rnn.forward(&x, None, false);
        assert_eq!(out.size(), [2, 3, 4]);
        assert_close(&out, &output, 1e-5);
        assert_close(&state.h, &final_h, 1e-5);
        assert_eq!(state.c.is_some(), kind == CellKind::Lstm);
    }
}

#[test]
fn one_step_and_whole_sequence_agree() {
    let _rng = dl_core::device::rng_guard();
    tch::manual_seed(2);
    for kind in KINDS {
        let (_vs, rnn) = recurrent(kind, 2, false);
        let xs = Tensor::randn([3, 5, 3], (Kind::Float, Device::Cpu));
        let start =
            rnn.forward(&Tensor::randn([3, 2, 3], (Kind::Float, Device::Cpu)), None, false).1;
        let (out, end) = rnn.forward(&xs, Some(&start), false);
        let mut state = start;
        for t in 0..5 {
            state = rnn.step(&xs.select(1, t), &state, false);
            assert_close(&state.output(), &values(&out.select(1, t)), 1e-5);
        }
        assert_close(&state.h, &values(&end.h), 1e-5);
        if let (Some(c1), Some(c2)) = (&state.c, &end.c) {
            assert_close(c1, &values(c2), 1e-5);
        }
    }
}

#[test]
fn state_carried_across_batches_equals_one_long_sequence() {
    let _rng = dl_core::device::rng_guard();
    tch::manual_seed(3);
    for kind in KINDS {
        let (_vs, rnn) = recurrent(kind, 2, false);
        let xs = Tensor::randn([2, 6, 3], (Kind::Float, Device::Cpu));
        let (whole, _) = rnn.forward(&xs, None, false);
        let (first, state) = rnn.forward(&xs.narrow(1, 0, 4), None, false);
        let (second, _) = rnn.forward(&xs.narrow(1, 4, 2), Some(&state.detach()), false);
        assert_close(&Tensor::cat(&[first, second], 1), &values(&whole), 1e-6);
    }
}

#[test]
fn recurrent_backward_matches_finite_differences() {
    let _rng = dl_core::device::rng_guard();
    tch::manual_seed(4);
    for kind in KINDS {
        let (vs, rnn) = recurrent(kind, 2, true);
        let xs = input(&[2, 3, 3], 5);
        let seq = || weigh(&rnn.forward(&xs, None, false).0);
        check(seq, &with(&xs, params_of(&vs, "")));
        let x0 = input(&[2, 3], 6);
        let one = || weigh(&rnn.step(&x0, &rnn.zero_state(2), false).h);
        check(one, &[x0.shallow_clone()]);
    }
}

#[test]
fn recurrent_without_bias_and_dropout_between_layers() {
    let _rng = dl_core::device::rng_guard();
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let config = RecurrentConfig { layers: 3, dropout: 0.5, bias: false };
    let rnn = Recurrent::new(&vs.root(), CellKind::Lstm, 3, 4, config);
    assert_eq!(vs.variables().len(), 6, "two weight matrices per layer, no biases");
    let xs = Tensor::randn([2, 4, 3], (Kind::Float, Device::Cpu));
    let (eval1, _) = rnn.forward(&xs, None, false);
    let (eval2, _) = rnn.forward(&xs, None, false);
    assert!(eval1.equal(&eval2), "no dropout in eval mode");
    let (train, _) = rnn.forward(&xs, None, true);
    assert!(!train.allclose(&eval1, 1e-6, 1e-6, false), "dropout acts while training");
}

#[test]
fn recurrent_initialisation_is_pytorch_uniform() {
    let _rng = dl_core::device::rng_guard();
    tch::manual_seed(6);
    let vs = VarStore::new(Device::Cpu);
    let _ = Recurrent::new(&vs.root(), CellKind::Gru, 10, 64, Default::default());
    let bound = 1.0 / 8.0;
    for (name, t) in vs.variables() {
        let (lo, hi) = (t.min().double_value(&[]), t.max().double_value(&[]));
        assert!(lo >= -bound && hi <= bound, "{name}: [{lo}, {hi}]");
        assert!(lo < -0.9 * bound && hi > 0.9 * bound, "{name} should fill the range");
    }
}

#[test]
fn pytorch_initialisation_draws_within_one_over_root_fan_in() {
    let vs = VarStore::new(Device::Cpu);
    let fc = nn::linear_pytorch(vs.root() / "fc", 400, 300);
    let conv = nn::conv2d_pytorch(vs.root() / "conv", 16, 32, 5, Default::default());
    let tch_default = nn::linear(vs.root() / "tch", 400, 300, Default::default());
    let max = |t: &Tensor| t.abs().max().double_value(&[]);
    let std = |t: &Tensor| t.std(true).double_value(&[]);
    // Uniform in ±b has standard deviation b / sqrt(3).
    for (w, b, fan_in) in
        [(&fc.ws, fc.bs.as_ref().unwrap(), 400.0), (&conv.ws, conv.bs.as_ref().unwrap(), 400.0)]
    {
        let bound = 1.0 / f64::sqrt(fan_in);
        assert!(max(w) <= bound && max(w) > 0.99 * bound, "{} vs {bound}", max(w));
        assert!((std(w) / (bound / 3f64.sqrt()) - 1.0).abs() < 0.02, "{}", std(w));
        assert!(max(b) <= bound && max(b) > 0.5 * bound);
    }
    // tch's own default is sqrt(6) times wider (Kaiming-uniform with the ReLU gain).
    assert!(max(&tch_default.ws) > 2.0 / f64::sqrt(400.0));
}
