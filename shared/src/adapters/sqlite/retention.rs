//! The retention job of the embedded database: what is older than `HERALD_RETENTION_DAYS` goes,
//! in chunks (DynamoDB expires the same items by TTL).

use rusqlite::types::Value;
use serde::Serialize;
use time::OffsetDateTime;

use super::{Sqlite, error, millis};
use crate::model::timestamp;
use crate::ports::store::StoreResult;

/// What one retention run removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    pub deliveries: usize,
    pub events: usize,
    pub idempotency_keys: usize,
    pub dead_letters: usize,
}

/// Rows removed per job of the retention run, so that other writes go on between them (a chunk
/// takes a few milliseconds: what a write made meanwhile waits at most).
const PRUNE_CHUNK: usize = 250;

impl Sqlite {
    /// The retention job: removes the deliveries and events created before `before`,
    /// the dead letters that died before it, and the idempotency keys expired at `now` — in
    /// chunks of [`PRUNE_CHUNK`] rows, each its own job of the writer.
    pub async fn prune(&self, before: OffsetDateTime, now: OffsetDateTime) -> StoreResult<Pruned> {
        let before_text = timestamp::format(before);
        let orgs: Vec<String> = self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id FROM organizations")
                .map_err(error)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(error)?;
            rows.collect::<rusqlite::Result<_>>().map_err(error)
        })?;
        let mut pruned = Pruned::default();
        for org in orgs {
            // The log is keyed by time within an organization: a range of its primary key.
            pruned.deliveries += self
                .prune_chunks(
                    "DELETE FROM deliveries WHERE rowid IN
                        (SELECT rowid FROM deliveries WHERE org = ?1 AND list_key < ?2 LIMIT ?3)",
                    vec![Value::Text(org), Value::Text(before_text.clone())],
                )
                .await?;
        }
        // Removed events leave the memory too (the whole of it: pruned events are many).
        let events = self
            .prune_chunks(
                "DELETE FROM events WHERE rowid IN
                    (SELECT rowid FROM events WHERE created_at < ?1 LIMIT ?2)",
                vec![Value::Text(before_text)],
            )
            .await;
        self.inner.events.clear();
        pruned.events = events?;
        pruned.idempotency_keys = self
            .prune_chunks(
                "DELETE FROM idempotency_keys WHERE (org, key) IN
                    (SELECT org, key FROM idempotency_keys WHERE expires_at < ?1 LIMIT ?2)",
                vec![Value::Text(timestamp::format(now))],
            )
            .await?;
        pruned.dead_letters = self
            .prune_chunks(
                "DELETE FROM dead_letters WHERE id IN
                    (SELECT id FROM dead_letters WHERE died_at < ?1 LIMIT ?2)",
                vec![Value::Integer(millis(before))],
            )
            .await?;
        // The daily limits' counts of days over (kept four days, as on DynamoDB).
        let day_before = crate::model::day::format((now - time::Duration::days(4)).date());
        self.prune_chunks(
            "DELETE FROM daily_counts WHERE (org, channel, day) IN
                (SELECT org, channel, day FROM daily_counts WHERE day < ?1 LIMIT ?2)",
            vec![Value::Text(day_before)],
        )
        .await?;
        Ok(pruned)
    }

    /// Runs `sql` (whose last parameter is the chunk size) until it deletes less than a chunk.
    async fn prune_chunks(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<usize> {
        let mut total = 0;
        loop {
            let mut values = values.clone();
            values.push(Value::Integer(PRUNE_CHUNK as i64));
            let deleted = self
                .write(move |conn| {
                    conn.prepare_cached(sql)
                        .and_then(|mut s| s.execute(rusqlite::params_from_iter(values.iter())))
                        .map_err(error)
                })
                .await?;
            total += deleted;
            if deleted < PRUNE_CHUNK {
                return Ok(total);
            }
        }
    }
}
