//! Text corpora and their deterministic split into training, validation and test text.

use crate::{DataError, Result};
use std::path::{Path, PathBuf};

/// A corpus: the text of one or more files, in order, joined by blank lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corpus {
    /// The whole text.
    pub text: String,
    /// Where it came from (for messages).
    pub sources: Vec<PathBuf>,
}

/// Decodes `bytes` as UTF-8, naming `path` and the offset of the first bad byte if it is not.
pub fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| DataError::Utf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

impl Corpus {
    /// Reads UTF-8 files (gzipped or not) into one corpus. Empty files are errors.
    pub fn load(paths: &[PathBuf]) -> Result<Corpus> {
        if paths.is_empty() {
            return Err(DataError::Argument("a corpus needs at least one file".into()));
        }
        let mut parts = Vec::new();
        for path in paths {
            parts.push((path.clone(), crate::idx::read_maybe_gz(path)?));
        }
        Corpus::from_bytes(parts)
    }

    /// Builds a corpus from `(name, bytes)` parts, validating each as non-empty UTF-8.
    pub fn from_bytes(parts: Vec<(PathBuf, Vec<u8>)>) -> Result<Corpus> {
        let mut texts = Vec::new();
        let mut sources = Vec::new();
        for (path, bytes) in parts {
            let text = utf8(bytes, &path)?;
            if text.trim().is_empty() {
                return Err(DataError::Empty { path, what: "the text".into() });
            }
            texts.push(text);
            sources.push(path);
        }
        Ok(Corpus { text: texts.join("\n\n"), sources })
    }

    /// Splits the text into `spec.blocks` contiguous blocks (cut at line starts where
    /// possible) and deals them out: about `spec.valid` of them to validation and `spec.test`
    /// to test, spread evenly through the corpus so every part of it (every novel) is
    /// represented, and the rest to training. Validation and test text is never seen in
    /// training, and the same corpus and spec always give the same split.
    pub fn split(&self, spec: SplitSpec) -> Result<TextSplit> {
        spec.validate()?;
        let bounds = block_bounds(&self.text, spec.blocks);
        let mut split = TextSplit::default();
        // Error-diffusion dealing: a block goes to a held-out split whenever its accumulated
        // share reaches one block. Shares are counted in millionths (integers, so ten shares
        // of 0.1 make exactly one), and the test accumulator starts half a period later so the
        // two held-out splits interleave instead of colliding.
        const ONE: u64 = 1_000_000;
        let share = |f: f64| (f * ONE as f64).round() as u64;
        let (valid_share, test_share) = (share(spec.valid), share(spec.test));
        let (mut acc_valid, mut acc_test) = (0, ONE / 2);
        for pair in bounds.windows(2) {
            let block = pair[0]..pair[1];
            acc_valid += valid_share;
            acc_test += test_share;
            let dest = if acc_test >= ONE {
                acc_test -= ONE;
                &mut split.test
            } else if acc_valid >= ONE {
                acc_valid -= ONE;
                &mut split.valid
            } else {
                &mut split.train
            };
            dest.push(self.text[block].to_string());
        }
        Ok(split)
    }
}

/// How a corpus is split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitSpec {
    /// Number of contiguous blocks the text is cut into.
    pub blocks: usize,
    /// Fraction of blocks held out for validation.
    pub valid: f64,
    /// Fraction of blocks held out for testing.
    pub test: f64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec { blocks: 100, valid: 0.05, test: 0.05 }
    }
}

impl SplitSpec {
    fn validate(&self) -> Result<()> {
        let ok = |f: f64| (0.0..1.0).contains(&f);
        if self.blocks == 0 || !ok(self.valid) || !ok(self.test) || self.valid + self.test >= 1.0 {
            return Err(DataError::Argument(format!(
                "text split needs blocks > 0 and valid, test >= 0 with valid + test < 1, got {self:?}"
            )));
        }
        Ok(())
    }
}

/// A corpus split into blocks of training, validation and test text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextSplit {
    /// Training blocks, in corpus order.
    pub train: Vec<String>,
    /// Validation blocks.
    pub valid: Vec<String>,
    /// Test blocks.
    pub test: Vec<String>,
}

/// Byte offsets `0 = b0 < b1 < ... = len` cutting `text` into about `blocks` pieces, each cut
/// moved forward to the next line start within its block (or at least to a character
/// boundary).
fn block_bounds(text: &str, blocks: usize) -> Vec<usize> {
    let len = text.len();
    let snap = |mut i: usize| {
        while i < len && !text.is_char_boundary(i) {
            i += 1;
        }
        i
    };
    let mut bounds = vec![0];
    for i in 1..blocks {
        let target = snap(len * i / blocks);
        let limit = snap(len * (i + 1) / blocks);
        let cut = match text[target..limit].find('\n') {
            Some(nl) => target + nl + 1,
            None => target,
        };
        if cut > *bounds.last().expect("non-empty") && cut < len {
            bounds.push(cut);
        }
    }
    bounds.push(len);
    bounds
}
