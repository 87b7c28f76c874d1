//! Organization notifications (SPEC §3, seed 000): create, list, get, patch, delete.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use time::Duration;
use utoipa::ToSchema;

use super::input::{Fields, JsonObject, OrgPath, PageQuery, PathParams, Reported, encode_cursor};
use super::{Envelope, envelope};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::test_notifications;
use crate::error::{ApiError, ApiResult, Problems};
use crate::model::{
    EventSet, EventType, NotificationId, NotificationType, OrgId, Permission, timestamp,
};
use crate::slack::ExchangeError;
use crate::store::{
    Channel, Notification, PageRequest, SlackTarget, StoreError, Target, WebhookTarget,
};

mod input;
use input::{
    apply_events, load, notification_id, read_description, read_events, read_setup, resolve_setup,
};

const DESCRIPTION_MAX: usize = 128;
const SLACK_CODE_MAX: usize = 256;
const URL_MAX: usize = 500;

// ---------------------------------------------------------------------------------------------
// Views

/// A notification as the API shows it (seed 000's `data`). Slack's webhook URL and access token
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
    /// `false` once deliveries found the target gone (HTTP 410, archived Slack channel) until
    /// the notification is updated.
    pub enabled: bool,
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
    /// The Standard Webhooks signing secret (`whsec_...`).
    pub token: String,
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
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
                    token: w.secret.clone(),
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

/// Seed 000's request body (documentation only: the handler reads the body field by field, so
/// that one 400 lists every broken field).
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct CreateNotificationRequest {
    #[schema(example = "webhook")]
    r#type: NotificationType,
    #[schema(max_length = 128)]
    description: Option<String>,
    /// Any of the 15 event keys, each a boolean; absent = `false`.
    events: EventSet,
    /// `{"slack": {"code", "redirectUri"}}` for slack, `{"webhook": {"url"}}` for webhook
    /// (required for those two); none for email and SMS.
    #[schema(value_type = Option<Object>)]
    setup: Option<Value>,
}

/// PATCH body: any of `description`, `events` (only the keys given change), `setup`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct UpdateNotificationRequest {
    /// The notification's own type, if given (it cannot change).
    r#type: Option<NotificationType>,
    #[schema(max_length = 128)]
    description: Option<String>,
    /// Any of the 15 event keys, each a boolean: only the keys given change.
    events: Option<EventSet>,
    /// As at creation, for the notification's type (`type` itself cannot change).
    #[schema(value_type = Option<Object>)]
    setup: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Handlers

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPath {
    organization_id: String,
    id: String,
}

/// Create new notification (seed 000)
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/notifications",
    tag = "Organization notifications",
    params(("organizationId" = String, Path, pattern = r"^(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))$")),
    request_body = CreateNotificationRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = NotificationResponse),
        (status = 400, body = crate::error::ErrorEnvelope, description = "malformed body (1000) or validation failed (1001), Slack's error included"),
        (status = 401, body = crate::error::ErrorEnvelope), (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope), (status = 409, body = crate::error::ErrorEnvelope, description = "the organization has 100 notifications"),
        (status = 413, body = crate::error::ErrorEnvelope), (status = 503, body = crate::error::ErrorEnvelope),
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

    let mut problems = Problems::default();
    let fields = Fields::new(&body, "");
    fields.deny_unknown(&["type", "description", "events", "setup"], &mut problems);
    let kind = fields
        .str("type", 16, &mut problems)
        .and_then(|t| problems.check("type", NotificationType::parse(t)));
    let description = read_description(&fields, &mut problems);
    let events = fields
        .object("events", &mut problems)
        .map(|e| read_events(&e, &mut problems));
    let setup = read_setup(&fields, kind, true, &mut problems);

    let target = match (kind, resolve_setup(&state, setup, None, problems).await?) {
        (_, Some(target)) => target,
        (Some(NotificationType::Email), None) => Target::Email,
        (Some(NotificationType::Sms), None) => Target::Sms,
        _ => return Err(ApiError::Internal("setup resolved to no target".into())),
    };
    let (Ok(description), Some(changes)) = (description, events) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let now = state.clock.now();
    let notification = Notification {
        id: NotificationId::generate(),
        organization: org,
        description,
        target,
        events: apply_events(EventSet::default(), &changes),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .create_notification(&notification, state.config.max_notifications)
        .await?;
    Ok(envelope(NotificationView::from(&notification)))
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
    responses((status = 200, body = NotificationPageResponse), (status = 403, body = crate::error::ErrorEnvelope), (status = 400, body = crate::error::ErrorEnvelope),
        (status = 401, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope))
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
    Ok(envelope(NotificationPage {
        items: page.items.iter().map(NotificationView::from).collect(),
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
    responses((status = 200, body = NotificationResponse), (status = 403, body = crate::error::ErrorEnvelope), (status = 401, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<NotificationPath>,
) -> ApiResult<Json<Envelope<NotificationView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationRead)?;
    let notification = load(&state, &org, &notification_id(&path.id)?).await?;
    Ok(envelope(NotificationView::from(&notification)))
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
    responses((status = 200, body = NotificationResponse), (status = 400, body = crate::error::ErrorEnvelope),
        (status = 401, body = crate::error::ErrorEnvelope), (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope), (status = 503, body = crate::error::ErrorEnvelope))
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
    let mut current = load(&state, &org, &id).await?;

    let mut problems = Problems::default();
    let fields = Fields::new(&body, "");
    fields.deny_unknown(&["description", "events", "setup", "type"], &mut problems);
    if fields.has("type") {
        problems.add(
            "type",
            "cannot be changed; create a new notification instead",
        );
    }
    let description = if fields.has("description") {
        Some(read_description(&fields, &mut problems))
    } else {
        None
    };
    let events_patch = fields
        .opt_object("events", &mut problems)
        .ok()
        .flatten()
        .map(|e| read_events(&e, &mut problems));
    let setup = read_setup(&fields, Some(current.target.kind()), false, &mut problems);
    let existing_secret = match &current.target {
        Target::Webhook(w) => Some(w.secret.clone()),
        _ => None,
    };
    let new_target = resolve_setup(&state, setup, existing_secret.as_deref(), problems).await?;

    // Optimistic concurrency: apply the patch to the latest version and write it only if nobody
    // changed it meanwhile (the Slack code, if any, was spent once above).
    for _ in 0..3 {
        let mut next = current.clone();
        if let Some(Ok(d)) = &description {
            next.description.clone_from(d);
        }
        if let Some(changes) = &events_patch {
            next.events = apply_events(current.events, changes);
        }
        if let Some(t) = &new_target {
            next.target = t.clone();
        }
        next.enabled = true;
        let now = state.clock.now();
        next.updated_at = if now > current.updated_at {
            now
        } else {
            current.updated_at + Duration::milliseconds(1)
        };
        match state
            .store
            .update_notification(&next, current.updated_at)
            .await
        {
            Ok(()) => return Ok(envelope(NotificationView::from(&next))),
            Err(StoreError::Stale) => current = load(&state, &org, &id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Stale.into())
}

/// Delete a notification, and what belongs to it.
#[utoipa::path(
    delete,
    path = "/v1/organizations/{organizationId}/notifications/{id}",
    tag = "Organization notifications",
    params(("organizationId" = String, Path), ("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = DeletedResponse), (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope))
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
    params(("organizationId" = String, Path), ("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 202, body = TestQueuedResponse), (status = 400, body = crate::error::ErrorEnvelope),
        (status = 401, body = crate::error::ErrorEnvelope), (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope), (status = 503, body = crate::error::ErrorEnvelope))
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<NotificationPath>,
) -> ApiResult<(axum::http::StatusCode, Json<Envelope<TestQueued>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::NotificationUpdate)?;
    let notification = load(&state, &org, &notification_id(&path.id)?).await?;
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
            to: user.phone.clone().ok_or_else(|| {
                ApiError::field("phone", "the caller has no phone number to test sms with")
            })?,
        },
    };
    let delivery = test_notifications::send(&state, &user, &settings, channel).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        envelope(TestQueued {
            delivery_id: delivery.id,
        }),
    ))
}
