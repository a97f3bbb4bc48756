//! The data side of a character-level language model: the corpus and its split, the
//! vocabulary, and the batch streams that truncated backpropagation through time reads.

use anyhow::{bail, Context, Result};
use datasets::text::Corpus;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

/// One text of the corpus (a novel, a file) and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The file (`vendored/<name>` for the embedded novels).
    pub source: PathBuf,
    /// Its text.
    pub text: String,
}

/// The embedded corpora, by the name `--data` takes.
pub const CORPORA: [&str; 2] = ["austen", "tinyshakespeare"];

/// The files of the embedded corpus `name`.
pub fn embedded(name: &str) -> Result<&'static [datasets::vendored::Vendored]> {
    match name {
        "austen" => Ok(&datasets::vendored::AUSTEN),
        "tinyshakespeare" => Ok(std::slice::from_ref(&datasets::vendored::TINY_SHAKESPEARE)),
        _ => bail!(
            "no embedded corpus {name:?}: there are {} (or give --text FILE...)",
            CORPORA.join(", ")
        ),
    }
}

/// Reads the corpus: the given UTF-8 files (gzipped or not), or, when `files` is empty, the
/// embedded corpus `data` (Jane Austen's six novels, or tiny Shakespeare). Empty and non-UTF-8
/// files are errors.
pub fn load_parts(data: &str, files: &[PathBuf]) -> Result<Vec<Part>> {
    if files.is_empty() {
        return embedded(data)?
            .iter()
            .map(|v| {
                let corpus = Corpus::from_bytes(vec![(v.path(), v.bytes()?)])?;
                Ok(Part { source: v.path(), text: corpus.text })
            })
            .collect();
    }
    files
        .iter()
        .map(|f| {
            let corpus = Corpus::load(std::slice::from_ref(f))?;
            Ok(Part { source: f.clone(), text: corpus.text })
        })
        .collect()
}

/// The training and validation text: the last `valid_fraction` of every part (contiguous, cut
/// at a character boundary) is validation, the rest training. Parts are joined by a blank line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Training text.
    pub train: String,
    /// Validation text.
    pub valid: String,
}

impl Split {
    /// Splits `parts`; `valid_fraction` must be in (0, 1).
    pub fn new(parts: &[Part], valid_fraction: f64) -> Result<Split> {
        if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
            bail!("the validation fraction must be between 0 and 1, got {valid_fraction}");
        }
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        for part in parts {
            let text = &part.text;
            let mut cut = ((text.len() as f64) * (1.0 - valid_fraction)) as usize;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            train.push(&text[..cut]);
            valid.push(&text[cut..]);
        }
        Ok(Split { train: train.join("\n\n"), valid: valid.join("\n\n") })
    }
}

/// The characters a model knows, each with an index (sorted by code point, so the same text
/// always gives the same vocabulary). Saved with every checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vocab {
    chars: Vec<char>,
    index: HashMap<char, i64>,
}

impl Vocab {
    /// Every character that occurs in `texts`.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vocab {
        let mut chars: Vec<char> = texts.into_iter().flat_map(str::chars).collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab::from_chars(chars)
    }

    fn from_chars(chars: Vec<char>) -> Vocab {
        let index = chars.iter().enumerate().map(|(i, &c)| (c, i as i64)).collect();
        Vocab { chars, index }
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The index of `c`, if known.
    pub fn id(&self, c: char) -> Option<i64> {
        self.index.get(&c).copied()
    }

    /// The character at `id`.
    pub fn char(&self, id: i64) -> char {
        self.chars[id as usize]
    }

    /// The indices of `text`'s characters; an error names every character the vocabulary lacks.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let ids: Vec<Option<i64>> = text.chars().map(|c| self.id(c)).collect();
        if ids.iter().all(Option::is_some) {
            return Ok(ids.into_iter().flatten().collect());
        }
        let mut unknown: Vec<char> = text.chars().filter(|&c| self.id(c).is_none()).collect();
        unknown.sort_unstable();
        unknown.dedup();
        let shown: Vec<String> = unknown.iter().take(20).map(|c| format!("{c:?}")).collect();
        bail!(
            "{} character{} never seen in training: {}{}",
            unknown.len(),
            if unknown.len() == 1 { " was" } else { "s were" },
            shown.join(", "),
            if unknown.len() > 20 { ", ..." } else { "" }
        )
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[i64]) -> String {
        ids.iter().map(|&i| self.char(i)).collect()
    }
}

impl From<Vocab> for String {
    fn from(v: Vocab) -> String {
        v.chars.into_iter().collect()
    }
}

impl TryFrom<String> for Vocab {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Vocab, String> {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() || chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err("a vocabulary is a non-empty string of sorted, distinct characters".into());
        }
        Ok(Vocab::from_chars(chars))
    }
}

/// The token stream cut into `batch` contiguous rows, read `seq_len` characters at a time: row
/// `r` of batch `i` continues row `r` of batch `i - 1`, so the hidden state carried from one
/// batch to the next has read exactly the text that precedes it.
///
/// Every epoch starts the rows `epoch * 7 % seq_len` characters later, so the cuts between
/// truncated-backpropagation windows fall at different places in different epochs; the number
/// of batches per epoch is the same for all.
#[derive(Debug)]
pub struct Streams {
    tokens: Tensor,
    batch: i64,
    seq_len: i64,
    row_len: i64,
}

impl Streams {
    /// Streams over `tokens` (a 1-D i64 tensor). Errors if the text is too short for one batch.
    pub fn new(tokens: Tensor, batch: i64, seq_len: i64) -> Result<Streams> {
        let len = tokens.size()[0];
        if batch < 1 || seq_len < 1 {
            bail!("batch size and sequence length must be at least 1");
        }
        // Room for the largest epoch offset, then `batch` rows of at least seq_len + 1 tokens.
        let row_len = (len - seq_len) / batch;
        if row_len < seq_len + 1 {
            bail!(
                "the training text ({len} characters) is too short for batches of {batch} rows of \
                 {seq_len} characters: it needs at least {}; lower --batch-size or --seq-len",
                batch * (seq_len + 1) + seq_len
            );
        }
        Ok(Streams { tokens, batch, seq_len, row_len })
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> u64 {
        ((self.row_len - 1) / self.seq_len) as u64
    }

    /// Inputs and targets `[batch, seq_len]` of batch `i` of `epoch`, on `device`: the targets
    /// are the inputs shifted by one character.
    pub fn batch(&self, epoch: u64, i: u64, device: Device) -> (Tensor, Tensor) {
        let offset = (epoch as i64 * 7) % self.seq_len;
        let starts = Tensor::arange(self.batch, (Kind::Int64, Device::Cpu)) * self.row_len
            + offset
            + i as i64 * self.seq_len;
        let cols = Tensor::arange(self.seq_len + 1, (Kind::Int64, Device::Cpu));
        let idx = starts.unsqueeze(1) + cols.unsqueeze(0);
        let window = self.tokens.index_select(0, &idx.view([-1])).view([self.batch, -1]);
        let x = window.narrow(1, 0, self.seq_len).to_device(device);
        let y = window.narrow(1, 1, self.seq_len).to_device(device);
        (x, y)
    }
}

/// Encodes `text` as a 1-D i64 tensor on the CPU.
pub fn tensor(vocab: &Vocab, text: &str) -> Result<Tensor> {
    let ids = vocab.encode(text).context("the text cannot be encoded")?;
    Ok(Tensor::from_slice(&ids))
}
