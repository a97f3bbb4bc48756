//! Optimizers: hand-computed steps, PyTorch golden values, schedules, clipping, exact resume.

use super::{assert_close, golden, tensor, values};
use dl_core::checkpoint::{self, Sidecar};
use dl_core::nn::{self, ModuleT};
use dl_core::optim::{clip_grad_norm, Optimizer, OptimizerConfig, Schedule};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A VarStore holding one parameter `w` with the given values.
fn store(w: &[f64]) -> (VarStore, Tensor) {
    let vs = VarStore::new(Device::Cpu);
    let p = vs.root().var_copy("w", &tensor(w, &[w.len() as i64]));
    (vs, p)
}

#[test]
fn sgd_steps_by_hand() {
    let (vs, w) = store(&[1.0]);
    let config = OptimizerConfig::Sgd {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    let mut opt = Optimizer::new(config, &vs).unwrap();
    for expected in [0.8, 0.42] {
        opt.zero_grad();
        (&w * 2.0).sum(Kind::Float).backward(); // gradient 2
        opt.step();
        // Step 1: buffer = 2, w = 1 - 0.1 * 2. Step 2: buffer = 0.9 * 2 + 2 = 3.8, w = 0.8 - 0.38.
        assert_close(&w, &[expected], 1e-6);
    }
    assert_eq!(opt.steps(), 2);
}

#[test]
fn adams_first_step_moves_each_weight_by_the_learning_rate() {
    let (vs, w) = store(&[1.0, -2.0, 3.0]);
    let mut opt = Optimizer::new(OptimizerConfig::adam(0.01), &vs).unwrap();
    (&w * tensor(&[5.0, -0.001, 100.0], &[3])).sum(Kind::Float).backward();
    opt.step();
    // m / sqrt(v) after bias correction is g / |g| = sign(g), whatever the gradient's size.
    assert_close(&w, &[0.99, -1.99, 2.99], 1e-5);
}

#[test]
fn optimizers_match_pytorch() {
    let configs = [
        OptimizerConfig::sgd(0.1),
        OptimizerConfig::Sgd {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.1,
            nesterov: false,
            weight_decay: 0.01,
        },
        OptimizerConfig::Sgd {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 0.01,
        },
        OptimizerConfig::adam(0.01),
        OptimizerConfig::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
            amsgrad: true,
        },
        OptimizerConfig::AdamW {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
            amsgrad: false,
        },
        OptimizerConfig::AdamW {
            lr: 0.01,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 0.01,
            amsgrad: true,
        },
        OptimizerConfig::adadelta(1.0),
        OptimizerConfig::Adadelta { lr: 0.5, rho: 0.8, eps: 1e-5, weight_decay: 0.1 },
    ];
    // Both ways of updating: libtorch's multi-tensor kernels (the default) and one parameter
    // at a time.
    for (config, (name, w_expected, b_expected)) in configs
        .into_iter()
        .flat_map(|c| [(c.clone(), true), (c, false)])
        .zip(golden::OPTIMIZERS.iter().flat_map(|g| [g, g]))
    {
        let (config, fused) = config;
        let name = format!("{name} (fused: {fused})");
        // The problem of optimizer_problem() in tools/golden/core.py.
        let vs = VarStore::new(Device::Cpu);
        let w0 = Tensor::arange(6, (Kind::Float, Device::Cpu)) * 0.1 - 0.2;
        let w = vs.root().var_copy("w", &w0.view([2, 3]));
        let b = vs.root().var_copy("b", &tensor(&[0.1, -0.2, 0.3], &[3]));
        let x = (Tensor::arange(8, (Kind::Float, Device::Cpu)) * 0.25 - 1.0).view([4, 2]);
        let mut opt = Optimizer::new(config, &vs).unwrap();
        opt.set_fused(fused);
        for _ in 0..5 {
            opt.zero_grad();
            (x.matmul(&w) + &b).square().sum(Kind::Float).backward();
            opt.step();
        }
        assert_eq!(opt.steps(), 5);
        for (t, expected) in [(&w, &w_expected[..]), (&b, &b_expected[..])] {
            let got = values(t);
            for (g, e) in got.iter().zip(expected) {
                assert!((g - e).abs() < 2e-6, "{name}: got {got:?}, PyTorch {expected:?}");
            }
        }
    }
}

#[test]
fn parameters_without_gradients_are_left_alone() {
    let vs = VarStore::new(Device::Cpu);
    let used = vs.root().var_copy("used", &tensor(&[1.0], &[1]));
    let unused = vs.root().var_copy("unused", &tensor(&[1.0], &[1]));
    let mut opt = Optimizer::new(OptimizerConfig::adamw(0.1), &vs).unwrap();
    used.sum(Kind::Float).backward();
    opt.step();
    assert_close(&unused, &[1.0], 0.0); // not even weight decay touches it
    assert!(values(&used)[0] < 1.0);
    assert_eq!(opt.state_tensors().len(), 2, "exp_avg and exp_avg_sq of `used` only");
}

#[test]
fn absurd_hyper_parameters_are_refused_with_the_value() {
    let vs = VarStore::new(Device::Cpu);
    let cases = [
        (OptimizerConfig::sgd(0.0), "learning rate"),
        (OptimizerConfig::sgd(f64::NAN), "learning rate"),
        (
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 0.0,
                dampening: 0.0,
                nesterov: true,
                weight_decay: 0.0,
            },
            "Nesterov",
        ),
        (
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 1.5,
                dampening: 0.0,
                nesterov: false,
                weight_decay: 0.0,
            },
            "momentum",
        ),
        (
            OptimizerConfig::Adam {
                lr: 0.1,
                beta1: 1.0,
                beta2: 0.9,
                eps: 1e-8,
                weight_decay: 0.0,
                amsgrad: false,
            },
            "beta1",
        ),
        (
            OptimizerConfig::AdamW {
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.9,
                eps: 0.0,
                weight_decay: 0.0,
                amsgrad: false,
            },
            "eps",
        ),
        (
            OptimizerConfig::AdamW {
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.9,
                eps: 1e-8,
                weight_decay: -1.0,
                amsgrad: false,
            },
            "weight decay",
        ),
    ];
    for (config, word) in cases {
        let err = Optimizer::new(config.clone(), &vs).unwrap_err().to_string();
        assert!(err.contains(word), "{config:?}: {err}");
    }
}

#[test]
fn schedules_give_hand_computed_rates() {
    let step = Schedule::Step { every: 10, gamma: 0.5 };
    assert_eq!([0, 9, 10, 25].map(|s| step.lr(0.1, s)), [0.1, 0.1, 0.05, 0.025]);
    let cosine = Schedule::Cosine { warmup: 4, total: 14, min_factor: 0.1 };
    let f = |s| cosine.factor(s);
    assert_eq!([f(0), f(1), f(3)], [0.25, 0.5, 1.0]);
    assert!((f(4) - 1.0).abs() < 1e-12); // decay starts at the top
    assert!((f(9) - (0.1 + 0.9 * 0.5)).abs() < 1e-12); // halfway: cos(pi/2) = 0
    assert_eq!([f(14), f(1000)], [0.1, 0.1]);
    assert_eq!(Schedule::Constant.lr(0.3, 12345), 0.3);
    assert!(Schedule::Step { every: 0, gamma: 0.5 }.validate().is_err());
    assert!(Schedule::Cosine { warmup: 20, total: 10, min_factor: 0.0 }.validate().is_err());
    assert!(cosine.validate().is_ok());
}

#[test]
fn clipping_scales_the_global_norm_down_only() {
    let (vs, w) = store(&[0.0, 0.0]);
    let opt = Optimizer::new(OptimizerConfig::sgd(0.1), &vs).unwrap();
    (&w * tensor(&[3.0, 4.0], &[2])).sum(Kind::Float).backward();
    let norm = clip_grad_norm(opt.parameters(), 10.0);
    assert!((norm - 5.0).abs() < 1e-6);
    assert_close(&w.grad(), &[3.0, 4.0], 1e-6); // under the limit: untouched
    let norm = clip_grad_norm(opt.parameters(), 1.0);
    assert!((norm - 5.0).abs() < 1e-6);
    assert_close(&w.grad(), &[0.6, 0.8], 1e-5);
}

/// A small network with dropout, so that resuming exactly also needs the random state.
#[derive(Debug)]
struct Net {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Net {
    fn new(vs: &VarStore) -> Net {
        Net {
            fc1: nn::linear(vs.root() / "fc1", 4, 16, Default::default()),
            fc2: nn::linear(vs.root() / "fc2", 16, 3, Default::default()),
        }
    }
}

impl ModuleT for Net {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        nn::dropout(&xs.apply(&self.fc1).relu(), 0.3, train).apply(&self.fc2)
    }
}

/// Trains from `vs`'s state over steps `from..to`, reseeding per step as the apps do.
fn train(net: &Net, opt: &mut Optimizer, schedule: &Schedule, from: u64, to: u64) {
    let x = (Tensor::arange(32, (Kind::Float, Device::Cpu)) * 0.3).sin().view([8, 4]);
    let y = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1]);
    for step in from..to {
        dl_core::device::seed_step(11, step);
        opt.set_lr(schedule.lr(opt.config().lr(), step));
        opt.zero_grad();
        net.forward_t(&x, true).cross_entropy_for_logits(&y).backward();
        clip_grad_norm(opt.parameters(), 1.0);
        opt.step();
    }
}

#[test]
fn a_resumed_run_continues_bit_identically() {
    if integration_tests::alone!(a_resumed_run_continues_bit_identically) {
        return;
    }
    let schedule = Schedule::Cosine { warmup: 2, total: 8, min_factor: 0.0 };
    for config in [
        OptimizerConfig::adamw(0.05),
        OptimizerConfig::adadelta(1.0),
        OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 1e-3,
        },
    ] {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let net = Net::new(&vs);
        let init = tempfile::tempdir().unwrap();
        let init_path = init.path().join("init.safetensors");
        checkpoint::write_tensors(&init_path, vs.variables().into_iter().collect()).unwrap();
        let mut opt = Optimizer::new(config.clone(), &vs).unwrap();
        train(&net, &mut opt, &schedule, 0, 8);
        let straight = vs.variables();

        // Same start, 3 steps, checkpoint, then fresh objects load it and do the other 5.
        let mut vs_a = VarStore::new(Device::Cpu);
        let net_a = Net::new(&vs_a);
        checkpoint::load_weights(&init_path, &mut vs_a).unwrap();
        let mut opt_a = Optimizer::new(config.clone(), &vs_a).unwrap();
        train(&net_a, &mut opt_a, &schedule, 0, 3);
        let ckpt = init.path().join("step3.safetensors");
        let sidecar = Sidecar::new("test", 3, 0, 11, &serde_json::json!({"hidden": 16})).unwrap();
        checkpoint::save(&ckpt, &vs_a, Some(&opt_a), &sidecar).unwrap();

        tch::manual_seed(999); // a different initialisation, overwritten by the checkpoint
        let mut vs_b = VarStore::new(Device::Cpu);
        let net_b = Net::new(&vs_b);
        let mut opt_b = Optimizer::new(config.clone(), &vs_b).unwrap();
        let loaded = checkpoint::load(&ckpt, "test", &mut vs_b, Some(&mut opt_b)).unwrap();
        assert_eq!(loaded.step, 3);
        assert_eq!(opt_b.steps(), 3);
        train(&net_b, &mut opt_b, &schedule, loaded.step, 8);

        for (name, t) in &straight {
            let resumed = &vs_b.variables()[name];
            assert!(t.equal(resumed), "{config:?}: {name} differs after resuming");
        }
        // And the comparison can fail: one step fewer gives different parameters.
        let mut vs_c = VarStore::new(Device::Cpu);
        let net_c = Net::new(&vs_c);
        let mut opt_c = Optimizer::new(config.clone(), &vs_c).unwrap();
        checkpoint::load(&ckpt, "test", &mut vs_c, Some(&mut opt_c)).unwrap();
        train(&net_c, &mut opt_c, &schedule, 3, 7);
        assert!(!straight["fc1.weight"].equal(&vs_c.variables()["fc1.weight"]));
    }
}

#[test]
fn optimizer_state_of_another_kind_is_refused() {
    let (vs, w) = store(&[1.0, 2.0]);
    let mut adam = Optimizer::new(OptimizerConfig::adam(0.1), &vs).unwrap();
    w.sum(Kind::Float).backward();
    adam.step();
    let mut sgd = Optimizer::new(OptimizerConfig::sgd(0.1), &vs).unwrap();
    let err = sgd.load_state(&adam.meta(), adam.state_tensors()).unwrap_err().to_string();
    assert!(err.contains("Adam"), "{err}");

    let mut other = Optimizer::new(OptimizerConfig::adam(0.1), &vs).unwrap();
    let mut tensors = adam.state_tensors();
    tensors.push(("nope.exp_avg".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu))));
    let err = other.load_state(&adam.meta(), tensors).unwrap_err().to_string();
    assert!(err.contains("nope.exp_avg"), "{err}");
}

#[test]
fn bf16_autocast_computes_products_in_bf16_and_keeps_weights_and_losses_in_fp32() {
    use dl_core::precision::Precision;
    let vs = VarStore::new(Device::Cpu);
    let w = vs.root().var("w", &[8, 4], tch::nn::Init::Const(0.5));
    let x = Tensor::ones([2, 8], (Kind::Float, Device::Cpu));
    let labels = Tensor::from_slice(&[1i64, 3]);
    let (logits, loss) = Precision::Bf16
        .autocast(Device::Cpu, || {
            let logits = x.matmul(&w);
            let loss = logits.log_softmax(-1, Kind::Float).nll_loss(&labels);
            (logits, loss)
        })
        .unwrap();
    // The product ran in bf16, the loss in fp32 (autocast's lists); the weight is untouched.
    assert_eq!((logits.kind(), loss.kind(), w.kind()), (Kind::BFloat16, Kind::Float, Kind::Float));
    assert!(!dl_core::shim::autocast_enabled(false).unwrap(), "the region ended");
    loss.backward();
    assert_eq!(w.grad().kind(), Kind::Float, "gradients reach the fp32 weight");
    // fp32 changes nothing; fp16 and unknown names are refused with a sentence.
    let plain = Precision::Fp32.autocast(Device::Cpu, || x.matmul(&w)).unwrap();
    assert_eq!(plain.kind(), Kind::Float);
    assert!("fp16".parse::<Precision>().unwrap_err().to_string().contains("loss scaling"));
    assert!("int8".parse::<Precision>().is_err());
    // A region survives a panic inside it: autocast is off afterwards.
    let caught = std::panic::catch_unwind(|| {
        Precision::Bf16.autocast(Device::Cpu, || panic!("inside")).unwrap();
    });
    assert!(caught.is_err() && !dl_core::shim::autocast_enabled(false).unwrap());
}
