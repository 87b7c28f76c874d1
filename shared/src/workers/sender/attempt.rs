//! One attempt of a claimed delivery: render it for its channel, take what it needs first (an
//! SMS takes a unit of the user's daily quota, a paced target waits for its slot), hand it to the
//! transport that serves its channel, and say what happened ([`Answer`]). What that means is
//! [`super::decide`]'s.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Sender;
use super::decide::Answer;
use super::pacing;
use super::reads::BatchReads;
use crate::model::{
    Channel, Delivery, DispatchMethod, OperationalEvent, Sealed, Settings, SkipReason, Target,
};
use crate::ports::keys::KeyError;
use crate::ports::store::StoreError;
use crate::ports::transport::{Outgoing, SendError, SlackCredentials};
use crate::templates;

/// What an attempt that could not go out says: a store that failed is worth another attempt.
fn unavailable(e: StoreError) -> Answer {
    Answer::Refused(SendError::retry(format!("store: {e}")))
}

fn failed(error: impl Into<String>) -> Answer {
    Answer::Refused(SendError::fail(error))
}

/// Takes one unit of the organization's daily `channel` count (`Limits`): a spent count skips
/// the delivery (`organization_quota_exceeded`), told once a day to the operational webhook.
async fn daily(
    sender: &Sender<'_>,
    delivery: &Delivery,
    channel: DispatchMethod,
    now: OffsetDateTime,
) -> Result<(), Answer> {
    let org = &delivery.organization;
    let limits = sender
        .limits
        .of(sender.orgs, org, now)
        .await
        .map_err(|e| Answer::Refused(SendError::retry(format!("limits: {e}"))))?;
    let limit = match channel {
        DispatchMethod::Sms => limits.sms_per_day,
        _ => limits.emails_per_day,
    };
    let day = crate::model::day::today(now);
    let taken = sender
        .counters
        .take_daily(org, channel, day, limit)
        .await
        .map_err(unavailable)?;
    if taken {
        Ok(())
    } else {
        Err(Answer::OrganizationQuotaSpent {
            channel,
            day,
            limit,
        })
    }
}

/// A secret of the target opened for one send. One that cannot be opened (tampered with,
/// truncated, sealed under another key) fails the delivery, its value never logged; a key
/// service out of reach is worth another attempt.
async fn opened(sender: &Sender<'_>, sealed: &Sealed) -> Result<String, Answer> {
    sender.keys.open(sealed).await.map_err(|e| match e {
        KeyError::Unavailable(why) => Answer::Refused(SendError::retry(format!("keys: {why}"))),
        KeyError::Unreadable(why) => {
            tracing::error!(error = %why, "a target's secret cannot be opened: the delivery is refused");
            failed("a secret of the target cannot be opened (tampered with, or sealed under another key)")
        }
    })
}

/// Tries `delivery` once (its notifier is not paused: `settings` says so).
pub(super) async fn attempt(
    sender: &Sender<'_>,
    reads: &BatchReads,
    delivery: &Delivery,
    settings: &Settings,
    now: OffsetDateTime,
    slot: Option<pacing::Slot>,
) -> Answer {
    let sent = match &delivery.channel {
        Channel::Operational { event } => operational(sender, reads, delivery, *event, now).await,
        _ => rendered(sender, reads, delivery, settings, now, slot).await,
    };
    match sent {
        Ok(status) => Answer::Sent { status },
        Err(answer) => answer,
    }
}

/// Renders and sends a delivery of an event or a test notification: the target's HTTP status
/// (none from SES, SNS or the outbox), or what happened instead.
async fn rendered(
    sender: &Sender<'_>,
    reads: &BatchReads,
    delivery: &Delivery,
    settings: &Settings,
    now: OffsetDateTime,
    slot: Option<pacing::Slot>,
) -> Result<Option<u16>, Answer> {
    let template = templates::by_id(delivery.template).ok_or_else(|| failed("unknown template"))?;
    let (kind, data, at) = match (&delivery.event, &delivery.data) {
        (Some(event), _) => {
            let event = reads
                .event(sender, &delivery.organization, *event)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| failed("the event is gone"))?;
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
        Channel::Operational { .. } => return Err(failed("an operational event has no template")),
        Channel::Webhook { notification } | Channel::Slack { notification } => {
            through = reads
                .notification(sender, &delivery.organization, notification)
                .await
                .map_err(unavailable)?
                .ok_or(Answer::Skipped(SkipReason::NotificationDeleted))?;
            if !through.enabled {
                return Err(Answer::Skipped(SkipReason::NotificationDisabled));
            }
            match &through.target {
                Target::Webhook(target) => {
                    // Names are checked by the client's resolver as it connects.
                    crate::model::net::check_webhook_url_shape(
                        &target.url,
                        sender.rules.allow_private,
                    )
                    .map_err(|e| failed(format!("url: {e}")))?;
                    let body = json!({
                        "type": kind,
                        "timestamp": crate::model::timestamp::format(at),
                        "data": data,
                        "title": rendered.title,
                        "body": rendered.body,
                        "organization": delivery.organization,
                        "notification": notification,
                    });
                    // The current secret must open; a replaced one still signing beside it
                    // (a rotation's overlap) is left out if it cannot: rotating is how an admin
                    // repairs a secret that no longer opens.
                    let mut secrets = Vec::with_capacity(2);
                    for (i, sealed) in target.signing_secrets(now).into_iter().enumerate() {
                        match opened(sender, sealed).await {
                            Ok(secret) => secrets.push(secret),
                            Err(_) if i > 0 => {}
                            Err(answer) => return Err(answer),
                        }
                    }
                    Outgoing::Webhook {
                        url: &target.url,
                        secrets,
                        id: &id,
                        timestamp: now.unix_timestamp(),
                        body: serde_json::to_vec(&body)
                            .map_err(|e| failed(format!("body: {e}")))?,
                    }
                }
                Target::Slack(target) => Outgoing::Slack {
                    target,
                    credentials: SlackCredentials {
                        webhook_url: opened(sender, &target.webhook_url).await?,
                        access_token: opened(sender, &target.access_token).await?,
                    },
                    message: rendered.slack(),
                },
                Target::Email | Target::Sms => {
                    return Err(failed("the notification is not a slack or webhook target"));
                }
            }
        }
        Channel::Email { to } => {
            daily(sender, delivery, DispatchMethod::Email, now).await?;
            Outgoing::Email {
                delivery: delivery.id,
                to: to.as_str(),
                content: rendered.email(),
                at: now,
            }
        }
        Channel::Sms { to } => {
            let to = to.as_ref().ok_or(Answer::Skipped(SkipReason::NoPhone))?;
            // One unit of the user's daily quota first; a spent quota skips the SMS.
            if let Some(user) = delivery.user {
                let day = crate::model::day::today(now);
                let quota = settings.sms_daily_quota();
                let taken = sender
                    .quota
                    .take_sms(&delivery.organization, user, day, quota)
                    .await
                    .map_err(unavailable)?;
                if !taken {
                    return Err(Answer::QuotaSpent { user, day, quota });
                }
            }
            daily(sender, delivery, DispatchMethod::Sms, now).await?;
            Outgoing::Sms {
                delivery: delivery.id,
                to: to.as_str(),
                text: rendered.sms(),
                at: now,
            }
        }
    };
    pacing::until_slot(sender, delivery, slot)
        .await
        .map_err(Answer::Refused)?;
    sender
        .transports
        .send(outgoing)
        .await
        .map_err(Answer::Refused)
}

/// Posts an operational event to the organization's operational webhook, signed with its secret.
/// One removed meanwhile, or no longer taking the event, skips it.
async fn operational(
    sender: &Sender<'_>,
    reads: &BatchReads,
    delivery: &Delivery,
    event: OperationalEvent,
    now: OffsetDateTime,
) -> Result<Option<u16>, Answer> {
    let hook = reads
        .operational(sender, &delivery.organization)
        .await
        .map_err(unavailable)?
        .filter(|h| h.events.contains(&event))
        .ok_or(Answer::Skipped(SkipReason::OperationalWebhookRemoved))?;
    crate::model::net::check_webhook_url_shape(&hook.url, sender.rules.allow_private)
        .map_err(|e| failed(format!("url: {e}")))?;
    let posted = delivery.data.clone().unwrap_or_default();
    let body = json!({
        "type": event,
        "timestamp": posted["timestamp"],
        "organization": delivery.organization,
        "data": posted["data"],
    });
    let id = delivery.id.to_string();
    let secret = opened(sender, &hook.secret).await?;
    sender
        .transports
        .send(Outgoing::Webhook {
            url: &hook.url,
            secrets: vec![secret],
            id: &id,
            timestamp: now.unix_timestamp(),
            body: serde_json::to_vec(&body).map_err(|e| failed(format!("body: {e}")))?,
        })
        .await
        .map_err(Answer::Refused)
}
