//! Per-organization limits (`crate::model::Limits`), set by the operator. The events-per-second
//! limit is checked on every emit with one conditional write ([`LimitCounters`]); the limits
//! themselves are read from the organization at most once a minute per process
//! ([`LimitsCache`]), so that an emit costs no extra read: a change reaches every instance
//! within a minute (at once in the process that made it).

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use super::Error;
use crate::model::{Limits, OrgId};
use crate::ports::limits::LimitCounters;
use crate::ports::store::OrganizationStore;

/// How long a process keeps an organization's limits (by the state's clock).
pub const LIMITS_KEPT: Duration = Duration::minutes(1);

/// Each organization's limits, as last read, and until when they are kept.
#[derive(Debug, Default)]
pub struct LimitsCache(Mutex<HashMap<OrgId, (OffsetDateTime, Limits)>>);

impl LimitsCache {
    /// `org`'s limits at `now`: kept, or read (and kept for [`LIMITS_KEPT`]).
    pub async fn of(
        &self,
        orgs: &dyn OrganizationStore,
        org: &OrgId,
        now: OffsetDateTime,
    ) -> Result<Limits, Error> {
        let kept = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(org)
            .filter(|(until, _)| now < *until)
            .map(|(_, limits)| *limits);
        if let Some(limits) = kept {
            return Ok(limits);
        }
        let limits = orgs
            .get_organization(org)
            .await?
            .ok_or(Error::NotFound)?
            .limits();
        self.keep(org, limits, now + LIMITS_KEPT);
        Ok(limits)
    }

    /// Keeps `limits` as `org`'s until `until` (the process that sets them sees them at once).
    pub fn keep(&self, org: &OrgId, limits: Limits, until: OffsetDateTime) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org.clone(), (until, limits));
    }
}

/// Takes one of the events `org` may emit in the second of `now`; `false` when its
/// `eventsPerSecond` is spent.
pub async fn take_event(
    orgs: &dyn OrganizationStore,
    counters: &dyn LimitCounters,
    cache: &LimitsCache,
    now: time::OffsetDateTime,
    org: &OrgId,
) -> Result<bool, Error> {
    let limits = cache.of(orgs, org, now).await?;
    Ok(counters
        .take_event(org, now.unix_timestamp(), limits.events_per_second)
        .await?)
}
