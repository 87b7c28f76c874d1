//! The delivery log: `GET …/deliveries` (newest first, filtered by status or event) and `GET
//! …/deliveries/{deliveryId}`, and how a delivery shows in them (also in an event's resource).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{OrgPath, PageQuery, PathParams, encode_cursor};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::model::{Channel, Delivery, DeliveryFilter};
use crate::model::{DeliveryStatus, DispatchMethod, Permission, timestamp};
use crate::ports::store::PageRequest;

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

pub(super) fn page_of(page: crate::ports::store::Page<Delivery>) -> DeliveryPage {
    DeliveryPage {
        items: page.items.iter().map(DeliveryView::from).collect(),
        next_cursor: page.next.as_deref().map(encode_cursor),
    }
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
/// Found by its id alone (the `id` of the delivery log's items). On the embedded backend a
/// delivery shows as soon as it is queued; on AWS once the fan-out has skipped it or the sender
/// has taken it from the queue.
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
