//! The Ding German–English dictionary (Frank Richter, TU Chemnitz): one entry per line,
//! `German :: English`, each side a list of sub-entries joined by ` | ` that correspond one to
//! one across the sides, each sub-entry a list of alternatives joined by `; `, decorated with
//! annotations:
//!
//! ```text
//! Aalreuse {f}; Aalkorb {m} | Aalreusen {pl}; Aalkörbe {pl} :: eel trap; weel [archaic] <weely> | eel traps; weels
//! ```
//!
//! [`parse`] turns it into word and phrase pairs: the annotations (`{n}` grammar, `[comp.]`
//! usage, `(…)` glosses, `<…>` search spellings, `/…/` abbreviations, `~…` cross-references)
//! are removed, and every alternative of a sub-entry is paired with the first alternative on
//! the other side (`Aalreuse - eel trap`, `Aalkorb - eel trap`, `Aalreuse - weel`).

use crate::pairs::Pair;
use std::collections::HashSet;

/// What [`parse`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dictionary {
    /// German–English pairs (`first` German, `second` English), in file order, without
    /// duplicates.
    pub pairs: Vec<Pair>,
    /// Entry lines read (comments and blank lines not counted).
    pub entries: usize,
    /// Entry lines skipped: no ` :: `, or sides with different numbers of sub-entries.
    pub skipped: usize,
}

/// Parses the dictionary's text.
pub fn parse(text: &str) -> Dictionary {
    let mut dict = Dictionary::default();
    let mut seen = HashSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        dict.entries += 1;
        let Some((german, english)) = line.split_once(" :: ") else {
            dict.skipped += 1;
            continue;
        };
        let (german, english): (Vec<&str>, Vec<&str>) =
            (german.split(" | ").collect(), english.split(" | ").collect());
        if german.len() != english.len() {
            dict.skipped += 1;
            continue;
        }
        for (de, en) in german.iter().zip(&english) {
            let de: Vec<String> = de.split("; ").map(clean).filter(|s| !s.is_empty()).collect();
            let en: Vec<String> = en.split("; ").map(clean).filter(|s| !s.is_empty()).collect();
            let (Some(de0), Some(en0)) = (de.first(), en.first()) else {
                continue;
            };
            let candidates = de.iter().map(|d| (d, en0)).chain(en.iter().skip(1).map(|e| (de0, e)));
            for (d, e) in candidates {
                let pair = Pair { first: d.clone(), second: e.clone() };
                if seen.insert(pair.clone()) {
                    dict.pairs.push(pair);
                }
            }
        }
    }
    dict
}

/// One alternative without its annotations, whitespace collapsed.
pub fn clean(alternative: &str) -> String {
    let mut out = String::with_capacity(alternative.len());
    let mut closing: Vec<char> = Vec::new();
    for c in alternative.chars() {
        match c {
            '{' => closing.push('}'),
            '[' => closing.push(']'),
            '(' => closing.push(')'),
            '<' => closing.push('>'),
            _ if closing.last() == Some(&c) => {
                closing.pop();
            }
            _ if closing.is_empty() => out.push(c),
            _ => {}
        }
    }
    // A cross-reference (`~Sprachreise`, `~legal aid`) runs to the end of the alternative.
    let out = match out.find('~') {
        Some(i) => &out[..i],
        None => &out[..],
    };
    out.split_whitespace().filter(|w| !is_abbreviation(w)).collect::<Vec<_>>().join(" ")
}

/// `/IFP/`: an abbreviation marker, not text.
fn is_abbreviation(word: &str) -> bool {
    word.len() > 2 && word.starts_with('/') && word.ends_with('/')
}
