//! Events on DynamoDB, each its own partition, with their idempotency keys (an event's, or a
//! request's: a test notification's, recorded with its queued delivery) and their fan-out's
//! progress (the outbox mark, the fan-out state and its round).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{delivery_item, delivery_key, event_pk, idempotency_sk, outbox_mark, pk};
use super::{DynamoStore, TransactOutcome, build, condition_failed, item, key, unavailable, value};
use crate::model::{Delivery, Event, EventCreated, Fanout, FanoutStatus};
use crate::model::{OrgId, timestamp};
use crate::ports::store::{FanoutProgress, StoreError, StoreResult, Unique};

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyItem {
    event_id: Uuid,
    #[serde(with = "timestamp")]
    expires_at: OffsetDateTime,
    ttl: i64,
}

#[async_trait]
impl crate::ports::store::EventStore for DynamoStore {
    async fn create_event(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
    ) -> StoreResult<EventCreated> {
        let mut event_item = self.expiring(
            item(
                event_pk(&event.organization, event.id),
                "EVENT".into(),
                event,
            )?,
            event.created_at,
        );
        // Marked for the relay until its first fan-out job is taken: its message is sent next.
        event_item.extend(outbox_mark(event.id, event.created_at));
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

    async fn take_request_key(
        &self,
        key: &str,
        delivery: &Delivery,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        let org = &delivery.organization;
        let sk = idempotency_sk(&crate::ports::store::request_key(key));
        let idem = IdempotencyItem {
            event_id: delivery.id,
            expires_at: expires,
            ttl: expires.unix_timestamp(),
        };
        // TTL deletes lazily: an expired key still present may be taken over.
        let key_put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item(pk(org), sk.clone(), &idem)?))
                .condition_expression("attribute_not_exists(pk) OR expiresAt < :now")
                .expression_attribute_values(":now", Av::S(timestamp::format(now)))
                .build(),
        )?;
        // The delivery, queued and marked for the relay until the sender claims it.
        let mut queued = self.expiring(delivery_item(delivery)?, delivery.created_at);
        queued.extend(outbox_mark(delivery.id, now));
        let writes = vec![
            TransactWriteItem::builder().put(key_put).build(),
            self.put(queued, "attribute_not_exists(pk)")?,
        ];
        match self.transact(writes).await? {
            TransactOutcome::Done => Ok(None),
            TransactOutcome::ConditionsFailed(_) => {
                let held: Option<IdempotencyItem> = self.get(pk(org), sk).await?;
                // Freed meanwhile: the caller may try again; it is not a replay of anything.
                held.map(|h| Some(h.event_id)).ok_or(StoreError::Stale)
            }
        }
    }

    async fn free_request_key(&self, key: &str, delivery: &Delivery) -> StoreResult<()> {
        // Each conditional: a key taken over, or a delivery claimed meanwhile, stays.
        self.free_request_key_only(&delivery.organization, key, delivery.id)
            .await?;
        self.unqueue(delivery).await
    }

    async fn record_fanout(
        &self,
        org: &OrgId,
        event: Uuid,
        progress: FanoutProgress,
    ) -> StoreResult<()> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(event_pk(org, event), "EVENT".into())));
        let request = match progress {
            FanoutProgress::Taken => request
                .update_expression("REMOVE outboxShard, outboxAt")
                .condition_expression("attribute_exists(pk)"),
            FanoutProgress::Done { deliveries } => request
                .update_expression("SET fanout = :fanout REMOVE outboxShard, outboxAt")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(
                    ":fanout",
                    value(&Fanout {
                        status: FanoutStatus::Done,
                        deliveries,
                    })?,
                ),
            // The deliveries made before it failed stay counted.
            FanoutProgress::Failed { round } => {
                let of_round = match round {
                    0 => "attribute_not_exists(fanoutRound)".to_owned(),
                    _ => "fanoutRound = :round".to_owned(),
                };
                let request = request
                    .update_expression("SET fanout.#status = :failed REMOVE outboxShard, outboxAt")
                    .condition_expression(format!("fanout.#status = :pending AND {of_round}"))
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":failed", value(&FanoutStatus::Failed)?)
                    .expression_attribute_values(":pending", value(&FanoutStatus::Pending)?);
                match round {
                    0 => request,
                    _ => request.expression_attribute_values(":round", Av::N(round.to_string())),
                }
            }
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn reopen_fanout(
        &self,
        org: &OrgId,
        event: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let [(_, shard), _] = outbox_mark(event, now);
        let reopened = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(event_pk(org, event), "EVENT".into())))
            .update_expression(
                "SET fanout.#status = :pending, outboxShard = :shard, outboxAt = :now \
                 ADD fanoutRound :one",
            )
            .condition_expression("fanout.#status = :failed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", value(&FanoutStatus::Pending)?)
            .expression_attribute_values(":failed", value(&FanoutStatus::Failed)?)
            .expression_attribute_values(":shard", shard)
            .expression_attribute_values(":now", Av::S(timestamp::format(now)))
            .expression_attribute_values(":one", Av::N("1".into()))
            .send()
            .await;
        match reopened {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
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
}

impl DynamoStore {
    /// Frees a request's key `key` if it still names `id`.
    async fn free_request_key_only(&self, org: &OrgId, key: &str, id: Uuid) -> StoreResult<()> {
        let freed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(super::key(
                pk(org),
                idempotency_sk(&crate::ports::store::request_key(key)),
            )))
            .condition_expression("eventId = :id")
            .expression_attribute_values(":id", Av::S(id.to_string()))
            .send()
            .await;
        match freed {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Removes `delivery` while it is still `queued` (never claimed).
    async fn unqueue(&self, delivery: &Delivery) -> StoreResult<()> {
        use crate::model::DeliveryStatus as S;
        let removed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", Av::S(S::Queued.as_str().into()))
            .send()
            .await;
        match removed {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
