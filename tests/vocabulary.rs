//! The talk's thesis, end to end on the core crate: modules composed into a graph and trained
//! by gradient descent on one scalar loss learn what no single module can.

use dl_core::checkpoint::{self, Sidecar};
use dl_core::device::{rng_guard, seed_step};
use dl_core::nn::{self, Activation, CellKind, Recurrent, RecurrentConfig};
use dl_core::optim::{Optimizer, OptimizerConfig, Schedule};
use harness::run::Run;
use integration_tests::{scalar, xor};
use tch::nn::{Module, VarStore};
use tch::{Device, Kind, Tensor};

/// Trains `fc2(act(fc1(x)))` on XOR and returns the final loss.
fn train_xor(act: Activation, hidden: i64, steps: u64) -> f64 {
    let vs = VarStore::new(Device::Cpu);
    let fc1 = nn::linear(vs.root() / "fc1", 2, hidden, Default::default());
    let fc2 = nn::linear(vs.root() / "fc2", hidden, 2, Default::default());
    let sgd = OptimizerConfig::Sgd {
        lr: 0.5,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    let mut opt = Optimizer::new(sgd, &vs).unwrap();
    let (x, y) = xor();
    let mut loss = f64::NAN;
    for _ in 0..steps {
        opt.zero_grad();
        let l = act.apply(&x.apply(&fc1)).apply(&fc2).cross_entropy_for_logits(&y);
        l.backward();
        opt.step();
        loss = scalar(&l);
    }
    loss
}

#[test]
fn a_hidden_layer_with_a_nonlinearity_learns_xor_and_a_linear_one_cannot() {
    let _rng = rng_guard();
    tch::manual_seed(0);
    for act in [Activation::Relu, Activation::Tanh, Activation::Sigmoid] {
        let loss = train_xor(act, 8, 500);
        assert!(loss < 0.05, "{act}: loss {loss}");
    }
    // Without a non-linearity the two layers are one linear map: XOR stays at chance, ln 2.
    let loss = train_xor(Activation::Identity, 8, 500);
    assert!(loss > 0.6, "identity: loss {loss}");
}

/// Sequences of random bits where the label is the first bit: the network must carry it
/// through `len` steps of distractors.
fn first_bit_task(batch: i64, len: i64) -> (Tensor, Tensor) {
    let bits = Tensor::randint(2, [batch, len], (Kind::Int64, Device::Cpu));
    let xs = bits.to_kind(Kind::Float).unsqueeze(-1) * 2.0 - 1.0; // [batch, len, 1]
    (xs, bits.select(1, 0))
}

#[test]
fn an_lstm_remembers_what_it_saw_first() {
    let _rng = rng_guard();
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let lstm =
        Recurrent::new(&(vs.root() / "lstm"), CellKind::Lstm, 1, 16, RecurrentConfig::default());
    let head = nn::linear(vs.root() / "head", 16, 2, Default::default());
    let mut opt = Optimizer::new(OptimizerConfig::adam(0.01), &vs).unwrap();
    for _ in 0..300 {
        let (xs, ys) = first_bit_task(32, 12);
        let (out, _) = lstm.forward(&xs, None, true);
        let loss = out.select(1, -1).apply(&head).cross_entropy_for_logits(&ys);
        opt.zero_grad();
        loss.backward();
        opt.step();
    }
    let (xs, ys) = first_bit_task(500, 12);
    let (out, _) = lstm.forward(&xs, None, false);
    let accuracy = scalar(
        &out.select(1, -1)
            .apply(&head)
            .argmax(-1, false)
            .eq_tensor(&ys)
            .to_kind(Kind::Float)
            .mean(Kind::Float),
    );
    assert!(accuracy > 0.95, "accuracy {accuracy}");
}

#[test]
fn a_training_loop_with_run_directory_checkpoints_and_plots() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"hidden": 8, "lr": 0.1});
    let mut run = Run::create("vocabulary", Some(&dir.path().join("run")), &config).unwrap();
    tch::manual_seed(2);
    let vs = VarStore::new(Device::Cpu);
    let fc1 = nn::linear(vs.root() / "fc1", 2, 8, Default::default());
    let fc2 = nn::linear(vs.root() / "fc2", 8, 2, Default::default());
    let mut opt = Optimizer::new(OptimizerConfig::adamw(0.1), &vs).unwrap();
    let schedule = Schedule::Cosine { warmup: 10, total: 200, min_factor: 0.0 };
    let (x, y) = xor();
    for step in 0..200u64 {
        seed_step(2, step);
        opt.set_lr(schedule.lr(0.1, step));
        opt.zero_grad();
        let loss = x.apply(&fc1).relu().apply(&fc2).cross_entropy_for_logits(&y);
        loss.backward();
        opt.step();
        if step % 20 == 19 {
            run.log(step + 1, &[("train_loss", scalar(&loss)), ("lr", opt.lr())]).unwrap();
        }
    }
    let mut sidecar = Sidecar::new("vocabulary", 200, 1, 2, &config).unwrap();
    sidecar.metrics.insert(
        "train_loss".into(),
        scalar(&fc2.forward(&fc1.forward(&x).relu()).cross_entropy_for_logits(&y)),
    );
    checkpoint::save(&run.checkpoint("best"), &vs, Some(&opt), &sidecar).unwrap();
    let plots = run.plot().unwrap();
    assert_eq!(plots.len(), 2);

    // The run directory is what inference commands take: it resolves to the best checkpoint.
    let path = checkpoint::resolve(run.dir()).unwrap();
    let mut fresh = VarStore::new(Device::Cpu);
    let g1 = nn::linear(fresh.root() / "fc1", 2, 8, Default::default());
    let g2 = nn::linear(fresh.root() / "fc2", 8, 2, Default::default());
    let loaded = checkpoint::load(&path, "vocabulary", &mut fresh, None).unwrap();
    let accuracy = scalar(
        &x.apply(&g1)
            .relu()
            .apply(&g2)
            .argmax(-1, false)
            .eq_tensor(&y)
            .to_kind(Kind::Float)
            .mean(Kind::Float),
    );
    assert_eq!(accuracy, 1.0);
    assert!(loaded.metrics["train_loss"] < 0.05, "{:?}", loaded.metrics);
}
