//! An organization's operational webhook on DynamoDB: `ORG#<org>` / `OPHOOK`, created by a
//! conditional PutItem, changed by a conditional UpdateItem that keeps its secret.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::ReturnValue;

use super::keys::pk;
use super::{DynamoStore, condition_failed, item, key, record, unavailable, value};
use crate::model::OperationalWebhook;
use crate::model::{OrgId, timestamp};
use crate::ports::store::{OperationalWebhookStore, StoreError, StoreResult};

const SK: &str = "OPHOOK";

#[async_trait]
impl OperationalWebhookStore for DynamoStore {
    async fn put_operational_webhook(
        &self,
        hook: &OperationalWebhook,
    ) -> StoreResult<(OperationalWebhook, bool)> {
        let pk = pk(&hook.organization);
        // Created, or changed; tried again if it was deleted or created in between.
        for _ in 0..3 {
            let created = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item(pk.clone(), SK.into(), hook)?))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match created {
                Ok(_) => return Ok((hook.clone(), true)),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            let changed = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), SK.into())))
                .update_expression("SET #url = :url, events = :events, updatedAt = :now")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#url", "url")
                .expression_attribute_values(":url", Av::S(hook.url.clone()))
                .expression_attribute_values(":events", value(&hook.events)?)
                .expression_attribute_values(":now", Av::S(timestamp::format(hook.updated_at)))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match changed {
                Ok(out) => {
                    let stored = out.attributes.ok_or_else(|| {
                        StoreError::Corrupt("operational webhook: no item".into())
                    })?;
                    return Ok((record(stored)?, false));
                }
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Stale)
    }

    async fn get_operational_webhook(
        &self,
        org: &OrgId,
    ) -> StoreResult<Option<OperationalWebhook>> {
        self.get(pk(org), SK.into()).await
    }

    async fn delete_operational_webhook(&self, org: &OrgId) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), SK.into())))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
