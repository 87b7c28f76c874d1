//! The notifications admin API under `/api/v2` (Coder's): dispatch methods, the
//! notifier pause, the system templates, the test notification, and user preferences. The
//! organization is the caller's (from the token); bodies are exactly the API's, no envelope.
//!
//! Decisions where the API it follows is silent:
//! - "Admin" is a permission: pausing and sending a test need `base.organization.settings.update`;
//!   reading or changing *another* user's preferences needs `base.organization.user.create`
//!   (both held only by admins, and by a narrowed token only if it lists them). Reading the
//!   settings and the dispatch methods needs `base.organization.settings.read`; the templates,
//!   any valid token; one's own preferences, any valid token of one's own.
//! - The default dispatch method is `email`: no field of the API changes it yet.
//! - The templates list shows each template's English source (`en`); deliveries render the
//!   organization's `defaultLanguage`. Listing them reads nothing but the caller's token.
//! - `POST /notifications/test` answers 200 with an empty body once the delivery is durably on
//!   the queue (its message is its record until the sender claims it); if the queue refuses it,
//!   nothing was written and the answer is 503.
//! - `{user}` that names no user of the organization is 404 for everyone (members may list users
//!   anyway); only then is a member asking for someone else's preferences refused (403).
//! - Preferences that a PUT does not change keep their `updated_at`.
//! - While paused, the sender holds what it meets (`held`); resuming queues a job that puts every
//!   held delivery back on the queue, chunk by chunk.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, FromBody, JsonObject, PathParams};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::{test_notifications, users};
use crate::model::{Channel, Preference};
use crate::model::{DispatchMethod, Permission, timestamp};
use crate::ports::queue::FanoutMessage;
use crate::templates;

/// The organization's default method when none is set.
const DEFAULT_METHOD: DispatchMethod = DispatchMethod::Email;

// ---------------------------------------------------------------------------------------------
// Dispatch methods

/// The admin API's `codersdk.NotificationMethodsResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DispatchMethods {
    /// The methods this deployment can deliver with.
    pub available: Vec<DispatchMethod>,
    /// The organization's default method.
    pub default: DispatchMethod,
}

/// Get notification dispatch methods
#[utoipa::path(
    get,
    path = "/api/v2/notifications/dispatch-methods",
    tag = "Notifications admin",
    security(("bearer" = []), ("coder" = [])),
    responses((status = 200, body = Vec<DispatchMethods>, description = "an array holding one object, as the admin API documents"),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope))
)]
pub async fn dispatch_methods(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<[DispatchMethods; 1]>> {
    principal.require(Permission::SettingsRead)?;
    Ok(Json([DispatchMethods {
        available: state.config.dispatch_methods(),
        default: DEFAULT_METHOD,
    }]))
}

// ---------------------------------------------------------------------------------------------
// The notifier pause

/// The admin API's `codersdk.NotificationsSettings`: the answer of GET and PUT, and PUT's body.
#[derive(Debug, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifierSettings {
    pub notifier_paused: bool,
}

impl FromBody for NotifierSettings {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["notifier_paused"], problems);
        let paused = match body.present("notifier_paused") {
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                problems.add("notifier_paused", "must be a boolean");
                None
            }
            None => {
                problems.add("notifier_paused", "is required");
                None
            }
        };
        Some(Self {
            notifier_paused: paused?,
        })
    }
}

/// Get notifications settings
#[utoipa::path(
    get,
    path = "/api/v2/notifications/settings",
    tag = "Notifications admin",
    security(("bearer" = []), ("coder" = [])),
    responses((status = 200, body = NotifierSettings), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope))
)]
pub async fn get_settings(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<NotifierSettings>> {
    principal.require(Permission::SettingsRead)?;
    let settings = state
        .store
        .get_settings(&principal.org)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(NotifierSettings {
        notifier_paused: settings.notifier_paused,
    }))
}

/// Update notifications settings (admin): 200 with the new settings, 304 with no body when
/// nothing changed.
#[utoipa::path(
    put,
    path = "/api/v2/notifications/settings",
    tag = "Notifications admin",
    request_body = NotifierSettings,
    security(("bearer" = []), ("coder" = [])),
    responses((status = 200, body = NotifierSettings), (status = 304, description = "Not Modified: nothing changed"),
        (status = 400, body = crate::api::error::ErrorEnvelope), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope))
)]
pub async fn update_settings(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    principal.require(Permission::SettingsUpdate)?;
    let paused = NotifierSettings::parse(&body)?.notifier_paused;
    let org = &principal.org;
    if !state.store.set_notifier_paused(org, paused).await? {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    if !paused {
        // Resumed: the held deliveries go back on the queue (the fan-out function's resume
        // job). If that job cannot be queued, the pause is put back and the answer is 503.
        let job = FanoutMessage::Resume {
            organization: org.clone(),
        };
        if let Err(e) = state.fanout.send(&[job]).await {
            if let Err(undo) = state.store.set_notifier_paused(org, true).await {
                tracing::error!(error = %undo, "resumed without its resume job");
            }
            return Err(e.into());
        }
    }
    Ok(Json(NotifierSettings {
        notifier_paused: paused,
    })
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// System templates

/// The admin API's `codersdk.NotificationTemplate`, in its field order.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// A JSON string: a list of `{label, url}`.
    pub actions: String,
    pub body_template: String,
    pub enabled_by_default: bool,
    pub group: &'static str,
    pub id: Uuid,
    /// Always `system`.
    pub kind: &'static str,
    /// Empty: the organization's default method.
    pub method: &'static str,
    pub name: String,
    pub title_template: String,
}

/// Get system notification templates
#[utoipa::path(
    get,
    path = "/api/v2/notifications/templates/system",
    tag = "Notifications admin",
    security(("bearer" = []), ("coder" = [])),
    responses((status = 200, body = Vec<TemplateView>), (status = 401, body = crate::api::error::ErrorEnvelope))
)]
pub async fn system_templates(_principal: Principal) -> Response {
    super::static_json(SYSTEM_TEMPLATES_JSON.as_slice())
}

/// The list is the same for every caller and every request: serialized once per process.
static SYSTEM_TEMPLATES_JSON: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let language = crate::model::Language::En;
    let views: Vec<TemplateView> = templates::all()
        .iter()
        .map(|t| TemplateView {
            actions: t.actions_json(language),
            body_template: t.body_template(language).to_owned(),
            enabled_by_default: t.enabled_by_default,
            group: t.group,
            id: t.id,
            kind: "system",
            method: "",
            name: t.name.clone(),
            title_template: t.title_template(language).to_owned(),
        })
        .collect();
    serde_json::to_vec(&views).unwrap_or_else(|_| b"[]".to_vec())
});

// ---------------------------------------------------------------------------------------------
// Test notification

/// Send a test notification (admin): a "Test Notification" to the caller by the default method.
#[utoipa::path(
    post,
    path = "/api/v2/notifications/test",
    tag = "Notifications admin",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[\\x20-\\x7E]+$",
        description = "A repeat with the same key within 24 hours queues nothing more.")),
    security(("bearer" = []), ("coder" = [])),
    responses((status = 200, description = "the test notification is durably queued"),
        (status = 400, body = crate::api::error::ErrorEnvelope), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 503, body = crate::api::error::ErrorEnvelope))
)]
pub async fn send_test(
    State(state): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
) -> ApiResult<StatusCode> {
    principal.require(Permission::SettingsUpdate)?;
    let key = super::input::idempotency_key_only(&headers)?;
    let org = &principal.org;
    let (user, settings) = tokio::try_join!(
        state.store.get_user(org, principal.user_id),
        state.store.get_settings(org)
    )?;
    let (user, settings) = user.zip(settings).ok_or(ApiError::NotFound)?;
    let method = DEFAULT_METHOD;
    let channel = match method {
        DispatchMethod::Email => Channel::Email {
            to: user.email.clone(),
        },
        DispatchMethod::Sms => Channel::Sms {
            to: Some(user.phone.clone().ok_or_else(|| {
                ApiError::field("method", "the caller has no phone number for sms")
            })?),
        },
        DispatchMethod::Slack | DispatchMethod::Webhook => {
            return Err(ApiError::field(
                "method",
                "a test notification goes to a person: email or sms",
            ));
        }
    };
    if !state.config.dispatch_methods().contains(&method) {
        return Err(ApiError::field(
            "method",
            format!("{method} delivery is not configured on this deployment"),
        ));
    }
    let key = key.map(|k| format!("POST /api/v2/notifications/test {k}"));
    test_notifications::send_once(
        &*state.intake,
        &*state.queue,
        state.clock.now(),
        &user,
        &settings,
        channel,
        key.as_deref(),
    )
    .await?;
    Ok(StatusCode::OK)
}

// ---------------------------------------------------------------------------------------------
// User preferences

#[derive(Debug, serde::Deserialize)]
pub struct UserPath {
    user: String,
}

/// The admin API's `codersdk.NotificationPreference`, in its field order.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreferenceView {
    pub disabled: bool,
    /// The template's id.
    pub id: Uuid,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<Preference> for PreferenceView {
    fn from(p: Preference) -> Self {
        Self {
            disabled: p.disabled,
            id: p.template,
            updated_at: p.updated_at,
        }
    }
}

/// The admin API's `codersdk.UpdateUserNotificationPreferences`.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePreferencesRequest {
    /// System template id → disabled; the templates not named keep their preference.
    #[schema(value_type = TemplateDisabledMap)]
    pub template_disabled_map: Vec<(Uuid, bool)>,
}

impl FromBody for UpdatePreferencesRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["template_disabled_map"], problems);
        let mut changes = Vec::new();
        match body.present("template_disabled_map") {
            None => problems.add("template_disabled_map", "is required"),
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let field = format!("template_disabled_map.{key}");
                    match Uuid::parse_str(key) {
                        Err(_) => problems.add(field.clone(), "must be a template id (a UUID)"),
                        Ok(id) if templates::by_id(id).is_none() => {
                            problems.add(field.clone(), "is not a system template")
                        }
                        Ok(id) => {
                            if let Value::Bool(disabled) = value {
                                changes.push((id, *disabled));
                            }
                        }
                    }
                    if !value.is_boolean() {
                        problems.add(field, "must be a boolean");
                    }
                }
            }
            Some(_) => problems.add("template_disabled_map", "must be an object"),
        }
        Some(Self {
            template_disabled_map: changes,
        })
    }
}

/// In the OpenAPI document, `template_disabled_map`: the system templates' ids as keys, each a
/// boolean, no other key.
pub struct TemplateDisabledMap;

impl utoipa::PartialSchema for TemplateDisabledMap {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        templates::all()
            .iter()
            .fold(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
                |object, template| {
                    object.property(
                        template.id.to_string(),
                        ObjectBuilder::new().schema_type(Type::Boolean),
                    )
                },
            )
            .into()
    }
}

impl utoipa::ToSchema for TemplateDisabledMap {}

/// The user `{user}` names, if the caller may see their preferences.
async fn preferences_owner(state: &AppState, principal: &Principal, user: &str) -> ApiResult<Uuid> {
    let found = users::find(&*state.store, &principal.org, principal.user_id, user)
        .await?
        .ok_or(ApiError::NotFound)?;
    if found.id != principal.user_id {
        principal.require(Permission::UserCreate)?;
    }
    Ok(found.id)
}

fn views(preferences: Vec<Preference>) -> Json<Vec<PreferenceView>> {
    Json(preferences.into_iter().map(PreferenceView::from).collect())
}

/// Get user notification preferences
#[utoipa::path(
    get,
    path = "/api/v2/users/{user}/notifications/preferences",
    tag = "Notifications admin",
    params(("user" = String, Path, description = "User ID, name, or me")),
    security(("bearer" = []), ("coder" = [])),
    responses((status = 200, body = Vec<PreferenceView>), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn get_preferences(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<UserPath>,
) -> ApiResult<Json<Vec<PreferenceView>>> {
    let user = preferences_owner(&state, &principal, &path.user).await?;
    Ok(views(
        state.store.get_preferences(&principal.org, user).await?,
    ))
}

/// Update user notification preferences: merges `template_disabled_map` into them.
#[utoipa::path(
    put,
    path = "/api/v2/users/{user}/notifications/preferences",
    tag = "Notifications admin",
    params(("user" = String, Path, description = "User ID, name, or me")),
    request_body = UpdatePreferencesRequest,
    security(("bearer" = []), ("coder" = [])),
    responses((status = 200, body = Vec<PreferenceView>), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn update_preferences(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<UserPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Vec<PreferenceView>>> {
    let user = preferences_owner(&state, &principal, &path.user).await?;
    let changes = UpdatePreferencesRequest::parse(&body)?.template_disabled_map;
    Ok(views(
        state
            .store
            .set_preferences(&principal.org, user, &changes, state.clock.now())
            .await?,
    ))
}
