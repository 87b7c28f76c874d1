//! Benchmark baseline and receiver: a bare axum hello-world on 127.0.0.1:$PORT (`GET /`, for
//! bench/load.sh), and a webhook receiver that only counts (`POST /hook`, read back with
//! `GET /count`, for bench/deliveries.py), and one that refuses (`POST /refuse` answers 400,
//! counted by `GET /refused`, for bench/recover.py).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::{get, post};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let hooks = Arc::new(AtomicU64::new(0));
    let counted = hooks.clone();
    let refused = Arc::new(AtomicU64::new(0));
    let refusing = refused.clone();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/hook",
            post(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                async { "ok" }
            }),
        )
        .route(
            "/refuse",
            post(move || {
                refusing.fetch_add(1, Ordering::Relaxed);
                async { (axum::http::StatusCode::BAD_REQUEST, "no") }
            }),
        )
        .route(
            "/refused",
            get(move || {
                let n = refused.load(Ordering::Relaxed);
                async move { n.to_string() }
            }),
        )
        .route(
            "/count",
            get(move || {
                let n = hooks.load(Ordering::Relaxed);
                async move { n.to_string() }
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
