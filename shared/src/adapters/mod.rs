//! The adapters: each port's implementations on a backend — the embedded database
//! ([`sqlite`]: store, queues, intake), DynamoDB ([`dynamodb`]), SQS ([`sqs`]), HTTP ([`http`]:
//! webhooks, Slack, name resolution), mail ([`mail`]: SES and SNS, or the local outbox), and the
//! AWS SDK's shared configuration ([`aws`]) and secrets ([`secrets`]). Only the edge builds them;
//! the domain and the workers see their ports.

pub mod aws;
pub mod dynamodb;
pub mod http;
pub mod inbox;
pub mod intake;
pub mod keys;
pub mod kms;
pub mod mail;
pub mod secrets;
pub mod sqlite;
pub mod sqs;

use std::sync::Arc;

use crate::ports::net::Resolver;
use crate::ports::transport::{Outgoing, Sent, Transport};

/// What the sender uses to reach targets, built once per process: webhooks and Slack over
/// HTTP, email and SMS through `mail` (SES and SNS, or the local outbox).
#[derive(Clone, Debug)]
pub struct Transports {
    pub http: http::Http,
    pub mail: Arc<dyn Transport>,
}

impl Transports {
    /// Webhooks and Slack through the sender's HTTP client (names resolved by `resolver`, the
    /// SSRF rule applied unless `allow_private`), Slack's Web API at `slack_api`.
    pub fn new(
        resolver: Arc<dyn Resolver>,
        allow_private: bool,
        slack_api: String,
        mail: Arc<dyn Transport>,
    ) -> reqwest::Result<Self> {
        Ok(Self {
            http: http::Http {
                client: http::delivery_client(resolver, allow_private)?,
                slack_api,
            },
            mail,
        })
    }
}

/// Each message to the transport that serves its channel.
#[async_trait::async_trait]
impl Transport for Transports {
    async fn send(&self, message: Outgoing<'_>) -> Sent {
        match message {
            Outgoing::Webhook { .. } | Outgoing::Slack { .. } => self.http.send(message).await,
            Outgoing::Email { .. } | Outgoing::Sms { .. } => self.mail.send(message).await,
        }
    }
}
