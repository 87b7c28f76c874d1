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
    /// Set by the operator; the plan's ([`Limits::of_plan`]) until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl Organization {
    /// The limits in force: the operator's, else the plan's.
    pub fn limits(&self) -> Limits {
        self.limits.unwrap_or(Limits::of_plan(self.plan))
    }
}

/// What one organization may use, so that one tenant's burst is not every tenant's problem:
/// events accepted per second (past it, 429), and emails and SMS sent per UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub events_per_second: u32,
    pub emails_per_day: u32,
    pub sms_per_day: u32,
}

impl Limits {
    /// The most any limit may be set to.
    pub const MAX: u32 = 1_000_000_000;

    /// The defaults of a plan: TRIAL 10 / 1,000 / 100, PAID 1,000 / 1,000,000 / 100,000.
    pub const fn of_plan(plan: Plan) -> Self {
        match plan {
            Plan::Trial => Self {
                events_per_second: 10,
                emails_per_day: 1_000,
                sms_per_day: 100,
            },
            Plan::Paid => Self {
                events_per_second: 1_000,
                emails_per_day: 1_000_000,
                sms_per_day: 100_000,
            },
        }
    }
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

/// A token as stored: never the secret, only its SHA-256. `roles` is a copy of the user's roles,
/// so that authenticating is one read: changing a user's roles rewrites their tokens' copies in
/// the same transaction, and deleting a user deletes their tokens in it (`UserStore`).
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
    /// When the token last authenticated a request, to the minute: written at most once a
    /// minute per token ([`TokenRecord::LAST_USED_EVERY`]), so that reads stay cheap.
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// How stale `last_used_at` may get before a request writes it again.
    pub const LAST_USED_EVERY: time::Duration = time::Duration::minutes(1);

    /// Whether a request authenticated at `now` should record it (see [`Self::last_used_at`]).
    pub fn use_is_news(&self, now: OffsetDateTime) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= Self::LAST_USED_EVERY)
    }
}

/// How many tokens one user may hold (expired ones count until revoked): changing a user's roles
/// or deleting them rewrites all of their tokens in one DynamoDB transaction (100 items at most).
pub const TOKENS_PER_USER_MAX: usize = 50;
