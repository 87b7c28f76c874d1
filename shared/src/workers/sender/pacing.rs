//! Pacing: a webhook or Slack target with a `rateLimit` gets its deliveries one send slot
//! apart, across every sender; one that answered 429 with a `Retry-After` gets none until then.
//!
//! **Decision: a shared budget in the store, not message delays alone.** A batch reserves its
//! deliveries' slots with one atomic write per target
//! ([`crate::ports::store::NotificationStore::reserve_send_slot`]: a conditional UpdateItem on
//! DynamoDB, two when the target is busy), so concurrent Lambda instances share one clock per
//! target and none can overshoot it; delaying messages alone
//! cannot know what other instances send. A target without a `rateLimit` costs nothing: the
//! sender reads its notification anyway.
//!
//! A delivery whose slot is near ([`SLEEP_MAX`]) is sent at it: the sender sleeps until then.
//! One further away goes back on the queue holding its slot, delayed to come back just before
//! it: no attempt is counted and no receive spent (a delay by visibility would spend one of the
//! retry schedule's receives), and the slot is not reserved twice. Slots start a lead (five
//! spacings, at most [`LEAD`]) after the message is taken, so that the claim and the reads are
//! mostly done before the slot comes. What bounds the rate is the slots with their 2.5 %
//! margin (25 ms of a second) and [`TOLERANCE`]: a delivery goes out within 10 ms after its
//! slot or takes a new one, so no one-second window can hold more than `rateLimit`.

use std::collections::HashMap;
use std::time::Duration;

use time::OffsetDateTime;

use super::Sender;
use super::reads::BatchReads;
use crate::model::{NotificationId, OrgId};
use crate::ports::inbox::Taken;
use crate::ports::store::{StoreError, StoreResult};
use crate::ports::transport::SendError;

/// How far ahead of its slot a delivery is taken at the soonest: five slots' spacing, at most
/// this. (A fixed quarter second would cap a high limit's throughput: each batch waits for its
/// last slot.)
pub const LEAD: Duration = Duration::from_millis(250);

/// The lead of a target spaced `spacing` apart: five spacings, at most [`LEAD`].
fn lead(spacing: Duration) -> Duration {
    (spacing * 5).min(LEAD)
}

/// The longest a sender sleeps for a slot; a delivery whose slot is further away waits on the
/// queue. (SQS delays come in whole seconds.)
pub const SLEEP_MAX: Duration = Duration::from_secs(2);
/// How late after its slot a delivery may still go out on it. Later (its claim or reads took
/// longer than [`LEAD`]), it takes a new slot, so that late deliveries cannot bunch up with the
/// ones on time.
pub const TOLERANCE: Duration = Duration::from_millis(10);
/// The longest a claimed delivery that took a new slot sleeps for it; one whose new slot is
/// further away is retried (its attempt counted) rather than hold the sender.
pub const LATE_SLEEP_MAX: Duration = Duration::from_secs(20);

/// A delivery's send slot, and its target's spacing (for a new slot when it comes late).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub at: OffsetDateTime,
    pub spacing: Duration,
}

/// When a delivery may go.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pace {
    /// Now, or at its slot (soon: the sender sleeps until then).
    Send(Option<Slot>),
    /// Later: back on the queue, to come back after this long, holding its slot if it has one.
    Later(Duration, Option<OffsetDateTime>),
}

/// What a message needs before it may go.
enum Need {
    /// Nothing: go now.
    Nothing,
    /// Its target asked for a pause: back then.
    Throttled(Duration),
    /// Its slot, the one it carries or a new one of its target's.
    Slot(Option<OffsetDateTime>, OrgId, NotificationId, Duration),
}

/// When the delivery of each message may go. The batch's new slots are reserved per target in
/// one store write ([`crate::ports::store::NotificationStore::reserve_send_slot`] with a count): a
/// batch of ten deliveries to one target costs one or two writes, not ten or twenty.
pub(super) async fn pace_batch(
    sender: &Sender<'_>,
    reads: &BatchReads,
    messages: &[&Taken],
) -> Vec<StoreResult<Pace>> {
    let now = sender.clock.now();
    // Concurrently, as the sends read them (each notification once per batch).
    let needs: Vec<StoreResult<Need>> = futures_util::future::join_all(
        messages
            .iter()
            .map(|message| need(sender, reads, message, now)),
    )
    .await;
    // New slots, per target: how many each needs, reserved at once.
    let mut wanted: HashMap<(OrgId, NotificationId), (Duration, u32)> = HashMap::new();
    for need in needs.iter().flatten() {
        if let Need::Slot(None, org, id, spacing) = need {
            wanted
                .entry((org.clone(), id.clone()))
                .or_insert((*spacing, 0))
                .1 += 1;
        }
    }
    let mut reserved: HashMap<(OrgId, NotificationId), StoreResult<(OffsetDateTime, u32)>> =
        HashMap::new();
    for ((org, id), (spacing, count)) in wanted {
        let first = sender
            .slots
            .reserve_send_slot(&org, &id, now + lead(spacing), spacing, count)
            .await;
        reserved.insert((org, id), first.map(|at| (at, 0)));
    }
    needs
        .into_iter()
        .map(|need| {
            let (slot, spacing) = match need? {
                Need::Nothing => return Ok(Pace::Send(None)),
                Need::Throttled(wait) => {
                    // Back when the target said; a slot is reserved then.
                    return Ok(Pace::Later(wait, None));
                }
                Need::Slot(Some(slot), _, _, spacing) => (slot, spacing),
                Need::Slot(None, org, id, spacing) => {
                    let next = match reserved.get_mut(&(org, id)) {
                        Some(Ok((first, taken))) => {
                            let slot = *first + spacing * *taken;
                            *taken += 1;
                            slot
                        }
                        Some(Err(e)) => return Err(e.clone()),
                        None => return Err(StoreError::Corrupt("no slot reserved".into())),
                    };
                    (next, spacing)
                }
            };
            let wait = unsigned(slot - now);
            if wait <= SLEEP_MAX {
                return Ok(Pace::Send(Some(Slot { at: slot, spacing })));
            }
            // Back its lead before the slot (on SQS up to a second more: its delays are whole
            // seconds, rounded down), so that a sender holds it briefly.
            Ok(Pace::Later(wait - lead(spacing), Some(slot)))
        })
        .collect()
}

/// What `message` needs before it may go.
async fn need(
    sender: &Sender<'_>,
    reads: &BatchReads,
    message: &Taken,
    now: OffsetDateTime,
) -> StoreResult<Need> {
    let delivery = &message.delivery;
    let Some(id) = delivery.through().filter(|_| sender.rules.rate_limits) else {
        return Ok(Need::Nothing);
    };
    let org = &delivery.organization;
    let Some(notification) = reads.notification(sender, org, id).await? else {
        return Ok(Need::Nothing);
    };
    if let Some(until) = notification.throttled_until.filter(|t| *t > now) {
        // Never before (whole seconds, rounded up, as SQS delays come).
        let wait = unsigned(until - now).as_millis().div_ceil(1000);
        return Ok(Need::Throttled(Duration::from_secs(
            u64::try_from(wait).unwrap_or(u64::MAX),
        )));
    }
    let Some(limit) = notification.rate_limit else {
        return Ok(Need::Nothing);
    };
    // The slot it carries, unless that passed while the message came back.
    let carried = message.slot.filter(|slot| *slot >= now);
    Ok(Need::Slot(
        carried,
        org.clone(),
        id.clone(),
        limit.spacing(),
    ))
}

/// Sleeps until the delivery's slot. One that comes more than [`TOLERANCE`] late takes a new
/// slot first (a store write); one whose new slot is more than [`LATE_SLEEP_MAX`] away is
/// retried then.
pub(super) async fn until_slot(
    sender: &Sender<'_>,
    delivery: &crate::model::Delivery,
    slot: Option<Slot>,
) -> Result<(), SendError> {
    let (Some(slot), Some(id)) = (slot, delivery.through()) else {
        return Ok(());
    };
    let mut at = slot.at;
    let now = sender.clock.now();
    if now > at + TOLERANCE {
        at = sender
            .slots
            .reserve_send_slot(&delivery.organization, id, now + TOLERANCE, slot.spacing, 1)
            .await
            .map_err(|e| SendError::retry(format!("store: {e}")))?;
    }
    let wait = unsigned(at - sender.clock.now());
    if wait > LATE_SLEEP_MAX {
        return Err(SendError::retry("rate limit: no send slot soon enough").after(Some(wait)));
    }
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    Ok(())
}

/// A span as a wait: zero when it is negative.
fn unsigned(span: time::Duration) -> Duration {
    Duration::try_from(span).unwrap_or_default()
}
