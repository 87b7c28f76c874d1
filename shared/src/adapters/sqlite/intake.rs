//! The event intake on the embedded database: the store and the queues are one SQLite database,
//! so an event, its key and its fan-out message commit in one transaction, as do a delivery
//! queued again and its message.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Sqlite;
use super::delivery_queue;
use super::events::record_event;
use super::queue::{FANOUT, enqueue};
use super::redelivery::requeue;
use crate::model::{Delivery, Event, EventCreated};
use crate::ports::intake::{EventIntake, FirstFanout, requeued_message};
use crate::ports::queue::FanoutMessage;
use crate::ports::store::{EventStore as _, StoreError, StoreResult};

#[async_trait]
impl EventIntake for Sqlite {
    /// One transaction holds the event and its deliveries: emitting makes its targets'.
    fn makes_deliveries(&self) -> bool {
        true
    }

    async fn accept(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
        first: FirstFanout,
    ) -> StoreResult<EventCreated> {
        let body = |job: &FanoutMessage| {
            serde_json::to_string(job).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let (deliveries, job) = match first {
            FirstFanout::Job => (Vec::new(), Some(body(&FanoutMessage::first(event))?)),
            FirstFanout::Made { deliveries, rest } => {
                (deliveries, rest.as_ref().map(body).transpose()?)
            }
        };
        let recorded = event.clone();
        let created = self
            .write(move |conn| {
                let created = record_event(conn, &recorded, key_expires)?;
                if created == EventCreated::New {
                    // Each delivery's row is its queue entry: visible at once.
                    let clock = super::millis(OffsetDateTime::now_utc());
                    delivery_queue::enqueue(
                        conn,
                        deliveries.iter().map(|d| (d.clone(), None, clock)),
                    )?;
                    enqueue(conn, FANOUT, job.as_deref())?;
                }
                Ok(created)
            })
            .await?;
        if created == EventCreated::New {
            // The sender reads it for each of its deliveries, a moment from now.
            let key = (event.organization.clone(), event.id);
            self.inner.events.put(key, event.clone());
        }
        Ok(created)
    }

    async fn retry_fanout(&self, event: &Event, _now: OffsetDateTime) -> StoreResult<bool> {
        let job = serde_json::to_string(&FanoutMessage::next_round(event))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (org, id) = (event.organization.to_string(), event.id.to_string());
        let reopened = self
            .write(move |conn| {
                let reopened = super::events::reopen_fanout(conn, &org, &id)?;
                if reopened {
                    enqueue(conn, FANOUT, Some(job.as_str()))?;
                }
                Ok(reopened)
            })
            .await;
        self.inner
            .events
            .drop_key(&(event.organization.clone(), event.id));
        reopened
    }

    async fn queue_once(
        &self,
        delivery: &Delivery,
        key: &str,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        // The key and the delivery's row (its own queue entry) in one transaction.
        self.take_request_key(key, delivery, now, expires).await
    }

    async fn requeue(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<bool>> {
        let (deliveries, at) = (deliveries.to_vec(), crate::model::timestamp::format(now));
        self.write(move |conn| {
            let clock = super::millis(OffsetDateTime::now_utc());
            let mut answers = Vec::with_capacity(deliveries.len());
            for d in &deliveries {
                let queued = requeue(conn, d, &at)?;
                if queued {
                    // The row is its own queue entry: visible now, its receives afresh.
                    delivery_queue::enqueue(
                        conn,
                        [(requeued_message(d, now).delivery, None, clock)],
                    )?;
                }
                answers.push(queued);
            }
            Ok(answers)
        })
        .await
    }
}

/// The embedded database has nothing for a relay: a record and its message commit in one
/// transaction, so nothing is ever stranded.
#[async_trait]
impl crate::ports::outbox::Outbox for Sqlite {
    async fn stranded(
        &self,
        _before: OffsetDateTime,
        _limit: usize,
    ) -> StoreResult<Vec<crate::ports::outbox::Stranded>> {
        Ok(Vec::new())
    }

    async fn remark(
        &self,
        stranded: Vec<crate::ports::outbox::Stranded>,
        _now: OffsetDateTime,
    ) -> StoreResult<Vec<crate::ports::outbox::Stranded>> {
        Ok(stranded)
    }
}
