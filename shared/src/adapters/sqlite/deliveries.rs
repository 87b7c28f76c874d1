//! Deliveries on SQLite (events: [`super::events`]): a
//! delivery's birth record (JSON) and its state (columns), claimed and settled by one job each;
//! the delivery log in `list_key` order; and the retention job that prunes what is older than
//! `HERALD_RETENTION_DAYS`.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::delivery_row::{DELIVERY, delivery, history_json, record_of};
use super::redelivery::{bury, requeue};
use super::{Sqlite, error};
use crate::model::NotificationId;
use crate::model::{Burial, Claim, Delivery, DeliveryFilter, Outcome};
use crate::model::{DeliveryStatus, OrgId, timestamp};
use crate::ports::store::{
    DeliveryLedger, DeliveryLog, EventStore, Page, PageRequest, Settlement, StoreError, StoreResult,
};

fn optional_delivery(
    conn: &Connection,
    org: &str,
    list_key: &str,
) -> StoreResult<Option<Delivery>> {
    conn.prepare_cached(&format!(
        "SELECT {DELIVERY} WHERE org = ?1 AND list_key = ?2"
    ))
    .and_then(|mut s| s.query_row([org, list_key], delivery).optional())
    .map_err(error)?
    .transpose()
}

/// The deliveries a statement selecting [`DELIVERY`]'s columns finds, in its order.
fn select_deliveries(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Delivery>> {
    let mut stmt = conn.prepare_cached(sql).map_err(error)?;
    let rows = stmt.query_map(params, delivery).map_err(error)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(error)??);
    }
    Ok(out)
}

/// Writes a delivery whole (state and birth record), replacing one with the same key.
pub(super) fn put_delivery(conn: &Connection, d: &Delivery) -> StoreResult<()> {
    let record = record_of(d)?;
    let history = history_json(&d.history)?;
    conn.prepare_cached(
        "INSERT INTO deliveries
            (org, list_key, event, status, attempts, last_error, reason, lease_until, updated_at,
             record, notification, round, history)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (org, list_key) DO UPDATE SET
            event = excluded.event, status = excluded.status, attempts = excluded.attempts,
            last_error = excluded.last_error, reason = excluded.reason,
            lease_until = excluded.lease_until, updated_at = excluded.updated_at,
            record = excluded.record, notification = excluded.notification,
            round = excluded.round, history = excluded.history",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.organization.as_str(),
            d.list_key(),
            d.event.map(|e| e.to_string()),
            d.status.as_str(),
            d.attempts,
            d.last_error,
            d.reason.map(|r| r.as_str()),
            d.lease_until.map(timestamp::format),
            timestamp::format(d.updated_at),
            record,
            d.notification_id().map(|n| n.as_str()),
            d.round,
            history,
        ])
    })
    .map_err(error)?;
    Ok(())
}

/// Claims one delivery (part of a writer job): one statement records it if it is new, or takes
/// it if it is `queued`, `held`, or `sending` with an expired lease, in the message's round or
/// an earlier one; only when it does neither is the record read, to tell a settled delivery (or
/// one of a later round: the message is stale) from a busy one.
fn claim(
    conn: &Connection,
    queued: &Delivery,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> StoreResult<Claim> {
    let born = Delivery {
        status: DeliveryStatus::Sending,
        attempts: 1,
        last_error: None,
        reason: None,
        lease_until: Some(lease_until),
        updated_at: now,
        ..queued.clone()
    };
    let (org, key) = (queued.organization.as_str(), queued.list_key());
    let (lease, now_text) = (timestamp::format(lease_until), timestamp::format(now));
    let record = record_of(&born)?;
    let claimed = conn
        .prepare_cached(&format!(
            "INSERT INTO deliveries
                (org, list_key, event, status, attempts, last_error, reason, lease_until, updated_at,
                 record, notification, round)
             VALUES (?1, ?2, ?3, 'sending', 1, NULL, NULL, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (org, list_key) DO UPDATE SET
                status = 'sending', lease_until = ?4, attempts = attempts + 1, updated_at = ?5,
                round = ?8
             WHERE round <= ?8
                AND (status IN ('queued', 'held') OR (status = 'sending' AND lease_until < ?5))
             RETURNING {}",
            DELIVERY.trim_end_matches(" FROM deliveries")
        ))
        .and_then(|mut s| {
            s.query_row(
                params![
                    org,
                    key,
                    queued.event.map(|e| e.to_string()),
                    lease,
                    now_text,
                    record,
                    queued.notification_id().map(|n| n.as_str()),
                    queued.round,
                ],
                delivery,
            )
            .optional()
        })
        .map_err(error)?;
    if let Some(claimed) = claimed {
        return claimed.map(|d| Claim::Claimed(Box::new(d)));
    }
    let (status, round): (String, u32) = conn
        .prepare_cached("SELECT status, round FROM deliveries WHERE org = ?1 AND list_key = ?2")
        .and_then(|mut s| s.query_row([org, &key], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(error)?;
    let status = DeliveryStatus::parse(&status)
        .map_err(|e| StoreError::Corrupt(format!("delivery status: {e}")))?;
    Ok(Claim::found(status, round, queued.round))
}

/// Ends one claim, if `settlement` holds its lease (part of a writer job).
pub(super) fn settle(conn: &Connection, settlement: &Settlement, now: &str) -> StoreResult<bool> {
    use DeliveryStatus as S;
    let (status, last_error, reason) = match &settlement.outcome {
        Outcome::Sent => (S::Sent, None, None),
        Outcome::Failed(e) => (S::Failed, Some(e.as_str()), None),
        Outcome::Retry(e) => (S::Queued, Some(e.as_str()), None),
        Outcome::Skipped(r) => (S::Skipped, None, Some(r.as_str())),
        Outcome::Held => (S::Held, None, None),
    };
    let d = &settlement.delivery;
    let history = history_json(&d.history_with(settlement.attempt.as_ref()))?;
    conn.prepare_cached(
        "UPDATE deliveries SET status = ?3, updated_at = ?4, lease_until = NULL,
            last_error = coalesce(?5, last_error), reason = coalesce(?6, reason), history = ?8
         WHERE org = ?1 AND list_key = ?2 AND status = 'sending' AND lease_until = ?7",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.organization.as_str(),
            d.list_key(),
            status.as_str(),
            now,
            last_error,
            reason,
            timestamp::format(settlement.lease_until),
            history,
        ])
    })
    .map(|n| n == 1)
    .map_err(error)
}

#[async_trait]
impl DeliveryLog for Sqlite {
    async fn get_delivery(
        &self,
        org: &OrgId,
        created_at: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Option<Delivery>> {
        let key = Delivery::key_of(created_at, id);
        self.read(|conn| optional_delivery(conn, org.as_str(), &key))
    }

    async fn find_delivery(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Delivery>> {
        let id = id.to_string();
        self.read(move |conn| {
            // The expression of the index `deliveries_by_id`, so that the index serves it.
            conn.prepare_cached(&format!(
                "SELECT {DELIVERY} WHERE org = ?1 \
                 AND substr(list_key, instr(list_key, '#') + 1) = ?2"
            ))
            .and_then(|mut s| {
                s.query_row([org.as_str(), id.as_str()], delivery)
                    .optional()
            })
            .map_err(error)?
            .transpose()
        })
    }

    async fn list_deliveries(
        &self,
        org: &OrgId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        // Held ones through their partial index (the resume job's input): a scan of the log
        // would pass every sent delivery on the way.
        let index = if filter.status == Some(DeliveryStatus::Held) {
            " INDEXED BY deliveries_held"
        } else {
            ""
        };
        let mut sql = format!("SELECT {DELIVERY}{index} WHERE org = ?");
        let mut values = vec![Value::Text(org.to_string())];
        if let Some(after) = &page.after {
            sql.push_str(" AND list_key < ?");
            values.push(Value::Text(after.clone()));
        }
        match filter.status {
            // A literal, so that the partial index of held deliveries serves it.
            Some(DeliveryStatus::Held) => sql.push_str(" AND status = 'held'"),
            Some(status) => {
                sql.push_str(" AND status = ?");
                values.push(Value::Text(status.as_str().into()));
            }
            None => {}
        }
        let event_time = match filter.event {
            Some(event) => match self.get_event(org, event).await? {
                // An event's deliveries carry its time: their keys lie in `<time>#…`.
                Some(e) => Some((event, timestamp::format(e.created_at))),
                None => return Ok(Page::default()),
            },
            None => None,
        };
        if let Some((event, at)) = event_time {
            sql.push_str(" AND list_key > ? AND list_key < ? AND event = ?");
            values.push(Value::Text(format!("{at}#")));
            values.push(Value::Text(format!("{at}#~")));
            values.push(Value::Text(event.to_string()));
        }
        sql.push_str(" ORDER BY list_key DESC LIMIT ?");
        values.push(Value::Integer(
            i64::try_from(page.limit + 1).unwrap_or(i64::MAX),
        ));
        let items =
            self.read(|conn| select_deliveries(conn, &sql, rusqlite::params_from_iter(values)))?;
        Ok(Page::from_overfetch(items, page.limit, Delivery::list_key))
    }

    async fn failed_deliveries(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        let lower = match &page.after {
            Some(after) => after.clone(),
            None => timestamp::format(since),
        };
        // Every key of a delivery created at `until` sorts below `<until>#~`.
        let upper = format!("{}#~", timestamp::format(until));
        let limit = i64::try_from(page.limit + 1).unwrap_or(i64::MAX);
        let items = self.read(|conn| {
            select_deliveries(
                conn,
                &format!(
                    "SELECT {DELIVERY} INDEXED BY deliveries_failed
                     WHERE org = ?1 AND notification = ?2 AND status = 'failed'
                        AND list_key > ?3 AND list_key < ?4
                     ORDER BY list_key LIMIT ?5"
                ),
                params![org.as_str(), notification.as_str(), lower, upper, limit],
            )
        })?;
        Ok(Page::from_overfetch(items, page.limit, Delivery::list_key))
    }
}

#[async_trait]
impl DeliveryLedger for Sqlite {
    async fn put_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let deliveries = deliveries.to_vec();
        self.write(move |conn| deliveries.iter().try_for_each(|d| put_delivery(conn, d)))
            .await
    }

    async fn requeue_deliveries(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
    ) -> Vec<StoreResult<bool>> {
        let now = timestamp::format(now);
        self.write_each(deliveries, move |conn, d| requeue(conn, d, &now))
            .await
    }

    async fn bury_deliveries(
        &self,
        deliveries: &[Delivery],
        error_text: &str,
        now: OffsetDateTime,
    ) -> Vec<StoreResult<Burial>> {
        let (text, now) = (error_text.to_owned(), timestamp::format(now));
        self.write_each(deliveries, move |conn, d| bury(conn, d, &text, &now))
            .await
    }

    async fn claim_deliveries(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Vec<StoreResult<Claim>> {
        self.write_each(deliveries, move |conn, d| claim(conn, d, now, lease_until))
            .await
    }

    async fn settle_deliveries(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Vec<StoreResult<bool>> {
        let now = timestamp::format(now);
        self.write_each(settlements, move |conn, s| settle(conn, s, &now))
            .await
    }

    async fn release_held_all(&self, deliveries: &[Delivery]) -> Vec<StoreResult<bool>> {
        self.write_each(deliveries, |conn, d| {
            conn.prepare_cached(
                "UPDATE deliveries SET status = 'queued'
                 WHERE org = ?1 AND list_key = ?2 AND status = 'held'",
            )
            .and_then(|mut s| s.execute([d.organization.as_str(), &d.list_key()]))
            .map(|changed| changed == 1)
            .map_err(error)
        })
        .await
    }
}

impl Sqlite {
    /// `f` of each item, all in one writer job (one transaction): one answer per item, in order,
    /// or the job's error for each when it fails.
    async fn write_each<T, R>(
        &self,
        items: &[T],
        f: impl Fn(&Connection, &T) -> StoreResult<R> + Send + 'static,
    ) -> Vec<StoreResult<R>>
    where
        T: Clone + Send + 'static,
        R: Send + 'static,
    {
        if items.is_empty() {
            return Vec::new();
        }
        let (items, n) = (items.to_vec(), items.len());
        each(
            n,
            self.write(move |conn| items.iter().map(|i| f(conn, i)).collect())
                .await,
        )
    }
}

/// The answers of a batch written in one job: each item's, or the job's error for each.
fn each<T>(n: usize, job: StoreResult<Vec<T>>) -> Vec<StoreResult<T>> {
    match job {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
}
