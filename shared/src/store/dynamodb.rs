//! The DynamoDB store: one table, `pk` + `sk` strings, a `ttl` attribute.
//!
//! Every partition key starts with the tenant: `ORG#<org>`. Items of an organization:
//!
//! | sk | item |
//! |---|---|
//! | `ORG` | the organization, and `notificationCount` (the limit of SPEC §3) |
//! | `USER#<uuid>` | a user |
//! | `USERNAME#<lowercase username>` | `{userId}`: makes usernames unique |
//! | `EMAIL#<email>` | `{userId}`: makes emails unique |
//! | `TOKEN#<token id>` | a token (its hash, never the secret) |
//! | `NOTIF#<notification id>` | a notification |
//!
//! Settings (seeds 003 and 002) are attributes of the `ORG` item, each written by an update
//! expression of its own API. An SMS counter is `ORG#<org>#SMS#<day>` / `USER#<user id>` with a
//! TTL; the sparse index `sms-day` (hash `smsDay` = `<day>#<shard 0-7>`) lets the quota-reset job
//! find one day's counters across organizations without a scan or a hot index partition. A closed
//! day's usage summary is `ORG#<org>` / `SMSUSAGE#<day>`.
//!
//! A notification's recipients have their own partition, `ORG#<org>#NOTIF#<id>`, sort key
//! `RCPT#<recipient id>`: fan-out pages through it without touching the tenant's other items.
//!
//! Uniqueness and limits are conditions inside one `TransactWriteItems`, never read-then-write.
//! Reads are strongly consistent: a revoked token stops working at once, and a client reads its
//! own writes.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest,
    ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
    WriteRequest,
};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Claim, Delivery, DeliveryFilter, Event, EventCreated, Notification, Organization, Outcome,
    Page, PageRequest, Preference, Recipient, Settings, SettingsPatch, SmsCounter, SmsUsage, Store,
    StoreError, StoreResult, TokenRecord, Unique, User,
};
use crate::model::{
    DeliveryMode, Email, Language, NotificationId, OrgId, OrgKind, TokenId, Username,
    day as day_fmt, timestamp,
};

type Item = HashMap<String, Av>;

/// DynamoDB's batch limits, and how many batches run at once.
const BATCH_GET_MAX: usize = 100;
const BATCH_WRITE_MAX: usize = 25;
const BATCH_CONCURRENCY: usize = 8;
/// Rounds of retrying what a batch left unprocessed (throttling), with exponential backoff.
const BATCH_ATTEMPTS: u32 = 8;

/// Shards of the `sms-day` index.
const SMS_DAY_SHARDS: u32 = 8;
const SMS_DAY_INDEX: &str = "sms-day";
/// An organization's `held` deliveries (the resume job's input): `heldOrg` / `sk`, keys only, set
/// only while held.
const DELIVERIES_HELD: &str = "deliveries-held";
/// Counters expire this long after their day begins (DynamoDB TTL).
const SMS_COUNTER_TTL: time::Duration = time::Duration::days(4);

const NOT_EXISTS: &str = "attribute_not_exists(pk)";
const EXISTS: &str = "attribute_exists(pk)";

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

fn recipients_pk(org: &OrgId, notification: &NotificationId) -> String {
    format!("ORG#{org}#NOTIF#{notification}")
}

/// A user's preference for one template: on the organization's partition, so a user's list is
/// one Query and "these users, template T" one BatchGetItem.
fn preference_sk(user: Uuid, template: Uuid) -> String {
    format!("PREF#{user}#{template}")
}

/// An organization's delivery log is one item collection, sorted newest-last by
/// [`Delivery::list_key`]: listing it (all, or one event's range) is one Query of the table
/// itself, with no index to write. The cost of that: one partition key per organization, which
/// DynamoDB serves at 1,000 write units/s (about 500 deliveries/s, each claimed and settled) before
/// it splits it; an organization that needs more needs the key sharded.
fn deliveries_pk(org: &OrgId) -> String {
    format!("ORG#{org}#DELIVERIES")
}

fn delivery_key(d: &Delivery) -> Item {
    key(deliveries_pk(&d.organization), d.list_key())
}

fn delivery_item(d: &Delivery) -> StoreResult<Item> {
    item(deliveries_pk(&d.organization), d.list_key(), d)
}

/// The attributes a delivery is born with (the claim writes them only if it creates the record;
/// the others are its state).
const DELIVERY_STATE: [&str; 6] = [
    "status",
    "attempts",
    "lastError",
    "reason",
    "leaseUntil",
    "updatedAt",
];

/// Each event is its own partition, like each delivery.
fn event_pk(org: &OrgId, id: Uuid) -> String {
    format!("ORG#{org}#EVENT#{id}")
}

/// An idempotency key, on the organization's partition: `{eventId, bodyHash, expiresAt, ttl}`.
fn idempotency_sk(key: &str) -> String {
    format!("IDEM#{key}")
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyItem {
    event_id: Uuid,
    #[serde(with = "timestamp")]
    expires_at: OffsetDateTime,
    ttl: i64,
}

fn sms_pk(org: &OrgId, day: time::Date) -> String {
    format!("ORG#{org}#SMS#{}", day_fmt::format(day))
}

fn sms_shard(user: Uuid) -> u32 {
    u32::from(user.as_bytes()[15]) % SMS_DAY_SHARDS
}

/// The settings attributes of the `ORG` item.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsItem {
    kind: OrgKind,
    #[serde(with = "timestamp")]
    created_at: OffsetDateTime,
    #[serde(default)]
    sms_daily_quota: Option<u32>,
    #[serde(default)]
    delivery_mode: Option<DeliveryMode>,
    #[serde(default)]
    whitelist: Option<Vec<Uuid>>,
    #[serde(default)]
    default_language: Option<Language>,
    #[serde(default, with = "timestamp::option")]
    settings_updated_at: Option<OffsetDateTime>,
    #[serde(default)]
    notifier_paused: bool,
}

impl From<SettingsItem> for Settings {
    fn from(i: SettingsItem) -> Self {
        Settings {
            kind: i.kind,
            sms_daily_quota: i.sms_daily_quota,
            delivery_mode: i.delivery_mode,
            whitelist: i.whitelist,
            default_language: i.default_language,
            updated_at: i.settings_updated_at.unwrap_or(i.created_at),
            notifier_paused: i.notifier_paused,
        }
    }
}

fn value<T: Serialize>(v: &T) -> StoreResult<Av> {
    serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25u64 << attempt.min(6))
}

/// A string attribute of an item.
fn string(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(Av::S(s)) => Some(s.clone()),
        _ => None,
    }
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_owned(), Av::S(pk)), ("sk".to_owned(), Av::S(sk))])
}

/// A record as an item under `pk`/`sk`.
fn item<T: Serialize>(pk: String, sk: String, record: &T) -> StoreResult<Item> {
    let mut item: Item =
        serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.extend(key(pk, sk));
    Ok(item)
}

/// One put of a BatchWriteItem.
fn put_request(item: Item) -> StoreResult<WriteRequest> {
    let put = build(PutRequest::builder().set_item(Some(item)).build())?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn record<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

/// Whether a conditional write was refused by its condition (any operation's error type).
fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

fn build<T, E: Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| StoreError::Corrupt(format!("request build: {e}")))
}

/// Which items of a cancelled transaction failed their condition, by index.
enum TransactOutcome {
    Done,
    ConditionsFailed(Vec<usize>),
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A transaction item putting `item` if `condition` holds.
    fn put(&self, item: Item, condition: &str) -> StoreResult<TransactWriteItem> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Creates the table as `template.yaml` declares it (for the local server on `aws` and for
    /// tests against moto). An existing table is left as it is.
    pub async fn create_table_if_missing(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let schema = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let index = |name: &str, hash: &str, range: Option<&str>, projection| {
            let mut index = GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(build(schema(hash, KeyType::Hash))?)
                .projection(Projection::builder().projection_type(projection).build());
            if let Some(range) = range {
                index = index.key_schema(build(schema(range, KeyType::Range))?);
            }
            build(index.build())
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(build(attr("pk"))?)
            .attribute_definitions(build(attr("sk"))?)
            .attribute_definitions(build(attr("smsDay"))?)
            .attribute_definitions(build(attr("heldOrg"))?)
            .global_secondary_indexes(index(SMS_DAY_INDEX, "smsDay", None, ProjectionType::All)?)
            .global_secondary_indexes(index(
                DELIVERIES_HELD,
                "heldOrg",
                Some("sk"),
                ProjectionType::KeysOnly,
            )?)
            .key_schema(build(schema("pk", KeyType::Hash))?)
            .key_schema(build(schema("sk", KeyType::Range))?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(unavailable(e)),
        }
        let ttl = build(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build(),
        )?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<TransactOutcome> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(TransactOutcome::Done),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                    let failed: Vec<usize> = cancel
                        .cancellation_reasons()
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, _)| i)
                        .collect();
                    if failed.is_empty() {
                        // Cancelled for another reason (a conflicting transaction in flight):
                        // nothing was written, and the caller may retry.
                        Err(StoreError::Unavailable(DisplayErrorContext(e).to_string()))
                    } else {
                        Ok(TransactOutcome::ConditionsFailed(failed))
                    }
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn get<T: DeserializeOwned>(&self, pk: String, sk: String) -> StoreResult<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(record).transpose()
    }

    async fn exists(&self, pk: String, sk: String) -> StoreResult<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.is_some())
    }

    /// Up to `page.limit + 1` items whose sort key starts with `prefix`, after `page.after`,
    /// following DynamoDB's own pagination.
    async fn query_page<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<T>> {
        let want = page.limit + 1;
        let mut items: Vec<(String, T)> = Vec::with_capacity(want);
        let mut start = page
            .after
            .as_ref()
            .map(|a| key(pk.clone(), format!("{prefix}{a}")));
        loop {
            let limit = i32::try_from(want - items.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", Av::S(pk.clone()))
                .expression_attribute_values(":prefix", Av::S(prefix.to_owned()))
                .consistent_read(true)
                .limit(limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for it in out.items.unwrap_or_default() {
                let sk = match it.get("sk") {
                    Some(Av::S(sk)) => sk.strip_prefix(prefix).unwrap_or(sk).to_owned(),
                    _ => return Err(StoreError::Corrupt("item without sk".into())),
                };
                items.push((sk, record(it)?));
            }
            match out.last_evaluated_key {
                Some(next) if items.len() < want => start = Some(next),
                _ => break,
            }
        }
        let page = Page::from_overfetch(items, page.limit, |(k, _)| k.clone());
        Ok(Page {
            items: page.items.into_iter().map(|(_, v)| v).collect(),
            next: page.next,
        })
    }

    /// Reads `keys` (deduplicated by the caller) with BatchGetItem: 100 keys per call, calls run
    /// concurrently, unprocessed keys retried with backoff. Returns the items found, any order.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let chunks: Vec<Vec<Item>> = keys.chunks(BATCH_GET_MAX).map(<[Item]>::to_vec).collect();
        let pages: Vec<Vec<Item>> = stream::iter(chunks)
            .map(|chunk| self.batch_get_chunk(chunk))
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, mut keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for attempt in 0..BATCH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let request = build(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build(),
            )?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unavailable)?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => keys = rest.keys,
                _ => return Ok(found),
            }
        }
        Err(StoreError::Unavailable(
            "BatchGetItem left keys unprocessed after retries".into(),
        ))
    }

    /// Writes with BatchWriteItem: 25 requests per call, calls run concurrently, unprocessed
    /// items retried with backoff.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> StoreResult<()> {
        let chunks: Vec<Vec<WriteRequest>> = requests
            .chunks(BATCH_WRITE_MAX)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        stream::iter(chunks)
            .map(|chunk| self.batch_write_chunk(chunk))
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn batch_write_chunk(&self, mut requests: Vec<WriteRequest>) -> StoreResult<()> {
        for attempt in 0..BATCH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(unavailable)?;
            match out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(rest) if !rest.is_empty() => requests = rest,
                _ => return Ok(()),
            }
        }
        Err(StoreError::Unavailable(
            "BatchWriteItem left items unprocessed after retries".into(),
        ))
    }

    /// Deletes every recipient of a notification (page by page).
    async fn purge_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
    ) -> StoreResult<()> {
        let pk = recipients_pk(org, notification);
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", Av::S(pk.clone()))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            let deletes = out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|k| {
                    build(DeleteRequest::builder().set_key(Some(k)).build())
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            self.batch_write(deletes).await?;
            match out.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// One UpdateItem on the `ORG` item returning the settings after it; a failed condition is
    /// `Refused` when the organization exists, `NotFound` otherwise.
    async fn update_org_settings(
        &self,
        org: &OrgId,
        expression: String,
        condition: String,
        values: HashMap<String, Av>,
        names: HashMap<String, String>,
    ) -> StoreResult<Settings> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), "ORG".into())))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .set_expression_attribute_names(if names.is_empty() { None } else { Some(names) })
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                record::<SettingsItem>(out.attributes.unwrap_or_default()).map(Settings::from)
            }
            Err(e) if condition_failed(&e) => {
                if self.exists(pk(org), "ORG".into()).await? {
                    Err(StoreError::Refused)
                } else {
                    Err(StoreError::NotFound)
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn user_items(&self, user: &User) -> StoreResult<Vec<TransactWriteItem>> {
        let pk = pk(&user.organization);
        let pointer = |sk: String| -> StoreResult<Item> {
            let mut it = key(pk.clone(), sk);
            it.insert("userId".into(), Av::S(user.id.to_string()));
            Ok(it)
        };
        Ok(vec![
            self.put(
                item(pk.clone(), format!("USER#{}", user.id), user)?,
                NOT_EXISTS,
            )?,
            self.put(
                pointer(format!("USERNAME#{}", user.username.key()))?,
                NOT_EXISTS,
            )?,
            self.put(pointer(format!("EMAIL#{}", user.email))?, NOT_EXISTS)?,
        ])
    }

    fn org_exists_check(&self, org: &OrgId) -> StoreResult<TransactWriteItem> {
        let check = build(
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk(org), "ORG".into())))
                .condition_expression(EXISTS)
                .build(),
        )?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

/// Maps the failed indexes of a `[org check, user, username, email]` transaction.
fn user_conflicts(failed: &[usize], offset: usize) -> Vec<Unique> {
    let mut out = Vec::new();
    for i in failed {
        match i.checked_sub(offset) {
            Some(1) => out.push(Unique::Username),
            Some(2) => out.push(Unique::Email),
            _ => {}
        }
    }
    out
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_organization(
        &self,
        org: &Organization,
        admin: &User,
        token: &TokenRecord,
    ) -> StoreResult<()> {
        let pk = pk(&org.id);
        let mut org_item = item(pk.clone(), "ORG".into(), org)?;
        org_item.insert("notificationCount".into(), Av::N("0".into()));
        let mut items = vec![self.put(org_item, NOT_EXISTS)?];
        items.extend(self.user_items(admin)?);
        items.push(self.put(item(pk, format!("TOKEN#{}", token.id), token)?, NOT_EXISTS)?);
        match self.transact(items).await? {
            TransactOutcome::Done => Ok(()),
            TransactOutcome::ConditionsFailed(failed) if failed.contains(&0) => {
                Err(StoreError::Conflict(vec![Unique::OrganizationId]))
            }
            TransactOutcome::ConditionsFailed(failed) => {
                Err(StoreError::Conflict(user_conflicts(&failed, 0)))
            }
        }
    }

    async fn get_organization(&self, id: &OrgId) -> StoreResult<Option<Organization>> {
        self.get(pk(id), "ORG".into()).await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut items = vec![self.org_exists_check(&user.organization)?];
        items.extend(self.user_items(user)?);
        match self.transact(items).await? {
            TransactOutcome::Done => Ok(()),
            TransactOutcome::ConditionsFailed(failed) if failed.contains(&0) => {
                Err(StoreError::NotFound)
            }
            TransactOutcome::ConditionsFailed(failed) => {
                Err(StoreError::Conflict(user_conflicts(&failed, 1)))
            }
        }
    }

    async fn get_user(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<User>> {
        self.get(pk(org), format!("USER#{id}")).await
    }

    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> StoreResult<Option<User>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Pointer {
            user_id: Uuid,
        }
        let pointer: Option<Pointer> = self
            .get(pk(org), format!("USERNAME#{}", username.key()))
            .await?;
        match pointer {
            Some(p) => self.get_user(org, p.user_id).await,
            None => Ok(None),
        }
    }

    async fn list_users(&self, org: &OrgId, page: &PageRequest) -> StoreResult<Page<User>> {
        self.query_page(pk(org), "USER#", page).await
    }

    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let items = vec![
            self.org_exists_check(&token.organization)?,
            self.put(
                item(
                    pk(&token.organization),
                    format!("TOKEN#{}", token.id),
                    token,
                )?,
                NOT_EXISTS,
            )?,
        ];
        match self.transact(items).await? {
            TransactOutcome::Done => Ok(()),
            TransactOutcome::ConditionsFailed(failed) if failed.contains(&0) => {
                Err(StoreError::NotFound)
            }
            TransactOutcome::ConditionsFailed(_) => {
                Err(StoreError::Conflict(vec![Unique::TokenId]))
            }
        }
    }

    async fn get_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<Option<TokenRecord>> {
        self.get(pk(org), format!("TOKEN#{id}")).await
    }

    async fn delete_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), format!("TOKEN#{id}"))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn create_notification(&self, notification: &Notification, max: u32) -> StoreResult<()> {
        let pk = pk(&notification.organization);
        let count = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), "ORG".into())))
                .update_expression("SET notificationCount = if_not_exists(notificationCount, :zero) + :one")
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(notificationCount) OR notificationCount < :max)",
                )
                .expression_attribute_values(":zero", Av::N("0".into()))
                .expression_attribute_values(":one", Av::N("1".into()))
                .expression_attribute_values(":max", Av::N(max.to_string()))
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().update(count).build(),
            self.put(
                item(
                    pk.clone(),
                    format!("NOTIF#{}", notification.id),
                    notification,
                )?,
                NOT_EXISTS,
            )?,
        ];
        match self.transact(items).await? {
            TransactOutcome::Done => Ok(()),
            TransactOutcome::ConditionsFailed(failed) if failed.contains(&0) => {
                // The organization is missing or full; only the failure path pays this read.
                if self.exists(pk, "ORG".into()).await? {
                    Err(StoreError::LimitReached)
                } else {
                    Err(StoreError::NotFound)
                }
            }
            TransactOutcome::ConditionsFailed(_) => {
                Err(StoreError::Conflict(vec![Unique::NotificationId]))
            }
        }
    }

    async fn get_notification(
        &self,
        org: &OrgId,
        id: &NotificationId,
    ) -> StoreResult<Option<Notification>> {
        self.get(pk(org), format!("NOTIF#{id}")).await
    }

    async fn list_notifications(
        &self,
        org: &OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        self.query_page(pk(org), "NOTIF#", page).await
    }

    async fn update_notification(
        &self,
        notification: &Notification,
        expected_updated_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let pk = pk(&notification.organization);
        let sk = format!("NOTIF#{}", notification.id);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(pk.clone(), sk.clone(), notification)?))
            .condition_expression("attribute_exists(pk) AND updatedAt = :expected")
            .expression_attribute_values(":expected", Av::S(timestamp::format(expected_updated_at)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => {
                if self.exists(pk, sk).await? {
                    Err(StoreError::Stale)
                } else {
                    Err(StoreError::NotFound)
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete_notification(&self, org: &OrgId, id: &NotificationId) -> StoreResult<bool> {
        let pk = pk(org);
        let delete = build(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), format!("NOTIF#{id}"))))
                .condition_expression(EXISTS)
                .build(),
        )?;
        let count = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, "ORG".into())))
                .update_expression("ADD notificationCount :minus")
                .condition_expression(EXISTS)
                .expression_attribute_values(":minus", Av::N("-1".into()))
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        let deleted = match self.transact(items).await? {
            TransactOutcome::Done => true,
            TransactOutcome::ConditionsFailed(_) => false,
        };
        // After the notification, so that an interrupted purge leaves only recipients nothing
        // can reach, and a repeated DELETE (404) finishes it.
        self.purge_recipients(org, id).await?;
        Ok(deleted)
    }

    async fn get_users(&self, org: &OrgId, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        let keys = ids
            .iter()
            .map(|id| key(pk(org), format!("USER#{id}")))
            .collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(record)
            .collect()
    }

    async fn find_users_by_email(&self, org: &OrgId, emails: &[Email]) -> StoreResult<Vec<User>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Pointer {
            user_id: Uuid,
        }
        let keys = emails
            .iter()
            .map(|e| key(pk(org), format!("EMAIL#{e}")))
            .collect();
        let ids = self
            .batch_get(keys)
            .await?
            .into_iter()
            .map(|item| record::<Pointer>(item).map(|p| p.user_id))
            .collect::<StoreResult<Vec<Uuid>>>()?;
        self.get_users(org, &ids).await
    }

    async fn get_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        ids: &[Uuid],
    ) -> StoreResult<Vec<Recipient>> {
        let keys = ids
            .iter()
            .map(|id| key(recipients_pk(org, notification), format!("RCPT#{id}")))
            .collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(record)
            .collect()
    }

    async fn put_recipients(&self, recipients: &[Recipient]) -> StoreResult<()> {
        let puts = recipients
            .iter()
            .map(|r| {
                put_request(item(
                    recipients_pk(&r.organization, &r.notification),
                    format!("RCPT#{}", r.id),
                    r,
                )?)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(puts).await
    }

    async fn list_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        page: &PageRequest,
    ) -> StoreResult<Page<Recipient>> {
        self.query_page(recipients_pk(org, notification), "RCPT#", page)
            .await
    }

    async fn delete_recipient(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        id: Uuid,
    ) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                recipients_pk(org, notification),
                format!("RCPT#{id}"),
            )))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn get_settings(&self, org: &OrgId) -> StoreResult<Option<Settings>> {
        Ok(self
            .get::<SettingsItem>(pk(org), "ORG".into())
            .await?
            .map(Settings::from))
    }

    async fn update_settings(
        &self,
        org: &OrgId,
        patch: &SettingsPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Settings> {
        let mut sets = vec!["settingsUpdatedAt = :now".to_owned()];
        let mut values = HashMap::from([(":now".to_owned(), Av::S(timestamp::format(now)))]);
        let mut names = HashMap::new();
        if let Some(q) = patch.sms_daily_quota {
            sets.push("smsDailyQuota = :quota".into());
            values.insert(":quota".into(), Av::N(q.to_string()));
        }
        if let Some(m) = patch.delivery_mode {
            sets.push("deliveryMode = :mode".into());
            values.insert(":mode".into(), Av::S(m.as_str().into()));
        }
        if let Some(w) = &patch.whitelist {
            sets.push("whitelist = :whitelist".into());
            values.insert(":whitelist".into(), value(w)?);
        }
        if let Some(l) = patch.default_language {
            sets.push("defaultLanguage = :language".into());
            values.insert(":language".into(), Av::S(l.as_str().into()));
        }
        let mut condition = EXISTS.to_owned();
        if patch.needs_production() {
            condition.push_str(" AND #kind = :production");
            names.insert("#kind".into(), "kind".into());
            values.insert(
                ":production".into(),
                Av::S(OrgKind::Production.as_str().into()),
            );
        }
        self.update_org_settings(
            org,
            format!("SET {}", sets.join(", ")),
            condition,
            values,
            names,
        )
        .await
    }

    async fn reset_settings(&self, org: &OrgId, now: OffsetDateTime) -> StoreResult<Settings> {
        let values = HashMap::from([(":now".to_owned(), Av::S(timestamp::format(now)))]);
        self.update_org_settings(
            org,
            "SET settingsUpdatedAt = :now REMOVE smsDailyQuota, deliveryMode, whitelist, defaultLanguage".into(),
            EXISTS.into(),
            values,
            HashMap::new(),
        )
        .await
    }

    async fn take_sms(
        &self,
        org: &OrgId,
        user: Uuid,
        day: time::Date,
        limit: u32,
    ) -> StoreResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let day_text = day_fmt::format(day);
        let expires = day.midnight().assume_utc() + SMS_COUNTER_TTL;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(sms_pk(org, day), format!("USER#{user}"))))
            .update_expression(
                "SET #count = if_not_exists(#count, :zero) + :one, #ttl = :ttl, smsDay = :shard, \
                 organization = :org, userId = :user, #day = :day",
            )
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":zero", Av::N("0".into()))
            .expression_attribute_values(":one", Av::N("1".into()))
            .expression_attribute_values(":limit", Av::N(limit.to_string()))
            .expression_attribute_values(":ttl", Av::N(expires.unix_timestamp().to_string()))
            .expression_attribute_values(":shard", Av::S(format!("{day_text}#{}", sms_shard(user))))
            .expression_attribute_values(":org", Av::S(org.to_string()))
            .expression_attribute_values(":user", Av::S(user.to_string()))
            .expression_attribute_values(":day", Av::S(day_text))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn sms_counters(&self, day: time::Date) -> StoreResult<Vec<SmsCounter>> {
        let day_text = day_fmt::format(day);
        let shards: Vec<Vec<SmsCounter>> = stream::iter(0..SMS_DAY_SHARDS)
            .map(|shard| {
                let hash = format!("{day_text}#{shard}");
                async move {
                    let mut out = Vec::new();
                    let mut start: Option<Item> = None;
                    loop {
                        let page = self
                            .client
                            .query()
                            .table_name(&self.table)
                            .index_name(SMS_DAY_INDEX)
                            .key_condition_expression("smsDay = :d")
                            .expression_attribute_values(":d", Av::S(hash.clone()))
                            .set_exclusive_start_key(start)
                            .send()
                            .await
                            .map_err(unavailable)?;
                        for it in page.items.unwrap_or_default() {
                            out.push(record::<SmsCounter>(it)?);
                        }
                        match page.last_evaluated_key {
                            Some(next) => start = Some(next),
                            None => return Ok::<_, StoreError>(out),
                        }
                    }
                }
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(shards.into_iter().flatten().collect())
    }

    async fn record_sms_usage(&self, usage: &SmsUsage) -> StoreResult<bool> {
        let it = item(
            pk(&usage.organization),
            format!("SMSUSAGE#{}", day_fmt::format(usage.day)),
            usage,
        )?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it))
            .condition_expression(NOT_EXISTS)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn sms_usage(&self, org: &OrgId, day: time::Date) -> StoreResult<Option<SmsUsage>> {
        self.get(pk(org), format!("SMSUSAGE#{}", day_fmt::format(day)))
            .await
    }

    async fn delete_sms_counters(&self, counters: &[SmsCounter]) -> StoreResult<()> {
        let deletes = counters
            .iter()
            .map(|c| {
                let k = key(
                    sms_pk(&c.organization, c.day),
                    format!("USER#{}", c.user_id),
                );
                build(DeleteRequest::builder().set_key(Some(k)).build())
                    .map(|d| WriteRequest::builder().delete_request(d).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(deletes).await
    }

    async fn set_notifier_paused(&self, org: &OrgId, paused: bool) -> StoreResult<bool> {
        // Absent means `false`: pausing changes an absent or false value, resuming a true one.
        let condition = if paused {
            "attribute_exists(pk) AND (attribute_not_exists(notifierPaused) OR notifierPaused = :no)"
        } else {
            "attribute_exists(pk) AND notifierPaused = :yes"
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), "ORG".into())))
            .update_expression("SET notifierPaused = :paused")
            .condition_expression(condition)
            .expression_attribute_values(":paused", Av::Bool(paused))
            .expression_attribute_values(if paused { ":no" } else { ":yes" }, Av::Bool(!paused))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => {
                if self.exists(pk(org), "ORG".into()).await? {
                    Ok(false)
                } else {
                    Err(StoreError::NotFound)
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_preferences(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<Preference>> {
        // At most one item per system template: one page holds them all.
        let page = PageRequest {
            limit: 1000,
            after: None,
        };
        Ok(self
            .query_page(pk(org), &format!("PREF#{user}#"), &page)
            .await?
            .items)
    }

    async fn set_preferences(
        &self,
        org: &OrgId,
        user: Uuid,
        changes: &[(Uuid, bool)],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Preference>> {
        let mut current: BTreeMap<Uuid, Preference> = self
            .get_preferences(org, user)
            .await?
            .into_iter()
            .map(|p| (p.template, p))
            .collect();
        let mut writes = Vec::new();
        for &(template, disabled) in changes {
            if current
                .get(&template)
                .is_some_and(|p| p.disabled == disabled)
            {
                continue;
            }
            let preference = Preference {
                template,
                disabled,
                updated_at: now,
            };
            let put = build(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item(
                        pk(org),
                        preference_sk(user, template),
                        &preference,
                    )?))
                    .build(),
            )?;
            writes.push(TransactWriteItem::builder().put(put).build());
            current.insert(template, preference);
        }
        if !writes.is_empty() {
            match self.transact(writes).await? {
                TransactOutcome::Done => {}
                TransactOutcome::ConditionsFailed(_) => {
                    return Err(StoreError::Corrupt(
                        "an unconditional preference write failed a condition".into(),
                    ));
                }
            }
        }
        Ok(current.into_values().collect())
    }

    async fn template_preferences(
        &self,
        org: &OrgId,
        template: Uuid,
        users: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, bool>> {
        let mut unique = users.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|u| key(pk(org), preference_sk(*u, template)))
            .collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(|it| {
                let user = match it.get("sk") {
                    Some(Av::S(sk)) => sk
                        .strip_prefix("PREF#")
                        .and_then(|rest| rest.split('#').next())
                        .and_then(|u| Uuid::parse_str(u).ok()),
                    _ => None,
                };
                let user = user.ok_or_else(|| StoreError::Corrupt("preference key".into()))?;
                let preference: Preference = record(it)?;
                Ok((user, preference.disabled))
            })
            .collect()
    }

    async fn get_delivery(
        &self,
        org: &OrgId,
        created_at: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Option<Delivery>> {
        self.get(deliveries_pk(org), Delivery::key_of(created_at, id))
            .await
    }

    async fn create_event(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
    ) -> StoreResult<EventCreated> {
        let event_item = item(
            event_pk(&event.organization, event.id),
            "EVENT".into(),
            event,
        )?;
        let mut writes = Vec::new();
        if let Some(key) = &event.idempotency_key {
            let idem = IdempotencyItem {
                event_id: event.id,
                expires_at: key_expires,
                ttl: key_expires.unix_timestamp(),
            };
            let it = item(pk(&event.organization), idempotency_sk(key), &idem)?;
            // TTL deletes lazily: an expired key still present may be taken over.
            let put = build(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(it))
                    .condition_expression("attribute_not_exists(pk) OR expiresAt < :now")
                    .expression_attribute_values(":now", Av::S(timestamp::format(event.created_at)))
                    .build(),
            )?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        writes.push(self.put(event_item, "attribute_not_exists(pk)")?);
        match self.transact(writes).await? {
            TransactOutcome::Done => Ok(EventCreated::New),
            TransactOutcome::ConditionsFailed(_) => {
                let Some(key) = &event.idempotency_key else {
                    return Err(StoreError::Conflict(vec![Unique::DeliveryId]));
                };
                let idem: Option<IdempotencyItem> = self
                    .get(pk(&event.organization), idempotency_sk(key))
                    .await?;
                let first = match idem {
                    Some(i) => self.get_event(&event.organization, i.event_id).await?,
                    None => None,
                };
                Ok(match first {
                    Some(first) if first.body_hash == event.body_hash => {
                        EventCreated::Replay(first)
                    }
                    // A key whose event is gone (removed after a failed enqueue) or another
                    // body: the key is taken either way.
                    _ => EventCreated::KeyReused,
                })
            }
        }
    }

    async fn get_event(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Event>> {
        self.get(event_pk(org, id), "EVENT".into()).await
    }

    async fn delete_event(&self, event: &Event) -> StoreResult<()> {
        let org = &event.organization;
        let mut deletes = vec![build(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(event_pk(org, event.id), "EVENT".into())))
                .build(),
        )?];
        if let Some(k) = &event.idempotency_key {
            deletes.push(build(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk(org), idempotency_sk(k))))
                    .condition_expression("eventId = :id")
                    .expression_attribute_values(":id", Av::S(event.id.to_string()))
                    .build(),
            )?);
        }
        let items = deletes
            .into_iter()
            .map(|d| TransactWriteItem::builder().delete(d).build())
            .collect();
        match self.transact(items).await? {
            TransactOutcome::Done | TransactOutcome::ConditionsFailed(_) => Ok(()),
        }
    }

    async fn put_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<()> {
        let puts = deliveries
            .iter()
            .map(|d| put_request(delivery_item(d)?))
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(puts).await
    }

    async fn list_deliveries(
        &self,
        org: &OrgId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        use crate::model::DeliveryStatus as S;
        // The log is the table's own item collection (strongly consistent); `held` ones are
        // found through their sparse keys-only index, then read. Filters apply to the items.
        let held = filter.status == Some(S::Held);
        let (hash_name, hash) = if held {
            ("heldOrg", pk(org))
        } else {
            ("pk", deliveries_pk(org))
        };
        // An event's deliveries carry the event's time: their keys lie in `<time>#...`.
        let mut upper = page.after.clone();
        let mut lower = None;
        if let Some(event) = filter.event {
            let Some(event) = self.get_event(org, event).await? else {
                return Ok(Page::default());
            };
            let at = timestamp::format(event.created_at);
            lower = Some(format!("{at}#"));
            let end = format!("{at}#~");
            upper = Some(match upper {
                Some(after) if after < end => after,
                _ => end,
            });
        }
        let want = page.limit + 1;
        let mut items: Vec<Delivery> = Vec::with_capacity(want);
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .scan_index_forward(false)
                .limit(i32::try_from(want.max(25)).unwrap_or(100))
                .expression_attribute_names("#h", hash_name)
                .expression_attribute_values(":h", Av::S(hash.clone()))
                .set_exclusive_start_key(start);
            query = if held {
                query.index_name(DELIVERIES_HELD)
            } else {
                query.consistent_read(true)
            };
            query = match (&lower, &upper) {
                (Some(lower), Some(upper)) => query
                    .key_condition_expression("#h = :h AND sk BETWEEN :lower AND :upper")
                    .expression_attribute_values(":lower", Av::S(lower.clone()))
                    .expression_attribute_values(":upper", Av::S(upper.clone())),
                (None, Some(upper)) => query
                    .key_condition_expression("#h = :h AND sk < :upper")
                    .expression_attribute_values(":upper", Av::S(upper.clone())),
                _ => query.key_condition_expression("#h = :h"),
            };
            let out = query.send().await.map_err(unavailable)?;
            let got = out.items.unwrap_or_default();
            let got = if held {
                let keys = got
                    .into_iter()
                    .filter_map(|it| Some(key(string(&it, "pk")?, string(&it, "sk")?)))
                    .collect();
                self.batch_get(keys).await?
            } else {
                got
            };
            let mut found: Vec<Delivery> =
                got.into_iter().map(record).collect::<StoreResult<_>>()?;
            found.retain(|d| {
                filter.status.is_none_or(|s| d.status == s)
                    && filter.event.is_none_or(|e| d.event == Some(e))
                    && page.after.as_ref().is_none_or(|a| d.list_key() < *a)
            });
            found.sort_by_key(|d| std::cmp::Reverse(d.list_key()));
            items.extend(found);
            match out.last_evaluated_key {
                Some(next) if items.len() < want => start = Some(next),
                _ => break,
            }
        }
        items.truncate(want);
        Ok(Page::from_overfetch(items, page.limit, Delivery::list_key))
    }

    async fn release_held(&self, delivery: &Delivery) -> StoreResult<bool> {
        use crate::model::DeliveryStatus as S;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .update_expression("SET #status = :queued REMOVE heldOrg")
            .condition_expression("#status = :held")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", Av::S(S::Queued.as_str().into()))
            .expression_attribute_values(":held", Av::S(S::Held.as_str().into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn claim_delivery(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        use crate::model::DeliveryStatus as S;
        // One UpdateItem creates the record if it is new (its birth attributes only if absent)
        // or claims it if it is `queued` or its lease ran out.
        let born = delivery_item(delivery)?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :queued \
                 OR (#status = :sending AND leaseUntil < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sending", Av::S(S::Sending.as_str().into()))
            .expression_attribute_values(":queued", Av::S(S::Queued.as_str().into()))
            .expression_attribute_values(":lease", Av::S(timestamp::format(lease_until)))
            .expression_attribute_values(":now", Av::S(timestamp::format(now)))
            .expression_attribute_values(":one", Av::N("1".into()))
            .return_values(ReturnValue::AllNew);
        let mut set = vec![
            "#status = :sending".to_owned(),
            "leaseUntil = :lease".to_owned(),
            "updatedAt = :now".to_owned(),
        ];
        let birth = born.into_iter().filter(|(name, _)| {
            name != "pk" && name != "sk" && !DELIVERY_STATE.contains(&name.as_str())
        });
        for (i, (name, value)) in birth.enumerate() {
            set.push(format!("#b{i} = if_not_exists(#b{i}, :b{i})"));
            request = request
                .expression_attribute_names(format!("#b{i}"), name)
                .expression_attribute_values(format!(":b{i}"), value);
        }
        let result = request
            .update_expression(format!("SET {} ADD attempts :one", set.join(", ")))
            .send()
            .await;
        match result {
            Ok(out) => Ok(Claim::Claimed(Box::new(record(
                out.attributes.unwrap_or_default(),
            )?))),
            Err(e) if condition_failed(&e) => {
                let current: Option<Delivery> = self
                    .get(deliveries_pk(&delivery.organization), delivery.list_key())
                    .await?;
                Ok(match current.map(|d| d.status) {
                    Some(S::Held) => Claim::Held,
                    Some(status @ (S::Sent | S::Failed | S::Skipped)) => Claim::Settled(status),
                    // Queued again (or its lease ran out) since the write: another sender may
                    // claim it; this one lets its message come back.
                    Some(S::Sending | S::Queued) | None => Claim::Busy,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn settle_delivery(
        &self,
        delivery: &Delivery,
        lease_until: OffsetDateTime,
        outcome: &Outcome,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        use crate::model::DeliveryStatus as S;
        let (status, field, text) = match outcome {
            Outcome::Sent => (S::Sent, None, None),
            Outcome::Failed(e) => (S::Failed, Some("lastError"), Some(e)),
            Outcome::Retry(e) => (S::Queued, Some("lastError"), Some(e)),
            Outcome::Skipped(r) => (S::Skipped, Some("reason"), Some(r)),
            Outcome::Held => (S::Held, None, None),
        };
        let mut set = "SET #status = :status, updatedAt = :now".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .condition_expression("#status = :sending AND leaseUntil = :lease")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", Av::S(status.as_str().into()))
            .expression_attribute_values(":sending", Av::S(S::Sending.as_str().into()))
            .expression_attribute_values(":lease", Av::S(timestamp::format(lease_until)))
            .expression_attribute_values(":now", Av::S(timestamp::format(now)));
        if let (Some(field), Some(text)) = (field, text) {
            set.push_str(&format!(", {field} = :text"));
            request = request.expression_attribute_values(":text", Av::S(text.clone()));
        }
        if status == S::Held {
            // The key of the sparse index the resume job reads.
            set.push_str(", heldOrg = :org");
            request =
                request.expression_attribute_values(":org", Av::S(pk(&delivery.organization)));
        }
        let result = request
            .update_expression(format!("{set} REMOVE leaseUntil"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
