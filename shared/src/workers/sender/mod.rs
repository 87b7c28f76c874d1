//! The sender: takes delivery messages from the queue and delivers each exactly once in
//! effect, whatever the queue repeats.
//!
//! For a batch of messages: claim the deliveries (new or `queued` → `sending` with a lease, one
//! conditional write each that records it; a delivery already settled, or leased by another
//! sender, is not sent), render and send them concurrently, settle them (only the lease holder
//! may): two writes per delivery, made for the whole batch at once (on SQLite, one transaction
//! each). What the deliveries of a batch share (settings, event, notification) is read once per
//! batch. Then each message is acknowledged, or delayed for a retry (the next step of the
//! deployment's [`RetrySchedule`](crate::model::retry::RetrySchedule) with full jitter, or the
//! target's `Retry-After`), or left to come back.
//!
//! What "exactly once" can mean with an external target: a sender that dies after sending and
//! before settling leaves a `sending` delivery whose lease runs out; the message comes back and the
//! delivery is sent again with the **same** `webhook-id`, which Standard Webhooks receivers use to
//! drop the repeat. Nothing is ever lost: a message is acknowledged only once its delivery is
//! settled.

mod outcomes;
pub mod pacing;
mod reads;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::adapters::Transports;
use crate::app::AppState;
use crate::domain::operational::Occurrence;
use crate::model::{Attempt, Channel, Claim, Delivery, Outcome, Settings, Target};
use crate::model::{AttemptOutcome, DeliveryStatus};
use crate::model::{EventType, NotificationId, OrgId};
use crate::ports::queue::{DeliveryMessage, Disposition, Received};
use crate::ports::store::Settlement;
use crate::ports::transport::{Outgoing, SendError, Sent, Transport};
use crate::telemetry::{DeliveryTally, Settled};
use crate::templates::{self, TemplateKey};
use pacing::Pace;
use reads::BatchReads;
pub(crate) use reads::Memo;

/// How long a claim holds: well over the 15 s HTTP timeout.
pub const LEASE: Duration = Duration::from_secs(60);
/// Records of one batch handled at once.
const CONCURRENCY: usize = 32;

/// Handles a batch of delivery messages: each message's receipt and what becomes of it (see
/// [`crate::ports::queue::apply`]). The batch's deliveries are claimed together, sent concurrently and
/// settled together: on SQLite two transactions for the whole batch, on DynamoDB two
/// conditional writes per delivery, made at once.
pub async fn process_batch(
    state: &AppState,
    transports: &Transports,
    batch: Vec<Received<DeliveryMessage>>,
) -> Vec<(String, Disposition)> {
    let reads = BatchReads::default();
    let now = state.clock.now();
    let lease = now + LEASE;
    let mut answers: Vec<(String, Disposition)> = Vec::with_capacity(batch.len());
    // The organization's settings (read once per batch); one that is gone takes with it
    // everything it would have delivered.
    let mut live = Vec::with_capacity(batch.len());
    for received in batch {
        let org = received.message.delivery.organization.clone();
        match reads.settings(state, &org).await {
            Ok(Some(settings)) => live.push((received, settings)),
            Ok(None) => answers.push((received.receipt, Disposition::Ack)),
            Err(e) => answers.push(left(&received, &e)),
        }
    }
    // Pacing: the deliveries of a rate-limited or throttled target wait for their slot.
    let messages: Vec<&DeliveryMessage> = live.iter().map(|(r, _)| &r.message).collect();
    let paces = pacing::pace_batch(state, &reads, &messages).await;
    let mut paced = Vec::with_capacity(paces.len());
    let mut later = Vec::new();
    for ((received, settings), pace) in live.into_iter().zip(paces) {
        match pace {
            Ok(Pace::Send(slot)) => paced.push((received, settings, slot)),
            Ok(Pace::Later(message, wait)) => later.push((received.receipt, (*message, wait))),
            Err(e) => answers.push(left(&received, &e)),
        }
    }
    if !later.is_empty() {
        let (receipts, messages): (Vec<String>, Vec<_>) = later.into_iter().unzip();
        // Put back holding their slots; the received copies are done with.
        let disposition = match state.queue.send_delayed(&messages).await {
            Ok(()) => Disposition::Ack,
            Err(e) => {
                tracing::warn!(error = %e, "could not put paced deliveries back; their messages come back");
                Disposition::Leave
            }
        };
        answers.extend(receipts.into_iter().map(|r| (r, disposition)));
    }
    let queued: Vec<Delivery> = paced
        .iter()
        .map(|(r, _, _)| r.message.delivery.clone())
        .collect();
    let claims = state.store.claim_deliveries(&queued, now, lease).await;
    let mut claimed = Vec::with_capacity(paced.len());
    for ((received, settings, slot), claim) in paced.into_iter().zip(claims) {
        match claim {
            Ok(Claim::Claimed(delivery)) => claimed.push((received, settings, delivery, slot)),
            // Another sender holds it: its message comes back after the visibility timeout.
            Ok(Claim::Busy) => answers.push((received.receipt, Disposition::Leave)),
            // Already settled: this message is a repeat. A repeat of a failed one tells the
            // operational webhook again (the same operational delivery: posted once), in case the
            // first telling could not be queued.
            Ok(Claim::Settled(DeliveryStatus::Failed)) => {
                match outcomes::raise_failed(state, &reads, &received.message.delivery, None).await
                {
                    Ok(()) => answers.push((received.receipt, Disposition::Ack)),
                    Err(e) => answers.push(left(&received, &e)),
                }
            }
            Ok(Claim::Settled(_)) => answers.push((received.receipt, Disposition::Ack)),
            Err(e) => answers.push(left(&received, &e)),
        }
    }
    let reads = &reads;
    let decided: Vec<Decided> = stream::iter(claimed)
        .map(|(received, settings, delivery, slot)| async move {
            let (outcome, then, made) =
                attempt(state, transports, reads, &delivery, &settings, now, slot).await;
            (received, delivery, outcome, then, made)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let settlements: Vec<Settlement> = decided
        .iter()
        .map(|(_, delivery, outcome, _, made)| Settlement {
            delivery: (**delivery).clone(),
            lease_until: lease,
            outcome: outcome.clone(),
            attempt: made.clone(),
        })
        .collect();
    let settled = state
        .store
        .settle_deliveries(&settlements, state.clock.now())
        .await;
    let settled_at = state.clock.now();
    let mut tally = DeliveryTally::default();
    // Per webhook or Slack notification: failed deliveries, and whether one was sent.
    let mut streaks: HashMap<(OrgId, NotificationId), (u32, bool)> = HashMap::new();
    for ((received, delivery, outcome, then, _), settled) in decided.into_iter().zip(settled) {
        let disposition = match settled {
            // Its lease ended meanwhile and another sender took it: that one settles it.
            Ok(false) => Disposition::Leave,
            Ok(true) => {
                count(&mut tally, &delivery, &outcome, settled_at);
                if let Some(notification) = delivery.through() {
                    let key = (delivery.organization.clone(), notification.clone());
                    match &outcome {
                        Outcome::Failed(_) => streaks.entry(key).or_default().0 += 1,
                        // Only a notification with a failure streak (as the batch read it) has
                        // one to end: a sent delivery costs nothing more otherwise.
                        Outcome::Sent
                            if reads
                                .notification(state, &delivery.organization, notification)
                                .await
                                .is_ok_and(|n| n.is_some_and(|n| n.failing.is_some())) =>
                        {
                            streaks.entry(key).or_default().1 = true;
                        }
                        _ => {}
                    }
                }
                // Told to the operational webhook before the message goes: if that cannot be
                // queued, the message comes back and its repeat tells it (see the claim above).
                if let Outcome::Failed(error) = &outcome
                    && let Err(e) =
                        outcomes::raise_failed(state, reads, &delivery, Some(error)).await
                {
                    answers.push(left(&received, &e));
                    continue;
                }
                match then {
                    Then::Ack => Disposition::Ack,
                    Then::Delay(wait) => Disposition::Delay(wait),
                    // The dead-letter queue keeps the message of a delivery that failed every attempt.
                    Then::DeadLetter => Disposition::Leave,
                    Then::ReleaseIfResumed => match release_if_resumed(state, &delivery).await {
                        Ok(()) => Disposition::Ack,
                        Err(e) => {
                            answers.push(left(&received, &e));
                            continue;
                        }
                    },
                }
            }
            Err(e) => {
                answers.push(left(&received, &e));
                continue;
            }
        };
        answers.push((received.receipt, disposition));
    }
    state.metrics.deliveries(settled_at, &tally);
    outcomes::record_streaks(state, reads, streaks).await;
    answers
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

/// A message left to come back, its failure logged.
fn left(received: &Received<DeliveryMessage>, e: &dyn std::fmt::Display) -> (String, Disposition) {
    tracing::warn!(organization = %received.message.delivery.organization, delivery = %received.message.delivery.id, error = %e, "delivery attempt failed; its message comes back");
    (received.receipt.clone(), Disposition::Leave)
}

/// A claimed delivery's message, the delivery, how its attempt ended, what becomes of the
/// message, and the attempt made (none when it was held).
type Decided = (
    Received<DeliveryMessage>,
    Box<Delivery>,
    Outcome,
    Then,
    Option<Attempt>,
);

/// What becomes of a delivery's message once its settlement is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Ack,
    /// Comes back for another attempt after this long.
    Delay(Duration),
    /// Left for the dead-letter queue: every attempt failed.
    DeadLetter,
    /// Held while the notifier is paused; released here if it was resumed meanwhile.
    ReleaseIfResumed,
}

/// One attempt of a claimed delivery: how it ends, what then becomes of its message, and the
/// attempt for its history (none when it is held: nothing was tried).
async fn attempt(
    state: &AppState,
    transports: &Transports,
    reads: &BatchReads,
    delivery: &Delivery,
    settings: &Settings,
    now: OffsetDateTime,
    slot: Option<pacing::Slot>,
) -> (Outcome, Then, Option<Attempt>) {
    if settings.notifier_paused {
        return (Outcome::Held, Then::ReleaseIfResumed, None);
    }
    let started = std::time::Instant::now();
    let sent = send(state, transports, reads, delivery, settings, now, slot).await;
    let made = Attempt {
        at: now,
        outcome: AttemptOutcome::Sent,
        status_code: None,
        error: None,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        next_attempt_at: None,
    };
    let failed = |error: &str, then| {
        (
            AttemptOutcome::Failed,
            None,
            Outcome::Failed(error.into()),
            then,
        )
    };
    let error = match sent {
        Ok(status) => {
            let made = Attempt {
                status_code: status,
                ..made
            };
            return (Outcome::Sent, Then::Ack, Some(made));
        }
        Err(e) => e,
    };
    let (attempt_outcome, next, outcome, then) = match &error {
        // The next step of the schedule, or after its last one `failed`, the message left to the
        // dead-letter queue.
        SendError::Retry { error, after } => {
            if let (Some(after), Some(429), Some(notification)) = (
                after,
                crate::adapters::http::webhook::answered_status(error),
                delivery.through(),
            ) {
                outcomes::throttle(state, delivery, notification, now, *after).await;
            }
            // `HERALD_RETRY_SCHEDULE`; after its last step the delivery is `failed` and its
            // message goes to the dead-letter queue (whose `maxReceiveCount` is its attempts).
            match state.config.retry_schedule.delay(delivery.attempts, *after) {
                Some(wait) => (
                    AttemptOutcome::Retry,
                    Some(now + wait),
                    Outcome::Retry(error.clone()),
                    Then::Delay(wait),
                ),
                None => failed(
                    &format!("{error} (after {} attempts)", delivery.attempts),
                    Then::DeadLetter,
                ),
            }
        }
        SendError::Fail(error) => failed(error, Then::Ack),
        SendError::Gone(error) => {
            if let Some(notification) = delivery.through() {
                match crate::domain::notifications::disable_gone(
                    state,
                    &delivery.organization,
                    notification,
                    error,
                )
                .await
                {
                    Ok(Some(disabled)) => {
                        let occurrence = Occurrence::notification_disabled(&disabled);
                        outcomes::tell_logged(state, reads, occurrence).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(delivery = %delivery.id, error = %e, "could not disable the notification of a gone target");
                    }
                }
            }
            failed(error, Then::Ack)
        }
        SendError::Skip(reason) => (
            AttemptOutcome::Skipped,
            None,
            Outcome::Skipped(reason.clone()),
            Then::Ack,
        ),
    };
    let (SendError::Retry { error, .. }
    | SendError::Fail(error)
    | SendError::Gone(error)
    | SendError::Skip(error)) = error;
    let made = Attempt {
        outcome: attempt_outcome,
        status_code: crate::adapters::http::webhook::answered_status(&error),
        error: Some(error),
        next_attempt_at: next,
        ..made
    };
    (outcome, then, Some(made))
}

async fn paused(state: &AppState, org: &OrgId) -> Result<bool, crate::domain::Error> {
    Ok(state
        .store
        .get_settings(org)
        .await?
        .is_some_and(|s| s.notifier_paused))
}

/// A delivery just held: if the notifier was resumed meanwhile (the resume job may have run
/// before this delivery was held), it is queued again here (the claim takes a held delivery),
/// so nothing stays held.
async fn release_if_resumed(
    state: &AppState,
    delivery: &Delivery,
) -> Result<(), crate::domain::Error> {
    if !paused(state, &delivery.organization).await? {
        state
            .queue
            .send(&[DeliveryMessage {
                delivery: delivery.clone(),
                slot: None,
            }])
            .await?;
    }
    Ok(())
}

/// Renders and sends one claimed delivery.
async fn send(
    state: &AppState,
    transports: &Transports,
    reads: &BatchReads,
    delivery: &Delivery,
    settings: &Settings,
    now: OffsetDateTime,
    slot: Option<pacing::Slot>,
) -> Sent {
    let unavailable = |e: crate::ports::store::StoreError| SendError::Retry {
        error: format!("store: {e}"),
        after: None,
    };
    if let Channel::Operational { event } = &delivery.channel {
        return outcomes::send_operational(state, transports, reads, delivery, *event, now).await;
    }
    let template = templates::by_id(delivery.template)
        .ok_or_else(|| SendError::Fail("unknown template".into()))?;
    let (kind, data, at) = match (&delivery.event, &delivery.data) {
        (Some(event), _) => {
            let event = reads
                .event(state, &delivery.organization, *event)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| SendError::Fail("the event is gone".into()))?;
            (event.kind.as_str(), event.data.clone(), event.created_at)
        }
        (None, data) => (
            "test",
            data.clone().unwrap_or(Value::Null),
            delivery.created_at,
        ),
    };
    let rendered = template.render(delivery.language, &data);
    let id = delivery.id.to_string();
    // The notification a Slack or webhook message goes out through (what it borrows from).
    let through;
    let outgoing = match &delivery.channel {
        // Sent by `outcomes::send_operational` above, never rendered.
        Channel::Operational { .. } => {
            return Err(SendError::Fail(
                "an operational event has no template".into(),
            ));
        }
        Channel::Webhook { notification } | Channel::Slack { notification } => {
            through = reads
                .notification(state, &delivery.organization, notification)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| SendError::Skip("notification_deleted".into()))?;
            if !through.enabled {
                return Err(SendError::Skip("notification_disabled".into()));
            }
            match &through.target {
                Target::Webhook(target) => {
                    // Names are checked by the client's resolver as it connects.
                    crate::model::net::check_webhook_url_shape(
                        &target.url,
                        state.config.allow_private_targets,
                    )
                    .map_err(|e| SendError::Fail(format!("url: {e}")))?;
                    let body = json!({
                        "type": kind,
                        "timestamp": crate::model::timestamp::format(at),
                        "data": data,
                        "title": rendered.title,
                        "body": rendered.body,
                        "organization": delivery.organization,
                        "notification": notification,
                    });
                    Outgoing::Webhook {
                        url: &target.url,
                        secrets: target.signing_secrets(now),
                        id: &id,
                        timestamp: now.unix_timestamp(),
                        body: serde_json::to_vec(&body)
                            .map_err(|e| SendError::Fail(format!("body: {e}")))?,
                    }
                }
                Target::Slack(target) => Outgoing::Slack {
                    target,
                    message: rendered.slack(),
                },
                Target::Email | Target::Sms => {
                    return Err(SendError::Fail(
                        "the notification is not a slack or webhook target".into(),
                    ));
                }
            }
        }
        Channel::Email { to } => Outgoing::Email {
            delivery: delivery.id,
            to: to.as_str(),
            content: rendered.email(),
            at: now,
        },
        Channel::Sms { to } => {
            // One unit of the user's daily quota first; a spent quota skips the SMS.
            if let Some(user) = delivery.user {
                let day = crate::workers::quota::today(now);
                let taken = state
                    .store
                    .take_sms(
                        &delivery.organization,
                        user,
                        day,
                        settings.sms_daily_quota(),
                    )
                    .await
                    .map_err(unavailable)?;
                if !taken {
                    let quota = settings.sms_daily_quota();
                    let occurrence =
                        Occurrence::sms_quota_exhausted(&delivery.organization, user, day, quota);
                    outcomes::tell_logged(state, reads, occurrence).await;
                    return Err(SendError::Skip("quota_exceeded".into()));
                }
            }
            Outgoing::Sms {
                delivery: delivery.id,
                to: to.as_str(),
                text: rendered.sms(),
                at: now,
            }
        }
    };
    pacing::until_slot(state, delivery, slot).await?;
    transports.send(outgoing).await
}

/// The system template of an event type.
pub fn event_template(kind: EventType) -> &'static templates::SystemTemplate {
    templates::get(TemplateKey::Event(kind))
}
