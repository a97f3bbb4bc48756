//! # gallery
//!
//! The showcases in the browser, served by one native binary on libtorch: draw a digit and see
//! what the network saw, stream Austen from a prime, translate German with the attention drawn,
//! step through the talk's backpropagation example. Every model is a shipped one (or a run
//! directory you name), used through its app's inference API; the gallery holds no model code.
//!
//! `worker.rs` keeps each model on its own thread; `api.rs` is the errors and parameter checks;
//! `digits.rs`, `text.rs`, `translate.rs` and `graph.rs` are the pages' endpoints; `assets.rs`
//! serves the pages themselves, embedded in the binary.

pub mod api;
pub mod assets;
pub mod digits;
pub mod graph;
pub mod text;
pub mod translate;
pub mod worker;

use anyhow::Result;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Device;
use worker::Worker;

/// A model the gallery serves, with what the index says about it.
pub struct Served<M> {
    /// Name, summary and headline number.
    pub about: About,
    /// The model, on its own thread.
    pub worker: Worker<M>,
}

/// What a page says about a model.
#[derive(Clone, Debug, Serialize)]
pub struct About {
    /// The name in URLs and menus (`mnist`, or a run directory's folder name).
    pub name: String,
    /// One line on what it does.
    pub summary: String,
    /// Its card's headline number, e.g. "test accuracy, %: 99.44"; empty for a run directory.
    pub metric: String,
}

/// Limits on what a request may ask for.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body (an uploaded photo), in bytes.
    pub upload_bytes: usize,
    /// Largest width or height of an uploaded image, in pixels.
    pub image_side: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { upload_bytes: 10 << 20, image_side: 8192 }
    }
}

/// Everything the handlers share.
pub struct Gallery {
    /// Image classifiers (cnn-classifier), by name.
    pub classifiers: BTreeMap<String, Served<cnn_classifier::infer::Classifier>>,
    /// Character-level language models (char-rnn), by name.
    pub writers: BTreeMap<String, Served<char_rnn::infer::CharModel>>,
    /// Translators (seq2seq), by name.
    pub translators: BTreeMap<String, Served<seq2seq::infer::Translator>>,
    /// Request limits.
    pub limits: Limits,
}

/// The run directories or checkpoints to serve besides the shipped models, per app.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// cnn-classifier checkpoints.
    pub classifiers: Vec<PathBuf>,
    /// char-rnn checkpoints.
    pub writers: Vec<PathBuf>,
    /// seq2seq checkpoints.
    pub translators: Vec<PathBuf>,
}

impl Gallery {
    /// Loads every shipped model of the apps the gallery shows, and the `extra` checkpoints,
    /// each on its own thread on `device`.
    pub fn load(extra: &Extra, device: Device, limits: Limits) -> Result<Gallery> {
        Ok(Gallery {
            classifiers: serve(cnn_classifier::APP, &extra.classifiers, device, |p, d| {
                cnn_classifier::infer::Classifier::load(p, d)
            })?,
            writers: serve(char_rnn::APP, &extra.writers, device, |p, d| {
                char_rnn::infer::CharModel::load(p, d)
            })?,
            translators: serve(seq2seq::APP, &extra.translators, device, |p, d| {
                seq2seq::infer::Translator::load(p, d)
            })?,
            limits,
        })
    }

    /// What the index page lists.
    pub fn catalogue(&self) -> Catalogue {
        fn about<M>(models: &BTreeMap<String, Served<M>>) -> Vec<About> {
            models.values().map(|s| s.about.clone()).collect()
        }
        Catalogue {
            classifiers: about(&self.classifiers),
            writers: about(&self.writers),
            translators: about(&self.translators),
        }
    }
}

/// The models being served, per page.
#[derive(Clone, Debug, Serialize)]
pub struct Catalogue {
    /// Image classifiers.
    pub classifiers: Vec<About>,
    /// Language models.
    pub writers: Vec<About>,
    /// Translators.
    pub translators: Vec<About>,
}

/// Starts a worker for each shipped model of `app` and each path in `extra`.
fn serve<M: 'static>(
    app: &str,
    extra: &[PathBuf],
    device: Device,
    load: fn(&Path, Device) -> Result<M>,
) -> Result<BTreeMap<String, Served<M>>> {
    let mut served = BTreeMap::new();
    let mut wanted: Vec<(About, PathBuf)> = harness::models::cards_of(app)?
        .into_iter()
        .map(|card| {
            card.verify()?;
            let metric = format!("{}: {}", card.metric.name, card.metric.value);
            let path = card.checkpoint_path();
            Ok((About { name: card.name, summary: card.summary, metric }, path))
        })
        .collect::<Result<_>>()?;
    for path in extra {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".safetensors").to_string())
            .unwrap_or_else(|| path.display().to_string());
        let summary = format!("{app} checkpoint {}", path.display());
        wanted.push((About { name, summary, metric: String::new() }, path.clone()));
    }
    for (about, path) in wanted {
        let worker = Worker::start(&format!("{app}:{}", about.name), move || load(&path, device))?;
        served.insert(about.name.clone(), Served { about, worker });
    }
    Ok(served)
}

/// The whole site: pages, assets and the JSON API.
pub fn router(gallery: Arc<Gallery>) -> Router {
    let upload_limit = gallery.limits.upload_bytes;
    Router::new()
        .route("/", get(assets::index))
        .route("/{page}", get(assets::page))
        .route("/static/{name}", get(assets::file))
        .route("/api/models", get(models))
        .route("/api/classify/{model}", post(digits::classify))
        .route("/api/filters/{model}", get(digits::filters))
        .route("/api/generate/{model}", get(text::generate))
        .route("/api/translate/{model}", post(translate::translate))
        .route("/api/graph", post(graph::graph))
        .fallback(assets::not_found)
        .layer(DefaultBodyLimit::max(upload_limit))
        .with_state(gallery)
}

async fn models(
    axum::extract::State(gallery): axum::extract::State<Arc<Gallery>>,
) -> Json<Catalogue> {
    Json(gallery.catalogue())
}

/// Looks a model up by name, or answers 404 with the names there are.
pub fn find<'a, M>(
    models: &'a BTreeMap<String, Served<M>>,
    kind: &str,
    name: &str,
) -> Result<&'a Served<M>, api::ApiError> {
    models.get(name).ok_or_else(|| {
        let names: Vec<&str> = models.keys().map(String::as_str).collect();
        let offer = if names.is_empty() { "none is loaded".to_string() } else { names.join(", ") };
        api::ApiError::not_found(format!("no {kind} named {name:?} (served: {offer})"))
    })
}
