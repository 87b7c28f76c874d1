//! The writes that span the store and a queue, each one unit — a 2xx means all of it is
//! durable, a 503 means none is, and a retry is safe either way:
//! - accepting an event: the event, its idempotency key and its first fan-out message;
//! - queueing settled deliveries again (resend, recover): each delivery back to `queued` and its
//!   message.
//!
//! On the embedded backend the store and the queue are one SQLite database: the three commit in
//! one transaction. On AWS they are two services: the event and its key are written in one
//! DynamoDB transaction, then the message is sent to SQS; if SQS refuses, the event and its key
//! are deleted again (a compensating delete) before the 503. Deliveries queued again likewise:
//! their conditional writes, then their messages, and their records put back as they were if SQS
//! refuses. (A Lambda that dies between the two leaves a delivery `queued` without a message: the
//! one gap of the AWS host, as for an event recorded without its fan-out message.)

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::queue::sqlite::{DELIVERIES, FANOUT, enqueue};
use crate::queue::{DeliveryMessage, FanoutMessage, Queue, QueueError};
use crate::store::sqlite::{Sqlite, record_event, requeue};
use crate::store::{Delivery, Event, EventCreated, Store, StoreError, StoreResult};

/// Records an event with its idempotency key (until `key_expires`) and queues its fan-out.
#[async_trait]
pub trait EventIntake: Send + Sync + 'static {
    /// `New` once the event, its key and its fan-out message are all durable; a replay or a
    /// reused key writes nothing.
    async fn accept(&self, event: &Event, key_expires: OffsetDateTime)
    -> StoreResult<EventCreated>;
    /// Puts settled deliveries (as read: `sent` or `failed`) back on the delivery queue for one
    /// more round ([`crate::store::DeliveryStore::requeue_deliveries`] and their messages).
    /// One answer per delivery: `true` where this call queued it, `false` where it had changed
    /// since it was read (another resend or recover took it, or it is no longer settled).
    async fn requeue(&self, deliveries: &[Delivery], now: OffsetDateTime)
    -> StoreResult<Vec<bool>>;
}

/// The message of a delivery queued again.
fn requeued(delivery: &Delivery, now: OffsetDateTime) -> DeliveryMessage {
    DeliveryMessage {
        delivery: delivery.requeued(now),
        slot: None,
    }
}

#[async_trait]
impl EventIntake for Sqlite {
    async fn accept(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
    ) -> StoreResult<EventCreated> {
        let message = serde_json::to_string(&FanoutMessage::first(event))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let event = event.clone();
        self.write(move |conn| {
            let created = record_event(conn, &event, key_expires)?;
            if created == EventCreated::New {
                enqueue(conn, FANOUT, [message.as_str()])?;
            }
            Ok(created)
        })
        .await
    }

    async fn requeue(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<bool>> {
        let messages = deliveries
            .iter()
            .map(|d| serde_json::to_string(&requeued(d, now)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (deliveries, at) = (deliveries.to_vec(), crate::model::timestamp::format(now));
        self.write(move |conn| {
            let mut answers = Vec::with_capacity(deliveries.len());
            for (d, message) in deliveries.iter().zip(&messages) {
                let queued = requeue(conn, d, &at)?;
                if queued {
                    enqueue(conn, DELIVERIES, [message.as_str()])?;
                }
                answers.push(queued);
            }
            Ok(answers)
        })
        .await
    }
}

/// Where the store and the fan-out queue are separate services (DynamoDB and SQS): records, then
/// queues, and removes the event and its key again if the queue refuses.
pub struct RecordThenQueue {
    pub store: Arc<dyn Store>,
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
    pub deliveries: Arc<dyn Queue<DeliveryMessage>>,
}

fn queue_error(e: QueueError) -> StoreError {
    match e {
        QueueError::Unavailable(why) => StoreError::Unavailable(why),
        QueueError::Corrupt(why) => StoreError::Corrupt(why),
    }
}

#[async_trait]
impl EventIntake for RecordThenQueue {
    async fn accept(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
    ) -> StoreResult<EventCreated> {
        let created = self.store.create_event(event, key_expires).await?;
        if created != EventCreated::New {
            return Ok(created);
        }
        if let Err(e) = self.fanout.send(&[FanoutMessage::first(event)]).await {
            if let Err(cleanup) = self.store.delete_event(event).await {
                tracing::error!(event = %event.id, error = %cleanup, "an event whose fan-out was not queued is left recorded");
            }
            return Err(queue_error(e));
        }
        Ok(created)
    }

    async fn requeue(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<bool>> {
        let written = self.store.requeue_deliveries(deliveries, now).await;
        let mut answers = Vec::with_capacity(deliveries.len());
        let mut failure = None;
        for answer in written {
            match answer {
                Ok(queued) => answers.push(queued),
                Err(e) => {
                    answers.push(true);
                    failure.get_or_insert(e);
                }
            }
        }
        let taken: Vec<&Delivery> = deliveries
            .iter()
            .zip(&answers)
            .filter_map(|(d, queued)| queued.then_some(d))
            .collect();
        let messages: Vec<DeliveryMessage> = taken.iter().map(|d| requeued(d, now)).collect();
        // One write failed: nothing is queued, and what was written goes back.
        let sent = match failure {
            Some(e) => Err(e),
            None => self.deliveries.send(&messages).await.map_err(queue_error),
        };
        if let Err(e) = sent {
            let back: Vec<Delivery> = taken.into_iter().cloned().collect();
            if let Err(cleanup) = self.store.put_deliveries(&back).await {
                tracing::error!(error = %cleanup, "deliveries whose messages were not queued are left queued");
            }
            return Err(e);
        }
        Ok(answers)
    }
}
