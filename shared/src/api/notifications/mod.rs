//! Organization notifications (the notifications API): create, list, get, patch, delete.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::input::{
    Fields, FromBody, JsonObject, OrgPath, PageQuery, PathParams, Reported, encode_cursor,
};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::{notifications, test_notifications};
use crate::model::{Channel, Notification, Target};
use crate::model::{EventSet, EventType, NotificationType, Permission, timestamp};
use crate::ports::keys::{KeyError, Keys};
use crate::ports::store::PageRequest;

mod input;
use super::input::notification_id;
pub use input::{
    CreateNotificationRequest, SetupRequest, SlackSetup, UpdateNotificationRequest, WebhookSetup,
};

// ---------------------------------------------------------------------------------------------
// Views

/// A notification as the API shows it (the notifications API's `data`). Slack's webhook URL and access token
/// are never shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// 24 hex characters.
    #[schema(pattern = "^[a-fA-F0-9]{24}$")]
    pub id: String,
    pub organization: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 128)]
    pub description: Option<String>,
    #[serde(rename = "type")]
    #[schema(example = "webhook")]
    pub kind: NotificationType,
    pub config: ConfigView,
    /// All 15 event keys, each `true` when subscribed.
    pub events: EventSet,
    /// `false` once deliveries found the target gone (HTTP 410, archived Slack channel), or
    /// once its deliveries all failed for `HERALD_DISABLE_AFTER` (at least 10 of them), until
    /// the notification is updated.
    pub enabled: bool,
    /// Why it is disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Deliveries per second to this target, when limited (slack and webhook only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub rate_limit: Option<crate::model::rate::RateLimit>,
    #[schema(example = "2019-01-28T16:57:42.293Z")]
    pub updated_at: String,
    #[schema(example = "2019-01-28T16:57:42.293Z")]
    pub created_at: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ConfigView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackConfigView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfigView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlackConfigView {
    pub team: String,
    pub channel: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookConfigView {
    pub url: String,
    /// The Standard Webhooks signing secret (`whsec_...`) for a caller who may update
    /// notifications (`base.organization.notification.update`); [`MASKED`] for anyone else, who
    /// must not be able to sign webhooks as Herald.
    pub token: String,
}

/// What a caller who may not update notifications reads instead of a webhook's signing secret.
pub const MASKED: &str = "********";

/// Whether `principal` reads notifications' signing secrets: only with the permission to update
/// them (a member reads notifications, and must not be able to sign webhooks as Herald).
pub fn reveals_secrets(principal: &Principal) -> bool {
    principal.can(Permission::NotificationUpdate)
}

impl NotificationView {
    /// `n` as the API shows it: its signing secret (opened) only when `reveal`
    /// ([`reveals_secrets`]). A secret that cannot be opened (tampered with in the store) reads
    /// masked, logged without its value: one broken record does not break a list.
    pub async fn shown(keys: &dyn Keys, n: &Notification, reveal: bool) -> ApiResult<Self> {
        let token = match &n.target {
            Target::Webhook(w) if reveal => match keys.open(&w.secret).await {
                Ok(token) => token,
                Err(KeyError::Unavailable(why)) => return Err(ApiError::Unavailable(why)),
                Err(KeyError::Unreadable(why)) => {
                    tracing::error!(notification = %n.id, error = %why, "a signing secret cannot be opened");
                    MASKED.to_owned()
                }
            },
            _ => MASKED.to_owned(),
        };
        Ok(Self::of(n, token))
    }

    /// `n` as the API shows it, a webhook's token shown as `token`.
    fn of(n: &Notification, token: String) -> Self {
        let config = match &n.target {
            Target::Slack(s) => ConfigView {
                slack: Some(SlackConfigView {
                    team: s.team.clone(),
                    channel: s.channel.clone(),
                }),
                webhook: None,
            },
            Target::Webhook(w) => ConfigView {
                slack: None,
                webhook: Some(WebhookConfigView {
                    url: w.url.clone(),
                    token,
                }),
            },
            Target::Email | Target::Sms => ConfigView::default(),
        };
        Self {
            id: n.id.to_string(),
            organization: n.organization.to_string(),
            description: n.description.clone(),
            kind: n.target.kind(),
            config,
            events: n.events,
            enabled: n.enabled,
            disabled_reason: n.disabled_reason.clone().filter(|_| !n.enabled),
            rate_limit: n.rate_limit,
            updated_at: timestamp::format(n.updated_at),
            created_at: timestamp::format(n.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

/// `{"status": true, "data": <notification>}`
#[derive(Serialize, ToSchema)]
pub struct NotificationResponse {
    pub status: bool,
    pub data: NotificationView,
}

/// `{"status": true, "data": {"items": [...], "nextCursor": ...}}`
#[derive(Serialize, ToSchema)]
pub struct NotificationPageResponse {
    pub status: bool,
    pub data: NotificationPage,
}

/// `{"status": true, "data": {"id": ..., "deleted": true}}`
#[derive(Serialize, ToSchema)]
pub struct DeletedResponse {
    pub status: bool,
    pub data: Deleted,
}

// ---------------------------------------------------------------------------------------------
// Handlers

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPath {
    organization_id: String,
    id: String,
}

/// Create new notification (the notifications API)
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/notifications",
    tag = "Organization notifications",
    params(("organizationId" = String, Path, pattern = r"^(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))$")),
    request_body = CreateNotificationRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = NotificationResponse),
        (status = 400, body = crate::api::error::ErrorEnvelope, description = "malformed body (1000) or validation failed (1001), Slack's error included"),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 409, body = crate::api::error::ErrorEnvelope, description = "the organization has 100 notifications"),
        (status = 413, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Envelope<NotificationView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationCreate)?;
    let request = CreateNotificationRequest::parse(&body)?;

    let notification = notifications::create(
        &*state.store,
        &state.targets(),
        state.clock.now(),
        state.config.max_notifications,
        org,
        request.into_new(),
    )
    .await?;
    Ok(envelope(
        NotificationView::shown(&*state.keys, &notification, reveals_secrets(&principal)).await?,
    ))
}

/// List notifications
///
/// In creation order (by id), 50 per page unless `limit` says otherwise (1–100); follow
/// `nextCursor` until it is `null`.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/notifications",
    tag = "Organization notifications",
    params(
        ("organizationId" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 50"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    security(("bearer" = [])),
    responses((status = 200, body = NotificationPageResponse), (status = 403, body = crate::api::error::ErrorEnvelope), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    page: PageQuery,
) -> ApiResult<Json<Envelope<NotificationPage>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationRead)?;
    let page = state
        .store
        .list_notifications(
            &org,
            &PageRequest {
                limit: page.limit,
                after: page.after,
            },
        )
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for n in &page.items {
        items.push(NotificationView::shown(&*state.keys, n, reveals_secrets(&principal)).await?);
    }
    Ok(envelope(NotificationPage {
        items,
        next_cursor: page.next.as_deref().map(encode_cursor),
    }))
}

/// Get a notification
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/notifications/{id}",
    tag = "Organization notifications",
    params(("organizationId" = String, Path), ("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = NotificationResponse), (status = 403, body = crate::api::error::ErrorEnvelope), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<NotificationPath>,
) -> ApiResult<Json<Envelope<NotificationView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationRead)?;
    let notification =
        notifications::load(&*state.store, &org, &notification_id(&path.id)?).await?;
    Ok(envelope(
        NotificationView::shown(&*state.keys, &notification, reveals_secrets(&principal)).await?,
    ))
}

/// Update a notification: `description`, `events` (only the keys given change), `setup`
/// (for its own type: a new Slack code, or a new webhook URL, keeping the signing secret). The
/// type cannot change. Any update re-enables a disabled notification.
#[utoipa::path(
    patch,
    path = "/v1/organizations/{organizationId}/notifications/{id}",
    tag = "Organization notifications",
    params(("organizationId" = String, Path), ("id" = String, Path)),
    request_body = UpdateNotificationRequest,
    security(("bearer" = [])),
    responses((status = 200, body = NotificationResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<NotificationPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Envelope<NotificationView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationUpdate)?;
    let id = notification_id(&path.id)?;
    let request = UpdateNotificationRequest::parse(&body)?;
    let updated = notifications::update(
        &*state.store,
        &state.targets(),
        state.clock.now(),
        &org,
        &id,
        request.into_patch(),
    )
    .await?;
    Ok(envelope(
        NotificationView::shown(&*state.keys, &updated, reveals_secrets(&principal)).await?,
    ))
}

/// Delete a notification, and what belongs to it.
#[utoipa::path(
    delete,
    path = "/v1/organizations/{organizationId}/notifications/{id}",
    tag = "Organization notifications",
    params(("organizationId" = String, Path), ("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = DeletedResponse), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<NotificationPath>,
) -> ApiResult<Json<Envelope<Deleted>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationDelete)?;
    let id = notification_id(&path.id)?;
    if state.store.delete_notification(&org, &id).await? {
        Ok(envelope(Deleted {
            id: id.to_string(),
            deleted: true,
        }))
    } else {
        Err(ApiError::NotFound)
    }
}

/// `{"token", "previousValidUntil"}`: the new signing secret, shown this once, and until when the
/// one it replaced still signs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    /// `whsec_` + base64 of 32 random bytes.
    pub token: String,
    #[serde(with = "crate::model::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub previous_valid_until: time::OffsetDateTime,
}

/// `{"status": true, "data": {"token", "previousValidUntil"}}`
#[derive(Serialize, ToSchema)]
pub struct RotatedSecretResponse {
    pub status: bool,
    pub data: RotatedSecret,
}

/// Rotate a webhook notification's signing secret: a new secret signs every delivery from now
/// on, and for 24 hours the replaced one signs beside it (`webhook-signature: v1,<new> v1,<old>`),
/// so receivers can switch without dropping a message. A second rotation within those hours
/// drops the oldest (at most two secrets sign). The replaced secret is never shown again.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/notifications/{id}/secret/rotate",
    tag = "Organization notifications",
    params(("organizationId" = String, Path), ("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = RotatedSecretResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<NotificationPath>,
) -> ApiResult<Json<Envelope<RotatedSecret>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationUpdate)?;
    let (token, previous_valid_until) = notifications::rotate_secret(
        &*state.store,
        &*state.keys,
        state.clock.now(),
        &org,
        &notification_id(&path.id)?,
    )
    .await?;
    Ok(envelope(RotatedSecret {
        token,
        previous_valid_until,
    }))
}

/// `{"deliveryId"}`: the test delivery, to follow with `GET .../deliveries`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestQueued {
    pub delivery_id: uuid::Uuid,
}

/// `{"status": true, "data": {"deliveryId"}}`
#[derive(Serialize, ToSchema)]
pub struct TestQueuedResponse {
    pub status: bool,
    pub data: TestQueued,
}

/// Send a test notification through this notification : a "Test Notification" to
/// its Slack channel or webhook; for an email or SMS notification, to the caller by that channel
/// (its recipients are not all messaged). 202 once durably queued.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/notifications/{id}/test",
    tag = "Organization notifications",
    params(("organizationId" = String, Path), ("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[\\x20-\\x7E]+$",
            description = "A repeat with the same key within 24 hours answers the first test's delivery and queues nothing.")),
    security(("bearer" = [])),
    responses((status = 202, body = TestQueuedResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<NotificationPath>,
    headers: axum::http::HeaderMap,
) -> ApiResult<(axum::http::StatusCode, Json<Envelope<TestQueued>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationUpdate)?;
    let key = super::input::idempotency_key_only(&headers)?;
    let notification =
        notifications::load(&*state.store, &org, &notification_id(&path.id)?).await?;
    let (user, settings) = tokio::try_join!(
        state.store.get_user(&org, principal.user_id),
        state.store.get_settings(&org)
    )?;
    let (user, settings) = user.zip(settings).ok_or(ApiError::NotFound)?;
    let channel = match &notification.target {
        Target::Slack(_) => Channel::Slack {
            notification: notification.id.clone(),
        },
        Target::Webhook(_) => Channel::Webhook {
            notification: notification.id.clone(),
        },
        Target::Email => Channel::Email {
            to: user.email.clone(),
        },
        Target::Sms => Channel::Sms {
            to: Some(user.phone.clone().ok_or_else(|| {
                ApiError::field("phone", "the caller has no phone number to test sms with")
            })?),
        },
    };
    // A key names the first test of this notification: a repeat answers its delivery.
    let key = key.map(|k| format!("POST /notifications/{}/test {k}", notification.id));
    let delivery_id = test_notifications::send_once(
        &*state.intake,
        &*state.queue,
        state.clock.now(),
        &user,
        &settings,
        channel,
        key.as_deref(),
    )
    .await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        envelope(TestQueued { delivery_id }),
    ))
}
