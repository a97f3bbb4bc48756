//! The translator: a sentence in, the beam's best translations out, with the attention of the
//! best one over the source for the page to draw.

use crate::api::{text_field, within, ApiError};
use crate::Gallery;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use seq2seq::infer::Decoding;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The body of `POST /api/translate/{model}`.
#[derive(Debug, Deserialize)]
pub struct TranslateRequest {
    /// The sentence (at most 300 characters).
    pub text: String,
    /// Beam width, 1 to 12.
    #[serde(default = "default_beam")]
    pub beam: usize,
}

fn default_beam() -> usize {
    5
}

/// One of the beam's translations.
#[derive(Debug, Serialize)]
pub struct Alternative {
    /// The text.
    pub text: String,
    /// Its length-normalised log-probability, the beam's ranking score.
    pub score: f64,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct Translated {
    /// The best translation.
    pub text: String,
    /// The source as the tokenizer cut it.
    pub source_tokens: Vec<String>,
    /// The best translation's tokens, then `[EOS]` when it ended.
    pub target_tokens: Vec<String>,
    /// Attention of each target token (rows) over the source tokens (columns).
    pub attention: Vec<Vec<f32>>,
    /// Every translation the beam finished with, best first.
    pub alternatives: Vec<Alternative>,
}

/// `POST /api/translate/{model}` with `{"text": "...", "beam": 5}`.
pub async fn translate(
    State(gallery): State<Arc<Gallery>>,
    Path(model): Path<String>,
    request: Result<Json<TranslateRequest>, JsonRejection>,
) -> Result<Json<Translated>, ApiError> {
    let Json(request) = request?;
    let served = gallery.translators.get(&model)?;
    let text = text_field("text", request.text.trim(), 300)?.to_string();
    if text.is_empty() {
        return Err(ApiError::bad("text is empty: type a sentence to translate"));
    }
    let decoding = Decoding { beam: within("beam", request.beam, 1..=12)?, alpha: 1.0 };
    let translated = served
        .worker
        .call(move |translator| {
            let all = translator.n_best(&text, decoding);
            let best = all.first()?;
            let mut target_tokens = best.target_tokens.clone();
            target_tokens.push("[EOS]".to_string());
            target_tokens.truncate(best.hypothesis.attention.len());
            Some(Translated {
                text: best.text.clone(),
                source_tokens: best.source_tokens.clone(),
                target_tokens,
                attention: best.hypothesis.attention.clone(),
                alternatives: (all.iter())
                    .map(|t| Alternative { text: t.text.clone(), score: t.hypothesis.score })
                    .collect(),
            })
        })
        .await?
        .ok_or_else(|| ApiError::internal("the beam ended without a translation"))?;
    Ok(Json(translated))
}
