//! A delivery's further rounds on SQLite: queued again by resend and recover, and made `failed`
//! when its message reached the dead letters (each part of a writer job).

use rusqlite::{Connection, OptionalExtension, params};

use super::deliveries::put_delivery;
use super::error;
use crate::model::{Burial, Claim, Delivery};
use crate::model::{DeliveryStatus, timestamp};
use crate::ports::store::{StoreError, StoreResult};

/// Puts a settled delivery (`sent` or `failed`, in the round it was read in) back to `queued`
/// for one more round, its attempts counted afresh (part of a writer job: the intake's, which
/// queues its message in the same transaction). `false` when it changed since it was read.
pub(crate) fn requeue(conn: &Connection, d: &Delivery, now: &str) -> StoreResult<bool> {
    conn.prepare_cached(
        "UPDATE deliveries SET status = 'queued', attempts = 0, round = round + 1,
            lease_until = NULL, updated_at = ?4
         WHERE org = ?1 AND list_key = ?2 AND round = ?3 AND status IN ('sent', 'failed')",
    )
    .and_then(|mut s| s.execute(params![d.organization.as_str(), d.list_key(), d.round, now]))
    .map(|n| n == 1)
    .map_err(error)
}

/// Marks one dead-lettered delivery `failed` (part of a writer job).
pub(super) fn bury(
    conn: &Connection,
    d: &Delivery,
    error_text: &str,
    now: &str,
) -> StoreResult<Burial> {
    let (org, key) = (d.organization.as_str(), d.list_key());
    let changed = conn
        .prepare_cached(
            "UPDATE deliveries SET status = 'failed', last_error = ?4, lease_until = NULL,
                updated_at = ?5
             WHERE org = ?1 AND list_key = ?2 AND round = ?3
                AND (status IN ('queued', 'held') OR (status = 'sending' AND lease_until < ?5))",
        )
        .and_then(|mut s| s.execute(params![org, key, d.round, error_text, now]))
        .map_err(error)?;
    if changed == 1 {
        return Ok(Burial::Failed);
    }
    let found: Option<(String, u32)> = conn
        .prepare_cached("SELECT status, round FROM deliveries WHERE org = ?1 AND list_key = ?2")
        .and_then(|mut s| {
            s.query_row([org, &key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(error)?;
    match found {
        None => {
            let now = timestamp::parse(now).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            put_delivery(
                conn,
                &Delivery {
                    status: DeliveryStatus::Failed,
                    last_error: Some(error_text.to_owned()),
                    lease_until: None,
                    updated_at: now,
                    ..d.clone()
                },
            )?;
            Ok(Burial::Failed)
        }
        Some((status, round)) => {
            let status = DeliveryStatus::parse(&status)
                .map_err(|e| StoreError::Corrupt(format!("delivery status: {e}")))?;
            Ok(match Claim::found(status, round, d.round) {
                Claim::Busy => Burial::Busy,
                _ => Burial::Settled,
            })
        }
    }
}
