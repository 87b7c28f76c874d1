//! An operator's work on the delivery log: resending one delivery, recovering a notification's
//! failed deliveries, and marking the deliveries whose messages reached the dead-letter queue
//! `failed` (so that recover finds them).
//!
//! A delivery goes back on the queue for one more **round**: its record becomes `queued` again
//! (attempts counted afresh, history kept) and its message is sent, as one unit
//! ([`EventIntake::requeue`]). The record's conditional write is the lock: two
//! resends, or two recovers of one window, never queue a delivery twice, and a message of an
//! earlier round never takes it. It keeps its id, so a webhook carries the same `webhook-id`.
//!
//! A recover request queues the first [`REQUEST_PAGES`] pages of [`PAGE`] deliveries itself;
//! if the window holds more, a fan-out job ([`FanoutMessage::Recover`]) goes on from there, a
//! chunk of [`JOB_PAGES`] pages per message, each queueing the next: a million failed deliveries
//! recover in chunks, none near a Lambda time limit.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Error;
use super::operational::{Occurrence, Telling};
use crate::domain::FieldError;
use crate::model::{Burial, Delivery};
use crate::model::{DeliveryStatus, NotificationId, OrgId};
use crate::ports::intake::EventIntake;
use crate::ports::queue::{DeliveryMessage, FanoutMessage, Queue};
use crate::ports::store::{DeliveryLedger, DeliveryLog, NotificationStore, PageRequest};

/// How far back a recover may reach.
pub const RECOVER_LIMIT: Duration = Duration::days(14);
/// Failed deliveries read and queued at once.
pub const PAGE: usize = 500;
/// Pages a recover request queues before a fan-out job goes on.
pub const REQUEST_PAGES: usize = 2;
/// Pages one recover job (fan-out message) queues before it queues the next.
pub const JOB_PAGES: usize = 10;

/// Puts delivery `id` back on the queue: one more delivery of the same content to the same
/// target. `NotFound` for an unknown id; `Conflict` unless it is `failed` or `sent` (or when
/// another resend or recover took it first). Returns it as queued.
pub async fn resend(
    log: &dyn DeliveryLog,
    intake: &dyn EventIntake,
    now: OffsetDateTime,
    org: &OrgId,
    id: Uuid,
) -> Result<Delivery, Error> {
    let delivery = log.find_delivery(org, id).await?.ok_or(Error::NotFound)?;
    let busy = |status: DeliveryStatus| {
        Error::Conflict(vec![FieldError::new(
            "status",
            format!("the delivery is {status}: only failed or sent deliveries are resent"),
        )])
    };
    if !matches!(
        delivery.status,
        DeliveryStatus::Failed | DeliveryStatus::Sent
    ) {
        return Err(busy(delivery.status));
    }
    let queued = intake.requeue(std::slice::from_ref(&delivery), now).await?;
    if queued != [true] {
        return Err(busy(DeliveryStatus::Queued));
    }
    Ok(delivery.requeued(now))
}

/// The deliveries a recover covers: created from `since` to `until`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
}

impl Window {
    /// The window from `since` to `until` (now when absent), as of `now`: neither in the future,
    /// `since` at most [`RECOVER_LIMIT`] back and not after `until`. Every broken rule is named
    /// by its field.
    pub fn new(
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Self, Vec<FieldError>> {
        let mut problems = Vec::new();
        let until_at = until.unwrap_or(now);
        if since > now {
            problems.push(FieldError::new("since", "must not be in the future"));
        } else if since < now - RECOVER_LIMIT {
            problems.push(FieldError::new("since", "must be at most 14 days back"));
        } else if since > until_at {
            problems.push(FieldError::new("since", "must not be after until"));
        }
        if until_at > now {
            problems.push(FieldError::new("until", "must not be in the future"));
        }
        let until = until_at;
        if problems.is_empty() {
            Ok(Self { since, until })
        } else {
            Err(problems)
        }
    }
}

/// What a recover request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// Deliveries the request itself queued.
    pub queued: usize,
    /// Whether the window holds more: a fan-out job queues them.
    pub more: bool,
}

/// What recovering needs: the delivery log (the failed deliveries of a window), the
/// notifications (the one recovered must exist), the intake that queues deliveries again, and
/// the fan-out queue a long recover goes on through.
#[derive(Clone, Copy)]
pub struct Recovery<'a> {
    pub log: &'a dyn DeliveryLog,
    pub notifications: &'a dyn NotificationStore,
    pub intake: &'a dyn EventIntake,
    pub fanout: &'a dyn Queue<FanoutMessage>,
}

impl Recovery<'_> {
    /// Puts every `failed` delivery of `notification` in `window` back on the queue (as of
    /// `now`): the first pages now, the rest through a fan-out job. `NotFound` for an unknown
    /// notification.
    pub async fn recover(
        &self,
        now: OffsetDateTime,
        org: &OrgId,
        notification: &NotificationId,
        window: Window,
    ) -> Result<Recovered, Error> {
        if self
            .notifications
            .get_notification(org, notification)
            .await?
            .is_none()
        {
            return Err(Error::NotFound);
        }
        let (queued, after) = self
            .pages(now, org, notification, window, None, REQUEST_PAGES)
            .await?;
        let more = after.is_some();
        if let Some(after) = after {
            self.fanout
                .send(&[recover_job(org, notification, window, after)])
                .await?;
        }
        Ok(Recovered { queued, more })
    }

    /// One recover job: up to [`JOB_PAGES`] pages from `after`, then the job that goes on, if
    /// the window holds more. Run again after a crash, it finds what it queued no longer failed.
    pub async fn chunk(
        &self,
        now: OffsetDateTime,
        org: &OrgId,
        notification: &NotificationId,
        window: Window,
        after: Option<String>,
    ) -> Result<Option<FanoutMessage>, Error> {
        let (_, after) = self
            .pages(now, org, notification, window, after, JOB_PAGES)
            .await?;
        Ok(after.map(|after| recover_job(org, notification, window, after)))
    }

    /// Queues up to `pages` pages of failed deliveries after `after`: how many it queued, and
    /// where the window goes on (`None` when it is done).
    async fn pages(
        &self,
        now: OffsetDateTime,
        org: &OrgId,
        notification: &NotificationId,
        window: Window,
        mut after: Option<String>,
        pages: usize,
    ) -> Result<(usize, Option<String>), Error> {
        let mut queued = 0;
        for _ in 0..pages {
            let page = self
                .log
                .failed_deliveries(
                    org,
                    notification,
                    window.since,
                    window.until,
                    &PageRequest {
                        limit: PAGE,
                        after: after.clone(),
                    },
                )
                .await?;
            let answers = self.intake.requeue(&page.items, now).await?;
            queued += answers.into_iter().filter(|queued| *queued).count();
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok((queued, None)),
            }
        }
        Ok((queued, after))
    }
}

fn recover_job(
    org: &OrgId,
    notification: &NotificationId,
    window: Window,
    after: String,
) -> FanoutMessage {
    FanoutMessage::Recover {
        organization: org.clone(),
        notification: notification.clone(),
        since: window.since,
        until: window.until,
        after: Some(after),
    }
}

/// What marking dead-lettered deliveries `failed` needs: the ledger that marks them, the log that
/// reads one a sender settled, and the operational webhook that hears of them.
#[derive(Clone, Copy)]
pub struct Burying<'a> {
    pub ledger: &'a dyn DeliveryLedger,
    pub log: &'a dyn DeliveryLog,
    pub telling: Telling<'a>,
}

impl Burying<'_> {
    /// Marks the deliveries of dead-lettered messages `failed` (as of `now`): one answer per
    /// message, `true` when its message may go (marked, or nothing to do), `false` when a
    /// sender holds the delivery now (its message is kept for later). A delivery marked `failed`
    /// here is told to its organization's operational webhook (`delivery.failed`) before its
    /// letter may go; if that cannot be queued, the answer is the error and the letter comes
    /// back, and its next pass finds the delivery failed by this pass and tells it again (the
    /// same operational delivery: posted once).
    pub async fn bury(
        &self,
        now: OffsetDateTime,
        messages: &[DeliveryMessage],
    ) -> Vec<Result<bool, Error>> {
        let deliveries: Vec<Delivery> = messages.iter().map(|m| m.delivery.clone()).collect();
        let burials = self
            .ledger
            .bury_deliveries(&deliveries, DEAD_LETTERED, now)
            .await;
        let mut answers = Vec::with_capacity(burials.len());
        for (delivery, burial) in deliveries.iter().zip(burials) {
            let answer = match burial {
                Ok(Burial::Failed) => self.tell_failed(delivery, now).await.map(|()| true),
                // Settled: by a sender, or by an earlier pass whose telling failed (then told now).
                Ok(Burial::Settled) => {
                    // By its key (the message carries its time): one GetItem.
                    match self
                        .log
                        .get_delivery(&delivery.organization, delivery.created_at, delivery.id)
                        .await
                    {
                        Ok(Some(found))
                            if found.status == DeliveryStatus::Failed
                                && found.last_error.as_deref() == Some(DEAD_LETTERED) =>
                        {
                            self.tell_failed(&found, now).await.map(|()| true)
                        }
                        Ok(_) => Ok(true),
                        Err(e) => Err(e.into()),
                    }
                }
                Ok(Burial::Busy) => Ok(false),
                Err(e) => Err(e.into()),
            };
            answers.push(answer);
        }
        answers
    }

    /// `delivery.failed` of a delivery the dead-letter queue failed, for its organization's
    /// operational webhook.
    async fn tell_failed(&self, delivery: &Delivery, now: OffsetDateTime) -> Result<(), Error> {
        match Occurrence::delivery_failed(delivery, Some(DEAD_LETTERED)) {
            Some(occurrence) => self.telling.raise(occurrence, now).await,
            None => Ok(()),
        }
    }
}

/// The `lastError` of a delivery whose message reached the dead-letter queue unsettled.
pub const DEAD_LETTERED: &str = "its message reached the dead-letter queue: every receive failed";
