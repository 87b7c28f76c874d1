//! Fan-out (SPEC §7): turns one emitted event into its deliveries, one bounded chunk per fan-out
//! message, so that an event with 100,000 recipients never comes near a Lambda time limit.
//!
//! The first message of an event makes one delivery per Slack or webhook notification subscribed
//! to its type, plus the first page of recipients of the first subscribed email or SMS
//! notification; each later message does one more page ([`CHUNK`] recipients), and queues the next
//! before it is acknowledged. Recipients filtered out by their preferences (§4) or the delivery
//! mode (§5) are recorded as `skipped` with the reason, and not queued.
//!
//! A chunk writes only the deliveries it skips; the others go on the queue whole, and are first
//! recorded by the sender's claim (two writes per delivery in all: the claim and the settlement).
//! Repeats are harmless: delivery ids are UUIDv5s of (event, notification, recipient), so a
//! repeated chunk queues the same deliveries again, and the claim drops any already made.

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, stream};
use uuid::Uuid;

use crate::api::AppState;
use crate::error::ApiError;
use crate::model::{DeliveryMode, DeliveryStatus, OrgId};
use crate::queue::{DeliveryMessage, Disposition, FanoutMessage, FanoutPosition, Received};
use crate::store::{
    Channel, Delivery, DeliveryFilter, Event, Notification, PageRequest, Recipient, Settings,
    Target,
};
use crate::templates::SystemTemplate;

/// Recipients per fan-out message.
pub const CHUNK: usize = 500;

/// Handles a batch of fan-out messages: each message's receipt and what becomes of it (see
/// [`crate::queue::apply`]).
pub async fn process_batch(
    state: &AppState,
    batch: Vec<Received<FanoutMessage>>,
) -> Vec<(String, Disposition)> {
    stream::iter(batch)
        .map(|received| async move {
            let done = match &received.message {
                FanoutMessage::Event {
                    organization,
                    event,
                    position,
                } => fan_out(state, organization, *event, position.as_ref()).await,
                FanoutMessage::Resume { organization } => resume(state, organization).await,
            };
            let disposition = match done {
                Ok(()) => Disposition::Ack,
                Err(e) => {
                    tracing::warn!(job = ?received.message, error = %e, "fan-out job failed; its message comes back");
                    Disposition::Leave
                }
            };
            (received.receipt, disposition)
        })
        .buffer_unordered(4)
        .collect()
        .await
}

/// Does one chunk of an event's fan-out, and queues the next chunk's message if there is one.
pub async fn fan_out(
    state: &AppState,
    org: &OrgId,
    event: Uuid,
    position: Option<&FanoutPosition>,
) -> Result<(), ApiError> {
    let Some(event) = state.store.get_event(org, event).await? else {
        // Removed after its fan-out could not be queued: it never happened.
        return Ok(());
    };
    let Some(settings) = state.store.get_settings(org).await? else {
        return Ok(()); // the organization is gone
    };
    let notifications = subscribed(state, &event).await?;
    let template = crate::deliver::event_template(event.kind);
    let now = state.clock.now();
    let mut deliveries = Vec::new();
    let people: Vec<&Notification> = notifications
        .iter()
        .filter(|n| matches!(n.target, Target::Email | Target::Sms))
        .collect();
    let (current, after, chunk) = match position {
        None => {
            for n in notifications
                .iter()
                .filter(|n| matches!(n.target, Target::Slack(_) | Target::Webhook(_)))
            {
                let channel = match n.target {
                    Target::Slack(_) => Channel::Slack {
                        notification: n.id.clone(),
                    },
                    _ => Channel::Webhook {
                        notification: n.id.clone(),
                    },
                };
                deliveries.push(delivery(
                    &event,
                    template,
                    &settings,
                    &n.id.to_string(),
                    None,
                    channel,
                    now,
                ));
            }
            (people.first().map(|n| n.id.clone()), None, 0)
        }
        Some(p) => (Some(p.notification.clone()), p.after.clone(), p.chunk),
    };
    let mut next = None;
    if let Some(current) = current
        && let Some(n) = people.iter().find(|n| n.id == current)
    {
        {
            let page = state
                .store
                .list_recipients(
                    org,
                    &n.id,
                    &PageRequest {
                        limit: CHUNK,
                        after,
                    },
                )
                .await?;
            deliveries.extend(
                people_deliveries(state, &event, template, &settings, n, &page.items, now).await?,
            );
            next = match page.next {
                Some(after) => Some(FanoutPosition {
                    notification: n.id.clone(),
                    after: Some(after),
                    chunk: chunk + 1,
                }),
                None => people
                    .iter()
                    .skip_while(|p| p.id != n.id)
                    .nth(1)
                    .map(|p| FanoutPosition {
                        notification: p.id.clone(),
                        after: None,
                        chunk: chunk + 1,
                    }),
            };
        }
    }
    record_and_queue(state, deliveries).await?;
    if let Some(position) = next {
        state
            .fanout
            .send(&[FanoutMessage::Event {
                organization: org.clone(),
                event: event.id,
                position: Some(position),
            }])
            .await?;
    }
    Ok(())
}

/// The organization's enabled notifications subscribed to the event's type, in id order.
async fn subscribed(state: &AppState, event: &Event) -> Result<Vec<Notification>, ApiError> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        limit: 100,
        after: None,
    };
    loop {
        let got = state
            .store
            .list_notifications(&event.organization, &page)
            .await?;
        out.extend(
            got.items
                .into_iter()
                .filter(|n| n.enabled && n.events.contains(event.kind)),
        );
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(out),
        }
    }
}

fn delivery(
    event: &Event,
    template: &SystemTemplate,
    settings: &Settings,
    target_key: &str,
    user: Option<Uuid>,
    channel: Channel,
    now: time::OffsetDateTime,
) -> Delivery {
    Delivery {
        id: Uuid::new_v5(&event.id, target_key.as_bytes()),
        organization: event.organization.clone(),
        event: Some(event.id),
        template: template.id,
        user,
        channel,
        language: settings.default_language(),
        data: None,
        status: DeliveryStatus::Queued,
        attempts: 0,
        last_error: None,
        reason: None,
        lease_until: None,
        // The event's time: the delivery log lists deliveries in the order of their events.
        created_at: event.created_at,
        updated_at: now,
    }
}

/// One delivery per recipient of an email or SMS notification, `skipped` where preferences or
/// the delivery mode say so.
async fn people_deliveries(
    state: &AppState,
    event: &Event,
    template: &SystemTemplate,
    settings: &Settings,
    notification: &Notification,
    recipients: &[Recipient],
    now: time::OffsetDateTime,
) -> Result<Vec<Delivery>, ApiError> {
    let ids: Vec<Uuid> = recipients.iter().map(|r| r.id).collect();
    let choices: HashMap<Uuid, bool> = state
        .store
        .template_preferences(&event.organization, template.id, &ids)
        .await?;
    let whitelist: Option<HashSet<Uuid>> = (settings.delivery_mode() == DeliveryMode::Whitelist)
        .then(|| settings.whitelist().iter().copied().collect());
    Ok(recipients
        .iter()
        .map(|r| {
            let (channel, missing) = match notification.target {
                Target::Sms => match &r.phone {
                    Some(phone) => (Channel::Sms { to: phone.clone() }, None),
                    None => (
                        Channel::Email {
                            to: r.email.clone(),
                        },
                        Some("no_phone"),
                    ),
                },
                _ => (
                    Channel::Email {
                        to: r.email.clone(),
                    },
                    None,
                ),
            };
            let key = format!("{}/{}", notification.id, r.id);
            let mut d = delivery(event, template, settings, &key, Some(r.id), channel, now);
            let disabled = choices
                .get(&r.id)
                .copied()
                .unwrap_or(!template.enabled_by_default);
            let reason = if disabled {
                Some("preference_disabled")
            } else if whitelist.as_ref().is_some_and(|w| !w.contains(&r.id)) {
                Some("not_whitelisted")
            } else {
                missing
            };
            if let Some(reason) = reason {
                d.status = DeliveryStatus::Skipped;
                d.reason = Some(reason.to_owned());
            }
            d
        })
        .collect())
}

/// Records the skipped deliveries, then queues the others: a queued delivery's message is its
/// only record until the sender claims it (and the claim drops a repeat of one already made).
async fn record_and_queue(state: &AppState, deliveries: Vec<Delivery>) -> Result<(), ApiError> {
    let (skipped, queued): (Vec<Delivery>, Vec<Delivery>) = deliveries
        .into_iter()
        .partition(|d| d.status == DeliveryStatus::Skipped);
    state.store.put_deliveries(&skipped).await?;
    let messages: Vec<DeliveryMessage> = queued
        .into_iter()
        .map(|delivery| DeliveryMessage { delivery })
        .collect();
    state.queue.send(&messages).await?;
    Ok(())
}

/// Held deliveries released per round of a resume job.
const RESUME_CHUNK: usize = 500;

/// The resume job: one chunk of the organization's `held` deliveries back to `queued` and on the
/// queue; if there may be more, it queues itself again (bounded work per message). Nothing is
/// released while the notifier is paused again (the sender holds what it then meets).
pub async fn resume(state: &AppState, org: &OrgId) -> Result<(), ApiError> {
    let paused = state
        .store
        .get_settings(org)
        .await?
        .is_none_or(|s| s.notifier_paused);
    if paused {
        return Ok(());
    }
    let filter = DeliveryFilter {
        status: Some(DeliveryStatus::Held),
        event: None,
    };
    let page = PageRequest {
        limit: RESUME_CHUNK,
        after: None,
    };
    let held = state.store.list_deliveries(org, &filter, &page).await?;
    let mut released = Vec::new();
    for d in held.items {
        if state.store.release_held(&d).await? {
            released.push(DeliveryMessage { delivery: d });
        }
    }
    state.queue.send(&released).await?;
    if held.next.is_some() {
        state
            .fanout
            .send(&[FanoutMessage::Resume {
                organization: org.clone(),
            }])
            .await?;
    }
    Ok(())
}
