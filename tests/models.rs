//! The trained models that ship in `models/`: every card's files are there, match their sha256
//! and fit the size budget; every model still reaches the bound its card records on a small
//! fixed subset (so a damaged file or changed preprocessing fails here, not for a user); and a
//! wrong name or a changed file gets one sentence.

use harness::models::{self, Better, Card};
use integration_tests::{bin, fixtures};
use std::path::Path;
use tch::Device;

/// The size all shipped models may take together.
const BUDGET_BYTES: u64 = 50 * 1024 * 1024;

#[test]
fn every_card_lists_its_files_with_their_sha256_and_all_fit_in_50_mb() {
    let cards = models::cards().unwrap();
    assert!(!cards.is_empty(), "no card found in {}", models::models_dir().display());
    let mut total = 0;
    for card in &cards {
        card.verify().unwrap_or_else(|e| panic!("{}: {e}", card.name));
        assert!(card.files.contains_key(&card.checkpoint), "{}", card.name);
        assert!(card.files.contains_key("model.json"), "{}: the sidecar is not listed", card.name);
        for file in card.files.keys() {
            total += std::fs::metadata(card.dir.join(file)).unwrap().len();
        }
        let app = ["cnn-classifier", "char-rnn", "seq2seq", "dqn"];
        assert!(app.contains(&card.app.as_str()), "{}: unknown app {}", card.name, card.app);
        assert!(
            card.metric.command.iter().any(|a| a == &card.name),
            "{}: the card's command does not measure this model: {:?}",
            card.name,
            card.metric.command
        );
    }
    assert!(total < BUDGET_BYTES, "the shipped models take {total} bytes, over 50 MB");
}

/// Asserts that `card`'s model measured `value` on its check subset, within the card's bound.
#[track_caller]
fn assert_within_bound(card: &Card, value: f64) {
    let ok = match card.metric.goal {
        Better::Max => value >= card.check.bound,
        Better::Min => value <= card.check.bound,
    };
    assert!(
        ok,
        "{}: {} = {value:.4}, beyond the bound {} in its card (measured {} when shipped)",
        card.name, card.check.name, card.check.bound, card.check.value
    );
    eprintln!("{}: {} = {value:.4} (card: {})", card.name, card.check.name, card.check.value);
}

#[test]
fn shipped_classifiers_reach_their_bound_on_600_test_images() {
    use cnn_classifier::infer::Classifier;
    for card in models::cards_of(cnn_classifier::APP).unwrap() {
        let trained = Classifier::load(Path::new(&card.name), Device::Cpu).unwrap();
        let classes: Vec<&str> = trained.info.classes.iter().map(String::as_str).collect();
        let set = datasets::idx::load_pair(
            &fixtures().join(format!("{}-t10k-600-images-idx3-ubyte.gz", card.name)),
            &fixtures().join(format!("{}-t10k-600-labels-idx1-ubyte.gz", card.name)),
            &classes,
        )
        .unwrap_or_else(|e| panic!("{}: no test fixture ({e})", card.name));
        let eval = cnn_classifier::train::evaluate(
            &trained.net,
            &set,
            &trained.info.norm,
            200,
            Device::Cpu,
        )
        .unwrap();
        assert_within_bound(&card, 100.0 * eval.accuracy);
    }
}

#[test]
fn shipped_language_models_reach_their_bound_on_the_start_of_their_validation_text() {
    use char_rnn::infer::CharModel;
    for card in models::cards_of(char_rnn::APP).unwrap() {
        let trained = CharModel::load(Path::new(&card.name), Device::Cpu).unwrap();
        let parts = char_rnn::data::load_parts(&trained.config.data, &trained.config.text).unwrap();
        let split = char_rnn::data::Split::new(&parts, trained.config.valid_fraction).unwrap();
        let start: String = split.valid.chars().take(20_000).collect();
        let tokens = char_rnn::data::tensor(&trained.info.vocab, &start).unwrap();
        let eval = char_rnn::train::evaluate(
            &trained.model,
            &tokens,
            8,
            trained.config.seq_len,
            Device::Cpu,
        )
        .unwrap();
        assert_within_bound(&card, eval.bpc);
    }
}

#[test]
fn shipped_translators_reach_their_bound_on_twenty_captions() {
    use seq2seq::infer::{Decoding, Translator};
    let pairs = std::fs::read_to_string(fixtures().join("captions-en-de.tsv")).unwrap();
    let (english, german): (Vec<&str>, Vec<&str>) =
        pairs.lines().map(|l| l.split_once('\t').unwrap()).unzip();
    for card in models::cards_of(seq2seq::APP).unwrap() {
        let translator = Translator::load(Path::new(&card.name), Device::Cpu).unwrap();
        let out = translator.translate(&german, Decoding { beam: 5, alpha: 1.0 });
        let hypotheses: Vec<&str> = out.iter().map(|t| t.text.as_str()).collect();
        let bleu = seq2seq::bleu::corpus_bleu_words(&hypotheses, &english);
        assert_within_bound(&card, bleu.score);
    }
}

#[test]
fn shipped_agents_reach_their_bound_over_five_episodes() {
    use dqn::infer::Agent;
    for card in models::cards_of(dqn::APP).unwrap() {
        let agent = Agent::load(Path::new(&card.name), Device::Cpu).unwrap();
        let played = agent.play(5, 0.01, 7, false).unwrap();
        assert_within_bound(&card, played.eval.mean());
    }
}

/// A copy of the shipped models in a fresh directory, for tests that damage them.
fn copy_of_models(name: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("shipped-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for card in models::cards().unwrap() {
        let dir = root.join(&card.name);
        std::fs::create_dir_all(&dir).unwrap();
        for file in card.files.keys().map(String::as_str).chain(["MODEL.md"]) {
            std::fs::copy(card.dir.join(file), dir.join(file)).unwrap();
        }
    }
    root
}

#[test]
fn a_model_file_that_differs_from_its_card_is_refused_with_one_sentence() {
    let root = copy_of_models("damaged");
    let file = root.join("cartpole").join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1; // one bit of one weight
    std::fs::write(&file, bytes).unwrap();
    let out = bin("dqn")
        .args(["eval", "--checkpoint", "cartpole", "--episodes", "1"])
        .env(models::MODELS_ENV, &root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("model.safetensors") && stderr.contains("sha256"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_unknown_model_name_lists_the_shipped_ones() {
    let out = bin("dqn").args(["play", "--checkpoint", "cartpol"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cartpol") && stderr.contains("dqn ships cartpole"), "{stderr}");
    let out = bin("dqn").arg("models").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("cartpole"), "{stdout}");
}

#[test]
fn the_demo_tour_shows_the_shipped_agent_balancing_the_pole_for_500_steps() {
    let dir = std::env::temp_dir().join(format!("demo-dqn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = bin("dqn").arg("demo").current_dir(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("`cartpole`") && stdout.contains("return 500 in 500 steps"),
        "{stdout}"
    );
    let gif = std::fs::read(dir.join("runs/demo/cartpole.gif")).unwrap();
    assert!(gif.starts_with(b"GIF89a"), "not a GIF");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reproduce_measures_a_card_again_and_names_an_unknown_model() {
    let out = bin("dl").args(["reproduce", "cartpole"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row = stdout.lines().find(|l| l.starts_with("cartpole")).expect("a row for cartpole");
    assert!(row.contains("500.0000") && row.ends_with("reproduced"), "{stdout}");
    let out = bin("dl").args(["reproduce", "cartpol"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("\"cartpol\""), "{stderr}");
}

#[test]
fn the_demo_tour_reads_photographed_digits_and_a_digit_drawn_on_the_spot_with_mnist() {
    let dir = std::env::temp_dir().join(format!("demo-cnn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = bin("cnn-classifier").arg("demo").current_dir(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (name, digit) in [("digit-3.png", "3"), ("digit-4.png", "4"), ("digit-9.png", "9")] {
        let line = stdout.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains(&format!(": {digit} (")), "{line}");
    }
    let drawn = stdout.lines().find(|l| l.contains("drawn just now")).expect("the drawn digit");
    assert!(drawn.contains("drawn-7.png: 7 ("), "{drawn}");
    assert!(
        dir.join("runs/demo/drawn-7.png").is_file() && dir.join("runs/demo/filters.png").is_file()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_demo_tour_translates_five_captions_with_multi30k_and_draws_the_attention() {
    let dir = std::env::temp_dir().join(format!("demo-seq2seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = bin("seq2seq").arg("demo").current_dir(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("the shipped model `multi30k`"), "{stdout}");
    // The first caption, "Ein Mann fährt mit dem Fahrrad die Straße hinunter.", is about a man.
    assert!(
        stdout.contains("Zwei Hunde spielen im Schnee.") && stdout.to_lowercase().contains("man")
    );
    assert!(dir.join("runs/demo/attention.png").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_demo_tour_continues_austen_from_a_prime_and_saves_the_text() {
    let dir = std::env::temp_dir().join(format!("demo-char-rnn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = bin("char-rnn").arg("demo").current_dir(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let saved = std::fs::read_to_string(dir.join("runs/demo/austen-sample.txt")).unwrap();
    assert!(saved.starts_with("It is a truth universally acknowledged"), "{saved}");
    assert!(saved.chars().count() > 400 && stdout.contains(saved.trim_end()), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
