//! Recipients on SQLite: keyed by (organization, notification, id), written in one job.

use async_trait::async_trait;
use rusqlite::params;
use uuid::Uuid;

use super::{Sqlite, error, json, many, page};
use crate::model::Recipient;
use crate::model::{NotificationId, OrgId};
use crate::ports::store::{Page, PageRequest, RecipientStore, StoreResult};

#[async_trait]
impl RecipientStore for Sqlite {
    async fn get_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        ids: &[Uuid],
    ) -> StoreResult<Vec<Recipient>> {
        let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        self.read(|conn| {
            many(
                conn,
                "SELECT record FROM recipients WHERE org = ? AND notification = ? AND id IN (",
                &[org.as_str(), notification.as_str()],
                &keys,
            )
        })
    }

    async fn put_recipients(&self, recipients: &[Recipient]) -> StoreResult<()> {
        let rows = recipients
            .iter()
            .map(|r| {
                Ok((
                    r.organization.to_string(),
                    r.notification.to_string(),
                    r.id.to_string(),
                    json(r)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO recipients (org, notification, id, record) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (org, notification, id) DO UPDATE SET record = excluded.record",
                )
                .map_err(error)?;
            for (org, notification, id, record) in &rows {
                stmt.execute(params![org, notification, id, record])
                    .map_err(error)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        request: &PageRequest,
    ) -> StoreResult<Page<Recipient>> {
        self.read(|conn| {
            page(
                conn,
                "SELECT id, record FROM recipients WHERE org = ?1 AND notification = ?2 AND id > ?3
                 ORDER BY id LIMIT ?4",
                &[org.as_str(), notification.as_str()],
                request,
            )
        })
    }

    async fn delete_recipient(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        id: Uuid,
    ) -> StoreResult<bool> {
        let (org, notification) = (org.clone(), notification.clone());
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM recipients WHERE org = ?1 AND notification = ?2 AND id = ?3",
            )
            .and_then(|mut s| s.execute([org.as_str(), notification.as_str(), &id.to_string()]))
            .map(|n| n > 0)
            .map_err(error)
        })
        .await
    }
}
