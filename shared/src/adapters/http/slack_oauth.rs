//! Slack's OAuth code exchange (`oauth.v2.access`) for `slack` notifications. The base
//! URL is configurable so tests and local runs use a Slack stand-in.

use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::config::Config;
use crate::ports::slack::{ExchangeError, SlackInstall, SlackInstaller};

#[derive(Deserialize)]
struct AccessResponse {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    /// The scopes granted, comma-separated.
    #[serde(default)]
    scope: String,
    #[serde(default)]
    team: Option<Named>,
    #[serde(default)]
    incoming_webhook: Option<IncomingWebhook>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct IncomingWebhook {
    channel: String,
    #[serde(default)]
    channel_id: Option<String>,
    url: String,
}

/// The exchange client. Its HTTP client (TLS roots included, a few milliseconds to build) is
/// built on the first exchange and reused: most functions never talk to Slack, so their cold
/// start does not pay for it.
#[derive(Clone, Debug)]
pub struct SlackOAuth {
    http: Arc<OnceLock<reqwest::Client>>,
    endpoint: String,
    client_id: Option<String>,
    client_secret: crate::adapters::secrets::Secret,
}

impl SlackOAuth {
    pub fn new(config: &Config) -> Self {
        Self {
            http: Arc::new(OnceLock::new()),
            endpoint: format!("{}/oauth.v2.access", config.slack_api_url),
            client_id: config.slack_client_id.clone(),
            client_secret: crate::adapters::secrets::Secret::configured(
                config.slack_client_secret.as_deref(),
                config.slack_client_secret_parameter.as_deref(),
            ),
        }
    }

    fn http(&self) -> Result<&reqwest::Client, ExchangeError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = crate::adapters::http::http_client()
            .map_err(|e| ExchangeError::Unavailable(e.to_string()))?;
        Ok(self.http.get_or_init(|| client))
    }
}

#[async_trait::async_trait]
impl SlackInstaller for SlackOAuth {
    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<SlackInstall, ExchangeError> {
        let secret = self.client_secret.get().await.map_err(|e| {
            tracing::error!(parameter = %e.parameter, error = %e.why, "the Slack client secret could not be read");
            ExchangeError::Unavailable(format!("the Slack client secret ({}) could not be read", e.parameter))
        })?;
        let (Some(id), Some(secret)) = (&self.client_id, secret) else {
            return Err(ExchangeError::Unavailable(
                "HERALD_SLACK_CLIENT_ID/SECRET are not configured".into(),
            ));
        };
        let form = [
            ("client_id", id.as_str()),
            ("client_secret", &*secret),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        let response = self
            .http()?
            .post(&self.endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| ExchangeError::Unavailable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(ExchangeError::Unavailable(format!(
                "HTTP {}",
                response.status()
            )));
        }
        let body: AccessResponse = response
            .json()
            .await
            .map_err(|e| ExchangeError::Unavailable(e.without_url().to_string()))?;
        if !body.ok {
            return Err(ExchangeError::Refused(
                body.error.unwrap_or_else(|| "unknown_error".into()),
            ));
        }
        let chat_write = body.scope.split(',').any(|s| s.trim() == "chat:write");
        match (body.team, body.incoming_webhook, body.access_token) {
            (Some(team), Some(hook), Some(token)) => Ok(SlackInstall {
                team: team.name,
                channel: hook.channel,
                channel_id: hook.channel_id,
                webhook_url: hook.url,
                access_token: token,
                chat_write,
            }),
            _ => Err(ExchangeError::Refused(
                "missing_incoming_webhook_scope".into(),
            )),
        }
    }
}
