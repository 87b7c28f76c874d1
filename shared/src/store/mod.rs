//! Storage: the records, one `Store` trait, and its two implementations — [`dynamodb::DynamoStore`]
//! (one table) and [`memory::MemoryStore`] (same semantics, for the local server and fast tests).
//! The contract test suite in `tests/e2e/store_contract.rs` runs against both.

pub mod dynamodb;
pub mod memory;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::model::{
    DeliveryMode, DeliveryStatus, Email, EventSet, Language, NotificationId, NotificationType,
    OrgId, OrgKind, Permission, Phone, Plan, Role, TokenId, Username, timestamp,
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
pub struct WebhookTarget {
    pub url: String,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret.
    pub secret: String,
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
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}

/// An organization's notification settings (seed 003; seed 002's fields join them later), kept
/// on its `ORG` item as separate attributes, each absent until set: defaults follow the
/// organization's kind, and each API writes only its own attributes (update expressions), so
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
}

/// One message to one target (SPEC §1). A queued delivery travels as its queue message; the
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
    pub language: Language,
    /// What the template is rendered with; `None`: the event's data.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    pub status: DeliveryStatus,
    pub attempts: u32,
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

/// An event emitted into an organization (SPEC §7).
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
    /// It is `held` (the notifier is paused).
    Held,
    /// It is already `sent`, `failed` or `skipped`.
    Settled(DeliveryStatus),
}

/// How a claimed delivery ended.
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
    /// The listing order's key (newest first): creation time, then id.
    pub fn list_key(&self) -> String {
        Self::key_of(self.created_at, self.id)
    }

    /// The list key of the delivery `id` created at `created_at`.
    pub fn key_of(created_at: OffsetDateTime, id: Uuid) -> String {
        format!("{}#{id}", timestamp::format(created_at))
    }
}

/// A page request: at most `limit` items after the sort key `after`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<String>,
}

/// One page, in key order; `next` is the key to continue after, `None` on the last page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Default for Page<T> {
    /// The empty last page.
    fn default() -> Self {
        Self {
            items: Vec::new(),
            next: None,
        }
    }
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items read in key order: the extra one only says that
    /// more exist, so the last page never carries a cursor to an empty page.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(key)
        } else {
            None
        };
        Self { items, next }
    }
}

/// A uniqueness rule a write broke, named as the request field that broke it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unique {
    OrganizationId,
    Username,
    Email,
    TokenId,
    NotificationId,
    DeliveryId,
}

impl Unique {
    pub fn field(self) -> &'static str {
        match self {
            Unique::OrganizationId => "id",
            Unique::Username => "username",
            Unique::Email => "email",
            Unique::TokenId => "tokenId",
            Unique::NotificationId => "id",
            Unique::DeliveryId => "id",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("already exists: {0:?}")]
    Conflict(Vec<Unique>),
    #[error("the organization holds its maximum number of notifications")]
    LimitReached,
    #[error("not found")]
    NotFound,
    /// A conditional update lost a race with another writer: re-read and try again.
    #[error("changed concurrently")]
    Stale,
    /// A condition on the organization refused the write (a setting only production may have).
    #[error("refused by the organization's kind")]
    Refused,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored item unreadable: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an organization with its first admin and that admin's token, all or nothing.
    /// An existing id is `Conflict([OrganizationId])`.
    async fn create_organization(
        &self,
        org: &Organization,
        admin: &User,
        token: &TokenRecord,
    ) -> StoreResult<()>;
    async fn get_organization(&self, id: &OrgId) -> StoreResult<Option<Organization>>;

    /// Creates a user; a taken username and/or email is `Conflict` naming each; an unknown
    /// organization is `NotFound`.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<User>>;
    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> StoreResult<Option<User>>;
    /// Users in id order (UUIDv7: creation order).
    async fn list_users(&self, org: &OrgId, page: &PageRequest) -> StoreResult<Page<User>>;

    /// Stores a token; an id already used is `Conflict([TokenId])`.
    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()>;
    async fn get_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<Option<TokenRecord>>;
    /// Revokes (deletes) a token; `false` when there was none.
    async fn delete_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<bool>;

    /// Creates a notification unless the organization already holds `max` of them
    /// (`LimitReached`), as one atomic write.
    async fn create_notification(&self, notification: &Notification, max: u32) -> StoreResult<()>;
    async fn get_notification(
        &self,
        org: &OrgId,
        id: &NotificationId,
    ) -> StoreResult<Option<Notification>>;
    /// Notifications in id order (creation order).
    async fn list_notifications(
        &self,
        org: &OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>>;
    /// Replaces a notification if it still has `expected_updated_at` (`Stale` otherwise,
    /// `NotFound` if it is gone).
    async fn update_notification(
        &self,
        notification: &Notification,
        expected_updated_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Deletes a notification and its recipients; `false` when there was no notification (its
    /// leftover recipients, if an earlier delete was interrupted, are removed all the same).
    async fn delete_notification(&self, org: &OrgId, id: &NotificationId) -> StoreResult<bool>;

    /// The users with these ids that exist (any order; batched reads).
    async fn get_users(&self, org: &OrgId, ids: &[Uuid]) -> StoreResult<Vec<User>>;
    /// The users with these emails that exist (any order; batched reads).
    async fn find_users_by_email(&self, org: &OrgId, emails: &[Email]) -> StoreResult<Vec<User>>;

    /// The recipients of a notification with these ids that exist (any order; batched reads of
    /// up to 100 keys, run concurrently).
    async fn get_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        ids: &[Uuid],
    ) -> StoreResult<Vec<Recipient>>;
    /// Writes (creates or replaces) recipients, in batches of 25 run concurrently, retrying what
    /// DynamoDB leaves unprocessed. Idempotent: an interrupted call repeated converges.
    async fn put_recipients(&self, recipients: &[Recipient]) -> StoreResult<()>;
    /// A notification's recipients in id order: the page the delivery engine fans out over.
    async fn list_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        page: &PageRequest,
    ) -> StoreResult<Page<Recipient>>;
    /// Removes one recipient; `false` when there was none.
    async fn delete_recipient(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        id: Uuid,
    ) -> StoreResult<bool>;

    /// The organization's settings (one read); `None` for an unknown organization.
    async fn get_settings(&self, org: &OrgId) -> StoreResult<Option<Settings>>;
    /// Sets the fields of `patch` (leaving every other attribute of the item alone) and stamps
    /// `updated_at = now`, as one conditional update. `Refused` when the patch needs a production
    /// organization and this one is not; `NotFound` for an unknown organization.
    async fn update_settings(
        &self,
        org: &OrgId,
        patch: &SettingsPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Settings>;
    /// Removes seed 003's fields (back to their defaults) and stamps `updated_at = now`.
    async fn reset_settings(&self, org: &OrgId, now: OffsetDateTime) -> StoreResult<Settings>;

    /// Takes one SMS of `user`'s quota for `day`: one atomic conditional increment (`count <
    /// limit`), never past the limit however many senders race. `false` when the quota is spent
    /// (always with `limit` 0). Counters expire by TTL a few days after their day.
    async fn take_sms(&self, org: &OrgId, user: Uuid, day: Date, limit: u32) -> StoreResult<bool>;
    /// Every SMS counter of `day`, all organizations (the quota-reset job's input).
    async fn sms_counters(&self, day: Date) -> StoreResult<Vec<SmsCounter>>;
    /// Records a day's usage summary unless one is already recorded (`false` then).
    async fn record_sms_usage(&self, usage: &SmsUsage) -> StoreResult<bool>;
    async fn sms_usage(&self, org: &OrgId, day: Date) -> StoreResult<Option<SmsUsage>>;
    async fn delete_sms_counters(&self, counters: &[SmsCounter]) -> StoreResult<()>;

    /// Sets seed 002's `notifier_paused` as one conditional write; `false` (nothing written) when
    /// it already had that value. `NotFound` for an unknown organization.
    async fn set_notifier_paused(&self, org: &OrgId, paused: bool) -> StoreResult<bool>;

    /// The templates `user` has a preference for, by template id.
    async fn get_preferences(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<Preference>>;
    /// Merges `changes` (template id → disabled) into `user`'s preferences: the ones that change
    /// are written together (all or none), stamped `now`; returns them all, by template id.
    async fn set_preferences(
        &self,
        org: &OrgId,
        user: Uuid,
        changes: &[(Uuid, bool)],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Preference>>;
    /// Which of `users` set a preference for `template`, and what (`true` = disabled): one
    /// batched read (100 users per BatchGetItem). Users without a preference are absent.
    async fn template_preferences(
        &self,
        org: &OrgId,
        template: Uuid,
        users: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, bool>>;

    /// The delivery `id` created at `created_at` (its place in the log), if it is recorded.
    async fn get_delivery(
        &self,
        org: &OrgId,
        created_at: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Option<Delivery>>;

    /// Records an event, and its idempotency key (kept until `key_expires`) when it has one, in
    /// one transaction.
    async fn create_event(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
    ) -> StoreResult<EventCreated>;
    async fn get_event(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Event>>;
    /// Removes an event that could not be enqueued, and its idempotency key.
    async fn delete_event(&self, event: &Event) -> StoreResult<()>;

    /// Records deliveries settled at birth (the fan-out's `skipped` ones; BatchWriteItem, 25 per
    /// call). Writing one again writes the same.
    async fn put_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<()>;
    /// Claims a delivery for sending, by one conditional write that also records it if it is not
    /// yet (a queued delivery exists only as its message until then): new, `queued`, or
    /// `sending` with an expired lease becomes `sending` until `lease_until`, one more attempt.
    async fn claim_delivery(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Claim>;
    /// Deliveries newest first (by [`Delivery::list_key`]), filtered; `page.after` is the list key
    /// of the last one seen.
    async fn list_deliveries(
        &self,
        org: &OrgId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>>;
    /// A `held` delivery back to `queued` (`false` if it was not held).
    async fn release_held(&self, delivery: &Delivery) -> StoreResult<bool>;
    /// Ends a claim: only the holder of the lease `lease_until` may (`false` otherwise).
    async fn settle_delivery(
        &self,
        delivery: &Delivery,
        lease_until: OffsetDateTime,
        outcome: &Outcome,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}
