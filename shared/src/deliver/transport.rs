//! Where a rendered message leaves Herald: one [`Transport`] trait for every channel (webhook,
//! Slack, email, SMS), as the store and the queue are traits. Each implementation serves the
//! channels it can and refuses the others: [`Http`] (webhooks and Slack), SES and SNS
//! ([`super::aws::AwsSenders`]), and the local server's outbox ([`super::outbox::Outbox`]).
//! [`super::Transports`] routes each message to the one that serves its channel.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::SendError;
use super::webhook::{self, SlackApiRefusal};
use crate::model::DispatchMethod;
use crate::store::SlackTarget;
use crate::templates::EmailContent;

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

/// Webhooks and Slack over HTTP, with the sender's client (timeouts, and the resolver that
/// refuses private addresses where they are not allowed).
#[derive(Clone, Debug)]
pub struct Http {
    pub client: reqwest::Client,
    /// Slack's Web API base (`HERALD_SLACK_API_URL`).
    pub slack_api: String,
}

#[async_trait]
impl Transport for Http {
    async fn send(&self, message: Outgoing<'_>) -> Sent {
        match message {
            Outgoing::Webhook {
                url,
                secrets,
                id,
                timestamp,
                body,
            } => webhook::post_webhook(&self.client, url, &secrets, id, timestamp, body)
                .await
                .map(Some),
            // An install that granted `chat:write` posts as its bot, to the channel's id; where
            // the bot is not in the channel, the incoming webhook (tied to that channel by the
            // install) posts it in the same attempt.
            Outgoing::Slack { target, message } => {
                if target.chat_write
                    && let Some(channel) = &target.channel_id
                {
                    let posted = webhook::post_slack_api(
                        &self.client,
                        &self.slack_api,
                        &target.access_token,
                        channel,
                        &message,
                    )
                    .await;
                    match posted {
                        Ok(status) => return Ok(Some(status)),
                        Err(SlackApiRefusal::Error(e)) => return Err(e),
                        Err(SlackApiRefusal::NotInChannel) => {}
                    }
                }
                webhook::post_slack(&self.client, &target.webhook_url, &message)
                    .await
                    .map(Some)
            }
            other => Err(other.not_served_by("the HTTP transport")),
        }
    }
}
