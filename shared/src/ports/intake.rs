//! The writes that span the store and a queue, each one unit — a 2xx means all of it is
//! durable, a 503 means none is, and a retry is safe either way:
//! - accepting an event: the event, its idempotency key and its first fan-out message;
//! - queueing settled deliveries again (resend, recover): each delivery back to `queued` and its
//!   message;
//! - queueing a delivery once per idempotency key (a test notification's): the key, the
//!   delivery and its message;
//! - fanning a failed event out again: its fan-out `pending` again and its first job.
//!
//! On the embedded backend the store and the queue are one SQLite database: the three commit in
//! one transaction. On AWS they are two services: the event and its key are written in one
//! DynamoDB transaction, then the message is sent to SQS; if SQS refuses, the event and its key
//! are deleted again (a compensating delete) before the 503. Deliveries queued again likewise:
//! their conditional writes, then their messages, and their records put back as they were if SQS
//! refuses. A function that dies between the two leaves a record without its message: each of
//! these writes marks its record for the relay ([`crate::ports::outbox`]), which sends what is
//! still marked after a grace period.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{Delivery, Event, EventCreated};
use crate::ports::queue::{DeliveryMessage, FanoutMessage};
use crate::ports::store::StoreResult;

/// How an accepted event's fan-out begins.
#[derive(Clone, Debug, PartialEq)]
pub enum FirstFanout {
    /// A fan-out job does all of it: its first message is queued with the event.
    Job,
    /// The event's deliveries to its Slack and webhook targets, queued with it, and the job that
    /// fans it out to its recipients, if it has any.
    Made {
        deliveries: Vec<Delivery>,
        rest: Option<FanoutMessage>,
    },
}

/// Records an event with its idempotency key (until `key_expires`) and queues its fan-out.
#[async_trait]
pub trait EventIntake: Send + Sync + 'static {
    /// Whether this intake queues deliveries in the same unit as the event it records (the
    /// embedded database: one transaction), so that emitting an event may make its targets'
    /// deliveries itself ([`FirstFanout::Made`]) rather than leave them to a fan-out job.
    fn makes_deliveries(&self) -> bool {
        false
    }
    /// `New` once the event, its key and its fan-out (`first`) are all durable; a replay or a
    /// reused key writes nothing. An intake that does not make deliveries takes
    /// [`FirstFanout::Made`] as [`FirstFanout::Job`]: the job makes the same deliveries (their
    /// ids are the event's and the target's).
    async fn accept(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
        first: FirstFanout,
    ) -> StoreResult<EventCreated>;
    /// Puts settled deliveries (as read: `sent` or `failed`) back on the delivery queue for one
    /// more round ([`crate::ports::store::DeliveryLedger::requeue_deliveries`] and their messages).
    /// One answer per delivery: `true` where this call queued it, `false` where it had changed
    /// since it was read (another resend or recover took it, or it is no longer settled).
    async fn requeue(&self, deliveries: &[Delivery], now: OffsetDateTime)
    -> StoreResult<Vec<bool>>;
    /// Fans `event` out again when its fan-out `failed`: the fan-out `pending` again
    /// ([`crate::ports::store::EventStore::reopen_fanout`]) and its first job queued, as one
    /// unit. `false` when its fan-out is not `failed`.
    async fn retry_fanout(&self, event: &Event, now: OffsetDateTime) -> StoreResult<bool>;
    /// Queues `delivery` once per idempotency key `key` (a request's, held until `expires`):
    /// the key, the delivery and its message as one unit. `None` when this call queued it; the
    /// id of the delivery the key already names otherwise (a replay: nothing is queued).
    async fn queue_once(
        &self,
        delivery: &Delivery,
        key: &str,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>>;
}

/// The message of a delivery queued again.
pub fn requeued_message(delivery: &Delivery, now: OffsetDateTime) -> DeliveryMessage {
    DeliveryMessage {
        delivery: delivery.requeued(now),
        slot: None,
    }
}
