//! The queues: one trait, implemented on SQS (a standard queue with redrive to a dead-letter
//! queue) and on the embedded database (the same at-least-once semantics: visibility timeout,
//! receive count, redrive; the delivery queue there is the delivery rows themselves).
//! The contract suite in `tests/e2e/queue_contract.rs` runs every assertion against both.
//!
//! A delivery message carries the whole delivery as it was queued (target, template, language,
//! its place in the log): on SQS, until the sender claims it, the message is the delivery, and
//! nothing is written for it (the cost: two writes per delivery, the claim and the settlement).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::OrgId;

/// Receives of a fan-out message without an acknowledgement before it goes to the dead-letter
/// queue (`maxReceiveCount` in `template.yaml`). The delivery queue's is the retry schedule's
/// attempts ([`crate::model::retry::RetrySchedule::attempts`]).
pub const MAX_RECEIVES: u32 = 5;

/// The body of one queue message: the delivery to make, as queued (`queued`, no attempts). The
/// store's record, once the sender has claimed it, is what counts from then on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub delivery: crate::model::Delivery,
    /// The send slot reserved for it when its target is rate limited and it was put back to
    /// wait for the slot (the sender's pacing).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::model::timestamp::option"
    )]
    pub slot: Option<time::OffsetDateTime>,
}

/// The body of one fan-out queue message: a job of the fan-out function.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "camelCase")]
pub enum FanoutMessage {
    /// Fan `event` out, from `position` on (the start when `None`): one bounded chunk per
    /// message, each queueing the next.
    Event {
        organization: OrgId,
        event: Uuid,
        #[serde(default)]
        position: Option<FanoutPosition>,
        /// The event's fan-out round (`fanout/retry` starts the next): a dead letter of an
        /// earlier round does not fail the current one.
        #[serde(default, skip_serializing_if = "crate::model::is_zero")]
        round: u32,
    },
    /// Queue the organization's `held` deliveries again: its notifier was resumed.
    Resume { organization: OrgId },
    /// Go on recovering `notification`'s failed deliveries of the window after the list key
    /// `after` (the domain's `recover_chunk`).
    Recover {
        organization: OrgId,
        notification: crate::model::NotificationId,
        #[serde(with = "crate::model::timestamp")]
        since: time::OffsetDateTime,
        #[serde(with = "crate::model::timestamp")]
        until: time::OffsetDateTime,
        #[serde(default)]
        after: Option<String>,
    },
}

impl FanoutMessage {
    /// The first fan-out message of an accepted event, in its current round.
    pub fn first(event: &crate::model::Event) -> Self {
        FanoutMessage::Event {
            organization: event.organization.clone(),
            event: event.id,
            position: None,
            round: event.fanout_round,
        }
    }

    /// The first fan-out message of `event`'s next round (`fanout/retry`).
    pub fn next_round(event: &crate::model::Event) -> Self {
        FanoutMessage::Event {
            organization: event.organization.clone(),
            event: event.id,
            position: None,
            round: event.fanout_round + 1,
        }
    }
}

/// Where a fan-out goes on: in the email/SMS notification `notification`, after the recipient
/// cursor `after`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FanoutPosition {
    pub notification: crate::model::NotificationId,
    #[serde(default)]
    pub after: Option<String>,
    /// How many chunks came before (names the chunk in logs).
    pub chunk: u32,
    /// How many deliveries the chunks before made: the last chunk records the event's total.
    #[serde(default)]
    pub made: u64,
}

/// What a queue carries: JSON messages.
pub trait QueueMessage:
    Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
}

impl<T> QueueMessage for T where
    T: Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
}

/// A message taken from the queue: invisible to other receivers until `ack` or its visibility
/// timeout ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received<M = DeliveryMessage> {
    pub message: M,
    /// What `ack` takes.
    pub receipt: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    /// The queue could not take or give messages after retries; nothing was sent.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue message unreadable: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait Queue<M: QueueMessage = DeliveryMessage>: Send + Sync + 'static {
    /// Sends every message (SQS: SendMessageBatch, 10 per call, failed entries retried). `Ok` means
    /// every message is durably queued.
    async fn send(&self, messages: &[M]) -> Result<(), QueueError>;
    /// Sends each message to become visible only after its delay: at most
    /// [`MAX_SEND_DELAY`], and on SQS in whole seconds, rounded down (`DelaySeconds`). A
    /// message sent again this way starts its receive count afresh.
    async fn send_delayed(&self, messages: &[(M, Duration)]) -> Result<(), QueueError>;
    /// Up to `max` (≤ 10) messages now visible, each hidden for `visibility` from now.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Received<M>>, QueueError>;
    /// Deletes received messages: they were handled (SQS: DeleteMessageBatch, 10 per call; the
    /// embedded queue: one write). An error may leave some of them: they come back, and their
    /// handling finds its work done.
    async fn ack_all(&self, receipts: &[String]) -> Result<(), QueueError>;
    /// Deletes one received message.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.ack_all(&[receipt.to_owned()]).await
    }
    /// Makes a received message visible again after `delay` (a retry's backoff).
    async fn delay(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;
}

/// A queue's dead letters, drained page by page by a consumer of its own: the embedded
/// database's (the local server's dead-letter pass). SQS's dead-letter queue is a queue of its
/// own, drained by the `dead-letters` function.
#[async_trait]
pub trait DeadLetters<M: QueueMessage>: Send + Sync {
    /// Up to `max` dead letters, oldest first, each with its id (what
    /// [`DeadLetters::remove_dead_letters`] takes). An unreadable one is left where it is.
    fn dead_letter_page(&self, max: usize) -> Result<Vec<(i64, M)>, QueueError>;
    /// Removes dead letters by id (their work is done).
    async fn remove_dead_letters(&self, ids: Vec<i64>) -> Result<(), QueueError>;
}

/// The longest delay of [`Queue::send_delayed`]: SQS's 15 minutes.
pub const MAX_SEND_DELAY: Duration = Duration::from_secs(900);

/// What becomes of a received message once handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Done: delete it.
    Ack,
    /// Make it visible again after this long (a retry's backoff).
    Delay(Duration),
    /// Leave it: it comes back when its visibility ends (another worker holds its work, or the
    /// queue's redrive takes it to the dead-letter queue).
    Leave,
}

/// Carries out the dispositions of a handled batch (by receipt): delays change the messages'
/// visibility (all at once), and acks delete them in one call when `ack` is set (the local host;
/// in Lambda the event source mapping deletes every message not reported). Returns the receipts
/// of the messages that must come back: SQS's `batchItemFailures`.
pub async fn apply<M: QueueMessage>(
    queue: &dyn Queue<M>,
    results: Vec<(String, Disposition)>,
    ack: bool,
) -> Vec<String> {
    let mut back = Vec::new();
    let mut done = Vec::new();
    let mut delays = Vec::new();
    for (receipt, disposition) in results {
        match disposition {
            Disposition::Ack if ack => done.push(receipt),
            Disposition::Ack => {}
            Disposition::Delay(after) => delays.push((receipt, after)),
            Disposition::Leave => back.push(receipt),
        }
    }
    let delayed = futures_util::future::join_all(
        delays
            .iter()
            .map(|(receipt, after)| queue.delay(receipt, *after)),
    )
    .await;
    for ((receipt, _), result) in delays.into_iter().zip(delayed) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "queue call failed; the message comes back");
        }
        back.push(receipt);
    }
    if !done.is_empty()
        && let Err(e) = queue.ack_all(&done).await
    {
        tracing::warn!(error = %e, "queue call failed; the messages come back");
        back.extend(done);
    }
    back
}

/// How many messages a consumer takes at once (SQS's most per receive).
pub const BATCH: usize = 10;

/// One round of a queue's consumer, the same in `herald-local`'s workers and the tests: receives
/// up to [`BATCH`] visible messages (each hidden for `visibility`), hands them to `process`, and
/// carries out what it decided ([`apply`]: acknowledgements in one call, delays, the rest left to
/// come back). Returns the decisions in the order `process` gave them; empty when nothing was
/// visible. (In Lambda the event source mapping receives and deletes: the host calls `process`
/// and [`apply`] itself.)
pub async fn consume<M, F, Fut>(
    queue: &dyn Queue<M>,
    visibility: Duration,
    process: F,
) -> Result<Vec<Disposition>, QueueError>
where
    M: QueueMessage,
    F: FnOnce(Vec<Received<M>>) -> Fut,
    Fut: Future<Output = Vec<(String, Disposition)>>,
{
    let batch = queue.receive(BATCH, visibility).await?;
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let results = process(batch).await;
    let decided = results.iter().map(|(_, d)| *d).collect();
    apply(queue, results, true).await;
    Ok(decided)
}
