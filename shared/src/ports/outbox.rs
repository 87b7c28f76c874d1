//! The outbox: what the store recorded as needing a queue message that no consumer is known to
//! have received yet, for the relay ([`crate::workers::relay`]) to send again.
//!
//! Where the store and the queues are separate services (DynamoDB and SQS), a write and its
//! message are two calls: a function that dies between them leaves the record without its
//! message. So the write marks its record (an event until its first fan-out job is taken; a
//! delivery queued again, or queued with a test notification's key, until the sender claims
//! it), and the consumer's own write removes the mark. A mark older than the relay's grace
//! period names a message that was lost, or is late: the relay sends it (again). Consumers are
//! idempotent, so a message sent twice is harmless. The embedded database needs no outbox: a
//! record and its message commit in one transaction.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::ports::queue::{DeliveryMessage, FanoutMessage};
use crate::ports::store::StoreResult;

/// A message the relay sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Relayed {
    /// An event's first fan-out job.
    Fanout(FanoutMessage),
    /// A delivery as recorded `queued`.
    Delivery(DeliveryMessage),
}

/// A marked record and the message it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Stranded {
    /// The record's key in the store (opaque to the relay).
    pub key: [String; 2],
    pub message: Relayed,
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` records marked before `before`, oldest first within each part of the
    /// index. A mark removed since it was indexed is left out.
    async fn stranded(&self, before: OffsetDateTime, limit: usize) -> StoreResult<Vec<Stranded>>;

    /// Moves the marks of `stranded` to `now` (their messages are about to be sent again: the
    /// next sweep looks at them only after another grace period). Returns those still marked;
    /// one taken meanwhile needs no message.
    async fn remark(
        &self,
        stranded: Vec<Stranded>,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Stranded>>;
}
