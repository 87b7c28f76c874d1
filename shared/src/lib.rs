//! Herald's domain crate: everything that is not a `main`. See ARCHITECTURE.md.

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod config;
pub mod console;
pub mod deliver;
pub mod domain;
pub mod error;
pub mod event_types;
pub mod fanout;
pub mod intake;
pub mod local;
pub mod model;
pub mod net;
pub mod queue;
pub mod quota;
pub mod secrets;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod templates;
