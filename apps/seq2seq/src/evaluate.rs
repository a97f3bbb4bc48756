//! Scoring a translator: teacher-forced loss per target token and BLEU of its translations.

use crate::bleu::{self, Bleu};
use crate::data::{self, Example, Tokenized};
use crate::infer::{translate, Decoding, Translation, Translator};
use crate::lexicon::Lexicon;
use crate::model::Seq2Seq;
use crate::tokenize::{Vocab, PAD};
use tch::{Device, Kind, Tensor};

/// Loss and BLEU on a set of examples.
#[derive(Clone, Copy, Debug)]
pub struct Evaluation {
    /// Mean negative log-likelihood per target token (EOS included), teacher forced, no
    /// smoothing; its exponential is the perplexity.
    pub loss: f64,
    /// Corpus BLEU of the translations, lowercased (sacreBLEU's 13a tokenization).
    pub bleu: Bleu,
    /// The same, cased: sacreBLEU's default.
    pub bleu_cased: Bleu,
    /// BLEU over lower-cased word tokens, the PyTorch tutorials' protocol.
    pub bleu_words: Bleu,
}

/// Teacher-forced loss per target token over `data`, of `models`' mean next-token
/// probabilities (one model, or an ensemble).
pub fn loss_on(models: &[&Seq2Seq], data: &[Tokenized], batch_size: usize, device: Device) -> f64 {
    let _guard = tch::no_grad_guard();
    let (mut total, mut tokens) = (0.0, 0i64);
    for chunk in data.chunks(batch_size) {
        let refs: Vec<&Tokenized> = chunk.iter().collect();
        let b = data::batch(&refs, device);
        let log_probs: Vec<Tensor> = models
            .iter()
            .map(|model| {
                let encoded = model.encode(&b.src, &b.src_lengths, false);
                model.decode_teacher(&encoded, &b.tgt_in, false).0.log_softmax(-1, Kind::Float)
            })
            .collect();
        // Log-probabilities are logits already normalised: the loss reads them as they are.
        let n = models.len() as f64;
        let mean = Tensor::stack(&log_probs, 0).logsumexp(0, false) - n.ln();
        total += token_loss(&mean, &b.tgt_out, 0.0, tch::Reduction::Sum).double_value(&[]);
        tokens += b.tokens;
    }
    total / tokens.max(1) as f64
}

/// BLEU of `model`'s translations of `examples` against their targets.
pub fn bleu_on(
    models: &[&Seq2Seq],
    src: &Vocab,
    tgt: &Vocab,
    lexicon: Option<&Lexicon>,
    examples: &[Example],
    decoding: Decoding,
    device: Device,
) -> (Bleu, Vec<Translation>) {
    let sources: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
    let translations = translate(models, src, tgt, lexicon, &sources, decoding, device);
    let hypotheses: Vec<&str> = translations.iter().map(|t| t.text.as_str()).collect();
    let references: Vec<&str> = examples.iter().map(|e| e.target.as_str()).collect();
    (bleu::corpus_bleu(&hypotheses, &references, true), translations)
}

/// Masked cross-entropy of `logits: [batch, steps, vocab]` against `targets: [batch, steps]`;
/// padding positions contribute nothing.
pub fn token_loss(
    logits: &Tensor,
    targets: &Tensor,
    label_smoothing: f64,
    reduction: tch::Reduction,
) -> Tensor {
    let vocab = logits.size()[2];
    logits.view([-1, vocab]).cross_entropy_loss::<Tensor>(
        &targets.reshape([-1]),
        None,
        reduction,
        PAD,
        label_smoothing,
    )
}

/// Loss and BLEU of a trained model on `examples`.
pub fn evaluate(translator: &Translator, examples: &[Example], decoding: Decoding) -> Evaluation {
    let device = translator.vs.device();
    let (encoded, _) = data::encode_all(examples, &translator.src, &translator.tgt, usize::MAX);
    let models = translator.models();
    let loss = loss_on(&models, &encoded, 64, device);
    let (src, tgt, lexicon) = (&translator.src, &translator.tgt, translator.lexicon.as_ref());
    let (bleu, translations) = bleu_on(&models, src, tgt, lexicon, examples, decoding, device);
    let hypotheses: Vec<&str> = translations.iter().map(|t| t.text.as_str()).collect();
    let references: Vec<&str> = examples.iter().map(|e| e.target.as_str()).collect();
    Evaluation {
        loss,
        bleu,
        bleu_cased: bleu::corpus_bleu(&hypotheses, &references, false),
        bleu_words: bleu::corpus_bleu_words(&hypotheses, &references),
    }
}
