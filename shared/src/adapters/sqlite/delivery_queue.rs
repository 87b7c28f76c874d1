//! The embedded backend's delivery queue: the delivery rows themselves. A delivery's row is its
//! queue entry — visible from `visible_at`, received `receives` times, holding its send `slot` —
//! with SQS's semantics as the contract suite states them (at least once, a visibility timeout,
//! a receive count, redrive to `dead_letters` after `max_receives` unacknowledged receives).
//!
//! What that saves the sender ([`Inbox`]): taking a batch receives and claims it in one
//! transaction, and finishing it settles it and moves its entries in another — two commits per
//! batch and two row writes per delivery, where a queue of messages beside the rows took five
//! writes (a message inserted, received and deleted; the row claimed and settled).
//!
//! A receipt is `<rowid>.<receives>`: only the latest receive's receipt moves the entry. Queue
//! times are wall-clock milliseconds, so that delays survive a restart; leases are the sender's
//! clock, as everywhere else.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::deliveries::settle;
use super::delivery_row::{DELIVERY, DELIVERY_COLUMNS, delivery, history_json, record_of};
use super::{Sqlite, error, json, millis};
use crate::model::{Claim, Delivery, DeliveryStatus, timestamp};
use crate::ports::inbox::{Ending, Entry, Finished, Inbox, Taken};
use crate::ports::queue::{
    DeliveryMessage, Disposition, MAX_SEND_DELAY, Queue, QueueError, Received,
};
use crate::ports::store::{StoreError, StoreResult};

/// The dead-letter table's name for the delivery queue (what the dead-letter pass reads).
pub const DEAD_LETTERS: &str = "deliveries";

/// The delivery rows of one database, as the delivery queue and the sender's inbox.
#[derive(Clone, Debug)]
pub struct DeliveryRows {
    db: Sqlite,
    max_receives: u32,
}

impl DeliveryRows {
    /// The rows of `db`, redriving an entry at its `max_receives`-th unacknowledged receive
    /// (the retry schedule's attempts).
    pub fn new(db: Sqlite, max_receives: u32) -> Self {
        Self { db, max_receives }
    }
}

fn unavailable(e: StoreError) -> QueueError {
    match e {
        StoreError::Corrupt(why) => QueueError::Corrupt(why),
        other => QueueError::Unavailable(other.to_string()),
    }
}

fn receipt_parts(receipt: &str) -> Option<(i64, i64)> {
    let (id, receives) = receipt.split_once('.')?;
    Some((id.parse().ok()?, receives.parse().ok()?))
}

/// Milliseconds from now, capped as a wait can be.
fn after(now: i64, wait: Duration) -> i64 {
    now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
}

/// Puts each delivery on the queue, visible from its time (part of a writer job): a delivery
/// not yet recorded is recorded as queued; one that is keeps its state, and its entry is visible
/// again with its receives counted afresh (as a message sent again is on SQS).
pub(super) fn enqueue(
    conn: &Connection,
    entries: impl IntoIterator<Item = (Delivery, Option<OffsetDateTime>, i64)>,
) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO deliveries
                (org, list_key, event, status, attempts, last_error, reason, lease_until,
                 updated_at, record, notification, round, history, visible_at, receives, slot)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0, ?15)
             ON CONFLICT (org, list_key) DO UPDATE SET
                visible_at = excluded.visible_at, receives = 0, slot = excluded.slot",
        )
        .map_err(error)?;
    for (d, slot, visible_at) in entries {
        stmt.execute(params![
            d.organization.as_str(),
            d.list_key(),
            d.event.map(|e| e.to_string()),
            d.status.as_str(),
            d.attempts,
            d.last_error,
            d.reason.map(|r| r.as_str()),
            d.lease_until.map(timestamp::format),
            timestamp::format(d.updated_at),
            record_of(&d)?,
            d.notification_id().map(|n| n.as_str()),
            d.round,
            history_json(&d.history)?,
            visible_at,
            slot.map(timestamp::format),
        ])
        .map_err(error)?;
    }
    Ok(())
}

/// A row as received: its id, its receives (this one counted), the slot it holds, the delivery.
struct Row {
    id: i64,
    receives: i64,
    slot: Option<OffsetDateTime>,
    delivery: Delivery,
}

/// Receives up to `want` visible rows (part of a writer job): each hidden until `hidden_until`
/// and counted; one received `max_receives` times already goes to the dead letters instead.
/// `claim` is called with each row received, to claim it in the same statement's transaction.
fn receive_rows(
    conn: &Connection,
    want: usize,
    now: i64,
    max_receives: u32,
    mut claim: impl FnMut(&Connection, &Row) -> StoreResult<Option<Claim>>,
) -> StoreResult<Vec<(Row, Option<Claim>)>> {
    let ids: Vec<i64> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT rowid FROM deliveries WHERE visible_at <= ?1 ORDER BY visible_at LIMIT ?2",
            )
            .map_err(error)?;
        let rows = stmt
            .query_map(params![now, i64::try_from(want).unwrap_or(10)], |r| {
                r.get(0)
            })
            .map_err(error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(error)?
    };
    let columns = DELIVERY.trim_end_matches(" FROM deliveries");
    let mut read = conn
        .prepare_cached(&format!(
            "SELECT {columns}, receives, slot FROM deliveries WHERE rowid = ?1"
        ))
        .map_err(error)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (found, receives, slot) = read
            .query_row([id], |r| {
                Ok((
                    delivery(r)?,
                    r.get::<_, i64>(DELIVERY_COLUMNS)?,
                    r.get::<_, Option<String>>(DELIVERY_COLUMNS + 1)?,
                ))
            })
            .map_err(error)?;
        let row = Row {
            id,
            receives: receives + 1,
            slot: slot
                .as_deref()
                .map(timestamp::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("send slot: {e}")))?,
            delivery: found?,
        };
        if row.receives > i64::from(max_receives) {
            let body = json(&DeliveryMessage {
                delivery: row.delivery,
                slot: row.slot,
            })?;
            conn.prepare_cached(
                "INSERT INTO dead_letters (queue, died_at, receives, body) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![DEAD_LETTERS, now, row.receives, body]))
            .map_err(error)?;
            conn.prepare_cached(
                "UPDATE deliveries SET visible_at = NULL, receives = ?2 WHERE rowid = ?1",
            )
            .and_then(|mut s| s.execute(params![id, row.receives]))
            .map_err(error)?;
            continue;
        }
        let claimed = claim(conn, &row)?;
        out.push((row, claimed));
    }
    Ok(out)
}

/// Claims a received row for sending (part of its receive's job): new, `queued`, `held`, or
/// `sending` with an expired lease becomes `sending` until `lease_until`, one more attempt.
/// Otherwise what the claim found: settled, or leased by another sender.
fn claim_row(
    conn: &Connection,
    row: &Row,
    hidden_until: i64,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> StoreResult<Claim> {
    let d = &row.delivery;
    let claimable = match d.status {
        DeliveryStatus::Queued | DeliveryStatus::Held => true,
        DeliveryStatus::Sending => d.lease_until.is_none_or(|lease| lease < now),
        _ => false,
    };
    if !claimable {
        hide(conn, row, hidden_until)?;
        return Ok(Claim::found(d.status, d.round, d.round));
    }
    conn.prepare_cached(
        "UPDATE deliveries SET receives = ?2, visible_at = ?3, status = 'sending', lease_until = ?4,
            attempts = attempts + 1, updated_at = ?5
         WHERE rowid = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.id,
            row.receives,
            hidden_until,
            timestamp::format(lease_until),
            timestamp::format(now),
        ])
    })
    .map_err(error)?;
    Ok(Claim::Claimed(Box::new(Delivery {
        status: DeliveryStatus::Sending,
        attempts: d.attempts + 1,
        lease_until: Some(lease_until),
        updated_at: now,
        ..d.clone()
    })))
}

/// Hides a received row until `hidden_until`, its receive counted.
fn hide(conn: &Connection, row: &Row, hidden_until: i64) -> StoreResult<()> {
    conn.prepare_cached("UPDATE deliveries SET receives = ?2, visible_at = ?3 WHERE rowid = ?1")
        .and_then(|mut s| s.execute(params![row.id, row.receives, hidden_until]))
        .map_err(error)?;
    Ok(())
}

/// Moves the entry named by `receipt`, if it is still that receive's (part of a writer job).
fn move_entry(conn: &Connection, receipt: &str, visible_at: Option<i64>) -> StoreResult<()> {
    let Some((id, receives)) = receipt_parts(receipt) else {
        return Ok(());
    };
    conn.prepare_cached("UPDATE deliveries SET visible_at = ?3 WHERE rowid = ?1 AND receives = ?2")
        .and_then(|mut s| s.execute(params![id, receives, visible_at]))
        .map_err(error)?;
    Ok(())
}

/// Records one ending (part of the batch's writer job).
fn finish_one(conn: &Connection, ending: &Ending, now: &str, now_ms: i64) -> StoreResult<Finished> {
    let receipt = &ending.taken.receipt;
    if let Some(settlement) = &ending.settlement
        && !settle(conn, settlement, now)?
    {
        return Ok(Finished::Lost);
    }
    enqueue(
        conn,
        ending.raises.iter().map(|d| (d.clone(), None, now_ms)),
    )?;
    match &ending.entry {
        Entry::Message(Disposition::Ack) => move_entry(conn, receipt, None)?,
        Entry::Message(Disposition::Delay(wait)) => {
            move_entry(conn, receipt, Some(after(now_ms, *wait)))?;
        }
        Entry::Message(Disposition::Leave) => {}
        Entry::PutBack { wait, slot } => {
            let Some((id, receives)) = receipt_parts(receipt) else {
                return Ok(Finished::Done);
            };
            // Taken and claimed together: the claim's attempt and the receive are given back.
            let claimed = matches!(ending.taken.claim, Some(Ok(Claim::Claimed(_))));
            let previous = &ending.taken.delivery;
            conn.prepare_cached(
                "UPDATE deliveries SET visible_at = ?3, slot = ?4, receives = receives - 1,
                    status = iif(?5, ?6, status), attempts = iif(?5, ?7, attempts),
                    lease_until = iif(?5, ?8, lease_until), updated_at = iif(?5, ?9, updated_at)
                 WHERE rowid = ?1 AND receives = ?2",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id,
                    receives,
                    after(now_ms, *wait),
                    slot.map(timestamp::format),
                    claimed,
                    previous.status.as_str(),
                    previous.attempts,
                    previous.lease_until.map(timestamp::format),
                    timestamp::format(previous.updated_at),
                ])
            })
            .map_err(error)?;
        }
    }
    Ok(Finished::Done)
}

#[async_trait]
impl Inbox for DeliveryRows {
    async fn take(
        &self,
        max: usize,
        visibility: Duration,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<Taken>, QueueError> {
        let clock = millis(OffsetDateTime::now_utc());
        if !self.due(clock)? {
            return Ok(Vec::new());
        }
        let (want, max_receives) = (max.clamp(1, 10), self.max_receives);
        let hidden_until = after(clock, visibility);
        let rows = self
            .db
            .write(move |conn| {
                receive_rows(conn, want, clock, max_receives, |conn, row| {
                    claim_row(conn, row, hidden_until, now, lease_until).map(Some)
                })
            })
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(row, claim)| Taken {
                receipt: format!("{}.{}", row.id, row.receives),
                delivery: row.delivery,
                slot: row.slot,
                claim: claim.map(Ok),
            })
            .collect())
    }

    async fn claim(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Vec<StoreResult<Claim>> {
        use crate::ports::store::DeliveryLedger;
        self.db.claim_deliveries(deliveries, now, lease_until).await
    }

    async fn finish(&self, endings: &[Ending], now: OffsetDateTime) -> Vec<Finished> {
        if endings.is_empty() {
            return Vec::new();
        }
        let (endings, n) = (endings.to_vec(), endings.len());
        let now = timestamp::format(now);
        let clock = millis(OffsetDateTime::now_utc());
        let done = self
            .db
            .write(move |conn| {
                endings
                    .iter()
                    .map(|ending| finish_one(conn, ending, &now, clock))
                    .collect::<StoreResult<Vec<_>>>()
            })
            .await;
        match done {
            Ok(finished) => finished,
            Err(e) => {
                tracing::warn!(error = %e, "a sender batch could not be recorded; its entries come back");
                vec![Finished::Failed; n]
            }
        }
    }
}

impl DeliveryRows {
    /// Whether any entry is due at `clock`: an idle queue costs a read, not a write.
    fn due(&self, clock: i64) -> Result<bool, QueueError> {
        self.db
            .read(|conn| {
                conn.prepare_cached("SELECT 1 FROM deliveries WHERE visible_at <= ?1 LIMIT 1")
                    .and_then(|mut s| s.exists([clock]))
                    .map_err(error)
            })
            .map_err(unavailable)
    }

    /// Puts messages on the queue, each visible after its delay.
    async fn put(&self, messages: Vec<(DeliveryMessage, Duration)>) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let clock = millis(OffsetDateTime::now_utc());
        self.db
            .write(move |conn| {
                enqueue(
                    conn,
                    messages.iter().map(|(m, wait)| {
                        (
                            m.delivery.clone(),
                            m.slot,
                            after(clock, (*wait).min(MAX_SEND_DELAY)),
                        )
                    }),
                )
            })
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Queue<DeliveryMessage> for DeliveryRows {
    async fn send(&self, messages: &[DeliveryMessage]) -> Result<(), QueueError> {
        self.put(
            messages
                .iter()
                .map(|m| (m.clone(), Duration::ZERO))
                .collect(),
        )
        .await
    }

    async fn send_delayed(
        &self,
        messages: &[(DeliveryMessage, Duration)],
    ) -> Result<(), QueueError> {
        self.put(messages.to_vec()).await
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Received<DeliveryMessage>>, QueueError> {
        let clock = millis(OffsetDateTime::now_utc());
        if !self.due(clock)? {
            return Ok(Vec::new());
        }
        let (want, max_receives) = (max.clamp(1, 10), self.max_receives);
        let hidden_until = after(clock, visibility);
        let rows = self
            .db
            .write(move |conn| {
                receive_rows(conn, want, clock, max_receives, |conn, row| {
                    hide(conn, row, hidden_until).map(|()| None)
                })
            })
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(row, _)| Received {
                receipt: format!("{}.{}", row.id, row.receives),
                receive_count: u32::try_from(row.receives).unwrap_or(u32::MAX),
                message: DeliveryMessage {
                    delivery: row.delivery,
                    slot: row.slot,
                },
            })
            .collect())
    }

    async fn ack_all(&self, receipts: &[String]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let receipts = receipts.to_vec();
        self.db
            .write(move |conn| {
                receipts
                    .iter()
                    .try_for_each(|receipt| move_entry(conn, receipt, None))
            })
            .await
            .map_err(unavailable)
    }

    async fn delay(&self, receipt: &str, wait: Duration) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let at = after(millis(OffsetDateTime::now_utc()), wait);
        self.db
            .write(move |conn| move_entry(conn, &receipt, Some(at)))
            .await
            .map_err(unavailable)
    }
}

/// After a restart: the rows the dead process had taken and claimed are visible again at once
/// (part of the restart's writer job). Returns how many.
pub(super) fn release_taken(conn: &Connection, now: i64) -> StoreResult<usize> {
    conn.prepare_cached(
        "UPDATE deliveries SET visible_at = ?1 WHERE visible_at > ?1 AND status = 'sending'",
    )
    .and_then(|mut s| s.execute([now]))
    .map_err(error)
}
