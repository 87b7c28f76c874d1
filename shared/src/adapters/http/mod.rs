//! HTTP adapters: the outbound clients ([`client`]), webhooks ([`webhook`]) and Slack
//! ([`slack`]: `chat.postMessage` and incoming webhooks; [`slack_oauth`]: installs), and
//! [`Http`], the transport that sends webhook and Slack messages.

pub mod client;
pub mod slack;
pub mod slack_oauth;
pub mod webhook;

use async_trait::async_trait;

pub use client::{SystemResolver, delivery_client, delivery_client_with_timeout, http_client};
use slack::SlackApiRefusal;

use crate::ports::transport::{Outgoing, Sent, Transport};

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
            Outgoing::Slack {
                target,
                credentials,
                message,
            } => {
                if target.chat_write
                    && let Some(channel) = &target.channel_id
                {
                    let posted = slack::post_slack_api(
                        &self.client,
                        &self.slack_api,
                        &credentials.access_token,
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
                slack::post_slack(&self.client, &credentials.webhook_url, &message)
                    .await
                    .map(Some)
            }
            other => Err(other.not_served_by("the HTTP transport")),
        }
    }
}
