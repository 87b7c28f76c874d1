//! Logging: JSON lines in Lambda (one per event, with request id, tenant and route), human output
//! locally. `RUST_LOG` filters with `target=level` directives (`warn`, `info,shared=debug`;
//! default `info`). Tokens and secrets are never logged.
//!
//! `Targets` rather than `EnvFilter`: the same directives without a regex engine, which made
//! every function binary larger and its cold start slower (BENCHMARKS.md).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn filter() -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// JSON output for Lambda (CloudWatch adds the timestamp).
pub fn init_json() {
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .without_time()
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter())
        .try_init();
}

/// Human-readable output for the local server, on stderr (its stdout carries only its three
/// lines), coloured only when stderr is a terminal and `NO_COLOR` is not set.
pub fn init_human() {
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter())
        .try_init();
}
