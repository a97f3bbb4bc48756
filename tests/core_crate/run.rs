//! Run directories, metrics and plots.

use dl_core::metrics::Mean;
use harness::metrics;
use harness::run::Run;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Config {
    lr: f64,
    layers: u32,
}

#[test]
fn a_run_writes_config_metrics_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = Config { lr: 0.01, layers: 2 };
    let mut run = Run::create("demo", Some(&out), &config).unwrap();
    for step in 1..=5u64 {
        let loss = 1.0 / step as f64;
        run.log(step, &[("train_loss", loss), ("valid_loss", loss + 0.1), ("lr", 0.01)]).unwrap();
    }
    run.log(6, &[("train_loss", f64::NAN)]).unwrap();
    assert_eq!(Run::read_config::<Config>(&out).unwrap(), config);

    let records = metrics::read(&out.join("metrics.jsonl")).unwrap();
    assert_eq!(records.len(), 6);
    assert_eq!(records[1].step, 2);
    assert_eq!(records[1].values["train_loss"], 0.5);
    assert!(records[5].values["train_loss"].is_nan(), "NaN is written as null and read back");

    let plots = run.plot().unwrap();
    let names: Vec<String> =
        plots.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["loss.png", "lr.png"]);
    let img = image::open(&plots[0]).unwrap();
    assert_eq!((img.width(), img.height()), (800, 500));
    // Something was drawn: not a blank white image.
    assert!(img.to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]));
}

#[test]
fn an_existing_run_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::default();
    Run::create("demo", Some(dir.path()), &config).unwrap();
    let err = Run::create("demo", Some(dir.path()), &config).unwrap_err().to_string();
    assert!(err.contains("already holds a run") && err.contains("--resume"), "{err}");
}

#[test]
fn resuming_drops_metrics_logged_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::create("demo", Some(dir.path()), &Config::default()).unwrap();
    for step in [10, 20, 30, 40] {
        run.log(step, &[("train_loss", 1.0)]).unwrap();
    }
    drop(run);
    let mut run = Run::resume(dir.path(), 20).unwrap();
    run.log(30, &[("train_loss", 0.5)]).unwrap();
    let steps: Vec<u64> =
        metrics::read(&dir.path().join("metrics.jsonl")).unwrap().iter().map(|r| r.step).collect();
    assert_eq!(steps, [10, 20, 30]);

    let err = Run::resume(&dir.path().join("nope"), 0).unwrap_err().to_string();
    assert!(err.contains("not a run directory"), "{err}");
}

#[test]
fn malformed_metrics_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    std::fs::write(&path, "{\"step\": 1, \"loss\": 2}\nnot json\n").unwrap();
    let err = metrics::read(&path).unwrap_err().to_string();
    assert!(err.contains("metrics.jsonl: line 2"), "{err}");
}

#[test]
fn means_are_weighted_by_count() {
    let mut m = Mean::default();
    assert!(m.value().is_nan());
    m.add(1.0, 3.0);
    m.add(3.0, 1.0);
    assert_eq!(m.value(), 1.5);
    assert_eq!(m.count(), 4.0);
}

#[test]
fn correct_counts_argmax_hits() {
    let logits = super::tensor(&[0.1, 0.9, 0.8, 0.2, 0.3, 0.7], &[3, 2]);
    let labels = tch::Tensor::from_slice(&[1i64, 0, 0]);
    assert_eq!(dl_core::metrics::correct(&logits, &labels), 2);
}

#[test]
fn a_heatmap_shades_cells_by_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confusion.png");
    let names = |n: usize| (0..n).map(|i| format!("class {i}")).collect::<Vec<_>>();
    let values = vec![vec![9.0, 0.0, 1.0], vec![0.0, 0.5, 0.0]];
    harness::plot::heatmap(
        &path,
        "confusion",
        ("true", "predicted"),
        &names(2),
        &names(3),
        &values,
    )
    .unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    // 3 columns and 2 rows of 60-pixel cells plus the margins for labels.
    assert_eq!(img.dimensions(), (3 * 60 + 200, 2 * 60 + 160));
    // The largest value is drawn in the darkest blue, zeros in white.
    let darkest = [(255.0 * 0.15) as u8, (255.0 * 0.3) as u8, (255.0 * 0.7) as u8];
    assert!(img.pixels().any(|p| p.0 == darkest), "no cell in the darkest shade");
    let err = harness::plot::heatmap(&path, "bad", ("r", "c"), &names(2), &names(3), &values[..1])
        .unwrap_err();
    assert!(err.to_string().contains("2 rows of 3"), "{err}");
}

#[test]
fn starting_creates_a_run_or_resumes_one_that_has_a_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = Config { lr: 0.5, layers: 3 };
    let (got, _run, last) = Run::start("demo", Some(&out), None, config).unwrap();
    assert_eq!((got.layers, last), (3, None));
    // Stopped before its first checkpoint: resuming starts it again, with its own saved
    // configuration and no checkpoint to load.
    let other = Config { lr: 9.0, layers: 9 };
    let (got, _run, last) = Run::start("demo", None, Some(&out), other.clone()).unwrap();
    assert_eq!((got.layers, last), (3, None));
    // A folder that is no run is refused in one sentence.
    let err = Run::start("demo", None, Some(dir.path()), other).unwrap_err().to_string();
    assert!(err.contains("not a run directory"), "{err}");
}
