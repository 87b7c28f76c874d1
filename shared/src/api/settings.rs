//! Environment notifications settings (the settings API): GET for any user, PUT and DELETE for
//! admins. `environmentId` is the organization id.
//!
//! Decisions where the API it follows is silent:
//! - `_links` hrefs are absolute, built from the request's `Host` and `X-Forwarded-Proto`
//!   (`http` when absent, as on the local server).
//! - A PUT may carry the read-only fields a GET returned (`_links`, `updatedAt`, `environment`);
//!   they are ignored, so GET → edit → PUT works. `null` is not a value for any settable field.
//! - `restrictions.smsVoiceQuota` given without `daily` is a 400.
//! - The response of GET, PUT and DELETE is the resource itself, with no envelope (the settings API).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, JsonObject, PathParams};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::settings::{self, SettingsChange};
use crate::model::{DeliveryMode, Language, OrgId, Permission, timestamp};
use crate::model::{Settings, SettingsPatch};

// ---------------------------------------------------------------------------------------------
// The resource

#[derive(Debug, Serialize, ToSchema)]
pub struct Href {
    pub href: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsLinks {
    #[serde(rename = "self")]
    pub self_: Href,
    pub environment: Href,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Quota {
    /// SMS per user per UTC day, 0–50 (default 30).
    #[schema(maximum = 50)]
    pub daily: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Restrictions {
    pub sms_voice_quota: Quota,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserRef {
    pub id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhitelistEntry {
    pub user: UserRef,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentRef {
    pub id: String,
}

/// The settings API's resource, in its field order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsResource {
    #[serde(rename = "_links")]
    pub links: SettingsLinks,
    pub updated_at: String,
    pub restrictions: Restrictions,
    pub whitelist: Vec<WhitelistEntry>,
    pub delivery_mode: DeliveryMode,
    pub environment: EnvironmentRef,
    pub default_language: Language,
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty());
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    match host {
        Some(host) => format!("{proto}://{host}"),
        None => String::new(),
    }
}

fn resource(org: &OrgId, settings: &Settings, headers: &HeaderMap) -> SettingsResource {
    let environment = format!("{}/v1/environments/{org}", base_url(headers));
    SettingsResource {
        links: SettingsLinks {
            self_: Href {
                href: format!("{environment}/notificationsSettings"),
            },
            environment: Href { href: environment },
        },
        updated_at: timestamp::format(settings.updated_at),
        restrictions: Restrictions {
            sms_voice_quota: Quota {
                daily: settings.sms_daily_quota(),
            },
        },
        whitelist: settings
            .whitelist()
            .iter()
            .map(|id| WhitelistEntry {
                user: UserRef { id: *id },
            })
            .collect(),
        delivery_mode: settings.delivery_mode(),
        environment: EnvironmentRef {
            id: org.to_string(),
        },
        default_language: settings.default_language(),
    }
}

/// PUT body: only the fields given change. It may carry the read-only fields a GET returned
/// (`_links`, `updatedAt`, `environment`), which are ignored.
// Read with every part that parses kept (`read`), so that one 400 also names whitelisted users
// that do not exist.
#[derive(Debug, Default, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateSettingsRequest {
    pub restrictions: Option<RestrictionsPatch>,
    /// Users of the organization; at most 50 in a sandbox; repeats collapse.
    // Each id is kept with the index it was first given at, for error paths.
    #[schema(value_type = Option<Vec<WhitelistEntry>>, nullable = false)]
    pub whitelist: Option<Vec<(usize, Uuid)>>,
    /// `ALL` is for production organizations only.
    #[schema(nullable = false)]
    pub delivery_mode: Option<DeliveryMode>,
    #[schema(nullable = false)]
    pub default_language: Option<Language>,
    /// Ignored (GET's read-only field).
    #[serde(rename = "_links")]
    #[schema(value_type = Option<Value>)]
    pub links: (),
    /// Ignored (GET's read-only field).
    #[schema(value_type = Option<Value>)]
    pub updated_at: (),
    /// Ignored (GET's read-only field).
    #[schema(value_type = Option<Value>)]
    pub environment: (),
}

/// `restrictions` of a PUT.
#[derive(Debug, Default, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RestrictionsPatch {
    #[schema(value_type = Option<QuotaPatch>)]
    pub sms_voice_quota: Option<u32>,
}

/// `restrictions.smsVoiceQuota` of a PUT.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaPatch {
    /// SMS per user per UTC day.
    #[schema(maximum = 50)]
    pub daily: u32,
}

impl UpdateSettingsRequest {
    /// Reads the body. A broken field (its problem recorded) reads as absent, and a broken
    /// whitelist entry is left out: the request is complete only while `problems` stays empty.
    pub fn read(body: &Fields<'_>, problems: &mut Problems) -> Self {
        body.deny_unknown(
            &[
                "restrictions",
                "whitelist",
                "deliveryMode",
                "defaultLanguage",
                "_links",
                "updatedAt",
                "environment",
            ],
            problems,
        );
        let mut request = Self::default();
        if let Ok(Some(restrictions)) = body.opt_object("restrictions", problems) {
            restrictions.deny_unknown(&["smsVoiceQuota"], problems);
            let mut patch = RestrictionsPatch::default();
            if let Ok(Some(quota)) = restrictions.opt_object("smsVoiceQuota", problems) {
                quota.deny_unknown(&["daily"], problems);
                let path = quota.path("daily");
                match quota.present("daily") {
                    None => problems.add(path, "is required"),
                    Some(v) => match crate::model::whole_number(v)
                        .filter(|n| *n <= u64::from(Settings::MAX_SMS_DAILY_QUOTA))
                    {
                        Some(n) => patch.sms_voice_quota = u32::try_from(n).ok(),
                        None => problems.add(path, "must be an integer from 0 to 50"),
                    },
                }
            }
            request.restrictions = Some(patch);
        }
        match body.present("whitelist") {
            None => {}
            Some(Value::Array(entries)) => {
                let mut ids: Vec<(usize, Uuid)> = Vec::with_capacity(entries.len());
                let mut seen = std::collections::HashSet::with_capacity(entries.len());
                for (i, entry) in entries.iter().enumerate() {
                    let path = format!("whitelist[{i}].user.id");
                    match entry.get("user").and_then(|u| u.get("id")) {
                        None | Some(Value::Null) => problems.add(path, "is required"),
                        Some(Value::String(s)) => match Uuid::parse_str(s) {
                            Ok(id) => {
                                if seen.insert(id) {
                                    ids.push((i, id));
                                }
                            }
                            Err(_) => problems.add(path, "must be a user id (a UUID)"),
                        },
                        Some(_) => problems.add(path, "must be a user id (a UUID)"),
                    }
                }
                request.whitelist = Some(ids);
            }
            Some(_) => problems.add("whitelist", "must be an array of {\"user\": {\"id\": ...}}"),
        }
        if let Some(v) = body.present("deliveryMode") {
            request.delivery_mode = problems.check(
                "deliveryMode",
                v.as_str()
                    .ok_or("must be one of ALL, WHITELIST")
                    .and_then(DeliveryMode::parse),
            );
        }
        if let Some(v) = body.present("defaultLanguage") {
            request.default_language = problems.check(
                "defaultLanguage",
                v.as_str()
                    .ok_or("must be one of en, de, fr, es")
                    .and_then(Language::parse),
            );
        }
        request
    }

    /// The change it asks for.
    pub fn into_change(self) -> SettingsChange {
        SettingsChange {
            patch: SettingsPatch {
                sms_daily_quota: self.restrictions.as_ref().and_then(|r| r.sms_voice_quota),
                delivery_mode: self.delivery_mode,
                whitelist: self
                    .whitelist
                    .as_ref()
                    .map(|ids| ids.iter().map(|(_, id)| *id).collect()),
                default_language: self.default_language,
            },
            whitelist_at: self.whitelist.unwrap_or_default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentPath {
    environment_id: String,
}

/// Get notifications settings (the settings API)
#[utoipa::path(
    get,
    path = "/v1/environments/{environmentId}/notificationsSettings",
    tag = "Notifications settings",
    params(("environmentId" = String, Path, description = "the organization id")),
    security(("bearer" = [])),
    responses((status = 200, body = SettingsResource), (status = 403, body = crate::api::error::ErrorEnvelope), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<EnvironmentPath>,
    headers: HeaderMap,
) -> ApiResult<Json<SettingsResource>> {
    let org = principal.scope("environmentId", &path.environment_id)?;
    principal.require(Permission::SettingsRead)?;
    let settings = state
        .store
        .get_settings(&org)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(resource(&org, &settings, &headers)))
}

/// Update notifications settings (the settings API)
///
/// Changes only the fields given; returns the whole resource.
#[utoipa::path(
    put,
    path = "/v1/environments/{environmentId}/notificationsSettings",
    tag = "Notifications settings",
    params(("environmentId" = String, Path)),
    request_body = UpdateSettingsRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SettingsResource), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<EnvironmentPath>,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<SettingsResource>> {
    let org = principal.scope("environmentId", &path.environment_id)?;
    principal.require(Permission::SettingsUpdate)?;
    let mut problems = Problems::default();
    let change = UpdateSettingsRequest::read(&Fields::new(&body, ""), &mut problems).into_change();
    if !problems.is_empty() {
        // Refused anyway: one 400 also names what only the organization's data can tell.
        for p in settings::problems(&*state.store, &*state.store, &org, &change).await? {
            problems.add(p.field, p.message);
        }
        return problems.finish(|| None);
    }
    let updated = settings::update(
        &*state.store,
        &*state.store,
        state.clock.now(),
        &org,
        &change,
    )
    .await?;
    Ok(Json(resource(&org, &updated, &headers)))
}

/// Reset notifications settings (the settings API)
///
/// Every field back to its default; returns the reset resource.
#[utoipa::path(
    delete,
    path = "/v1/environments/{environmentId}/notificationsSettings",
    tag = "Notifications settings",
    params(("environmentId" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = SettingsResource), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn reset(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<EnvironmentPath>,
    headers: HeaderMap,
) -> ApiResult<Json<SettingsResource>> {
    let org = principal.scope("environmentId", &path.environment_id)?;
    principal.require(Permission::SettingsUpdate)?;
    let settings = state.store.reset_settings(&org, state.clock.now()).await?;
    Ok(Json(resource(&org, &settings, &headers)))
}
