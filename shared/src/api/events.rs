//! Events (SPEC §7): `POST /v1/organizations/{organizationId}/events` answers 202 as soon as the
//! event is recorded and its fan-out queued, whatever the number of targets.
//!
//! Decisions where the spec is silent:
//! - `idempotencyKey` is 1–255 characters. A replay (same key, same `type` and `data` within 24 h)
//!   answers 202 with the first event and queues nothing; another body under the key is 422 1003.
//! - `data` is an object of at most 64 KiB (its compact JSON).
//! - If the fan-out message cannot be queued, the event (and its key) is removed and the answer is
//!   503: nothing happened, and a retry is safe.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, JsonObject, OrgPath, PathParams};
use super::{AppState, Envelope, envelope};
use crate::auth::{Principal, sha256_hex};
use crate::error::{ApiError, ApiResult, Problems};
use crate::model::{EventType, Permission, timestamp};
use crate::queue::FanoutMessage;
use crate::store::{Event, EventCreated};

/// The largest `data`, as compact JSON.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
const MAX_KEY_CHARS: usize = 255;
/// How long an idempotency key holds.
const KEY_LIFETIME: time::Duration = time::Duration::hours(24);

/// `{"id", "type", "createdAt"}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventAccepted {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: EventType,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// `{"status": true, "data": {"id", "type", "createdAt"}}`
#[derive(Serialize, ToSchema)]
pub struct EventAcceptedResponse {
    pub status: bool,
    pub data: EventAccepted,
}

/// `POST /events` body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the request body; the handler reads it field by field
pub struct EmitEventRequest {
    /// One of the 15 event types.
    #[schema(rename = "type")]
    kind: String,
    /// The event's data (an object, ≤ 64 KiB): what the templates render.
    data: Value,
    /// Deduplicates for 24 h.
    #[schema(rename = "idempotencyKey")]
    idempotency_key: Option<String>,
}

/// Emit an event
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/events",
    tag = "Events and delivery",
    params(("organizationId" = String, Path)),
    request_body = EmitEventRequest,
    security(("bearer" = [])),
    responses((status = 202, body = EventAcceptedResponse),
        (status = 400, body = crate::error::ErrorEnvelope), (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope),
        (status = 422, body = crate::error::ErrorEnvelope), (status = 503, body = crate::error::ErrorEnvelope))
)]
pub async fn emit(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Envelope<EventAccepted>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::EventCreate)?;
    let fields = Fields::new(&body, "");
    let mut problems = Problems::default();
    fields.deny_unknown(&["type", "data", "idempotencyKey"], &mut problems);
    let kind = match fields.raw("type") {
        None => {
            problems.add("type", "is required");
            None
        }
        Some(Value::String(raw)) => problems.check("type", EventType::parse(raw)),
        Some(_) => {
            problems.add("type", "must be a string");
            None
        }
    };
    let data = match fields.raw("data") {
        None => Some(Value::Object(Default::default())),
        Some(Value::Object(map)) => {
            let data = Value::Object(map.clone());
            let size = serde_json::to_vec(&data)
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > MAX_DATA_BYTES {
                problems.add("data", "must be at most 64 KiB");
            }
            Some(data)
        }
        Some(_) => {
            problems.add("data", "must be an object");
            None
        }
    };
    let key = fields
        .opt_str("idempotencyKey", MAX_KEY_CHARS, &mut problems)
        .ok()
        .flatten();
    if key.is_some_and(str::is_empty) {
        problems.add("idempotencyKey", "must not be empty");
    }
    let (kind, data) = problems.finish(|| kind.zip(data))?;
    let canonical = serde_json::json!({"type": kind.as_str(), "data": data}).to_string();
    let now = state.clock.now();
    let event = Event {
        id: Uuid::now_v7(),
        organization: org.clone(),
        kind,
        data,
        idempotency_key: key.map(str::to_owned),
        body_hash: sha256_hex(&canonical),
        created_at: now,
    };
    let accepted = |e: &Event| {
        (
            StatusCode::ACCEPTED,
            envelope(EventAccepted {
                id: e.id,
                kind: e.kind,
                created_at: e.created_at,
            }),
        )
    };
    match state.store.create_event(&event, now + KEY_LIFETIME).await? {
        EventCreated::Replay(first) => return Ok(accepted(&first)),
        EventCreated::KeyReused => return Err(ApiError::IdempotencyKeyReused),
        EventCreated::New => {}
    }
    let message = FanoutMessage {
        organization: org,
        event: event.id,
        position: None,
    };
    if let Err(e) = state.fanout.send(&[message]).await {
        if let Err(cleanup) = state.store.delete_event(&event).await {
            tracing::error!(event = %event.id, error = %cleanup, "an event whose fan-out was not queued is left recorded");
        }
        return Err(e.into());
    }
    Ok(accepted(&event))
}
