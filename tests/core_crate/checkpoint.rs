//! Checkpoints: round trips, and clear refusals of files that do not fit.

use dl_core::checkpoint::{self, Paths, Sidecar};
use dl_core::nn;
use dl_core::Error;
use std::path::Path;
use tch::nn::VarStore;
use tch::Device;

fn model(hidden: i64) -> VarStore {
    let vs = VarStore::new(Device::Cpu);
    let _ = nn::linear(vs.root() / "fc1", 3, hidden, Default::default());
    let _ = nn::linear(vs.root() / "fc2", hidden, 2, Default::default());
    vs
}

fn save(path: &Path, vs: &VarStore, app: &str) {
    let sidecar = Sidecar::new(app, 7, 2, 42, &serde_json::json!({"hidden": 5})).unwrap();
    checkpoint::save(path, vs, None, &sidecar).unwrap();
}

#[test]
fn paths_of_any_of_the_three_files_agree() {
    let dir = Path::new("runs/x/checkpoints");
    let expected = Paths::of(&dir.join("best.safetensors"));
    assert_eq!(expected.sidecar, dir.join("best.json"));
    assert_eq!(expected.optimizer, dir.join("best.optim.safetensors"));
    for other in ["best.json", "best.optim.safetensors", "best"] {
        assert_eq!(Paths::of(&dir.join(other)), expected, "{other}");
    }
}

#[test]
fn round_trip_restores_weights_and_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let vs = model(5);
    save(&path, &vs, "demo");
    let mut fresh = model(5);
    let sidecar = checkpoint::load(&path, "demo", &mut fresh, None).unwrap();
    assert_eq!((sidecar.step, sidecar.epoch, sidecar.seed), (7, 2, 42));
    assert_eq!(sidecar.config["hidden"], 5);
    for (name, t) in vs.variables() {
        assert!(t.equal(&fresh.variables()[&name]), "{name}");
    }
    // The model file is plain safetensors with PyTorch's names, nothing else in it.
    let mut names: Vec<String> =
        checkpoint::read_tensors(&path).unwrap().into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn a_checkpoint_from_another_app_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    save(&path, &model(5), "char-rnn");
    let err = checkpoint::load(&path, "cnn-classifier", &mut model(5), None).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err:?}");
    assert!(err.to_string().contains("written by the char-rnn app, not cnn-classifier"), "{err}");
}

#[test]
fn shape_or_name_mismatches_are_refused_and_leave_the_model_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    save(&path, &model(5), "demo");
    let mut wider = model(6);
    let before = wider.variables()["fc1.bias"].copy();
    let err = checkpoint::load(&path, "demo", &mut wider, None).unwrap_err().to_string();
    assert!(
        err.contains("has shape [5, 3], this model expects [6, 3]")
            || err.contains("has shape [5]"),
        "{err}"
    );
    assert!(wider.variables()["fc1.bias"].equal(&before));

    let mut other = VarStore::new(Device::Cpu);
    let _ = nn::linear(other.root() / "encoder", 3, 5, Default::default());
    let err = checkpoint::load(&path, "demo", &mut other, None).unwrap_err().to_string();
    assert!(err.contains("no tensor \"encoder."), "{err}");

    let err = checkpoint::load(
        &path,
        "demo",
        &mut model(5),
        Some(
            &mut dl_core::optim::Optimizer::new(
                dl_core::optim::OptimizerConfig::sgd(0.1),
                &model(5),
            )
            .unwrap(),
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no optimizer state"), "{err}");
}

#[test]
fn corrupt_and_missing_files_give_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    save(&path, &model(5), "demo");
    std::fs::write(&path, b"definitely not safetensors").unwrap();
    let err = checkpoint::load(&path, "demo", &mut model(5), None).unwrap_err().to_string();
    assert!(
        err.contains("ck.safetensors") && err.contains("not a readable safetensors file"),
        "{err}"
    );

    std::fs::write(Paths::of(&path).sidecar, b"{ broken").unwrap();
    let err = checkpoint::load(&path, "demo", &mut model(5), None).unwrap_err().to_string();
    assert!(err.contains("ck.json") && err.contains("not a checkpoint sidecar"), "{err}");

    let err = checkpoint::resolve(&dir.path().join("missing.safetensors")).unwrap_err().to_string();
    assert!(err.contains("missing.safetensors") && err.contains("no such file"), "{err}");
    let stray = dir.path().join("photo.png");
    std::fs::write(&stray, b"png").unwrap();
    let err = checkpoint::resolve(&stray).unwrap_err().to_string();
    assert!(err.contains("not a checkpoint"), "{err}");
}

#[test]
fn a_run_directory_resolves_to_its_best_then_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckpts = dir.path().join("checkpoints");
    std::fs::create_dir_all(&ckpts).unwrap();
    let err = checkpoint::resolve(dir.path()).unwrap_err().to_string();
    assert!(err.contains("holds no checkpoint"), "{err}");
    save(&ckpts.join("last.safetensors"), &model(5), "demo");
    assert_eq!(checkpoint::resolve(dir.path()).unwrap(), ckpts.join("last.safetensors"));
    save(&ckpts.join("best.safetensors"), &model(5), "demo");
    assert_eq!(checkpoint::resolve(dir.path()).unwrap(), ckpts.join("best.safetensors"));
    assert_eq!(
        checkpoint::resolve(&ckpts.join("last.json")).unwrap(),
        ckpts.join("last.safetensors")
    );
}
