//! Word-for-word translations from the Ding dictionary, for the words a word-level model
//! cannot write.
//!
//! A word-level model outputs `[UNK]` where the translation needs a word outside its
//! vocabulary. Luong et al. (2015) replace it by the dictionary translation of the source
//! word the attention weighs most at that step, or copy that word when the dictionary has
//! none (see `train::output_text`). [`Lexicon`] is that dictionary: every one-word entry of
//! the source language with one translation.
//!
//! A word has many translations, in its own entries and in others' (*Wurm* is listed under
//! *Schlange* as *serpent* before its own entry, *worm*). The one chosen is the commonest in
//! the dictionary's own target-language text (by its rarest word, counted over all entries,
//! example sentences included), then the first listed: *Wurm* → *worm*, *Schweizer* → *Swiss*
//! (not *milker*), *Absprache* → *agreement* (not *arrangement*). Commonness is not sense:
//! *Stimme* → *part* (the first listed was *sheet music for a part*; *voice* would be right).
//!
//! The dictionary lists base forms (`wohlbekannt`, `suchen`, `Allergie`), while a sentence's
//! rare words are as often inflected (`wohlbekannte`, `suchten`) or compounds no dictionary
//! lists (`Medikamentenallergie`). So a word without an entry is looked up as a base form
//! (an inflectional ending stripped, an infinitive ending restored), then as a German
//! `zu`-infinitive (`aufzugeben` → `aufgeben`), then as a German compound: the longest known
//! head with, where it is known too, its modifier (`Medikamenten|allergie` → `drug allergy`,
//! after Koehn & Knight, 2003).

use crate::data::Direction;
use datasets::pairs::Pair;
use std::borrow::Cow;
use std::collections::HashMap;

/// Placeholders of the Ding dictionary's phrases (`etw. tun`, `to do sth.`), not words of a
/// translation.
const PLACEHOLDERS: [&str; 10] =
    ["sth.", "sb.", "sb.'s", "sth.'s", "sb's", "etw.", "jd.", "jdn.", "jdm.", "jds."];

/// What an ending is replaced by to reach the base form: nothing (`wohlbekannt|e`), or a
/// German infinitive's `-en` / `-n` (`such|ten` → `suchen`, `wander|te` → `wandern`).
const GERMAN_BASE: &[&str] = &["", "en", "n"];
/// German inflectional endings, shortest first (so the least is taken off): adjective and
/// noun endings (`-e`, `-en`, `-er`, `-es`, `-em`, `-ern`), verb endings (`-t`, `-st`, `-te`,
/// `-ten`, `-est`) and the superlative's `-ste`; each with the base endings it may replace.
const GERMAN_ENDINGS: [(&str, &[&str]); 14] = [
    ("e", GERMAN_BASE),
    ("n", GERMAN_BASE),
    ("s", GERMAN_BASE),
    ("t", GERMAN_BASE),
    ("en", GERMAN_BASE),
    ("em", GERMAN_BASE),
    ("er", GERMAN_BASE),
    ("es", GERMAN_BASE),
    ("st", GERMAN_BASE),
    ("te", GERMAN_BASE),
    ("ern", GERMAN_BASE),
    ("est", GERMAN_BASE),
    ("ste", GERMAN_BASE),
    ("ten", GERMAN_BASE),
];
/// Joints between the parts of a German compound (`Planung|s|team`, `Medikament|en|allergie`).
const GERMAN_LINKS: [&str; 6] = ["", "s", "es", "n", "en", "er"];

/// English base endings: nothing (`make|s`) or a silent `-e` (`mak|ing` → `make`).
const ENGLISH_BASE: &[&str] = &["", "e"];
/// English inflectional endings, shortest first, `-ies` / `-ied` ending in `-y` (`tries`).
const ENGLISH_ENDINGS: [(&str, &[&str]); 7] = [
    ("s", ENGLISH_BASE),
    ("d", ENGLISH_BASE),
    ("es", ENGLISH_BASE),
    ("ed", ENGLISH_BASE),
    ("ing", ENGLISH_BASE),
    ("ies", &["y"]),
    ("ied", &["y"]),
];

/// The shortest base form an inflected word is looked up as, and the shortest modifier of a
/// compound, in characters: shorter ones match by accident.
const MIN_STEM: usize = 3;
/// The shortest head of a compound, in characters (`Vik|tor` is not a gate).
const MIN_HEAD: usize = 4;

/// One-word source entries and their translations.
#[derive(Clone, Debug, Default)]
pub struct Lexicon {
    /// Keyed by the word as the dictionary writes it (`Bank`, `bank`).
    exact: HashMap<String, String>,
    /// Keyed by the lowercased word, for sentence-initial capitals and lowercased input.
    lowercase: HashMap<String, String>,
    /// The source language is German (compounds, `zu`-infinitives, German endings).
    german: bool,
}

impl Lexicon {
    /// A lexicon from dictionary pairs (`first` German, `second` English) read in `direction`.
    /// Of a word's translations, the commonest in the pairs' target sides wins, then the first
    /// given (see the module's documentation); an English verb's `to` and the placeholders
    /// `sth.`, `jdn.` are left out.
    pub fn new(pairs: &[Pair], direction: Direction) -> Lexicon {
        let oriented = || {
            pairs.iter().map(move |pair| match direction {
                Direction::DeEn => (pair.first.as_str(), pair.second.as_str()),
                Direction::EnDe => (pair.second.as_str(), pair.first.as_str()),
            })
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for word in oriented().flat_map(|(_, target)| target.split_whitespace()) {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
        // Translations in the order given, by the word as written and lowercased.
        let mut exact: HashMap<String, Vec<String>> = HashMap::new();
        let mut lowercase: HashMap<String, Vec<String>> = HashMap::new();
        for (source, target) in oriented() {
            if source.contains(char::is_whitespace) {
                continue;
            }
            let translation = plain_translation(target);
            if translation.is_empty() {
                continue;
            }
            exact.entry(source.to_string()).or_default().push(translation.clone());
            lowercase.entry(source.to_lowercase()).or_default().push(translation);
        }
        let count = |word: &str| counts.get(&word.to_lowercase()).copied().unwrap_or(0);
        let choose = |(word, translations): (String, Vec<String>)| {
            let rank = |(i, t): &(usize, String)| {
                let rarest = t.split_whitespace().map(count).min();
                (std::cmp::Reverse(rarest), *i)
            };
            translations.into_iter().enumerate().min_by_key(rank).map(|(_, t)| (word, t))
        };
        Lexicon {
            exact: exact.into_iter().filter_map(choose).collect(),
            lowercase: lowercase.into_iter().filter_map(choose).collect(),
            german: direction == Direction::DeEn,
        }
    }

    /// The translation of `word`: of the word as written if the dictionary has it, else of the
    /// word lowercased, else of its base form, else (German) of its `zu`-less infinitive or of
    /// the parts of the compound it is.
    pub fn get(&self, word: &str) -> Option<Cow<'_, str>> {
        if let Some(translation) = self.exact.get(word) {
            return Some(Cow::Borrowed(translation));
        }
        let word = word.to_lowercase();
        if let Some(translation) = self.word(&word) {
            return Some(Cow::Borrowed(translation));
        }
        if !self.german {
            return None;
        }
        self.without_zu(&word).map(Cow::Borrowed).or_else(|| self.compound(&word).map(Cow::Owned))
    }

    /// Words with a translation.
    pub fn len(&self) -> usize {
        self.lowercase.len()
    }

    /// Whether no word has a translation.
    pub fn is_empty(&self) -> bool {
        self.lowercase.is_empty()
    }

    /// The translation of a lowercased word or of its base form.
    fn word(&self, word: &str) -> Option<&str> {
        if let Some(translation) = self.lowercase.get(word) {
            return Some(translation);
        }
        let endings: &[(&str, &[&str])] =
            if self.german { &GERMAN_ENDINGS } else { &ENGLISH_ENDINGS };
        endings
            .iter()
            .filter_map(|(ending, bases)| Some((word.strip_suffix(ending)?, *bases)))
            .flat_map(|(stem, bases)| bases.iter().map(move |base| format!("{stem}{base}")))
            .filter(|base| base.chars().count() >= MIN_STEM)
            .find_map(|base| self.lowercase.get(&base))
            .map(String::as_str)
    }

    /// `aufzugeben` → the translation of `aufgeben`: a separable verb's `zu`-infinitive, its
    /// `zu` after a prefix of two letters at least (`ab`, `auf`).
    fn without_zu(&self, word: &str) -> Option<&str> {
        word.match_indices("zu")
            .filter(|&(i, _)| i >= 2 && word[i + 2..].chars().count() >= MIN_STEM)
            .find_map(|(i, _)| self.word(&format!("{}{}", &word[..i], &word[i + 2..])))
    }

    /// The translation of a compound: of its longest known head, preceded by that of its
    /// modifier where the modifier (less a joint such as the `s` of `Planungs|team`) is known.
    fn compound(&self, word: &str) -> Option<String> {
        let splits = word.char_indices().map(|(i, _)| i).filter(|&i| {
            word[..i].chars().count() >= MIN_STEM && word[i..].chars().count() >= MIN_HEAD
        });
        for split in splits {
            let (modifier, head) = word.split_at(split);
            let Some(head) = self.word(head) else { continue };
            let modifier = GERMAN_LINKS
                .iter()
                .filter_map(|link| modifier.strip_suffix(link))
                .filter(|m| m.chars().count() >= MIN_STEM)
                .find_map(|m| {
                    self.word(m)
                        .or_else(|| self.lowercase.get(&format!("{m}e")).map(String::as_str))
                });
            return Some(match modifier {
                Some(modifier) => format!("{modifier} {head}"),
                None => head.to_string(),
            });
        }
        None
    }
}

/// `to do sth.` → `do`: a dictionary translation as it would stand in a sentence.
fn plain_translation(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().filter(|w| !PLACEHOLDERS.contains(w)).collect();
    let words = match words.as_slice() {
        ["to", rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    words.join(" ")
}
