//! The records the store keeps: one type per resource, the same on every backend (each backend
//! lays them out its own way: `dynamodb/keys.rs`, `sqlite/schema.rs`).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::WebhookTarget;

use crate::model::{
    AttemptOutcome, DeliveryMode, DeliveryStatus, DispatchMethod, Email, EventSet, Language,
    NotificationId, NotificationType, OrgId, OrgKind, Permission, Phone, Plan, Role, TokenId,
    Username, timestamp,
};

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
    /// The incoming-webhook URL from the OAuth exchange. Never returned.
    pub webhook_url: String,
    /// The bot access token from the OAuth exchange. Never returned.
    pub access_token: String,
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
    /// `whsec_…`, made when it is first set and kept by later changes.
    pub secret: String,
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

/// An organization's notification settings (seed 003, and seed 002's pause), each field absent
/// until set: defaults follow the organization's kind. Each API writes only its own fields, so
/// neither clobbers the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub kind: OrgKind,
    pub sms_daily_quota: Option<u32>,
    pub delivery_mode: Option<DeliveryMode>,
    pub whitelist: Option<Vec<Uuid>>,
    pub default_language: Option<Language>,
    /// The last change of seed 003's fields, or the organization's creation.
    pub updated_at: OffsetDateTime,
    /// Seed 002's `notifier_paused` (its own API; not touched by seed 003's PUT or DELETE).
    pub notifier_paused: bool,
}

impl Settings {
    pub const DEFAULT_SMS_DAILY_QUOTA: u32 = 30;
    pub const MAX_SMS_DAILY_QUOTA: u32 = 50;
    /// The whitelist limit of a sandbox (seed 003).
    pub const SANDBOX_WHITELIST_MAX: usize = 50;

    pub fn sms_daily_quota(&self) -> u32 {
        self.sms_daily_quota
            .unwrap_or(Self::DEFAULT_SMS_DAILY_QUOTA)
    }

    /// `ALL` in production, `WHITELIST` in a sandbox, unless set.
    pub fn delivery_mode(&self) -> DeliveryMode {
        self.delivery_mode.unwrap_or(match self.kind {
            OrgKind::Production => DeliveryMode::All,
            OrgKind::Sandbox => DeliveryMode::Whitelist,
        })
    }

    pub fn whitelist(&self) -> &[Uuid] {
        self.whitelist.as_deref().unwrap_or_default()
    }

    pub fn default_language(&self) -> Language {
        self.default_language.unwrap_or(Language::En)
    }
}

/// A PUT of seed 003: the fields to set; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub sms_daily_quota: Option<u32>,
    pub delivery_mode: Option<DeliveryMode>,
    pub whitelist: Option<Vec<Uuid>>,
    pub default_language: Option<Language>,
}

impl SettingsPatch {
    /// Whether only a production organization may take this patch: `ALL`, or a whitelist over
    /// the sandbox limit.
    pub fn needs_production(&self) -> bool {
        self.delivery_mode == Some(DeliveryMode::All)
            || self
                .whitelist
                .as_ref()
                .is_some_and(|w| w.len() > Settings::SANDBOX_WHITELIST_MAX)
    }
}

/// One user's SMS counter for one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsCounter {
    pub organization: OrgId,
    pub user_id: Uuid,
    #[serde(with = "crate::model::day")]
    pub day: Date,
    pub count: u32,
}

/// A closed day's SMS usage of one organization, recorded by the quota-reset job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsUsage {
    pub organization: OrgId,
    #[serde(with = "crate::model::day")]
    pub day: Date,
    /// SMS sent that day, all users together.
    pub sent: u32,
    /// Users who received at least one.
    pub users: u32,
}

/// Whether a recipient is a console user of the organization or an embed user (seed 004).
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
/// single read and a single write per recipient (seed 004's cost target).
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

/// An embed user's properties (seed 004), which drive per-recipient rendering.
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

/// A user's choice about one system template (seed 002's notification preferences).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preference {
    /// The system template's id (`templates::SystemTemplate::id`).
    pub template: Uuid,
    pub disabled: bool,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}

/// Where one delivery goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Channel {
    Email {
        to: Email,
    },
    Sms {
        to: Phone,
    },
    /// The notification's Slack channel (`chat.postMessage` or its stored incoming webhook).
    Slack {
        notification: NotificationId,
    },
    /// The notification's webhook URL, signed with its secret.
    Webhook {
        notification: NotificationId,
    },
    /// The organization's operational webhook: `event` about Herald itself.
    Operational {
        event: crate::model::OperationalEvent,
    },
}

impl Channel {
    /// How it reaches its target (the delivery log's `method`, the metrics' `Transport`).
    pub fn method(&self) -> DispatchMethod {
        match self {
            Channel::Slack { .. } => DispatchMethod::Slack,
            Channel::Webhook { .. } | Channel::Operational { .. } => DispatchMethod::Webhook,
            Channel::Email { .. } => DispatchMethod::Email,
            Channel::Sms { .. } => DispatchMethod::Sms,
        }
    }
}

/// One message to one target. A queued delivery travels as its queue message; the
/// sender's claim records it (the fan-out records only those it skips).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// An event's delivery: UUIDv5 of (event, target), so a repeated fan-out names the same
    /// deliveries. A test notification's: UUIDv7.
    pub id: Uuid,
    pub organization: OrgId,
    /// The event it delivers (`None` for a test notification).
    #[serde(default)]
    pub event: Option<Uuid>,
    /// The system template rendered for it.
    pub template: Uuid,
    /// The user it is for, when it is for a user.
    #[serde(default)]
    pub user: Option<Uuid>,
    pub channel: Channel,
    /// The notification it goes through or is a recipient's delivery of (`None` for a test
    /// notification, and for email and SMS deliveries recorded before Herald kept it): what
    /// recover finds a notification's failed deliveries by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationId>,
    pub language: Language,
    /// What the template is rendered with; `None`: the event's data.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    pub status: DeliveryStatus,
    /// Attempts since it was last queued (by the fan-out, a resend or a recover).
    pub attempts: u32,
    /// How many times an operator put it back on the queue (resend, recover). A message carries
    /// the round it was queued for: a message of an earlier round never takes the delivery.
    #[serde(default)]
    pub round: u32,
    /// Its last attempts, oldest first: at most [`Delivery::HISTORY`], over every round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Attempt>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Why a delivery was `skipped` (e.g. `quota_exceeded`, `not_whitelisted`).
    #[serde(default)]
    pub reason: Option<String>,
    /// While `sending`: until when the sender that claimed it holds it.
    #[serde(default, with = "timestamp::option")]
    pub lease_until: Option<OffsetDateTime>,
    /// For an event's delivery, the event's time (the delivery log's order).
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}

/// One attempt to deliver: when, how it ended, the target's HTTP status where there is one, the
/// error, and how long it took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// After a `retry`: when the next attempt is due (the schedule's step, jittered, or the
    /// target's `Retry-After`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "timestamp::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// An event emitted into an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// UUIDv7.
    pub id: Uuid,
    pub organization: OrgId,
    #[serde(rename = "type")]
    pub kind: crate::model::EventType,
    pub data: serde_json::Value,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of the request's type and data: tells a replay from a reused key.
    pub body_hash: String,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
}

/// What recording an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventCreated {
    New,
    /// The idempotency key was used in the last 24 h with the same body: that first event.
    Replay(Event),
    /// The idempotency key was used in the last 24 h with another body.
    KeyReused,
}

/// What claiming a delivery for sending found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// It is this sender's until `lease_until` (status `sending`, `attempts` counted).
    Claimed(Box<Delivery>),
    /// Another sender holds a live lease.
    Busy,
    /// It is already `sent`, `failed` or `skipped`, or the message is of an earlier round than
    /// the delivery (a resend or recover queued it again since): the message has nothing to do.
    Settled(DeliveryStatus),
}

impl Claim {
    /// What a claim that took nothing found: the delivery's `status` in `round`, for a message of
    /// round `message`.
    pub fn found(status: DeliveryStatus, round: u32, message: u32) -> Claim {
        match status {
            DeliveryStatus::Sent | DeliveryStatus::Failed | DeliveryStatus::Skipped => {
                Claim::Settled(status)
            }
            _ if round > message => Claim::Settled(status),
            _ => Claim::Busy,
        }
    }
}

/// What marking a dead-lettered delivery `failed` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Burial {
    /// It is `failed` now, with the dead-letter queue's reason.
    Failed,
    /// Nothing to do: it was settled, or queued again in a later round.
    Settled,
    /// A sender holds a live lease on it: try again once that ends.
    Busy,
}

/// How a claimed delivery ended (with the attempt that ended it, when one was made).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Failed(String),
    /// Back to `queued`, to be tried again.
    Retry(String),
    /// Not sent, on purpose (`quota_exceeded`, ...).
    Skipped(String),
    /// Not sent while the notifier is paused: `held` until a resume releases it.
    Held,
}

/// Which deliveries a listing wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event: Option<Uuid>,
}

impl Delivery {
    /// How many attempts a delivery's history keeps.
    pub const HISTORY: usize = 10;

    /// The webhook or Slack notification it goes out through.
    pub fn through(&self) -> Option<&NotificationId> {
        match &self.channel {
            Channel::Slack { notification } | Channel::Webhook { notification } => {
                Some(notification)
            }
            Channel::Email { .. } | Channel::Sms { .. } | Channel::Operational { .. } => None,
        }
    }

    /// When it is tried again: while it is `queued` after a failed attempt, that attempt's
    /// `next_attempt_at`.
    pub fn next_attempt_at(&self) -> Option<OffsetDateTime> {
        match (self.status, self.history.last()) {
            (DeliveryStatus::Queued, Some(last)) if last.outcome == AttemptOutcome::Retry => {
                last.next_attempt_at
            }
            _ => None,
        }
    }

    /// The notification it goes through or belongs to.
    pub fn notification_id(&self) -> Option<&NotificationId> {
        match &self.channel {
            Channel::Slack { notification } | Channel::Webhook { notification } => {
                Some(notification)
            }
            Channel::Email { .. } | Channel::Sms { .. } | Channel::Operational { .. } => {
                self.notification.as_ref()
            }
        }
    }

    /// Its history with `attempt` added, the oldest dropped past [`Delivery::HISTORY`].
    pub fn history_with(&self, attempt: Option<&Attempt>) -> Vec<Attempt> {
        let mut history = self.history.clone();
        history.extend(attempt.cloned());
        let excess = history.len().saturating_sub(Self::HISTORY);
        history.drain(..excess);
        history
    }

    /// The message that puts it back on the queue for one more round (resend, recover): as it
    /// was born, `queued`, its attempts counted afresh.
    pub fn requeued(&self, now: OffsetDateTime) -> Delivery {
        Delivery {
            status: DeliveryStatus::Queued,
            attempts: 0,
            round: self.round + 1,
            lease_until: None,
            updated_at: now,
            ..self.clone()
        }
    }

    /// The listing order's key (newest first): creation time, then id.
    pub fn list_key(&self) -> String {
        Self::key_of(self.created_at, self.id)
    }

    /// The list key of the delivery `id` created at `created_at`.
    pub fn key_of(created_at: OffsetDateTime, id: Uuid) -> String {
        format!("{}#{id}", timestamp::format(created_at))
    }
}
