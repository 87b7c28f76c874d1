//! An organization's operational webhook on SQLite: one row per organization, set in one
//! transaction that keeps the secret of the one it replaces.

use async_trait::async_trait;
use rusqlite::params;

use super::{Sqlite, error, json, one};
use crate::model::OperationalWebhook;
use crate::model::OrgId;
use crate::ports::store::{OperationalWebhookStore, StoreResult};

#[async_trait]
impl OperationalWebhookStore for Sqlite {
    async fn put_operational_webhook(
        &self,
        hook: &OperationalWebhook,
    ) -> StoreResult<(OperationalWebhook, bool)> {
        let hook = hook.clone();
        self.write(move |conn| {
            let stored: Option<OperationalWebhook> = one(
                conn,
                "SELECT record FROM operational_webhooks WHERE org = ?1",
                [hook.organization.as_str()],
            )?;
            let (next, created) = match stored {
                Some(old) => (
                    OperationalWebhook {
                        secret: old.secret,
                        created_at: old.created_at,
                        ..hook.clone()
                    },
                    false,
                ),
                None => (hook.clone(), true),
            };
            let record = json(&next)?;
            conn.prepare_cached(
                "INSERT INTO operational_webhooks (org, record) VALUES (?1, ?2)
                 ON CONFLICT (org) DO UPDATE SET record = excluded.record",
            )
            .and_then(|mut s| s.execute(params![next.organization.as_str(), record]))
            .map_err(error)?;
            Ok((next, created))
        })
        .await
    }

    async fn get_operational_webhook(
        &self,
        org: &OrgId,
    ) -> StoreResult<Option<OperationalWebhook>> {
        self.read(|conn| {
            one(
                conn,
                "SELECT record FROM operational_webhooks WHERE org = ?1",
                [org.as_str()],
            )
        })
    }

    async fn delete_operational_webhook(&self, org: &OrgId) -> StoreResult<bool> {
        let org = org.clone();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM operational_webhooks WHERE org = ?1")
                .and_then(|mut s| s.execute([org.as_str()]))
                .map(|n| n > 0)
                .map_err(error)
        })
        .await
    }
}
