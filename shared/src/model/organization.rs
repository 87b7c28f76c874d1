//! Organizations, their users and their tokens, as stored.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Email, OrgId, OrgKind, Permission, Phone, Plan, Role, TokenId, Username, timestamp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub kind: OrgKind,
    pub plan: Plan,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub organization: OrgId,
    pub username: Username,
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    pub roles: Vec<Role>,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
}

/// A token as stored: never the secret, only its SHA-256. `roles` is a copy of the user's roles at
/// issue time, so that authenticating is one read (users' roles cannot change yet; when a route to
/// change them exists it must update the user's tokens in the same transaction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub id: TokenId,
    pub organization: OrgId,
    /// Hex SHA-256 of the whole token string.
    pub hash: String,
    pub user_id: Uuid,
    pub roles: Vec<Role>,
    /// When set, the token may do only these (and only what its roles allow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
}
