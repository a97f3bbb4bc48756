//! Writing translations: greedy decoding (the most probable token at every step, a whole
//! batch at once) and beam search (the `beam` most probable partial translations kept at every
//! step, finished ones ranked by log-probability divided by `length^alpha`), with one model or
//! an ensemble of several that share vocabularies (their next-token probabilities averaged at
//! every step, as Sutskever et al., 2014, and Luong et al., 2015, decode).

use crate::model::{DecoderState, Encoded, Seq2Seq};
use crate::tokenize::{BOS, EOS};
use tch::{Kind, Tensor};

/// A finished translation.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// Target ids, EOS not included.
    pub tokens: Vec<i64>,
    /// Sum of the log-probabilities of its tokens (EOS included, if it ended).
    pub log_prob: f64,
    /// The score hypotheses are ranked by: `log_prob / length^alpha` (length counts EOS).
    pub score: f64,
    /// Attention weights of each step over the source, `[steps][src_len]`.
    pub attention: Vec<Vec<f32>>,
}

/// A `[rows, src_len]` float tensor's values, row-major.
fn rows_of(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).contiguous().view([-1])).expect("attention weights")
}

fn normalised(log_prob: f64, length: usize, alpha: f64) -> f64 {
    log_prob / (length.max(1) as f64).powf(alpha)
}

/// One decoding step of every model from the same previous tokens: the log of the models'
/// mean next-token probabilities `[rows, vocab]`, their mean attention `[rows, src_len]`,
/// and each model's next state.
fn step_all(
    models: &[&Seq2Seq],
    encoded: &[Encoded],
    prev: &Tensor,
    states: &[DecoderState],
) -> (Tensor, Tensor, Vec<DecoderState>) {
    let (mut log_probs, mut attention, mut next) = (Vec::new(), Vec::new(), Vec::new());
    for ((model, encoded), state) in models.iter().zip(encoded).zip(states) {
        let step = model.step(encoded, prev, state, false);
        log_probs.push(step.logits.log_softmax(-1, Kind::Float));
        attention.push(step.attention);
        next.push(step.state);
    }
    if models.len() == 1 {
        return (log_probs.swap_remove(0), attention.swap_remove(0), next);
    }
    let n = models.len() as f64;
    let mean_log_prob = Tensor::stack(&log_probs, 0).logsumexp(0, false) - n.ln();
    let mean_attention = Tensor::stack(&attention, 0).mean_dim(0, false, Kind::Float);
    (mean_log_prob, mean_attention, next)
}

/// Greedy decoding of a whole batch; each row stops at EOS or after `max_len` tokens.
/// Returns, per row, the tokens (EOS not included) and the per-step attention.
pub fn greedy(model: &Seq2Seq, encoded: &Encoded, max_len: usize) -> Vec<Hypothesis> {
    greedy_ensemble(&[model], std::slice::from_ref(encoded), max_len)
}

/// [`greedy`] with several models, `encoded[i]` being `models[i]`'s reading of the batch.
pub fn greedy_ensemble(
    models: &[&Seq2Seq],
    encoded: &[Encoded],
    max_len: usize,
) -> Vec<Hypothesis> {
    assert!(!models.is_empty() && models.len() == encoded.len(), "one encoding per model");
    let _guard = tch::no_grad_guard();
    let batch = encoded[0].summary.size()[0];
    let device = encoded[0].summary.device();
    let mut states: Vec<DecoderState> =
        models.iter().zip(encoded).map(|(m, e)| m.initial_state(e)).collect();
    let mut prev = Tensor::full([batch], BOS, (Kind::Int64, device));
    let mut out: Vec<Hypothesis> = (0..batch)
        .map(|_| Hypothesis {
            tokens: Vec::new(),
            log_prob: 0.0,
            score: 0.0,
            attention: Vec::new(),
        })
        .collect();
    let mut done = vec![false; batch as usize];
    for _ in 0..max_len {
        let (log_probs, attention, next) = step_all(models, encoded, &prev, &states);
        let (best, ids) = log_probs.max_dim(-1, false);
        let ids_v: Vec<i64> = Vec::<i64>::try_from(&ids).expect("token ids");
        let best_v: Vec<f64> = Vec::<f64>::try_from(&best.to_kind(Kind::Double)).expect("scores");
        let src_len = attention.size()[1] as usize;
        let attention = rows_of(&attention);
        for (row, hyp) in out.iter_mut().enumerate() {
            if done[row] {
                continue;
            }
            hyp.log_prob += best_v[row];
            hyp.attention.push(attention[row * src_len..(row + 1) * src_len].to_vec());
            if ids_v[row] == EOS {
                done[row] = true;
            } else {
                hyp.tokens.push(ids_v[row]);
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        prev = ids;
        states = next;
    }
    for hyp in &mut out {
        hyp.score = normalised(hyp.log_prob, hyp.attention.len(), 1.0);
    }
    out
}

/// Beam search for one sentence (`encoded` has one row). Returns up to `beam` hypotheses,
/// best first by [`Hypothesis::score`] (`alpha` = 0: raw log-probability; 1: per token).
pub fn beam_search(
    model: &Seq2Seq,
    encoded: &Encoded,
    beam: usize,
    max_len: usize,
    alpha: f64,
) -> Vec<Hypothesis> {
    beam_search_ensemble(&[model], std::slice::from_ref(encoded), beam, max_len, alpha)
}

/// [`beam_search`] with several models, `encoded[i]` being `models[i]`'s reading of the
/// sentence.
pub fn beam_search_ensemble(
    models: &[&Seq2Seq],
    encoded: &[Encoded],
    beam: usize,
    max_len: usize,
    alpha: f64,
) -> Vec<Hypothesis> {
    assert!(beam >= 1, "a beam holds at least one hypothesis");
    assert!(!models.is_empty() && models.len() == encoded.len(), "one encoding per model");
    let _guard = tch::no_grad_guard();
    let device = encoded[0].summary.device();
    let rows_for = |live: i64| -> Vec<Encoded> {
        let first = Tensor::zeros([live], (Kind::Int64, device));
        encoded.iter().map(|e| e.index_select(&first)).collect()
    };
    // Live hypotheses: tokens, log-probability, attention rows; row i of each model's state is
    // hypothesis i.
    let mut live: Vec<(Vec<i64>, f64, Vec<Vec<f32>>)> = vec![(Vec::new(), 0.0, Vec::new())];
    let mut finished: Vec<Hypothesis> = Vec::new();
    let mut rows = rows_for(1);
    let mut states: Vec<DecoderState> =
        models.iter().zip(&rows).map(|(m, e)| m.initial_state(e)).collect();
    for t in 0..max_len {
        let prev: Vec<i64> =
            live.iter().map(|(tokens, ..)| tokens.last().copied().unwrap_or(BOS)).collect();
        let prev = Tensor::from_slice(&prev).to(device);
        let (log_probs, attention, next_states) = step_all(models, &rows, &prev, &states);
        let log_probs = log_probs.to_kind(Kind::Double);
        let vocab = log_probs.size()[1];
        // Every live hypothesis extended by every token; the best `beam` of them survive.
        let base = Tensor::from_slice(&live.iter().map(|(_, lp, _)| *lp).collect::<Vec<f64>>())
            .to(device)
            .unsqueeze(1);
        let total = (log_probs + base).view([-1]);
        let k = (beam as i64).min(total.size()[0]);
        let (scores, flat) = total.topk(k, -1, true, true);
        let scores: Vec<f64> = Vec::<f64>::try_from(&scores).expect("scores");
        let flat: Vec<i64> = Vec::<i64>::try_from(&flat).expect("indices");
        let src_len = attention.size()[1] as usize;
        let attention = rows_of(&attention);
        let mut next = Vec::new();
        let mut keep = Vec::new();
        for (score, index) in scores.into_iter().zip(flat) {
            let (from, token) = ((index / vocab) as usize, index % vocab);
            let (tokens, _, weights) = &live[from];
            let mut weights = weights.clone();
            weights.push(attention[from * src_len..(from + 1) * src_len].to_vec());
            if token == EOS {
                let length = tokens.len() + 1;
                finished.push(Hypothesis {
                    tokens: tokens.clone(),
                    log_prob: score,
                    score: normalised(score, length, alpha),
                    attention: weights,
                });
            } else {
                let mut tokens = tokens.clone();
                tokens.push(token);
                next.push((tokens, score, weights));
                keep.push(from as i64);
            }
        }
        // Stop once `beam` hypotheses have ended (as fairseq does), or nothing is left to extend.
        if finished.len() >= beam || next.is_empty() {
            break;
        }
        if t + 1 == max_len {
            for (tokens, lp, weights) in &next {
                let length = tokens.len();
                finished.push(Hypothesis {
                    tokens: tokens.clone(),
                    log_prob: *lp,
                    score: normalised(*lp, length, alpha),
                    attention: weights.clone(),
                });
            }
            break;
        }
        let keep = Tensor::from_slice(&keep).to(device);
        states = next_states
            .into_iter()
            .map(|s| DecoderState { rnn: s.rnn.index_select(&keep) })
            .collect();
        rows = rows_for(keep.size()[0]);
        live = next;
    }
    finished.sort_by(|a, b| b.score.total_cmp(&a.score));
    finished.truncate(beam);
    finished
}
