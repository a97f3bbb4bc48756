//! Turning sentences into token ids and back, with the `tokenizers` crate: characters, words,
//! or subwords (BPE or unigram) learnt from the training sentences only. A trained tokenizer is
//! a JSON document; it is saved in the run directory and inside every checkpoint, so a
//! checkpoint translates on its own.

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::unigram::{Unigram, UnigramTrainer};
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::normalizers::{unicode::NFKC, utils::Lowercase, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::fixed_length::FixedLength;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

/// Joins word-level tokens (words, and runs of punctuation split off them) into text: no
/// space before closing punctuation (`.`, `,`, `!`, `?`, `)`, `”`, …), none after opening
/// punctuation (`(`, `“`, `„`, …), and none around an apostrophe, hyphen or slash between two
/// words, so `don ’ t`, `well - known` and `air / ether` come out as `don’t`, `well-known`
/// and `air/ether`, the words the references (and BLEU's 13a tokenization) have.
pub fn join_words<S: AsRef<str>>(tokens: &[S]) -> String {
    let is_word = |t: &str| t.chars().next().is_some_and(char::is_alphanumeric);
    let starts_closing = |t: &str| t.chars().next().is_some_and(|c| ".,!?;:)]}”…%".contains(c));
    let is_opening = |t: &str| t.chars().all(|c| "([{“„‚¿¡".contains(c));
    let is_joiner = |t: &str| matches!(t, "’" | "'" | "-" | "/");
    let mut text = String::new();
    for (i, token) in tokens.iter().enumerate() {
        let token = token.as_ref();
        let prev = i.checked_sub(1).map(|j| tokens[j].as_ref());
        let next = tokens.get(i + 1).map(AsRef::as_ref);
        let joined_to_prev = match prev {
            None => true,
            Some(p) => {
                starts_closing(token)
                    || is_opening(p)
                    || (is_joiner(token) && is_word(p) && next.is_some_and(is_word))
                    || (is_word(token) && is_joiner(p) && i >= 2 && is_word(tokens[i - 2].as_ref()))
            }
        };
        if !joined_to_prev {
            text.push(' ');
        }
        text.push_str(token);
    }
    text
}

/// Padding: fills batches up to their longest sentence; never a target, never attended to.
pub const PAD: i64 = 0;
/// A token the vocabulary does not have.
pub const UNK: i64 = 1;
/// Begin of sentence: the decoder's first input.
pub const BOS: i64 = 2;
/// End of sentence: the decoder's last target; generation stops at it.
pub const EOS: i64 = 3;
/// The special tokens, at ids 0..4 of every vocabulary.
pub const SPECIALS: [&str; 4] = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"];

/// How sentences are cut into tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// Characters (spaces included, as `▁`).
    Char,
    /// Words and punctuation marks; the rarest words become `[UNK]`.
    Word,
    /// Byte-pair encoding (Sennrich et al., 2016): frequent words whole, rare ones in pieces.
    Bpe,
    /// Unigram language model (Kudo, 2018), as in SentencePiece.
    Unigram,
}

impl std::fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenizerKind::Char => "char",
            TokenizerKind::Word => "word",
            TokenizerKind::Bpe => "bpe",
            TokenizerKind::Unigram => "unigram",
        })
    }
}

/// A trained tokenizer of one language.
#[derive(Clone)]
pub struct Vocab {
    tokenizer: Tokenizer,
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vocab({} tokens)", self.size())
    }
}

impl Vocab {
    /// Learns a tokenizer of at most `size` tokens (specials included) from `sentences`.
    pub fn train<S: AsRef<str> + Send + Sync>(
        kind: TokenizerKind,
        size: usize,
        lowercase: bool,
        sentences: &[S],
    ) -> Result<Vocab> {
        if size <= SPECIALS.len() {
            bail!("a vocabulary needs more than {} tokens, got {size}", SPECIALS.len());
        }
        if sentences.is_empty() {
            bail!("no sentences to learn a tokenizer from");
        }
        let specials: Vec<AddedToken> =
            SPECIALS.iter().map(|s| AddedToken::from(*s, true)).collect();
        let unk = SPECIALS[UNK as usize].to_string();
        let (model, mut trainer): (ModelWrapper, TrainerWrapper) = match kind {
            TokenizerKind::Char | TokenizerKind::Word => (
                WordLevel::builder().unk_token(unk).build().map_err(|e| anyhow!("{e}"))?.into(),
                WordLevelTrainer::builder()
                    .vocab_size(size)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build()?
                    .into(),
            ),
            TokenizerKind::Bpe => (
                BPE::builder().unk_token(unk).build().map_err(|e| anyhow!("{e}"))?.into(),
                BpeTrainer::builder()
                    .vocab_size(size)
                    .min_frequency(2)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build()
                    .into(),
            ),
            TokenizerKind::Unigram => (
                Unigram::default().into(),
                UnigramTrainer::builder()
                    .vocab_size(size as u32)
                    .special_tokens(specials)
                    .unk_token(Some(unk))
                    .show_progress(false)
                    .build()?
                    .into(),
            ),
        };
        let mut tokenizer = Tokenizer::new(model);
        let nfkc: NormalizerWrapper = NFKC.into();
        let normalizer: NormalizerWrapper = if lowercase {
            NormalizerSequence::new(vec![nfkc, Lowercase.into()]).into()
        } else {
            nfkc
        };
        tokenizer.with_normalizer(Some(normalizer)).map_err(|e| anyhow!("{e}"))?;
        let metaspace = Metaspace::new('▁', PrependScheme::Always, true);
        let pre_tokenizer: PreTokenizerWrapper = match kind {
            TokenizerKind::Word => Whitespace.into(),
            TokenizerKind::Char => PreTokenizerSequence::new(vec![
                metaspace.clone().into(),
                FixedLength::new(1).into(),
            ])
            .into(),
            TokenizerKind::Bpe | TokenizerKind::Unigram => metaspace.clone().into(),
        };
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
        if kind != TokenizerKind::Word {
            tokenizer.with_decoder(Some(DecoderWrapper::from(metaspace)));
        }
        tokenizer
            .train(&mut trainer, sentences.iter().map(|s| s.as_ref()))
            .map_err(|e| anyhow!("training the {kind} tokenizer: {e}"))?;
        let vocab = Vocab { tokenizer };
        vocab.check_specials()?;
        Ok(vocab)
    }

    /// A tokenizer saved by [`Vocab::to_json`].
    pub fn from_json(json: &str) -> Result<Vocab> {
        let tokenizer: Tokenizer =
            json.parse().map_err(|e| anyhow!("not a tokenizer of this app: {e}"))?;
        let vocab = Vocab { tokenizer };
        vocab.check_specials()?;
        Ok(vocab)
    }

    /// The tokenizer as a JSON document (the `tokenizers` library's format).
    pub fn to_json(&self) -> String {
        self.tokenizer.to_string(false).expect("a trained tokenizer serialises")
    }

    fn check_specials(&self) -> Result<()> {
        for (id, token) in SPECIALS.iter().enumerate() {
            if self.tokenizer.token_to_id(token) != Some(id as u32) {
                bail!("the tokenizer does not have {token} at id {id}");
            }
        }
        Ok(())
    }

    /// Number of tokens, specials included.
    pub fn size(&self) -> i64 {
        self.tokenizer.get_vocab_size(true) as i64
    }

    /// The ids of a sentence (no BOS/EOS). Never fails on unseen words: they become `[UNK]` or
    /// pieces.
    pub fn encode(&self, sentence: &str) -> Vec<i64> {
        match self.tokenizer.encode(sentence, false) {
            Ok(encoding) => encoding.get_ids().iter().map(|&id| i64::from(id)).collect(),
            // Only a broken tokenizer fails here; treat the sentence as unknown.
            Err(_) => vec![UNK],
        }
    }

    /// The ids of a sentence and the text each token was cut from (`[UNK]`s included).
    pub fn encode_with_text(&self, sentence: &str) -> (Vec<i64>, Vec<String>) {
        match self.tokenizer.encode(sentence, false) {
            Ok(encoding) => encoding
                .get_ids()
                .iter()
                .zip(encoding.get_offsets())
                .zip(encoding.get_tokens())
                .map(|((&id, &(start, end)), token)| {
                    (i64::from(id), sentence.get(start..end).unwrap_or(token).to_string())
                })
                .unzip(),
            Err(_) => (vec![UNK], vec![sentence.to_string()]),
        }
    }

    /// Whether tokens are whole words (no pieces to spell an unknown word with).
    pub fn is_word_level(&self) -> bool {
        self.tokenizer.get_decoder().is_none()
    }

    /// The text of `ids`, special tokens left out, pieces joined back into words.
    pub fn decode(&self, ids: &[i64]) -> String {
        let ids: Vec<u32> = ids.iter().filter(|&&id| id > EOS).map(|&id| id as u32).collect();
        if !self.is_word_level() {
            return self.tokenizer.decode(&ids, true).unwrap_or_default();
        }
        // Word level: the spaces are gone, so write them back as text has them.
        let tokens: Vec<String> =
            ids.iter().filter_map(|&id| self.tokenizer.id_to_token(id)).collect();
        join_words(&tokens)
    }

    /// The token strings of `ids` (for attention plots).
    pub fn tokens(&self, ids: &[i64]) -> Vec<String> {
        ids.iter()
            .map(|&id| self.tokenizer.id_to_token(id as u32).unwrap_or_else(|| format!("#{id}")))
            .collect()
    }

    /// Fraction of the tokens of `sentences` that are `[UNK]`.
    pub fn unknown_rate<S: AsRef<str>>(&self, sentences: &[S]) -> f64 {
        let (mut unknown, mut total) = (0usize, 0usize);
        for s in sentences {
            let ids = self.encode(s.as_ref());
            unknown += ids.iter().filter(|&&id| id == UNK).count();
            total += ids.len();
        }
        unknown as f64 / total.max(1) as f64
    }
}
