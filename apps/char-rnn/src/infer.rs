//! Using a trained model: [`CharModel`] loads a checkpoint and writes text. Generation feeds a
//! prime, then repeatedly draws the next character from the model's distribution (sharpened or
//! flattened by a temperature, optionally cut to the top k) and feeds it back in.

use crate::data::Vocab;
use crate::model::CharRnn;
use crate::train::{ModelInfo, TrainConfig};
use crate::APP;
use anyhow::{bail, Context, Result};
use dl_core::checkpoint;
use rand::Rng;
use std::ops::ControlFlow;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A trained character model, loaded from a checkpoint and ready to write.
///
/// ```no_run
/// use char_rnn::infer::{CharModel, SampleOptions};
/// use std::ops::ControlFlow;
/// # fn main() -> anyhow::Result<()> {
/// let model = CharModel::load("runs/char-rnn/austen".as_ref(), tch::Device::Cpu)?;
/// let options = SampleOptions {
///     prime: "It is a truth".into(),
///     length: 200,
///     temperature: 0.8,
///     top_k: None,
///     seed: 1,
/// };
/// // Characters arrive one by one as they are drawn; `Break` stops early.
/// let text = model.generate(&options, |c| {
///     print!("{c}");
///     ControlFlow::Continue(())
/// })?;
/// # let _ = text; Ok(()) }
/// ```
#[derive(Debug)]
pub struct CharModel {
    /// The weights.
    pub vs: VarStore,
    /// The network.
    pub model: CharRnn,
    /// Its training configuration.
    pub config: TrainConfig,
    /// Vocabulary and shape.
    pub info: ModelInfo,
    /// Optimizer steps it was trained for.
    pub step: u64,
}

impl CharModel {
    /// Loads a checkpoint (file or run directory) of this app onto `device` (a checkpoint
    /// written on a GPU loads on the CPU and the other way round).
    pub fn load(path: &Path, device: Device) -> Result<CharModel> {
        let path = harness::models::resolve(path, APP)?;
        let sidecar = checkpoint::read_sidecar(&path, APP)?;
        let config: TrainConfig = sidecar.config()?;
        let info: ModelInfo = serde_json::from_value(sidecar.extra.clone()).with_context(|| {
            format!("{}: the checkpoint has no model description", path.display())
        })?;
        let mut vs = VarStore::new(device);
        let model = CharRnn::new(&vs.root(), info.spec);
        checkpoint::load(&path, APP, &mut vs, None)?;
        Ok(CharModel { vs, model, config, info, step: sidecar.step })
    }

    /// Writes text after `options.prime`, handing each character to `emit` as it is drawn
    /// (see [`generate`]).
    pub fn generate(
        &self,
        options: &SampleOptions,
        emit: impl FnMut(char) -> ControlFlow<()>,
    ) -> Result<String> {
        generate(&self.model, &self.info.vocab, options, self.vs.device(), emit)
    }
}

/// How to sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// Text the model reads first (printed as part of the sample). When empty, the model starts
    /// as after a line break (or after the vocabulary's first character if it has none).
    pub prime: String,
    /// Characters to generate after the prime.
    pub length: usize,
    /// Divides the scores before the softmax: below 1 more conservative, above 1 more
    /// adventurous; 0 means always the most probable character (greedy).
    pub temperature: f64,
    /// Draw only among the `k` most probable characters.
    pub top_k: Option<usize>,
    /// Seed of the draws: the same seed, checkpoint and options give the same text.
    pub seed: u64,
}

impl SampleOptions {
    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            bail!(
                "--temperature must be 0 (greedy) or a positive number, got {}",
                self.temperature
            );
        }
        if self.top_k == Some(0) {
            bail!("--top-k must be at least 1");
        }
        Ok(())
    }
}

/// Generates up to `options.length` characters after the prime, handing each to `emit` as soon
/// as it is drawn (the prime is not emitted); `emit` returning `Break` stops there. Returns the
/// generated text.
pub fn generate(
    model: &CharRnn,
    vocab: &Vocab,
    options: &SampleOptions,
    device: Device,
    mut emit: impl FnMut(char) -> ControlFlow<()>,
) -> Result<String> {
    options.validate()?;
    let _guard = tch::no_grad_guard();
    let prime = if options.prime.is_empty() {
        vec![vocab.id('\n').unwrap_or(0)]
    } else {
        vocab
            .encode(&options.prime)
            .map_err(|e| anyhow::anyhow!("the prime cannot be used: {e}"))?
    };
    let mut rng = dl_core::device::rng(options.seed, "sample");
    // The prime in one pass; its last position's scores give the first generated character.
    let xs = Tensor::from_slice(&prime).unsqueeze(0).to_device(device);
    let (logits, mut state) = model.forward(&xs, None, false);
    let mut logits = logits.get(0).get(-1);
    let mut out = String::with_capacity(options.length);
    for _ in 0..options.length {
        let id = draw(&logits, options.temperature, options.top_k, &mut rng);
        let c = vocab.char(id);
        out.push(c);
        if emit(c).is_break() {
            break;
        }
        let x = Tensor::from_slice(&[id]).to_device(device);
        let (next, s) = model.step(&x, &state);
        (logits, state) = (next.get(0), s);
    }
    Ok(out)
}

/// Draws an index from scores `logits: [vocab]`.
pub fn draw(logits: &Tensor, temperature: f64, top_k: Option<usize>, rng: &mut impl Rng) -> i64 {
    let scores = Vec::<f64>::try_from(logits.to_kind(Kind::Double).to_device(Device::Cpu))
        .expect("a 1-D tensor of scores");
    let greedy = || {
        // The first of the highest scores, as argmax picks it.
        let best = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        scores.iter().position(|&s| s == best).unwrap_or(0) as i64
    };
    if temperature == 0.0 || top_k == Some(1) {
        return greedy();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    if let Some(k) = top_k.filter(|&k| k < scores.len()) {
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        order.truncate(k);
    }
    let top = order.iter().map(|&i| scores[i]).fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> =
        order.iter().map(|&i| ((scores[i] - top) / temperature).exp()).collect();
    let total: f64 = weights.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return greedy();
    }
    let mut u = rng.random::<f64>() * total;
    for (w, &i) in weights.iter().zip(&order) {
        if u < *w {
            return i as i64;
        }
        u -= w;
    }
    *order.last().expect("at least one candidate") as i64
}
