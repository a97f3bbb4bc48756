//! cnn-classifier on real digits: 600 MNIST test images vendored in tests/fixtures, passed to
//! the app as an HDF5 file (which also exercises `--dataset h5:FILE`).

use cnn_classifier::infer::{Classifier, Preprocess};
use cnn_classifier::model::ModelKind;
use cnn_classifier::train::{self, RunOptions, TrainConfig};
use dl_core::device::rng_guard;
use dl_core::optim::OptimizerConfig;
use image::{DynamicImage, GrayImage, Rgba, RgbaImage};
use integration_tests::fixtures;
use std::path::{Path, PathBuf};
use tch::Device;

/// The fixture digits as an HDF5 file in `dir`: 400 for training, 100 validation, 100 test.
fn digits_h5(dir: &Path) -> PathBuf {
    let set = datasets::idx::load_pair(
        &fixtures().join("mnist-t10k-600-images-idx3-ubyte.gz"),
        &fixtures().join("mnist-t10k-600-labels-idx1-ubyte.gz"),
        &datasets::registry::MNIST_CLASSES,
    )
    .unwrap();
    let path = dir.join("digits.h5");
    datasets::h5::export(&set, &path).unwrap();
    path
}

fn config(h5: &Path, model: ModelKind, epochs: u64) -> TrainConfig {
    TrainConfig {
        dataset: format!("h5:{}", h5.display()),
        model,
        epochs,
        batch_size: 32,
        valid_size: 100,
        log_every: 5,
        ..TrainConfig::default()
    }
}

/// Trains on a dataset that needs no data directory (an `.h5` file names its own path).
fn train_h5(config: TrainConfig, options: &RunOptions) -> anyhow::Result<train::Summary> {
    train::train(config, options, Path::new("no data directory"))
}

fn options(out: PathBuf) -> RunOptions {
    RunOptions { out: Some(out), quiet: true, ..RunOptions::new(Device::Cpu) }
}

/// A digit of the fixture as a picture someone might take: dark ink on white paper, at an odd
/// size, in colour.
fn photo_of_digit(index: i64, inverse: bool) -> DynamicImage {
    let set = datasets::idx::load_pair(
        &fixtures().join("mnist-t10k-600-images-idx3-ubyte.gz"),
        &fixtures().join("mnist-t10k-600-labels-idx1-ubyte.gz"),
        &datasets::registry::MNIST_CLASSES,
    )
    .unwrap();
    let pixels = Vec::<u8>::try_from(&set.images.get(index).view([-1])).unwrap();
    let digit = GrayImage::from_raw(28, 28, pixels).unwrap();
    let big = image::imageops::resize(&digit, 61, 97, image::imageops::FilterType::Triangle);
    let mut rgba = RgbaImage::new(90, 120);
    for (x, y, p) in rgba.enumerate_pixels_mut() {
        let ink = if (10..71).contains(&x) && (12..109).contains(&y) {
            big.get_pixel(x - 10, y - 12)[0]
        } else {
            0
        };
        *p = if inverse {
            Rgba([ink, ink, ink, 255])
        } else {
            Rgba([255 - ink, 250 - ink.min(250), 240 - ink.min(240), 255])
        };
    }
    DynamicImage::ImageRgba8(rgba)
}

#[test]
fn the_cnn_learns_real_digits_and_classifies_photos_of_them() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let h5 = digits_h5(dir.path());
    let run = dir.path().join("run");
    let summary = train_h5(config(&h5, ModelKind::Cnn, 6), &options(run.clone())).unwrap();
    assert_eq!(summary.epochs, 6);
    assert!(summary.test_acc >= 0.85, "test accuracy {}", summary.test_acc);
    for file in [
        "config.toml",
        "metrics.jsonl",
        "checkpoints/best.safetensors",
        "checkpoints/last.json",
        "plots/acc.png",
        "plots/loss.png",
    ] {
        assert!(run.join(file).exists(), "{file}");
    }

    // The checkpoint gives the same network: same test accuracy, identical outputs.
    let trained = Classifier::load(&run, Device::Cpu).unwrap();
    let data = cnn_classifier::data::Data::load(
        &trained.config.dataset.parse().unwrap(),
        Path::new("unused"),
        100,
    )
    .unwrap();
    let eval =
        train::evaluate(&trained.net, &data.test, &trained.info.norm, 1000, Device::Cpu).unwrap();
    assert_eq!(eval.accuracy, summary.test_acc);
    assert_eq!(eval.confusion.iter().flatten().sum::<i64>(), 100);

    // A photo of a digit, and its negative, get the same answer, which is the digit's label
    // (index 0 of the MNIST test set is a 7, index 1 a 2). The data came as an HDF5 file, so
    // the MNIST recipe is asked for by name (for `--dataset mnist` it is the default).
    for (index, label) in [(0, "7"), (1, "2")] {
        let mut answers = Vec::new();
        for (inverse, name) in [(false, "paper.png"), (true, "negative.png")] {
            let path = dir.path().join(format!("{index}-{name}"));
            photo_of_digit(index, inverse).save(&path).unwrap();
            answers.push(trained.predict_file(&path, Some(Preprocess::Digit), 3).unwrap());
        }
        assert_eq!(answers[0].len(), 3);
        assert_eq!(answers[0][0].0, label, "{answers:?}");
        assert_eq!(answers[1][0].0, label, "{answers:?}");
        let total: f64 = answers[0].iter().map(|(_, p)| p).sum();
        assert!(total <= 1.0 + 1e-6 && answers[0][0].1 >= answers[0][1].1);
    }
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not an image").unwrap();
    let err = trained.predict_file(&text, None, 3).unwrap_err().to_string();
    assert!(err.contains("notes.png") && err.contains("not a readable image"), "{err}");

    // The first layer's 32 filters, as a picture.
    let png = dir.path().join("filters.png");
    assert_eq!(cnn_classifier::report::save_filters(&trained, &png).unwrap(), 32);
    assert!(image::open(&png).unwrap().width() > 8 * 3 * 8);
}

#[test]
fn the_mlp_learns_real_digits() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let h5 = digits_h5(dir.path());
    let mut c = config(&h5, ModelKind::Mlp, 5);
    c.optimizer = OptimizerConfig::adam(1e-3);
    let summary = train_h5(c, &options(dir.path().join("run"))).unwrap();
    assert!(summary.test_acc >= 0.8, "test accuracy {}", summary.test_acc);
}

#[test]
fn an_interrupted_run_resumes_to_the_same_weights() {
    if integration_tests::alone!(an_interrupted_run_resumes_to_the_same_weights) {
        return;
    }
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let h5 = digits_h5(dir.path());
    let c = config(&h5, ModelKind::Cnn, 2);
    let straight = train_h5(c.clone(), &options(dir.path().join("straight"))).unwrap();
    assert!(!straight.stopped_early);

    // A budget that is spent after the first batch, then --resume.
    let interrupted_dir = dir.path().join("interrupted");
    let mut o = options(interrupted_dir.clone());
    o.max_minutes = Some(1e-9);
    let interrupted = train_h5(c.clone(), &o).unwrap();
    assert!(interrupted.stopped_early);
    assert_eq!(interrupted.epochs, 0);
    let resumed = train_h5(
        c,
        &RunOptions { resume: Some(interrupted_dir.clone()), out: None, ..options(PathBuf::new()) },
    )
    .unwrap();
    assert_eq!(resumed.epochs, 2);

    integration_tests::assert_same_checkpoints(&dir.path().join("straight"), &interrupted_dir);
    let epochs: Vec<f64> = harness::metrics::read(&interrupted_dir.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .filter_map(|r| r.values.get("epoch").copied())
        .collect();
    assert_eq!(epochs, [0.0, 1.0, 2.0], "the stopped partial epoch, then epochs 1 and 2");
}

#[test]
fn bad_input_gets_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TrainConfig { dataset: "imagenet".into(), ..TrainConfig::default() };
    let err = train_h5(c.clone(), &options(dir.path().join("a"))).unwrap_err().to_string();
    assert!(err.contains("unknown dataset \"imagenet\""), "{err}");
    c.dataset = "mnist".into();
    c.epochs = 0;
    assert!(train_h5(c, &options(dir.path().join("b")))
        .unwrap_err()
        .to_string()
        .contains("epochs"));
    // A checkpoint of another app is refused by name.
    let other = dir.path().join("other.safetensors");
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _ = dl_core::nn::linear(vs.root() / "fc", 2, 2, Default::default());
    let sidecar =
        dl_core::checkpoint::Sidecar::new("char-rnn", 1, 1, 1, &serde_json::json!({})).unwrap();
    dl_core::checkpoint::save(&other, &vs, None, &sidecar).unwrap();
    let err = Classifier::load(&other, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("written by the char-rnn app"), "{err}");
}

/// CIFAR-10 batch files in the binary format, written into `data_dir/cifar10/`, whose images
/// are noise around a colour that depends on the class (so a network can learn them).
fn fake_cifar(data_dir: &Path, per_file: i64) {
    let dir = data_dir.join("cifar10");
    std::fs::create_dir_all(&dir).unwrap();
    let files = datasets::cifar::TRAIN_FILES.iter().chain([&datasets::cifar::TEST_FILE]);
    for (i, file) in files.enumerate() {
        tch::manual_seed(i as i64);
        let labels = tch::Tensor::randint(10, [per_file], (tch::Kind::Int64, Device::Cpu));
        let colour = (labels.to_kind(tch::Kind::Float) * 25.0).view([per_file, 1, 1, 1]);
        let channel = tch::Tensor::from_slice(&[1.0f32, -0.5, 0.25]).view([1, 3, 1, 1]);
        let noise =
            tch::Tensor::randn([per_file, 3, 32, 32], (tch::Kind::Float, Device::Cpu)) * 20.0;
        let images = (colour * channel + 128.0 + noise).clamp(0.0, 255.0).to_kind(tch::Kind::Uint8);
        datasets::cifar::write_batch(&dir.join(file), &images, &labels).unwrap();
    }
}

#[test]
fn resnet_trains_on_cifar_format_data() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    fake_cifar(dir.path(), 40);
    let c = TrainConfig {
        dataset: "cifar10".into(),
        model: ModelKind::Resnet,
        epochs: 3,
        batch_size: 20,
        valid_size: 40,
        augment: true,
        optimizer: OptimizerConfig::adam(3e-3),
        ..TrainConfig::default()
    };
    let summary = train::train(c, &options(dir.path().join("run")), dir.path()).unwrap();
    // 160 training images, 24 steps: far above chance (10%), not yet perfect.
    assert!(summary.test_acc >= 0.5, "test accuracy {}", summary.test_acc);
    let trained = Classifier::load(&summary.dir, Device::Cpu).unwrap();
    assert_eq!(
        trained.info.shape,
        cnn_classifier::model::Shape { channels: 3, height: 32, width: 32, classes: 10 }
    );
    assert_eq!(trained.info.classes[0], "airplane");
    let params: i64 = trained.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    // ResNet-20 has 0.27 M parameters; the two 1x1 projection shortcuts add 2.6 K.
    assert!((270_000..280_000).contains(&params), "{params} parameters");
    // Colour images, colour filters: 16 of them, 3 channels each.
    assert_eq!(trained.net.first_filters().unwrap().size(), [16, 3, 3, 3]);
}
