//! The pages, styles and scripts, embedded in the binary: no build step, no CDN, nothing read
//! from disk at run time. Only the names listed here are served; a request for anything else
//! (`/static/../Cargo.toml` included) is a 404.

use crate::api::ApiError;
use axum::extract::Path;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        Asset { name: $name, mime: $mime, bytes: include_bytes!(concat!("../static/", $name)) }
    };
}

const HTML: &str = "text/html; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("digits.html", "text/html; charset=utf-8"),
    asset!("text.html", "text/html; charset=utf-8"),
    asset!("translate.html", "text/html; charset=utf-8"),
    asset!("style.html", "text/html; charset=utf-8"),
    asset!("play.html", "text/html; charset=utf-8"),
    asset!("train.html", "text/html; charset=utf-8"),
    asset!("graph.html", "text/html; charset=utf-8"),
    asset!("gallery.css", "text/css; charset=utf-8"),
    asset!("gallery.js", "text/javascript; charset=utf-8"),
];

/// The names of the pages (`/digits` serves `digits.html`).
pub fn pages() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().filter(|a| a.mime == HTML).map(|a| a.name.trim_end_matches(".html"))
}

fn serve(name: &str) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => ([(header::CONTENT_TYPE, asset.mime)], asset.bytes).into_response(),
        None => ApiError::not_found(format!("no file named {name:?}")).into_response(),
    }
}

/// `GET /`.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /{page}`: one of the showcase pages.
pub async fn page(Path(page): Path<String>) -> Response {
    match pages().find(|p| *p == page) {
        Some(_) => serve(&format!("{page}.html")),
        None => ApiError::not_found(format!("no page named {page:?}")).into_response(),
    }
}

/// `GET /static/{name}`: a stylesheet or script.
pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

/// Everything else.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("nothing at {}", uri.path()))
}
