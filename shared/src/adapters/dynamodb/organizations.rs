//! Organizations, users and tokens on DynamoDB: uniqueness by pointer items written in the same
//! transaction as the record (`USERNAME#`, `EMAIL#`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use uuid::Uuid;

use super::keys::{EXISTS, NOT_EXISTS, pk};
use super::{DynamoStore, Item, TransactOutcome, build, item, key, record, unavailable};
use crate::model::{Email, Limits, OrgId, Role, TokenId, Username};
use crate::model::{Organization, TokenRecord, User};
use crate::ports::store::{Page, PageRequest, StoreError, StoreResult, Unique};
use time::OffsetDateTime;

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

impl DynamoStore {
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

#[async_trait]
impl crate::ports::store::OrganizationStore for DynamoStore {
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

    async fn set_limits(&self, id: &OrgId, limits: Limits) -> StoreResult<Organization> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(id), "ORG".into())))
            .update_expression("SET limits = :limits")
            .condition_expression(EXISTS)
            .expression_attribute_values(":limits", super::value(&limits)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => record(out.attributes.unwrap_or_default()),
            Err(e) if super::condition_failed(&e) => Err(StoreError::NotFound),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl crate::ports::limits::LimitCounters for DynamoStore {
    /// One conditional UpdateItem: `ORG#<org>` / `RATE#<second>`, kept two minutes (`ttl`).
    async fn take_event(&self, org: &OrgId, second: i64, limit: u32) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), format!("RATE#{second}"))))
            .update_expression("ADD n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", Av::N("1".into()))
            .expression_attribute_values(":limit", Av::N(limit.to_string()))
            .expression_attribute_values(":ttl", Av::N((second + 120).to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if super::condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// One conditional UpdateItem: `ORG#<org>` / `DAILY#<channel>#<day>`, kept four days.
    async fn take_daily(
        &self,
        org: &OrgId,
        channel: crate::model::DispatchMethod,
        day: time::Date,
        limit: u32,
    ) -> StoreResult<bool> {
        let expires = (day.midnight().assume_utc() + time::Duration::days(4)).unix_timestamp();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                pk(org),
                format!("DAILY#{channel}#{}", crate::model::day::format(day)),
            )))
            .update_expression("ADD n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", Av::N("1".into()))
            .expression_attribute_values(":limit", Av::N(limit.to_string()))
            .expression_attribute_values(":ttl", Av::N(expires.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if super::condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl crate::ports::store::UserStore for DynamoStore {
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

    async fn set_user_roles(&self, org: &OrgId, id: Uuid, roles: &[Role]) -> StoreResult<User> {
        self.set_roles(org, id, roles).await
    }

    async fn delete_user(&self, org: &OrgId, id: Uuid) -> StoreResult<bool> {
        self.remove_user(org, id).await
    }
}

#[async_trait]
impl crate::ports::store::TokenStore for DynamoStore {
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

    async fn list_tokens(&self, org: &OrgId, page: &PageRequest) -> StoreResult<Page<TokenRecord>> {
        self.query_page(pk(org), "TOKEN#", page).await
    }

    async fn user_tokens(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<TokenRecord>> {
        self.tokens_of(org, user).await
    }

    async fn record_token_use(
        &self,
        org: &OrgId,
        id: &TokenId,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.token_used(org, id, at).await
    }
}
