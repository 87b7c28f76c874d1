//! The sender: takes deliveries from its inbox and delivers each exactly once in effect, whatever
//! the queue repeats. One delivery's way, in order:
//!
//! 1. **taken** from the inbox ([`crate::ports::inbox::Inbox`]), with the batch it came in;
//! 2. **paced**: a rate-limited or throttled target's delivery waits for its slot, or goes back
//!    on the queue to wait there ([`pacing`]);
//! 3. **claimed**: new or `queued` → `sending` with a lease, by one conditional write that records
//!    it (a delivery already settled, or leased by another sender, is not sent; on the embedded
//!    database the claim was made as it was taken);
//! 4. **attempted** ([`attempt`]): rendered for its channel and handed to its transport, which
//!    says what happened ([`decide::Answer`]);
//! 5. **decided** ([`decide`], a pure function): its outcome, the attempt for its history, what
//!    becomes of its queue entry, and its effects;
//! 6. **recorded**: the batch's settlements (only the lease holder may settle) with the
//!    `delivery.failed` they raise and their entries acknowledged or delayed, by the inbox in
//!    bulk ([`crate::ports::inbox::Inbox::finish`]);
//! 7. its **effects** carried out ([`effects`]): failure streaks, disabled notifications,
//!    throttled targets, the operational webhook told.
//!
//! What the deliveries of a batch share (settings, event, notification) is read once per batch.
//!
//! What "exactly once" can mean with an external target: a sender that dies after sending and
//! before settling leaves a `sending` delivery whose lease runs out; its entry comes back and the
//! delivery is sent again with the **same** `webhook-id`, which Standard Webhooks receivers use to
//! drop the repeat. Nothing is ever lost: an entry is acknowledged only once its delivery is
//! settled.

mod attempt;
pub mod decide;
mod effects;
pub mod pacing;
mod reads;

use std::time::Duration;

use futures_util::{StreamExt, stream};
use time::OffsetDateTime;

use crate::domain::operational::{Occurrence, Telling};
use crate::model::Clock;
use crate::model::retry::RetrySchedule;
use crate::model::{Claim, Delivery, DeliveryStatus, Outcome};
use crate::ports::inbox::{Ending, Entry, Finished, Inbox, Taken};
use crate::ports::queue::{DeliveryMessage, Disposition, Queue, QueueError};
use crate::ports::store::{
    EventStore, NotificationStore, OperationalWebhookStore, SendSlots, SettingsStore, Settlement,
    SmsQuotaStore,
};
use crate::ports::transport::Transport;
use crate::telemetry::Metrics;
use crate::telemetry::{DeliveryTally, Settled};
use decide::{Answer, Decision, Effect, Then};
use pacing::Pace;
use reads::BatchReads;
pub(crate) use reads::Memo;

/// How long a claim holds: well over the 15 s HTTP timeout.
pub const LEASE: Duration = Duration::from_secs(60);
/// Records of one batch handled at once.
const CONCURRENCY: usize = 32;
/// How many deliveries a sender takes at once (SQS's most per receive).
pub const BATCH: usize = 10;

/// What the sender works with, handed out by the edge: the few stores it reads and writes, the
/// delivery queue (the operational deliveries it raises, the held ones it releases), the
/// transports, the clock, the metrics, and the deployment's rules.
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    /// The organizations' settings (the pause, the SMS quota, the language).
    pub settings: &'a dyn SettingsStore,
    /// The events deliveries render.
    pub events: &'a dyn EventStore,
    /// The notifications deliveries go through (read; their streaks, disablings and throttles
    /// written).
    pub notifications: &'a dyn NotificationStore,
    /// The organizations' operational webhooks.
    pub hooks: &'a dyn OperationalWebhookStore,
    /// The users' daily SMS quotas.
    pub quota: &'a dyn SmsQuotaStore,
    /// Rate-limited targets' send slots.
    pub slots: &'a dyn SendSlots,
    pub queue: &'a dyn Queue<DeliveryMessage>,
    pub transports: &'a dyn Transport,
    /// Opens the targets' sealed secrets for each send.
    pub keys: &'a dyn crate::ports::keys::Keys,
    /// The organizations' limits (their daily email and SMS counts), and the counters.
    pub orgs: &'a dyn crate::ports::store::OrganizationStore,
    pub limits: &'a crate::domain::limits::LimitsCache,
    pub counters: &'a dyn crate::ports::limits::LimitCounters,
    pub clock: &'a dyn Clock,
    pub metrics: &'a Metrics,
    pub rules: Rules<'a>,
}

/// The deployment's rules the sender follows.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    /// `HERALD_RETRY_SCHEDULE`.
    pub schedule: &'a RetrySchedule,
    /// `HERALD_RATE_LIMITS`: whether targets are paced.
    pub rate_limits: bool,
    /// Whether webhooks may target private addresses (the local server).
    pub allow_private: bool,
    /// `HERALD_DISABLE_AFTER`: how long a target's deliveries may all fail before its
    /// notification is disabled.
    pub disable_after: Duration,
}

impl Sender<'_> {
    /// Telling the organizations' operational webhooks.
    fn telling(&self) -> Telling<'_> {
        Telling {
            hooks: self.hooks,
            queue: self.queue,
        }
    }
}

/// One round of a sender loop: takes up to [`BATCH`] deliveries due now from `inbox` (each hidden
/// for `visibility`), and handles them. Returns what became of each entry; empty when nothing was
/// due.
pub async fn round(
    sender: &Sender<'_>,
    inbox: &dyn Inbox,
    visibility: Duration,
) -> Result<Vec<Disposition>, QueueError> {
    let now = sender.clock.now();
    let taken = inbox.take(BATCH, visibility, now, now + LEASE).await?;
    if taken.is_empty() {
        return Ok(Vec::new());
    }
    let handled = process(sender, inbox, taken).await;
    Ok(handled.into_iter().map(|(_, d)| d).collect())
}

/// A taken delivery on its way, with what the batch has decided about it so far.
struct Working {
    taken: Taken,
    /// Its claim, once made: the delivery as claimed.
    claimed: Option<Delivery>,
    slot: Option<pacing::Slot>,
}

/// Handles a batch of taken deliveries (see the module doc) and records it in `inbox`. Returns
/// each entry's receipt and what became of it, in no particular order: a Lambda host reports the
/// ones that come back (`Delay`, `Leave`) as batch item failures.
pub async fn process(
    sender: &Sender<'_>,
    inbox: &dyn Inbox,
    batch: Vec<Taken>,
) -> Vec<(String, Disposition)> {
    let reads = BatchReads::default();
    let now = sender.clock.now();
    let lease = now + LEASE;
    let mut ended = Ended::default();
    // The organization's settings (read once per batch); one that is gone takes with it
    // everything it would have delivered.
    let mut live = Vec::with_capacity(batch.len());
    for taken in batch {
        match reads.settings(sender, &taken.delivery.organization).await {
            Ok(Some(settings)) => live.push((taken, settings)),
            Ok(None) => ended.entry(taken, Disposition::Ack),
            Err(e) => {
                left(&taken, &e);
                ended.entry(taken, Disposition::Leave);
            }
        }
    }
    // Pacing: the deliveries of a rate-limited or throttled target wait for their slot.
    let paces = {
        let taken: Vec<&Taken> = live.iter().map(|(t, _)| t).collect();
        pacing::pace_batch(sender, &reads, &taken).await
    };
    let mut paced = Vec::with_capacity(paces.len());
    for ((taken, settings), pace) in live.into_iter().zip(paces) {
        match pace {
            Ok(Pace::Send(slot)) => paced.push((taken, settings, slot)),
            // Back on the queue holding its slot: no attempt counted, no receive spent.
            Ok(Pace::Later(wait, slot)) => ended.add(
                Ending {
                    taken,
                    settlement: None,
                    raises: Vec::new(),
                    entry: Entry::PutBack { wait, slot },
                },
                None,
            ),
            Err(e) => {
                left(&taken, &e);
                ended.entry(taken, Disposition::Leave);
            }
        }
    }
    // Claims: those taking did not make, made now, together.
    let unclaimed: Vec<Delivery> = paced
        .iter()
        .filter(|(t, _, _)| t.claim.is_none())
        .map(|(t, _, _)| t.delivery.clone())
        .collect();
    let mut claims = inbox.claim(&unclaimed, now, lease).await.into_iter();
    let mut working = Vec::with_capacity(paced.len());
    for (mut taken, settings, slot) in paced {
        let claim = match taken.claim.take() {
            Some(claim) => claim,
            None => claims.next().unwrap_or_else(|| {
                Err(crate::ports::store::StoreError::Corrupt(
                    "a claim gave no answer".into(),
                ))
            }),
        };
        let entry = match claim {
            Ok(Claim::Claimed(delivery)) => {
                working.push((
                    Working {
                        taken,
                        claimed: Some(*delivery),
                        slot,
                    },
                    settings,
                ));
                continue;
            }
            // Another sender holds it: its entry comes back after the visibility timeout.
            Ok(Claim::Busy) => Disposition::Leave,
            // Already settled: this entry is a repeat. A repeat of a failed one raises its
            // `delivery.failed` again (the same operational delivery: posted once), in case the
            // first could not be queued.
            Ok(Claim::Settled(DeliveryStatus::Failed)) => {
                let told = Occurrence::delivery_failed(&taken.delivery, None);
                let org = taken.delivery.organization.clone();
                match effects::raises(sender, &reads, &org, told.into_iter().collect(), now).await {
                    Ok(raises) => {
                        ended.add(
                            Ending {
                                taken,
                                settlement: None,
                                raises,
                                entry: Entry::Message(Disposition::Ack),
                            },
                            None,
                        );
                        continue;
                    }
                    Err(e) => {
                        left(&taken, &e);
                        Disposition::Leave
                    }
                }
            }
            Ok(Claim::Settled(_)) => Disposition::Ack,
            Err(e) => {
                left(&taken, &e);
                Disposition::Leave
            }
        };
        ended.entry(taken, entry);
    }
    // Attempts, concurrently; then each decided.
    let reads = &reads;
    let schedule = sender.rules.schedule;
    let attempted: Vec<(Working, Decision)> = stream::iter(working)
        .map(|(work, settings)| async move {
            let delivery = work.claimed.as_ref().unwrap_or(&work.taken.delivery);
            let started = std::time::Instant::now();
            let answer = if settings.notifier_paused {
                Answer::Held
            } else {
                attempt::attempt(sender, reads, delivery, &settings, now, work.slot).await
            };
            let rules = decide::Rules {
                schedule,
                rate_limits: sender.rules.rate_limits,
                jitter: rand::random::<f64>(),
            };
            let decision = decide::decide(delivery, answer, now, started.elapsed(), rules);
            (work, decision)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (work, decision) in attempted {
        let Some(delivery) = work.claimed else {
            continue;
        };
        let told: Vec<Occurrence> = decision
            .effects
            .iter()
            .filter(|e| effects::told_with_ending(e))
            .filter_map(|e| match e {
                Effect::Tell(o) => Some(o.clone()),
                _ => None,
            })
            .collect();
        let (raises, entry) =
            match effects::raises(sender, reads, &delivery.organization, told, now).await {
                Ok(raises) => (raises, entry_of(decision.then)),
                Err(e) => {
                    left(&work.taken, &e);
                    (Vec::new(), Disposition::Leave)
                }
            };
        ended.add(
            Ending {
                taken: work.taken,
                settlement: Some(Settlement {
                    // The lease its claim took (taking may have claimed it, before this batch's
                    // clock was read).
                    lease_until: delivery.lease_until.unwrap_or(lease),
                    delivery,
                    outcome: decision.outcome.clone(),
                    attempt: decision.attempt.clone(),
                }),
                raises,
                entry: Entry::Message(entry),
            },
            Some(decision),
        );
    }
    let Ended { endings, decided } = ended;
    let finished = inbox.finish(&endings, sender.clock.now()).await;
    let settled_at = sender.clock.now();
    let mut tally = DeliveryTally::default();
    let mut after = Vec::new();
    let mut answers = Vec::with_capacity(endings.len());
    for ((ending, decision), finished) in endings.into_iter().zip(decided).zip(finished) {
        let receipt = ending.taken.receipt.clone();
        let entry = match (&ending.entry, finished) {
            (_, Finished::Lost | Finished::Failed) => {
                answers.push((receipt, Disposition::Leave));
                continue;
            }
            (Entry::PutBack { .. }, Finished::Done) => Disposition::Ack,
            (Entry::Message(entry), Finished::Done) => *entry,
        };
        if let (Some(decision), Some(settlement)) = (decision, &ending.settlement) {
            count(
                &mut tally,
                &settlement.delivery,
                &decision.outcome,
                settled_at,
            );
            let org = &settlement.delivery.organization;
            after.extend(
                decision
                    .effects
                    .into_iter()
                    .filter(|e| !effects::told_with_ending(e))
                    .map(|e| (org.clone(), e)),
            );
            if decision.then == Then::ReleaseIfResumed
                && let Err(e) = release_if_resumed(sender, &settlement.delivery).await
            {
                left(&ending.taken, &e);
                answers.push((receipt, Disposition::Leave));
                continue;
            }
        }
        answers.push((receipt, entry));
    }
    sender.metrics.deliveries(settled_at, &tally);
    effects::carry_out(sender, reads, after).await;
    answers
}

/// A batch's endings, and the decision of each that was attempted (or held).
#[derive(Default)]
struct Ended {
    endings: Vec<Ending>,
    decided: Vec<Option<Decision>>,
}

impl Ended {
    fn add(&mut self, ending: Ending, decision: Option<Decision>) {
        self.endings.push(ending);
        self.decided.push(decision);
    }

    /// An entry handled without an attempt.
    fn entry(&mut self, taken: Taken, entry: Disposition) {
        self.add(
            Ending {
                taken,
                settlement: None,
                raises: Vec::new(),
                entry: Entry::Message(entry),
            },
            None,
        );
    }
}

/// What becomes of a delivery's queue entry, as a message disposition.
fn entry_of(then: Then) -> Disposition {
    match then {
        Then::Ack | Then::ReleaseIfResumed => Disposition::Ack,
        Then::Delay(wait) => Disposition::Delay(wait),
        // The dead-letter queue keeps the entry of a delivery that failed every attempt.
        Then::DeadLetter => Disposition::Leave,
    }
}

/// A settled attempt in the batch's metrics (a held delivery was not attempted).
fn count(tally: &mut DeliveryTally, delivery: &Delivery, outcome: &Outcome, at: OffsetDateTime) {
    let settled = match outcome {
        Outcome::Sent => {
            let latency = (at - delivery.created_at).whole_milliseconds().max(0);
            Settled::Sent {
                latency_ms: u64::try_from(latency).unwrap_or(u64::MAX),
            }
        }
        Outcome::Failed(_) => Settled::Failed,
        Outcome::Retry(_) => Settled::Retried,
        Outcome::Skipped(_) => Settled::Skipped,
        Outcome::Held => return,
    };
    tally.record(delivery.channel.method().as_str(), settled);
}

/// A taken delivery whose entry is left to come back, its failure logged.
fn left(taken: &Taken, e: &dyn std::fmt::Display) {
    tracing::warn!(organization = %taken.delivery.organization, delivery = %taken.delivery.id, error = %e, "delivery attempt failed; its entry comes back");
}

/// A delivery just held: if the notifier was resumed meanwhile (the resume job may have run
/// before this delivery was held), it is queued again here (the claim takes a held delivery),
/// so nothing stays held.
async fn release_if_resumed(
    sender: &Sender<'_>,
    delivery: &Delivery,
) -> Result<(), crate::domain::Error> {
    let paused = sender
        .settings
        .get_settings(&delivery.organization)
        .await?
        .is_some_and(|s| s.notifier_paused);
    if !paused {
        sender
            .queue
            .send(&[DeliveryMessage {
                delivery: delivery.clone(),
                slot: None,
            }])
            .await?;
    }
    Ok(())
}
