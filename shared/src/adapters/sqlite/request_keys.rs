//! Idempotency keys on SQLite, rows of `idempotency_keys`: what a key names while it holds (an
//! event's key or a request's), and a request's key (a test notification's, in the namespace
//! [`crate::ports::store::request_key`] gives it) taken and freed.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::error;
use crate::model::timestamp;
use crate::ports::store::{StoreError, StoreResult};

/// Takes `key` for `id` until `expires`: `None` when it was free at `now`, or the id it names.
pub(super) fn take(
    conn: &Connection,
    org: &str,
    key: &str,
    id: Uuid,
    now: OffsetDateTime,
    expires: OffsetDateTime,
) -> StoreResult<Option<Uuid>> {
    if let Some(named) = held(conn, org, key, now)? {
        return named
            .parse()
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("idempotency key: {e}")));
    }
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (org, key, event, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org, key) DO UPDATE SET event = excluded.event,
            expires_at = excluded.expires_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            org,
            key,
            id.to_string(),
            timestamp::format(expires)
        ])
    })
    .map_err(error)?;
    Ok(None)
}

/// What the key `key` (an event's, or a request's) names while it holds at `now`: as DynamoDB's
/// condition, a key holds until its expiry (TTL deletes lazily there).
pub(super) fn held(
    conn: &Connection,
    org: &str,
    key: &str,
    now: OffsetDateTime,
) -> StoreResult<Option<String>> {
    let held: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT event, expires_at FROM idempotency_keys WHERE org = ?1 AND key = ?2",
        )
        .and_then(|mut s| {
            s.query_row([org, key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(error)?;
    Ok(held.and_then(|(named, until)| (until >= timestamp::format(now)).then_some(named)))
}

/// Frees `key` if it still names `id`.
pub(super) fn free(conn: &Connection, org: &str, key: &str, id: Uuid) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM idempotency_keys WHERE org = ?1 AND key = ?2 AND event = ?3")
        .and_then(|mut s| s.execute([org, key, &id.to_string()]))
        .map_err(error)?;
    Ok(())
}
