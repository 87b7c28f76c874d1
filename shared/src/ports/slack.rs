//! Installing Slack: a code from Slack's OAuth flow exchanged for the channel's incoming webhook
//! and the bot's token (a port: Slack's `oauth.v2.access`, or the tests' stand-in behind it).

/// What the exchange gives a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackInstall {
    pub team: String,
    pub channel: String,
    pub channel_id: Option<String>,
    pub webhook_url: String,
    pub access_token: String,
    /// The install granted `chat:write`: its bot token can post with `chat.postMessage`.
    pub chat_write: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExchangeError {
    /// Slack refused the code; the text is Slack's own error (`invalid_code`, ...).
    #[error("{0}")]
    Refused(String),
    /// Slack could not be reached or answered something unreadable; nothing was created.
    #[error("slack unavailable: {0}")]
    Unavailable(String),
}

/// Exchanges a Slack OAuth code (spent once) for an install.
#[async_trait::async_trait]
pub trait SlackInstaller: Send + Sync {
    async fn exchange(&self, code: &str, redirect_uri: &str)
    -> Result<SlackInstall, ExchangeError>;
}
