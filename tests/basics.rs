//! The basics app: each experiment's claim, asserted on small sizes.

use basics::activations::{self, ActivationsConfig, Init};
use basics::approx::{self, FitConfig, Target};
use basics::backprop;
use basics::collapse::{self, CollapseConfig};
use basics::softmax;
use dl_core::device::rng_guard;
use dl_core::nn::Activation;
use integration_tests::fixtures;
use tch::Device;

#[test]
fn backprop_gives_the_talks_graph_its_textbook_derivatives() {
    // c = a + b, d = b + 1, y = c * d at a = 2, b = 1: dy/da = d = 2, dy/db = d + c = 5,
    // dy/dc = d = 2, dy/dd = c = 3.
    let (mut tape, nodes) = backprop::talks_graph(2.0, 1.0);
    let y = nodes[4];
    assert_eq!(tape.value(y), 6.0);
    let check = backprop::check(&mut tape, y, &nodes, 1e-6);
    assert_eq!(check.tape, [2.0, 5.0, 2.0, 3.0, 1.0]);
    assert!(check.autograd < 1e-12, "autograd differs by {}", check.autograd);
    assert!(
        check.finite_differences < 1e-6,
        "finite differences differ by {}",
        check.finite_differences
    );
    assert_eq!(check.forward_mode, 0.0);
    assert_eq!(tape.value(y), 6.0, "finite differences leave the values as they were");
}

#[test]
fn backprop_on_thousands_of_nodes_matches_autograd_finite_differences_and_forward_mode() {
    let (mut tape, y) = backprop::random_graph(100, 12, 3);
    assert!(tape.len() > 2000, "{} nodes", tape.len());
    let inputs = tape.inputs();
    assert_eq!(inputs.len(), 100);
    let check = backprop::check(&mut tape, y, &inputs, 1e-6);
    assert!(check.autograd < 1e-10, "autograd differs by {}", check.autograd);
    assert!(
        check.finite_differences < 1e-6,
        "finite differences differ by {}",
        check.finite_differences
    );
    assert!(check.forward_mode < 1e-10, "forward mode differs by {}", check.forward_mode);
    // Every input reaches the output: no gradient is trivially zero.
    assert!(check.tape.iter().all(|g| *g != 0.0));
    // Along the direction s = sign(gradient), the output changes at rate sum |g_i|.
    let x: Vec<f64> = inputs.iter().map(|&v| tape.value(v)).collect();
    let mut along = |h: f64| -> f64 {
        let moved: Vec<f64> = x.iter().zip(&check.tape).map(|(x, g)| x + h * g.signum()).collect();
        tape.forward(&moved);
        tape.value(y)
    };
    let h = 1e-5;
    let rate = (along(h) - along(-h)) / (2.0 * h);
    let expected: f64 = check.tape.iter().map(|g| g.abs()).sum();
    assert!((rate - expected).abs() < 1e-6 * expected, "rate {rate}, sum |g| {expected}");
}

#[test]
fn a_wider_hidden_layer_approximates_better() {
    let _rng = rng_guard();
    let config = FitConfig {
        activation: Activation::Relu,
        points: 64,
        steps: 1500,
        lr: 0.01,
        seed: 0,
        device: Device::Cpu,
    };
    let mse = |target, width| approx::fit(target, width, &config).unwrap().mse;
    let sin: Vec<f64> = [2, 16, 64].iter().map(|&w| mse(Target::Sin, w)).collect();
    assert!(
        sin[1] < sin[0] / 1.5 && sin[2] < sin[1] / 10.0,
        "sin errors by width 2, 16, 64: {sin:?}"
    );
    assert!(sin[2] < 1e-3, "width 64 fits sin to {}", sin[2]);
    let step = [mse(Target::Step, 2), mse(Target::Step, 64)];
    assert!(step[1] < step[0], "step errors by width 2, 64: {step:?}");
}

#[test]
fn linear_layers_collapse_into_one_matrix_and_relu_layers_do_not() {
    let _rng = rng_guard();
    let r = collapse::run(&CollapseConfig { depth: 8, width: 16, samples: 1024, seed: 1 });
    assert!(r.max_abs_output > 0.1, "outputs did not vanish: {}", r.max_abs_output);
    assert!(r.max_abs_diff < 1e-5, "stack and matrix differ by {}", r.max_abs_diff);
    assert!(r.linear_residual < 1e-9, "linear stack residual {}", r.linear_residual);
    assert!(r.relu_residual > 0.1, "ReLU stack residual {}", r.relu_residual);
    // The plotted slice: the matrix traces the linear stack exactly.
    assert!(r.slice.iter().all(|row| (row[1] - row[2]).abs() < 1e-5));
}

fn digits() -> datasets::ImageSet {
    datasets::idx::load_pair(
        &fixtures().join("mnist-t10k-600-images-idx3-ubyte.gz"),
        &fixtures().join("mnist-t10k-600-labels-idx1-ubyte.gz"),
        &datasets::registry::MNIST_CLASSES,
    )
    .unwrap()
}

#[test]
fn relu_gets_gradients_to_the_first_layer_that_sigmoid_loses() {
    let _rng = rng_guard();
    let set = digits();
    let (x, y) = activations::flatten(&set, Device::Cpu);
    let (train, test) = (
        (x.narrow(0, 0, 500), y.narrow(0, 0, 500)),
        (x.narrow(0, 500, 100), y.narrow(0, 500, 100)),
    );
    let config = ActivationsConfig {
        depth: 10,
        width: 64,
        init: Init::He,
        grad_batch: 256,
        steps: 150,
        batch: 32,
        lr: 0.05,
        momentum: 0.0,
        seed: 0,
        device: Device::Cpu,
    };
    let run = |act| {
        activations::measure(act, (&train.0, &train.1), (&test.0, &test.1), 10, &config).unwrap()
    };
    let (sigmoid, relu) = (run(Activation::Sigmoid), run(Activation::Relu));
    let ratio = relu.first_layer_grad() / sigmoid.first_layer_grad();
    assert!(ratio > 100.0, "ReLU / sigmoid first-layer gradient: {ratio}");
    // Sigmoid's gradient shrinks layer by layer on the way back to the input.
    assert!(sigmoid.grad_norms[0] < sigmoid.grad_norms[9] / 100.0, "{:?}", sigmoid.grad_norms);
    // And so its training goes nowhere in the steps where ReLU's learns.
    assert!(
        relu.final_loss() < sigmoid.final_loss() - 0.5,
        "relu {} sigmoid {}",
        relu.final_loss(),
        sigmoid.final_loss()
    );
    assert!(relu.test_accuracy > 0.5, "ReLU held-out accuracy {}", relu.test_accuracy);
}

#[test]
fn softmax_with_the_maximum_subtracted_survives_large_logits() {
    let cases = softmax::cases();
    let reference = &cases[0].stable;
    for case in &cases {
        assert!(case.stable_vs_libtorch < 1e-6, "{case:?}");
        for (a, b) in case.stable.iter().zip(reference) {
            assert!((a - b).abs() < 1e-6, "softmax is shift-invariant: {case:?}");
        }
        assert!((case.stable.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
    assert!(cases[0].naive.iter().all(|p| p.is_finite()), "ordinary logits are fine either way");
    assert!(cases[1].naive.iter().all(|p| p.is_nan()), "exp(1003) overflows: {:?}", cases[1]);
    assert!(cases[2].naive.iter().all(|p| p.is_nan()), "exp(-997) underflows: {:?}", cases[2]);
}

#[test]
fn softmax_gradients_in_closed_form_match_autograd() {
    let z = [0.3, -1.2, 2.5, 0.0, 1.1, -0.7];
    let g = [1.0, -0.5, 0.25, 2.0, -1.5, 0.1];
    let check = softmax::check_gradients(&z, &g, 2);
    assert!(check.backward < 1e-12, "{check:?}");
    assert!(check.jacobian < 1e-12, "{check:?}");
    assert!(check.cross_entropy < 1e-12, "{check:?}");
    // The Jacobian's rows sum to zero: probabilities always sum to one.
    let j = softmax::jacobian(&z);
    for row in j.chunks(z.len()) {
        assert!(row.iter().sum::<f64>().abs() < 1e-15);
    }
}
