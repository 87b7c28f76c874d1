//! An operator's routes on the delivery log: resend one delivery, recover a notification's failed
//! deliveries (`domain::deliveries`).
//!
//! Decisions where the spec is silent:
//! - Both are admin routes (`base.organization.notification.update`).
//! - A `skipped` delivery is not resent (409, as `queued`, `sending` and `held`): it was not sent
//!   on purpose.
//! - Recover's window is by the deliveries' creation time (their place in the log, an event's
//!   deliveries at the event's time); `until` defaults to now, and neither bound may be in the
//!   future. The request queues up to 1,000 deliveries itself (`queued`); if the window holds
//!   more, `more` is `true` and a background job queues the rest, in chunks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, JsonObject, PathParams, notification_id};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::deliveries::{self, Window};
use crate::model::{DeliveryStatus, Permission, timestamp};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPath {
    organization_id: String,
    delivery_id: String,
}

/// `{"id", "status": "queued"}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Resent {
    pub id: Uuid,
    pub status: DeliveryStatus,
}

/// `{"status": true, "data": {"id", "status"}}`
#[derive(Serialize, ToSchema)]
pub struct ResentResponse {
    pub status: bool,
    pub data: Resent,
}

/// Resend a delivery (admin)
///
/// One more delivery of the same content to the same target, with the same id (a webhook's
/// `webhook-id` stays the same, as Standard Webhooks asks of a resent message). Only a `failed`
/// or `sent` delivery is resent; a `queued`, `sending`, `held` or `skipped` one is 409. 202 once
/// the delivery is durably queued.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/deliveries/{deliveryId}/resend",
    tag = "Events and delivery",
    params(("organizationId" = String, Path), ("deliveryId" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses((status = 202, body = ResentResponse), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope),
        (status = 409, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn resend(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<DeliveryPath>,
) -> ApiResult<(StatusCode, Json<Envelope<Resent>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationUpdate)?;
    let id = Uuid::parse_str(&path.delivery_id).map_err(|_| ApiError::NotFound)?;
    let queued =
        deliveries::resend(&*state.store, &*state.intake, state.clock.now(), &org, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        envelope(Resent {
            id: queued.id,
            status: queued.status,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverPath {
    organization_id: String,
    id: String,
}

/// The window of failed deliveries to queue again.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverRequest {
    /// RFC 3339; at most 14 days back, not in the future, not after `until`.
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
    /// RFC 3339, not in the future; now when absent.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
}

impl RecoverRequest {
    /// Reads the body as of `now`: the window, or every broken field recorded.
    pub fn read(body: &Fields<'_>, now: OffsetDateTime, problems: &mut Problems) -> Option<Window> {
        body.deny_unknown(&["since", "until"], problems);
        let since = body.parsed("since", 64, timestamp::parse, problems);
        let until = body.opt_parsed("until", 64, timestamp::parse, problems);
        let (since, Ok(until)) = (since?, until) else {
            return None;
        };
        match Window::new(since, until, now) {
            Ok(window) => Some(window),
            Err(broken) => {
                for field in broken {
                    problems.add(field.field, field.message);
                }
                None
            }
        }
    }
}

/// `{"queued", "more"}`
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoverQueued {
    /// Failed deliveries this request put back on the queue.
    pub queued: usize,
    /// Whether the window holds more than one request queues (1,000): a background job queues
    /// the rest.
    pub more: bool,
}

/// `{"status": true, "data": {"queued", "more"}}`
#[derive(Serialize, ToSchema)]
pub struct RecoverQueuedResponse {
    pub status: bool,
    pub data: RecoverQueued,
}

/// Recover a notification's failed deliveries (admin)
///
/// Every `failed` delivery of the notification created in the window goes back on the queue,
/// each once however many recovers run at the same time. The request queues up to 1,000 itself;
/// a window that holds more is finished by a background job (`more`).
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/notifications/{id}/recover",
    tag = "Organization notifications",
    params(("organizationId" = String, Path), ("id" = String, Path)),
    request_body = RecoverRequest,
    security(("bearer" = [])),
    responses((status = 202, body = RecoverQueuedResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn recover(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<RecoverPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Envelope<RecoverQueued>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationUpdate)?;
    let mut problems = Problems::default();
    let window = RecoverRequest::read(&Fields::new(&body, ""), state.clock.now(), &mut problems);
    let window = problems.finish(|| window)?;
    let notification = notification_id(&path.id)?;
    let recovered = state
        .recovery()
        .recover(state.clock.now(), &org, &notification, window)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        envelope(RecoverQueued {
            queued: recovered.queued,
            more: recovered.more,
        }),
    ))
}
