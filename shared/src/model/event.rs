//! Events emitted into an organization, as stored.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{OrgId, timestamp};

/// An event emitted into an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// UUIDv7.
    pub id: Uuid,
    pub organization: OrgId,
    #[serde(rename = "type")]
    pub kind: crate::model::EventType,
    pub data: serde_json::Value,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of the request's type and data: tells a replay from a reused key.
    pub body_hash: String,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
}

/// What recording an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventCreated {
    New,
    /// The idempotency key was used in the last 24 h with the same body: that first event.
    Replay(Event),
    /// The idempotency key was used in the last 24 h with another body.
    KeyReused,
}
