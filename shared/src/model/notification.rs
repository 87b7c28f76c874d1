//! Notifications (where deliveries go, with the secrets needed to get there) and an
//! organization's operational webhook, as stored.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{EventSet, NotificationId, NotificationType, OrgId, Sealed, timestamp};

use super::WebhookTarget;

/// Where a notification delivers, with the secrets needed to do it (never all returned).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Target {
    Slack(SlackTarget),
    Webhook(WebhookTarget),
    Email,
    Sms,
}

impl Target {
    pub fn kind(&self) -> NotificationType {
        match self {
            Target::Slack(_) => NotificationType::Slack,
            Target::Webhook(_) => NotificationType::Webhook,
            Target::Email => NotificationType::Email,
            Target::Sms => NotificationType::Sms,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlackTarget {
    pub team: String,
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// The incoming-webhook URL from the OAuth exchange, sealed. Never returned.
    pub webhook_url: Sealed,
    /// The bot access token from the OAuth exchange, sealed. Never returned.
    pub access_token: Sealed,
    /// The install granted `chat:write`: deliveries use `chat.postMessage` (to `channel_id`),
    /// falling back to the incoming webhook where the bot is not in the channel. Installs
    /// without it (and older records) use the incoming webhook.
    #[serde(default)]
    pub chat_write: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: NotificationId,
    pub organization: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub target: Target,
    pub events: EventSet,
    pub enabled: bool,
    /// Why it was disabled: its target is gone, or its deliveries kept failing. Cleared when an
    /// update enables it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// A webhook or Slack target's current failure streak: every delivery since `since` ended
    /// `failed`. A sent delivery or an update ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<FailureStreak>,
    /// A webhook or Slack target's `rateLimit`: the sender spaces its deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::model::rate::RateLimit>,
    /// Until then the target's deliveries wait: it answered 429 with a `Retry-After`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "timestamp::option"
    )]
    pub throttled_until: Option<OffsetDateTime>,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}

/// An organization's operational webhook: where Herald posts events about itself, signed per
/// Standard Webhooks with `secret`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhook {
    pub organization: OrgId,
    pub url: String,
    pub events: Vec<crate::model::OperationalEvent>,
    /// `whsec_…`, made when it is first set and kept by later changes; sealed.
    pub secret: Sealed,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}

/// Since when a target's deliveries have all failed, and how many.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureStreak {
    #[serde(with = "timestamp")]
    pub since: OffsetDateTime,
    pub failed: u32,
}
