//! The outbox on DynamoDB: the sparse keys-only index `outbox` ([`super::keys::OUTBOX_INDEX`]),
//! eight shards queried in turn, oldest mark first, and the records it names read with
//! BatchGetItem.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use futures_util::{StreamExt, TryStreamExt, stream};
use time::OffsetDateTime;

use super::keys::{OUTBOX_INDEX, OUTBOX_SHARDS};
use super::{DynamoStore, Item, Pages, condition_failed, key, record, string, unavailable};
use crate::model::{Delivery, Event, timestamp};
use crate::ports::outbox::{Outbox, Relayed, Stranded};
use crate::ports::queue::{DeliveryMessage, FanoutMessage};
use crate::ports::store::StoreResult;

/// Marks moved at once.
const MOVES_AT_ONCE: usize = 16;

/// The message a marked item needs: an event's first fan-out job, or a queued delivery's own.
fn stranded(item: Item) -> StoreResult<Option<Stranded>> {
    let (Some(pk), Some(sk)) = (string(&item, "pk"), string(&item, "sk")) else {
        return Ok(None);
    };
    // The mark was removed between the index's answer and the read.
    if !item.contains_key("outboxShard") {
        return Ok(None);
    }
    let message = if sk == "EVENT" {
        Relayed::Fanout(FanoutMessage::first(&record::<Event>(item)?))
    } else {
        Relayed::Delivery(DeliveryMessage {
            delivery: record::<Delivery>(item)?,
            slot: None,
        })
    };
    Ok(Some(Stranded {
        key: [pk, sk],
        message,
    }))
}

#[async_trait]
impl Outbox for DynamoStore {
    async fn stranded(&self, before: OffsetDateTime, limit: usize) -> StoreResult<Vec<Stranded>> {
        let before = timestamp::format(before);
        let mut keys = Vec::new();
        for shard in 0..OUTBOX_SHARDS {
            let want = limit.saturating_sub(keys.len());
            if want == 0 {
                break;
            }
            let query = |start| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(OUTBOX_INDEX)
                    .key_condition_expression("outboxShard = :shard AND outboxAt < :before")
                    .expression_attribute_values(":shard", Av::S(shard.to_string()))
                    .expression_attribute_values(":before", Av::S(before.clone()))
                    .limit(i32::try_from(want).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start)
            };
            let mut pages = Pages::new(query, None);
            let mut found = Vec::new();
            while found.len() < want
                && let Some(page) = pages.next().await?
            {
                found.extend(page);
            }
            found.truncate(want);
            keys.extend(found);
        }
        let mut out = Vec::with_capacity(keys.len());
        for item in self.items_of_index(keys).await? {
            out.extend(stranded(item)?);
        }
        Ok(out)
    }

    async fn remark(
        &self,
        stranded: Vec<Stranded>,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Stranded>> {
        let at = timestamp::format(now);
        let moves = stranded.into_iter().map(|s| {
            let at = at.clone();
            async move {
                let [pk, sk] = &s.key;
                let moved = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk.clone(), sk.clone())))
                    .update_expression("SET outboxAt = :now")
                    .condition_expression("attribute_exists(outboxShard)")
                    .expression_attribute_values(":now", Av::S(at))
                    .send()
                    .await;
                match moved {
                    Ok(_) => Ok(Some(s)),
                    // Taken meanwhile: its message needs no sending again.
                    Err(e) if condition_failed(&e) => Ok(None),
                    Err(e) => Err(unavailable(e)),
                }
            }
        });
        let moved: Vec<Option<Stranded>> = stream::iter(moves)
            .buffered(MOVES_AT_ONCE)
            .try_collect()
            .await?;
        Ok(moved.into_iter().flatten().collect())
    }
}
