//! The dead-letter passes. The delivery queue's: every dead letter's delivery marked `failed`,
//! and the letter removed once it is (the local server runs it every few seconds; on AWS the
//! `dead-letters` function reads the dead-letter queue). The fan-out queue's
//! ([`fail_fanouts`]): every dead event job's event recorded `failed` and told to the
//! operational webhook (the local server, and the `fanout-dead-letters` function).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::Error;
use crate::domain::deliveries::Burying;
use crate::domain::operational::{Occurrence, Telling};
use crate::model::FanoutStatus;
use crate::ports::queue::{DeadLetters, DeliveryMessage, FanoutMessage, QueueMessage};
use crate::ports::store::{EventStore, FanoutProgress};

/// Dead letters handled at once.
const PAGE: usize = 100;

/// What becomes of each dead letter of a batch, in order: `Ok(true)` it may go, `Ok(false)` it
/// stays for a later pass (a sender holds its delivery now), an error keeps it too.
pub type Answers = Vec<Result<bool, Error>>;

/// What handles a queue's dead letters: [`Burying`] the delivery queue's, [`FailingFanouts`] the
/// fan-out queue's. The passes over them (the embedded queue's [`drain`], the Lambda functions,
/// the local server on SQS) differ only in where the letters come from.
#[async_trait]
pub trait LetterHandler<M>: Sync {
    /// Handles `letters` as of `now`: one answer per letter.
    async fn answer(&self, now: OffsetDateTime, letters: &[M]) -> Answers;
}

#[async_trait]
impl LetterHandler<DeliveryMessage> for Burying<'_> {
    async fn answer(&self, now: OffsetDateTime, letters: &[DeliveryMessage]) -> Answers {
        self.bury(now, letters).await
    }
}

#[async_trait]
impl LetterHandler<FanoutMessage> for FailingFanouts<'_> {
    /// [`fail_fanouts`]: each letter handled may go.
    async fn answer(&self, now: OffsetDateTime, letters: &[FanoutMessage]) -> Answers {
        let answers = fail_fanouts(self, now, letters).await;
        answers.into_iter().map(|a| a.map(|()| true)).collect()
    }
}

/// Drains the embedded queue's `letters` page by page, as of `now`, each page answered by
/// `handler`. Returns how many were removed; an error stops the pass (the next one retries).
pub async fn drain<M: QueueMessage>(
    handler: &dyn LetterHandler<M>,
    letters: &dyn DeadLetters<M>,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let mut removed = 0;
    loop {
        let page = letters.dead_letter_page(PAGE)?;
        let (ids, messages): (Vec<i64>, Vec<M>) = page.into_iter().unzip();
        let answers = handler.answer(now, &messages).await;
        let mut done = Vec::with_capacity(ids.len());
        for (id, answer) in ids.iter().zip(answers) {
            if answer? {
                done.push(*id);
            }
        }
        removed += done.len();
        let finished = ids.len() < PAGE || done.is_empty();
        letters.remove_dead_letters(done).await?;
        if finished {
            return Ok(removed);
        }
    }
}

/// What failing fan-outs needs: the events, and the operational webhook's telling.
#[derive(Clone, Copy)]
pub struct FailingFanouts<'a> {
    pub events: &'a dyn EventStore,
    pub telling: Telling<'a>,
}

/// The fan-out queue's dead letters (as of `now`): an event's job (its first chunk or a later
/// one) records the event's fan-out `failed` (the deliveries made before stay, and count) and
/// tells the organization's operational webhook `event.fanoutFailed` (the same event is the same
/// operational delivery: posted once, however often its letter comes). A resume or recover job
/// is let go with an error in the log: the operator asks for it again. One answer per letter:
/// `Ok` when it may go; an error keeps it for another pass.
pub async fn fail_fanouts(
    ports: &FailingFanouts<'_>,
    now: OffsetDateTime,
    letters: &[FanoutMessage],
) -> Vec<Result<(), Error>> {
    let mut answers = Vec::with_capacity(letters.len());
    for letter in letters {
        answers.push(fail_fanout(ports, now, letter).await);
    }
    answers
}

async fn fail_fanout(
    ports: &FailingFanouts<'_>,
    now: OffsetDateTime,
    letter: &FanoutMessage,
) -> Result<(), Error> {
    let FanoutMessage::Event {
        organization,
        event,
        round,
        ..
    } = letter
    else {
        tracing::error!(job = ?letter, "a fan-out job ran out of retries; ask for it again");
        return Ok(());
    };
    let failed = FanoutProgress::Failed { round: *round };
    ports
        .events
        .record_fanout(organization, *event, failed)
        .await?;
    let Some(event) = ports.events.get_event(organization, *event).await? else {
        return Ok(()); // removed after its fan-out could not be queued: it never happened
    };
    // A letter of an earlier round, or of a fan-out done meanwhile, changed nothing.
    if event.fanout.status != FanoutStatus::Failed || event.fanout_round != *round {
        return Ok(());
    }
    tracing::error!(organization = %event.organization, event = %event.id, round, "an event's fan-out ran out of retries: its fan-out is failed");
    ports
        .telling
        .raise(Occurrence::event_fanout_failed(&event), now)
        .await
}
