//! The table's key layout on one page: one table, `pk` + `sk` strings, a `ttl` attribute.
//!
//! Every partition key starts with the tenant: `ORG#<org>`. Items of an organization:
//!
//! | sk | item |
//! |---|---|
//! | `ORG` | the organization, and `notificationCount` (the limit of 100) |
//! | `USER#<uuid>` | a user |
//! | `USERNAME#<lowercase username>` | `{userId}`: makes usernames unique |
//! | `EMAIL#<email>` | `{userId}`: makes emails unique |
//! | `TOKEN#<token id>` | a token (its hash, never the secret) |
//! | `NOTIF#<notification id>` | a notification |
//! | `PACE#<notification id>` | a rate-limited target's next free send slot (`nextSlot`, µs), with a `ttl` |
//! | `OPHOOK` | the operational webhook |
//! | `RATE#<Unix second>` | `n`: the events accepted in that second (the `eventsPerSecond` limit), with a `ttl` of two minutes |
//! | `DAILY#<email or sms>#<day>` | `n`: the emails or SMS sent that UTC day (the daily limits), with a `ttl` four days after it began |
//!
//! One item outside every tenant: `HERALD` / `DATAKEY`, the KMS-encrypted data key that seals
//! secrets at rest (`adapters/kms.rs`).
//!
//! Settings (of the settings API and the admin API) are attributes of the `ORG` item, each written by an update
//! expression of its own API. An SMS counter is `ORG#<org>#SMS#<day>` / `USER#<user id>` with a
//! TTL; the sparse index `sms-day` (hash `smsDay` = `<day>#<shard 0-7>`) lets the quota-reset job
//! find one day's counters across organizations without a scan or a hot index partition. A closed
//! day's usage summary is `ORG#<org>` / `SMSUSAGE#<day>`.
//!
//! A notification's recipients have their own partition, `ORG#<org>#NOTIF#<id>`, sort key
//! `RCPT#<recipient id>`: fan-out pages through it without touching the tenant's other items.
//!
//! Events and deliveries, each with a `ttl` of its creation + `HERALD_RETENTION_DAYS`:
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `ORG#<org>#EVENT#<id>` | `EVENT` | an event |
//! | `ORG#<org>` | `IDEM#<key>` | an idempotency key: the event it names, its 24 h as `ttl` |
//! | `ORG#<org>#DELIVERIES` | `<created at>#<id>` | a delivery: the organization's log, in time order |
//!
//! The sparse keys-only index `deliveries-held` (hash `heldOrg`) holds only `held` deliveries;
//! `deliveries-failed` (hash `failedKey` = `<org>#<notification>`, range `sk`) only `failed` ones,
//! by notification and time (recover's input);
//! the sparse keys-only index `outbox` (hash `outboxShard` = `0`–`7`, range `outboxAt`) holds
//! only what was recorded as needing a queue message not known to be received yet: an event
//! until its first fan-out job is taken, a delivery queued again (resend, recover) or queued with
//! a test notification's idempotency key until the sender claims it (the relay's input, swept
//! each minute);
//! the keys-only index `delivery-id` (hash `deliveryId` = `<org>#<id>`, set when a delivery is
//! recorded) finds one by its id alone.

use uuid::Uuid;

use aws_sdk_dynamodb::types::AttributeValue as Av;

use super::{Item, item, key};
use crate::model::Delivery;
use crate::model::{NotificationId, OrgId, day as day_fmt};
use crate::ports::store::StoreResult;

/// Shards of the `sms-day` index.
pub(super) const SMS_DAY_SHARDS: u32 = 8;

pub(super) const SMS_DAY_INDEX: &str = "sms-day";

/// An organization's `held` deliveries (the resume job's input): `heldOrg` / `sk`, keys only, set
/// only while held.
pub(super) const DELIVERIES_HELD: &str = "deliveries-held";

/// A notification's `failed` deliveries in time order (recover's input): `failedKey` / `sk`,
/// keys only, set only while failed.
pub(super) const DELIVERIES_FAILED: &str = "deliveries-failed";

/// The `failedKey` of a failed delivery of `notification` (the hash of [`DELIVERIES_FAILED`]).
pub(super) fn failed_key(org: &OrgId, notification: &NotificationId) -> String {
    format!("{org}#{notification}")
}

/// A delivery by its id alone: `deliveryId` (`<org>#<id>`), keys only.
pub(super) const DELIVERY_ID_INDEX: &str = "delivery-id";

/// The `deliveryId` of delivery `id` of `org` (the hash of [`DELIVERY_ID_INDEX`]).
pub(super) fn delivery_id_key(org: &OrgId, id: Uuid) -> String {
    format!("{org}#{id}")
}

/// Counters expire this long after their day begins (DynamoDB TTL).
pub(super) const SMS_COUNTER_TTL: time::Duration = time::Duration::days(4);

pub(super) const NOT_EXISTS: &str = "attribute_not_exists(pk)";

pub(super) const EXISTS: &str = "attribute_exists(pk)";

pub(super) fn pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

pub(super) fn recipients_pk(org: &OrgId, notification: &NotificationId) -> String {
    format!("ORG#{org}#NOTIF#{notification}")
}

/// A user's preference for one template: on the organization's partition, so a user's list is
/// one Query and "these users, template T" one BatchGetItem.
pub(super) fn preference_sk(user: Uuid, template: Uuid) -> String {
    format!("PREF#{user}#{template}")
}

/// An organization's delivery log is one item collection, sorted newest-last by
/// [`Delivery::list_key`]: listing it (all, or one event's range) is one Query of the table
/// itself, with no index to write. The cost of that: one partition key per organization, which
/// DynamoDB serves at 1,000 write units/s (about 500 deliveries/s, each claimed and settled) before
/// it splits it; an organization that needs more needs the key sharded.
pub(super) fn deliveries_pk(org: &OrgId) -> String {
    format!("ORG#{org}#DELIVERIES")
}

pub(super) fn delivery_key(d: &Delivery) -> Item {
    key(deliveries_pk(&d.organization), d.list_key())
}

pub(super) fn delivery_item(d: &Delivery) -> StoreResult<Item> {
    let mut item = item(deliveries_pk(&d.organization), d.list_key(), d)?;
    item.insert(
        "deliveryId".into(),
        Av::S(delivery_id_key(&d.organization, d.id)),
    );
    if d.status == crate::model::DeliveryStatus::Failed
        && let Some(notification) = d.notification_id()
    {
        item.insert(
            "failedKey".into(),
            Av::S(failed_key(&d.organization, notification)),
        );
    }
    Ok(item)
}

/// The attributes a delivery is born with (the claim writes them only if it creates the record;
/// the others are its state).
pub(super) const DELIVERY_STATE: [&str; 7] = [
    "status",
    "attempts",
    "lastError",
    "reason",
    "leaseUntil",
    "updatedAt",
    "round",
];

/// Each event is its own partition, like each delivery.
pub(super) fn event_pk(org: &OrgId, id: Uuid) -> String {
    format!("ORG#{org}#EVENT#{id}")
}

/// An idempotency key, on the organization's partition: `{eventId, bodyHash, expiresAt, ttl}`.
pub(super) fn idempotency_sk(key: &str) -> String {
    format!("IDEM#{key}")
}

pub(super) fn sms_pk(org: &OrgId, day: time::Date) -> String {
    format!("ORG#{org}#SMS#{}", day_fmt::format(day))
}

/// What still needs its queue message, across organizations, by when it was marked (the relay's
/// input): `outboxShard` / `outboxAt`, keys only, set only while the mark holds.
pub(super) const OUTBOX_INDEX: &str = "outbox";

/// Shards of the [`OUTBOX_INDEX`]: its writes spread over eight partitions.
pub(super) const OUTBOX_SHARDS: u32 = 8;

/// The attributes that put the record `id` in the [`OUTBOX_INDEX`] as of `at`.
pub(super) fn outbox_mark(id: Uuid, at: time::OffsetDateTime) -> [(String, Av); 2] {
    let shard = u32::from(id.as_bytes()[15]) % OUTBOX_SHARDS;
    [
        ("outboxShard".to_owned(), Av::S(shard.to_string())),
        (
            "outboxAt".to_owned(),
            Av::S(crate::model::timestamp::format(at)),
        ),
    ]
}

pub(super) fn sms_shard(user: Uuid) -> u32 {
    u32::from(user.as_bytes()[15]) % SMS_DAY_SHARDS
}
