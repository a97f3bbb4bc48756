//! Errors as the browser sees them, and the checks every parameter passes first: a bad request
//! gets status 400 and `{"error": "<one sentence naming the problem>"}`, never a panic.

use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::fmt::Display;
use std::ops::RangeInclusive;

/// An error answered as JSON with its status.
#[derive(Debug)]
pub struct ApiError {
    /// 400 for what the client sent, 404 for what does not exist, 500 for our failures.
    pub status: StatusCode,
    /// One sentence.
    pub message: String,
}

impl ApiError {
    /// The client sent something we refuse.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// The thing asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    /// Too many jobs of this kind are running: try later.
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }

    /// What the request needs is not available on this machine (weights not fetched).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }

    /// The queue is full.
    pub fn too_many(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::TOO_MANY_REQUESTS, message: message.into() }
    }

    /// Something failed on our side.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

/// A body, JSON document or query the framework could not take apart: 400 (413 for a body over
/// the upload limit, 415 for a body that is not declared JSON), with the reason as JSON.
macro_rules! from_rejection {
    ($rejection:ty) => {
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> ApiError {
                let status = rejection.status();
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "the upload is larger than the gallery accepts (see --max-upload-mb)"
                        .to_string()
                } else {
                    rejection.body_text()
                };
                // 413 and 415 say exactly what is wrong; everything else is a bad request (a
                // JSON value of the wrong type too, which axum would answer with 422).
                let status = match status {
                    StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => status,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError { status, message }
            }
        }
    };
}

from_rejection!(BytesRejection);
from_rejection!(JsonRejection);
from_rejection!(QueryRejection);

/// The value if it lies in `range`, else a 400 naming the parameter.
pub fn within<T: PartialOrd + Display>(
    name: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<T, ApiError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad(format!(
            "{name} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        )))
    }
}

/// A finite float in `range` (NaN and infinities are refused as well).
pub fn within_f64(name: &str, value: f64, range: RangeInclusive<f64>) -> Result<f64, ApiError> {
    if value.is_finite() {
        within(name, value, range)
    } else {
        Err(ApiError::bad(format!("{name} must be a finite number")))
    }
}

/// A text field of at most `max` characters.
pub fn text_field<'a>(name: &str, value: &'a str, max: usize) -> Result<&'a str, ApiError> {
    let n = value.chars().count();
    if n > max {
        return Err(ApiError::bad(format!("{name} is {n} characters long; the limit is {max}")));
    }
    Ok(value)
}
