//! Organizations and users (Herald's own): what makes the rest usable (tokens: `tokens.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{
    Fields, FromBody, JsonObject, OrgPath, PageQuery, PathParams, Reported, encode_cursor,
};
use super::{Envelope, envelope};
use crate::api::auth::{Operator, Principal};
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::organizations::{self, NewOrganization};
use crate::domain::users;
use crate::model::{
    Email, Limits, OrgId, OrgKind, Permission, Phone, Plan, Role, Username, timestamp,
};
use crate::model::{Organization, User};
use crate::ports::store::PageRequest;

const NAME_MAX: usize = 128;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    #[schema(example = "PRODUCTION")]
    pub kind: OrgKind,
    #[schema(example = "TRIAL")]
    pub plan: Plan,
    /// The limits in force: the operator's, else the plan's.
    pub limits: LimitsView,
    pub created_at: String,
}

/// An organization's limits (defaults by plan: TRIAL 10 / 1,000 / 100, PAID 1,000 / 1,000,000 /
/// 100,000).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsView {
    /// Events accepted per second; past it, 429 (code 4029, `Retry-After`) and nothing recorded.
    pub events_per_second: u32,
    /// Emails sent per UTC day.
    pub emails_per_day: u32,
    /// SMS sent per UTC day.
    pub sms_per_day: u32,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name.clone(),
            kind: o.kind,
            plan: o.plan,
            limits: {
                let l = o.limits();
                LimitsView {
                    events_per_second: l.events_per_second,
                    emails_per_day: l.emails_per_day,
                    sms_per_day: l.sms_per_day,
                }
            },
            created_at: timestamp::format(o.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub organization: String,
    pub username: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            organization: u.organization.to_string(),
            username: u.username.to_string(),
            email: u.email.to_string(),
            phone: u.phone.as_ref().map(ToString::to_string),
            roles: u.roles.clone(),
            created_at: timestamp::format(u.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrganization {
    pub organization: OrganizationView,
    pub admin: UserView,
    /// The admin's token. Shown once.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub next_cursor: Option<String>,
}

/// `{"status": true, "data": {"organization", "admin", "token"}}`
#[derive(Serialize, ToSchema)]
pub struct CreatedOrganizationResponse {
    pub status: bool,
    pub data: CreatedOrganization,
}

/// `{"status": true, "data": <organization>}`
#[derive(Serialize, ToSchema)]
pub struct OrganizationResponse {
    pub status: bool,
    pub data: OrganizationView,
}

/// `{"status": true, "data": <user>}`
#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub status: bool,
    pub data: UserView,
}

/// `{"status": true, "data": {"items", "nextCursor"}}`
#[derive(Serialize, ToSchema)]
pub struct UserPageResponse {
    pub status: bool,
    pub data: UserPage,
}

/// `POST /v1/organizations` body.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// 24 hex characters are generated when absent.
    #[schema(value_type = Option<String>, pattern = r"^(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,128}))$")]
    pub id: OrgId,
    /// Not blank: a character that is not white space (JSON Schema's `\s`, and U+0085).
    #[schema(min_length = 1, max_length = 128, pattern = r"[^\s\u0085]")]
    pub name: String,
    pub kind: OrgKind,
    pub plan: Plan,
    /// The first admin user.
    #[schema(value_type = Option<AdminRequest>)]
    pub admin: AdminRequest,
}

impl FromBody for CreateOrganizationRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["id", "name", "kind", "plan", "admin"], problems);
        let id = body
            .opt_parsed("id", OrgId::MAX_LEN + 1, OrgId::parse, problems)
            .map(|id| id.unwrap_or_else(OrgId::generate));
        let name = body.str("name", NAME_MAX, problems).and_then(|n| {
            problems.check(
                "name",
                // What the schema's pattern says: Rust's white space is JSON Schema's
                // (ECMAScript's `\s`) but for U+0085, which it adds, and U+FEFF, which it lacks.
                n.chars()
                    .any(|c| !c.is_whitespace() && c != '\u{feff}')
                    .then(|| n.to_owned())
                    .ok_or("must not be empty"),
            )
        });
        let kind = body.parsed("kind", 16, OrgKind::parse, problems);
        let plan = body.parsed("plan", 16, Plan::parse, problems);
        let admin = match body.opt_object("admin", problems) {
            Ok(Some(admin)) => AdminRequest::read(&admin, problems),
            Ok(None) => Some(AdminRequest::default()),
            Err(Reported) => None,
        };
        Some(Self {
            id: id.ok()?,
            name: name?,
            kind: kind?,
            plan: plan?,
            admin: admin?,
        })
    }
}

/// The first admin of a new organization: username `admin` and email `admin@<id>.invalid` unless
/// given (`admin@organization.invalid` where the id cannot be a domain label: it starts or ends
/// with `-`, or is longer than 63 characters).
#[derive(Debug, Default, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminRequest {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
}

impl FromBody for AdminRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["username", "email", "phone"], problems);
        let username = body.opt_parsed("username", 64, Username::parse, problems);
        let email = body.opt_parsed("email", 254, Email::parse, problems);
        let phone = body.opt_parsed("phone", 16, Phone::parse, problems);
        Some(Self {
            username: username.ok()?,
            email: email.ok()?,
            phone: phone.ok()?,
        })
    }
}

/// `POST .../users` body.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: Username,
    pub email: Email,
    pub phone: Option<Phone>,
    /// Default `["member"]`; repeats collapse.
    #[schema(value_type = Option<Vec<Role>>, min_items = 1)]
    pub roles: Vec<Role>,
}

impl FromBody for CreateUserRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["username", "email", "phone", "roles"], problems);
        let username = body.parsed("username", 64, Username::parse, problems);
        let email = body.parsed("email", 254, Email::parse, problems);
        let phone = body.opt_parsed("phone", 16, Phone::parse, problems);
        let roles = match read_roles(body, problems) {
            Ok(roles) => Some(roles.unwrap_or_else(|| vec![Role::Member])),
            Err(Reported) => None,
        };
        Some(Self {
            username: username?,
            email: email?,
            phone: phone.ok()?,
            roles: roles?,
        })
    }
}

/// The `roles` of a body: at least one role name, repeats collapsed; `None` when absent.
pub(super) fn read_roles(
    body: &Fields<'_>,
    problems: &mut Problems,
) -> Result<Option<Vec<Role>>, Reported> {
    match body.opt_str_array("roles", problems)? {
        Some(items) if items.is_empty() => {
            problems.add(body.path("roles"), "must name at least one role");
            Err(Reported)
        }
        Some(items) => {
            let count = items.len();
            let mut roles: Vec<Role> = items
                .into_iter()
                .filter_map(|(path, r)| problems.check(path, Role::parse(r)))
                .collect();
            if roles.len() < count {
                return Err(Reported);
            }
            roles.sort();
            roles.dedup();
            Ok(Some(roles))
        }
        None => Ok(None),
    }
}

/// Create an organization (operator only)
///
/// Creates the organization, its first admin user and that admin's token, all or nothing.
#[utoipa::path(
    post,
    path = "/v1/organizations",
    tag = "Organizations, users and tokens",
    request_body = CreateOrganizationRequest,
    security(("operator" = [])),
    responses((status = 201, body = CreatedOrganizationResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 409, body = crate::api::error::ErrorEnvelope))
)]
pub async fn create_organization(
    State(state): State<AppState>,
    _operator: Operator,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Envelope<CreatedOrganization>>)> {
    let request = CreateOrganizationRequest::parse(&body)?;
    let new = NewOrganization {
        id: request.id,
        name: request.name,
        kind: request.kind,
        plan: request.plan,
        admin_username: request.admin.username,
        admin_email: request.admin.email,
        admin_phone: request.admin.phone,
        admin_token: None,
    };
    let created = organizations::provision(&*state.store, state.clock.now(), new).await?;
    Ok((
        StatusCode::CREATED,
        envelope(CreatedOrganization {
            organization: OrganizationView::from(&created.organization),
            admin: UserView::from(&created.admin),
            token: created.token,
        }),
    ))
}

/// `PATCH /v1/organizations/{organizationId}` body: the limits to change (the others keep their
/// value).
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(value_type = LimitsPatch)]
    pub limits: LimitsPatch,
}

/// Limits to change, each a whole number from 1 to 1,000,000,000; at least one.
#[derive(Debug, Default, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitsPatch {
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub events_per_second: Option<u32>,
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub emails_per_day: Option<u32>,
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub sms_per_day: Option<u32>,
}

impl LimitsPatch {
    /// `limits` with these changed.
    pub fn over(&self, limits: Limits) -> Limits {
        Limits {
            events_per_second: self.events_per_second.unwrap_or(limits.events_per_second),
            emails_per_day: self.emails_per_day.unwrap_or(limits.emails_per_day),
            sms_per_day: self.sms_per_day.unwrap_or(limits.sms_per_day),
        }
    }
}

impl FromBody for UpdateOrganizationRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["limits"], problems);
        let limits = body.object("limits", problems)?;
        limits.deny_unknown(&["eventsPerSecond", "emailsPerDay", "smsPerDay"], problems);
        let mut read = |key: &str| -> Option<u32> {
            let value = limits.present(key)?;
            let parsed = value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=Limits::MAX).contains(n));
            if parsed.is_none() {
                problems.add(
                    limits.path(key),
                    "must be a whole number from 1 to 1000000000",
                );
            }
            parsed
        };
        let patch = LimitsPatch {
            events_per_second: read("eventsPerSecond"),
            emails_per_day: read("emailsPerDay"),
            sms_per_day: read("smsPerDay"),
        };
        if limits.is_empty() {
            problems.add(body.path("limits"), "must name at least one limit");
        }
        Some(Self { limits: patch })
    }
}

/// Change an organization's limits (operator only)
///
/// The limits given change, the others keep their value; the answer is the organization with
/// the limits in force. Every instance enforces the new limits within a minute.
#[utoipa::path(
    patch,
    path = "/v1/organizations/{organizationId}",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path)),
    request_body = UpdateOrganizationRequest,
    security(("operator" = [])),
    responses((status = 200, body = OrganizationResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn update_organization(
    State(state): State<AppState>,
    _operator: Operator,
    PathParams(path): PathParams<OrgPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Envelope<OrganizationView>>> {
    let org =
        OrgId::parse(&path.organization_id).map_err(|e| ApiError::field("organizationId", e))?;
    let request = UpdateOrganizationRequest::parse(&body)?;
    let current = state
        .store
        .get_organization(&org)
        .await?
        .ok_or(ApiError::NotFound)?;
    let limits = request.limits.over(current.limits());
    let updated = state.store.set_limits(&org, limits).await?;
    state.limits.keep(
        &org,
        limits,
        state.clock.now() + crate::domain::limits::LIMITS_KEPT,
    );
    Ok(envelope(OrganizationView::from(&updated)))
}

/// Create a user (admin)
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/users",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path)),
    request_body = CreateUserRequest,
    security(("bearer" = [])),
    responses((status = 201, body = UserResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 409, body = crate::api::error::ErrorEnvelope))
)]
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Envelope<UserView>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::UserCreate)?;
    let request = CreateUserRequest::parse(&body)?;
    // A role may be given only by a caller holding all it grants (no escalation by new users).
    principal.require_all("roles", |p| request.roles.iter().any(|r| r.grants(p)))?;
    let user = User {
        id: Uuid::now_v7(),
        organization: org,
        username: request.username,
        email: request.email,
        phone: request.phone,
        roles: request.roles,
        created_at: state.clock.now(),
    };
    state.store.create_user(&user).await?;
    Ok((StatusCode::CREATED, envelope(UserView::from(&user))))
}

/// List users
///
/// In creation order (by id), 50 per page unless `limit` says otherwise (1–100); follow
/// `nextCursor` until it is `null`.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/users",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 50"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),),
    security(("bearer" = [])),
    responses((status = 200, body = UserPageResponse), (status = 403, body = crate::api::error::ErrorEnvelope), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    page: PageQuery,
) -> ApiResult<Json<Envelope<UserPage>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::UserRead)?;
    let page = state
        .store
        .list_users(
            &org,
            &PageRequest {
                limit: page.limit,
                after: page.after,
            },
        )
        .await?;
    Ok(envelope(UserPage {
        items: page.items.iter().map(UserView::from).collect(),
        next_cursor: page.next.as_deref().map(encode_cursor),
    }))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPath {
    pub(super) organization_id: String,
    pub(super) user: String,
}

/// Get a user by id, username or `me`
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/users/{user}",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path), ("user" = String, Path, description = "UUID, username, or `me`")),
    security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 403, body = crate::api::error::ErrorEnvelope), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<UserPath>,
) -> ApiResult<Json<Envelope<UserView>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::UserRead)?;
    let user = users::find(&*state.store, &org, principal.user_id, &path.user)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(envelope(UserView::from(&user)))
}
