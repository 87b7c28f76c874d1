//! Where a rendered message leaves Herald: one [`Transport`] trait for every channel (webhook,
//! Slack, email, SMS), as the store and the queue are traits. Each implementation serves the
//! channels it can and refuses the others: [`Http`] (webhooks and Slack), SES and SNS
//! ([`super::aws::AwsSenders`]), and the local server's outbox ([`super::outbox::Outbox`]).
//! [`super::Transports`] routes each message to the one that serves its channel.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::DispatchMethod;
use crate::model::SlackTarget;
use crate::templates::EmailContent;

/// Why one send did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Worth another attempt (timeout, 408, 429, 5xx), after `after` if the target said.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Final (another 4xx, a bad target).
    Fail(String),
    /// Final, and the target is gone (410, an archived Slack channel): disable the notification.
    Gone(String),
    /// Not sent, on purpose (`quota_exceeded`, `notification_deleted`, ...): `skipped`.
    Skip(String),
}

/// One rendered message, addressed.
#[derive(Debug)]
pub enum Outgoing<'a> {
    /// A Standard Webhooks POST: `id` is the delivery id (`webhook-id`), the same on every retry.
    Webhook {
        url: &'a str,
        /// The secrets it is signed with (one signature each): the notification's, and during a
        /// rotation's overlap the one it replaced.
        secrets: Vec<&'a str>,
        id: &'a str,
        timestamp: i64,
        body: Vec<u8>,
    },
    /// A Slack message (Block Kit with its text fallback) for an installed target.
    Slack {
        target: &'a SlackTarget,
        message: serde_json::Value,
    },
    Email {
        delivery: Uuid,
        to: &'a str,
        content: EmailContent,
        at: OffsetDateTime,
    },
    Sms {
        delivery: Uuid,
        to: &'a str,
        text: String,
        at: OffsetDateTime,
    },
}

impl Outgoing<'_> {
    /// The dispatch method the message goes by.
    pub fn channel(&self) -> DispatchMethod {
        match self {
            Outgoing::Webhook { .. } => DispatchMethod::Webhook,
            Outgoing::Slack { .. } => DispatchMethod::Slack,
            Outgoing::Email { .. } => DispatchMethod::Email,
            Outgoing::Sms { .. } => DispatchMethod::Sms,
        }
    }

    /// What a transport answers for a channel it does not serve (a wiring bug: final).
    pub fn not_served_by(&self, transport: &str) -> SendError {
        SendError::Fail(format!("{transport} does not send {}", self.channel()))
    }
}

/// What a transport answers: the target's HTTP status once sent (`None` where there is no HTTP
/// answer: SES, SNS, the outbox), or why it was not sent.
pub type Sent = Result<Option<u16>, SendError>;

/// Sends one message; the error says whether another attempt is worth it.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    async fn send(&self, message: Outgoing<'_>) -> Sent;
}
