//! Fanning an event out: the rules shared by the fan-out worker and, where the intake writes an
//! event's deliveries with it, by emitting. An event's deliveries are one per Slack or webhook
//! notification subscribed to its type (its "targets"), then one per recipient of each subscribed
//! email or SMS notification, a page at a time (the worker's jobs). A delivery's id is a UUIDv5
//! of (event, target), so a repeated fan-out names the same deliveries.

use uuid::Uuid;

use super::Error;
use crate::model::{Channel, Delivery, Event, Notification, OrgId, Settings, Target};
use crate::ports::queue::{FanoutMessage, FanoutPosition};
use crate::ports::store::{NotificationStore, PageRequest};
use crate::templates::{self, SystemTemplate, TemplateKey};

/// Every notification of the organization, in id order.
pub async fn notifications(
    store: &dyn NotificationStore,
    org: &OrgId,
) -> Result<Vec<Notification>, Error> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        limit: 100,
        after: None,
    };
    loop {
        let got = store.list_notifications(org, &page).await?;
        out.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Of `all` (the organization's notifications), the enabled ones subscribed to `event`'s type.
pub fn subscribed(all: &[Notification], event: &Event) -> Vec<Notification> {
    all.iter()
        .filter(|n| n.enabled && n.events.contains(event.kind))
        .cloned()
        .collect()
}

/// The system template of `event`'s type.
pub fn template(event: &Event) -> &'static SystemTemplate {
    templates::get(TemplateKey::Event(event.kind))
}

/// The delivery of `event` to the target `target_key` (a notification's id, or a notification's
/// and a recipient's), for `user` when it is a user's, by `channel`, made `now`.
pub fn delivery(
    event: &Event,
    settings: &Settings,
    target_key: &str,
    user: Option<Uuid>,
    channel: Channel,
    now: time::OffsetDateTime,
) -> Delivery {
    Delivery {
        event: Some(event.id),
        user,
        ..Delivery::queued(
            Uuid::new_v5(&event.id, target_key.as_bytes()),
            event.organization.clone(),
            template(event).id,
            channel,
            settings.default_language(),
            // The event's time: the delivery log lists deliveries in the order of their events.
            event.created_at,
            now,
        )
    }
}

/// `event`'s deliveries to the Slack and webhook notifications of `subscribed`.
pub fn target_deliveries(
    event: &Event,
    subscribed: &[Notification],
    settings: &Settings,
    now: time::OffsetDateTime,
) -> Vec<Delivery> {
    subscribed
        .iter()
        .filter_map(|n| {
            let channel = match n.target {
                Target::Slack(_) => Channel::Slack {
                    notification: n.id.clone(),
                },
                Target::Webhook(_) => Channel::Webhook {
                    notification: n.id.clone(),
                },
                Target::Email | Target::Sms => return None,
            };
            Some(delivery(
                event,
                settings,
                &n.id.to_string(),
                None,
                channel,
                now,
            ))
        })
        .collect()
}

/// The email and SMS notifications of `subscribed`, whose recipients the worker fans out to.
pub fn people(subscribed: &[Notification]) -> Vec<&Notification> {
    subscribed
        .iter()
        .filter(|n| matches!(n.target, Target::Email | Target::Sms))
        .collect()
}

/// The job that fans `event` out to its recipients once its targets' `made` deliveries are made:
/// from the first of its email and SMS notifications, if it has any.
pub fn people_job(event: &Event, subscribed: &[Notification], made: u64) -> Option<FanoutMessage> {
    people(subscribed)
        .first()
        .map(|first| FanoutMessage::Event {
            organization: event.organization.clone(),
            event: event.id,
            round: event.fanout_round,
            position: Some(FanoutPosition {
                notification: first.id.clone(),
                after: None,
                chunk: 0,
                made,
            }),
        })
}
