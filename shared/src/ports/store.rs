//! Storage: one trait per resource, and [`Store`], which is all of them; the records are
//! [`crate::model`]'s. Two implementations: [`crate::adapters::dynamodb::DynamoStore`] (one table)
//! and [`crate::adapters::sqlite::Sqlite`] (one database file, the embedded backend: the same
//! semantics, durable). The contract suite in `tests/e2e/store_contract.rs` runs every assertion
//! against both.

use std::collections::HashMap;

use async_trait::async_trait;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::model::Attempt;
use crate::model::{
    Burial, Claim, Delivery, DeliveryFilter, Email, Event, EventCreated, Limits, Notification,
    NotificationId, OperationalWebhook, OrgId, Organization, Outcome, Preference, Recipient, Role,
    Settings, SettingsPatch, SmsCounter, SmsUsage, TokenId, TokenRecord, User, Username,
};

pub use super::page::{Page, PageRequest};

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

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("already exists: {0:?}")]
    Conflict(Vec<Unique>),
    #[error("the organization holds its maximum number of notifications")]
    LimitReached,
    /// The change would leave the organization without an admin.
    #[error("the organization's last admin")]
    LastAdmin,
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

/// Organizations, each created with its first admin and that admin's token.
#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// Creates an organization with its first admin and that admin's token, all or nothing.
    /// An existing id is `Conflict([OrganizationId])`.
    async fn create_organization(
        &self,
        org: &Organization,
        admin: &User,
        token: &TokenRecord,
    ) -> StoreResult<()>;

    async fn get_organization(&self, id: &OrgId) -> StoreResult<Option<Organization>>;

    /// Sets the organization's limits; `NotFound` when there is no such organization.
    async fn set_limits(&self, id: &OrgId, limits: Limits) -> StoreResult<Organization>;
}

/// An organization's users.
#[async_trait]
pub trait UserStore: Send + Sync {
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

    /// The users with these ids that exist (any order; batched reads).
    async fn get_users(&self, org: &OrgId, ids: &[Uuid]) -> StoreResult<Vec<User>>;

    /// The users with these emails that exist (any order; batched reads).
    async fn find_users_by_email(&self, org: &OrgId, emails: &[Email]) -> StoreResult<Vec<User>>;

    /// Gives the user `roles`, and their tokens the same copy, in one transaction. `NotFound`
    /// when there is no such user; `LastAdmin` when the user is the organization's only admin
    /// and `roles` lacks `admin` (checked in the transaction: two admins demoting each other at
    /// once cannot both succeed).
    async fn set_user_roles(&self, org: &OrgId, id: Uuid, roles: &[Role]) -> StoreResult<User>;

    /// Deletes the user with their username, email, tokens (every one stops working at once),
    /// preferences and places among notifications' recipients. `false` when there was none;
    /// `LastAdmin` when they are the organization's only admin.
    async fn delete_user(&self, org: &OrgId, id: Uuid) -> StoreResult<bool>;
}

/// An organization's tokens (never their secrets).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a token; an id already used is `Conflict([TokenId])`.
    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()>;

    async fn get_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<Option<TokenRecord>>;

    /// Revokes (deletes) a token; `false` when there was none.
    async fn delete_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<bool>;

    /// The organization's tokens in id order.
    async fn list_tokens(&self, org: &OrgId, page: &PageRequest) -> StoreResult<Page<TokenRecord>>;

    /// The tokens of one user (any order).
    async fn user_tokens(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<TokenRecord>>;

    /// Records that the token authenticated a request at `at`, unless it already records a use
    /// less than [`TokenRecord::LAST_USED_EVERY`] before (a conditional write: concurrent
    /// requests write it once). A token revoked meanwhile stays revoked.
    async fn record_token_use(
        &self,
        org: &OrgId,
        id: &TokenId,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
}

/// An organization's notifications (at most `max` of them).
#[async_trait]
pub trait NotificationStore: Send + Sync {
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
}

/// The send slots of rate-limited targets (the sender's pacing).
#[async_trait]
pub trait SendSlots: Send + Sync {
    /// Reserves the next `count` send slots of the rate-limited notification `id`'s target, in
    /// one atomic step across every sender: the first is the later of `earliest` and the slot
    /// after the last one reserved, the others follow `spacing` apart. Returns the first.
    async fn reserve_send_slot(
        &self,
        org: &OrgId,
        id: &NotificationId,
        earliest: OffsetDateTime,
        spacing: std::time::Duration,
        count: u32,
    ) -> StoreResult<OffsetDateTime>;
}

/// A send slot as the stores keep it: microseconds since the Unix epoch.
pub(crate) fn slot_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// The slot that [`slot_micros`] kept.
pub(crate) fn slot_time(micros: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|e| StoreError::Corrupt(format!("send slot: {e}")))
}

/// A spacing in microseconds (at least one).
pub(crate) fn spacing_micros(spacing: std::time::Duration) -> i64 {
    i64::try_from(spacing.as_micros())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// An organization's operational webhook (one per organization).
#[async_trait]
pub trait OperationalWebhookStore: Send + Sync {
    /// Sets the organization's operational webhook: a new one with `hook`'s secret, or the
    /// existing one given `hook`'s URL and events, keeping its secret and creation time (one
    /// conditional write each). The webhook as stored, and whether it was created.
    async fn put_operational_webhook(
        &self,
        hook: &OperationalWebhook,
    ) -> StoreResult<(OperationalWebhook, bool)>;
    async fn get_operational_webhook(&self, org: &OrgId)
    -> StoreResult<Option<OperationalWebhook>>;
    /// `false` when there was none.
    async fn delete_operational_webhook(&self, org: &OrgId) -> StoreResult<bool>;
}

/// The recipients of email and SMS notifications (the recipients API).
#[async_trait]
pub trait RecipientStore: Send + Sync {
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
}

/// An organization's settings (the settings API), its notifier pause (the admin API) and its users' SMS quota
/// counters.
#[async_trait]
pub trait SettingsStore: Send + Sync {
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

    /// Removes the settings API's fields (back to their defaults) and stamps `updated_at = now`.
    async fn reset_settings(&self, org: &OrgId, now: OffsetDateTime) -> StoreResult<Settings>;

    /// Sets the admin API's `notifier_paused` as one conditional write; `false` (nothing written) when
    /// it already had that value. `NotFound` for an unknown organization.
    async fn set_notifier_paused(&self, org: &OrgId, paused: bool) -> StoreResult<bool>;
}

/// Users' daily SMS quota counters and the closed days' usage summaries.
#[async_trait]
pub trait SmsQuotaStore: Send + Sync {
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
}

/// Users' notification preferences (the admin API).
#[async_trait]
pub trait PreferenceStore: Send + Sync {
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
}

/// A request's idempotency key as stored beside events' keys: prefixed by a control character,
/// which an event's key (printable ASCII) cannot hold, so the two never meet.
pub fn request_key(key: &str) -> String {
    format!("\u{1f}{key}")
}

/// Events, and the idempotency keys of events and other requests.
#[async_trait]
pub trait EventStore: Send + Sync {
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

    /// Takes the idempotency key `key` of a request that queues one delivery (a test
    /// notification's; its own namespace, [`request_key`]) for `delivery` until `expires`, and
    /// records the delivery `queued` in the same transaction (marked for the relay where the
    /// store has an outbox; on the embedded database the row is its own queue entry, visible at
    /// once): `None` when the key was free at `now`, or the id of the delivery it already names
    /// (a replay: nothing is written).
    async fn take_request_key(
        &self,
        key: &str,
        delivery: &Delivery,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>>;

    /// Undoes [`Self::take_request_key`] (its message could not be queued): frees the key if it
    /// still names `delivery`, and removes the delivery while it is still `queued`.
    async fn free_request_key(&self, key: &str, delivery: &Delivery) -> StoreResult<()>;

    /// Records how far `event`'s fan-out has come (an event that is gone is left alone).
    async fn record_fanout(
        &self,
        org: &OrgId,
        event: Uuid,
        progress: FanoutProgress,
    ) -> StoreResult<()>;

    /// Opens `event`'s failed fan-out again (`fanout/retry`): `pending` again, one more round,
    /// marked for the relay as of `now` where the store has an outbox. `false` when its fan-out
    /// is not `failed` (or the event is gone).
    async fn reopen_fanout(
        &self,
        org: &OrgId,
        event: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// What a fan-out job records on its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanoutProgress {
    /// Its first job was taken and it goes on in further jobs: its message is no longer the
    /// relay's to send (SQS redelivers the jobs from here).
    Taken,
    /// Every delivery is made: `deliveries` in all.
    Done { deliveries: u64 },
    /// A job of its fan-out's `round` ran out of retries (its dead letter was drained): recorded
    /// only while that round is `pending` (a letter of an earlier round, or of a fan-out done
    /// meanwhile, changes nothing).
    Failed { round: u32 },
}

/// The delivery log: deliveries found by their key or id, listed, and the failed ones of a
/// notification (recover's input).
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// The delivery `id` created at `created_at` (its place in the log), if it is recorded.
    async fn get_delivery(
        &self,
        org: &OrgId,
        created_at: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Option<Delivery>>;

    /// The delivery `id` of `org`, found by its id alone. On DynamoDB through an eventually
    /// consistent index: a delivery recorded a moment ago may not be found yet.
    async fn find_delivery(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Delivery>>;

    /// Deliveries newest first (by [`Delivery::list_key`]), filtered; `page.after` is the list key
    /// of the last one seen.
    async fn list_deliveries(
        &self,
        org: &OrgId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>>;

    /// `notification`'s `failed` deliveries created from `since` to `until` (both included),
    /// oldest first, after the list key `page.after`: recover's input. SQLite reads a partial
    /// index; DynamoDB the sparse keys-only index `deliveries-failed`, then the items themselves
    /// (consistently: one queued again meanwhile is left out).
    async fn failed_deliveries(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>>;
}

/// Deliveries' states as the workers move them: recorded at birth, claimed and settled by the
/// sender, released after a pause, queued again (resend, recover), failed by the dead-letter pass.
#[async_trait]
pub trait DeliveryLedger: Send + Sync {
    /// Records deliveries settled at birth (the fan-out's `skipped` ones; BatchWriteItem, 25 per
    /// call). Writing one again writes the same.
    async fn put_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<()>;

    /// Claims deliveries for sending, each by one conditional write that also records it if it
    /// is not yet (a queued delivery exists only as its message until then): new, `queued`,
    /// `held` (its message comes from the resume job, or is a repeat: the sender holds it again
    /// while the notifier is paused), or `sending` with an expired lease becomes `sending` until
    /// `lease_until`, one more attempt.
    /// One answer per delivery, in order. SQLite claims them all in one transaction; DynamoDB
    /// with one UpdateItem each, at once.
    async fn claim_deliveries(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Vec<StoreResult<Claim>>;

    /// Ends claims: only the holder of a delivery's lease may end it (`false` otherwise). One
    /// answer per settlement, in order; SQLite settles them all in one transaction, DynamoDB with
    /// one UpdateItem each, at once.
    async fn settle_deliveries(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Vec<StoreResult<bool>>;

    /// `held` deliveries back to `queued` (`false` for one that was not held), in order: SQLite
    /// in one transaction, DynamoDB with one UpdateItem each, at once.
    async fn release_held_all(&self, deliveries: &[Delivery]) -> Vec<StoreResult<bool>>;

    /// Puts settled deliveries (as read: `sent` or `failed`) back to `queued` for one more
    /// round, their attempts counted afresh: one conditional write each (unchanged since read),
    /// `true` where it was made. Queueing their messages is the intake's
    /// (`EventIntake::requeue`, in the intake), which calls this.
    async fn requeue_deliveries(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
    ) -> Vec<StoreResult<bool>>;

    /// Marks the deliveries of messages that reached the dead-letter queue `failed` with
    /// `error`: one not yet recorded is recorded so, one `queued`, `held` or with an expired
    /// lease in the message's round becomes `failed`; a settled one, or one queued again in a
    /// later round, is left alone. One answer per delivery, in order.
    async fn bury_deliveries(
        &self,
        deliveries: &[Delivery],
        error: &str,
        now: OffsetDateTime,
    ) -> Vec<StoreResult<Burial>>;

    /// [`DeliveryLedger::claim_deliveries`] of one delivery.
    async fn claim_delivery(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        only(
            self.claim_deliveries(std::slice::from_ref(delivery), now, lease_until)
                .await,
        )
    }

    /// [`DeliveryLedger::settle_deliveries`] of one delivery.
    async fn settle_delivery(
        &self,
        delivery: &Delivery,
        lease_until: OffsetDateTime,
        outcome: &Outcome,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let settlement = Settlement {
            delivery: delivery.clone(),
            lease_until,
            outcome: outcome.clone(),
            attempt: None,
        };
        only(self.settle_deliveries(&[settlement], now).await)
    }

    /// [`DeliveryLedger::release_held_all`] of one delivery.
    async fn release_held(&self, delivery: &Delivery) -> StoreResult<bool> {
        only(self.release_held_all(std::slice::from_ref(delivery)).await)
    }
}

/// How one claimed delivery ended, to be recorded by the holder of its lease, with the attempt
/// that ended it (added to the delivery's history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub delivery: Delivery,
    pub lease_until: OffsetDateTime,
    pub outcome: Outcome,
    pub attempt: Option<Attempt>,
}

/// The one answer of a batch call made with one item.
fn only<T>(mut answers: Vec<StoreResult<T>>) -> StoreResult<T> {
    answers
        .pop()
        .unwrap_or_else(|| Err(StoreError::Corrupt("a batch call gave no answer".into())))
}

/// Everything the API and the workers keep: each backend implements every resource's trait.
pub trait Store:
    OrganizationStore
    + UserStore
    + TokenStore
    + NotificationStore
    + SendSlots
    + RecipientStore
    + SettingsStore
    + SmsQuotaStore
    + PreferenceStore
    + EventStore
    + DeliveryLog
    + DeliveryLedger
    + OperationalWebhookStore
    + crate::ports::outbox::Outbox
    + crate::ports::limits::LimitCounters
    + 'static
{
}

impl<T> Store for T where
    T: OrganizationStore
        + UserStore
        + TokenStore
        + NotificationStore
        + SendSlots
        + RecipientStore
        + SettingsStore
        + SmsQuotaStore
        + PreferenceStore
        + EventStore
        + DeliveryLog
        + DeliveryLedger
        + OperationalWebhookStore
        + crate::ports::outbox::Outbox
        + crate::ports::limits::LimitCounters
        + 'static
{
}
