//! The one end-to-end test binary (see `tests/support` for the helpers).

mod admin;
mod cli;
mod console;
mod delivery;
mod deploy;
mod dynamodb_calls;
mod event_store_contract;
mod event_types;
mod lambda_events;
mod layers;
mod local_crash;
mod local_refusals;
mod local_server;
mod notifications;
mod openapi;
mod organizations;
mod queue_contract;
mod quota;
mod readme;
mod recipients;
mod route_table;
mod schemathesis;
mod secrets;
mod settings;
mod sqlite;
mod store_contract;
