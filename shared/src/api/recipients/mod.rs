//! Notification recipients (the recipients API): bulk, all-or-nothing, idempotent subscription of
//! up to 1,000 recipients to an `email` or `sms` notification, and (ext) listing and removal.
//!
//! The add route validates and resolves every recipient before writing anything: one bad
//! recipient fails the whole request with a 400 naming every bad index. Reads and writes are
//! batched (one BatchGetItem per 100 recipients, one BatchWriteItem per 25 changed ones).
//! Decisions where the API it follows is silent:
//! - `userId` is a string (a UUID), `userId` and `email` together are refused.
//! - An embed user's phone (for `sms` notifications) is its `userAttributes` entry named `phone`.
//! - The same recipient twice in one request counts once; its last occurrence's properties win.
//! - These responses have no `{"status", "data"}` envelope (the recipients API has none); errors
//!   use the error envelope like every route.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{
    Fields, JsonObject, PageQuery, PathParams, Reported, encode_cursor, notification_id,
};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::recipients;
use crate::model::{Email, NotificationId, NotificationType, OrgId, Permission};
use crate::model::{EmbedProfile, Recipient, RecipientKind, UserAttribute};
use crate::ports::store::PageRequest;

mod input;
pub use input::{AddRecipientsRequest, Wanted};

pub const MAX_RECIPIENTS: usize = 1000;
const TENANT_NAME_MAX: usize = 128;
const EXTERNAL_ID_MAX: usize = 256;
const ATTRIBUTE_MAX: usize = 1024;
/// At most this many `userAttributes`, and as many `groups`, per embed recipient.
const LIST_MAX: usize = 100;
/// A group's name: 1–256 characters, as long as an `externalId`.
const GROUP_MAX: usize = EXTERNAL_ID_MAX;
const SECURITY_CONTEXT_MAX_BYTES: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Views

/// A recipient as the recipients API shows it: every key present, `null` where it does not apply.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientView {
    /// Slack recipients are not supported yet: always `null`.
    pub channel_id: Option<String>,
    /// Always `null` (see `channelId`).
    pub channel_name: Option<String>,
    pub email: Option<String>,
    pub embed_tenant_name: Option<String>,
    pub embed_user_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
}

impl From<&Recipient> for RecipientView {
    fn from(r: &Recipient) -> Self {
        let embed = r.embed.as_ref();
        Self {
            channel_id: None,
            channel_name: None,
            email: Some(r.email.to_string()),
            embed_tenant_name: embed.map(|e| e.tenant_name.clone()),
            embed_user_id: (r.kind == RecipientKind::EmbedUser).then_some(r.id),
            external_id: embed.map(|e| e.external_id.clone()),
            user_id: (r.kind == RecipientKind::User).then_some(r.id),
            username: r.username.clone(),
        }
    }
}

/// The recipients API's response: each recipient of the request in exactly one bucket.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddRecipientsResponse {
    pub created_recipients: Vec<RecipientView>,
    pub unchanged_recipients: Vec<RecipientView>,
    pub updated_recipients: Vec<RecipientView>,
}

/// A listed recipient: its `id` (for DELETE) and `kind`, then the recipients API's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedRecipient {
    pub id: Uuid,
    /// `USER` or `EMBED_USER`.
    pub kind: String,
    #[serde(flatten)]
    pub recipient: RecipientView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientPage {
    pub items: Vec<ListedRecipient>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientDeleted {
    pub id: Uuid,
    pub deleted: bool,
}

// ---------------------------------------------------------------------------------------------
// Handlers

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientsPath {
    deployment_id: String,
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientPath {
    deployment_id: String,
    id: String,
    recipient_id: String,
}

/// The caller's organization (the path calls it `deploymentId`) and the notification, which must
/// exist there and take recipients.
async fn recipients_target(
    state: &AppState,
    principal: &Principal,
    deployment: &str,
    id: &str,
    permission: Permission,
) -> ApiResult<(OrgId, NotificationId, NotificationType)> {
    let org = principal.scope("deploymentId", deployment)?;
    principal.require(permission)?;
    let id = notification_id(id)?;
    let kind = recipients::notification(&*state.store, &org, &id).await?;
    Ok((org, id, kind))
}

/// Add notification recipients (the recipients API)
///
/// Admins only. All or nothing: every recipient is validated and resolved before anything is
/// written. Idempotent: a repeated request lands every recipient in `unchangedRecipients`.
#[utoipa::path(
    post,
    path = "/v1/deployments/{deploymentId}/notifications/{id}/recipients",
    tag = "Notification recipients",
    params(("deploymentId" = String, Path, description = "the organization id"), ("id" = String, Path, description = "an email or sms notification")),
    request_body = AddRecipientsRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AddRecipientsResponse),
        (status = 400, body = crate::api::error::ErrorEnvelope, description = "every bad recipient, by index; nothing written"),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 413, body = crate::api::error::ErrorEnvelope),
        (status = 503, body = crate::api::error::ErrorEnvelope),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<RecipientsPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<AddRecipientsResponse>> {
    let (org, notification, kind) = recipients_target(
        &state,
        &principal,
        &path.deployment_id,
        &path.id,
        Permission::NotificationUpdate,
    )
    .await?;
    let mut problems = Problems::default();
    let wanted = AddRecipientsRequest::read(&Fields::new(&body, ""), &mut problems).recipients;
    // The broken ones are reported now; the well-shaped ones are still resolved, so that one 400
    // names every bad index.
    let resolved = match recipients::resolve(
        &*state.store,
        state.clock.now(),
        &org,
        &notification,
        kind,
        wanted,
    )
    .await
    {
        Ok(resolved) if problems.is_empty() => resolved,
        Ok(_) => return problems.finish(|| None),
        Err(crate::domain::Error::Invalid(unresolved)) => {
            for p in unresolved {
                problems.add(p.field, p.message);
            }
            return problems.finish(|| None);
        }
        Err(e) => return Err(e.into()),
    };
    let done = recipients::subscribe(&*state.store, &org, &notification, resolved).await?;
    let views = |list: Vec<Recipient>| list.iter().map(RecipientView::from).collect();
    Ok(Json(AddRecipientsResponse {
        created_recipients: views(done.created),
        unchanged_recipients: views(done.unchanged),
        updated_recipients: views(done.updated),
    }))
}

/// List a notification's recipients
///
/// In id order, 50 per page unless `limit` says otherwise (1–100); follow `nextCursor` until
/// it is `null`.
#[utoipa::path(
    get,
    path = "/v1/deployments/{deploymentId}/notifications/{id}/recipients",
    tag = "Notification recipients",
    params(
        ("deploymentId" = String, Path), ("id" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 50"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    security(("bearer" = [])),
    responses((status = 200, body = RecipientPage), (status = 403, body = crate::api::error::ErrorEnvelope), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<RecipientsPath>,
    page: PageQuery,
) -> ApiResult<Json<RecipientPage>> {
    let (org, notification, _) = recipients_target(
        &state,
        &principal,
        &path.deployment_id,
        &path.id,
        Permission::NotificationRead,
    )
    .await?;
    let page = state
        .store
        .list_recipients(
            &org,
            &notification,
            &PageRequest {
                limit: page.limit,
                after: page.after,
            },
        )
        .await?;
    Ok(Json(RecipientPage {
        items: page
            .items
            .iter()
            .map(|r| ListedRecipient {
                id: r.id,
                kind: match r.kind {
                    RecipientKind::User => "USER".into(),
                    RecipientKind::EmbedUser => "EMBED_USER".into(),
                },
                recipient: RecipientView::from(r),
            })
            .collect(),
        next_cursor: page.next.as_deref().map(encode_cursor),
    }))
}

/// Remove a recipient
#[utoipa::path(
    delete,
    path = "/v1/deployments/{deploymentId}/notifications/{id}/recipients/{recipientId}",
    tag = "Notification recipients",
    params(("deploymentId" = String, Path), ("id" = String, Path), ("recipientId" = String, Path, description = "a userId or embedUserId")),
    security(("bearer" = [])),
    responses((status = 200, body = RecipientDeleted), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<RecipientPath>,
) -> ApiResult<Json<RecipientDeleted>> {
    let (org, notification, _) = recipients_target(
        &state,
        &principal,
        &path.deployment_id,
        &path.id,
        Permission::NotificationUpdate,
    )
    .await?;
    let id = Uuid::parse_str(&path.recipient_id).map_err(|_| ApiError::NotFound)?;
    if state
        .store
        .delete_recipient(&org, &notification, id)
        .await?
    {
        Ok(Json(RecipientDeleted { id, deleted: true }))
    } else {
        Err(ApiError::NotFound)
    }
}
