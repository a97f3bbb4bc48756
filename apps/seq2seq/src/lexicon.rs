//! Word-for-word translations from the Ding dictionary, for the words a word-level model
//! cannot write.
//!
//! A word-level model outputs `[UNK]` where the translation needs a word outside its
//! vocabulary. Luong et al. (2015) replace it by the dictionary translation of the source
//! word the attention weighs most at that step, or copy that word when the dictionary has
//! none (see `train::output_text`). [`Lexicon`] is that dictionary: every one-word entry of
//! the source language with its first translation.

use crate::data::Direction;
use datasets::pairs::Pair;
use std::collections::HashMap;

/// Placeholders of the Ding dictionary's phrases (`etw. tun`, `to do sth.`), not words of a
/// translation.
const PLACEHOLDERS: [&str; 10] =
    ["sth.", "sb.", "sb.'s", "sth.'s", "sb's", "etw.", "jd.", "jdn.", "jdm.", "jds."];

/// One-word source entries and their translations.
#[derive(Clone, Debug, Default)]
pub struct Lexicon {
    /// Keyed by the word as the dictionary writes it (`Bank`, `bank`).
    exact: HashMap<String, String>,
    /// Keyed by the lowercased word, for sentence-initial capitals and lowercased input.
    lowercase: HashMap<String, String>,
}

impl Lexicon {
    /// A lexicon from dictionary pairs (`first` German, `second` English) read in `direction`.
    /// The first translation given for a word wins (the dictionary lists a word's main sense
    /// first); an English verb's `to` and the placeholders `sth.`, `jdn.` are left out.
    pub fn new(pairs: &[Pair], direction: Direction) -> Lexicon {
        let mut lexicon = Lexicon::default();
        for pair in pairs {
            let (source, target) = match direction {
                Direction::DeEn => (&pair.first, &pair.second),
                Direction::EnDe => (&pair.second, &pair.first),
            };
            if source.contains(char::is_whitespace) {
                continue;
            }
            let translation = plain_translation(target);
            if translation.is_empty() {
                continue;
            }
            lexicon.exact.entry(source.clone()).or_insert_with(|| translation.clone());
            lexicon.lowercase.entry(source.to_lowercase()).or_insert(translation);
        }
        lexicon
    }

    /// The translation of `word`: of the word as written if the dictionary has it, else of the
    /// word lowercased.
    pub fn get(&self, word: &str) -> Option<&str> {
        self.exact
            .get(word)
            .or_else(|| self.lowercase.get(&word.to_lowercase()))
            .map(String::as_str)
    }

    /// Words with a translation.
    pub fn len(&self) -> usize {
        self.lowercase.len()
    }

    /// Whether no word has a translation.
    pub fn is_empty(&self) -> bool {
        self.lowercase.is_empty()
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
