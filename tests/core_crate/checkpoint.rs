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

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `ck` in `dir`: a model with Adam's state, at step 7.
fn saved_at_step_7(dir: &Path) -> (std::path::PathBuf, dl_core::optim::Optimizer, Sidecar) {
    let path = dir.join("ck.safetensors");
    let vs = model(5);
    let opt = adam(&vs);
    let sidecar = Sidecar::new("demo", 7, 2, 42, &serde_json::json!({})).unwrap();
    checkpoint::save(&path, &vs, Some(&opt), &sidecar).unwrap();
    (path, opt, sidecar)
}

fn adam(vs: &VarStore) -> dl_core::optim::Optimizer {
    dl_core::optim::Optimizer::new(dl_core::optim::OptimizerConfig::adam(0.1), vs).unwrap()
}

#[test]
fn a_save_killed_before_its_commit_point_leaves_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = saved_at_step_7(dir.path());
    // What a process killed mid-save leaves: the new weights and a temporary file, no sidecar.
    std::fs::write(dir.path().join("ck.next.safetensors"), b"half a file").unwrap();
    std::fs::write(dir.path().join(".ck.next.optim.safetensors.tmp99"), b"half").unwrap();
    // A reader leaves them alone (the writer may be mid-save) and reads the old checkpoint.
    assert_eq!(checkpoint::read_sidecar(&path, "demo").unwrap().step, 7);
    assert_eq!(files(dir.path()).len(), 5);
    // The writer's next save clears them first.
    checkpoint::recover(&path).unwrap();
    assert_eq!(files(dir.path()), ["ck.json", "ck.optim.safetensors", "ck.safetensors"]);
    checkpoint::load(&path, "demo", &mut model(5), None).unwrap();
}

#[test]
fn a_save_killed_after_its_commit_point_is_finished_by_the_next_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (path, opt, old) = saved_at_step_7(dir.path());
    // A complete new checkpoint under NAME.next.*, killed after renaming the weights only.
    let staged = dir.path().join("staged.safetensors");
    let changed = model(5);
    let new = Sidecar { step: 8, ..old.clone() };
    checkpoint::save(&staged, &changed, Some(&opt), &new).unwrap();
    std::fs::rename(dir.path().join("staged.safetensors"), &path).unwrap();
    for (from, to) in
        [("staged.optim.safetensors", "ck.next.optim.safetensors"), ("staged.json", "ck.next.json")]
    {
        std::fs::rename(dir.path().join(from), dir.path().join(to)).unwrap();
    }
    // The reader finishes the renames and gets the new checkpoint whole.
    assert_eq!(checkpoint::read_sidecar(&path, "demo").unwrap().step, 8);
    assert_eq!(files(dir.path()), ["ck.json", "ck.optim.safetensors", "ck.safetensors"]);
    let mut loaded = model(5);
    let mut opt = adam(&loaded);
    checkpoint::load(&path, "demo", &mut loaded, Some(&mut opt)).unwrap();
    for ((name, a), (_, b)) in sorted(&changed).iter().zip(sorted(&loaded).iter()) {
        assert!(a.equal(b), "{name}");
    }
}

fn sorted(vs: &VarStore) -> Vec<(String, tch::Tensor)> {
    let mut v: Vec<_> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}
