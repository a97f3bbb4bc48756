//! char-rnn: generation agrees with training's forward pass, a small model learns and writes
//! back what it read, sampling is controlled by its options and seed, checkpoints round-trip
//! and resume, and bad input gets a clear error.

use char_rnn::data::{self, Part, Split, Streams, Vocab};
use char_rnn::infer::{self, CharModel, SampleOptions};
use char_rnn::model::{CharRnn, ModelSpec};
use char_rnn::train::{self, ModelInfo, RunOptions, TrainConfig};
use dl_core::checkpoint::{self, Sidecar};
use dl_core::device::rng_guard;
use dl_core::nn::CellKind;
use dl_core::optim::StepSchedule;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

fn spec(cell: CellKind, vocab: i64) -> ModelSpec {
    ModelSpec { cell, vocab, embedding: 8, hidden: 16, layers: 2, dropout: 0.0 }
}

fn options(out: &Path) -> RunOptions {
    RunOptions {
        device: Device::Cpu,
        out: Some(out.to_path_buf()),
        resume: None,
        max_minutes: None,
        quiet: true,
        stop: Default::default(),
        precision: Default::default(),
    }
}

/// A small, fast configuration over the text in `file`.
fn small_config(file: PathBuf, steps: u64) -> TrainConfig {
    TrainConfig {
        text: vec![file],
        valid_fraction: 0.1,
        hidden: 64,
        layers: 1,
        embedding: 16,
        seq_len: 32,
        batch_size: 8,
        steps,
        optimizer: dl_core::optim::OptimizerConfig::adam(1e-2),
        schedule: StepSchedule::Constant,
        eval_every: 100,
        sample_length: 50,
        log_every: 10,
        ..TrainConfig::default()
    }
}

fn sample_text(
    model: &CharRnn,
    vocab: &Vocab,
    prime: &str,
    temperature: f64,
    top_k: Option<usize>,
    seed: u64,
) -> String {
    let options = SampleOptions { prime: prime.into(), length: 60, temperature, top_k, seed };
    infer::generate(model, vocab, &options, Device::Cpu, |_| ControlFlow::Continue(())).unwrap()
}

#[test]
fn one_step_generation_matches_the_sequence_forward() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        let model = CharRnn::new(&vs.root(), spec(cell, 11));
        model.set_forget_bias(1.0);
        if cell == CellKind::Lstm {
            // Gate rows i, f, g, o: only f's bias moves, to 1 in b_ih and 0 in b_hh.
            for l in 0..2 {
                let bias = |name: &str| vs.variables()[&format!("rnn.{name}_l{l}")].copy();
                let (b_ih, b_hh) = (bias("bias_ih"), bias("bias_hh"));
                assert_eq!(b_ih.narrow(0, 16, 16), Tensor::ones([16], (Kind::Float, Device::Cpu)));
                assert_eq!(b_hh.narrow(0, 16, 16).abs().sum(Kind::Float).double_value(&[]), 0.0);
                assert!(b_ih.narrow(0, 0, 16).abs().max().double_value(&[]) < 0.25);
            }
        }
        let xs = Tensor::randint(11, [2, 9], (Kind::Int64, Device::Cpu));
        let (full, _) = model.forward(&xs, None, false);
        let mut state = model.zero_state(2);
        for t in 0..9 {
            let (logits, next) = model.step(&xs.select(1, t), &state);
            let diff = (logits - full.select(1, t)).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{cell}: step {t} differs by {diff}");
            state = next;
        }
    }
}

#[test]
fn a_small_model_memorises_a_repeated_string_and_writes_it_back() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("motto.txt");
    std::fs::write(&file, "the quick brown fox jumps. ".repeat(400)).unwrap();
    let summary = train::train(small_config(file, 300), &options(&dir.path().join("run"))).unwrap();
    assert!(summary.best_valid_bpc < 0.1, "valid bpc {}", summary.best_valid_bpc);
    let trained = CharModel::load(&summary.dir, Device::Cpu).unwrap();
    let text = sample_text(&trained.model, &trained.info.vocab, "the quick", 0.0, None, 1);
    assert!(text.starts_with(" brown fox jumps. the quick brown fox"), "{text:?}");
    // Near-zero temperature draws what greedy decoding picks.
    let cold = sample_text(&trained.model, &trained.info.vocab, "the quick", 1e-3, None, 1);
    assert_eq!(cold, text);
    // The run wrote samples and metrics as it went.
    assert!(summary.dir.join("samples/step-000300.txt").is_file());
    let records = harness::metrics::read(&summary.dir.join("metrics.jsonl")).unwrap();
    assert!(records.iter().any(|r| r.values.contains_key("valid_bpc")));
}

#[test]
fn bf16_training_memorises_the_string_as_well_and_keeps_fp32_weights() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("motto.txt");
    std::fs::write(&file, "the quick brown fox jumps. ".repeat(400)).unwrap();
    let bf16 = RunOptions {
        precision: dl_core::precision::Precision::Bf16,
        ..options(&dir.path().join("run"))
    };
    let summary = train::train(small_config(file, 300), &bf16).unwrap();
    assert!(summary.best_valid_bpc < 0.1, "valid bpc {}", summary.best_valid_bpc);
    let trained = CharModel::load(&summary.dir, Device::Cpu).unwrap();
    for (name, t) in trained.vs.variables() {
        assert_eq!(t.kind(), tch::Kind::Float, "{name} is stored in fp32");
    }
    let text = sample_text(&trained.model, &trained.info.vocab, "the quick", 0.0, None, 1);
    assert!(text.starts_with(" brown fox jumps. the quick"), "{text:?}");
}

#[test]
fn top_k_one_is_greedy_and_a_seed_repeats_its_sample() {
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let vocab = Vocab::from_texts(["abcdefghij klmnop"]);
    let model = CharRnn::new(&vs.root(), spec(CellKind::Lstm, vocab.len() as i64));
    let greedy = sample_text(&model, &vocab, "ab", 0.0, None, 1);
    assert_eq!(sample_text(&model, &vocab, "ab", 1.0, Some(1), 9), greedy);
    let a = sample_text(&model, &vocab, "ab", 1.0, None, 7);
    assert_eq!(sample_text(&model, &vocab, "ab", 1.0, None, 7), a);
    assert_ne!(sample_text(&model, &vocab, "ab", 1.0, None, 8), a);
    // An untrained model at temperature 1 is close to uniform: many distinct characters.
    let distinct: std::collections::HashSet<char> = a.chars().collect();
    assert!(distinct.len() > 8, "{a:?}");
    // Top-k keeps only the k most probable characters at every step.
    let top2 = sample_text(&model, &vocab, "ab", 1.0, Some(2), 7);
    assert_ne!(top2, greedy);
    assert!(top2.chars().collect::<std::collections::HashSet<_>>().len() < distinct.len());
    // The caller can stop the stream: it gets what was drawn up to there, the same text.
    let options =
        SampleOptions { prime: "ab".into(), length: 60, temperature: 1.0, top_k: None, seed: 7 };
    let mut seen = 0;
    let stopped = infer::generate(&model, &vocab, &options, Device::Cpu, |_| {
        seen += 1;
        if seen == 10 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(stopped, a.chars().take(10).collect::<String>());
}

#[test]
fn a_checkpoint_samples_the_same_and_a_resumed_run_counts_on() {
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    // Round trip: a model saved and loaded writes the same text.
    tch::manual_seed(2);
    let vs = VarStore::new(Device::Cpu);
    let vocab = Vocab::from_texts(["Emma Woodhouse, handsome, clever, and rich"]);
    let spec = spec(CellKind::Gru, vocab.len() as i64);
    let model = CharRnn::new(&vs.root(), spec);
    let before = sample_text(&model, &vocab, "Emma", 0.9, Some(5), 4);
    let mut sidecar = Sidecar::new(char_rnn::APP, 0, 0, 1, &TrainConfig::default()).unwrap();
    let info = ModelInfo { vocab: vocab.clone(), spec };
    sidecar.extra = serde_json::to_value(&info).unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, &vs, None, &sidecar).unwrap();
    let loaded = CharModel::load(&path, Device::Cpu).unwrap();
    assert_eq!(loaded.info, info);
    assert_eq!(sample_text(&loaded.model, &loaded.info.vocab, "Emma", 0.9, Some(5), 4), before);
    // A checkpoint of another app is refused with a sentence naming it.
    let mut other = sidecar.clone();
    other.app = "dqn".into();
    let foreign = dir.path().join("foreign.safetensors");
    checkpoint::save(&foreign, &vs, None, &other).unwrap();
    let err = CharModel::load(&foreign, Device::Cpu).unwrap_err();
    assert!(format!("{err:#}").contains("written by the dqn app"), "{err:#}");

    // Resume: a run of 20 steps, extended to 30 in its config and resumed, ends at step 30 with
    // the metrics of both sessions.
    let file = dir.path().join("text.txt");
    std::fs::write(&file, "It is a truth universally acknowledged. ".repeat(100)).unwrap();
    let run = dir.path().join("run");
    let mut config = small_config(file, 20);
    config.eval_every = 10;
    train::train(config.clone(), &options(&run)).unwrap();
    let config_path = run.join("config.toml");
    let text = std::fs::read_to_string(&config_path).unwrap().replace("steps = 20", "steps = 30");
    std::fs::write(&config_path, text).unwrap();
    let resumed = RunOptions { resume: Some(run.clone()), out: None, ..options(&run) };
    // `--resume` alone leaves the command line's configuration at its defaults (the Austen
    // corpus); the run continues with its own saved configuration and text.
    let summary = train::train(TrainConfig::default(), &resumed).unwrap();
    assert_eq!(summary.steps, 30);
    let last = checkpoint::read_sidecar(&run.join("checkpoints/last.safetensors"), char_rnn::APP);
    assert_eq!(last.unwrap().step, 30);
    let records = harness::metrics::read(&run.join("metrics.jsonl")).unwrap();
    let evals: Vec<u64> =
        records.iter().filter(|r| r.values.contains_key("valid_bpc")).map(|r| r.step).collect();
    assert_eq!(evals, [10, 20, 30]);
}

#[test]
fn an_interrupted_run_resumes_to_the_same_weights_and_state() {
    if integration_tests::alone!(an_interrupted_run_resumes_to_the_same_weights_and_state) {
        return;
    }
    let _rng = rng_guard();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("text.txt");
    std::fs::write(&file, "It is a truth universally acknowledged. ".repeat(100)).unwrap();
    // Two layers with dropout between them: the resumed run must also draw the same masks.
    let config = TrainConfig {
        layers: 2,
        dropout: 0.2,
        eval_every: 10,
        schedule: StepSchedule::Cosine { warmup_steps: 3 },
        ..small_config(file, 24)
    };
    let straight = dir.path().join("straight");
    train::train(config.clone(), &options(&straight)).unwrap();

    // A budget spent after the first step, then --resume: the hidden state carried from
    // window to window must come back with the weights, or the two runs part ways.
    let interrupted = dir.path().join("interrupted");
    let first = RunOptions { max_minutes: Some(1e-9), ..options(&interrupted) };
    let stopped = train::train(config.clone(), &first).unwrap();
    assert!(stopped.stopped_early);
    assert_eq!(stopped.steps, 1);
    let resumed = RunOptions { resume: Some(interrupted.clone()), out: None, ..options(&straight) };
    assert_eq!(train::train(TrainConfig::default(), &resumed).unwrap().steps, 24);
    integration_tests::assert_same_checkpoints(&straight, &interrupted);
}

#[test]
fn streams_are_contiguous_rows_and_validation_is_each_files_tail() {
    let parts = vec![
        Part { source: "a".into(), text: "0123456789".repeat(10) },
        Part { source: "b".into(), text: "abcdefghij".repeat(10) },
    ];
    let split = Split::new(&parts, 0.1).unwrap();
    // The last 10 % of each file, in file order.
    assert_eq!(split.valid, "0123456789\n\nabcdefghij");
    assert!(split.train.starts_with("0123456789") && split.train.ends_with("abcdefghij"));
    assert_eq!(split.train.len() + split.valid.len(), 200 + 2 + 2);

    // Row r of batch i + 1 continues row r of batch i; targets are inputs shifted by one.
    let tokens = Tensor::arange(1000, (Kind::Int64, Device::Cpu));
    let streams = Streams::new(tokens, 4, 10).unwrap();
    let (x0, y0) = streams.batch(0, 0, Device::Cpu);
    let (x1, _) = streams.batch(0, 1, Device::Cpu);
    let row = |t: &Tensor, r: i64| Vec::<i64>::try_from(t.get(r)).unwrap();
    for r in 0..4 {
        assert_eq!(row(&x1, r)[0], row(&x0, r)[9] + 1);
        assert_eq!(row(&y0, r)[..9], row(&x0, r)[1..]);
    }
    assert_eq!(streams.batches_per_epoch() as usize, (247 - 1) / 10);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let message = |file: &Path, config: Option<TrainConfig>| {
        let config = config.unwrap_or_else(|| small_config(file.to_path_buf(), 10));
        let out = dir.path().join(format!("run-{}", file.file_name().unwrap().to_string_lossy()));
        let err = train::train(config, &options(&out)).unwrap_err();
        // No run directory is left behind for input that was never usable.
        assert!(!out.exists(), "{} was created", out.display());
        format!("{err:#}")
    };
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "  \n").unwrap();
    assert!(message(&empty, None).contains("empty"), "{}", message(&empty, None));

    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    let m = message(&latin1, None);
    assert!(m.contains("latin1.txt") && m.contains("UTF-8"), "{m}");

    let short = dir.path().join("short.txt");
    std::fs::write(&short, "a short text that cannot fill a batch").unwrap();
    let m = message(&short, None);
    assert!(m.contains("too short") && m.contains("--seq-len"), "{m}");

    let missing = dir.path().join("missing.txt");
    let m = message(&missing, None);
    assert!(m.contains("missing.txt"), "{m}");

    let mut absurd = small_config(short.clone(), 10);
    absurd.dropout = 1.5;
    assert!(message(&short, Some(absurd)).contains("dropout"));

    // A prime with characters the model never saw names them.
    let vs = VarStore::new(Device::Cpu);
    let vocab = Vocab::from_texts(["abc"]);
    let model = CharRnn::new(&vs.root(), spec(CellKind::Rnn, 3));
    let options =
        SampleOptions {
            prime: "abé€".into(), length: 5, temperature: 1.0, top_k: None, seed: 1
        };
    let err = infer::generate(&model, &vocab, &options, Device::Cpu, |_| ControlFlow::Continue(()))
        .unwrap_err();
    let m = format!("{err:#}");
    assert!(m.contains("'é'") && m.contains("'€'"), "{m}");
    let bad = SampleOptions { temperature: -1.0, prime: "a".into(), ..options };
    assert!(
        infer::generate(&model, &vocab, &bad, Device::Cpu, |_| ControlFlow::Continue(())).is_err()
    );
    assert!(data::tensor(&vocab, "abc").is_ok());
}

#[test]
fn window_evaluation_reads_each_window_from_a_fresh_state() {
    let _guard = rng_guard();
    tch::manual_seed(3);
    let vs = VarStore::new(Device::Cpu);
    let model = CharRnn::new(&vs.root(), spec(CellKind::Lstm, 7));
    let (window, n) = (12, 5);
    let tokens = Tensor::randint(7, [n * window + 4], (Kind::Int64, Device::Cpu));
    let windows = train::evaluate_windows(&model, &tokens, window, Device::Cpu).unwrap();
    assert_eq!(windows.chars, n * window);
    // The same, window by window: one stream of window + 1 characters each, from zero state.
    let mut total = 0.0;
    for k in 0..n {
        let one = tokens.narrow(0, k * window, window + 1);
        total += train::evaluate(&model, &one, 1, window, Device::Cpu).unwrap().loss;
    }
    assert!(
        (windows.loss - total / n as f64).abs() < 1e-5,
        "{} vs {}",
        windows.loss,
        total / n as f64
    );
    // Carrying the state over the whole text sees more context: another number.
    let carried = train::evaluate(&model, &tokens, 1, window, Device::Cpu).unwrap();
    assert!((carried.loss - windows.loss).abs() > 1e-7);
    assert!(train::evaluate_windows(&model, &tokens, 1000, Device::Cpu).is_err());
}

#[test]
fn the_corpus_picks_its_defaults_and_an_unknown_one_is_named() {
    let shakespeare = TrainConfig::defaults_for("tinyshakespeare");
    assert_eq!((shakespeare.data.as_str(), shakespeare.valid_fraction), ("tinyshakespeare", 0.1));
    let parts = data::load_parts("tinyshakespeare", &[]).unwrap();
    let split = Split::new(&parts, shakespeare.valid_fraction).unwrap();
    // nanoGPT's split: int(0.9 n) characters train, the rest validation.
    assert_eq!((split.train.chars().count(), split.valid.chars().count()), (1_003_854, 111_540));
    let err =
        TrainConfig { data: "hamlet".into(), ..TrainConfig::default() }.validate().unwrap_err();
    assert!(
        format!("{err}").contains("\"hamlet\"") && format!("{err}").contains("tinyshakespeare")
    );
}
