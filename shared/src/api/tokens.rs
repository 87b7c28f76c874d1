//! Tokens: an admin creates one for a user of the organization, narrowed to some
//! permissions and with an expiry if wanted, and revokes it; the secret is shown once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, JsonObject, OrgPath, PageQuery, PathParams, Reported, encode_cursor};
use super::{Envelope, envelope};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, Problems};
use crate::app::AppState;
use crate::domain::tokens;
use crate::model::{Permission, TokenId, TokenRecord, timestamp};
use crate::ports::store::PageRequest;
use time::OffsetDateTime;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    /// The secret. Shown once, in the response that creates it.
    pub token: String,
    pub user_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub permissions: Option<Vec<Permission>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub id: String,
    pub revoked: bool,
}

/// `{"status": true, "data": <token>}`
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub status: bool,
    pub data: TokenView,
}

/// `{"status": true, "data": {"id", "revoked": true}}`
#[derive(Serialize, ToSchema)]
pub struct RevokedResponse {
    pub status: bool,
    pub data: Revoked,
}

/// `POST .../tokens` body.
// Read with every part that parses kept (`read`), so that one 400 also says whether the user
// exists and grants the permissions asked for.
#[derive(Debug, Default, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateTokenRequest {
    /// A user of the organization.
    #[schema(value_type = Uuid)]
    pub user_id: Option<Uuid>,
    /// Narrows the token to these permissions (each must be granted by the user's roles); all of
    /// the user's when absent. Repeats collapse. The token may hold only permissions the calling
    /// token holds: any other is 403 4003, each named in `details`.
    pub permissions: Option<Vec<Permission>>,
    /// RFC 3339, in the future; never expires when absent. No later than the calling token's own
    /// expiry, if it has one (then it is required).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

impl CreateTokenRequest {
    /// Reads the body as of `now`. A field that is broken (its problem recorded) or required and
    /// missing reads as absent: the request is complete only while `problems` stays empty.
    pub fn read(body: &Fields<'_>, now: OffsetDateTime, problems: &mut Problems) -> Self {
        body.deny_unknown(&["userId", "permissions", "expiresAt"], problems);
        let user_id = body.parsed(
            "userId",
            36,
            |raw| Uuid::parse_str(raw).map_err(|_| "must be a UUID"),
            problems,
        );
        let permissions = match body.opt_str_array("permissions", problems) {
            Ok(Some(items)) => {
                let mut parsed: Vec<Permission> = items
                    .into_iter()
                    .filter_map(|(path, p)| problems.check(path, Permission::parse(p)))
                    .collect();
                parsed.sort();
                parsed.dedup();
                Some(parsed)
            }
            Ok(None) | Err(Reported) => None,
        };
        let expires_at = body
            .opt_parsed("expiresAt", 64, timestamp::parse, problems)
            .ok()
            .flatten()
            .filter(|at| {
                let future = *at > now;
                if !future {
                    problems.add("expiresAt", "must be in the future");
                }
                future
            });
        Self {
            user_id,
            permissions,
            expires_at,
        }
    }
}

/// Create a token for a user (admin)
#[utoipa::path(
    post,
    path = "/v1/organizations/{organizationId}/tokens",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path)),
    request_body = CreateTokenRequest,
    security(("bearer" = [])),
    responses((status = 201, body = TokenResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Envelope<TokenView>>)> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::TokenCreate)?;
    let now = state.clock.now();
    let mut problems = Problems::default();
    let CreateTokenRequest {
        user_id,
        permissions,
        expires_at,
    } = CreateTokenRequest::read(&Fields::new(&body, ""), now, &mut problems);
    // The user must exist in this organization; its roles bound what the token may be narrowed to.
    let mut user = None;
    if let Some(id) = user_id {
        let (found, refused) =
            tokens::holder(&*state.store, &org, id, permissions.as_deref()).await?;
        for p in refused {
            problems.add(p.field, p.message);
        }
        user = found;
    }
    // What the caller issues may not outlive the caller's own token.
    if let Some(limit) = principal.expires_at {
        let limit_text = timestamp::format(limit);
        match expires_at {
            None => problems.add(
                "expiresAt",
                format!(
                    "must be given, and no later than the calling token's expiry ({limit_text})"
                ),
            ),
            Some(at) if at > limit => problems.add(
                "expiresAt",
                format!("must be no later than the calling token's expiry ({limit_text})"),
            ),
            Some(_) => {}
        }
    }
    let user = problems.finish(|| user)?;
    // Nor hold a permission the caller does not: the new token's are the user's roles',
    // narrowed to `permissions` when given.
    principal.require_all("permissions", |p| {
        user.roles.iter().any(|r| r.grants(p))
            && permissions
                .as_ref()
                .is_none_or(|narrowed| narrowed.contains(&p))
    })?;
    let (record, secret) = tokens::issue(
        &*state.store,
        state.clock.now(),
        &org,
        &user,
        permissions,
        expires_at,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        envelope(TokenView {
            id: record.id.to_string(),
            token: secret,
            user_id: user.id,
            permissions: record.permissions,
            expires_at: record.expires_at.map(timestamp::format),
            created_at: timestamp::format(record.created_at),
        }),
    ))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPath {
    organization_id: String,
    token_id: String,
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    pub id: String,
    pub user_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub permissions: Option<Vec<Permission>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub created_at: String,
    /// When it last authenticated a request, to the minute; absent if it never has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

impl From<&TokenRecord> for TokenSummary {
    fn from(t: &TokenRecord) -> Self {
        Self {
            id: t.id.to_string(),
            user_id: t.user_id,
            permissions: t.permissions.clone(),
            expires_at: t.expires_at.map(timestamp::format),
            created_at: timestamp::format(t.created_at),
            last_used_at: t.last_used_at.map(timestamp::format),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPage {
    pub items: Vec<TokenSummary>,
    pub next_cursor: Option<String>,
}

/// `{"status": true, "data": {"items", "nextCursor"}}`
#[derive(Serialize, ToSchema)]
pub struct TokenPageResponse {
    pub status: bool,
    pub data: TokenPage,
}

/// List the organization's tokens (admin)
///
/// Every token, expired ones included until revoked, in id order, 50 per page unless `limit`
/// says otherwise (1–100); follow `nextCursor` until it is `null`. Never a secret.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organizationId}/tokens",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 50"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),),
    security(("bearer" = [])),
    responses((status = 200, body = TokenPageResponse), (status = 400, body = crate::api::error::ErrorEnvelope),
        (status = 401, body = crate::api::error::ErrorEnvelope), (status = 403, body = crate::api::error::ErrorEnvelope),
        (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<OrgPath>,
    page: PageQuery,
) -> ApiResult<Json<Envelope<TokenPage>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::TokenCreate)?;
    let page = state
        .store
        .list_tokens(
            &org,
            &PageRequest {
                limit: page.limit,
                after: page.after,
            },
        )
        .await?;
    Ok(envelope(TokenPage {
        items: page.items.iter().map(TokenSummary::from).collect(),
        next_cursor: page.next.as_deref().map(encode_cursor),
    }))
}

/// Revoke a token (admin); it stops working at once
#[utoipa::path(
    delete,
    path = "/v1/organizations/{organizationId}/tokens/{tokenId}",
    tag = "Organizations, users and tokens",
    params(("organizationId" = String, Path), ("tokenId" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = RevokedResponse), (status = 401, body = crate::api::error::ErrorEnvelope),
        (status = 403, body = crate::api::error::ErrorEnvelope), (status = 404, body = crate::api::error::ErrorEnvelope))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams<TokenPath>,
) -> ApiResult<Json<Envelope<Revoked>>> {
    let org = principal.scope("organizationId", &path.organization_id)?;
    principal.require(Permission::TokenCreate)?;
    let id = TokenId::parse(&path.token_id).map_err(|_| ApiError::NotFound)?;
    if state.store.delete_token(&org, &id).await? {
        Ok(envelope(Revoked {
            id: id.to_string(),
            revoked: true,
        }))
    } else {
        Err(ApiError::NotFound)
    }
}
