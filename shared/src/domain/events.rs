//! Emitting an event: it is recorded with its idempotency key and its first fan-out message as
//! one unit ([`crate::ports::intake`]), so accepted means durable, and a failure means nothing happened.

use serde_json::Value;
use uuid::Uuid;

use super::Error;
use crate::event_types;
use crate::model::token::sha256_hex;
use crate::model::{Event, EventCreated};
use crate::model::{EventType, OrgId};
use crate::ports::intake::EventIntake;

/// How long an idempotency key holds.
pub const KEY_LIFETIME: time::Duration = time::Duration::hours(24);

/// An event to emit.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub kind: EventType,
    /// An object.
    pub data: Value,
    pub idempotency_key: Option<String>,
}

/// Records `new` in `org` and queues its fan-out. A replay (the same key with the same `type` and
/// `data` within [`KEY_LIFETIME`]) returns the first event and queues nothing; the key with
/// another body is [`Error::KeyReused`].
pub async fn emit(
    intake: &dyn EventIntake,
    now: time::OffsetDateTime,
    org: OrgId,
    new: NewEvent,
) -> Result<Event, Error> {
    let canonical = serde_json::json!({"type": new.kind.as_str(), "data": new.data}).to_string();
    let event = Event {
        id: Uuid::now_v7(),
        organization: org,
        kind: new.kind,
        data: new.data,
        idempotency_key: new.idempotency_key,
        body_hash: sha256_hex(&canonical),
        created_at: now,
    };
    match intake.accept(&event, now + KEY_LIFETIME).await? {
        EventCreated::Replay(first) => Ok(first),
        EventCreated::KeyReused => Err(Error::KeyReused),
        EventCreated::New => Ok(event),
    }
}

/// The fields of its `data` that `event`'s template renders and the event lacks (or has as
/// `null`), sorted: they will render empty.
pub fn missing_fields(event: &Event) -> Vec<String> {
    let empty = serde_json::Map::new();
    event_types::of(event.kind)
        .missing(event.data.as_object().unwrap_or(&empty))
        .map(str::to_owned)
        .collect()
}
