//! Word-for-word translations from the Ding dictionary, for the words a word-level model
//! cannot write.
//!
//! A word-level model outputs `[UNK]` where the translation needs a word outside its
//! vocabulary. Luong et al. (2015) replace it by the dictionary translation of the source
//! word the attention weighs most at that step, or copy that word when the dictionary has
//! none (see `train::output_text`). [`Lexicon`] is that dictionary: every one-word entry of
//! the source language with its first translation.
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

/// German inflectional endings, shortest first (so the least is taken off): adjective and
/// noun endings (`-e`, `-en`, `-er`, `-es`, `-em`, `-ern`), verb endings (`-t`, `-st`, `-te`,
/// `-ten`, `-est`) and the superlative's `-ste`.
const GERMAN_ENDINGS: [&str; 14] =
    ["e", "n", "s", "t", "en", "em", "er", "es", "st", "te", "ern", "est", "ste", "ten"];
/// What a German base form may end in once an ending is off: nothing (`wohlbekannt`), or an
/// infinitive's `-en` / `-n` (`such|ten` → `suchen`, `wander|te` → `wandern`).
const GERMAN_RESTORED: [&str; 3] = ["", "en", "n"];
/// Joints between the parts of a German compound (`Planung|s|team`, `Medikament|en|allergie`).
const GERMAN_LINKS: [&str; 6] = ["", "s", "es", "n", "en", "er"];

/// English inflectional endings, shortest first.
const ENGLISH_ENDINGS: [&str; 4] = ["s", "d", "es", "ed"];
/// `-ing` and `-ies`/`-ied`, whose base forms end differently.
const ENGLISH_RESTORED: [&str; 2] = ["", "e"];

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
    /// The first translation given for a word wins (the dictionary lists a word's main sense
    /// first); an English verb's `to` and the placeholders `sth.`, `jdn.` are left out.
    pub fn new(pairs: &[Pair], direction: Direction) -> Lexicon {
        let german = direction == Direction::DeEn;
        let mut lexicon = Lexicon { german, ..Lexicon::default() };
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
        let (endings, restored): (&[&str], &[&str]) = if self.german {
            (&GERMAN_ENDINGS, &GERMAN_RESTORED)
        } else {
            (&ENGLISH_ENDINGS, &ENGLISH_RESTORED)
        };
        let mut stems: Vec<(&str, &[&str])> =
            endings.iter().filter_map(|e| word.strip_suffix(e)).map(|s| (s, restored)).collect();
        if !self.german {
            // making → make, tries / tried → try.
            stems.extend(word.strip_suffix("ing").map(|s| (s, &ENGLISH_RESTORED[..])));
            for ending in ["ies", "ied"] {
                stems.extend(word.strip_suffix(ending).map(|s| (s, &["y"][..])));
            }
        }
        stems
            .into_iter()
            .flat_map(|(stem, restored)| restored.iter().map(move |r| format!("{stem}{r}")))
            .filter(|base| base.chars().count() >= MIN_STEM)
            .find_map(|base| self.lowercase.get(&base))
            .map(String::as_str)
    }

    /// `aufzugeben` → the translation of `aufgeben`: a separable verb's `zu`-infinitive.
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
