//! Changing and deleting users on DynamoDB, and reading an organization's tokens. A user's roles
//! are copied into each of their tokens (authenticating is one read), so a change of roles
//! rewrites them in the same transaction, and the last-admin rule is a condition of it: the
//! transaction checks that the other admin it found is still one, so two admins demoting each
//! other at once cannot both succeed (DynamoDB transactions are serializable).

use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem, Update, WriteRequest};
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{EXISTS, pk, recipients_pk};
use super::{
    DynamoStore, Pages, TransactOutcome, build, condition_failed, delete_request, key, record,
    unavailable, value,
};
use crate::model::{OrgId, Role, TokenId, TokenRecord, User, timestamp};
use crate::ports::store::{PageRequest, StoreError, StoreResult};

/// How many times a change is tried again when another write changed what it read.
const ATTEMPTS: usize = 3;

impl DynamoStore {
    /// Another admin of `org` than user `id`, if any (pages through the users).
    async fn other_admin(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Uuid>> {
        let mut page = PageRequest {
            limit: 100,
            after: None,
        };
        loop {
            let users: crate::ports::store::Page<User> =
                self.query_page(pk(org), "USER#", &page).await?;
            if let Some(admin) = users
                .items
                .iter()
                .find(|u| u.id != id && u.roles.contains(&Role::Admin))
            {
                return Ok(Some(admin.id));
            }
            match users.next {
                Some(next) => page.after = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// A transaction item checking that user `admin` is still an admin.
    fn still_admin(&self, org: &OrgId, admin: Uuid) -> StoreResult<TransactWriteItem> {
        let check = build(
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk(org), format!("USER#{admin}"))))
                .condition_expression("contains(#roles, :admin)")
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":admin", Av::S(Role::Admin.as_str().into()))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The other admin a change to user `user` must leave in place: `None` when the change
    /// leaves `user` an admin (or they never were one), `LastAdmin` when there is none.
    async fn admin_to_keep(&self, user: &User, stays_admin: bool) -> StoreResult<Option<Uuid>> {
        if stays_admin || !user.roles.contains(&Role::Admin) {
            return Ok(None);
        }
        match self.other_admin(&user.organization, user.id).await? {
            Some(admin) => Ok(Some(admin)),
            None => Err(StoreError::LastAdmin),
        }
    }

    fn set_roles_item(
        &self,
        org: &OrgId,
        sk: String,
        roles: &Av,
    ) -> StoreResult<TransactWriteItem> {
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk(org), sk)))
                .update_expression("SET #roles = :roles")
                .condition_expression(EXISTS)
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":roles", roles.clone())
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn delete_item(
        &self,
        org: &OrgId,
        sk: String,
        condition: Option<&str>,
    ) -> StoreResult<TransactWriteItem> {
        let delete = build(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk(org), sk)))
                .set_condition_expression(condition.map(str::to_owned))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    pub(super) async fn set_roles(
        &self,
        org: &OrgId,
        id: Uuid,
        roles: &[Role],
    ) -> StoreResult<User> {
        let value_of_roles = value(&roles)?;
        for _ in 0..ATTEMPTS {
            let Some(mut user) = self.get::<User>(pk(org), format!("USER#{id}")).await? else {
                return Err(StoreError::NotFound);
            };
            let keep = self
                .admin_to_keep(&user, roles.contains(&Role::Admin))
                .await?;
            let tokens = self.tokens_of(org, id).await?;
            let mut items =
                vec![self.set_roles_item(org, format!("USER#{id}"), &value_of_roles)?];
            items.extend(keep.map(|admin| self.still_admin(org, admin)).transpose()?);
            for token in &tokens {
                items.push(self.set_roles_item(
                    org,
                    format!("TOKEN#{}", token.id),
                    &value_of_roles,
                )?);
            }
            match self.transact(items).await? {
                TransactOutcome::Done => {
                    user.roles = roles.to_vec();
                    return Ok(user);
                }
                TransactOutcome::ConditionsFailed(failed) if failed.contains(&0) => {
                    return Err(StoreError::NotFound);
                }
                // The other admin was demoted, or a token revoked, meanwhile: read again.
                TransactOutcome::ConditionsFailed(_) => continue,
            }
        }
        Err(StoreError::Stale)
    }

    /// Deletes the user's places among recipients and their preferences, then (in one
    /// transaction) the user, their username and email, and their tokens. In that order so that
    /// a crash between the two leaves the user in place for a retry to finish.
    pub(super) async fn remove_user(&self, org: &OrgId, id: Uuid) -> StoreResult<bool> {
        for _ in 0..ATTEMPTS {
            let Some(user) = self.get::<User>(pk(org), format!("USER#{id}")).await? else {
                return Ok(false);
            };
            let keep = self.admin_to_keep(&user, false).await?;
            self.forget_user(org, id).await?;
            let tokens = self.tokens_of(org, id).await?;
            let mut items = vec![
                self.delete_item(org, format!("USER#{id}"), Some(EXISTS))?,
                self.delete_item(org, format!("USERNAME#{}", user.username.key()), None)?,
                self.delete_item(org, format!("EMAIL#{}", user.email), None)?,
            ];
            items.extend(keep.map(|admin| self.still_admin(org, admin)).transpose()?);
            for token in &tokens {
                items.push(self.delete_item(org, format!("TOKEN#{}", token.id), None)?);
            }
            match self.transact(items).await? {
                TransactOutcome::Done => return Ok(true),
                TransactOutcome::ConditionsFailed(failed) if failed.contains(&0) => {
                    return Ok(false);
                }
                TransactOutcome::ConditionsFailed(_) => continue,
            }
        }
        Err(StoreError::Stale)
    }

    /// Deletes user `id` from every notification's recipients, and their preferences.
    async fn forget_user(&self, org: &OrgId, id: Uuid) -> StoreResult<()> {
        let mut deletes: Vec<WriteRequest> = Vec::new();
        let delete = |pk: String, sk: String| delete_request(key(pk, sk));
        let mut page = PageRequest {
            limit: 100,
            after: None,
        };
        loop {
            let notifications: crate::ports::store::Page<crate::model::Notification> =
                self.query_page(pk(org), "NOTIF#", &page).await?;
            for n in &notifications.items {
                deletes.push(delete(recipients_pk(org, &n.id), format!("RCPT#{id}"))?);
            }
            match notifications.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let prefix = format!("PREF#{id}#");
        let query = |start| {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", Av::S(pk(org)))
                .expression_attribute_values(":prefix", Av::S(prefix.clone()))
                .projection_expression("sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
        };
        let mut pages = Pages::new(query, None);
        while let Some(items) = pages.next().await? {
            for it in items {
                if let Some(Av::S(sk)) = it.get("sk") {
                    deletes.push(delete(pk(org), sk.clone())?);
                }
            }
        }
        self.batch_write(deletes).await
    }

    /// The tokens of user `user` (a query of the organization's tokens, filtered).
    pub(super) async fn tokens_of(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<TokenRecord>> {
        let query = |start| {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression("userId = :user")
                .expression_attribute_values(":pk", Av::S(pk(org)))
                .expression_attribute_values(":prefix", Av::S("TOKEN#".into()))
                .expression_attribute_values(":user", Av::S(user.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
        };
        let mut pages = Pages::new(query, None);
        let mut tokens = Vec::new();
        while let Some(items) = pages.next().await? {
            for it in items {
                tokens.push(record(it)?);
            }
        }
        Ok(tokens)
    }

    /// Writes `lastUsedAt` unless a use less than a minute old is recorded (or the token is gone).
    pub(super) async fn token_used(
        &self,
        org: &OrgId,
        id: &TokenId,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), format!("TOKEN#{id}"))))
            .update_expression("SET lastUsedAt = :now")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt <= :stale)",
            )
            .expression_attribute_values(":now", Av::S(timestamp::format(at)))
            .expression_attribute_values(
                ":stale",
                Av::S(timestamp::format(at - TokenRecord::LAST_USED_EVERY)),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
