//! The queues of the embedded backend: rows of the SQLite database (`queue_messages`), with SQS's
//! semantics — at least once, a visibility timeout, a receive count, and redrive to
//! `dead_letters` once a message has been received `max_receives` times without being
//! acknowledged. Being in the same database as the store is what lets an event and its fan-out
//! message commit together (`intake`).
//!
//! A receipt is `<message id>.<receive count>`: only the latest receive's receipt acknowledges or
//! delays the message. Times are wall-clock milliseconds, so that delays survive a restart.

use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use time::OffsetDateTime;

use crate::adapters::sqlite::{Sqlite, error, millis};
use crate::ports::queue::{
    DeadLetters, DeliveryMessage, Queue, QueueError, QueueMessage, Received,
};
use crate::ports::store::StoreError;

/// The fan-out queue's name in `queue_messages`.
pub const FANOUT: &str = "fanout";

/// One queue of the embedded database.
pub struct SqliteQueue<M = DeliveryMessage> {
    db: Sqlite,
    name: &'static str,
    max_receives: u32,
    message: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for SqliteQueue<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("name", &self.name)
            .finish()
    }
}

fn unavailable(e: StoreError) -> QueueError {
    match e {
        StoreError::Corrupt(why) => QueueError::Corrupt(why),
        other => QueueError::Unavailable(other.to_string()),
    }
}

/// Puts `bodies` on the queue `name`, visible at once (part of a writer job).
pub(crate) fn enqueue<'a>(
    conn: &Connection,
    name: &str,
    bodies: impl IntoIterator<Item = &'a str>,
) -> Result<(), StoreError> {
    let now = millis(OffsetDateTime::now_utc());
    enqueue_at(conn, name, bodies.into_iter().map(|body| (now, body)))
}

/// Puts each body on the queue `name`, visible from its time (ms since the epoch).
fn enqueue_at<'a>(
    conn: &Connection,
    name: &str,
    rows: impl IntoIterator<Item = (i64, &'a str)>,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO queue_messages (queue, visible_at, body) VALUES (?1, ?2, ?3)")
        .map_err(error)?;
    for (visible_at, body) in rows {
        stmt.execute(params![name, visible_at, body])
            .map_err(error)?;
    }
    Ok(())
}

/// Moves the message `id` to the dead letters (with its receives counted, the one that found it
/// dead included).
fn bury(conn: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO dead_letters (queue, died_at, receives, body)
         SELECT queue, ?2, receives, body FROM queue_messages WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![id, now]))
    .map_err(error)?;
    conn.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")
        .and_then(|mut s| s.execute([id]))
        .map_err(error)?;
    Ok(())
}

fn receipt_parts(receipt: &str) -> Option<(i64, i64)> {
    let (id, receives) = receipt.split_once('.')?;
    Some((id.parse().ok()?, receives.parse().ok()?))
}

impl<M: QueueMessage> SqliteQueue<M> {
    /// The queue `name` of `db`, redriving a message at its `max_receives`-th unacknowledged
    /// receive (`maxReceiveCount`).
    pub fn new(db: Sqlite, name: &'static str, max_receives: u32) -> Self {
        Self {
            db,
            name,
            max_receives,
            message: PhantomData,
        }
    }

    /// The messages redriven to the dead-letter table, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<M>, QueueError> {
        let bodies: Vec<String> = self
            .db
            .read(|conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT body FROM dead_letters WHERE queue = ?1 ORDER BY id")
                    .map_err(error)?;
                let rows = stmt.query_map([self.name], |r| r.get(0)).map_err(error)?;
                rows.collect::<rusqlite::Result<_>>().map_err(error)
            })
            .map_err(unavailable)?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(|e| QueueError::Corrupt(e.to_string())))
            .collect()
    }

    /// How many messages the queue holds (visible, delayed or in flight).
    pub fn len(&self) -> Result<usize, QueueError> {
        self.db
            .read(|conn| {
                conn.prepare_cached("SELECT count(*) FROM queue_messages WHERE queue = ?1")
                    .and_then(|mut s| s.query_row([self.name], |r| r.get::<_, i64>(0)))
                    .map_err(error)
            })
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(unavailable)
    }

    pub fn is_empty(&self) -> Result<bool, QueueError> {
        self.len().map(|n| n == 0)
    }
}

#[async_trait]
impl<M: QueueMessage> DeadLetters<M> for SqliteQueue<M> {
    fn dead_letter_page(&self, max: usize) -> Result<Vec<(i64, M)>, QueueError> {
        let rows: Vec<(i64, String)> = self
            .db
            .read(|conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id, body FROM dead_letters WHERE queue = ?1 ORDER BY id LIMIT ?2",
                    )
                    .map_err(error)?;
                let rows = stmt
                    .query_map(
                        params![self.name, i64::try_from(max).unwrap_or(i64::MAX)],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(error)?;
                rows.collect::<rusqlite::Result<_>>().map_err(error)
            })
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, body)| match serde_json::from_str(&body) {
                Ok(message) => Some((id, message)),
                Err(e) => {
                    tracing::error!(dead_letter = id, error = %e, "unreadable dead letter");
                    None
                }
            })
            .collect())
    }

    async fn remove_dead_letters(&self, ids: Vec<i64>) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |conn| {
                let mut stmt = conn
                    .prepare_cached("DELETE FROM dead_letters WHERE id = ?1")
                    .map_err(error)?;
                for id in &ids {
                    stmt.execute([id]).map_err(error)?;
                }
                Ok(())
            })
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl<M: QueueMessage> Queue<M> for SqliteQueue<M> {
    async fn send(&self, messages: &[M]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let bodies = messages
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let name = self.name;
        self.db
            .write(move |conn| enqueue(conn, name, bodies.iter().map(String::as_str)))
            .await
            .map_err(unavailable)
    }

    async fn send_delayed(&self, messages: &[(M, Duration)]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = millis(OffsetDateTime::now_utc());
        let rows = messages
            .iter()
            .map(|(m, delay)| {
                let after = i64::try_from(
                    (*delay)
                        .min(crate::ports::queue::MAX_SEND_DELAY)
                        .as_millis(),
                )
                .unwrap_or(i64::MAX);
                serde_json::to_string(m).map(|body| (now.saturating_add(after), body))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let name = self.name;
        self.db
            .write(move |conn| enqueue_at(conn, name, rows.iter().map(|(t, b)| (*t, b.as_str()))))
            .await
            .map_err(unavailable)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Received<M>>, QueueError> {
        let want = max.clamp(1, 10);
        let now = millis(OffsetDateTime::now_utc());
        // An idle queue costs a read, not a write of the writer thread.
        let any = self
            .db
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT 1 FROM queue_messages WHERE queue = ?1 AND visible_at <= ?2 LIMIT 1",
                )
                .and_then(|mut s| s.exists(params![self.name, now]))
                .map_err(error)
            })
            .map_err(unavailable)?;
        if !any {
            return Ok(Vec::new());
        }
        let (name, max_receives) = (self.name, i64::from(self.max_receives));
        let hidden_until =
            now.saturating_add(i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX));
        let taken: Vec<(i64, i64, String)> = self
            .db
            .write(move |conn| {
                let mut taken = Vec::new();
                loop {
                    // The oldest visible ones, hidden and counted; then any received
                    // `max_receives` times already (never acknowledged) goes to the dead
                    // letters instead.
                    let ids: Vec<i64> = {
                        let mut stmt = conn
                            .prepare_cached(
                                "SELECT id FROM queue_messages WHERE queue = ?1 AND visible_at <= ?2
                                 ORDER BY visible_at, id LIMIT ?3",
                            )
                            .map_err(error)?;
                        let want = i64::try_from(want - taken.len()).unwrap_or(10);
                        let rows = stmt
                            .query_map(params![name, now, want], |r| r.get(0))
                            .map_err(error)?;
                        rows.collect::<rusqlite::Result<_>>().map_err(error)?
                    };
                    let mut stmt = conn
                        .prepare_cached(
                            "UPDATE queue_messages
                             SET receives = receives + 1, visible_at = ?2, in_flight = 1
                             WHERE id = ?1 RETURNING receives, body",
                        )
                        .map_err(error)?;
                    let received = ids
                        .into_iter()
                        .map(|id| {
                            stmt.query_row(params![id, hidden_until], |r| {
                                Ok((id, r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                            })
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map_err(error)?;
                    drop(stmt);
                    let found = received.len();
                    let mut redriven = false;
                    for (id, receives, body) in received {
                        if receives > max_receives {
                            bury(conn, id, now)?;
                            redriven = true;
                        } else {
                            taken.push((id, receives, body));
                        }
                    }
                    if !redriven || found == 0 || taken.len() >= want {
                        return Ok(taken);
                    }
                }
            })
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(taken.len());
        for (id, receives, body) in taken {
            match serde_json::from_str(&body) {
                Ok(message) => out.push(Received {
                    message,
                    receipt: format!("{id}.{receives}"),
                    receive_count: u32::try_from(receives).unwrap_or(u32::MAX),
                }),
                // Nothing could ever handle it: straight to the dead letters.
                Err(e) => {
                    tracing::error!(queue = self.name, message = id, error = %e, "unreadable queue message");
                    self.db
                        .write(move |conn| bury(conn, id, now))
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(out)
    }

    async fn ack_all(&self, receipts: &[String]) -> Result<(), QueueError> {
        // A receipt that names no message of this queue acknowledges nothing.
        let messages: Vec<(i64, i64)> = receipts.iter().filter_map(|r| receipt_parts(r)).collect();
        if messages.is_empty() {
            return Ok(());
        }
        let name = self.name;
        self.db
            .write(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "DELETE FROM queue_messages WHERE id = ?1 AND receives = ?2 AND queue = ?3",
                    )
                    .map_err(error)?;
                for (id, receives) in &messages {
                    stmt.execute(params![id, receives, name]).map_err(error)?;
                }
                Ok(())
            })
            .await
            .map_err(unavailable)
    }

    async fn delay(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let Some((id, receives)) = receipt_parts(receipt) else {
            return Ok(());
        };
        let name = self.name;
        let at = millis(OffsetDateTime::now_utc())
            .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE queue_messages SET visible_at = ?4, in_flight = 0
                     WHERE id = ?1 AND receives = ?2 AND queue = ?3",
                )
                .and_then(|mut s| s.execute(params![id, receives, name, at]))
                .map_err(error)
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
