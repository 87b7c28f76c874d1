//! Operational webhooks: an organization tells Herald where to post events about Herald itself
//! (`delivery.failed`, `notification.disabled`, `delivery.recovered`, `sms.quotaExhausted`,
//! `event.fanoutFailed`),
//! signed per Standard Webhooks with the webhook's own secret.
//!
//! Each event is a delivery on the delivery queue (channel `operational`), so it gets the same
//! retry schedule, claim and settlement as any webhook delivery, and shows in the delivery log.
//! Its id is derived from its cause (the failed delivery and its round, the disabling, the
//! recovery, the user's day), so a cause seen twice posts once. An operational delivery that
//! fails raises no `delivery.failed` of its own.

use serde_json::{Value, json};
use uuid::Uuid;

use super::Error;
use crate::model::{Channel, Delivery, FailureStreak, Notification, OperationalWebhook};
use crate::model::{Language, NotificationId, OperationalEvent, OrgId, timestamp};
use crate::ports::net::Resolver;
use crate::ports::queue::{DeliveryMessage, Queue};
use crate::ports::store::OperationalWebhookStore;

/// What the client asks the operational webhook to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    pub url: String,
    pub events: Vec<OperationalEvent>,
}

/// Sets the organization's operational webhook (its URL held to the SSRF rule, as a
/// notification's, through `resolver` unless `allow_private`). A new one gets a secret; a change
/// keeps it. Returns the webhook and whether it was created (only then is its secret shown).
pub async fn put(
    hooks: &dyn OperationalWebhookStore,
    keys: &dyn crate::ports::keys::Keys,
    resolver: &dyn Resolver,
    allow_private: bool,
    now: time::OffsetDateTime,
    org: &OrgId,
    setup: Setup,
) -> Result<(OperationalWebhook, bool), Error> {
    let url = crate::ports::net::check_webhook_url(&setup.url, allow_private, resolver)
        .await
        .map_err(|why| Error::invalid("url", why))?;
    let hook = OperationalWebhook {
        organization: org.clone(),
        url: url.to_string(),
        events: setup.events,
        // Sealed even when a change keeps the one it had (the store keeps that).
        secret: keys
            .seal(&super::notifications::new_webhook_secret())
            .await?,
        created_at: now,
        updated_at: now,
    };
    Ok(hooks.put_operational_webhook(&hook).await?)
}

pub async fn get(
    hooks: &dyn OperationalWebhookStore,
    org: &OrgId,
) -> Result<OperationalWebhook, Error> {
    hooks
        .get_operational_webhook(org)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn delete(hooks: &dyn OperationalWebhookStore, org: &OrgId) -> Result<(), Error> {
    if hooks.delete_operational_webhook(org).await? {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// One event about the organization `org`, caused by `cause` (what names it: the same cause
/// gives the same delivery, so it is posted once).
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    pub organization: OrgId,
    pub event: OperationalEvent,
    pub cause: String,
    /// The cause's own time (the operational delivery's place in the log: a delivery's key
    /// holds its time, so the same cause must give the same time to be the same delivery).
    pub cause_at: time::OffsetDateTime,
    pub data: Value,
}

impl Occurrence {
    /// `delivery.failed` of `delivery` (once per round it ends `failed` in).
    pub fn delivery_failed(delivery: &Delivery, error: Option<&str>) -> Option<Self> {
        if matches!(delivery.channel, Channel::Operational { .. }) {
            return None;
        }
        Some(Self {
            organization: delivery.organization.clone(),
            event: OperationalEvent::DeliveryFailed,
            cause: format!("{}#{}", delivery.id, delivery.round),
            cause_at: delivery.created_at,
            data: json!({
                "deliveryId": delivery.id,
                "eventId": delivery.event,
                "notificationId": delivery.notification_id(),
                "method": delivery.channel.method(),
                "attempts": delivery.attempts,
                "error": error,
            }),
        })
    }

    /// `notification.disabled` of `n`, just disabled (once per disabling).
    pub fn notification_disabled(n: &Notification) -> Self {
        Self {
            organization: n.organization.clone(),
            event: OperationalEvent::NotificationDisabled,
            cause: format!("{}#{}", n.id, timestamp::format(n.updated_at)),
            cause_at: n.updated_at,
            data: json!({
                "notificationId": n.id,
                "type": n.target.kind(),
                "reason": n.disabled_reason,
            }),
        }
    }

    /// `delivery.recovered`: a sent delivery of the notification `id` ended `streak`.
    pub fn delivery_recovered(org: &OrgId, id: &NotificationId, streak: &FailureStreak) -> Self {
        Self {
            organization: org.clone(),
            event: OperationalEvent::DeliveryRecovered,
            cause: format!("{id}#{}", timestamp::format(streak.since)),
            cause_at: streak.since,
            data: json!({
                "notificationId": id,
                "failingSince": timestamp::format(streak.since),
                "failedDeliveries": streak.failed,
            }),
        }
    }

    /// `event.fanoutFailed`: `event`'s fan-out job ran out of retries (once per event and
    /// round of `fanout/retry`).
    pub fn event_fanout_failed(event: &crate::model::Event) -> Self {
        Self {
            organization: event.organization.clone(),
            event: OperationalEvent::EventFanoutFailed,
            cause: format!("{}#{}", event.id, event.fanout_round),
            cause_at: event.created_at,
            data: json!({
                "eventId": event.id,
                "type": event.kind,
                "deliveries": event.fanout.deliveries,
            }),
        }
    }

    /// `organization.quotaExceeded`: the organization has spent its daily `channel` count of
    /// `limit` (once per channel and day).
    pub fn organization_quota_exceeded(
        org: &OrgId,
        channel: crate::model::DispatchMethod,
        day: time::Date,
        limit: u32,
    ) -> Self {
        let cause_at = day.midnight().assume_utc();
        let day = crate::model::day::format(day);
        Self {
            organization: org.clone(),
            event: OperationalEvent::OrganizationQuotaExceeded,
            cause: format!("{channel}#{day}"),
            cause_at,
            data: json!({"channel": channel, "day": day, "dailyLimit": limit}),
        }
    }

    /// `sms.quotaExhausted`: `user` has spent the day's SMS quota (once per user and day).
    pub fn sms_quota_exhausted(org: &OrgId, user: Uuid, day: time::Date, quota: u32) -> Self {
        let cause_at = day.midnight().assume_utc();
        let day = crate::model::day::format(day);
        Self {
            organization: org.clone(),
            event: OperationalEvent::SmsQuotaExhausted,
            cause: format!("{user}#{day}"),
            cause_at,
            data: json!({"userId": user, "day": day, "dailyQuota": quota}),
        }
    }
}

/// What telling an organization's operational webhook needs: where its webhook is kept, and the
/// delivery queue its events go on.
#[derive(Clone, Copy)]
pub struct Telling<'a> {
    pub hooks: &'a dyn OperationalWebhookStore,
    pub queue: &'a dyn Queue<DeliveryMessage>,
}

impl Telling<'_> {
    /// Queues `occurrence` (as of `now`) for the organization's operational webhook, when it has
    /// one that takes the event (one read of the webhook; nothing is queued otherwise).
    pub async fn raise(
        &self,
        occurrence: Occurrence,
        now: time::OffsetDateTime,
    ) -> Result<(), Error> {
        let hook = self
            .hooks
            .get_operational_webhook(&occurrence.organization)
            .await?;
        self.raise_to(hook.as_ref(), occurrence, now).await
    }

    /// [`Telling::raise`] with the organization's operational webhook already read.
    pub async fn raise_to(
        &self,
        hook: Option<&OperationalWebhook>,
        occurrence: Occurrence,
        now: time::OffsetDateTime,
    ) -> Result<(), Error> {
        if let Some(delivery) = delivery_for(hook, occurrence, now) {
            self.queue
                .send(&[DeliveryMessage {
                    delivery,
                    slot: None,
                }])
                .await?;
        }
        Ok(())
    }
}

/// The operational delivery that tells `occurrence` to `hook`, the organization's operational
/// webhook, as of `now`: `None` when it has none, or one that does not take the event. Its id
/// is derived from the cause, so the same cause is the same delivery (posted once).
pub fn delivery_for(
    hook: Option<&OperationalWebhook>,
    occurrence: Occurrence,
    now: time::OffsetDateTime,
) -> Option<Delivery> {
    if !hook.is_some_and(|h| h.events.contains(&occurrence.event)) {
        return None;
    }
    let namespace = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"herald:operational");
    let id = Uuid::new_v5(
        &namespace,
        format!(
            "{}#{}#{}",
            occurrence.organization,
            occurrence.event.as_str(),
            occurrence.cause
        )
        .as_bytes(),
    );
    Some(Delivery {
        // What is posted: when it happened, and what.
        data: Some(json!({"timestamp": timestamp::format(now), "data": occurrence.data})),
        ..Delivery::queued(
            id,
            occurrence.organization,
            // Not rendered: an operational event is its own body.
            Uuid::nil(),
            Channel::Operational {
                event: occurrence.event,
            },
            Language::En,
            timestamp::truncate(occurrence.cause_at),
            now,
        )
    })
}
