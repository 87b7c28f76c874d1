//! Recipients on DynamoDB: one partition per notification, written and read in batches.

use async_trait::async_trait;
use uuid::Uuid;

use super::keys::recipients_pk;
use super::{DynamoStore, item, key, put_request, record, unavailable};
use crate::model::Recipient;
use crate::model::{NotificationId, OrgId};
use crate::ports::store::{Page, PageRequest, StoreResult};

#[async_trait]
impl crate::ports::store::RecipientStore for DynamoStore {
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
}
