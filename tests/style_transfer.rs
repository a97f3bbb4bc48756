//! style-transfer: the losses against hand-computed values, the weight decoder against a file
//! PyTorch wrote, the optimisation reducing the loss with a random VGG19, DeepDream raising its
//! objective, colours kept, runs that stop and resume exactly, and bad input refused. (L-BFGS on Rosenbrock and least squares is
//! tested in `dl_core::optim::lbfgs`.)

use datasets::torch_legacy::{self, Dtype};
use integration_tests::fixtures;
use std::ops::ControlFlow;
use std::path::Path;
use style_transfer::dream::{self, DreamSettings};
use style_transfer::model::{Pooling, Vgg19};
use style_transfer::train::{self, RunOptions, StyleConfig};
use style_transfer::transfer::{self, Init, Method, Settings, Targets};
use style_transfer::{data, infer, loss};
use tch::{Device, Kind, Tensor};

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

#[test]
fn gram_and_total_variation_match_hand_computed_values() {
    // Two channels of two pixels: F = [[1, 2], [3, 4]], F Fᵀ = [[5, 11], [11, 25]], divided by
    // c h w = 2 * 1 * 2 = 4.
    let f = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([1, 2, 1, 2]);
    assert_eq!(values(&loss::gram(&f)), [1.25, 2.75, 2.75, 6.25]);
    // One 2x2 channel [[1, 2], [4, 8]]: vertical differences 3 and 6 (mean square 22.5),
    // horizontal 1 and 4 (mean square 8.5).
    let image = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 8.0]).view([1, 1, 2, 2]);
    assert_eq!(values(&loss::total_variation(&image)), [31.0]);
    // A constant image has no variation; mse is the mean of squared differences.
    assert_eq!(
        values(&loss::total_variation(&Tensor::ones([1, 3, 5, 4], (Kind::Float, Device::Cpu)))),
        [0.0]
    );
    let (a, b) = (Tensor::from_slice(&[1.0f32, 2.0]), Tensor::from_slice(&[3.0f32, 2.0]));
    assert_eq!(values(&loss::mse(&a, &b)), [2.0]);
}

#[test]
fn the_legacy_torch_save_reader_decodes_a_file_pytorch_wrote_and_refuses_damage() {
    // tests/fixtures/torch_legacy.pt: see make_torch_legacy.py for the values.
    let bytes = std::fs::read(fixtures().join("torch_legacy.pt")).unwrap();
    let tensors = torch_legacy::read_tensor_dict(&bytes).unwrap();
    let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["layer_W_q", "layer_W_table", "layer_b"]);
    let (q, table, b) = (&tensors[0].1, &tensors[1].1, &tensors[2].1);
    assert_eq!((q.dtype, q.shape.as_slice()), (Dtype::U8, &[2, 1, 3, 3][..]));
    let expected_q: Vec<u8> = (0..18u32).map(|i| (i * 7 % 4) as u8).collect();
    assert_eq!(q.data, expected_q);
    assert_eq!(table.to_f32(), [-1.5, 0.25, 2.0, 1e-3]);
    // A transposed view: the reader follows the strides.
    assert_eq!(b.shape, [4, 3]);
    let expected_b: Vec<f32> =
        (0..4).flat_map(|c| (0..3).map(move |r| (r * 4 + c) as f32 / 8.0)).collect();
    assert_eq!(b.to_f32(), expected_b);

    // Truncated, a wrong magic number, an unknown opcode, trailing bytes.
    let err = torch_legacy::read_tensor_dict(&bytes[..bytes.len() - 5]).unwrap_err();
    assert!(err.contains("ends early"), "{err}");
    let mut bad = bytes.clone();
    bad[5] ^= 0xff; // inside the magic number
    let err = torch_legacy::read_tensor_dict(&bad).unwrap_err();
    assert!(err.contains("magic"), "{err}");
    let mut bad = bytes.clone();
    let at = bytes.windows(2).position(|w| w == [0x80, 0x02]).unwrap() + 2;
    bad[at] = 0xfe;
    assert!(torch_legacy::read_tensor_dict(&bad).unwrap_err().contains("opcode"));
    let mut bad = bytes.clone();
    bad.push(0);
    assert!(torch_legacy::read_tensor_dict(&bad).unwrap_err().contains("unexpected bytes"));
    assert!(torch_legacy::read_tensor_dict(b"").is_err());
}

#[test]
fn weights_round_trip_through_safetensors_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let random = Vgg19::random(Pooling::Max, Device::Cpu, 5);
    let path = dir.path().join("vgg.safetensors");
    // Write the random network in the fetched file's layout, then load it back.
    let tensors: Vec<(String, Tensor)> = random_weights(&random);
    Tensor::write_safetensors(&tensors, &path).unwrap();
    let loaded = Vgg19::load(&path, Pooling::Max, Device::Cpu).unwrap();
    let image = Tensor::rand([1, 3, 40, 32], (Kind::Float, Device::Cpu));
    let layers = ["relu3_1".to_string(), "conv1_2".to_string(), "pool5".to_string()];
    let (a, b) = tch::no_grad(|| {
        (random.features(&image, &layers).unwrap(), loaded.features(&image, &layers).unwrap())
    });
    assert_eq!(a[0].size(), [1, 256, 10, 8]);
    assert_eq!(a[1].size(), [1, 64, 40, 32]);
    assert_eq!(a[2].size(), [1, 512, 1, 1]);
    for (x, y) in a.iter().zip(&b) {
        assert!(x.equal(y));
    }

    // A file missing a layer, a file that is not safetensors, an unknown layer name.
    let partial: Vec<(String, Tensor)> =
        tensors.into_iter().filter(|(n, _)| n != "features.34.bias").collect();
    Tensor::write_safetensors(&partial, &path).unwrap();
    let err = Vgg19::load(&path, Pooling::Max, Device::Cpu).err().unwrap();
    assert!(format!("{err:#}").contains("features.34.bias"), "{err:#}");
    std::fs::write(&path, b"not weights").unwrap();
    assert!(Vgg19::load(&path, Pooling::Max, Device::Cpu).is_err());
    let err = random.features(&image, &["conv6_1".to_string()]).unwrap_err();
    assert!(err.to_string().contains("unknown VGG19 layer"), "{err}");
}

fn random_weights(vgg: &Vgg19) -> Vec<(String, Tensor)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.safetensors");
    vgg.save(&path).unwrap();
    Tensor::read_safetensors(&path).unwrap()
}

fn small_settings(optimizer: Method, iterations: usize) -> Settings {
    Settings {
        optimizer,
        lr: if optimizer == Method::Adam { 0.02 } else { 1.0 },
        history: 10,
        iterations,
        init: Init::Content,
        ..style_transfer::bench::settings()
    }
}

#[test]
fn ten_iterations_reduce_the_loss_with_a_random_vgg() {
    let vgg = Vgg19::random(Pooling::Avg, Device::Cpu, 1);
    tch::manual_seed(2);
    let content = Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu));
    let style = Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu)).square();
    for method in [Method::Lbfgs, Method::Adam] {
        let s = small_settings(method, 10);
        let targets = Targets::new(&vgg, &s, &content, &[(style.shallow_clone(), 1.0)]).unwrap();
        let before = tch::no_grad(|| targets.terms(&vgg, &s, &content)).unwrap().values()[3];
        let mut last = [f64::NAN; 4];
        let mut count = 0;
        let styles = [(style.shallow_clone(), 1.0)];
        let image = infer::stylise(&vgg, &s, &content, &styles, |it, _| {
            last = it.losses;
            count = it.iteration;
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(count, 10, "{method:?} stopped early");
        assert!(last[3] < 0.5 * before, "{method:?}: total loss {before} -> {}", last[3]);
        assert_eq!(image.size(), [1, 3, 32, 32]);
        let (lo, hi) = (image.min().double_value(&[]), image.max().double_value(&[]));
        assert!((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi));
    }
}

#[test]
fn blended_styles_average_their_gram_matrices() {
    let vgg = Vgg19::random(Pooling::Max, Device::Cpu, 3);
    let s = small_settings(Method::Adam, 1);
    let opts = (Kind::Float, Device::Cpu);
    let (content, a, b) = (
        Tensor::rand([1, 3, 32, 32], opts),
        Tensor::rand([1, 3, 32, 32], opts),
        Tensor::zeros([1, 3, 32, 32], opts),
    );
    // The style loss of an image against a 3:1 blend of A and B is that against the blended
    // Gram matrices, so a blend of A with itself is A.
    let style_loss = |styles: &[(Tensor, f64)]| {
        let t = Targets::new(&vgg, &s, &content, styles).unwrap();
        tch::no_grad(|| t.terms(&vgg, &s, &content)).unwrap().values()[1]
    };
    let alone = style_loss(&[(a.shallow_clone(), 1.0)]);
    let twice = style_loss(&[(a.shallow_clone(), 3.0), (a.shallow_clone(), 1.0)]);
    assert!((alone - twice).abs() <= 1e-4 * alone, "{alone} vs {twice}");
    let blend = style_loss(&[(a.shallow_clone(), 3.0), (b.shallow_clone(), 1.0)]);
    assert!((blend - alone).abs() > 1e-3 * alone);
    assert!(Targets::new(&vgg, &s, &content, &[(a, -1.0)]).is_err());
}

#[test]
fn preserving_colours_keeps_the_photos_chroma_and_the_results_luminance() {
    let opts = (Kind::Float, Device::Cpu);
    tch::manual_seed(4);
    let content = Tensor::rand([1, 3, 8, 8], opts) * 0.5 + 0.25;
    // The result of a grey image with the photo's luma is the photo itself.
    let luma = (content.narrow(1, 0, 1) * 0.299
        + content.narrow(1, 1, 1) * 0.587
        + content.narrow(1, 2, 1) * 0.114)
        .repeat([1, 3, 1, 1]);
    let back = data::keep_colors(&luma, &content);
    let error = (&back - &content).abs().max().double_value(&[]);
    assert!(error < 1e-5, "{error}");
}

#[test]
fn deepdream_raises_its_layers_activation() {
    let vgg = Vgg19::random(Pooling::Max, Device::Cpu, 6);
    let image = Tensor::rand([1, 3, 48, 40], (Kind::Float, Device::Cpu));
    let d = DreamSettings {
        layer: "relu3_1".into(),
        octaves: 2,
        octave_scale: 1.5,
        steps: 4,
        lr: 0.05,
        jitter: 4,
        seed: 1,
    };
    let mut objectives = Vec::new();
    let out = dream::dream(&vgg, &d, &image, |_, _, o, _| {
        objectives.push(o);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(out.size(), image.size());
    assert_eq!(objectives.len(), 8);
    // Within the last octave the activation grows step by step.
    assert!(objectives[7] > objectives[4], "{objectives:?}");
    // A caller that stops after the third step gets the image so far, at the photo's size.
    let mut steps = 0;
    let stopped = dream::dream(&vgg, &d, &image, |_, _, _, _| {
        steps += 1;
        if steps == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!((steps, stopped.size()), (3, image.size()));
    assert!(dream::dream(
        &vgg,
        &DreamSettings { layer: "fc7".into(), ..d },
        &image,
        |_, _, _, _| { ControlFlow::Continue(()) }
    )
    .is_err());
}

#[test]
fn bad_images_and_absurd_sizes_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let err = data::open(dir.path().join("missing.png").to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("no image file"), "{err}");
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not an image").unwrap();
    let err = data::open(text.to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("not an image"), "{err}");
    // A vendored picture by name.
    assert_eq!(data::open("chelsea").unwrap().width(), 451);
    // 4096x4096 with a 100-pair L-BFGS history is over 100 GB.
    let s = Settings { history: 100, ..small_settings(Method::Lbfgs, 1) };
    let err = transfer::check_memory(4096, 4096, &s, Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("--size"), "{err}");
    assert!(transfer::check_memory(64, 64, &s, Device::Cpu).is_ok());
}

/// A small run on a random VGG19 saved into `dir`: the vendored pictures at 32 px.
fn small_run(dir: &Path, optimizer: Method) -> StyleConfig {
    let weights = dir.join("random-vgg19.safetensors");
    if !weights.exists() {
        Vgg19::random(Pooling::Avg, Device::Cpu, 3).save(&weights).unwrap();
    }
    StyleConfig {
        size: 32,
        optimizer,
        history: 5,
        iterations: 8,
        checkpoint_every: 3,
        pooling: Pooling::Avg,
        weights: Some(weights),
        ..StyleConfig::default()
    }
}

fn quiet(out: &Path) -> RunOptions {
    RunOptions { out: Some(out.to_path_buf()), quiet: true, ..RunOptions::new(Device::Cpu) }
}

#[test]
fn a_stopped_run_resumes_to_the_same_image_and_optimizer_state() {
    if integration_tests::alone!(a_stopped_run_resumes_to_the_same_image_and_optimizer_state) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // L-BFGS's history and Adam's moments must both come back with the image.
    for method in [Method::Lbfgs, Method::Adam] {
        let config = small_run(dir.path(), method);
        let straight = dir.path().join(format!("straight-{method:?}"));
        let summary = train::run(config.clone(), &quiet(&straight), None).unwrap();
        assert_eq!((summary.iterations, summary.stopped_early), (8, false), "{method:?}");
        assert!(straight.join("result.png").is_file() && straight.join("loss.png").is_file());

        let cut = dir.path().join(format!("cut-{method:?}"));
        let budget = RunOptions { max_minutes: Some(1e-9), ..quiet(&cut) };
        let stopped = train::run(config, &budget, None).unwrap();
        assert_eq!((stopped.iterations, stopped.stopped_early), (1, true), "{method:?}");
        let resumed = RunOptions { resume: Some(cut.clone()), out: None, ..quiet(&cut) };
        let image = dir.path().join("also.png");
        let summary = train::run(StyleConfig::default(), &resumed, Some(&image)).unwrap();
        assert_eq!(summary.iterations, 8, "{method:?}");
        assert!(image.is_file());
        integration_tests::assert_same_checkpoints(&straight, &cut);
        let steps: Vec<u64> = harness::metrics::read(&cut.join("metrics.jsonl"))
            .unwrap()
            .iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, (1..=8).collect::<Vec<_>>(), "{method:?}: every iteration once");
    }
}

#[test]
fn a_caller_can_stop_a_transfer_and_bad_settings_are_refused() {
    let vgg = Vgg19::random(Pooling::Avg, Device::Cpu, 1);
    let content = Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu));
    let s = small_settings(Method::Adam, 50);
    let mut seen = 0;
    let _image = infer::stylise(&vgg, &s, &content, &[(content.copy(), 1.0)], |it, image| {
        assert_eq!(image.size(), [1, 3, 32, 32]);
        seen = it.iteration;
        if it.iteration == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(seen, 3);
    let dir = tempfile::tempdir().unwrap();
    let cases: [(StyleConfig, &str); 4] = [
        (StyleConfig { size: 8, ..StyleConfig::default() }, "--size 8 is out of range"),
        (StyleConfig { styles: vec![], ..StyleConfig::default() }, "at least one --style"),
        (StyleConfig { style_weight: -1.0, ..StyleConfig::default() }, "--style-weight"),
        (StyleConfig { lr: Some(0.0), ..StyleConfig::default() }, "--lr must be"),
    ];
    for (config, message) in cases {
        let err = train::run(config, &quiet(&dir.path().join("bad")), None).unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
        assert!(!dir.path().join("bad").exists(), "a refused run wrote its directory");
    }
}
