//! The sender's inbox: where it takes deliveries from, and where it records how each ended
//! together with what becomes of its queue entry.
//!
//! Two implementations. On SQS and DynamoDB ([`crate::adapters::QueueInbox`]) a delivery is a
//! message until the sender claims it in the store: taking is a receive (in Lambda, the event
//! source mapping's), the claim one conditional write per delivery, and finishing the settlements,
//! then the operational deliveries they raise, then the messages deleted or delayed. On the
//! embedded database ([`crate::adapters::sqlite::Sqlite`]) the delivery row is its own queue
//! entry: taking receives and claims a batch in one transaction, and finishing settles it and
//! moves its entries in another — two commits per batch, two row writes per delivery.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{Claim, Delivery};
use crate::ports::queue::{DeliveryMessage, Disposition, QueueError};
use crate::ports::store::{Settlement, StoreResult};

/// A delivery the sender took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    /// What names its queue entry (a receipt).
    pub receipt: String,
    /// The delivery as its entry holds it (as queued).
    pub delivery: Delivery,
    /// The send slot it holds, when it was put back to wait for one (pacing).
    pub slot: Option<OffsetDateTime>,
    /// Its claim, when taking claimed it (the embedded database: in the same transaction);
    /// `None` when the sender claims it later ([`Inbox::claim`]), after pacing.
    pub claim: Option<StoreResult<Claim>>,
}

impl Taken {
    /// A message received from a queue, not yet claimed.
    pub fn received(receipt: String, message: DeliveryMessage) -> Self {
        Self {
            receipt,
            delivery: message.delivery,
            slot: message.slot,
            claim: None,
        }
    }
}

/// What becomes of a taken delivery's queue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Acknowledged, delayed or left to come back, as a queue message is.
    Message(Disposition),
    /// Back on the queue to wait `wait` for its send slot `slot` (or, without one, for its
    /// throttled target): the attempt it was claimed for, if it was, is given back, and no
    /// receive is spent.
    PutBack {
        wait: Duration,
        slot: Option<OffsetDateTime>,
    },
}

/// How a taken delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    /// The delivery as taken.
    pub taken: Taken,
    /// Its settlement, when it was claimed and attempted (or held).
    pub settlement: Option<Settlement>,
    /// The operational deliveries it raises (its `delivery.failed`), queued with it: if they
    /// cannot be, its entry is left to come back, and its repeat raises them again.
    pub raises: Vec<Delivery>,
    /// What becomes of its entry once the rest is recorded.
    pub entry: Entry,
}

/// Whether an ending was recorded, and what became of its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Its settlement (if any) and its raises are recorded; its entry went as decided.
    Done,
    /// Its lease had ended and another sender took it: that one settles it; its entry is left.
    Lost,
    /// Nothing could be recorded (the store or the queue failed): its entry comes back.
    Failed,
}

#[async_trait]
pub trait Inbox: Send + Sync {
    /// Up to `max` deliveries due now, each hidden from other senders for `visibility`; where
    /// taking claims too, each claimed until `lease_until` (`now` is the sender's clock).
    async fn take(
        &self,
        max: usize,
        visibility: Duration,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<Taken>, QueueError>;
    /// Claims taken deliveries that taking did not claim, in order: one answer each.
    async fn claim(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Vec<StoreResult<Claim>>;
    /// Records a batch's endings, in order: one answer each.
    async fn finish(&self, endings: &[Ending], now: OffsetDateTime) -> Vec<Finished>;
}
