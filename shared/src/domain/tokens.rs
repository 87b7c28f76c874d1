//! Issuing an API token for a user: the user must exist in the organization, and a token
//! narrowed to some permissions may hold only those the user's roles grant.

use time::OffsetDateTime;
use uuid::Uuid;

use super::Error;
use crate::domain::FieldError;
use crate::model::token::issue_token;
use crate::model::{OrgId, Permission};
use crate::model::{TOKENS_PER_USER_MAX, TokenRecord, User};
use crate::ports::store::{StoreError, TokenStore, UserStore};

/// The user `user_id` names in `org`, with the problems a token for them narrowed to
/// `permissions` would have (`userId` unknown; permissions its roles do not grant).
pub async fn holder(
    users: &dyn UserStore,
    org: &OrgId,
    user_id: Uuid,
    permissions: Option<&[Permission]>,
) -> Result<(Option<User>, Vec<FieldError>), Error> {
    let Some(user) = users.get_user(org, user_id).await? else {
        let unknown = FieldError::new("userId", "no such user in this organization");
        return Ok((None, vec![unknown]));
    };
    let refused = permissions
        .unwrap_or_default()
        .iter()
        .filter(|p| !user.roles.iter().any(|r| r.grants(**p)))
        .map(|p| {
            FieldError::new(
                "permissions",
                format!("{p} is not granted by the user's roles"),
            )
        })
        .collect();
    Ok((Some(user), refused))
}

/// Issues a token for `user` (checked by [`holder`]): its record and the secret, which is
/// shown once and stored only as a hash.
pub async fn issue(
    tokens: &dyn TokenStore,
    now: OffsetDateTime,
    org: &OrgId,
    user: &User,
    permissions: Option<Vec<Permission>>,
    expires_at: Option<OffsetDateTime>,
) -> Result<(TokenRecord, String), Error> {
    // At most TOKENS_PER_USER_MAX each (two issued at once may pass it by one: harmless, the
    // limit keeps a user's tokens well inside one transaction).
    if tokens.user_tokens(org, user.id).await?.len() >= TOKENS_PER_USER_MAX {
        return Err(Error::Conflict(vec![FieldError::new(
            "userId",
            format!("the user already holds {TOKENS_PER_USER_MAX} tokens: revoke one first"),
        )]));
    }
    // A token id is 96 bits of a hash of 256 random bits: a collision is not expected, but the
    // conditional write would refuse one, and a new token is simply issued.
    for _ in 0..3 {
        let issued = issue_token(org);
        let record = TokenRecord {
            id: issued.id,
            organization: org.clone(),
            hash: issued.hash,
            user_id: user.id,
            roles: user.roles.clone(),
            permissions: permissions.clone(),
            expires_at,
            created_at: now,
            last_used_at: None,
        };
        match tokens.create_token(&record).await {
            Ok(()) => return Ok((record, issued.secret)),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Corrupt("three token id collisions in a row".into()).into())
}
