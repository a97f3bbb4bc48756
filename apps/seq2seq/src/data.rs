//! The sentence pairs: read, oriented (German→English or back), split by a stable hash,
//! optionally joined by the Ding dictionary's word and phrase pairs (training split only),
//! tokenized, and dealt into padded batches of similar lengths.

use crate::tokenize::{Vocab, BOS, EOS, PAD};
use anyhow::{bail, Context, Result};
use datasets::pairs::{self, Pair};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// Which language is read and which is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Direction {
    /// German to English.
    #[serde(rename = "de-en")]
    #[value(name = "de-en")]
    DeEn,
    /// English to German.
    #[serde(rename = "en-de")]
    #[value(name = "en-de")]
    EnDe,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::DeEn => "de-en",
            Direction::EnDe => "en-de",
        })
    }
}

/// A source sentence and its reference translation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Example {
    /// The sentence to translate.
    pub source: String,
    /// Its translation.
    pub target: String,
}

/// The three splits, oriented.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// Training examples (sentence pairs, then dictionary pairs if asked for).
    pub train: Vec<Example>,
    /// Validation examples (sentence pairs only).
    pub valid: Vec<Example>,
    /// Test examples (sentence pairs only).
    pub test: Vec<Example>,
    /// How many of `train` came from the dictionary.
    pub dictionary_pairs: usize,
}

/// Reads an `English<TAB>German` pair file (the vendored Ding pairs when `file` is `None`).
pub fn read_pairs(file: Option<&Path>) -> Result<Vec<Pair>> {
    Ok(match file {
        None => datasets::vendored::en_de()?,
        Some(path) => pairs::load_tsv(path)?,
    })
}

/// Where a run's sentence pairs come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// One pair file (the embedded Ding pairs when `None`), split by a stable hash.
    Hashed(Option<PathBuf>),
    /// Multi30k's official splits, from the data cache (fetched on first use).
    Multi30k,
    /// Official splits given as three `English<TAB>German` files.
    Files {
        /// Training pairs.
        train: PathBuf,
        /// Validation pairs.
        valid: PathBuf,
        /// Test pairs.
        test: PathBuf,
    },
}

impl Source {
    /// The source a configuration names; a partial set of split files, or an unknown dataset,
    /// is refused with one sentence.
    pub fn of(config: &crate::config::TrainConfig) -> Result<Source> {
        match (&config.train, &config.valid, &config.test) {
            (Some(train), Some(valid), Some(test)) => {
                return Ok(Source::Files {
                    train: train.clone(),
                    valid: valid.clone(),
                    test: test.clone(),
                })
            }
            (None, None, None) => {}
            _ => bail!("--train, --valid and --test go together: give all three files"),
        }
        match config.data.as_str() {
            "ding" => Ok(Source::Hashed(config.pairs.clone())),
            "multi30k" if config.pairs.is_none() => Ok(Source::Multi30k),
            "multi30k" => bail!("--pairs is a file to split, and multi30k has its own splits"),
            other => bail!("unknown data {other:?}: expected ding or multi30k (or --train/--valid/--test files)"),
        }
    }

    /// The three splits, oriented.
    pub fn corpus(&self, direction: Direction) -> Result<Corpus> {
        let orient_all = |ps: Vec<Pair>| ps.iter().map(|p| orient(p, direction)).collect();
        let (train, valid, test) = match self {
            Source::Hashed(file) => return split(&read_pairs(file.as_deref())?, direction),
            Source::Multi30k => {
                let data_dir = datasets::fetch::data_dir(None);
                datasets::Dataset::Multi30k.fetch(&data_dir)?;
                let s = pairs::multi30k(&datasets::Dataset::Multi30k.dir(&data_dir))?;
                (s.train, s.valid, s.test)
            }
            Source::Files { train, valid, test } => {
                (pairs::load_tsv(train)?, pairs::load_tsv(valid)?, pairs::load_tsv(test)?)
            }
        };
        Ok(Corpus {
            train: orient_all(train),
            valid: orient_all(valid),
            test: orient_all(test),
            dictionary_pairs: 0,
        })
    }
}

/// Orients an `English<TAB>German` pair.
pub fn orient(pair: &Pair, direction: Direction) -> Example {
    let (source, target) = match direction {
        Direction::DeEn => (&pair.second, &pair.first),
        Direction::EnDe => (&pair.first, &pair.second),
    };
    Example { source: source.clone(), target: target.clone() }
}

/// Splits by the pair's hash: 5 % test, 5 % validation, the rest training (the datasets
/// crate's split, so the test sentences are the same for every run and direction).
pub fn split(pairs: &[Pair], direction: Direction) -> Result<Corpus> {
    let split = pairs::split(pairs, 0.05, 0.05)?;
    let orient_all = |ps: &[Pair]| ps.iter().map(|p| orient(p, direction)).collect::<Vec<_>>();
    let corpus = Corpus {
        train: orient_all(&split.train),
        valid: orient_all(&split.valid),
        test: orient_all(&split.test),
        dictionary_pairs: 0,
    };
    if corpus.train.is_empty() || corpus.valid.is_empty() {
        bail!("{} pairs are too few to split into training and validation sets", pairs.len());
    }
    Ok(corpus)
}

/// Sentences compared for the dictionary's exclusions: lowercase, single spaces.
fn normalise(s: &str) -> String {
    s.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Adds dictionary pairs (`first` German, `second` English) to the training split, except
/// any whose source or target side is a validation or test sentence (the dictionary holds the
/// example sentences too) or that repeat a training pair. Returns how many were added.
pub fn add_dictionary(corpus: &mut Corpus, dictionary: &[Pair], direction: Direction) -> usize {
    let held_out: HashSet<String> = corpus
        .valid
        .iter()
        .chain(&corpus.test)
        .flat_map(|e| [normalise(&e.source), normalise(&e.target)])
        .collect();
    let mut seen: HashSet<(String, String)> =
        corpus.train.iter().map(|e| (normalise(&e.source), normalise(&e.target))).collect();
    let mut added = 0;
    for entry in dictionary {
        // The dictionary is German–English; orient() expects English–German.
        let example =
            orient(&Pair { first: entry.second.clone(), second: entry.first.clone() }, direction);
        let (s, t) = (normalise(&example.source), normalise(&example.target));
        if held_out.contains(&s) || held_out.contains(&t) || !seen.insert((s, t)) {
            continue;
        }
        corpus.train.push(example);
        added += 1;
    }
    corpus.dictionary_pairs += added;
    added
}

/// Reads the Ding dictionary from `file`, or from the datasets cache (fetching it first).
pub fn read_dictionary(file: Option<&PathBuf>) -> Result<Vec<Pair>> {
    let text = match file {
        Some(path) => {
            let bytes = datasets::idx::read_maybe_gz(path)
                .with_context(|| format!("cannot read the dictionary {}", path.display()))?;
            String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8 text", path.display()))?
        }
        None => datasets::registry::ding_text(&datasets::fetch::data_dir(None))?,
    };
    let dictionary = datasets::ding::parse(&text);
    if dictionary.pairs.is_empty() {
        bail!("the dictionary has no `German :: English` entries");
    }
    tracing::info!(
        "dictionary: {} pairs from {} entries ({} skipped)",
        dictionary.pairs.len(),
        dictionary.entries,
        dictionary.skipped
    );
    Ok(dictionary.pairs)
}

/// A tokenized example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokenized {
    /// Source ids (no BOS or EOS), at least one.
    pub source: Vec<i64>,
    /// Target ids (no BOS or EOS), at least one.
    pub target: Vec<i64>,
}

/// Tokenizes examples, dropping those longer than `max_len` tokens on either side (returned
/// as the count of dropped examples).
pub fn encode_all(
    examples: &[Example],
    src: &Vocab,
    tgt: &Vocab,
    max_len: usize,
) -> (Vec<Tokenized>, usize) {
    let mut out = Vec::with_capacity(examples.len());
    let mut dropped = 0;
    for e in examples {
        let (source, target) = (src.encode(&e.source), tgt.encode(&e.target));
        if source.is_empty()
            || target.is_empty()
            || source.len() > max_len
            || target.len() > max_len
        {
            dropped += 1;
            continue;
        }
        out.push(Tokenized { source, target });
    }
    (out, dropped)
}

/// A padded batch.
#[derive(Debug)]
pub struct Batch {
    /// Source ids `[batch, src_len]`, padded with [`PAD`].
    pub src: Tensor,
    /// Each source sentence's length.
    pub src_lengths: Vec<i64>,
    /// Decoder inputs `[batch, tgt_len + 1]`: BOS, then the target.
    pub tgt_in: Tensor,
    /// Decoder targets `[batch, tgt_len + 1]`: the target, then EOS; padded with [`PAD`].
    pub tgt_out: Tensor,
    /// Real target tokens (EOS included).
    pub tokens: i64,
}

/// Pads `examples` into one batch on `device`.
pub fn batch(examples: &[&Tokenized], device: Device) -> Batch {
    let n = examples.len() as i64;
    let src_len = examples.iter().map(|e| e.source.len()).max().unwrap_or(1);
    let tgt_len = examples.iter().map(|e| e.target.len()).max().unwrap_or(1) + 1;
    let mut src = vec![PAD; examples.len() * src_len];
    let mut tgt_in = vec![PAD; examples.len() * tgt_len];
    let mut tgt_out = vec![PAD; examples.len() * tgt_len];
    let mut tokens = 0;
    for (i, e) in examples.iter().enumerate() {
        src[i * src_len..i * src_len + e.source.len()].copy_from_slice(&e.source);
        let row = i * tgt_len;
        tgt_in[row] = BOS;
        tgt_in[row + 1..row + 1 + e.target.len()].copy_from_slice(&e.target);
        tgt_out[row..row + e.target.len()].copy_from_slice(&e.target);
        tgt_out[row + e.target.len()] = EOS;
        tokens += e.target.len() as i64 + 1;
    }
    let tensor = |v: &[i64], len: usize| Tensor::from_slice(v).view([n, len as i64]).to(device);
    Batch {
        src: tensor(&src, src_len),
        src_lengths: examples.iter().map(|e| e.source.len() as i64).collect(),
        tgt_in: tensor(&tgt_in, tgt_len),
        tgt_out: tensor(&tgt_out, tgt_len),
        tokens,
    }
}

/// The training examples of an epoch: all `sentences` (indices `0..sentences`), then `ratio`
/// times as many of the `dictionary` pairs that follow them (indices `sentences..`), drawn
/// afresh each epoch without replacement, so the few sentences are not drowned by the many
/// dictionary entries and every entry is seen over the epochs. Deterministic in
/// `(seed, epoch)`.
pub fn epoch_examples(
    sentences: usize,
    dictionary: usize,
    ratio: f64,
    seed: u64,
    epoch: u64,
) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut examples: Vec<usize> = (0..sentences).collect();
    let take = ((sentences as f64 * ratio).round() as usize).min(dictionary);
    let mut pool: Vec<usize> = (sentences..sentences + dictionary).collect();
    let (chosen, _) = pool.partial_shuffle(&mut rng, take);
    examples.extend_from_slice(chosen);
    examples
}

/// How an epoch is cut into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batching {
    /// This many pairs per batch.
    Pairs(usize),
    /// As many pairs as fit in this many padded positions (a batch's width, its longer side
    /// with BOS or EOS, times its pairs): a few long sentences or many short dictionary
    /// entries, so every update sees about the same number of tokens (fairseq's
    /// `--max-tokens`).
    Tokens(usize),
}

/// An epoch's batches as index lists: `examples` shuffled, then sorted by length inside pools
/// (of 50 batches of `Pairs`, of 4,096 pairs for `Tokens`) so each batch holds sentences of
/// similar length (little padding), then the batches shuffled. Deterministic in
/// `(seed, epoch)`.
pub fn epoch_batches(
    data: &[Tokenized],
    mut examples: Vec<usize>,
    batching: Batching,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    examples.shuffle(&mut rng);
    let pool_size = match batching {
        Batching::Pairs(n) => n * 50,
        Batching::Tokens(_) => 4096,
    };
    let width = |i: usize| data[i].source.len().max(data[i].target.len() + 1);
    let mut batches = Vec::new();
    for pool in examples.chunks(pool_size) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| (data[i].source.len(), data[i].target.len()));
        match batching {
            Batching::Pairs(n) => batches.extend(pool.chunks(n).map(<[usize]>::to_vec)),
            Batching::Tokens(n) => {
                let mut batch: Vec<usize> = Vec::new();
                let mut batch_width = 0;
                for i in pool {
                    let w = width(i);
                    if !batch.is_empty() && (batch.len() + 1) * batch_width.max(w) > n {
                        batches.push(std::mem::take(&mut batch));
                        batch_width = 0;
                    }
                    batch_width = batch_width.max(w);
                    batch.push(i);
                }
                if !batch.is_empty() {
                    batches.push(batch);
                }
            }
        }
    }
    batches.shuffle(&mut rng);
    batches
}
