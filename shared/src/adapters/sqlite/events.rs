//! Events on SQLite: an event and its idempotency key written in one job, a request's key with
//! its queued delivery, and the fan-out's progress in the event's record (`$.fanout`,
//! `$.fanoutRound`).

use async_trait::async_trait;
use rusqlite::{Connection, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Sqlite, error, json, one};
use crate::model::{Delivery, Event, EventCreated, Fanout, FanoutStatus};
use crate::model::{OrgId, timestamp};
use crate::ports::store::{EventStore, FanoutProgress, StoreError, StoreResult, Unique};

/// Opens event `id`'s failed fan-out again: `pending`, one more round. `false` unless it was
/// `failed`.
pub(super) fn reopen_fanout(conn: &Connection, org: &str, id: &str) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE events SET record = json_set(record, '$.fanout.status', 'pending',
                '$.fanoutRound', coalesce(json_extract(record, '$.fanoutRound'), 0) + 1)
             WHERE org = ?1 AND id = ?2 AND json_extract(record, '$.fanout.status') = 'failed'",
        )
        .and_then(|mut s| s.execute([org, id]))
        .map_err(error)?;
    Ok(changed == 1)
}

/// Records an event and its idempotency key (part of a writer job: the event intake's too).
pub(crate) fn record_event(
    conn: &Connection,
    event: &Event,
    key_expires: OffsetDateTime,
) -> StoreResult<EventCreated> {
    let org = event.organization.as_str();
    if let Some(key) = &event.idempotency_key {
        if let Some(first) = super::request_keys::held(conn, org, key, event.created_at)? {
            let first: Option<Event> = one(
                conn,
                "SELECT record FROM events WHERE org = ?1 AND id = ?2",
                [org, &first],
            )?;
            return Ok(match first {
                Some(first) if first.body_hash == event.body_hash => EventCreated::Replay(first),
                _ => EventCreated::KeyReused,
            });
        }
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (org, key, event, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (org, key) DO UPDATE SET event = excluded.event, expires_at = excluded.expires_at",
        )
        .and_then(|mut s| {
            s.execute(params![
                org,
                key,
                event.id.to_string(),
                timestamp::format(key_expires)
            ])
        })
        .map_err(error)?;
    }
    let taken = conn
        .prepare_cached("SELECT 1 FROM events WHERE org = ?1 AND id = ?2")
        .and_then(|mut s| s.exists([org, &event.id.to_string()]))
        .map_err(error)?;
    if taken {
        return Err(StoreError::Conflict(vec![Unique::DeliveryId]));
    }
    let record = json(event)?;
    conn.prepare_cached("INSERT INTO events (org, id, created_at, record) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| {
            s.execute(params![
                org,
                event.id.to_string(),
                timestamp::format(event.created_at),
                record
            ])
        })
        .map_err(error)?;
    Ok(EventCreated::New)
}

#[async_trait]
impl EventStore for Sqlite {
    async fn create_event(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
    ) -> StoreResult<EventCreated> {
        let event = event.clone();
        self.write(move |conn| record_event(conn, &event, key_expires))
            .await
    }

    async fn get_event(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Event>> {
        // The fan-out reads an event, then the sender once per delivery: from memory after the
        // first read (an event changes only when its fan-out is recorded, which drops it).
        let cached = self.inner.events.get(&(org.clone(), id), || {
            self.read(|conn| {
                one(
                    conn,
                    "SELECT record FROM events WHERE org = ?1 AND id = ?2",
                    [org.as_str(), &id.to_string()],
                )
            })
        })?;
        Ok(cached.map(|e| (*e).clone()))
    }

    async fn take_request_key(
        &self,
        key: &str,
        delivery: &Delivery,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        let (key, delivery) = (crate::ports::store::request_key(key), delivery.clone());
        self.write(move |conn| {
            let org = delivery.organization.to_string();
            let taken = super::request_keys::take(conn, &org, &key, delivery.id, now, expires)?;
            if taken.is_none() {
                // The row is its own queue entry: visible at once.
                let clock = super::millis(OffsetDateTime::now_utc());
                super::delivery_queue::enqueue(conn, [(delivery.clone(), None, clock)])?;
            }
            Ok(taken)
        })
        .await
    }

    async fn free_request_key(&self, key: &str, delivery: &Delivery) -> StoreResult<()> {
        let (key, delivery) = (crate::ports::store::request_key(key), delivery.clone());
        self.write(move |conn| {
            let org = delivery.organization.to_string();
            super::request_keys::free(conn, &org, &key, delivery.id)?;
            conn.prepare_cached(
                "DELETE FROM deliveries WHERE org = ?1 AND list_key = ?2 AND status = 'queued'",
            )
            .and_then(|mut s| s.execute([org, delivery.list_key()]))
            .map_err(error)?;
            Ok(())
        })
        .await
    }

    async fn record_fanout(
        &self,
        org: &OrgId,
        event: Uuid,
        progress: FanoutProgress,
    ) -> StoreResult<()> {
        let (path, value, round) = match progress {
            // The fan-out's jobs are queued in the same database as the event: nothing to relay.
            FanoutProgress::Taken => return Ok(()),
            FanoutProgress::Done { deliveries } => (
                "$.fanout",
                serde_json::to_string(&Fanout {
                    status: FanoutStatus::Done,
                    deliveries,
                })
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                None,
            ),
            // The deliveries made before it failed stay counted.
            FanoutProgress::Failed { round } => {
                ("$.fanout.status", "\"failed\"".to_owned(), Some(round))
            }
        };
        let (org_id, id) = (org.to_string(), event.to_string());
        let written = self
            .write(move |conn| {
                let changed = match round {
                    None => conn
                        .prepare_cached(
                            "UPDATE events SET record = json_set(record, ?3, json(?4))
                             WHERE org = ?1 AND id = ?2",
                        )
                        .and_then(|mut s| s.execute(params![org_id, id, path, value])),
                    Some(round) => conn
                        .prepare_cached(
                            "UPDATE events SET record = json_set(record, ?3, json(?4))
                             WHERE org = ?1 AND id = ?2
                                AND json_extract(record, '$.fanout.status') = 'pending'
                                AND coalesce(json_extract(record, '$.fanoutRound'), 0) = ?5",
                        )
                        .and_then(|mut s| s.execute(params![org_id, id, path, value, round])),
                };
                changed.map_err(error)?;
                Ok(())
            })
            .await;
        self.inner.events.drop_key(&(org.clone(), event));
        written
    }

    async fn reopen_fanout(
        &self,
        org: &OrgId,
        event: Uuid,
        _now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (org_id, id) = (org.to_string(), event.to_string());
        let reopened = self
            .write(move |conn| reopen_fanout(conn, &org_id, &id))
            .await;
        self.inner.events.drop_key(&(org.clone(), event));
        reopened
    }

    async fn delete_event(&self, event: &Event) -> StoreResult<()> {
        let key = (event.organization.clone(), event.id);
        let event = event.clone();
        let deleted = self
            .write(move |conn| {
                let (org, id) = (event.organization.as_str(), event.id.to_string());
                conn.prepare_cached("DELETE FROM events WHERE org = ?1 AND id = ?2")
                    .and_then(|mut s| s.execute([org, &id]))
                    .map_err(error)?;
                if let Some(key) = &event.idempotency_key {
                    conn.prepare_cached(
                        "DELETE FROM idempotency_keys WHERE org = ?1 AND key = ?2 AND event = ?3",
                    )
                    .and_then(|mut s| s.execute([org, key, &id]))
                    .map_err(error)?;
                }
                Ok(())
            })
            .await;
        self.inner.events.drop_key(&key);
        deleted
    }
}
