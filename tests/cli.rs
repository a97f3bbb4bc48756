//! Every app's command line, as users run it: each binary's every subcommand answers `--help`
//! (clap checks the whole definition then: a flag defined twice, a clashing group, a bad
//! default all panic), and nonsense gets a usage error, not a panic.

use integration_tests::bin;

const APPS: [&str; 8] =
    ["basics", "cnn-classifier", "char-rnn", "seq2seq", "style-transfer", "dqn", "datasets", "dl"];

/// The subcommands `app --help` lists.
fn subcommands(app: &str) -> Vec<String> {
    let out = bin(app).arg("--help").output().unwrap();
    assert!(out.status.success(), "{app} --help failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let commands = text.split("Commands:").nth(1).unwrap_or_else(|| panic!("{app}: {text}"));
    commands
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_subcommand_of_every_binary_answers_help() {
    for app in APPS {
        let commands = subcommands(app);
        assert!(!commands.is_empty(), "{app} lists no subcommands");
        for command in commands {
            let out = bin(app).args([command.as_str(), "--help"]).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{app} {command} --help: {err}");
        }
        let out = bin(app).arg("no-such-command").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{app}: a usage error exits with 2");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

/// The configuration `app train ARGS --print-config` would train with (style-transfer's
/// training command is `run`).
fn printed_config<C: serde::de::DeserializeOwned>(app: &str, args: &[&str]) -> C {
    let command = if app == "style-transfer" { "run" } else { "train" };
    let out = bin(app).arg(command).args(args).arg("--print-config").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{app} {command} {args:?} --print-config: {err}");
    toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// The error line of a command that must fail cleanly (exit status 1, one sentence, no panic).
fn error_of(app: &str, args: &[&str]) -> String {
    let out = bin(app).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{app} {args:?}: {err}");
    assert!(!err.contains("panicked"), "{app} {args:?}: {err}");
    err
}

#[test]
fn training_flags_override_the_config_file_which_overrides_the_defaults() {
    use dl_core::optim::{OptimizerConfig, StepSchedule};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("base.toml");
    std::fs::write(&file, "hidden = 64\nlayers = 3\nseq_len = 32\n").unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "--config",
        file,
        "--cell",
        "gru",
        "--hidden",
        "128",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
        "--schedule",
        "constant",
        "--seed",
        "7",
    ];
    let c: char_rnn::train::TrainConfig = printed_config("char-rnn", &args);
    assert_eq!((c.cell, c.hidden, c.layers, c.seq_len), (dl_core::nn::CellKind::Gru, 128, 3, 32));
    assert_eq!(
        (c.optimizer, c.schedule, c.seed),
        (OptimizerConfig::sgd(0.5), StepSchedule::Constant, 7)
    );
    assert_eq!(c.batch_size, char_rnn::train::TrainConfig::default().batch_size);

    let args = [
        "--dataset",
        "fashion-mnist",
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--schedule",
        "cosine",
        "--warmup-epochs",
        "1",
        "--augment",
        "--seed",
        "7",
        "--epochs",
        "3",
    ];
    let c: cnn_classifier::train::TrainConfig = printed_config("cnn-classifier", &args);
    assert_eq!((c.dataset.as_str(), c.optimizer), ("fashion-mnist", OptimizerConfig::adam(0.001)));
    assert_eq!(c.schedule, cnn_classifier::train::LrSchedule::Cosine { warmup_epochs: 1 });
    assert!(c.augment && (c.seed, c.epochs) == (7, 3));
    assert_eq!(c.batch_size, cnn_classifier::train::TrainConfig::default().batch_size);

    let args = [
        "--attention",
        "luong",
        "--tokenizer",
        "bpe",
        "--dictionary",
        "false",
        "--src-vocab-size",
        "30000",
        "--direction",
        "en-de",
        "--lr",
        "0.002",
        "--seed",
        "7",
    ];
    let c: seq2seq::train::TrainConfig = printed_config("seq2seq", &args);
    assert_eq!(c.attention, seq2seq::model::AttentionKind::Luong);
    assert_eq!(c.tokenizer, seq2seq::tokenize::TokenizerKind::Bpe);
    assert!(!c.dictionary && c.src_vocab_size == Some(30000));
    assert_eq!(c.direction, seq2seq::data::Direction::EnDe);
    assert_eq!((c.optimizer, c.seed), (OptimizerConfig::adam(0.002), 7));
    assert_eq!(c.decoder_hidden, seq2seq::train::TrainConfig::default().decoder_hidden);

    // dqn: the environment chooses the defaults, which the flags then override.
    let args = ["--env", "cartpole", "--total-steps", "5000", "--double", "--lr", "0.001"];
    let c: dqn::train::TrainConfig =
        printed_config("dqn", &[&args[..], &["--hidden", "64,64", "--seed", "3"]].concat());
    let mut expected = dqn::train::TrainConfig::cartpole();
    (expected.total_steps, expected.double, expected.lr) = (5000, true, 0.001);
    (expected.hidden, expected.seed) = (vec![64, 64], 3);
    assert_eq!(c, expected);
    let c: dqn::train::TrainConfig = printed_config("dqn", &["--env", "mountaincar"]);
    assert_eq!(c, dqn::train::TrainConfig::classic("mountaincar"));

    // The dataset or corpus chooses the defaults too.
    let c: cnn_classifier::train::TrainConfig = printed_config("cnn-classifier", &[]);
    assert!(c.augment && c.optimizer == OptimizerConfig::adadelta(1.0));
    let c: cnn_classifier::train::TrainConfig =
        printed_config("cnn-classifier", &["--augment", "false"]);
    assert!(!c.augment);
    let c: cnn_classifier::train::TrainConfig =
        printed_config("cnn-classifier", &["--dataset", "fashion-mnist"]);
    assert!(!c.augment && c.optimizer == OptimizerConfig::adam(1e-3));
    let c: char_rnn::train::TrainConfig =
        printed_config("char-rnn", &["--data", "tinyshakespeare"]);
    assert_eq!((c.data.as_str(), c.valid_fraction), ("tinyshakespeare", 0.1));
    let c: seq2seq::train::TrainConfig = printed_config("seq2seq", &["--data", "multi30k"]);
    assert!(c.data == "multi30k" && !c.dictionary && !c.lowercase);

    let args = ["--size", "64", "--style", "chelsea:0.5", "--optimizer", "adam", "--seed", "2"];
    let c: style_transfer::train::StyleConfig = printed_config("style-transfer", &args);
    assert_eq!((c.size, c.styles, c.seed), (64, vec!["chelsea:0.5".to_string()], 2));
    assert_eq!(c.optimizer, style_transfer::transfer::Method::Adam);
    assert_eq!(c.history, style_transfer::train::StyleConfig::default().history);
}

#[test]
fn unknown_values_and_absurd_flags_get_one_clear_sentence() {
    for (app, args, message) in [
        ("char-rnn", &["train", "--cell", "transformer"][..], "transformer"),
        ("cnn-classifier", &["train", "--model", "vgg"], "vgg"),
        ("seq2seq", &["train", "--attention", "transformer"], "transformer"),
        ("basics", &["mlp-approx", "--activation", "swish"], "swish"),
    ] {
        let out = bin(app).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{app} {args:?}: a usage error");
        assert!(String::from_utf8_lossy(&out.stderr).contains(message), "{app} {args:?}");
    }
    for (args, message) in [
        (&["mlp-approx", "--widths", "8,0"][..], "--widths must be positive"),
        (&["mlp-approx", "--steps", "0"], "--steps must be at least 1"),
        (&["linear-collapse", "--depth", "1"], "--depth must be at least 2"),
        (&["backprop", "--inputs", "0"], "--inputs must be positive"),
        (&["activations", "--momentum", "1.5"], "--momentum must be in [0, 1)"),
    ] {
        let err = error_of("basics", args);
        assert!(err.starts_with("error: ") && err.contains(message), "{args:?}: {err}");
    }
    let err = error_of("style-transfer", &["run", "--size", "8"]);
    assert!(err.contains("--size 8 is out of range"), "{err}");
    // fp16 (no loss scaling yet) and unknown precisions are usage errors with a reason; bf16
    // where an app does not have it yet is refused before anything trains.
    for (app, args) in [
        ("char-rnn", &["train", "--precision", "fp16"][..]),
        ("cnn-classifier", &["bench", "--precision", "int8"]),
    ] {
        let out = bin(app).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{app} {args:?}: a usage error");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("loss scaling") || err.contains("fp32 or bf16"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = ["run", "--precision", "bf16", "--out", out.to_str().unwrap()];
    let err = error_of("style-transfer", &args);
    assert!(err.contains("not built for") && err.contains("use fp32"), "{err}");
    assert!(!out.exists(), "nothing was written");
}
