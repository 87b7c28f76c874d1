//! Events: `POST /v1/organizations/{organizationId}/events` answers 202 as soon as the
//! event is recorded and its fan-out queued, whatever the number of targets.
//!
//! Decisions where the spec is silent:
//! - The idempotency key is the `Idempotency-Key` header (the IETF draft's, Stripe's) or the body's
//!   `idempotencyKey`, 1–255 printable ASCII characters; both given and different is a 400 naming
//!   both. A replay (same key, same `type` and `data` within 24 h) answers 202 with the first event
//!   and queues nothing; another body under the key is 422 1003.
//! - `data` is an object of at most 64 KiB (its compact JSON).
//! - The event, its key and its fan-out message are recorded as one unit (`intake`): on SQLite in
//!   one transaction; on AWS, if SQS refuses the message, the event and its key are removed again.
//!   Either way a 503 means nothing happened, and a retry is safe.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, FromBody, JsonObject, OrgPath, PageQuery, PathParams, encode_cursor};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::FieldError;
use crate::domain::events::{self, NewEvent};
use crate::event_types;
use crate::model::{Channel, Delivery, DeliveryFilter};
use crate::model::{DeliveryStatus, DispatchMethod, EventType, Permission, timestamp};
use crate::ports::store::PageRequest;

/// The largest `data`, as compact JSON.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
use super::input::MAX_IDEMPOTENCY_KEY as MAX_KEY_CHARS;

/// `{"id", "type", "createdAt", "warnings"}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventAccepted {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The fields of `data` that the event type's template renders and this event lacks
    /// (`{"field": "data.createdBy", "message": …}`, sorted): they will render empty. Empty
    /// when nothing is missing. The event is accepted either way.
    pub warnings: Vec<FieldError>,
}

/// `{"status": true, "data": {"id", "type", "createdAt", "warnings"}}`
#[derive(Serialize, ToSchema)]
pub struct EventAcceptedResponse {
    pub status: bool,
    pub data: EventAccepted,
}

/// `POST /events` body: `{"type", "data"?, "idempotencyKey"?}`. It reads itself from the body
/// ([`EmitEventRequest::parse`], every problem in one 400), and its OpenAPI schema is one object
/// per event type, each with that type's `data` ([`event_types`]).
#[derive(Debug, PartialEq)]
pub struct EmitEventRequest {
    pub kind: EventType,
    /// An object (`{}` when absent), at most [`MAX_DATA_BYTES`] as compact JSON.
    pub data: Value,
    /// 1–255 characters.
    pub idempotency_key: Option<String>,
}

impl FromBody for EmitEventRequest {
    fn read(fields: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        fields.deny_unknown(&["type", "data", "idempotencyKey"], problems);
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
            .opt_str("idempotencyKey", MAX_KEY_CHARS, problems)
            .ok()
            .flatten();
        if let Some(key) = key {
            super::input::check_idempotency_key("idempotencyKey", key, problems);
        }
        Some(Self {
            kind: kind?,
            data: data?,
            idempotency_key: key.map(str::to_owned),
        })
    }
}

impl EmitEventRequest {
    /// The body, with the `Idempotency-Key` header as its key when the body has none: every
    /// problem of either in one 400, and a header that differs from the body's key names both.
    pub fn parse_with_headers(
        body: &serde_json::Map<String, Value>,
        headers: &axum::http::HeaderMap,
    ) -> ApiResult<Self> {
        let mut problems = Problems::default();
        let request = Self::read(&super::input::Fields::new(body, ""), &mut problems);
        let header = super::input::idempotency_header(headers, &mut problems);
        let body_key = request.as_ref().and_then(|r| r.idempotency_key.as_deref());
        if let (Some(body_key), Some(header)) = (body_key, header.as_deref())
            && body_key != header
        {
            problems.add("idempotencyKey", "differs from the Idempotency-Key header");
            problems.add(
                super::input::IDEMPOTENCY_KEY,
                "differs from the body's idempotencyKey",
            );
        }
        problems.finish(|| {
            request.map(|mut r| {
                r.idempotency_key = r.idempotency_key.or(header);
                r
            })
        })
    }
}

impl utoipa::PartialSchema for EmitEventRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        event_types::request_schema(MAX_KEY_CHARS)
    }
}

impl ToSchema for EmitEventRequest {}

/// Emit an event
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/events",
    tag = "Events and delivery",
    params(("organizationId" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[\\x20-\\x7E]+$",
            description = "The same as the body's `idempotencyKey` (both given must be equal): a replay within 24 hours answers the first event.")),
    request_body = EmitEventRequest,
    security(("bearer" = [])),
    responses((status = 202, body = EventAcceptedResponse),
        (status = 400, body = crate::api::error::ErrorEnvelope), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope),
        (status = 422, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn emit(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    headers: axum::http::HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Envelope<EventAccepted>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::EventCreate)?;
    let request = EmitEventRequest::parse_with_headers(&body, &headers)?;
    let event = events::emit(
        &*state.intake,
        state.clock.now(),
        org,
        NewEvent {
            kind: request.kind,
            data: request.data,
            idempotency_key: request.idempotency_key,
        },
    )
    .await?;
    // A replay answers with the first event, and so with its warnings.
    let warnings = events::missing_fields(&event)
        .into_iter()
        .map(|field| {
            FieldError::new(
                format!("data.{field}"),
                format!(
                    "is missing: the {} template renders it, and it will render empty",
                    event.kind
                ),
            )
        })
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        envelope(EventAccepted {
            id: event.id,
            kind: event.kind,
            created_at: event.created_at,
            warnings,
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Reading events and deliveries

/// One delivery as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    pub method: DispatchMethod,
    /// The notification it goes through (Slack and webhook targets, and email/SMS recipients').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// The email address or phone number (email and SMS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The event about Herald it posts to the organization's operational webhook (such a
    /// delivery has no notification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operational_event: Option<crate::model::OperationalEvent>,
    pub status: DeliveryStatus,
    /// Attempts since it was last queued (by the fan-out, a resend or a recover).
    pub attempts: u32,
    /// Its last attempts (at most 10, over every resend and recover), oldest first.
    pub history: Vec<crate::model::Attempt>,
    /// While it waits to be tried again (`queued` after a failed attempt): when.
    #[serde(skip_serializing_if = "Option::is_none", with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::model::SkipReason>,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        let to = match &d.channel {
            Channel::Slack { .. } | Channel::Webhook { .. } | Channel::Operational { .. } => None,
            Channel::Email { to } => Some(to.to_string()),
            Channel::Sms { to } => to.as_ref().map(ToString::to_string),
        };
        let method = d.channel.method();
        let notification = d.notification_id().map(ToString::to_string);
        Self {
            id: d.id,
            event_id: d.event,
            method,
            notification_id: notification,
            user_id: d.user,
            to,
            operational_event: match &d.channel {
                Channel::Operational { event } => Some(*event),
                _ => None,
            },
            status: d.status,
            attempts: d.attempts,
            history: d.history.clone(),
            next_attempt_at: d.next_attempt_at(),
            last_error: d.last_error.clone(),
            reason: d.reason,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `{"status": true, "data": {"items": [...], "nextCursor"}}`
#[derive(Serialize, ToSchema)]
pub struct DeliveryPageResponse {
    pub status: bool,
    pub data: DeliveryPage,
}

/// An event and (the first page of) its deliveries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Its deliveries, newest first: the first 100; `GET .../deliveries?eventId=` pages on. A
    /// delivery shows here once the fan-out has skipped it or the sender has taken it from the
    /// queue (at once while the queue keeps up), not while it waits in the queue.
    pub deliveries: DeliveryPage,
}

/// `{"status": true, "data": <event>}`
#[derive(Serialize, ToSchema)]
pub struct EventResponse {
    pub status: bool,
    pub data: EventView,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPath {
    organization_id: String,
    event_id: String,
}

fn page_of(page: crate::ports::store::Page<Delivery>) -> DeliveryPage {
    DeliveryPage {
        items: page.items.iter().map(DeliveryView::from).collect(),
        next_cursor: page.next.as_deref().map(encode_cursor),
    }
}

/// Get an event and its deliveries
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/events/{eventId}",
    tag = "Events and delivery",
    params(("organizationId" = String, Path), ("eventId" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses((status = 200, body = EventResponse), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<EventPath>,
) -> ApiResult<Json<Envelope<EventView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationRead)?;
    let id = Uuid::parse_str(&path.event_id).map_err(|_| ApiError::NotFound)?;
    let event = state
        .store
        .get_event(&org, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let filter = DeliveryFilter {
        status: None,
        event: Some(id),
    };
    let first = PageRequest {
        limit: 100,
        after: None,
    };
    let deliveries = state.store.list_deliveries(&org, &filter, &first).await?;
    Ok(envelope(EventView {
        id: event.id,
        kind: event.kind,
        data: event.data,
        idempotency_key: event.idempotency_key,
        created_at: event.created_at,
        deliveries: page_of(deliveries),
    }))
}

/// List deliveries, newest first
///
/// Newest first (by creation time, then id), 50 per page unless `limit` says otherwise
/// (1–100); follow `nextCursor` until it is `null`. An event's deliveries carry the event's time.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/deliveries",
    tag = "Events and delivery",
    params(("organizationId" = String, Path),
        ("status" = Option<DeliveryStatus>, Query, description = "only deliveries in this state"),
        ("eventId" = Option<String>, Query, format = Uuid, description = "only this event's deliveries"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 50"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),),
    security(("bearer" = [])),
    responses((status = 200, body = DeliveryPageResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Envelope<DeliveryPage>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationRead)?;
    let mut problems = Problems::default();
    for key in query.keys() {
        if !["status", "eventId", "limit", "cursor"].contains(&key.as_str()) {
            problems.add(key.clone(), "is not a known query parameter");
        }
    }
    let status = match query.get("status") {
        None => None,
        Some(raw) => problems.check("status", DeliveryStatus::parse(raw)),
    };
    let event = match query.get("eventId") {
        None => None,
        Some(raw) => problems.check(
            "eventId",
            Uuid::parse_str(raw).map_err(|_| "must be an event id (a UUID)"),
        ),
    };
    let page = match PageQuery::parse(&query) {
        Ok(page) => Some(page),
        Err(ApiError::Validation(details)) => {
            for d in details {
                problems.add(d.field, d.message);
            }
            None
        }
        Err(e) => return Err(e),
    };
    let page = problems.finish(|| page)?;
    let filter = DeliveryFilter { status, event };
    let request = PageRequest {
        limit: page.limit,
        after: page.after,
    };
    let found = state.store.list_deliveries(&org, &filter, &request).await?;
    Ok(envelope(page_of(found)))
}

/// `{"status": true, "data": <delivery>}`
#[derive(Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub status: bool,
    pub data: DeliveryView,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPath {
    organization_id: String,
    delivery_id: String,
}

/// Get one delivery
///
/// Found by its id alone (the `id` of the delivery log's items). A delivery shows once the
/// fan-out has skipped it or the sender has taken it from the queue.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/deliveries/{deliveryId}",
    tag = "Events and delivery",
    params(("organizationId" = String, Path), ("deliveryId" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses((status = 200, body = DeliveryResponse), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn get_delivery(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<DeliveryPath>,
) -> ApiResult<Json<Envelope<DeliveryView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationRead)?;
    let id = Uuid::parse_str(&path.delivery_id).map_err(|_| ApiError::NotFound)?;
    let delivery = state
        .store
        .find_delivery(&org, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(envelope(DeliveryView::from(&delivery)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::FieldError;

    fn parse(body: Value) -> ApiResult<EmitEventRequest> {
        EmitEventRequest::parse(body.as_object().unwrap_or(&serde_json::Map::new()))
    }

    #[test]
    fn an_events_body_reads_into_its_type_with_defaults() {
        assert_eq!(
            parse(json!({"type": "buildCreated"})).ok(),
            Some(EmitEventRequest {
                kind: EventType::BuildCreated,
                data: json!({}),
                idempotency_key: None,
            })
        );
        assert_eq!(
            parse(json!({"type": "feedbackCreated", "data": {"a": 1}, "idempotencyKey": "k-1"}))
                .ok(),
            Some(EmitEventRequest {
                kind: EventType::FeedbackCreated,
                data: json!({"a": 1}),
                idempotency_key: Some("k-1".into()),
            })
        );
    }

    #[test]
    fn a_bad_events_body_names_every_broken_field_at_once() {
        let refused = parse(json!({"type": 7, "data": "x", "idempotencyKey": "", "more": 1}));
        let Err(ApiError::Validation(details)) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(
            details,
            [
                FieldError::new("more", "is not a known field"),
                FieldError::new("type", "must be a string"),
                FieldError::new("data", "must be an object"),
                FieldError::new("idempotencyKey", "must not be empty"),
            ]
        );
    }
}
