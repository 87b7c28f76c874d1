//! The local server's outbox: where email and SMS go when there is no SES or SNS (ARCHITECTURE
//! "backends"). Each message is logged and kept, newest last; `GET /_local/outbox` lists them.

use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::timestamp;

/// One email or SMS "sent" to the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    /// `email` or `sms`.
    pub channel: &'static str,
    pub delivery: Uuid,
    pub to: String,
    /// The email's subject (none for SMS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(with = "timestamp")]
    pub sent_at: OffsetDateTime,
}

#[derive(Debug, Default)]
pub struct Outbox {
    messages: Mutex<Vec<OutboxMessage>>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, message: OutboxMessage) {
        tracing::info!(
            channel = message.channel,
            delivery = %message.delivery,
            to = %message.to,
            "outbox"
        );
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    /// How many messages so far.
    pub fn len(&self) -> usize {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every message so far, oldest first.
    pub fn messages(&self) -> Vec<OutboxMessage> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
