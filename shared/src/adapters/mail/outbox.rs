//! The local server's outbox: where email and SMS go when there is no SES or SNS (the
//! local server's own backend). Each message is logged and kept, newest last; `GET /_local/outbox` lists them.

use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::timestamp;
use crate::ports::transport::{Outgoing, Sent, Transport};

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

/// The outbox "sends" email and SMS by keeping them.
#[async_trait::async_trait]
impl Transport for Outbox {
    async fn send(&self, message: Outgoing<'_>) -> Sent {
        let message = match message {
            Outgoing::Email {
                delivery,
                to,
                content,
                at,
            } => OutboxMessage {
                channel: "email",
                delivery,
                to: to.to_owned(),
                subject: Some(content.subject),
                text: content.text,
                html: Some(content.html),
                sent_at: at,
            },
            Outgoing::Sms {
                delivery,
                to,
                text,
                at,
            } => OutboxMessage {
                channel: "sms",
                delivery,
                to: to.to_owned(),
                subject: None,
                text,
                html: None,
                sent_at: at,
            },
            other => return Err(other.not_served_by("the outbox")),
        };
        self.push(message);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::transport::SendError;
    use crate::templates::EmailContent;

    #[tokio::test]
    async fn the_outbox_keeps_email_and_sms_and_refuses_what_it_cannot_send() {
        let outbox = Outbox::new();
        let at = OffsetDateTime::UNIX_EPOCH;
        let delivery = Uuid::nil();
        let content = EmailContent {
            subject: "S".into(),
            text: "T".into(),
            html: "<p>T</p>".into(),
        };
        let email = Outgoing::Email {
            delivery,
            to: "ann@example.com",
            content,
            at,
        };
        assert_eq!(outbox.send(email).await, Ok(None));
        let sms = Outgoing::Sms {
            delivery,
            to: "+14155550100",
            text: "hi".into(),
            at,
        };
        assert_eq!(outbox.send(sms).await, Ok(None));
        let webhook = Outgoing::Webhook {
            url: "https://example.com",
            secrets: vec!["whsec_x".into()],
            id: "id",
            timestamp: 0,
            body: Vec::new(),
        };
        assert_eq!(
            outbox.send(webhook).await,
            Err(SendError::fail("the outbox does not send webhook"))
        );
        let kept: Vec<(&str, String, Option<String>)> = outbox
            .messages()
            .iter()
            .map(|m| (m.channel, m.to.clone(), m.subject.clone()))
            .collect();
        assert_eq!(
            kept,
            [
                ("email", "ann@example.com".to_owned(), Some("S".to_owned())),
                ("sms", "+14155550100".to_owned(), None)
            ]
        );
    }
}
