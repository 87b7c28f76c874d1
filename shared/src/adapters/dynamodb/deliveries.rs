//! Deliveries on DynamoDB: the delivery log one item collection per organization, a delivery
//! claimed and settled by one conditional UpdateItem each. (Events: [`super::events`].)

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::ReturnValue;
use futures_util::{StreamExt, stream};
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{
    DELIVERIES_HELD, DELIVERY_ID_INDEX, DELIVERY_STATE, deliveries_pk, delivery_id_key,
    delivery_item, delivery_key, failed_key, pk,
};
use super::{
    DynamoStore, Pages, condition_failed, put_request, record, string, unavailable, value,
};
use crate::model::{Burial, Claim, Delivery, DeliveryFilter, Outcome};
use crate::model::{NotificationId, OrgId, timestamp};
use crate::ports::store::EventStore as _;
use crate::ports::store::{Page, PageRequest, Settlement, StoreError, StoreResult};

/// Conditional writes of a batch in flight at once.
const WRITE_CONCURRENCY: usize = 32;

/// The writes of a batch, [`WRITE_CONCURRENCY`] in flight at once: their answers in order.
async fn concurrently<Fut: Future>(writes: Vec<Fut>) -> Vec<Fut::Output> {
    stream::iter(writes)
        .buffered(WRITE_CONCURRENCY)
        .collect()
        .await
}

#[async_trait]
impl crate::ports::store::DeliveryLog for DynamoStore {
    async fn get_delivery(
        &self,
        org: &OrgId,
        created_at: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Option<Delivery>> {
        self.get(deliveries_pk(org), Delivery::key_of(created_at, id))
            .await
    }

    async fn find_delivery(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Delivery>> {
        // The index gives the key; the item itself is read consistently.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DELIVERY_ID_INDEX)
            .key_condition_expression("deliveryId = :id")
            .expression_attribute_values(":id", Av::S(delivery_id_key(org, id)))
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(found) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let Some(sk) = string(&found, "sk") else {
            return Err(StoreError::Corrupt(
                "a delivery-id index entry without sk".into(),
            ));
        };
        self.get(deliveries_pk(org), sk).await
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
        let query = |start| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .scan_index_forward(false)
                .limit(i32::try_from(want.max(25)).unwrap_or(100))
                .expression_attribute_names("#h", hash_name)
                .expression_attribute_values(":h", Av::S(hash.clone()))
                .set_exclusive_start_key(start);
            let query = if held {
                query.index_name(DELIVERIES_HELD)
            } else {
                query.consistent_read(true)
            };
            match (&lower, &upper) {
                (Some(lower), Some(upper)) => query
                    .key_condition_expression("#h = :h AND sk BETWEEN :lower AND :upper")
                    .expression_attribute_values(":lower", Av::S(lower.clone()))
                    .expression_attribute_values(":upper", Av::S(upper.clone())),
                (None, Some(upper)) => query
                    .key_condition_expression("#h = :h AND sk < :upper")
                    .expression_attribute_values(":upper", Av::S(upper.clone())),
                _ => query.key_condition_expression("#h = :h"),
            }
        };
        let mut pages = Pages::new(query, None);
        while items.len() < want
            && let Some(got) = pages.next().await?
        {
            let got = if held {
                self.items_of_index(got).await?
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
        }
        items.truncate(want);
        Ok(Page::from_overfetch(items, page.limit, Delivery::list_key))
    }

    async fn failed_deliveries(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        self.failed_page(org, notification, since, until, page)
            .await
    }
}

#[async_trait]
impl crate::ports::store::DeliveryLedger for DynamoStore {
    async fn put_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<()> {
        let puts = deliveries
            .iter()
            .map(|d| put_request(self.expiring(delivery_item(d)?, d.created_at)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(puts).await
    }

    async fn claim_deliveries(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Vec<StoreResult<Claim>> {
        concurrently(
            deliveries
                .iter()
                .map(|d| self.claim_one(d, now, lease_until))
                .collect(),
        )
        .await
    }

    async fn settle_deliveries(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Vec<StoreResult<bool>> {
        concurrently(
            settlements
                .iter()
                .map(|s| self.settle_one(s, now))
                .collect(),
        )
        .await
    }

    async fn release_held_all(&self, deliveries: &[Delivery]) -> Vec<StoreResult<bool>> {
        concurrently(deliveries.iter().map(|d| self.release_one(d)).collect()).await
    }

    async fn requeue_deliveries(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
    ) -> Vec<StoreResult<bool>> {
        concurrently(
            deliveries
                .iter()
                .map(|d| self.requeue_one(d, now))
                .collect(),
        )
        .await
    }

    async fn bury_deliveries(
        &self,
        deliveries: &[Delivery],
        error: &str,
        now: OffsetDateTime,
    ) -> Vec<StoreResult<Burial>> {
        concurrently(
            deliveries
                .iter()
                .map(|d| self.bury_one(d, error, now))
                .collect(),
        )
        .await
    }
}

/// One conditional UpdateItem per delivery (DynamoDB has no conditional batch write short of a
/// transaction, which would fail as a whole).
impl DynamoStore {
    async fn claim_one(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        use crate::model::DeliveryStatus as S;
        // One UpdateItem creates the record if it is new (its birth attributes only if absent)
        // or claims it if it is `queued` or its lease ran out.
        let born = self.expiring(delivery_item(delivery)?, delivery.created_at);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .condition_expression(
                "attribute_not_exists(pk) OR ((attribute_not_exists(#round) OR #round <= :round) \
                 AND (#status = :queued OR #status = :held \
                 OR (#status = :sending AND leaseUntil < :now)))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#round", "round")
            .expression_attribute_values(":round", Av::N(delivery.round.to_string()))
            .expression_attribute_values(":sending", Av::S(S::Sending.as_str().into()))
            .expression_attribute_values(":queued", Av::S(S::Queued.as_str().into()))
            .expression_attribute_values(":held", Av::S(S::Held.as_str().into()))
            .expression_attribute_values(":lease", Av::S(timestamp::format(lease_until)))
            .expression_attribute_values(":now", Av::S(timestamp::format(now)))
            .expression_attribute_values(":one", Av::N("1".into()))
            .return_values(ReturnValue::AllNew);
        let mut set = vec![
            "#status = :sending".to_owned(),
            "leaseUntil = :lease".to_owned(),
            "updatedAt = :now".to_owned(),
            "#round = :round".to_owned(),
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
            // Out of the held and failed indexes, if it was in one.
            .update_expression(format!(
                "SET {} REMOVE heldOrg, failedKey, outboxShard, outboxAt ADD attempts :one",
                set.join(", ")
            ))
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
                // Queued or held again (or its lease ran out) since the write: another sender
                // may claim it; this one lets its message come back.
                Ok(current.map_or(Claim::Busy, |d| {
                    Claim::found(d.status, d.round, delivery.round)
                }))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn settle_one(&self, settlement: &Settlement, now: OffsetDateTime) -> StoreResult<bool> {
        let (delivery, lease_until, outcome) = (
            &settlement.delivery,
            settlement.lease_until,
            &settlement.outcome,
        );
        use crate::model::DeliveryStatus as S;
        let (status, field, text) = match outcome {
            Outcome::Sent => (S::Sent, None, None),
            Outcome::Failed(e) => (S::Failed, Some("lastError"), Some(e.as_str())),
            Outcome::Retry(e) => (S::Queued, Some("lastError"), Some(e.as_str())),
            Outcome::Skipped(r) => (S::Skipped, Some("reason"), Some(r.as_str())),
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
            request = request.expression_attribute_values(":text", Av::S(text.to_owned()));
        }
        if status == S::Held {
            // The key of the sparse index the resume job reads.
            set.push_str(", heldOrg = :org");
            request =
                request.expression_attribute_values(":org", Av::S(pk(&delivery.organization)));
        }
        if status == S::Failed
            && let Some(notification) = delivery.notification_id()
        {
            // The key of the sparse index recover reads.
            set.push_str(", failedKey = :failed");
            request = request.expression_attribute_values(
                ":failed",
                Av::S(failed_key(&delivery.organization, notification)),
            );
        }
        if let Some(attempt) = &settlement.attempt {
            set.push_str(", history = :history");
            request = request.expression_attribute_values(
                ":history",
                value(&delivery.history_with(Some(attempt)))?,
            );
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

    async fn release_one(&self, delivery: &Delivery) -> StoreResult<bool> {
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
}
