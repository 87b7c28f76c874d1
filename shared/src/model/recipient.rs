//! The recipients of email and SMS notifications, and users' preferences, as stored.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Email, NotificationId, OrgId, Phone, timestamp};

/// Whether a recipient is a console user of the organization or an embed user (the recipients API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecipientKind {
    User,
    EmbedUser,
}

/// A recipient of an `email` or `sms` notification: everything the delivery engine needs to
/// reach it, so that fan-out reads one page of recipients and nothing else.
///
/// Embed users live here, on their recipient items: their id is a UUIDv5 of (organization,
/// `embedTenantName`, `externalId`), the same in every notification, so subscribing one needs a
/// single read and a single write per recipient (the recipients API's cost target).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// The user's id, or the embed user's id.
    pub id: Uuid,
    pub organization: OrgId,
    pub notification: NotificationId,
    pub kind: RecipientKind,
    /// Where email goes: the user's email, the embed user's `email`, or its email-shaped
    /// `externalId`.
    pub email: Email,
    /// Where SMS goes: the user's phone, or the embed user's `phone` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    /// A console user's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed: Option<EmbedProfile>,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}

impl Recipient {
    /// Whether `other` says something different about the same recipient (its timestamps aside).
    pub fn differs_from(&self, other: &Recipient) -> bool {
        (&self.email, &self.phone, &self.username, &self.embed)
            != (&other.email, &other.phone, &other.username, &other.embed)
    }
}

/// An embed user's properties (the recipients API), which drive per-recipient rendering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedProfile {
    pub tenant_name: String,
    pub external_id: String,
    /// The `email` given in the request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// `securityContext` as compact JSON with sorted keys, so equal objects compare equal.
    pub security_context: String,
    pub user_attributes: Vec<UserAttribute>,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAttribute {
    pub name: String,
    pub value: String,
}

/// A user's choice about one system template (the admin API's notification preferences).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preference {
    /// The system template's id (`templates::SystemTemplate::id`).
    pub template: Uuid,
    pub disabled: bool,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}
