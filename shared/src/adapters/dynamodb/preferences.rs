//! Preferences on DynamoDB: one item per (user, template) on the organization's partition.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{pk, preference_sk};
use super::{DynamoStore, TransactOutcome, build, item, key, record};
use crate::model::OrgId;
use crate::model::Preference;
use crate::ports::store::{PageRequest, StoreError, StoreResult};

#[async_trait]
impl crate::ports::store::PreferenceStore for DynamoStore {
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
}
