//! SMS quota days: counters are keyed by UTC day, so a new day starts at zero whether or
//! not the reset job has run. The job closes ended days: it records each organization's usage
//! summary for the day, then deletes the day's counters.
//!
//! Safe to run twice, late, or not at all: a summary is recorded once (the first complete count
//! wins; a rerun after a partial delete does not overwrite it), deleting counters is idempotent,
//! and counters expire by TTL a few days after their day anyway. Counters are read from a
//! DynamoDB index, which is eventually consistent: an SMS counted in the last instant of a day may
//! be missed by a summary taken at midnight; it is still deleted by a later run or by its TTL.

use std::collections::HashMap;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::model::SmsUsage;
use crate::model::{OrgId, day};
use crate::ports::store::{SmsQuotaStore, StoreResult};

/// How many ended days a run looks back over (counters live 4 days).
pub const LOOKBACK_DAYS: i64 = 7;

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetReport {
    /// The days that still had counters, oldest first (`YYYY-MM-DD`).
    pub closed_days: Vec<String>,
    /// Usage summaries recorded by this run (already recorded ones are not counted).
    pub summaries_recorded: usize,
    pub counters_removed: usize,
}

/// Closes every ended day (before `now`'s UTC day, up to [`LOOKBACK_DAYS`] back).
pub async fn reset_quotas(
    store: &dyn SmsQuotaStore,
    now: OffsetDateTime,
) -> StoreResult<ResetReport> {
    let mut report = ResetReport::default();
    let today = day::today(now);
    for back in (1..=LOOKBACK_DAYS).rev() {
        let Some(closed) = today.checked_sub(Duration::days(back)) else {
            continue;
        };
        let counters = store.sms_counters(closed).await?;
        if counters.is_empty() {
            continue;
        }
        let mut per_org: HashMap<OrgId, SmsUsage> = HashMap::new();
        for c in &counters {
            let usage = per_org
                .entry(c.organization.clone())
                .or_insert_with(|| SmsUsage {
                    organization: c.organization.clone(),
                    day: closed,
                    sent: 0,
                    users: 0,
                });
            usage.sent += c.count;
            usage.users += 1;
        }
        for usage in per_org.values() {
            if store.record_sms_usage(usage).await? {
                report.summaries_recorded += 1;
            }
        }
        store.delete_sms_counters(&counters).await?;
        report.closed_days.push(day::format(closed));
        report.counters_removed += counters.len();
    }
    Ok(report)
}

/// The next UTC midnight after `now` (the local server's schedule).
pub fn next_midnight(now: OffsetDateTime) -> OffsetDateTime {
    (day::today(now) + Duration::days(1))
        .midnight()
        .assume_utc()
}
