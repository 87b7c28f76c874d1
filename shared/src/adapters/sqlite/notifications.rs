//! Notifications on SQLite: the organization's counter and the notification written in one job
//! (the limit of 100), and a PATCH conditional on the version read.

use async_trait::async_trait;
use rusqlite::params;
use time::OffsetDateTime;

use super::organizations::org_exists;
use super::{Sqlite, error, json, one, page};
use crate::model::Notification;
use crate::model::{NotificationId, OrgId, timestamp};
use crate::ports::store::{
    NotificationStore, Page, PageRequest, SendSlots, StoreError, StoreResult, Unique,
};

#[async_trait]
impl NotificationStore for Sqlite {
    async fn create_notification(&self, notification: &Notification, max: u32) -> StoreResult<()> {
        let record = json(notification)?;
        let (org, id) = (notification.organization.clone(), notification.id.clone());
        self.write(move |conn| {
            let count: Option<i64> = conn
                .prepare_cached("SELECT notification_count FROM organizations WHERE id = ?1")
                .and_then(|mut s| {
                    rusqlite::OptionalExtension::optional(s.query_row([org.as_str()], |r| r.get(0)))
                })
                .map_err(error)?;
            match count {
                None => return Err(StoreError::NotFound),
                Some(n) if n >= i64::from(max) => return Err(StoreError::LimitReached),
                Some(_) => {}
            }
            let taken = conn
                .prepare_cached("SELECT 1 FROM notifications WHERE org = ?1 AND id = ?2")
                .and_then(|mut s| s.exists([org.as_str(), id.as_str()]))
                .map_err(error)?;
            if taken {
                return Err(StoreError::Conflict(vec![Unique::NotificationId]));
            }
            conn.prepare_cached("INSERT INTO notifications (org, id, record) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![org.as_str(), id.as_str(), record]))
                .map_err(error)?;
            conn.prepare_cached(
                "UPDATE organizations SET notification_count = notification_count + 1 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute([org.as_str()]))
            .map_err(error)?;
            Ok(())
        })
        .await
    }

    async fn get_notification(
        &self,
        org: &OrgId,
        id: &NotificationId,
    ) -> StoreResult<Option<Notification>> {
        let cached = self
            .inner
            .notifications
            .get(&(org.clone(), id.clone()), || {
                self.read(|conn| {
                    one(
                        conn,
                        "SELECT record FROM notifications WHERE org = ?1 AND id = ?2",
                        [org.as_str(), id.as_str()],
                    )
                })
            })?;
        Ok(cached.map(|n| (*n).clone()))
    }

    async fn list_notifications(
        &self,
        org: &OrgId,
        request: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        self.read(|conn| {
            page(
                conn,
                "SELECT id, record FROM notifications WHERE org = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                &[org.as_str()],
                request,
            )
        })
    }

    async fn update_notification(
        &self,
        notification: &Notification,
        expected_updated_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let record = json(notification)?;
        let key = (notification.organization.clone(), notification.id.clone());
        let (org, id) = key.clone();
        let updated = self
            .write(move |conn| {
                let stored: Option<Notification> = one(
                    conn,
                    "SELECT record FROM notifications WHERE org = ?1 AND id = ?2",
                    [org.as_str(), id.as_str()],
                )?;
                let stored = stored.ok_or(StoreError::NotFound)?;
                // As DynamoDB's condition compares them: at the millisecond the API shows.
                if timestamp::format(stored.updated_at) != timestamp::format(expected_updated_at) {
                    return Err(StoreError::Stale);
                }
                conn.prepare_cached(
                    "UPDATE notifications SET record = ?3 WHERE org = ?1 AND id = ?2",
                )
                .and_then(|mut s| s.execute(params![org.as_str(), id.as_str(), record]))
                .map_err(error)?;
                Ok(())
            })
            .await;
        self.inner.notifications.drop_key(&key);
        updated
    }

    async fn delete_notification(&self, org: &OrgId, id: &NotificationId) -> StoreResult<bool> {
        let key = (org.clone(), id.clone());
        let (org, id) = key.clone();
        let deleted = self.write(move |conn| {
            conn.prepare_cached("DELETE FROM send_slots WHERE org = ?1 AND notification = ?2")
                .and_then(|mut s| s.execute([org.as_str(), id.as_str()]))
                .map_err(error)?;
            let deleted = conn
                .prepare_cached("DELETE FROM notifications WHERE org = ?1 AND id = ?2")
                .and_then(|mut s| s.execute([org.as_str(), id.as_str()]))
                .map_err(error)?
                > 0;
            if deleted && org_exists(conn, org.as_str())? {
                conn.prepare_cached(
                    "UPDATE organizations SET notification_count = notification_count - 1 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute([org.as_str()]))
                .map_err(error)?;
            }
            conn.prepare_cached("DELETE FROM recipients WHERE org = ?1 AND notification = ?2")
                .and_then(|mut s| s.execute([org.as_str(), id.as_str()]))
                .map_err(error)?;
            Ok(deleted)
        })
        .await;
        self.inner.notifications.drop_key(&key);
        deleted
    }
}

#[async_trait]
impl SendSlots for Sqlite {
    async fn reserve_send_slot(
        &self,
        org: &OrgId,
        id: &NotificationId,
        earliest: OffsetDateTime,
        spacing: std::time::Duration,
        count: u32,
    ) -> StoreResult<OffsetDateTime> {
        use crate::ports::store::{slot_micros, slot_time, spacing_micros};
        let (org, id) = (org.clone(), id.clone());
        let at = slot_micros(earliest);
        // The clock moves on by the slots taken.
        let step = spacing_micros(spacing).saturating_mul(i64::from(count.max(1)));
        let slot = self
            .write(move |conn| {
                let next: Option<i64> = conn
                    .prepare_cached(
                        "SELECT next_slot FROM send_slots WHERE org = ?1 AND notification = ?2",
                    )
                    .and_then(|mut s| {
                        rusqlite::OptionalExtension::optional(
                            s.query_row([org.as_str(), id.as_str()], |r| r.get(0)),
                        )
                    })
                    .map_err(error)?;
                let slot = next.map_or(at, |next| next.max(at));
                conn.prepare_cached(
                    "INSERT INTO send_slots (org, notification, next_slot) VALUES (?1, ?2, ?3)
                     ON CONFLICT (org, notification) DO UPDATE SET next_slot = excluded.next_slot",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        org.as_str(),
                        id.as_str(),
                        slot.saturating_add(step)
                    ])
                })
                .map_err(error)?;
                Ok(slot)
            })
            .await?;
        slot_time(slot)
    }
}
