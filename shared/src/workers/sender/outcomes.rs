//! What a batch's outcomes change beyond the deliveries themselves: a notification's failure
//! streak (disabling it, or its recovery), a throttling target held back, and the events the
//! organization's operational webhook is told.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::reads::BatchReads;
use crate::adapters::Transports;
use crate::app::AppState;
use crate::domain::notifications::Recorded;
use crate::domain::operational::{self, Occurrence};
use crate::model::Delivery;
use crate::model::{NotificationId, OrgId};
use crate::ports::transport::{Outgoing, SendError, Sent, Transport};

/// Records each webhook or Slack notification's failed deliveries of the batch, and whether one
/// was sent; tells the operational webhook of a disabling or a recovery.
pub(super) async fn record_streaks(
    state: &AppState,
    reads: &BatchReads,
    streaks: HashMap<(OrgId, NotificationId), (u32, bool)>,
) {
    for ((org, notification), (failed, sent)) in streaks {
        match crate::domain::notifications::record_outcomes(
            state,
            &org,
            &notification,
            failed,
            sent,
        )
        .await
        {
            Ok(Some(Recorded::Disabled(disabled))) => {
                tracing::warn!(
                    organization = %org,
                    notification = %notification,
                    reason = disabled.disabled_reason.as_deref().unwrap_or_default(),
                    "notification disabled: its deliveries kept failing"
                );
                tell_logged(state, reads, Occurrence::notification_disabled(&disabled)).await;
            }
            Ok(Some(Recorded::Recovered(streak))) => {
                let occurrence = Occurrence::delivery_recovered(&org, &notification, &streak);
                tell_logged(state, reads, occurrence).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(organization = %org, notification = %notification, error = %e, "could not record the notification's delivery outcomes")
            }
        }
    }
}

/// Queues `delivery.failed` of `delivery` for its organization's operational webhook, when it
/// takes it (the webhook read once per batch).
pub(super) async fn raise_failed(
    state: &AppState,
    reads: &BatchReads,
    delivery: &Delivery,
    error: Option<&str>,
) -> Result<(), crate::domain::Error> {
    match Occurrence::delivery_failed(delivery, error) {
        Some(occurrence) => tell(state, reads, occurrence).await,
        None => Ok(()),
    }
}

/// Queues `occurrence` for its organization's operational webhook, when that takes it (the
/// webhook read once per batch).
async fn tell(
    state: &AppState,
    reads: &BatchReads,
    occurrence: Occurrence,
) -> Result<(), crate::domain::Error> {
    let hook = reads.operational(state, &occurrence.organization).await?;
    operational::raise_to(state, hook.as_deref(), occurrence).await
}

/// [`tell`], logging a failure instead of answering it: for causes already recorded that no
/// message brings back (a disabling, a recovery, a spent SMS quota).
pub(super) async fn tell_logged(state: &AppState, reads: &BatchReads, occurrence: Occurrence) {
    let (org, event) = (occurrence.organization.clone(), occurrence.event);
    if let Err(e) = tell(state, reads, occurrence).await {
        tracing::warn!(organization = %org, event = %event, error = %e, "could not queue an operational event");
    }
}

/// A target that answered 429 with `Retry-After`: its other deliveries wait that long too
/// (capped by the schedule's longest step, as the retry is).
pub(super) async fn throttle(
    state: &AppState,
    delivery: &Delivery,
    notification: &NotificationId,
    now: OffsetDateTime,
    after: Duration,
) {
    if !state.config.rate_limits || after.is_zero() {
        return;
    }
    let until = now + after.min(state.config.retry_schedule.longest());
    if let Err(e) =
        crate::domain::notifications::throttle(state, &delivery.organization, notification, until)
            .await
    {
        tracing::warn!(delivery = %delivery.id, error = %e, "could not hold back a throttling target");
    }
}

/// Posts an operational event to the organization's operational webhook, signed with its secret.
/// One removed meanwhile, or no longer taking the event, skips it.
pub(super) async fn send_operational(
    state: &AppState,
    transports: &Transports,
    reads: &BatchReads,
    delivery: &Delivery,
    event: crate::model::OperationalEvent,
    now: OffsetDateTime,
) -> Sent {
    let hook = reads
        .operational(state, &delivery.organization)
        .await
        .map_err(|e| SendError::Retry {
            error: format!("store: {e}"),
            after: None,
        })?
        .filter(|h| h.events.contains(&event))
        .ok_or_else(|| SendError::Skip("operational_webhook_removed".into()))?;
    crate::model::net::check_webhook_url_shape(&hook.url, state.config.allow_private_targets)
        .map_err(|e| SendError::Fail(format!("url: {e}")))?;
    let posted = delivery.data.clone().unwrap_or_default();
    let body = json!({
        "type": event,
        "timestamp": posted["timestamp"],
        "organization": delivery.organization,
        "data": posted["data"],
    });
    let id = delivery.id.to_string();
    transports
        .send(Outgoing::Webhook {
            url: &hook.url,
            secrets: vec![hook.secret.as_str()],
            id: &id,
            timestamp: now.unix_timestamp(),
            body: serde_json::to_vec(&body).map_err(|e| SendError::Fail(format!("body: {e}")))?,
        })
        .await
}
