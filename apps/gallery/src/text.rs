//! A language model writing: text streams to the page character by character as it is sampled
//! (server-sent events). Closing the stream (the page's stop button, or leaving the page) stops
//! the sampling at the next character.

use crate::api::{text_field, within, within_f64, ApiError};
use crate::Gallery;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, Sse};
use char_rnn::infer::SampleOptions;
use serde::Deserialize;
use std::convert::Infallible;
use std::ops::ControlFlow;
use std::sync::Arc;
use tokio_stream::wrappers::ReceiverStream;

/// The query of `GET /api/generate/{model}`.
#[derive(Debug, Deserialize)]
pub struct GenerateQuery {
    /// Text the model reads first (at most 500 characters, each one the model knows).
    #[serde(default)]
    pub prime: String,
    /// Characters to write (1 to 5000).
    #[serde(default = "default_length")]
    pub length: usize,
    /// Sampling temperature (0.05 to 5).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Draw among the `top_k` most probable characters only; 0 for all.
    #[serde(default)]
    pub top_k: usize,
    /// Seed of the draws.
    #[serde(default)]
    pub seed: u64,
}

fn default_length() -> usize {
    600
}

fn default_temperature() -> f64 {
    0.8
}

/// The stream of a sample: `data` events carrying a JSON string each (one character), then a
/// `done` event.
pub type TextStream = Sse<ReceiverStream<Result<Event, Infallible>>>;

/// `GET /api/generate/{model}?prime=..&length=..&temperature=..&top_k=..&seed=..`.
pub async fn generate(
    State(gallery): State<Arc<Gallery>>,
    Path(model): Path<String>,
    query: Result<Query<GenerateQuery>, QueryRejection>,
) -> Result<TextStream, ApiError> {
    let Query(q) = query?;
    let served = gallery.writers.get(&model)?;
    let options = SampleOptions {
        prime: text_field("prime", &q.prime, 500)?.to_string(),
        length: within("length", q.length, 1..=5000)?,
        temperature: within_f64("temperature", q.temperature, 0.05..=5.0)?,
        top_k: (q.top_k > 0).then_some(q.top_k),
        seed: q.seed,
    };
    // Refuse a prime with characters the model never saw before the stream starts, while a
    // 400 can still be answered.
    let prime = options.prime.clone();
    served
        .worker
        .call(move |m| m.info.vocab.encode(&prime).map(|_| ()))
        .await?
        .map_err(|e| ApiError::bad(format!("the prime cannot be used: {e}")))?;

    let (events, stream) = tokio::sync::mpsc::channel(64);
    served.worker.submit(move |m| {
        let mut closed = false;
        let result = m.generate(&options, |c| {
            let data = serde_json::Value::String(c.to_string()).to_string();
            match events.blocking_send(Ok(Event::default().data(data))) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => {
                    closed = true;
                    ControlFlow::Break(())
                }
            }
        });
        match result {
            Ok(text) if closed => {
                let n = text.chars().count();
                tracing::info!(
                    "{model}: the page closed the stream; stopped after {n} of {} characters",
                    options.length
                );
            }
            Ok(_) => {
                let _ = events.blocking_send(Ok(Event::default().event("done").data("{}")));
            }
            Err(e) => {
                let _ =
                    events.blocking_send(Ok(Event::default().event("failed").data(e.to_string())));
            }
        }
    })?;
    Ok(Sse::new(ReceiverStream::new(stream)))
}
