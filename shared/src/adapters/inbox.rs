//! The sender's inbox where the queue and the store are separate services (SQS and DynamoDB): a
//! delivery is a message until the sender claims it in the store. Taking receives (in Lambda the
//! event source mapping has received already: the host hands its batch in); claiming is one
//! conditional write per delivery; finishing settles the batch, sends the `delivery.failed`
//! deliveries its settlements raise, then deletes or delays the messages, in that order, so that
//! a message goes only once everything it led to is recorded.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{Claim, Delivery};
use crate::ports::inbox::{Ending, Entry, Finished, Inbox, Taken};
use crate::ports::queue::{DeliveryMessage, Disposition, Queue, QueueError, apply};
use crate::ports::store::{DeliveryLedger, Settlement, StoreResult};

/// SQS (or any queue of messages) and a store.
#[derive(Clone)]
pub struct QueueInbox {
    pub queue: Arc<dyn Queue<DeliveryMessage>>,
    pub store: Arc<dyn DeliveryLedger>,
    /// Whether finishing deletes acknowledged messages: not in Lambda, whose event source
    /// mapping deletes every message of the batch not reported as a failure.
    pub ack: bool,
}

#[async_trait]
impl Inbox for QueueInbox {
    async fn take(
        &self,
        max: usize,
        visibility: Duration,
        _now: OffsetDateTime,
        _lease_until: OffsetDateTime,
    ) -> Result<Vec<Taken>, QueueError> {
        Ok(self
            .queue
            .receive(max, visibility)
            .await?
            .into_iter()
            .map(|r| Taken::received(r.receipt, r.message))
            .collect())
    }

    async fn claim(
        &self,
        deliveries: &[Delivery],
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Vec<StoreResult<Claim>> {
        if deliveries.is_empty() {
            return Vec::new();
        }
        self.store
            .claim_deliveries(deliveries, now, lease_until)
            .await
    }

    async fn finish(&self, endings: &[Ending], now: OffsetDateTime) -> Vec<Finished> {
        let mut finished = vec![Finished::Done; endings.len()];
        // Settlements, at once.
        let settling: Vec<(usize, Settlement)> = endings
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.settlement.clone().map(|s| (i, s)))
            .collect();
        let settlements: Vec<Settlement> = settling.iter().map(|(_, s)| s.clone()).collect();
        if !settlements.is_empty() {
            let settled = self.store.settle_deliveries(&settlements, now).await;
            for ((i, _), answer) in settling.iter().zip(settled) {
                finished[*i] = match answer {
                    Ok(true) => Finished::Done,
                    Ok(false) => Finished::Lost,
                    Err(e) => {
                        tracing::warn!(error = %e, "a settlement could not be recorded; its message comes back");
                        Finished::Failed
                    }
                };
            }
        }
        // What the recorded ones raise, in one send: if it fails, their messages come back.
        let raised: Vec<usize> = (0..endings.len())
            .filter(|i| finished[*i] == Finished::Done && !endings[*i].raises.is_empty())
            .collect();
        let raises: Vec<DeliveryMessage> = raised
            .iter()
            .flat_map(|i| endings[*i].raises.iter())
            .map(|d| DeliveryMessage {
                delivery: d.clone(),
                slot: None,
            })
            .collect();
        if !raises.is_empty()
            && let Err(e) = self.queue.send(&raises).await
        {
            tracing::warn!(error = %e, "operational deliveries could not be queued; what raised them comes back");
            for i in raised {
                finished[i] = Finished::Failed;
            }
        }
        // Put back to wait for their slots, in one send: the received copies are done with.
        let put_back: Vec<usize> = (0..endings.len())
            .filter(|i| matches!(endings[*i].entry, Entry::PutBack { .. }))
            .collect();
        let waiting: Vec<(DeliveryMessage, Duration)> = put_back
            .iter()
            .filter_map(|i| match &endings[*i].entry {
                Entry::PutBack { wait, slot } => Some((
                    DeliveryMessage {
                        delivery: endings[*i].taken.delivery.clone(),
                        slot: *slot,
                    },
                    *wait,
                )),
                Entry::Message(_) => None,
            })
            .collect();
        if !waiting.is_empty()
            && let Err(e) = self.queue.send_delayed(&waiting).await
        {
            tracing::warn!(error = %e, "could not put paced deliveries back; their messages come back");
            for i in put_back {
                finished[i] = Finished::Failed;
            }
        }
        let dispositions = endings
            .iter()
            .zip(&finished)
            .map(|(ending, finished)| {
                let disposition = match (finished, &ending.entry) {
                    (Finished::Done, Entry::Message(d)) => *d,
                    (Finished::Done, Entry::PutBack { .. }) => Disposition::Ack,
                    (Finished::Lost | Finished::Failed, _) => Disposition::Leave,
                };
                (ending.taken.receipt.clone(), disposition)
            })
            .collect();
        apply(&*self.queue, dispositions, self.ack).await;
        finished
    }
}
