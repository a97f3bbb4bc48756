//! Digits and clothes: classify an uploaded or drawn image, show the 28x28 picture the network
//! actually saw after preprocessing, and its first layer's filters.

use crate::api::ApiError;
use crate::{Gallery, Limits};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::Json;
use image::{DynamicImage, ImageFormat, ImageReader};
use serde::Serialize;
use std::io::Cursor;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// A greyscale or colour picture as numbers in `[0, 1]`, row by row (channel-major).
#[derive(Debug, Serialize)]
pub struct Picture {
    /// Channels (1 or 3).
    pub channels: i64,
    /// Rows.
    pub height: i64,
    /// Columns.
    pub width: i64,
    /// `channels * height * width` values.
    pub pixels: Vec<f32>,
}

impl Picture {
    /// A `[C, H, W]` tensor, as it is.
    fn of(t: &Tensor) -> Result<Picture, ApiError> {
        let (c, h, w) = t.size3().map_err(|e| ApiError::internal(e.to_string()))?;
        let flat = t.to_device(Device::Cpu).to_kind(Kind::Float).reshape([-1]);
        let pixels = Vec::<f32>::try_from(&flat).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Picture { channels: c, height: h, width: w, pixels })
    }
}

/// One class and its probability.
#[derive(Debug, Serialize)]
pub struct Guess {
    /// The class's name.
    pub class: String,
    /// Its probability.
    pub probability: f64,
}

/// The answer to a classification.
#[derive(Debug, Serialize)]
pub struct Classified {
    /// The three most probable classes, most probable first.
    pub top: Vec<Guess>,
    /// The image as the network saw it.
    pub seen: Picture,
}

/// `POST /api/classify/{model}` with an image (PNG, JPEG or GIF) as the body.
pub async fn classify(
    State(gallery): State<Arc<Gallery>>,
    Path(model): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Classified>, ApiError> {
    let served = gallery.classifiers.get(&model)?;
    let image = decode_image(&body?, gallery.limits)?;
    let answer = served
        .worker
        .call(move |classifier| -> Result<Classified, ApiError> {
            let seen = classifier.input(&image, None).map_err(|e| ApiError::bad(e.to_string()))?;
            let top =
                classifier.predict(&image, None, 3).map_err(|e| ApiError::bad(e.to_string()))?;
            let top = top.into_iter().map(|(class, probability)| Guess { class, probability });
            Ok(Classified { top: top.collect(), seen: Picture::of(&seen)? })
        })
        .await??;
    Ok(Json(answer))
}

/// The first convolution's filters, each scaled to `[0, 1]` on its own.
#[derive(Debug, Serialize)]
pub struct Filters {
    /// One picture per filter.
    pub filters: Vec<Picture>,
}

/// `GET /api/filters/{model}`.
pub async fn filters(
    State(gallery): State<Arc<Gallery>>,
    Path(model): Path<String>,
) -> Result<Json<Filters>, ApiError> {
    let served = gallery.classifiers.get(&model)?;
    let filters = served
        .worker
        .call(|classifier| -> Result<Filters, ApiError> {
            let Some(weights) = classifier.net.first_filters() else {
                return Ok(Filters { filters: Vec::new() });
            };
            let weights = weights.detach().to_device(Device::Cpu);
            let n = weights.size()[0];
            let pictures = (0..n).map(|i| {
                let f = weights.get(i);
                let (lo, hi) = (f.min(), f.max());
                let scaled = (&f - &lo) / (hi - &lo).clamp_min(1e-12);
                Picture::of(&scaled)
            });
            Ok(Filters { filters: pictures.collect::<Result<_, _>>()? })
        })
        .await??;
    Ok(Json(filters))
}

/// Decodes an upload, refusing what is not an image, is cut short, or is larger than `limits`.
pub fn decode_image(bytes: &[u8], limits: Limits) -> Result<DynamicImage, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad("the request has no image: send a PNG, JPEG or GIF as its body"));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ApiError::bad(format!("the upload could not be read: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif) => {}
        Some(other) => {
            return Err(ApiError::bad(format!(
                "{other:?} images are not supported: send a PNG, JPEG or GIF"
            )))
        }
        None => return Err(ApiError::bad("the upload is not an image (PNG, JPEG or GIF)")),
    }
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| ApiError::bad(format!("the image's header could not be read: {e}")))?;
    let side = limits.image_side;
    if width > side || height > side {
        return Err(ApiError::bad(format!(
            "the image is {width}x{height} pixels; the limit is {side} on each side"
        )));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ApiError::bad(format!("the upload could not be read: {e}")))?;
    let mut memory = image::Limits::default();
    memory.max_image_width = Some(side);
    memory.max_image_height = Some(side);
    reader.limits(memory);
    reader
        .decode()
        .map_err(|e| ApiError::bad(format!("the image could not be decoded (cut short?): {e}")))
}
