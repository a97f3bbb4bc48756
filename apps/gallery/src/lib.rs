//! # gallery
//!
//! The showcases in the browser, served by one native binary on libtorch: draw a digit and see
//! what the network saw, stream Austen from a prime, translate German with the attention drawn,
//! repaint a photo as the optimiser iterates, watch an agent play, train a small model and try
//! it, step through the talk's backpropagation example. Every model is a shipped one, one you
//! trained in the page, or a run directory you name, used through its app's inference API; the
//! gallery holds no model code.
//!
//! `worker.rs` keeps each model on its own thread; `stream.rs` feeds server-sent events from a
//! job and tells it when the page has gone; `api.rs` is the errors and parameter checks;
//! `digits.rs`, `text.rs`, `translate.rs`, `style.rs`, `play.rs`, `training.rs` and `graph.rs`
//! are the pages' endpoints; `assets.rs` serves the pages themselves, embedded in the binary.

pub mod api;
pub mod assets;
pub mod digits;
pub mod graph;
pub mod play;
pub mod stream;
pub mod style;
pub mod text;
pub mod training;
pub mod translate;
pub mod worker;

use anyhow::Result;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
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

/// Something a page can pick by name.
pub trait Named {
    /// What the page lists.
    fn about(&self) -> &About;
}

impl<M> Named for Served<M> {
    fn about(&self) -> &About {
        &self.about
    }
}

/// The models of one kind, by name. Models trained in the page join while the gallery runs.
pub struct Models<T> {
    kind: &'static str,
    by_name: RwLock<BTreeMap<String, Arc<T>>>,
}

impl<T: Named> Models<T> {
    /// No models yet; `kind` names them in errors ("classifier").
    pub fn new(kind: &'static str) -> Models<T> {
        Models { kind, by_name: RwLock::default() }
    }

    /// The model named `name`, or a 404 naming the ones there are.
    pub fn get(&self, name: &str) -> Result<Arc<T>, api::ApiError> {
        let by_name = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
        by_name.get(name).cloned().ok_or_else(|| {
            let names: Vec<&str> = by_name.keys().map(String::as_str).collect();
            let offer = if names.is_empty() { "none is loaded".into() } else { names.join(", ") };
            api::ApiError::not_found(format!("no {} named {name:?} (served: {offer})", self.kind))
        })
    }

    /// Adds (or replaces) a model under its name.
    pub fn insert(&self, model: T) {
        let name = model.about().name.clone();
        self.by_name.write().unwrap_or_else(PoisonError::into_inner).insert(name, Arc::new(model));
    }

    /// What each model is, in name order.
    pub fn about(&self) -> Vec<About> {
        let by_name = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
        by_name.values().map(|m| m.about().clone()).collect()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.by_name.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
    pub classifiers: Arc<Models<Served<cnn_classifier::infer::Classifier>>>,
    /// Character-level language models (char-rnn), by name.
    pub writers: Models<Served<char_rnn::infer::CharModel>>,
    /// Translators (seq2seq), by name.
    pub translators: Models<Served<seq2seq::infer::Translator>>,
    /// Game-playing agents (dqn), by name.
    pub agents: Arc<Models<play::Player>>,
    /// Seats for games being watched (see [`play::MAX_GAMES`]).
    pub games: Arc<tokio::sync::Semaphore>,
    /// Style transfer and DeepDream on VGG19 (loaded on first use).
    pub studio: style::Studio,
    /// Training runs started from the page, one at a time.
    pub trainer: training::Trainer,
    /// Request limits.
    pub limits: Limits,
    /// The device every model runs on.
    pub device: Device,
}

/// What the gallery serves besides the shipped models, and where it reads and writes.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// cnn-classifier checkpoints.
    pub classifiers: Vec<PathBuf>,
    /// char-rnn checkpoints.
    pub writers: Vec<PathBuf>,
    /// seq2seq checkpoints.
    pub translators: Vec<PathBuf>,
    /// dqn checkpoints.
    pub agents: Vec<PathBuf>,
    /// VGG19 weights for style transfer (default: the fetched ones).
    pub vgg: Option<PathBuf>,
    /// Where runs trained from the page go (default `runs/gallery`).
    pub runs: Option<PathBuf>,
    /// Datasets folder (default: the data cache, as `datasets fetch` fills it).
    pub data: Option<PathBuf>,
    /// The dataset the training page's classifiers learn (default `mnist`).
    pub train_dataset: Option<String>,
}

impl Gallery {
    /// Loads every shipped model of the apps the gallery shows, and the `setup`'s checkpoints,
    /// each on its own thread on `device`.
    pub fn load(setup: &Setup, device: Device, limits: Limits) -> Result<Gallery> {
        let classifiers = Arc::new(Models::new("classifier"));
        serve(&classifiers, cnn_classifier::APP, &setup.classifiers, device, |p, d| {
            cnn_classifier::infer::Classifier::load(p, d)
        })?;
        let writers = Models::new("language model");
        serve(&writers, char_rnn::APP, &setup.writers, device, |p, d| {
            char_rnn::infer::CharModel::load(p, d)
        })?;
        let translators = Models::new("translator");
        serve(&translators, seq2seq::APP, &setup.translators, device, |p, d| {
            seq2seq::infer::Translator::load(p, d)
        })?;
        let agents = Arc::new(Models::new("agent"));
        for (about, path) in wanted(dqn::APP, &setup.agents)? {
            agents.insert(play::Player::load(about, &path, device)?);
        }
        let place = training::Place {
            runs: setup.runs.clone().unwrap_or_else(|| PathBuf::from("runs/gallery")),
            data: datasets::fetch::data_dir(setup.data.as_deref()),
            dataset: setup.train_dataset.clone().unwrap_or_else(|| "mnist".into()),
            device,
        };
        let to =
            training::Destinations { classifiers: classifiers.clone(), agents: agents.clone() };
        Ok(Gallery {
            classifiers,
            writers,
            translators,
            agents,
            games: Arc::new(tokio::sync::Semaphore::new(play::MAX_GAMES)),
            studio: style::Studio::new(setup.vgg.clone(), device),
            trainer: training::Trainer::start(place, to)?,
            limits,
            device,
        })
    }

    /// What the index page lists.
    pub fn catalogue(&self) -> Catalogue {
        Catalogue {
            classifiers: self.classifiers.about(),
            writers: self.writers.about(),
            translators: self.translators.about(),
            agents: self.agents.about(),
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
    /// Game-playing agents.
    pub agents: Vec<About>,
}

impl Catalogue {
    /// Models of every kind.
    pub fn len(&self) -> usize {
        self.classifiers.len() + self.writers.len() + self.translators.len() + self.agents.len()
    }

    /// Whether nothing is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The shipped models of `app` (their files checked against their cards), then the `extra`
/// checkpoints, each with what the page says about it.
fn wanted(app: &str, extra: &[PathBuf]) -> Result<Vec<(About, PathBuf)>> {
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
    Ok(wanted)
}

/// Starts a worker for each shipped model of `app` and each path in `extra`.
fn serve<M: 'static>(
    models: &Models<Served<M>>,
    app: &str,
    extra: &[PathBuf],
    device: Device,
    load: fn(&Path, Device) -> Result<M>,
) -> Result<()> {
    for (about, path) in wanted(app, extra)? {
        models.insert(start(about, path, device, load)?);
    }
    Ok(())
}

/// A model on its own thread.
pub fn start<M: 'static>(
    about: About,
    path: PathBuf,
    device: Device,
    load: fn(&Path, Device) -> Result<M>,
) -> Result<Served<M>> {
    let worker = Worker::start(&about.name, move || load(&path, device))?;
    Ok(Served { about, worker })
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
        .route("/api/style", post(style::style))
        .route("/api/dream", post(style::dream))
        .route("/api/play/{agent}", get(play::play))
        .route("/api/train", get(training::jobs).post(training::submit))
        .route("/api/train/{id}", get(training::follow).delete(training::cancel))
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
