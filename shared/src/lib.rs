//! Herald's crate: everything that is not a `main`, in floors that only look down —
//! the edge ([`api`], [`app`], [`console`]) over the workers ([`workers`]) over the domain
//! ([`domain`]) over the ports ([`ports`]) over the ground ([`model`], [`config`],
//! [`telemetry`], [`templates`], [`event_types`]). The [`adapters`] implement the ports; only the
//! edge builds them.

pub mod adapters;
pub mod api;
pub mod app;
pub mod config;
pub mod console;
pub mod domain;
pub mod event_types;
pub mod model;
pub mod ports;
pub mod telemetry;
pub mod templates;
pub mod workers;
