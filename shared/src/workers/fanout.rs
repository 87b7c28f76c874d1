//! Fan-out: turns one emitted event into its deliveries, one bounded chunk per fan-out
//! message, so that an event with 100,000 recipients never comes near a Lambda time limit.
//!
//! The first message of an event makes one delivery per Slack or webhook notification subscribed
//! to its type, plus the first page of recipients of the first subscribed email or SMS
//! notification; each later message does one more page ([`CHUNK`] recipients), and queues the next
//! before it is acknowledged. Recipients filtered out by their preferences or the delivery
//! mode (the whitelist) are recorded as `skipped` with the reason, and not queued.
//!
//! A chunk writes only the deliveries it skips; the others go on the queue whole, and are first
//! recorded by the sender's claim (two writes per delivery in all: the claim and the settlement).
//! Repeats are harmless: delivery ids are UUIDv5s of (event, notification, recipient), so a
//! repeated chunk queues the same deliveries again, and the claim drops any already made.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::{StreamExt, stream};
use uuid::Uuid;

use crate::domain::Error;
use crate::domain::deliveries::Recovery;
use crate::domain::fanout as rules;
use crate::model::Clock;
use crate::model::{
    Channel, Delivery, DeliveryFilter, Event, Notification, Recipient, Settings, Target,
};
use crate::model::{DeliveryMode, DeliveryStatus, OrgId, SkipReason};
use crate::ports::queue::{
    DeliveryMessage, Disposition, FanoutMessage, FanoutPosition, Queue, Received,
};
use crate::ports::store::{
    DeliveryLedger, DeliveryLog, EventStore, FanoutProgress, NotificationStore, PageRequest,
    PreferenceStore, RecipientStore, SettingsStore,
};
use crate::telemetry::Metrics;
use crate::workers::sender::Memo;

/// Recipients per fan-out message.
pub const CHUNK: usize = 500;

/// What the fan-out works with, handed out by the edge: the stores it reads (events, settings,
/// notifications, recipients, preferences, held deliveries) and writes (deliveries), the two
/// queues, recover's ports (a recover job is a fan-out message), the clock and the metrics.
#[derive(Clone, Copy)]
pub struct Fanout<'a> {
    pub events: &'a dyn EventStore,
    pub settings: &'a dyn SettingsStore,
    pub notifications: &'a dyn NotificationStore,
    pub recipients: &'a dyn RecipientStore,
    pub preferences: &'a dyn PreferenceStore,
    /// The held deliveries a resume releases.
    pub log: &'a dyn DeliveryLog,
    /// Deliveries recorded at birth (skipped), and held ones released.
    pub ledger: &'a dyn DeliveryLedger,
    pub queue: &'a dyn Queue<DeliveryMessage>,
    pub fanout: &'a dyn Queue<FanoutMessage>,
    pub recovery: Recovery<'a>,
    pub clock: &'a dyn Clock,
    pub metrics: &'a Metrics,
}

/// Handles a batch of fan-out messages: each message's receipt and what becomes of it (see
/// [`crate::ports::queue::apply`]). The batch's jobs run concurrently, then what they produced is
/// written together (one write of skipped deliveries, one send per queue); a job's message is
/// acknowledged only once that is done, and comes back otherwise (its work is idempotent).
pub async fn process_batch(
    fanout: Fanout<'_>,
    batch: Vec<Received<FanoutMessage>>,
) -> Vec<(String, Disposition)> {
    let fanout = &fanout;
    let reads = BatchReads::default();
    let reads = &reads;
    let results: Vec<(Received<FanoutMessage>, Result<Produced, Error>)> = stream::iter(batch)
        .map(|received| async move {
            let produced = match &received.message {
                FanoutMessage::Event {
                    organization,
                    event,
                    position,
                    round,
                } => {
                    let job = Job {
                        org: organization,
                        event: *event,
                        position: position.as_ref(),
                        round: *round,
                    };
                    fan_out(fanout, reads, job).await
                }
                FanoutMessage::Resume { organization } => resume(fanout, organization).await,
                FanoutMessage::Recover {
                    organization,
                    notification,
                    since,
                    until,
                    after,
                } => {
                    let window = crate::domain::deliveries::Window {
                        since: *since,
                        until: *until,
                    };
                    fanout
                        .recovery
                        .chunk(
                            fanout.clock.now(),
                            organization,
                            notification,
                            window,
                            after.clone(),
                        )
                        .await
                        .map(|next| Produced {
                            next: next.into_iter().collect(),
                            ..Produced::default()
                        })
                }
            };
            (received, produced)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut answers = Vec::with_capacity(results.len());
    let mut all = Produced::default();
    let mut done = Vec::new();
    let mut sizes = Vec::new();
    for (received, produced) in results {
        match produced {
            Ok(produced) => {
                if matches!(received.message, FanoutMessage::Event { .. }) {
                    sizes.push((produced.queued.len() + produced.skipped.len()) as u64);
                }
                all.add(produced);
                done.push((received.receipt, received.receive_count));
            }
            Err(e) => {
                tracing::warn!(job = ?received.message, error = %e, "fan-out job failed; its message comes back");
                if let FanoutMessage::Event {
                    organization,
                    event,
                    position: None,
                    ..
                } = &received.message
                {
                    // Received: SQS brings it back from here, the relay need not.
                    let taken = fanout
                        .events
                        .record_fanout(organization, *event, FanoutProgress::Taken)
                        .await;
                    if let Err(e) = taken {
                        tracing::warn!(event = %event, error = %e, "a failed fan-out stays in the outbox");
                    }
                }
                let back = Disposition::Delay(retry_after(received.receive_count));
                answers.push((received.receipt, back));
            }
        }
    }
    let written = match write(fanout, all).await {
        Ok(()) => {
            fanout.metrics.fanout_sizes(fanout.clock.now(), &sizes);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "fan-out results not written; their messages come back");
            false
        }
    };
    answers.extend(done.into_iter().map(|(receipt, count)| {
        let disposition = match written {
            true => Disposition::Ack,
            false => Disposition::Delay(retry_after(count)),
        };
        (receipt, disposition)
    }));
    answers
}

/// When a failed fan-out job's message comes back, after its `receive_count`th receive: 1, 2,
/// 4, 8 s, … at most a minute (not the queue's whole visibility timeout): a passing fault costs
/// seconds, and a lasting one spends the job's [`crate::ports::queue::MAX_RECEIVES`] receives in
/// about 15 s before its dead letter makes the event's fan-out `failed`.
pub fn retry_after(receive_count: u32) -> std::time::Duration {
    let exponent = receive_count.saturating_sub(1).min(6);
    std::time::Duration::from_secs(1u64 << exponent).min(std::time::Duration::from_secs(60))
}

/// What fan-out jobs produced, to be written once they are done.
#[derive(Debug, Default)]
pub struct Produced {
    /// Deliveries settled at birth (skipped by preference or delivery mode): recorded.
    skipped: Vec<Delivery>,
    /// Deliveries to make: queued (a queued delivery's message is its only record until the
    /// sender claims it).
    queued: Vec<DeliveryMessage>,
    /// Held deliveries whose message is queued above: released once it is.
    released: Vec<Delivery>,
    /// The fan-out jobs that go on after these (the next chunk, the next round of a resume).
    next: Vec<FanoutMessage>,
    /// What the events' fan-outs came to: recorded once the rest is written.
    progress: Vec<(OrgId, Uuid, FanoutProgress)>,
}

impl Produced {
    fn add(&mut self, other: Produced) {
        self.skipped.extend(other.skipped);
        self.queued.extend(other.queued);
        self.released.extend(other.released);
        self.next.extend(other.next);
        self.progress.extend(other.progress);
    }
}

/// Writes what jobs produced, in the order that keeps a crash at any point harmless: deliveries,
/// then the release of held ones whose messages are already queued, then the jobs that go on,
/// then what the events' fan-outs came to.
async fn write(fanout: &Fanout<'_>, produced: Produced) -> Result<(), Error> {
    fanout.ledger.put_deliveries(&produced.skipped).await?;
    fanout.queue.send(&produced.queued).await?;
    for released in fanout.ledger.release_held_all(&produced.released).await {
        released?;
    }
    fanout.fanout.send(&produced.next).await?;
    for (org, event, progress) in produced.progress {
        fanout.events.record_fanout(&org, event, progress).await?;
    }
    Ok(())
}

/// What the fan-out jobs of a batch share, read once per batch: each organization's settings and
/// notifications (a batch lives for a moment; its jobs see the same configuration).
#[derive(Default)]
pub struct BatchReads {
    settings: Memo<OrgId, Option<Arc<Settings>>>,
    notifications: Memo<OrgId, Arc<Vec<Notification>>>,
}

impl BatchReads {
    async fn settings(
        &self,
        fanout: &Fanout<'_>,
        org: &OrgId,
    ) -> Result<Option<Arc<Settings>>, Error> {
        self.settings
            .get(org.clone(), || async {
                Ok(fanout.settings.get_settings(org).await?.map(Arc::new))
            })
            .await
    }

    /// The organization's enabled notifications subscribed to the event's type, in id order.
    async fn subscribed(
        &self,
        fanout: &Fanout<'_>,
        event: &Event,
    ) -> Result<Vec<Notification>, Error> {
        let all = self
            .notifications
            .get(event.organization.clone(), || async {
                rules::notifications(fanout.notifications, &event.organization)
                    .await
                    .map(Arc::new)
            })
            .await?;
        Ok(rules::subscribed(&all, event))
    }
}

/// One fan-out job of an event: where it goes on from, in which round.
#[derive(Clone, Copy, Debug)]
pub struct Job<'a> {
    pub org: &'a OrgId,
    pub event: Uuid,
    /// The start when `None`.
    pub position: Option<&'a FanoutPosition>,
    pub round: u32,
}

/// Does one chunk of an event's fan-out: its deliveries, and the next chunk's message if there
/// is one.
pub async fn fan_out(
    fanout: &Fanout<'_>,
    reads: &BatchReads,
    job: Job<'_>,
) -> Result<Produced, Error> {
    let (org, position) = (job.org, job.position);
    let Some(event) = fanout.events.get_event(org, job.event).await? else {
        // Removed after its fan-out could not be queued: it never happened.
        return Ok(Produced::default());
    };
    let made = position.map_or(0, |p| p.made);
    let Some(settings) = reads.settings(fanout, org).await? else {
        // The organization is gone: nothing more to make.
        return Ok(Produced {
            progress: vec![(
                org.clone(),
                event.id,
                FanoutProgress::Done { deliveries: made },
            )],
            ..Produced::default()
        });
    };
    let notifications = reads.subscribed(fanout, &event).await?;
    let now = fanout.clock.now();
    let people = rules::people(&notifications);
    let (mut deliveries, current, after, chunk) = match position {
        None => (
            rules::target_deliveries(&event, &notifications, &settings, now),
            people.first().map(|n| n.id.clone()),
            None,
            0,
        ),
        Some(p) => (
            Vec::new(),
            Some(p.notification.clone()),
            p.after.clone(),
            p.chunk,
        ),
    };
    let mut next = None;
    if let Some(current) = current
        && let Some(n) = people.iter().find(|n| n.id == current)
    {
        {
            let page = fanout
                .recipients
                .list_recipients(
                    org,
                    &n.id,
                    &PageRequest {
                        limit: CHUNK,
                        after,
                    },
                )
                .await?;
            deliveries
                .extend(people_deliveries(fanout, &event, &settings, n, &page.items, now).await?);
            next = match page.next {
                Some(after) => Some(FanoutPosition {
                    notification: n.id.clone(),
                    after: Some(after),
                    chunk: chunk + 1,
                    made: made + deliveries.len() as u64,
                }),
                None => people
                    .iter()
                    .skip_while(|p| p.id != n.id)
                    .nth(1)
                    .map(|p| FanoutPosition {
                        notification: p.id.clone(),
                        after: None,
                        chunk: chunk + 1,
                        made: made + deliveries.len() as u64,
                    }),
            };
        }
    }
    let progress = match (&next, position) {
        (None, _) => Some(FanoutProgress::Done {
            deliveries: made + deliveries.len() as u64,
        }),
        (Some(_), None) => Some(FanoutProgress::Taken),
        (Some(_), Some(_)) => None,
    };
    let (skipped, queued): (Vec<Delivery>, Vec<Delivery>) = deliveries
        .into_iter()
        .partition(|d| d.status == DeliveryStatus::Skipped);
    Ok(Produced {
        progress: progress
            .map(|p| (org.clone(), event.id, p))
            .into_iter()
            .collect(),
        skipped,
        queued: queued
            .into_iter()
            .map(|delivery| DeliveryMessage {
                delivery,
                slot: None,
            })
            .collect(),
        released: Vec::new(),
        next: next
            .map(|position| FanoutMessage::Event {
                organization: org.clone(),
                event: event.id,
                position: Some(position),
                round: job.round,
            })
            .into_iter()
            .collect(),
    })
}

/// One delivery per recipient of an email or SMS notification, `skipped` where preferences or
/// the delivery mode say so.
async fn people_deliveries(
    fanout: &Fanout<'_>,
    event: &Event,
    settings: &Settings,
    notification: &Notification,
    recipients: &[Recipient],
    now: time::OffsetDateTime,
) -> Result<Vec<Delivery>, Error> {
    let template = rules::template(event);
    let ids: Vec<Uuid> = recipients.iter().map(|r| r.id).collect();
    let choices: HashMap<Uuid, bool> = fanout
        .preferences
        .template_preferences(&event.organization, template.id, &ids)
        .await?;
    let whitelist: Option<HashSet<Uuid>> = (settings.delivery_mode() == DeliveryMode::Whitelist)
        .then(|| settings.whitelist().iter().copied().collect());
    Ok(recipients
        .iter()
        .map(|r| {
            // A recipient an SMS cannot reach (no phone) is recorded on the SMS channel, skipped.
            let (channel, missing) = match notification.target {
                Target::Sms => (
                    Channel::Sms {
                        to: r.phone.clone(),
                    },
                    r.phone.is_none().then_some(SkipReason::NoPhone),
                ),
                _ => (
                    Channel::Email {
                        to: r.email.clone(),
                    },
                    None,
                ),
            };
            let key = format!("{}/{}", notification.id, r.id);
            let mut d = rules::delivery(event, settings, &key, Some(r.id), channel, now);
            d.notification = Some(notification.id.clone());
            let disabled = choices
                .get(&r.id)
                .copied()
                .unwrap_or(!template.enabled_by_default);
            let reason = if disabled {
                Some(SkipReason::PreferenceDisabled)
            } else if whitelist.as_ref().is_some_and(|w| !w.contains(&r.id)) {
                Some(SkipReason::NotWhitelisted)
            } else {
                missing
            };
            if let Some(reason) = reason {
                d.status = DeliveryStatus::Skipped;
                d.reason = Some(reason);
            }
            d
        })
        .collect())
}

/// Held deliveries released per round of a resume job.
const RESUME_CHUNK: usize = 500;

/// The resume job: one chunk of the organization's `held` deliveries queued again, then released
/// (back to `queued`); if there may be more, the job goes on in a message of its own (bounded
/// work per message). A delivery the sender claims before its release simply is not released
/// (the claim takes held deliveries); a crash before the release leaves it held, and the job's
/// message, left to come back, queues it again. Nothing is released while the notifier is paused
/// again (the sender holds what it then meets).
pub async fn resume(fanout: &Fanout<'_>, org: &OrgId) -> Result<Produced, Error> {
    let paused = fanout
        .settings
        .get_settings(org)
        .await?
        .is_none_or(|s| s.notifier_paused);
    if paused {
        return Ok(Produced::default());
    }
    let filter = DeliveryFilter {
        status: Some(DeliveryStatus::Held),
        event: None,
    };
    let page = PageRequest {
        limit: RESUME_CHUNK,
        after: None,
    };
    let held = fanout.log.list_deliveries(org, &filter, &page).await?;
    Ok(Produced {
        skipped: Vec::new(),
        queued: held
            .items
            .iter()
            .map(|d| DeliveryMessage {
                delivery: d.clone(),
                slot: None,
            })
            .collect(),
        released: held.items,
        next: held
            .next
            .map(|_| FanoutMessage::Resume {
                organization: org.clone(),
            })
            .into_iter()
            .collect(),
        progress: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::retry_after;

    #[test]
    fn a_failed_jobs_message_comes_back_after_1_2_4_8_16_seconds_then_at_most_a_minute() {
        let waits: Vec<Duration> = (1..=8).map(retry_after).collect();
        let secs = Duration::from_secs;
        assert_eq!(
            waits,
            [
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(32),
                secs(60),
                secs(60)
            ]
        );
        assert_eq!(retry_after(0), secs(1));
    }
}
