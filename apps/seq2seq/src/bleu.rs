//! Corpus BLEU (Papineni et al., 2002) as sacreBLEU computes it by default (Post, 2018):
//! the `13a` tokenization of the WMT `mteval-v13a.pl` script, n-grams up to 4 clipped by the
//! reference counts, the geometric mean of the four precisions, the brevity penalty, the
//! `exp` smoothing of zero counts, and 0 when not a single n-gram matches. One reference per
//! sentence; scores are percentages, as sacreBLEU prints them.

use std::collections::HashMap;

/// The highest n-gram order.
pub const MAX_ORDER: usize = 4;

/// Sufficient statistics of a corpus: summing them over sentences and scoring once is corpus
/// BLEU (not the mean of sentence scores).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Matched n-grams of each order, clipped by their count in the reference.
    pub correct: [u64; MAX_ORDER],
    /// The hypothesis's n-grams of each order.
    pub total: [u64; MAX_ORDER],
    /// Tokens in the hypotheses.
    pub hyp_len: u64,
    /// Tokens in the references.
    pub ref_len: u64,
}

/// A BLEU score with the numbers it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bleu {
    /// The score, 0..100.
    pub score: f64,
    /// The (smoothed) n-gram precisions, 0..100.
    pub precisions: [f64; MAX_ORDER],
    /// The brevity penalty, 0..1.
    pub brevity_penalty: f64,
    /// The statistics.
    pub stats: Stats,
}

impl std::fmt::Display for Bleu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [p1, p2, p3, p4] = self.precisions;
        write!(
            f,
            "BLEU = {:.2} {p1:.1}/{p2:.1}/{p3:.1}/{p4:.1} (BP = {:.3} ratio = {:.3} hyp_len = {} \
             ref_len = {})",
            self.score,
            self.brevity_penalty,
            self.stats.hyp_len as f64 / self.stats.ref_len.max(1) as f64,
            self.stats.hyp_len,
            self.stats.ref_len
        )
    }
}

impl Stats {
    /// The statistics of one hypothesis against its reference (both raw, untokenized text).
    pub fn sentence(hypothesis: &str, reference: &str, lowercase: bool) -> Stats {
        let prepare = |s: &str| {
            let s = if lowercase { s.to_lowercase() } else { s.to_string() };
            tokenize_13a(&s)
        };
        Stats::tokens(&prepare(hypothesis), &prepare(reference))
    }

    /// The statistics of one tokenized hypothesis against its tokenized reference.
    pub fn tokens(hyp: &[String], reference: &[String]) -> Stats {
        let mut stats = Stats {
            hyp_len: hyp.len() as u64,
            ref_len: reference.len() as u64,
            ..Stats::default()
        };
        for n in 1..=MAX_ORDER {
            let ref_counts = ngram_counts(reference, n);
            for (gram, count) in ngram_counts(hyp, n) {
                stats.correct[n - 1] += count.min(ref_counts.get(&gram).copied().unwrap_or(0));
                stats.total[n - 1] += count;
            }
        }
        stats
    }

    /// Adds another sentence's statistics.
    pub fn add(&mut self, other: &Stats) {
        for n in 0..MAX_ORDER {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
    }

    /// The score of these statistics.
    pub fn score(&self) -> Bleu {
        let mut precisions = [0.0; MAX_ORDER];
        let brevity_penalty = if self.hyp_len >= self.ref_len {
            1.0
        } else if self.hyp_len > 0 {
            (1.0 - self.ref_len as f64 / self.hyp_len as f64).exp()
        } else {
            0.0
        };
        // sacreBLEU stops early when nothing matches at all: the score is 0, not a smoothed value.
        if self.correct.iter().all(|&c| c == 0) {
            return Bleu { score: 0.0, precisions, brevity_penalty, stats: *self };
        }
        let mut smooth = 1.0;
        for (p, (&correct, &total)) in
            precisions.iter_mut().zip(self.correct.iter().zip(&self.total))
        {
            if total == 0 {
                break; // the remaining precisions stay 0, and so does the score
            }
            *p = if correct == 0 {
                smooth *= 2.0; // `exp` smoothing: 1/2, 1/4, ... of a match
                100.0 / (smooth * total as f64)
            } else {
                100.0 * correct as f64 / total as f64
            };
        }
        let score = if precisions.contains(&0.0) {
            0.0
        } else {
            let mean_log = precisions.iter().map(|p| p.ln()).sum::<f64>() / MAX_ORDER as f64;
            brevity_penalty * mean_log.exp()
        };
        Bleu { score, precisions, brevity_penalty, stats: *self }
    }
}

/// Corpus BLEU of hypotheses against one reference each.
///
/// # Panics
/// If the two lists differ in length.
pub fn corpus_bleu<S: AsRef<str>, R: AsRef<str>>(
    hypotheses: &[S],
    references: &[R],
    lowercase: bool,
) -> Bleu {
    assert_eq!(hypotheses.len(), references.len(), "one reference per hypothesis");
    let mut stats = Stats::default();
    for (h, r) in hypotheses.iter().zip(references) {
        stats.add(&Stats::sentence(h.as_ref(), r.as_ref(), lowercase));
    }
    stats.score()
}

/// Corpus BLEU by the protocol of the PyTorch seq2seq tutorials (bentrevett/pytorch-seq2seq)
/// whose Multi30k numbers the README compares with: BLEU over lower-cased word tokens
/// ([`tokenize_words`], standing in for spaCy's tokenizers), up to 4-grams, brevity penalty,
/// one reference. No smoothing is needed at corpus level (every order has matches).
pub fn corpus_bleu_words<S: AsRef<str>, R: AsRef<str>>(hypotheses: &[S], references: &[R]) -> Bleu {
    assert_eq!(hypotheses.len(), references.len(), "one reference per hypothesis");
    let mut stats = Stats::default();
    for (h, r) in hypotheses.iter().zip(references) {
        stats.add(&Stats::tokens(&tokenize_words(h.as_ref()), &tokenize_words(r.as_ref())));
    }
    stats.score()
}

/// Lower-cased word tokens as spaCy's English and German tokenizers cut caption text: runs of
/// letters and digits are words; every other visible character is a token of its own; an
/// apostrophe inside a word starts a new token with what follows (`man's` -> `man 's`,
/// `don't` -> `do n't`, as spaCy splits English clitics). Not spaCy (which also knows
/// abbreviations and special cases), so scores by it can differ from the tutorials' by a
/// little; the README says how much on shared output.
pub fn tokenize_words(line: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = line.to_lowercase().chars().collect();
    let flush = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(std::mem::take(word));
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        let inside = |j: usize| chars.get(j).is_some_and(|c| c.is_alphanumeric());
        if c.is_alphanumeric() {
            word.push(c);
        } else if (c == '\'' || c == '’') && i > 0 && inside(i - 1) && inside(i + 1) {
            // `n't` keeps its n: "don't" -> "do", "n't".
            if chars.get(i + 1) == Some(&'t') && word.ends_with('n') && !inside(i + 2) {
                word.pop();
                flush(&mut word, &mut tokens);
                word.push('n');
            } else {
                flush(&mut word, &mut tokens);
            }
            word.push('\'');
        } else {
            flush(&mut word, &mut tokens);
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

/// sacreBLEU's signature for what [`corpus_bleu`] computes (its defaults: one reference, 13a
/// tokenization, `exp` smoothing), cased or not.
pub fn signature(lowercase: bool) -> String {
    let case = if lowercase { "lc" } else { "mixed" };
    format!("nrefs:1|case:{case}|eff:no|tok:13a|smooth:exp|version:2.5.1 (this implementation)")
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], u64> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

/// The `13a` tokenization (sacreBLEU's default, after `mteval-v13a.pl`): splits off ASCII
/// punctuation other than `'` and `-`, periods and commas unless between digits, and a dash
/// after a digit.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let chars: Vec<char> = format!(" {line} ").chars().collect();
    // 1. Punctuation: `[{-~[-` -&(-+:-@/]` gets spaces around it.
    let mut spaced = Vec::with_capacity(chars.len() * 2);
    for &c in &chars {
        if matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/') {
            spaced.extend([' ', c, ' ']);
        } else {
            spaced.push(c);
        }
    }
    let is_digit = |c: char| c.is_ascii_digit();
    let is_period_comma = |c: char| c == '.' || c == ',';
    // 2. `([^0-9])([.,])` -> `\1 \2 `: a period or comma not after a digit.
    let spaced = substitute_pairs(
        &spaced,
        |a, b| !is_digit(a) && is_period_comma(b),
        |a, b| vec![a, ' ', b, ' '],
    );
    // 3. `([.,])([^0-9])` -> ` \1 \2`: a period or comma not before a digit.
    let spaced = substitute_pairs(
        &spaced,
        |a, b| is_period_comma(a) && !is_digit(b),
        |a, b| vec![' ', a, ' ', b],
    );
    // 4. `([0-9])(-)` -> `\1 \2 `: a dash after a digit.
    let spaced =
        substitute_pairs(&spaced, |a, b| is_digit(a) && b == '-', |a, b| vec![a, ' ', b, ' ']);
    spaced.into_iter().collect::<String>().split_whitespace().map(str::to_string).collect()
}

/// Python's `re.sub` for a two-character pattern: scanning left to right, every non-overlapping
/// pair `(a, b)` that `matches` is replaced by `replace(a, b)`.
fn substitute_pairs(
    chars: &[char],
    matches: impl Fn(char, char) -> bool,
    replace: impl Fn(char, char) -> Vec<char>,
) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len() + chars.len() / 2);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && matches(chars[i], chars[i + 1]) {
            out.extend(replace(chars[i], chars[i + 1]));
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}
