//! Parallel sentence pairs from a tab-separated file, and their deterministic split.

use crate::text::utf8;
use crate::{DataError, Result};
use std::path::Path;

/// One sentence and its translation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pair {
    /// The first column.
    pub first: String,
    /// The second column.
    pub second: String,
}

/// Parses `first<TAB>second` lines. Blank lines are skipped; a line without exactly one tab, or
/// with an empty side, is an error naming the file and line.
pub fn parse_tsv(bytes: Vec<u8>, path: &Path) -> Result<Vec<Pair>> {
    let text = utf8(bytes, path)?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| DataError::Tsv {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.into(),
        };
        let mut cols = line.split('\t');
        let (first, second) = match (cols.next(), cols.next(), cols.next()) {
            (Some(a), Some(b), None) => (a.trim(), b.trim()),
            (_, None, _) => return Err(bad("no tab: expected `sentence<TAB>translation`")),
            _ => return Err(bad("more than one tab: expected two columns")),
        };
        if first.is_empty() || second.is_empty() {
            return Err(bad("an empty column"));
        }
        pairs.push(Pair { first: first.to_string(), second: second.to_string() });
    }
    if pairs.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf(), what: "the pair file".into() });
    }
    Ok(pairs)
}

/// Reads a TSV file of pairs (gzipped or not).
pub fn load_tsv(path: &Path) -> Result<Vec<Pair>> {
    parse_tsv(crate::idx::read_maybe_gz(path)?, path)
}

/// Pairs dealt into training, validation and test sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairSplit {
    /// Training pairs, in file order.
    pub train: Vec<Pair>,
    /// Validation pairs.
    pub valid: Vec<Pair>,
    /// Test pairs.
    pub test: Vec<Pair>,
}

/// Splits pairs by a stable hash of their text (FNV-1a, 64 bit): a pair's split depends on
/// nothing but the pair, so adding pairs to the file never moves an existing one and the test
/// set stays fixed. `valid` and `test` are fractions (e.g. 0.05).
pub fn split(pairs: &[Pair], valid: f64, test: f64) -> Result<PairSplit> {
    if !(0.0..1.0).contains(&valid) || !(0.0..1.0).contains(&test) || valid + test >= 1.0 {
        return Err(DataError::Argument(format!(
            "pair split needs valid + test < 1, got {valid} and {test}"
        )));
    }
    let mut out = PairSplit::default();
    for pair in pairs {
        let u = (hash(pair) % 1_000_000) as f64 / 1_000_000.0;
        let dest = if u < test {
            &mut out.test
        } else if u < test + valid {
            &mut out.valid
        } else {
            &mut out.train
        };
        dest.push(pair.clone());
    }
    Ok(out)
}

/// FNV-1a over `first`, a tab, `second`: fixed forever, unlike `std`'s randomised hasher.
fn hash(pair: &Pair) -> u64 {
    let bytes = pair.first.bytes().chain(std::iter::once(b'\t')).chain(pair.second.bytes());
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Reads two parallel files, gzipped or not, where line `i` of `first` translates line `i` of
/// `second` (Multi30k's, WMT's format) into pairs. Files with different numbers of lines, or a
/// line empty on one side only, are refused with a sentence naming the files and the line.
pub fn load_parallel(first: &Path, second: &Path) -> Result<Vec<Pair>> {
    let read = |path: &Path| -> Result<String> { utf8(crate::idx::read_maybe_gz(path)?, path) };
    let (a, b) = (read(first)?, read(second)?);
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    if a.len() != b.len() {
        return Err(DataError::invalid(
            first,
            format!(
                "{} lines, but its translation {} has {}: line i of one must translate line i \
                 of the other",
                a.len(),
                second.display(),
                b.len()
            ),
        ));
    }
    let mut pairs = Vec::with_capacity(a.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let (x, y) = (x.trim(), y.trim());
        match (x.is_empty(), y.is_empty()) {
            (true, true) => continue,
            (false, false) => pairs.push(Pair { first: x.to_string(), second: y.to_string() }),
            _ => {
                return Err(DataError::invalid(
                    first,
                    format!("line {} is empty here or in {}, not in both", i + 1, second.display()),
                ))
            }
        }
    }
    if pairs.is_empty() {
        return Err(DataError::Empty {
            path: first.to_path_buf(),
            what: "the parallel files".into(),
        });
    }
    Ok(pairs)
}

/// Multi30k's official splits (train, val, test 2016) from its folder in the cache, English
/// first and German second, as every pair set here is.
pub fn multi30k(dir: &Path) -> Result<PairSplit> {
    let split = |name: &str| {
        let path = |lang: &str| {
            crate::fetch::present(dir, &format!("{name}.{lang}"))
                .unwrap_or_else(|| dir.join(format!("{name}.{lang}")))
        };
        load_parallel(&path("en"), &path("de"))
    };
    Ok(PairSplit { train: split("train")?, valid: split("val")?, test: split("test_2016_flickr")? })
}
