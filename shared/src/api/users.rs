//! Changing a user's roles and deleting a user (admin). Neither may leave the organization
//! without an admin (409), and a role may be given only by a caller holding everything it grants.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, FromBody, JsonObject, PathParams, Reported};
use super::organizations::{UserPath, UserResponse, UserView, read_roles};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, FieldError, Problems};
use crate::app::AppState;
use crate::domain::users;
use crate::model::{Permission, Role};
use crate::ports::store::StoreError;

/// `PATCH .../users/{user}` body.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// The user's roles from now on (all of their tokens follow at once); repeats collapse.
    #[schema(value_type = Vec<Role>, min_items = 1)]
    pub roles: Vec<Role>,
}

impl FromBody for UpdateUserRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["roles"], problems);
        match read_roles(body, problems) {
            Ok(Some(roles)) => Some(Self { roles }),
            Ok(None) => {
                problems.add(body.path("roles"), "is required");
                None
            }
            Err(Reported) => None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedUser {
    pub id: Uuid,
    pub deleted: bool,
}

/// `{"status": true, "data": {"id", "deleted": true}}`
#[derive(Serialize, ToSchema)]
pub struct DeletedUserResponse {
    pub status: bool,
    pub data: DeletedUser,
}

/// The user a path names (UUID, username or `me`), or 404.
async fn named(
    state: &AppState,
    principal: &Principal,
    path: &UserPath,
) -> ApiResult<crate::model::User> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    users::find(&*state.store, &org, principal.user_id, &path.user)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Change a user's roles (admin)
///
/// The user's tokens take the new roles at once. Giving a role needs a calling token holding
/// every permission it grants (403 4003 naming each one missing); demoting the organization's
/// last admin is 409.
#[utoipa::path(
    patch,
    path = "/v1/organizations/{organizationId}/users/{user}",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path), ("user" = String, Path, description = "UUID, username, or `me`")),
    request_body = UpdateUserRequest,
    security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 409, body = crate::api::error::ErrorEnvelope))
)]
pub async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<UserPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Envelope<UserView>>> {
    principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::UserCreate)?;
    let request = UpdateUserRequest::parse(&body)?;
    principal.require_all("roles", |p| request.roles.iter().any(|r| r.grants(p)))?;
    let user = named(&state, &principal, &path).await?;
    let user = state
        .store
        .set_user_roles(&user.organization, user.id, &request.roles)
        .await?;
    Ok(envelope(UserView::from(&user)))
}

/// Delete a user (admin)
///
/// Their tokens stop working at once; they leave every notification's recipients and their
/// preferences go. Deleting the organization's last admin is 409.
#[utoipa::path(
    delete,
    path = "/v1/organizations/{organizationId}/users/{user}",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path), ("user" = String, Path, description = "UUID, username, or `me`")),
    security(("bearer" = [])),
    responses((status = 200, body = DeletedUserResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope), (status = 409, body = crate::api::error::ErrorEnvelope))
)]
pub async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<UserPath>,
) -> ApiResult<Json<Envelope<DeletedUser>>> {
    principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::UserCreate)?;
    let user = named(&state, &principal, &path).await?;
    match state.store.delete_user(&user.organization, user.id).await {
        Ok(true) => Ok(envelope(DeletedUser {
            id: user.id,
            deleted: true,
        })),
        Ok(false) => Err(ApiError::NotFound),
        Err(StoreError::LastAdmin) => Err(ApiError::Conflict(vec![FieldError::new(
            "user",
            "the organization's last admin cannot be deleted",
        )])),
        Err(e) => Err(e.into()),
    }
}
