//! Style transfer and DeepDream: the image streams to the page as the optimiser iterates, with
//! its losses; closing the stream (the cancel button) stops the optimisation at the next
//! iteration. VGG19 is loaded on the first request, on its own thread; jobs wait their turn
//! there (the page is told it is queued).
//!
//! Images are one of the vendored pictures by name or an upload as a data URL; nothing else
//! (no file path) is ever read.

use crate::api::{text_field, within, within_f64, ApiError};
use crate::digits::decode_image;
use crate::play::png_data_url;
use crate::stream::{self, EventStream, Events};
use crate::worker::Worker;
use crate::{Gallery, Limits};
use anyhow::Result;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use base64::Engine;
use image::DynamicImage;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use style_transfer::dream::DreamSettings;
use style_transfer::model::{Pooling, Vgg19};
use style_transfer::train::StyleConfig;
use style_transfer::transfer::{self, Method};
use style_transfer::{data, infer};
use tch::{Device, Tensor};

/// Longest sides the pages may ask for (they offer 256, 384 and 512).
const SIZES: std::ops::RangeInclusive<u32> = 32..=512;

/// VGG19 for every style and dream job, loaded when first asked for.
pub struct Studio {
    weights: Option<PathBuf>,
    device: Device,
    vgg: tokio::sync::Mutex<Option<Arc<Worker<Vgg19>>>>,
}

impl Studio {
    /// A studio that will load VGG19 from `weights` (default: the fetched weights) on `device`.
    pub fn new(weights: Option<PathBuf>, device: Device) -> Studio {
        Studio { weights, device, vgg: Default::default() }
    }

    /// The network's thread, started on first use; 503 when the weights cannot be loaded.
    async fn vgg(&self) -> Result<Arc<Worker<Vgg19>>, ApiError> {
        let mut slot = self.vgg.lock().await;
        if let Some(worker) = &*slot {
            return Ok(worker.clone());
        }
        let (weights, device) = (self.weights.clone(), self.device);
        let started = tokio::task::spawn_blocking(move || {
            Worker::start("vgg19", move || {
                infer::load_vgg(weights.as_deref(), Pooling::Max, device)
            })
        })
        .await
        .map_err(|e| ApiError::internal(format!("loading VGG19 failed: {e}")))?
        .map_err(|e| {
            ApiError::unavailable(format!(
                "VGG19 cannot be loaded ({e:#}); `datasets fetch vgg19` fetches its weights"
            ))
        })?;
        let worker = Arc::new(started);
        *slot = Some(worker.clone());
        Ok(worker)
    }
}

/// The body of `POST /api/style`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleRequest {
    /// The photo: a vendored picture's name (`astronaut`, `chelsea`, `coffee`) or a data URL.
    pub content: String,
    /// The painting: a vendored picture's name (`starry_night`) or a data URL.
    pub style: String,
    /// Longest side, in pixels (32 to 512).
    #[serde(default = "default_size")]
    pub size: u32,
    /// Weight of the style loss against the content loss (0.01 to 1e7).
    #[serde(default = "default_style_weight")]
    pub style_weight: f64,
    /// Iterations (1 to 1000).
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// `lbfgs` or `adam`.
    #[serde(default = "default_method")]
    pub optimizer: Method,
    /// Keep the photo's colours.
    #[serde(default)]
    pub preserve_colors: bool,
}

fn default_size() -> u32 {
    256
}

fn default_style_weight() -> f64 {
    1e3
}

fn default_iterations() -> usize {
    100
}

fn default_method() -> Method {
    Method::Lbfgs
}

/// The body of `POST /api/dream`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DreamRequest {
    /// The photo: a vendored picture's name or a data URL.
    pub image: String,
    /// Longest side, in pixels (32 to 512).
    #[serde(default = "default_size")]
    pub size: u32,
    /// The VGG19 layer to amplify (`relu4_3`, `relu3_1`, ...).
    #[serde(default = "default_layer")]
    pub layer: String,
    /// Scales (1 to 6).
    #[serde(default = "default_octaves")]
    pub octaves: usize,
    /// Steps per scale (1 to 50).
    #[serde(default = "default_steps")]
    pub steps: usize,
}

fn default_layer() -> String {
    "relu4_3".into()
}

fn default_octaves() -> usize {
    4
}

fn default_steps() -> usize {
    10
}

/// A step of the optimisation, as the page shows it.
#[derive(Debug, Serialize)]
pub struct Progress {
    /// Iterations (or dream steps) done.
    pub done: usize,
    /// Of how many.
    pub total: usize,
    /// Named losses or objectives at this step.
    pub values: Vec<(String, f64)>,
    /// The image so far, as a PNG data URL.
    pub image: String,
}

/// The end of a job.
#[derive(Debug, Serialize)]
pub struct Finished {
    /// The result, as a PNG data URL.
    pub image: String,
    /// Steps done.
    pub done: usize,
    /// Wall time on the model's thread, seconds.
    pub seconds: f64,
}

/// `POST /api/style`: events `queued`, `started`, a `progress` per iteration, then `done` (or
/// `failed`). Closing the stream stops the transfer.
pub async fn style(
    State(gallery): State<Arc<Gallery>>,
    request: Result<Json<StyleRequest>, JsonRejection>,
) -> Result<EventStream, ApiError> {
    let Json(r) = request?;
    let size = within("size", r.size, SIZES)?;
    let config = StyleConfig {
        size,
        style_weight: within_f64("style_weight", r.style_weight, 1e-2..=1e7)?,
        iterations: within("iterations", r.iterations, 1..=1000)?,
        optimizer: r.optimizer,
        preserve_colors: r.preserve_colors,
        ..StyleConfig::default()
    };
    let settings = config.settings();
    let content = picture("content", &r.content, gallery.limits)?;
    let style = picture("style", &r.style, gallery.limits)?;
    let vgg = gallery.studio.vgg().await?;
    let device = gallery.device;
    let content = data::to_tensor(&content, size, device);
    let (_, _, h, w) = content.size4().map_err(|e| ApiError::internal(e.to_string()))?;
    transfer::check_memory(h, w, &settings, device).map_err(|e| ApiError::bad(e.to_string()))?;
    let style = data::to_tensor(&style, size, device);
    let (events, stream) = stream::channel(4);
    events.send_async("queued", &serde_json::json!({})).await;
    vgg.submit(move |vgg| {
        run_job(&events, |events| {
            let started = Instant::now();
            let total = settings.iterations;
            let image = infer::stylise(vgg, &settings, &content, &[(style, 1.0)], |it, image| {
                let [c, s, t, all] = it.losses;
                let values = [("content", c), ("style", s), ("tv", t), ("total", all)];
                progress(events, it.iteration, total, &values, image)
            })?;
            Ok(finished(image, total, started))
        })
    })?;
    Ok(stream)
}

/// `POST /api/dream`: as `/api/style`, a `progress` per gradient-ascent step.
pub async fn dream(
    State(gallery): State<Arc<Gallery>>,
    request: Result<Json<DreamRequest>, JsonRejection>,
) -> Result<EventStream, ApiError> {
    let Json(r) = request?;
    let size = within("size", r.size, SIZES)?;
    let layer = text_field("layer", &r.layer, 20)?.to_string();
    Vgg19::check_layers(std::slice::from_ref(&layer)).map_err(|e| ApiError::bad(e.to_string()))?;
    let settings = DreamSettings {
        layer,
        octaves: within("octaves", r.octaves, 1..=6)?,
        octave_scale: 1.4,
        steps: within("steps", r.steps, 1..=50)?,
        lr: 0.008,
        jitter: 32,
        seed: 1,
    };
    let image = picture("image", &r.image, gallery.limits)?;
    let vgg = gallery.studio.vgg().await?;
    let image = data::to_tensor(&image, size, gallery.device);
    let (events, stream) = stream::channel(4);
    events.send_async("queued", &serde_json::json!({})).await;
    vgg.submit(move |vgg| {
        run_job(&events, |events| {
            let started = Instant::now();
            let total = settings.octaves * settings.steps;
            let dreamed = style_transfer::dream::dream(vgg, &settings, &image, |o, s, obj, x| {
                let done = o * settings.steps + s + 1;
                progress(events, done, total, &[("objective", obj)], x)
            })?;
            Ok(finished(dreamed, total, started))
        })
    })?;
    Ok(stream)
}

/// Runs a job on the model's thread unless its page has gone while it waited; reports its end.
fn run_job(events: &Events, job: impl FnOnce(&Events) -> Result<Finished>) {
    if !events.send("started", &serde_json::json!({})) {
        tracing::info!("a queued image job was dropped: its page had closed the stream");
        return;
    }
    match job(events) {
        Ok(done) => {
            events.send("done", &done);
        }
        Err(e) => {
            events.send("failed", &serde_json::json!({ "error": format!("{e:#}") }));
        }
    }
}

/// Sends a step; `Break` once the page has gone (and logs it).
fn progress(
    events: &Events,
    done: usize,
    total: usize,
    values: &[(&str, f64)],
    image: &Tensor,
) -> ControlFlow<()> {
    let image = match data::to_rgb(image).and_then(|rgb| png_data_url(&rgb)) {
        Ok(url) => url,
        Err(_) => return ControlFlow::Break(()),
    };
    let values = values.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    if events.send("progress", &Progress { done, total, values, image }) {
        ControlFlow::Continue(())
    } else {
        tracing::info!("the page closed the stream; stopped after {done} of {total} steps");
        ControlFlow::Break(())
    }
}

fn finished(image: Tensor, done: usize, started: Instant) -> Finished {
    let image = data::to_rgb(&image).and_then(|rgb| png_data_url(&rgb)).unwrap_or_default();
    Finished { image, done, seconds: started.elapsed().as_secs_f64() }
}

/// A vendored picture by name, or an uploaded one (`data:image/...;base64,...`), checked
/// against the upload limits.
fn picture(field: &str, spec: &str, limits: Limits) -> Result<DynamicImage, ApiError> {
    if let Some(rest) = spec.strip_prefix("data:") {
        let (_, encoded) = rest.split_once(";base64,").ok_or_else(|| {
            ApiError::bad(format!("{field}: a data URL must be base64 (data:image/png;base64,...)"))
        })?;
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|e| {
                ApiError::bad(format!("{field}: the data URL is not valid base64 ({e})"))
            })?;
        return decode_image(&bytes, limits)
            .map_err(|e| ApiError::bad(format!("{field}: {}", e.message)));
    }
    let name = text_field(field, spec, 40)?;
    datasets::vendored::image(name).map_err(|e| ApiError::bad(format!("{field}: {e}")))
}
