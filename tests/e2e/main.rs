//! The one end-to-end test binary (see `tests/support` for the helpers).

mod dynamodb_calls;
mod lambda_events;
mod local_server;
mod notifications;
mod openapi;
mod organizations;
mod quota;
mod recipients;
mod settings;
mod store_contract;
