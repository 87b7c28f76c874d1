//! Pacing: a webhook or Slack target with a `rateLimit` gets its deliveries one send slot
//! apart, across every sender; one that answered 429 with a `Retry-After` gets none until then.
//!
//! **Decision: a shared budget in the store, not message delays alone.** Each delivery reserves
//! its slot with one atomic write ([`crate::store::NotificationStore::reserve_send_slot`]: a
//! conditional UpdateItem on DynamoDB, two when the target is busy), so concurrent Lambda
//! instances share one clock per target and none can overshoot it; delaying messages alone
//! cannot know what other instances send. A target without a `rateLimit` costs nothing: the
//! sender reads its notification anyway.
//!
//! A delivery whose slot is near ([`SLEEP_MAX`]) is sent at it: the sender sleeps until then.
//! One further away goes back on the queue holding its slot, delayed to come back just before
//! it: no attempt is counted and no receive spent (a delay by visibility would spend one of the
//! retry schedule's receives), and the slot is not reserved twice. Slots start [`LEAD`] after
//! the message is taken, so the claim and the reads are done before the slot comes: its slot,
//! not the store's latency, sets when a delivery goes out.

use std::time::Duration;

use time::OffsetDateTime;

use super::reads::BatchReads;
use crate::app::AppState;
use crate::queue::DeliveryMessage;
use crate::store::StoreResult;

/// How far ahead of its slot a delivery is taken at the soonest.
pub const LEAD: Duration = Duration::from_millis(250);
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
    /// Later: the message goes back on the queue, to come back after this long.
    Later(Box<DeliveryMessage>, Duration),
}

/// When the delivery of `message` may go.
pub(super) async fn pace(
    state: &AppState,
    reads: &BatchReads,
    message: &DeliveryMessage,
) -> StoreResult<Pace> {
    let delivery = &message.delivery;
    let Some(id) = delivery.through().filter(|_| state.config.rate_limits) else {
        return Ok(Pace::Send(None));
    };
    let org = &delivery.organization;
    let Some(notification) = reads.notification(state, org, id).await? else {
        return Ok(Pace::Send(None));
    };
    let now = state.clock.now();
    if let Some(until) = notification.throttled_until.filter(|t| *t > now) {
        // Back when the target said, never before (whole seconds, rounded up, as SQS delays
        // come); a slot is reserved then.
        let back = DeliveryMessage {
            delivery: delivery.clone(),
            slot: None,
        };
        let wait = unsigned(until - now).as_millis().div_ceil(1000);
        let wait = Duration::from_secs(u64::try_from(wait).unwrap_or(u64::MAX));
        return Ok(Pace::Later(Box::new(back), wait));
    }
    let Some(limit) = notification.rate_limit else {
        return Ok(Pace::Send(None));
    };
    let slot = match message.slot {
        Some(slot) if slot >= now => slot,
        // None yet, or one that passed while the message came back: a new one.
        _ => {
            state
                .store
                .reserve_send_slot(org, id, now + LEAD, limit.spacing())
                .await?
        }
    };
    let wait = unsigned(slot - now);
    if wait <= SLEEP_MAX {
        return Ok(Pace::Send(Some(Slot {
            at: slot,
            spacing: limit.spacing(),
        })));
    }
    let back = DeliveryMessage {
        delivery: delivery.clone(),
        slot: Some(slot),
    };
    // Back `LEAD` before the slot (on SQS up to a second more: its delays are whole seconds,
    // rounded down), so that a sender holds it briefly.
    Ok(Pace::Later(Box::new(back), wait - LEAD))
}

/// Sleeps until the delivery's slot. One that comes more than [`TOLERANCE`] late takes a new
/// slot first (a store write); one whose new slot is more than [`LATE_SLEEP_MAX`] away is
/// retried then.
pub(super) async fn until_slot(
    state: &AppState,
    delivery: &crate::store::Delivery,
    slot: Option<Slot>,
) -> Result<(), super::SendError> {
    let (Some(slot), Some(id)) = (slot, delivery.through()) else {
        return Ok(());
    };
    let mut at = slot.at;
    let now = state.clock.now();
    if now > at + TOLERANCE {
        at = state
            .store
            .reserve_send_slot(&delivery.organization, id, now + TOLERANCE, slot.spacing)
            .await
            .map_err(|e| super::SendError::Retry {
                error: format!("store: {e}"),
                after: None,
            })?;
    }
    let wait = unsigned(at - state.clock.now());
    if wait > LATE_SLEEP_MAX {
        return Err(super::SendError::Retry {
            error: "rate limit: no send slot soon enough".into(),
            after: Some(wait),
        });
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
