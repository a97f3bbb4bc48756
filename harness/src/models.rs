//! Trained models that ship with the workspace: `models/<name>/` holds a checkpoint written by
//! one of the apps' own training commands (weights, sidecar) and its card, `MODEL.md`.
//!
//! A card is Markdown for people with a TOML block for programs at its top, between two `+++`
//! lines (Hugo's front matter): the app, the checkpoint file, the sha256 of every file, the
//! headline metric with the command that reproduces it and its tolerance, and the bound a test
//! checks on a small fixed subset:
//!
//! ```toml
//! name = "mnist"
//! app = "cnn-classifier"
//! summary = "handwritten digits, the PyTorch example's CNN"
//! checkpoint = "model.safetensors"
//!
//! [metric]
//! name = "test accuracy, %"
//! key = "accuracy"
//! value = 99.43
//! tolerance = 0.02
//! goal = "max"
//! command = ["eval", "--checkpoint", "mnist"]
//!
//! [check]
//! name = "accuracy on the first 1,000 test images, %"
//! value = 99.8
//! bound = 99.5
//!
//! [files]
//! "model.safetensors" = "9f2c…"
//! "model.json" = "41ab…"
//! ```
//!
//! Commands that read a model take a shipped model's name wherever they take a checkpoint path
//! ([`resolve`]); the files are checked against their card's sha256 before they are used.

use dl_core::{Error, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The variable that points at another `models/` folder (an installed binary, a fork's models).
pub const MODELS_ENV: &str = "DL_SHOWCASES_MODELS";

/// The folder shipped models live in: `$DL_SHOWCASES_MODELS`, else the workspace's `models/`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os(MODELS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
            harness.parent().unwrap_or(harness).join("models")
        }
    }
}

/// Whether a higher or a lower value of a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Higher is better (accuracy, BLEU, return).
    Max,
    /// Lower is better (bits per character, loss).
    Min,
}

/// The card's headline number and how to measure it again.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// What it is, for people ("test accuracy, %").
    pub name: String,
    /// Its key in the JSON the command writes with `--metrics-json FILE`.
    pub key: String,
    /// The value the card states.
    pub value: f64,
    /// How far a measurement may fall short of `value` and still reproduce it.
    pub tolerance: f64,
    /// Which direction is better.
    pub goal: Better,
    /// The app's arguments that measure it on the full split (`eval --checkpoint NAME`).
    pub command: Vec<String>,
}

impl Metric {
    /// Whether `measured` reproduces the card: no worse than its value by more than the tolerance.
    pub fn reproduced_by(&self, measured: f64) -> bool {
        let slack = self.tolerance + 1e-9;
        match self.goal {
            Better::Max => measured >= self.value - slack,
            Better::Min => measured <= self.value + slack,
        }
    }
}

/// What the workspace's tests measure on a small fixed subset, and the bound they hold it to.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// What is measured, on which subset.
    pub name: String,
    /// The value measured when the card was written.
    pub value: f64,
    /// The test fails beyond it (below for `goal = "max"`, above for `"min"`).
    pub bound: f64,
}

/// A shipped model's card: the TOML block at the top of its `MODEL.md`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// The name users type (`--checkpoint mnist`); also its folder's name.
    pub name: String,
    /// The app that wrote it and reads it.
    pub app: String,
    /// One line on what it does.
    pub summary: String,
    /// The checkpoint's model file, in the model's folder.
    pub checkpoint: String,
    /// The headline number.
    pub metric: Metric,
    /// The subset check the tests run.
    pub check: Check,
    /// sha256 of every file the model needs, by file name.
    pub files: BTreeMap<String, String>,
    /// The folder it lives in (not in the TOML).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Card {
    /// Reads the card of the model in `dir` (`dir/MODEL.md`).
    pub fn read(dir: &Path) -> Result<Card> {
        let path = dir.join("MODEL.md");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let front = front_matter(&text).ok_or_else(|| {
            Error::bad_file(
                &path,
                "a model card must start with a TOML block between two +++ lines",
            )
        })?;
        let mut card: Card = toml::from_str(front)
            .map_err(|e| Error::bad_file(&path, format!("invalid card: {}", e.message())))?;
        let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if card.name != folder {
            return Err(Error::bad_file(
                &path,
                format!("the card names the model {:?} but its folder is {folder:?}", card.name),
            ));
        }
        if !card.files.contains_key(&card.checkpoint) {
            return Err(Error::bad_file(&path, "the card lists no sha256 for its checkpoint"));
        }
        card.dir = dir.to_path_buf();
        Ok(card)
    }

    /// The checkpoint's model file (`models/<name>/model.safetensors`).
    pub fn checkpoint_path(&self) -> PathBuf {
        self.dir.join(&self.checkpoint)
    }

    /// Checks every file against the sha256 in the card; a file that differs is refused with a
    /// sentence naming it.
    pub fn verify(&self) -> Result<()> {
        for (file, expected) in &self.files {
            let path = self.dir.join(file);
            let actual = sha256_file(&path)?;
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(Error::bad_file(
                    &path,
                    format!(
                        "its sha256 differs from the one in {} (the file was changed or \
                         damaged; `git checkout {}` restores it)",
                        self.dir.join("MODEL.md").display(),
                        path.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The TOML between the leading `+++` line and the next one.
fn front_matter(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("+++")?.strip_prefix('\n').or_else(|| {
        text.strip_prefix("+++\r\n") // a card saved with Windows line ends
    })?;
    let end = rest.find("\n+++")?;
    Some(&rest[..end + 1])
}

/// The sha256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Every shipped model's card, by name (an absent `models/` folder ships none).
pub fn cards() -> Result<Vec<Card>> {
    cards_in(&models_dir())
}

/// The cards of the models in `dir`, by name.
pub fn cards_in(dir: &Path) -> Result<Vec<Card>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut cards = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.join("MODEL.md").is_file() {
            cards.push(Card::read(&path)?);
        }
    }
    cards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cards)
}

/// The cards of `app`'s shipped models.
pub fn cards_of(app: &str) -> Result<Vec<Card>> {
    Ok(cards()?.into_iter().filter(|c| c.app == app).collect())
}

/// The shipped model `name` of `app`, its files verified; `None` (after saying so on stderr)
/// where the workspace ships no such model: what the demo tour uses, so that one missing model
/// skips one stop instead of ending the tour.
pub fn for_demo(app: &str, name: &str) -> Result<Option<Card>> {
    match cards_of(app)?.into_iter().find(|c| c.name == name) {
        Some(card) => {
            card.verify()?;
            Ok(Some(card))
        }
        None => {
            eprintln!(
                "{app}: skipped: no trained model {name:?} ships in {}",
                models_dir().display()
            );
            Ok(None)
        }
    }
}

/// Where the demo tour writes what it shows: `runs/demo/` (created).
pub fn demo_dir() -> Result<PathBuf> {
    let dir = PathBuf::from("runs").join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// The checkpoint `arg` means for `app`: an existing checkpoint file or run directory (as
/// [`dl_core::checkpoint::resolve`]), else the shipped model of that name, its files verified.
pub fn resolve(arg: &Path, app: &str) -> Result<PathBuf> {
    resolve_in(&models_dir(), arg, app)
}

fn resolve_in(dir: &Path, arg: &Path, app: &str) -> Result<PathBuf> {
    if arg.exists() || !is_bare_name(arg) {
        return dl_core::checkpoint::resolve(arg);
    }
    let name = arg.to_string_lossy();
    let shipped: Vec<Card> = cards_in(dir)?.into_iter().filter(|c| c.app == app).collect();
    match shipped.iter().find(|c| c.name == name) {
        Some(card) => {
            card.verify()?;
            Ok(card.checkpoint_path())
        }
        None => {
            let names: Vec<&str> = shipped.iter().map(|c| c.name.as_str()).collect();
            let offer = if names.is_empty() {
                format!("{app} ships no trained model")
            } else {
                format!("{app} ships {}", names.join(", "))
            };
            Err(Error::bad_file(
                arg,
                format!("no such file or run directory, nor a shipped model ({offer})"),
            ))
        }
    }
}

/// Whether `path` is one plain name (no directory part, no extension), as model names are.
fn is_bare_name(path: &Path) -> bool {
    let text = path.to_string_lossy();
    !text.is_empty()
        && path.components().count() == 1
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// How a shipped model's weights are stored: as trained, or halved where its card's metric
/// stays within tolerance (they are widened back to the model's kind when loaded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Storage {
    /// 32-bit floats, as trained.
    F32,
    /// IEEE half precision (10-bit mantissa): exact enough for most weights.
    F16,
    /// bfloat16 (8-bit mantissa, f32's range).
    Bf16,
}

/// Copies checkpoint `from` (a file or run directory) into `dir` (`models/<name>/`) as a model
/// to ship: its weights as `model.safetensors` in `storage`, its sidecar without the training
/// state as `model.json`; then writes both files' sha256 into the `[files]` table that ends the
/// card's TOML block (the card, `dir/MODEL.md`, must exist). Returns the files and their sums.
pub fn pack(from: &Path, dir: &Path, storage: Storage) -> Result<Vec<(String, String)>> {
    let card_path = dir.join("MODEL.md");
    let card = std::fs::read_to_string(&card_path).map_err(|e| Error::io(&card_path, e))?;
    let from = dl_core::checkpoint::resolve(from)?;
    let paths = dl_core::checkpoint::Paths::of(&from);
    let bytes = std::fs::read(&paths.sidecar).map_err(|e| Error::io(&paths.sidecar, e))?;
    let mut sidecar: dl_core::checkpoint::Sidecar = serde_json::from_slice(&bytes)
        .map_err(|e| Error::bad_file(&paths.sidecar, format!("not a checkpoint sidecar ({e})")))?;
    let kind = match storage {
        Storage::F32 => tch::Kind::Float,
        Storage::F16 => tch::Kind::Half,
        Storage::Bf16 => tch::Kind::BFloat16,
    };
    let tensors = dl_core::checkpoint::read_tensors(&paths.model)?
        .into_iter()
        .map(|(n, t)| match t.is_floating_point() {
            true => (n, t.to_kind(kind)),
            false => (n, t),
        })
        .collect();
    dl_core::checkpoint::write_tensors(&dir.join("model.safetensors"), tensors)?;
    (sidecar.optimizer, sidecar.state, sidecar.state_tensors) =
        (None, serde_json::Value::Null, Vec::new());
    let json = serde_json::to_vec_pretty(&sidecar)
        .map_err(|e| Error::Config(format!("the sidecar cannot be serialised: {e}")))?;
    let sidecar_path = dir.join("model.json");
    dl_core::fs::write_atomic(&sidecar_path, &json).map_err(|e| Error::io(&sidecar_path, e))?;
    let mut sums = Vec::new();
    for file in ["model.safetensors", "model.json"] {
        sums.push((file.to_string(), sha256_file(&dir.join(file))?));
    }
    let updated = with_files(&card, &sums).ok_or_else(|| {
        Error::bad_file(&card_path, "the card's TOML block must end with a [files] table")
    })?;
    dl_core::fs::write_atomic(&card_path, updated.as_bytes())
        .map_err(|e| Error::io(&card_path, e))?;
    Ok(sums)
}

/// `card` with the `[files]` table that ends its TOML block replaced by `sums`.
fn with_files(card: &str, sums: &[(String, String)]) -> Option<String> {
    let front = front_matter(card)?;
    let start = front.find("[files]\n")?;
    let table: String = sums.iter().map(|(f, s)| format!("\"{f}\" = \"{s}\"\n")).collect();
    let front_start = card.find(front)?;
    Some(format!(
        "{}[files]\n{table}{}",
        &card[..front_start + start],
        &card[front_start + front.len()..]
    ))
}

/// Writes `metrics` as one JSON object to `path`, atomically: what `eval --metrics-json FILE`
/// leaves for `dl reproduce` to compare with the cards.
pub fn write_metrics(path: &Path, metrics: &[(&str, f64)]) -> Result<()> {
    let object: serde_json::Map<String, serde_json::Value> =
        metrics.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect();
    let text = serde_json::to_string_pretty(&object)
        .map_err(|e| Error::Config(format!("metrics cannot be written as JSON: {e}")))?;
    dl_core::fs::write_atomic(path, text.as_bytes()).map_err(|e| Error::io(path, e))
}

/// The table `<app> models` prints: each shipped model, its headline number and its card.
pub fn table(app: &str) -> Result<String> {
    let cards = cards_of(app)?;
    if cards.is_empty() {
        return Ok(format!(
            "{app} ships no trained model (looked in {})\n",
            models_dir().display()
        ));
    }
    let mut out = String::new();
    for card in cards {
        out.push_str(&format!(
            "{:<14} {}\n{:<14} {}: {} (card: {})\n",
            card.name,
            card.summary,
            "",
            card.metric.name,
            card.metric.value,
            card.dir.join("MODEL.md").display()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "+++\nname = \"toy\"\napp = \"cnn-classifier\"\nsummary = \"s\"\n\
        checkpoint = \"model.safetensors\"\n\
        [metric]\nname = \"acc\"\nkey = \"accuracy\"\nvalue = 99.0\ntolerance = 0.1\n\
        goal = \"max\"\ncommand = [\"eval\"]\n\
        [check]\nname = \"c\"\nvalue = 98.0\nbound = 97.0\n\
        [files]\n\"model.safetensors\" = \"SUM\"\n+++\n\n# Toy\n";

    fn write_model(root: &Path, card: &str, bytes: &[u8]) -> PathBuf {
        let dir = root.join("toy");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
        let sum = sha256_file(&dir.join("model.safetensors")).unwrap();
        std::fs::write(dir.join("MODEL.md"), card.replace("SUM", &sum)).unwrap();
        dir
    }

    #[test]
    fn a_card_is_read_from_its_front_matter() {
        let root = std::env::temp_dir().join(format!("models-card-{}", std::process::id()));
        let dir = write_model(&root, CARD, b"weights");
        let card = Card::read(&dir).unwrap();
        assert_eq!(card.name, "toy");
        assert_eq!(card.metric.goal, Better::Max);
        assert_eq!(card.checkpoint_path(), dir.join("model.safetensors"));
        card.verify().unwrap();
        std::fs::write(dir.join("model.safetensors"), b"weightz").unwrap();
        let err = card.verify().unwrap_err().to_string();
        assert!(err.contains("model.safetensors") && err.contains("sha256"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_card_whose_name_is_not_its_folder_is_refused() {
        let root = std::env::temp_dir().join(format!("models-name-{}", std::process::id()));
        let dir = write_model(&root, &CARD.replace("\"toy\"", "\"other\""), b"w");
        let err = Card::read(&dir).unwrap_err().to_string();
        assert!(err.contains("\"other\"") && err.contains("\"toy\""), "{err}");
        std::fs::write(dir.join("MODEL.md"), "# no front matter\n").unwrap();
        assert!(Card::read(&dir).unwrap_err().to_string().contains("+++"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn reproduction_allows_the_tolerance_in_the_worse_direction_only() {
        let mut m = Metric {
            name: "acc".into(),
            key: "accuracy".into(),
            value: 99.4,
            tolerance: 0.1,
            goal: Better::Max,
            command: vec![],
        };
        assert!(m.reproduced_by(99.3) && m.reproduced_by(99.9));
        assert!(!m.reproduced_by(99.25));
        m.goal = Better::Min;
        assert!(m.reproduced_by(99.5) && m.reproduced_by(90.0));
        assert!(!m.reproduced_by(99.55));
    }

    #[test]
    fn a_name_resolves_to_its_verified_checkpoint_and_an_unknown_one_lists_the_shipped() {
        let root = std::env::temp_dir().join(format!("models-resolve-{}", std::process::id()));
        let dir = write_model(&root, CARD, b"weights");
        let path = resolve_in(&root, Path::new("toy"), "cnn-classifier").unwrap();
        assert_eq!(path, dir.join("model.safetensors"));
        let err = resolve_in(&root, Path::new("tiny"), "cnn-classifier").unwrap_err().to_string();
        assert!(err.contains("tiny") && err.contains("cnn-classifier ships toy"), "{err}");
        let err = resolve_in(&root, Path::new("toy"), "dqn").unwrap_err().to_string();
        assert!(err.contains("dqn ships no trained model"), "{err}");
        std::fs::write(dir.join("model.safetensors"), b"changed").unwrap();
        let err = resolve_in(&root, Path::new("toy"), "cnn-classifier").unwrap_err().to_string();
        assert!(err.contains("sha256"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn packing_rewrites_the_files_table_and_keeps_the_rest_of_the_card() {
        let card = CARD.replace("\"model.safetensors\" = \"SUM\"\n", "\"old\" = \"0\"\n");
        let sums = [("model.safetensors".to_string(), "abc".to_string())];
        let updated = with_files(&card, &sums).unwrap();
        assert!(updated.contains("[files]\n\"model.safetensors\" = \"abc\"\n+++\n\n# Toy\n"));
        assert!(!updated.contains("\"old\""));
        assert!(updated.starts_with("+++\nname = \"toy\""));
        assert!(with_files("+++\nname = \"x\"\n+++\n", &sums).is_none());
    }

    #[test]
    fn only_plain_names_are_looked_up_as_shipped_models() {
        assert!(is_bare_name(Path::new("fashion-mnist")));
        assert!(is_bare_name(Path::new("de_en2")));
        assert!(!is_bare_name(Path::new("runs/x")));
        assert!(!is_bare_name(Path::new("best.safetensors")));
        assert!(!is_bare_name(Path::new("")));
    }
}
