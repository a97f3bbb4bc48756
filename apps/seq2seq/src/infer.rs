//! Using a trained translator: [`Translator`] loads a checkpoint (or several, as an ensemble)
//! and translates sentences with greedy or beam-search decoding, giving each translation's
//! tokens and the attention it paid to the source; [`average`] turns a run's last checkpoints
//! into one.

use crate::beam::{self, Hypothesis};
use crate::data::{self, Tokenized};
use crate::lexicon::Lexicon;
use crate::model::Seq2Seq;
use crate::tokenize::{Vocab, EOS, PAD, UNK};
use crate::train::{ModelInfo, TrainConfig};
use crate::APP;
use anyhow::{bail, Context, Result};
use dl_core::checkpoint;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

/// A trained model (or an ensemble of models that share their vocabularies), ready to
/// translate.
///
/// ```no_run
/// use seq2seq::infer::{Decoding, Translator};
/// # fn main() -> anyhow::Result<()> {
/// let translator = Translator::load("runs/seq2seq/de-en".as_ref(), tch::Device::Cpu)?;
/// let beam = Decoding { beam: 5, alpha: 1.0 };
/// let translation = &translator.translate(&["Wo ist der Bahnhof?"], beam)[0];
/// println!("{}", translation.text);
/// // The attention of every output token over the source tokens: [target, source].
/// println!("{:?}", translation.hypothesis.attention);
/// # Ok(()) }
/// ```
pub struct Translator {
    /// The weights.
    pub vs: VarStore,
    /// The network.
    pub model: Seq2Seq,
    /// Source tokenizer.
    pub src: Vocab,
    /// Target tokenizer.
    pub tgt: Vocab,
    /// Shape, direction and best score.
    pub info: ModelInfo,
    /// Its training configuration.
    pub config: TrainConfig,
    /// Epochs it was trained for.
    pub epoch: u64,
    /// Optimizer updates it was trained with.
    pub step: u64,
    /// Translations of unknown source words, for word-level output (see [`output_text`]).
    pub lexicon: Option<Lexicon>,
    /// Further models with the same vocabularies that decode together with `model` (an
    /// ensemble; see [`Translator::load_ensemble`]).
    pub partners: Vec<(VarStore, Seq2Seq)>,
}

impl Translator {
    /// Loads a checkpoint (file or run directory) of this app onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let path = harness::models::resolve(path, APP)?;
        let sidecar = checkpoint::read_sidecar(&path, APP)?;
        let config: TrainConfig = sidecar.config()?;
        let info: ModelInfo = serde_json::from_value(sidecar.extra.clone()).with_context(|| {
            format!("{}: the checkpoint has no model description", path.display())
        })?;
        let src = Vocab::from_json(&info.src_tokenizer).context("the source tokenizer")?;
        let tgt = Vocab::from_json(&info.tgt_tokenizer).context("the target tokenizer")?;
        let spec = info.spec;
        if spec.tie_embeddings && spec.readout != spec.embedding {
            bail!("{}: a tied model needs readout == embedding, got {spec:?}", path.display());
        }
        let mut vs = VarStore::new(device);
        let model = Seq2Seq::new(&vs.root(), spec);
        checkpoint::load(&path, APP, &mut vs, None)?;
        let (epoch, step) = (sidecar.epoch, sidecar.step);
        Ok(Translator {
            vs,
            model,
            src,
            tgt,
            info,
            config,
            epoch,
            step,
            lexicon: None,
            partners: Vec::new(),
        })
    }

    /// Loads checkpoints to decode as one ensemble: the first is the [`Translator`], the others
    /// its partners, which must have been trained with the same tokenizers and direction (models
    /// trained alike with other seeds, or another run's checkpoints).
    pub fn load_ensemble(paths: &[PathBuf], device: Device) -> Result<Self> {
        let Some((first, others)) = paths.split_first() else {
            bail!("an ensemble needs at least one checkpoint");
        };
        let mut translator = Translator::load(first, device)?;
        for path in others {
            let other = Translator::load(path, device)?;
            if !translator.info.shares_vocabularies(&other.info) {
                bail!(
                    "{} and {} have different vocabularies or directions: an ensemble's models \
                     must share them",
                    first.display(),
                    path.display()
                );
            }
            translator.partners.push((other.vs, other.model));
        }
        Ok(translator)
    }
}

/// Averages the weights of checkpoints of one model, such as the last epochs of a run kept by
/// `keep_last_epochs` (checkpoint averaging, as in Vaswani et al. 2017: the average sits nearer
/// the middle of the region the last updates wander around than any one of them), and writes the
/// result as a checkpoint at `out` (`NAME.safetensors`, with its sidecar), which `translate` and
/// `eval` read like any other. Returns the number of checkpoints averaged.
pub fn average(paths: &[PathBuf], out: &Path) -> Result<usize> {
    if paths.len() < 2 {
        bail!("averaging needs at least two checkpoints, got {}", paths.len());
    }
    let first = harness::models::resolve(&paths[0], APP)?;
    let mut sidecar = checkpoint::read_sidecar(&first, APP)?;
    let averaged = Translator::load(&first, Device::Cpu)?;
    let mut sums: Vec<(String, Tensor)> = averaged
        .vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.to_kind(Kind::Double)))
        .collect();
    for path in &paths[1..] {
        let other = Translator::load(path, Device::Cpu)?;
        if averaged.info.spec != other.info.spec || !averaged.info.shares_vocabularies(&other.info)
        {
            bail!(
                "{} and {} are different models (shapes, vocabularies or directions): only \
                 checkpoints of one model can be averaged",
                paths[0].display(),
                path.display()
            );
        }
        let variables = other.vs.variables();
        for (name, sum) in &mut sums {
            // Same spec, so the same variables with the same shapes.
            *sum += variables[name.as_str()].to_kind(Kind::Double);
        }
        sidecar.step = sidecar.step.max(other.step);
        sidecar.epoch = sidecar.epoch.max(other.epoch);
    }
    let n = paths.len();
    let vs = averaged.vs;
    {
        let _guard = tch::no_grad_guard();
        let mut variables = vs.variables();
        for (name, sum) in &sums {
            let var = variables.get_mut(name.as_str()).expect("a variable of this model");
            var.copy_(&(sum / n as f64).to_kind(var.kind()));
        }
    }
    sidecar.metrics = BTreeMap::from([("averaged_checkpoints".to_string(), n as f64)]);
    checkpoint::save(out, &vs, None, &sidecar)?;
    Ok(n)
}

/// How to decode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decoding {
    /// Beam width; 0 means greedy decoding (batched).
    pub beam: usize,
    /// Length normalisation exponent of beam scores.
    pub alpha: f64,
}

impl Decoding {
    /// Greedy decoding.
    pub const GREEDY: Decoding = Decoding { beam: 0, alpha: 1.0 };
}

/// One translated sentence.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The source tokens, as the tokenizer cut them.
    pub source_tokens: Vec<String>,
    /// The translation's tokens.
    pub target_tokens: Vec<String>,
    /// The translation, detokenized.
    pub text: String,
    /// The best hypothesis (score, attention).
    pub hypothesis: Hypothesis,
}

impl Translation {
    /// Draws the attention as a labelled heatmap, target tokens down and source tokens across
    /// (PNG or SVG by the extension of `path`).
    pub fn save_attention(&self, path: &Path) -> Result<()> {
        let values: Vec<Vec<f64>> = (self.hypothesis.attention.iter())
            .map(|row| row.iter().map(|&v| f64::from(v)).collect())
            .collect();
        let rows: Vec<String> = (self.target_tokens.iter().cloned())
            .chain(std::iter::once("[EOS]".to_string()))
            .take(values.len())
            .collect();
        let labels = ("translation", "source");
        harness::plot::heatmap(path, "attention", labels, &rows, &self.source_tokens, &values)
            .with_context(|| format!("writing {}", path.display()))
    }
}

impl Translator {
    /// Translates sentences (batches of 64 for greedy decoding, one at a time for beam search).
    pub fn translate<S: AsRef<str>>(
        &self,
        sentences: &[S],
        decoding: Decoding,
    ) -> Vec<Translation> {
        let lexicon = self.lexicon.as_ref();
        let models = self.models();
        translate(&models, &self.src, &self.tgt, lexicon, sentences, decoding, self.vs.device())
    }

    /// The `decoding.beam` best translations of one sentence, best first (see [`n_best`]).
    pub fn n_best(&self, sentence: &str, decoding: Decoding) -> Vec<Translation> {
        let (models, lexicon) = (self.models(), self.lexicon.as_ref());
        n_best(&models, &self.src, &self.tgt, lexicon, sentence, decoding, self.vs.device())
    }

    /// The models that decode: `model` and its partners.
    pub fn models(&self) -> Vec<&Seq2Seq> {
        std::iter::once(&self.model).chain(self.partners.iter().map(|(_, m)| m)).collect()
    }

    /// Whether the output is whole words, whose `[UNK]`s a [`Lexicon`] can translate.
    pub fn writes_words(&self) -> bool {
        self.tgt.is_word_level()
    }
}

/// The decoding length limit for a source of `len` tokens.
pub fn max_output_len(len: usize) -> usize {
    2 * len + 10
}

/// Translates `sentences` with `models` (one, or an ensemble); `lexicon` translates unknown
/// words (see [`output_text`]).
pub fn translate<S: AsRef<str>>(
    models: &[&Seq2Seq],
    src: &Vocab,
    tgt: &Vocab,
    lexicon: Option<&Lexicon>,
    sentences: &[S],
    decoding: Decoding,
    device: Device,
) -> Vec<Translation> {
    let _guard = tch::no_grad_guard();
    let (encoded, texts): (Vec<Vec<i64>>, Vec<Vec<String>>) =
        sentences.iter().map(|s| encode_source(src, s.as_ref())).unzip();
    let mut out = Vec::with_capacity(sentences.len());
    let chunk_size = if decoding.beam == 0 { 64 } else { 1 };
    for (chunk, texts) in encoded.chunks(chunk_size).zip(texts.chunks(chunk_size)) {
        let examples: Vec<Tokenized> =
            chunk.iter().map(|s| Tokenized { source: s.clone(), target: vec![PAD] }).collect();
        let refs: Vec<&Tokenized> = examples.iter().collect();
        let batch = data::batch(&refs, device);
        let memory: Vec<_> =
            models.iter().map(|m| m.encode(&batch.src, &batch.src_lengths, false)).collect();
        let longest = chunk.iter().map(Vec::len).max().unwrap_or(1);
        let hypotheses = if decoding.beam == 0 {
            beam::greedy_ensemble(models, &memory, max_output_len(longest))
        } else {
            let mut beams = beam::beam_search_ensemble(
                models,
                &memory,
                decoding.beam,
                max_output_len(longest),
                decoding.alpha,
            );
            vec![beams.swap_remove(0)]
        };
        for ((ids, text), hypothesis) in chunk.iter().zip(texts).zip(hypotheses) {
            out.push(translation(src, tgt, lexicon, hypothesis, ids, text));
        }
    }
    out
}

/// The `beam` best translations of one sentence by beam search, best first (fewer when the
/// beam holds fewer finished hypotheses).
pub fn n_best(
    models: &[&Seq2Seq],
    src: &Vocab,
    tgt: &Vocab,
    lexicon: Option<&Lexicon>,
    sentence: &str,
    decoding: Decoding,
    device: Device,
) -> Vec<Translation> {
    let _guard = tch::no_grad_guard();
    let (ids, text) = encode_source(src, sentence);
    let example = Tokenized { source: ids.clone(), target: vec![PAD] };
    let batch = data::batch(&[&example], device);
    let memory: Vec<_> =
        models.iter().map(|m| m.encode(&batch.src, &batch.src_lengths, false)).collect();
    let (beam, longest) = (decoding.beam.max(1), max_output_len(ids.len()));
    let hypotheses = beam::beam_search_ensemble(models, &memory, beam, longest, decoding.alpha);
    hypotheses.into_iter().map(|h| translation(src, tgt, lexicon, h, &ids, &text)).collect()
}

/// A sentence's source ids and the text of each (one `[UNK]` for a sentence with no tokens).
fn encode_source(src: &Vocab, sentence: &str) -> (Vec<i64>, Vec<String>) {
    let (ids, text) = src.encode_with_text(sentence);
    if ids.is_empty() {
        (vec![UNK], vec![String::new()])
    } else {
        (ids, text)
    }
}

fn translation(
    src: &Vocab,
    tgt: &Vocab,
    lexicon: Option<&Lexicon>,
    hypothesis: Hypothesis,
    ids: &[i64],
    text: &[String],
) -> Translation {
    Translation {
        source_tokens: src.tokens(ids),
        target_tokens: tgt.tokens(&hypothesis.tokens),
        text: output_text(tgt, lexicon, &hypothesis, ids, text),
        hypothesis,
    }
}

/// The text of a translation. Word-level output has no pieces to spell a rare word with, so
/// each `[UNK]` it writes is replaced using the source word the attention weighed most at
/// that step (Luong et al., 2015): by that word's translation in `lexicon` if it has one,
/// else, when the source word is unknown too (a name, a number, a rare compound), by the
/// word itself as written. An `[UNK]` that looked at a known word without a translation is
/// left out.
pub fn output_text(
    tgt: &Vocab,
    lexicon: Option<&Lexicon>,
    hypothesis: &Hypothesis,
    source_ids: &[i64],
    source_text: &[String],
) -> String {
    if !tgt.is_word_level() {
        return tgt.decode(&hypothesis.tokens);
    }
    let mut words = Vec::with_capacity(hypothesis.tokens.len());
    for (step, &id) in hypothesis.tokens.iter().enumerate() {
        if id != UNK {
            if id > EOS {
                words.extend(tgt.tokens(&[id]));
            }
            continue;
        }
        let weights = hypothesis.attention.get(step).map(Vec::as_slice).unwrap_or_default();
        let looked_at = weights
            .iter()
            .enumerate()
            .filter(|(_, &w)| w > 0.0)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(j, _)| j);
        let Some(j) = looked_at else { continue };
        match lexicon.and_then(|l| l.get(&source_text[j])) {
            Some(translation) => words.extend(translation.split_whitespace().map(String::from)),
            None if source_ids.get(j) == Some(&UNK) => words.push(source_text[j].clone()),
            None => {}
        }
    }
    crate::tokenize::join_words(&words)
}
