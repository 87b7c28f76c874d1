//! The DynamoDB store: one table (its key layout on one page in [`keys`]), a client and the
//! helpers every resource uses (transactions, strongly consistent reads, paged queries, batched
//! reads and writes with their unprocessed items retried), and one file per resource.
//!
//! Uniqueness and limits are conditions inside one `TransactWriteItems`, never read-then-write.
//! Reads are strongly consistent: a revoked token stops working at once, and a client reads its
//! own writes.

mod deliveries;
mod events;
mod keys;
mod notifications;
mod operational;
mod organizations;
mod outbox;
mod preferences;
mod recipients;
mod redelivery;
mod settings;
mod users;

use std::collections::HashMap;
use std::fmt::Display;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, DeleteRequest, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::store::{Page, PageRequest, StoreError, StoreResult};
use keys::{DELIVERIES_FAILED, DELIVERIES_HELD, DELIVERY_ID_INDEX, OUTBOX_INDEX, SMS_DAY_INDEX};

type Item = HashMap<String, Av>;

/// DynamoDB's batch limits, and how many batches run at once.
const BATCH_GET_MAX: usize = 100;
const BATCH_WRITE_MAX: usize = 25;
const BATCH_CONCURRENCY: usize = 8;
/// Rounds of retrying what a batch left unprocessed (throttling), with exponential backoff.
const BATCH_ATTEMPTS: u32 = 8;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How long events and deliveries are kept: their `ttl` (`HERALD_RETENTION_DAYS`).
    retention: time::Duration,
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

/// One delete of a BatchWriteItem.
fn delete_request(key: Item) -> StoreResult<WriteRequest> {
    let delete = build(DeleteRequest::builder().set_key(Some(key)).build())?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

fn record<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A query read page by page, each page from the `LastEvaluatedKey` of the one before (as
/// DynamoDB paginates): the one pagination loop of this backend. `query` builds the query from a
/// start key.
pub(super) struct Pages<Q> {
    query: Q,
    start: Option<Item>,
    done: bool,
}

type Query = aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

impl<Q: Fn(Option<Item>) -> Query> Pages<Q> {
    pub(super) fn new(query: Q, start: Option<Item>) -> Self {
        Self {
            query,
            start,
            done: false,
        }
    }

    /// The next page's items; `None` once the table has no more.
    pub(super) async fn next(&mut self) -> StoreResult<Option<Vec<Item>>> {
        if self.done {
            return Ok(None);
        }
        let out = (self.query)(self.start.take())
            .send()
            .await
            .map_err(unavailable)?;
        match out.last_evaluated_key {
            Some(next) => self.start = Some(next),
            None => self.done = true,
        }
        Ok(Some(out.items.unwrap_or_default()))
    }
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
    /// The store on `table`, keeping events and deliveries 30 days (see [`Self::with_retention`]).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: time::Duration::days(30),
        }
    }

    /// Events and deliveries expire (DynamoDB TTL) `retention` after they were created.
    pub fn with_retention(mut self, retention: time::Duration) -> Self {
        self.retention = retention;
        self
    }

    /// `item` with the `ttl` of a record created at `created_at`.
    fn expiring(&self, mut item: Item, created_at: time::OffsetDateTime) -> Item {
        let expires = (created_at + self.retention).unix_timestamp();
        item.insert("ttl".into(), Av::N(expires.to_string()));
        item
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
            .attribute_definitions(build(attr("deliveryId"))?)
            .attribute_definitions(build(attr("failedKey"))?)
            .attribute_definitions(build(attr("outboxShard"))?)
            .attribute_definitions(build(attr("outboxAt"))?)
            .global_secondary_indexes(index(SMS_DAY_INDEX, "smsDay", None, ProjectionType::All)?)
            .global_secondary_indexes(index(
                DELIVERIES_HELD,
                "heldOrg",
                Some("sk"),
                ProjectionType::KeysOnly,
            )?)
            .global_secondary_indexes(index(
                DELIVERIES_FAILED,
                "failedKey",
                Some("sk"),
                ProjectionType::KeysOnly,
            )?)
            .global_secondary_indexes(index(
                OUTBOX_INDEX,
                "outboxShard",
                Some("outboxAt"),
                ProjectionType::KeysOnly,
            )?)
            .global_secondary_indexes(index(
                DELIVERY_ID_INDEX,
                "deliveryId",
                None,
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
        let start = page
            .after
            .as_ref()
            .map(|a| key(pk.clone(), format!("{prefix}{a}")));
        let limit = i32::try_from(want).unwrap_or(i32::MAX);
        let query = |start| {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", Av::S(pk.clone()))
                .expression_attribute_values(":prefix", Av::S(prefix.to_owned()))
                .consistent_read(true)
                .limit(limit)
                .set_exclusive_start_key(start)
        };
        let mut pages = Pages::new(query, start);
        while items.len() < want
            && let Some(page) = pages.next().await?
        {
            for it in page {
                let sk = match it.get("sk") {
                    Some(Av::S(sk)) => sk.strip_prefix(prefix).unwrap_or(sk).to_owned(),
                    _ => return Err(StoreError::Corrupt("item without sk".into())),
                };
                items.push((sk, record(it)?));
            }
        }
        items.truncate(want);
        let page = Page::from_overfetch(items, page.limit, |(k, _)| k.clone());
        Ok(Page {
            items: page.items.into_iter().map(|(_, v)| v).collect(),
            next: page.next,
        })
    }

    /// The table's items that a keys-only index's entries name (BatchGetItem, as [`Self::batch_get`]).
    async fn items_of_index(&self, entries: Vec<Item>) -> StoreResult<Vec<Item>> {
        let keys = entries
            .into_iter()
            .filter_map(|it| Some(key(string(&it, "pk")?, string(&it, "sk")?)))
            .collect();
        self.batch_get(keys).await
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
}
