//! The console (part of the edge): a small web application at `GET /console` — one HTML page,
//! one script and one stylesheet, served from this binary (no build step, no asset from
//! elsewhere) — that talks to the same HTTP API with a token the person pastes in. The same
//! router serves it from `herald-local` and from the `console` Lambda function.
//!
//! Every answer carries a strict `Content-Security-Policy` ([`CSP`]): scripts, styles and API
//! calls from this origin only, no inline script or style, no framing, no form posts. The script
//! builds every page with DOM calls (never HTML from data) and keeps the token in
//! `sessionStorage` only.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::error::ApiError;

/// The console's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The page and its two assets: (path under `/console/`, content type, body).
const FILES: &[(&str, &str, &str)] = &[
    ("", "text/html; charset=utf-8", include_str!("index.html")),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("app.css"),
    ),
];

/// `GET /console` (and `/console/`), `GET /console/app.js`, `GET /console/app.css`; any other
/// `/console/…` is the API's 404 envelope.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| async { file("") }))
        .route("/console/", get(|| async { file("") }))
        .route(
            "/console/{asset}",
            get(|Path(asset): Path<String>| async move { file(&asset) }),
        )
}

/// The total size of the page and its assets, in bytes (what a first load transfers).
pub fn size() -> usize {
    FILES.iter().map(|(_, _, body)| body.len()).sum()
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(path, _, _)| *path == name) {
        Some((_, kind, body)) => (
            [
                (CONTENT_TYPE, *kind),
                (CONTENT_SECURITY_POLICY, CSP),
                (X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (X_FRAME_OPTIONS, "DENY"),
                (REFERRER_POLICY, "no-referrer"),
                (CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::NotFound.into_response(),
    }
}
