//! Configurations: defaults, then a TOML file, then flags.

use dl_core::optim::OptimizerConfig;
use harness::config::resolve;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Train {
    epochs: u32,
    batch_size: u32,
    optimizer: OptimizerConfig,
}

impl Default for Train {
    fn default() -> Self {
        Train { epochs: 10, batch_size: 64, optimizer: OptimizerConfig::adam(1e-3) }
    }
}

/// What a clap struct of optional flags serialises to.
#[derive(Default, Serialize)]
struct Flags {
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<u32>,
}

#[test]
fn flags_override_the_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("train.toml");
    std::fs::write(
        &file,
        "epochs = 3\nbatch_size = 32\n[optimizer]\nname = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n",
    )
    .unwrap();

    let defaults: Train = resolve(None, &Flags::default()).unwrap();
    assert_eq!(defaults, Train::default());
    let from_file: Train = resolve(Some(&file), &Flags::default()).unwrap();
    assert_eq!((from_file.epochs, from_file.batch_size), (3, 32));
    assert_eq!(
        from_file.optimizer,
        OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0
        }
    );
    let flagged: Train = resolve(Some(&file), &Flags { epochs: Some(7) }).unwrap();
    assert_eq!((flagged.epochs, flagged.batch_size), (7, 32));
}

#[test]
fn unknown_keys_and_bad_toml_are_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("train.toml");
    std::fs::write(&file, "epochz = 3\n").unwrap();
    let err = resolve::<Train, _>(Some(&file), &Flags::default()).unwrap_err().to_string();
    assert!(err.contains("epochz") && err.contains("train.toml"), "{err}");
    std::fs::write(&file, "epochs = \n").unwrap();
    let err = resolve::<Train, _>(Some(&file), &Flags::default()).unwrap_err().to_string();
    assert!(err.contains("train.toml") && err.contains("invalid TOML"), "{err}");
    let err = resolve::<Train, _>(Some(&dir.path().join("none.toml")), &Flags::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("none.toml"), "{err}");
}
