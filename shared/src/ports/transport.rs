//! Where a rendered message leaves Herald: one [`Transport`] trait for every channel (webhook,
//! Slack, email, SMS), as the store and the queue are traits. Each implementation serves the
//! channels it can and refuses the others: HTTP (webhooks and Slack), SES and SNS, and the local
//! server's outbox; a router of the adapters sends each message to the one that serves its
//! channel. What a transport answers is the target's own answer ([`SendError`] carries its HTTP
//! status and `Retry-After`), for the sender to decide what it means.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::DispatchMethod;
use crate::model::SlackTarget;
use crate::templates::EmailContent;

/// How a send failed, as the retry rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt: a timeout, a connection refused, 408, 429, 5xx.
    Retry,
    /// Final: another 4xx, a bad target.
    Fail,
    /// Final, and the target is gone (410, an archived Slack channel): its notification is
    /// disabled.
    Gone,
}

/// Why one send did not succeed: how it failed, the target's own answer where there was one
/// (its HTTP status and `Retry-After`), and what went wrong, for the delivery's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    pub failure: Failure,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub error: String,
}

impl SendError {
    fn new(failure: Failure, error: impl Into<String>) -> Self {
        Self {
            failure,
            status: None,
            retry_after: None,
            error: error.into(),
        }
    }

    /// Worth another attempt, with no answer from the target (a timeout, a refused connection,
    /// a service that failed).
    pub fn retry(error: impl Into<String>) -> Self {
        Self::new(Failure::Retry, error)
    }

    /// Final, with no answer from the target (a bad target, a body that cannot be made).
    pub fn fail(error: impl Into<String>) -> Self {
        Self::new(Failure::Fail, error)
    }

    /// The target answered `status` (not a success): `error` says what it means.
    pub fn answered(
        failure: Failure,
        status: u16,
        retry_after: Option<Duration>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            failure,
            status: Some(status),
            retry_after,
            error: error.into(),
        }
    }

    /// The same, with the target's `Retry-After` (Slack's `ratelimited` answers with an HTTP 200).
    pub fn after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// A Slack target's incoming-webhook URL and bot token, in plain text for one send.
pub struct SlackCredentials {
    pub webhook_url: String,
    pub access_token: String,
}

impl std::fmt::Debug for SlackCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackCredentials(..)")
    }
}

/// One rendered message, addressed.
#[derive(Debug)]
pub enum Outgoing<'a> {
    /// A Standard Webhooks POST: `id` is the delivery id (`webhook-id`), the same on every retry.
    Webhook {
        url: &'a str,
        /// The secrets it is signed with (one signature each): the notification's, and during a
        /// rotation's overlap the one it replaced; opened for this send only.
        secrets: Vec<String>,
        id: &'a str,
        timestamp: i64,
        body: Vec<u8>,
    },
    /// A Slack message (Block Kit with its text fallback) for an installed target.
    Slack {
        target: &'a SlackTarget,
        /// The target's credentials, opened for this send only.
        credentials: SlackCredentials,
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
        SendError::fail(format!("{transport} does not send {}", self.channel()))
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
