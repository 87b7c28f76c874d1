//! Authentication and authorization: the token a request presents, the caller (`Principal`) and
//! the operator (read from a request's headers by `api::credentials`). Tokens themselves are
//! [`crate::model::token`]; the hash comparison is constant-time.

use axum::http::HeaderMap;
use uuid::Uuid;

use crate::api::error::{ApiError, ApiResult, FieldError};
use crate::model::TokenRecord;
use crate::model::{OrgId, Permission, Role, TokenId};
use time::OffsetDateTime;

/// The token in `Authorization: Bearer <token>` or `Coder-Session-Token: <token>`, if any.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let session = headers
        .get("coder-session-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    bearer.or(session).filter(|t| !t.is_empty())
}

/// The authenticated caller: one user of one organization, with what its token allows.
#[derive(Clone, Debug)]
pub struct Principal {
    pub org: OrgId,
    pub user_id: Uuid,
    pub token_id: TokenId,
    pub roles: Vec<Role>,
    pub permissions: Option<Vec<Permission>>,
    /// When the caller's token stops working (`None`: never); what it issues may not outlive it.
    pub expires_at: Option<OffsetDateTime>,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.roles.iter().any(|r| r.grants(permission))
            && self
                .permissions
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&permission))
    }

    /// 403 4003 unless the caller may do `permission`.
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// 403 4003 naming (under `field`) each permission that `wanted` holds and the caller does
    /// not: a token or a role may hand out only what its giver holds.
    pub fn require_all(&self, field: &str, wanted: impl Fn(Permission) -> bool) -> ApiResult<()> {
        let withheld: Vec<FieldError> = Permission::ALL
            .iter()
            .filter(|p| wanted(**p) && !self.can(**p))
            .map(|p| FieldError::new(field, format!("{p} is not held by the calling token")))
            .collect();
        if withheld.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Withheld(withheld))
        }
    }

    /// The organization a path names, if it is the caller's: a malformed id is 400 naming
    /// `organizationId` (or its alias on the other APIs); any other organization is 404 3001, exactly as if
    /// it did not exist.
    pub fn scope(&self, field: &'static str, raw: &str) -> ApiResult<OrgId> {
        let org = OrgId::parse(raw).map_err(|e| ApiError::field(field, e))?;
        if org == self.org {
            Ok(org)
        } else {
            Err(ApiError::NotFound)
        }
    }

    pub(crate) fn from_record(token: TokenRecord) -> Self {
        Self {
            org: token.organization,
            user_id: token.user_id,
            token_id: token.id,
            roles: token.roles,
            permissions: token.permissions,
            expires_at: token.expires_at,
        }
    }
}

/// The deployment's operator, authenticated by `HERALD_OPERATOR_TOKEN`. A deployment
/// without one has no operator: every attempt is 401 4004.
#[derive(Clone, Copy, Debug)]
pub struct Operator;
