//! Notifications on SQLite: the organization's counter and the notification written in one job
//! (the limit of 100), and a PATCH conditional on the version read.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::params;
use time::OffsetDateTime;

use super::organizations::org_exists;
use super::{Sqlite, error, json, one, parse};
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
        let created = self.write(move |conn| {
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
        .await;
        self.inner
            .notifications
            .drop_key(&notification.organization);
        created
    }

    async fn get_notification(
        &self,
        org: &OrgId,
        id: &NotificationId,
    ) -> StoreResult<Option<Notification>> {
        let all = self.notifications_of(org)?;
        Ok(all
            .binary_search_by(|n| n.id.as_str().cmp(id.as_str()))
            .ok()
            .map(|at| all[at].clone()))
    }

    async fn list_notifications(
        &self,
        org: &OrgId,
        request: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        let all = self.notifications_of(org)?;
        let after = request.after.as_deref().unwrap_or_default();
        let items = all
            .iter()
            .filter(|n| n.id.as_str() > after)
            .take(request.limit.saturating_add(1))
            .cloned()
            .collect();
        Ok(Page::from_overfetch(items, request.limit, |n| {
            n.id.as_str().to_owned()
        }))
    }

    async fn update_notification(
        &self,
        notification: &Notification,
        expected_updated_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let record = json(notification)?;
        let (org, id) = (notification.organization.clone(), notification.id.clone());
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
        self.inner
            .notifications
            .drop_key(&notification.organization);
        updated
    }

    async fn delete_notification(&self, org: &OrgId, id: &NotificationId) -> StoreResult<bool> {
        let key = org.clone();
        let (org, id) = (org.clone(), id.clone());
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

impl Sqlite {
    /// Every notification of `org` in id order (at most the organization limit: a hundred),
    /// from memory after the first read; every write of a notification drops its organization's.
    fn notifications_of(&self, org: &OrgId) -> StoreResult<Arc<Vec<Notification>>> {
        let all = self.inner.notifications.get(org, || {
            self.read(|conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT record FROM notifications WHERE org = ?1 ORDER BY id")
                    .map_err(error)?;
                let rows = stmt
                    .query_map([org.as_str()], |r| r.get::<_, String>(0))
                    .map_err(error)?;
                let mut all = Vec::new();
                for row in rows {
                    all.push(parse(&row.map_err(error)?)?);
                }
                Ok(Some(all))
            })
        })?;
        Ok(all.unwrap_or_default())
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
