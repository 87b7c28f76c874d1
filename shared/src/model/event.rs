//! Events emitted into an organization, as stored.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{FanoutStatus, OrgId, timestamp};

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
    /// How far its fan-out has come. An event recorded before Herald tracked this reads as
    /// `done` with no deliveries counted.
    #[serde(default = "Fanout::untracked")]
    pub fanout: Fanout,
    /// How many times its failed fan-out was retried (`fanout/retry`): each round's failure is
    /// told to the operational webhook once.
    #[serde(default, skip_serializing_if = "crate::model::is_zero")]
    pub fanout_round: u32,
}

/// An event's fan-out: `pending` until every delivery of it is made, then `done` with how many
/// it made (of every status, skipped ones included), or `failed` when its fan-out job's retries
/// ran out (its dead letter was drained).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fanout {
    pub status: FanoutStatus,
    /// The deliveries made so far.
    pub deliveries: u64,
}

impl Fanout {
    pub const PENDING: Fanout = Fanout {
        status: FanoutStatus::Pending,
        deliveries: 0,
    };

    fn untracked() -> Self {
        Fanout {
            status: FanoutStatus::Done,
            deliveries: 0,
        }
    }
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
