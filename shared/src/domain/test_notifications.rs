//! The test notification (seed 002's and each notification's own `test`): a "Test
//! Notification" delivery to one user by one channel, put on the delivery queue whole.

use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::model::DeliveryStatus;
use crate::model::{Channel, Delivery, Settings, User};
use crate::ports::queue::{DeliveryMessage, QueueError};
use crate::templates::{self, TemplateKey};

/// A "Test Notification" delivery to `channel`, addressed to `user` (rendered with their name).
pub fn delivery(state: &AppState, user: &User, settings: &Settings, channel: Channel) -> Delivery {
    let now = state.clock.now();
    Delivery {
        id: Uuid::now_v7(),
        organization: user.organization.clone(),
        event: None,
        template: templates::get(TemplateKey::Test).id,
        user: Some(user.id),
        channel,
        notification: None,
        language: settings.default_language(),
        data: Some(json!({"userName": user.username.as_str()})),
        status: DeliveryStatus::Queued,
        attempts: 0,
        round: 0,
        history: Vec::new(),
        last_error: None,
        reason: None,
        lease_until: None,
        created_at: now,
        updated_at: now,
    }
}

/// [`send`] once per idempotency key: a repeat of `key` (scoped by the caller to its route)
/// within 24 hours answers the delivery id the first request queued and queues nothing. If the
/// queue refuses, the key is freed again, so a retry is safe. Returns the delivery id.
pub async fn send_once(
    state: &AppState,
    user: &User,
    settings: &Settings,
    channel: Channel,
    key: Option<&str>,
) -> Result<Uuid, crate::domain::Error> {
    let Some(key) = key else {
        return Ok(send(state, user, settings, channel).await?.id);
    };
    let org = &user.organization;
    let delivery = delivery(state, user, settings, channel);
    let now = state.clock.now();
    let expires = now + crate::domain::events::KEY_LIFETIME;
    if let Some(first) = state
        .store
        .take_request_key(org, key, delivery.id, now, expires)
        .await?
    {
        tracing::info!(delivery = %first, "test notification replayed by its idempotency key");
        return Ok(first);
    }
    let message = DeliveryMessage {
        delivery: delivery.clone(),
        slot: None,
    };
    if let Err(e) = state.queue.send(&[message]).await {
        if let Err(free) = state.store.free_request_key(org, key, delivery.id).await {
            tracing::warn!(error = %free, "could not free the idempotency key of a refused test notification");
        }
        return Err(e.into());
    }
    tracing::info!(delivery = %delivery.id, "test notification queued");
    Ok(delivery.id)
}

/// Sends `user` a "Test Notification" by `channel`: the delivery goes on the queue whole (its
/// message is its only record until the sender claims it). If the queue refuses it, nothing was
/// written. Returns the delivery queued.
pub async fn send(
    state: &AppState,
    user: &User,
    settings: &Settings,
    channel: Channel,
) -> Result<Delivery, QueueError> {
    let delivery = delivery(state, user, settings, channel);
    let message = DeliveryMessage {
        delivery: delivery.clone(),
        slot: None,
    };
    state.queue.send(&[message]).await?;
    tracing::info!(delivery = %delivery.id, "test notification queued");
    Ok(delivery)
}
