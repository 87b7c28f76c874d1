//! A delivery's further rounds on DynamoDB: queued again by resend and recover (one conditional
//! UpdateItem each), found among a notification's failed ones through the sparse index
//! `deliveries-failed`, and made `failed` when its message reached the dead-letter queue.

use aws_sdk_dynamodb::types::AttributeValue as Av;
use time::OffsetDateTime;

use super::keys::{
    DELIVERIES_FAILED, deliveries_pk, delivery_item, delivery_key, failed_key, outbox_mark,
};
use super::{DynamoStore, Pages, condition_failed, key, record, unavailable};
use crate::model::{Burial, Claim, Delivery};
use crate::model::{NotificationId, OrgId, timestamp};
use crate::ports::store::{Page, PageRequest, StoreResult};

/// The condition "still in round `round`" (an item without `round` is in round 0).
fn in_round(round: u32) -> &'static str {
    if round == 0 {
        "(attribute_not_exists(#round) OR #round = :round)"
    } else {
        "#round = :round"
    }
}

impl DynamoStore {
    /// [`crate::ports::store::DeliveryStore::failed_deliveries`].
    pub(super) async fn failed_page(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        use crate::model::DeliveryStatus as S;
        let hash = failed_key(org, notification);
        let want = page.limit + 1;
        let start = page.after.as_ref().map(|after| {
            let mut start = key(deliveries_pk(org), after.clone());
            start.insert("failedKey".into(), Av::S(hash.clone()));
            start
        });
        let mut items: Vec<Delivery> = Vec::with_capacity(want);
        let query = |start| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(DELIVERIES_FAILED)
                .key_condition_expression("failedKey = :h AND sk BETWEEN :since AND :until")
                .expression_attribute_values(":h", Av::S(hash.clone()))
                .expression_attribute_values(":since", Av::S(timestamp::format(since)))
                // Every key of a delivery created at `until` sorts below `<until>#~`.
                .expression_attribute_values(
                    ":until",
                    Av::S(format!("{}#~", timestamp::format(until))),
                )
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
        };
        let mut pages = Pages::new(query, start);
        while items.len() < want
            && let Some(entries) = pages.next().await?
        {
            let mut found: Vec<Delivery> = self
                .items_of_index(entries)
                .await?
                .into_iter()
                .map(record)
                .collect::<StoreResult<_>>()?;
            // The index lags the table: what is no longer failed is left out.
            found.retain(|d| d.status == S::Failed);
            found.sort_by_key(Delivery::list_key);
            items.extend(found);
        }
        items.truncate(want);
        Ok(Page::from_overfetch(items, page.limit, Delivery::list_key))
    }

    pub(super) async fn requeue_one(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        use crate::model::DeliveryStatus as S;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .update_expression(
                "SET #status = :queued, attempts = :zero, #round = :next, updatedAt = :now, \
                 outboxShard = :shard, outboxAt = :now REMOVE failedKey, leaseUntil",
            )
            .condition_expression(format!(
                "(#status = :sent OR #status = :failed) AND {}",
                in_round(delivery.round)
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#round", "round")
            .expression_attribute_values(":queued", Av::S(S::Queued.as_str().into()))
            .expression_attribute_values(":sent", Av::S(S::Sent.as_str().into()))
            .expression_attribute_values(":failed", Av::S(S::Failed.as_str().into()))
            .expression_attribute_values(":zero", Av::N("0".into()))
            .expression_attribute_values(":round", Av::N(delivery.round.to_string()))
            .expression_attribute_values(":next", Av::N((delivery.round + 1).to_string()))
            // Marked for the relay until the sender claims it: its message is sent next.
            .expression_attribute_values(":shard", outbox_mark(delivery.id, now)[0].1.clone())
            .expression_attribute_values(":now", Av::S(timestamp::format(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub(super) async fn bury_one(
        &self,
        delivery: &Delivery,
        error: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Burial> {
        use crate::model::DeliveryStatus as S;
        let failed = Delivery {
            status: S::Failed,
            last_error: Some(error.to_owned()),
            lease_until: None,
            updated_at: now,
            ..delivery.clone()
        };
        let mut set = "SET #status = :failed, lastError = :error, updatedAt = :now".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .condition_expression(format!(
                "attribute_exists(pk) AND {} AND (#status = :queued OR #status = :held \
                 OR (#status = :sending AND leaseUntil < :now))",
                in_round(delivery.round)
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#round", "round")
            .expression_attribute_values(":failed", Av::S(S::Failed.as_str().into()))
            .expression_attribute_values(":queued", Av::S(S::Queued.as_str().into()))
            .expression_attribute_values(":held", Av::S(S::Held.as_str().into()))
            .expression_attribute_values(":sending", Av::S(S::Sending.as_str().into()))
            .expression_attribute_values(":round", Av::N(delivery.round.to_string()))
            .expression_attribute_values(":error", Av::S(error.to_owned()))
            .expression_attribute_values(":now", Av::S(timestamp::format(now)));
        if let Some(notification) = delivery.notification_id() {
            set.push_str(", failedKey = :key");
            request = request.expression_attribute_values(
                ":key",
                Av::S(failed_key(&delivery.organization, notification)),
            );
        }
        let result = request
            .update_expression(format!(
                "{set} REMOVE leaseUntil, heldOrg, outboxShard, outboxAt"
            ))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Burial::Failed),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let current: Option<Delivery> = self
            .get(deliveries_pk(&delivery.organization), delivery.list_key())
            .await?;
        let Some(current) = current else {
            // Never recorded: recorded now, failed (unless it was meanwhile).
            let born = self.expiring(delivery_item(&failed)?, failed.created_at);
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(born))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            return match put {
                Ok(_) => Ok(Burial::Failed),
                Err(e) if condition_failed(&e) => Ok(Burial::Busy),
                Err(e) => Err(unavailable(e)),
            };
        };
        Ok(
            match Claim::found(current.status, current.round, delivery.round) {
                Claim::Busy => Burial::Busy,
                _ => Burial::Settled,
            },
        )
    }
}
