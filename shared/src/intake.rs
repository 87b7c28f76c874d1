//! Accepting an event: the event, its idempotency key and its first fan-out message are
//! recorded as one unit — a 202 means all three are durable, a 503 means none is, and a retry is
//! safe either way.
//!
//! On the embedded backend the store and the queue are one SQLite database: the three commit in
//! one transaction. On AWS they are two services: the event and its key are written in one
//! DynamoDB transaction, then the message is sent to SQS; if SQS refuses, the event and its key
//! are deleted again (a compensating delete) before the 503.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::queue::sqlite::{FANOUT, enqueue};
use crate::queue::{FanoutMessage, Queue, QueueError};
use crate::store::sqlite::{Sqlite, record_event};
use crate::store::{Event, EventCreated, Store, StoreError, StoreResult};

/// Records an event with its idempotency key (until `key_expires`) and queues its fan-out.
#[async_trait]
pub trait EventIntake: Send + Sync + 'static {
    /// `New` once the event, its key and its fan-out message are all durable; a replay or a
    /// reused key writes nothing.
    async fn accept(&self, event: &Event, key_expires: OffsetDateTime)
    -> StoreResult<EventCreated>;
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
}

/// Where the store and the fan-out queue are separate services (DynamoDB and SQS): records, then
/// queues, and removes the event and its key again if the queue refuses.
pub struct RecordThenQueue {
    pub store: Arc<dyn Store>,
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
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
            return Err(match e {
                QueueError::Unavailable(why) => StoreError::Unavailable(why),
                QueueError::Corrupt(why) => StoreError::Corrupt(why),
            });
        }
        Ok(created)
    }
}
