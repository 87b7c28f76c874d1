//! An organization's operational webhook: `PUT | GET | DELETE
//! /v1/organizations/{organizationId}/operational-webhook` (admin). Herald posts events about
//! itself there (`delivery.failed`, `notification.disabled`, `delivery.recovered`,
//! `sms.quotaExhausted`), signed per Standard Webhooks with the webhook's secret.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::input::{Fields, FromBody, JsonObject, OrgPath, PathParams};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::operational::{self, Setup};
use crate::model::OperationalWebhook;
use crate::model::net::check_webhook_url_shape;
use crate::model::{OperationalEvent, Permission, timestamp};

const URL_MAX: usize = 500;

/// `{"url", "events"}`: where to post, and which events.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationalWebhookRequest {
    /// An absolute `https` URL (plain `http` only where the deployment allows private targets),
    /// not resolving to a loopback, private, link-local or metadata address.
    #[schema(max_length = 500, pattern = r"^https?://[^\s/?#@]+([/?#]\S*)?$")]
    pub url: String,
    /// The events to post; at least one, each once.
    #[schema(min_items = 1, max_items = 4)]
    pub events: Vec<OperationalEvent>,
}

impl FromBody for OperationalWebhookRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["url", "events"], problems);
        let url = body.str("url", URL_MAX, problems).and_then(|url| {
            problems.check(
                body.path("url"),
                check_webhook_url_shape(url, true).map(|_| url),
            )
        });
        let events = match body.opt_str_array("events", problems) {
            Ok(None) => {
                problems.add("events", "is required");
                None
            }
            Ok(Some(names)) if names.is_empty() => {
                problems.add("events", "must name at least one event");
                None
            }
            Ok(Some(names)) => {
                let mut events = Vec::with_capacity(names.len());
                for (path, name) in names {
                    match OperationalEvent::parse(name) {
                        Ok(event) if !events.contains(&event) => events.push(event),
                        Ok(_) => problems.add(path, format!("`{name}` is named twice")),
                        Err(why) => problems
                            .add(path, format!("`{name}` is not an operational event: {why}")),
                    }
                }
                Some(events)
            }
            Err(_) => None,
        };
        Some(Self {
            url: url?.to_owned(),
            events: events?,
        })
    }
}

/// The operational webhook as the API shows it. Its `secret` only in the answer to the PUT that
/// created it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookView {
    pub url: String,
    pub events: Vec<OperationalEvent>,
    /// The Standard Webhooks signing secret (`whsec_…`): shown once, when the webhook is created.
    /// A later PUT keeps it; DELETE and PUT again for a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[schema(example = "2019-01-28T16:57:42.293Z")]
    pub created_at: String,
    #[schema(example = "2019-01-28T16:57:42.293Z")]
    pub updated_at: String,
}

impl OperationalWebhookView {
    fn of(hook: &OperationalWebhook, secret: Option<String>) -> Self {
        Self {
            url: hook.url.clone(),
            events: hook.events.clone(),
            secret,
            created_at: timestamp::format(hook.created_at),
            updated_at: timestamp::format(hook.updated_at),
        }
    }
}

/// `{"status": true, "data": {...}}`
#[derive(Serialize, ToSchema)]
pub struct OperationalWebhookResponse {
    pub status: bool,
    pub data: OperationalWebhookView,
}

/// `{"deleted": true}`
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationalWebhookDeleted {
    pub deleted: bool,
}

/// `{"status": true, "data": {"deleted": true}}`
#[derive(Serialize, ToSchema)]
pub struct OperationalWebhookDeletedResponse {
    pub status: bool,
    pub data: OperationalWebhookDeleted,
}

/// Set the operational webhook
///
/// Where Herald posts events about itself, signed per Standard Webhooks: `delivery.failed` (once
/// per delivery that ends `failed`), `notification.disabled` (once per disabling),
/// `delivery.recovered` (a target whose deliveries were failing got one through) and
/// `sms.quotaExhausted` (a user's daily SMS quota is spent; once per user and day). Retried on
/// the deployment's schedule, like any delivery. 201 with the signing secret (shown this once)
/// when it is created; 200 without it when it replaces the URL and events (the secret stays).
#[utoipa::path(
    put,
    path = "/v1/organizations/{organizationId}/operational-webhook",
    tag = "Operational webhook",
    params(("organizationId" = String, Path)),
    request_body = OperationalWebhookRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = OperationalWebhookResponse, description = "created: `secret` shown once"),
        (status = 200, body = OperationalWebhookResponse, description = "replaced: the secret kept, not shown"),
        (status = 400, body = crate::api::error::ErrorEnvelope, description = "malformed body (1000), or validation failed (1001): an unknown event, a URL that breaks the SSRF rule"),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 413, body = crate::api::error::ErrorEnvelope),
        (status = 503, body = crate::api::error::ErrorEnvelope),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Envelope<OperationalWebhookView>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::SettingsUpdate)?;
    let request = OperationalWebhookRequest::parse(&body)?;
    let setup = Setup {
        url: request.url,
        events: request.events,
    };
    let (hook, created) = operational::put(
        &*state.store,
        &*state.keys,
        &*state.resolver,
        state.config.allow_private_targets,
        state.clock.now(),
        &org,
        setup,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    // Shown once, when it is made (opened from what was stored).
    let secret = match created {
        true => Some(
            state
                .keys
                .open(&hook.secret)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?,
        ),
        false => None,
    };
    Ok((status, envelope(OperationalWebhookView::of(&hook, secret))))
}

/// Get the operational webhook (its secret is not shown)
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/operational-webhook",
    tag = "Operational webhook",
    params(("organizationId" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OperationalWebhookResponse),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope, description = "none is set"),
        (status = 503, body = crate::api::error::ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
) -> ApiResult<Json<Envelope<OperationalWebhookView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::SettingsUpdate)?;
    let hook = operational::get(&*state.store, &org).await?;
    Ok(envelope(OperationalWebhookView::of(&hook, None)))
}

/// Remove the operational webhook
///
/// Nothing more is posted; operational deliveries still queued are skipped
/// (`operational_webhook_removed`).
#[utoipa::path(
    delete,
    path = "/v1/organizations/{organizationId}/operational-webhook",
    tag = "Operational webhook",
    params(("organizationId" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OperationalWebhookDeletedResponse),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope, description = "none is set"),
        (status = 503, body = crate::api::error::ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
) -> ApiResult<Json<Envelope<OperationalWebhookDeleted>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::SettingsUpdate)?;
    operational::delete(&*state.store, &org).await?;
    Ok(envelope(OperationalWebhookDeleted { deleted: true }))
}
