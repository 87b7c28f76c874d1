//! A delivery's row: its state as columns (status, attempts, the last error or skip reason, the
//! lease, the last change, the round, the attempts' history), where it is (organization, list
//! key — its time and id —, event, notification), and what it was born with that no column
//! holds, as a compact record (`template`, `user`, `channel`, `language`, `data`): a fifth of the
//! whole delivery's JSON that earlier versions kept, and that is still read.

use rusqlite::Row;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{json, parse};
use crate::model::{
    Attempt, Channel, Delivery, DeliveryStatus, Language, NotificationId, OrgId, SkipReason,
    timestamp,
};
use crate::ports::store::{StoreError, StoreResult};

/// The columns a delivery is read from: its state, its birth record, then where it is.
pub(super) const DELIVERY: &str = "status, attempts, last_error, reason, lease_until, updated_at, round, \
    history, record, org, list_key, event FROM deliveries";

/// How many columns [`DELIVERY`] selects (a query selecting more reads them after these).
pub(super) const DELIVERY_COLUMNS: usize = 12;

/// What a delivery was born with that no column holds. (A record of an earlier version is the
/// whole delivery: these fields are read from it, the rest ignored.)
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Birth {
    template: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<Uuid>,
    channel: Channel,
    language: Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
    /// An email or SMS delivery's notification (a Slack or webhook one's is its channel's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notification: Option<NotificationId>,
}

/// The compact record of `d`.
pub(super) fn record_of(d: &Delivery) -> StoreResult<String> {
    json(&Birth {
        template: d.template,
        user: d.user,
        channel: d.channel.clone(),
        language: d.language,
        data: d.data.clone(),
        notification: d.notification.clone(),
    })
}

/// A delivery from a row of [`DELIVERY`]'s columns.
pub(super) fn delivery(row: &Row<'_>) -> rusqlite::Result<StoreResult<Delivery>> {
    let status: String = row.get(0)?;
    let attempts: u32 = row.get(1)?;
    let last_error: Option<String> = row.get(2)?;
    let reason: Option<String> = row.get(3)?;
    let lease: Option<String> = row.get(4)?;
    let updated: String = row.get(5)?;
    let round: u32 = row.get(6)?;
    let history: Option<String> = row.get(7)?;
    let record: String = row.get(8)?;
    let org: String = row.get(9)?;
    let list_key: String = row.get(10)?;
    let event: Option<String> = row.get(11)?;
    Ok((|| {
        let corrupt = |what: &str| StoreError::Corrupt(format!("delivery: {what}"));
        let birth: Birth = parse(&record)?;
        let (at, id) = list_key
            .split_once('#')
            .ok_or_else(|| corrupt("list key without #"))?;
        Ok(Delivery {
            id: Uuid::parse_str(id).map_err(|_| corrupt("id"))?,
            organization: OrgId::parse(&org).map_err(corrupt)?,
            event: event
                .as_deref()
                .map(Uuid::parse_str)
                .transpose()
                .map_err(|_| corrupt("event"))?,
            template: birth.template,
            user: birth.user,
            channel: birth.channel,
            notification: birth.notification,
            language: birth.language,
            data: birth.data,
            status: DeliveryStatus::parse(&status).map_err(corrupt)?,
            attempts,
            round,
            history: match history {
                Some(history) => parse(&history)?,
                None => Vec::new(),
            },
            last_error,
            reason: reason
                .as_deref()
                .map(SkipReason::parse)
                .transpose()
                .map_err(corrupt)?,
            lease_until: lease
                .as_deref()
                .map(timestamp::parse)
                .transpose()
                .map_err(corrupt)?,
            created_at: timestamp::parse(at).map_err(corrupt)?,
            updated_at: timestamp::parse(&updated).map_err(corrupt)?,
        })
    })())
}

/// A history as its column holds it: JSON, `NULL` when empty.
pub(super) fn history_json(history: &[Attempt]) -> StoreResult<Option<String>> {
    if history.is_empty() {
        Ok(None)
    } else {
        json(&history).map(Some)
    }
}
