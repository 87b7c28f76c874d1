//! What a batch's decisions change beyond the deliveries themselves, carried out once the batch
//! is recorded: each webhook or Slack notification's failure streak (one write per notification
//! and batch, only when it changes: a streak that grows, or one that a sent delivery ends), the
//! notifications whose target is gone disabled, throttled targets held back, and the events told
//! to the organization's operational webhook.
//!
//! `delivery.failed` is not told here: it is raised with the delivery's own ending
//! ([`crate::ports::inbox::Ending::raises`]), so that a failure whose telling could not be queued
//! comes back and is told then.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::Sender;
use super::decide::Effect;
use super::reads::BatchReads;
use crate::domain::notifications::{self, Recorded};
use crate::domain::operational::{self, Occurrence};
use crate::model::{Delivery, NotificationId, OperationalEvent, OrgId};

/// The operational deliveries that tell `occurrences` of `org` (its webhook read once per
/// batch), as of `now`. A webhook that cannot be read is an error: the caller leaves what raised
/// them to come back.
pub(super) async fn raises(
    sender: &Sender<'_>,
    reads: &BatchReads,
    org: &OrgId,
    occurrences: Vec<Occurrence>,
    now: OffsetDateTime,
) -> Result<Vec<Delivery>, crate::ports::store::StoreError> {
    if occurrences.is_empty() {
        return Ok(Vec::new());
    }
    let hook = reads.operational(sender, org).await?;
    Ok(occurrences
        .into_iter()
        .filter_map(|o| operational::delivery_for(hook.as_deref(), o, now))
        .collect())
}

/// Whether an effect is told with the delivery's ending rather than after the batch.
pub(super) fn told_with_ending(effect: &Effect) -> bool {
    matches!(effect, Effect::Tell(o) if o.event == OperationalEvent::DeliveryFailed)
}

/// Carries out the effects of a batch's recorded decisions (`delivery.failed` excepted: see the
/// module doc). Each failure is logged: these causes are recorded already, and no message brings
/// them back.
pub(super) async fn carry_out(
    sender: &Sender<'_>,
    reads: &BatchReads,
    effects: Vec<(OrgId, Effect)>,
) {
    let now = sender.clock.now();
    // Per notification: failed deliveries, and whether one was sent.
    let mut streaks: HashMap<(OrgId, NotificationId), (u32, bool)> = HashMap::new();
    let mut disable: HashMap<(OrgId, NotificationId), String> = HashMap::new();
    let mut throttle: HashMap<(OrgId, NotificationId), OffsetDateTime> = HashMap::new();
    let mut tell = Vec::new();
    for (org, effect) in effects {
        match effect {
            Effect::StreakGrows(id) => streaks.entry((org, id)).or_default().0 += 1,
            // Only a notification with a failure streak (as the batch read it) has one to end:
            // a sent delivery costs nothing more otherwise.
            Effect::StreakEnds(id) => {
                let failing = reads
                    .notification(sender, &org, &id)
                    .await
                    .is_ok_and(|n| n.is_some_and(|n| n.failing.is_some()));
                if failing {
                    streaks.entry((org, id)).or_default().1 = true;
                }
            }
            Effect::Disable(id, why) => {
                disable.entry((org, id)).or_insert(why);
            }
            Effect::Throttle(id, until) => {
                let held = throttle.entry((org, id)).or_insert(until);
                *held = (*held).max(until);
            }
            Effect::Tell(occurrence) => tell.push(occurrence),
        }
    }
    for ((org, id), why) in disable {
        match notifications::disable_gone(sender.notifications, now, &org, &id, &why).await {
            Ok(Some(disabled)) => tell.push(Occurrence::notification_disabled(&disabled)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(organization = %org, notification = %id, error = %e, "could not disable the notification of a gone target");
            }
        }
    }
    for ((org, id), until) in throttle {
        if let Err(e) = notifications::throttle(sender.notifications, now, &org, &id, until).await {
            tracing::warn!(organization = %org, notification = %id, error = %e, "could not hold back a throttling target");
        }
    }
    for ((org, id), (failed, sent)) in streaks {
        let disable_after = sender.rules.disable_after;
        match notifications::record_outcomes(
            sender.notifications,
            now,
            disable_after,
            &org,
            &id,
            failed,
            sent,
        )
        .await
        {
            Ok(Some(Recorded::Disabled(disabled))) => {
                tracing::warn!(
                    organization = %org,
                    notification = %id,
                    reason = disabled.disabled_reason.as_deref().unwrap_or_default(),
                    "notification disabled: its deliveries kept failing"
                );
                tell.push(Occurrence::notification_disabled(&disabled));
            }
            Ok(Some(Recorded::Recovered(streak))) => {
                tell.push(Occurrence::delivery_recovered(&org, &id, &streak));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(organization = %org, notification = %id, error = %e, "could not record the notification's delivery outcomes")
            }
        }
    }
    for occurrence in tell {
        let (org, event) = (occurrence.organization.clone(), occurrence.event);
        let told = match reads.operational(sender, &org).await {
            Ok(hook) => sender
                .telling()
                .raise_to(hook.as_deref(), occurrence, now)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = told {
            tracing::warn!(organization = %org, event = %event, error = %e, "could not queue an operational event");
        }
    }
}
