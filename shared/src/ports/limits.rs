//! Per-organization counters that enforce [`crate::model::Limits`] across every instance: one
//! conditional write per counted thing.

use async_trait::async_trait;

use time::Date;

use crate::model::{DispatchMethod, OrgId};
use crate::ports::store::StoreResult;

#[async_trait]
pub trait LimitCounters: Send + Sync {
    /// Takes one of the `limit` events `org` may emit in the Unix second `second`; `false` when
    /// all are taken (nothing taken then).
    async fn take_event(&self, org: &OrgId, second: i64, limit: u32) -> StoreResult<bool>;

    /// Takes one of the `limit` emails or SMS (`channel`) `org` may send on the UTC day `day`;
    /// `false` when all are taken (nothing taken then).
    async fn take_daily(
        &self,
        org: &OrgId,
        channel: DispatchMethod,
        day: Date,
        limit: u32,
    ) -> StoreResult<bool>;
}
