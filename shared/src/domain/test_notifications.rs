//! The test notification (the admin API's and each notification's own `test`): a "Test
//! Notification" delivery to one user by one channel, put on the delivery queue whole.

use serde_json::json;
use uuid::Uuid;

use time::OffsetDateTime;

use crate::model::{Channel, Delivery, Settings, User};
use crate::ports::intake::EventIntake;
use crate::ports::queue::{DeliveryMessage, Queue, QueueError};
use crate::templates::{self, TemplateKey};

/// A "Test Notification" delivery to `channel`, addressed to `user` (rendered with their name),
/// made `now`.
pub fn delivery(
    now: OffsetDateTime,
    user: &User,
    settings: &Settings,
    channel: Channel,
) -> Delivery {
    Delivery {
        user: Some(user.id),
        data: Some(json!({"userName": user.username.as_str()})),
        ..Delivery::queued(
            Uuid::now_v7(),
            user.organization.clone(),
            templates::get(TemplateKey::Test).id,
            channel,
            settings.default_language(),
            now,
            now,
        )
    }
}

/// [`send`] once per idempotency key: a repeat of `key` (scoped by the caller to its route)
/// within 24 hours answers the delivery id the first request queued and queues nothing. The
/// key, the delivery and its message are one unit ([`EventIntake::queue_once`]): if the queue
/// refuses, nothing is kept, so a retry is safe. Returns the delivery id.
pub async fn send_once(
    intake: &dyn EventIntake,
    queue: &dyn Queue<DeliveryMessage>,
    now: OffsetDateTime,
    user: &User,
    settings: &Settings,
    channel: Channel,
    key: Option<&str>,
) -> Result<Uuid, crate::domain::Error> {
    let Some(key) = key else {
        return Ok(send(queue, now, user, settings, channel).await?.id);
    };
    let delivery = delivery(now, user, settings, channel);
    let expires = now + crate::domain::events::KEY_LIFETIME;
    if let Some(first) = intake.queue_once(&delivery, key, now, expires).await? {
        tracing::info!(delivery = %first, "test notification replayed by its idempotency key");
        return Ok(first);
    }
    tracing::info!(delivery = %delivery.id, "test notification queued");
    Ok(delivery.id)
}

/// Sends `user` a "Test Notification" by `channel`: the delivery goes on the queue whole. If the
/// queue refuses it, nothing was written. Returns the delivery queued.
pub async fn send(
    queue: &dyn Queue<DeliveryMessage>,
    now: OffsetDateTime,
    user: &User,
    settings: &Settings,
    channel: Channel,
) -> Result<Delivery, QueueError> {
    let delivery = delivery(now, user, settings, channel);
    let message = DeliveryMessage {
        delivery: delivery.clone(),
        slot: None,
    };
    queue.send(&[message]).await?;
    tracing::info!(delivery = %delivery.id, "test notification queued");
    Ok(delivery)
}
