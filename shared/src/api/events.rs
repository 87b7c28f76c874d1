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

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::delivery_log::{DeliveryPage, page_of};
use super::input::{Fields, FromBody, JsonObject, OrgPath, PathParams};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::FieldError;
use crate::domain::events::{self, NewEvent};
use crate::domain::limits;
use crate::event_types;
use crate::model::DeliveryFilter;
use crate::model::{EventType, Fanout, Permission, timestamp};
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
                // It becomes a link in emails, Slack messages and SMS: a web address only.
                match map.get("url") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(url)) if is_web_url(url) => {}
                    Some(Value::String(_)) => {
                        problems.add("data.url", "must be an absolute http or https URL")
                    }
                    Some(_) => problems.add("data.url", "must be a string"),
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

/// Whether `raw` is an absolute `http` or `https` URL with a host (what a link in an email, a
/// Slack message or an SMS may be; `javascript:`, `data:` or `file:` never).
fn is_web_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
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
///
/// Past the organization's `eventsPerSecond` (its plan's, or the operator's), 429 with code 4029
/// and `Retry-After`, and nothing is recorded.
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
        (status = 422, body = crate::api::error::ErrorEnvelope),
        (status = 429, body = crate::api::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "seconds until events are accepted again"))),
        (status = 503, body = crate::api::error::ErrorEnvelope))
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
    // The organization's eventsPerSecond: past it, 429 and nothing recorded.
    let now = state.clock.now();
    if state.config.organization_limits
        && !limits::take_event(&*state.store, &*state.store, &state.limits, now, &org).await?
    {
        return Err(ApiError::RateLimited { retry_after: 1 });
    }
    let event = events::emit(
        &state.emitting(),
        now,
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
    /// How far its fan-out has come: `pending` until every delivery is made, `done` with how
    /// many were made, `failed` when the fan-out's retries ran out (the operational webhook's
    /// `event.fanoutFailed`).
    pub fanout: Fanout,
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
        fanout: event.fanout,
        deliveries: page_of(deliveries),
    }))
}

/// `{"id", "fanout"}`: the event whose fan-out is retried, and its fan-out now.
#[derive(Debug, Serialize, ToSchema)]
pub struct FanoutRetried {
    pub id: Uuid,
    pub fanout: Fanout,
}

/// `{"status": true, "data": {"id", "fanout"}}`
#[derive(Serialize, ToSchema)]
pub struct FanoutRetriedResponse {
    pub status: bool,
    pub data: FanoutRetried,
}

/// Retry an event's failed fan-out (admin)
///
/// An event whose fan-out ran out of retries (`"fanout": {"status": "failed"}`, told to the
/// operational webhook as `event.fanoutFailed`) is fanned out again: its fan-out is `pending`
/// and its first job queued (202). Deliveries made before it failed keep their ids, so none is
/// sent twice. 409 unless its fan-out is `failed`; 404 for an unknown event.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/events/{eventId}/fanout/retry",
    tag = "Events and delivery",
    params(("organizationId" = String, Path), ("eventId" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses((status = 202, body = FanoutRetriedResponse), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope),
        (status = 409, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn retry_fanout(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<EventPath>,
) -> ApiResult<(StatusCode, Json<Envelope<FanoutRetried>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationUpdate)?;
    let id = Uuid::parse_str(&path.event_id).map_err(|_| ApiError::NotFound)?;
    let event =
        events::retry_fanout(&*state.store, &*state.intake, state.clock.now(), &org, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        envelope(FanoutRetried {
            id: event.id,
            fanout: event.fanout,
        }),
    ))
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
    fn an_events_data_url_must_be_an_http_or_https_url() {
        for url in [
            "https://console.example.com/b/1",
            "http://ci.example.com/x?y=1",
        ] {
            let read = parse(json!({"type": "buildCreated", "data": {"url": url}}));
            assert!(read.is_ok(), "{url}: {read:?}");
        }
        for (url, message) in [
            (
                json!("javascript:alert(1)"),
                "must be an absolute http or https URL",
            ),
            (
                json!("data:text/html,<b>x</b>"),
                "must be an absolute http or https URL",
            ),
            (
                json!("file:///etc/passwd"),
                "must be an absolute http or https URL",
            ),
            (json!("/relative"), "must be an absolute http or https URL"),
            (json!(7), "must be a string"),
        ] {
            let refused = parse(json!({"type": "buildCreated", "data": {"url": url}}));
            let Err(ApiError::Validation(details)) = refused else {
                panic!("{url}: {refused:?}")
            };
            assert_eq!(details, [FieldError::new("data.url", message)], "{url}");
        }
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
