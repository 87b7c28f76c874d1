//! The event intake where the store and the queues are separate services (DynamoDB and SQS):
//! records (marked for the relay), then queues, and undoes the record if the queue refuses.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{Delivery, Event, EventCreated};
use crate::ports::intake::{EventIntake, FirstFanout, requeued_message};
use crate::ports::queue::{DeliveryMessage, FanoutMessage, Queue, QueueError};
use crate::ports::store::{FanoutProgress, Store, StoreError, StoreResult};

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
        _first: FirstFanout,
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

    async fn retry_fanout(&self, event: &Event, now: OffsetDateTime) -> StoreResult<bool> {
        if !self
            .store
            .reopen_fanout(&event.organization, event.id, now)
            .await?
        {
            return Ok(false);
        }
        let job = FanoutMessage::next_round(event);
        let round = event.fanout_round + 1;
        if let Err(e) = self.fanout.send(&[job]).await {
            // Failed as it was: nothing happened (a later retry is a round more, told anew).
            let back = self
                .store
                .record_fanout(
                    &event.organization,
                    event.id,
                    FanoutProgress::Failed { round },
                )
                .await;
            if let Err(cleanup) = back {
                tracing::error!(event = %event.id, error = %cleanup, "a fan-out retry whose job was not queued is left to the relay");
            }
            return Err(queue_error(e));
        }
        Ok(true)
    }

    async fn queue_once(
        &self,
        delivery: &Delivery,
        key: &str,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        let taken = self
            .store
            .take_request_key(key, delivery, now, expires)
            .await?;
        if taken.is_some() {
            return Ok(taken);
        }
        let message = DeliveryMessage {
            delivery: delivery.clone(),
            slot: None,
        };
        if let Err(e) = self.deliveries.send(&[message]).await {
            if let Err(cleanup) = self.store.free_request_key(key, delivery).await {
                tracing::error!(delivery = %delivery.id, error = %cleanup, "a delivery whose message was not queued is left to the relay");
            }
            return Err(queue_error(e));
        }
        Ok(None)
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
        let messages: Vec<DeliveryMessage> =
            taken.iter().map(|d| requeued_message(d, now)).collect();
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
