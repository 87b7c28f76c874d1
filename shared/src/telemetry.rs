//! Logging: JSON lines in Lambda (one per event, with request id, tenant and route), human output
//! locally. `RUST_LOG` filters (default `info`). Tokens and secrets are never logged.

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON output for Lambda (CloudWatch adds the timestamp).
pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Human-readable output for the local server.
pub fn init_human() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .try_init();
}
