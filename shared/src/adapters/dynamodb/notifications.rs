//! Notifications on DynamoDB: the organization's counter and the notification in one
//! transaction (the limit of 100).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::keys::{EXISTS, NOT_EXISTS, pk, recipients_pk};
use super::{
    DynamoStore, Pages, TransactOutcome, build, condition_failed, delete_request, item, key,
    unavailable,
};
use crate::model::Notification;
use crate::model::{NotificationId, OrgId, timestamp};
use crate::ports::store::{Page, PageRequest, StoreError, StoreResult, Unique};

impl DynamoStore {
    /// Deletes every recipient of a notification (page by page).
    async fn purge_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
    ) -> StoreResult<()> {
        let pk = recipients_pk(org, notification);
        let query = |start| {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", Av::S(pk.clone()))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start)
        };
        let mut pages = Pages::new(query, None);
        while let Some(keys) = pages.next().await? {
            let deletes = keys
                .into_iter()
                .map(delete_request)
                .collect::<StoreResult<Vec<_>>>()?;
            self.batch_write(deletes).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl crate::ports::store::NotificationStore for DynamoStore {
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
}

#[async_trait]
impl crate::ports::store::SendSlots for DynamoStore {
    async fn reserve_send_slot(
        &self,
        org: &OrgId,
        id: &NotificationId,
        earliest: OffsetDateTime,
        spacing: std::time::Duration,
        count: u32,
    ) -> StoreResult<OffsetDateTime> {
        use crate::ports::store::{slot_micros, slot_time, spacing_micros};
        let key = || key(pk(org), format!("PACE#{id}"));
        let at = slot_micros(earliest);
        // The clock moves on by the slots taken.
        let step = spacing_micros(spacing).saturating_mul(i64::from(count.max(1)));
        // Kept a day past the last reservation (TTL deletes lazily; a fresh clock is harmless).
        let ttl = (earliest + time::Duration::days(1)).unix_timestamp();
        // Slots only move forward, so the busy step's condition fails only when the item
        // expired meanwhile: the next round takes it as idle.
        for _ in 0..3 {
            // An idle target: the slot is `earliest`.
            let idle = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key()))
                .update_expression("SET nextSlot = :next, #ttl = :ttl")
                .condition_expression("attribute_not_exists(nextSlot) OR nextSlot <= :at")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":next", Av::N(at.saturating_add(step).to_string()))
                .expression_attribute_values(":at", Av::N(at.to_string()))
                .expression_attribute_values(":ttl", Av::N(ttl.to_string()))
                .send()
                .await;
            match idle {
                Ok(_) => return slot_time(at),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            // A busy one: its next slot is taken, and the clock moves on by one spacing.
            let busy = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key()))
                .update_expression("SET nextSlot = nextSlot + :step, #ttl = :ttl")
                .condition_expression("nextSlot > :at")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":step", Av::N(step.to_string()))
                .expression_attribute_values(":at", Av::N(at.to_string()))
                .expression_attribute_values(":ttl", Av::N(ttl.to_string()))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
                .send()
                .await;
            match busy {
                Ok(out) => {
                    let old = out
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get("nextSlot"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok())
                        .ok_or_else(|| StoreError::Corrupt("send slot: no nextSlot".into()))?;
                    return slot_time(old);
                }
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Stale)
    }
}
