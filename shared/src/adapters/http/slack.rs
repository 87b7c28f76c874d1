//! Slack transports: `chat.postMessage` as the install's bot, and the install's incoming webhook.
//! Each is one HTTP POST, classified for the retry rules as webhooks are.

use crate::ports::transport::{Failure, SendError};

use super::webhook::{classify, retry_after, transport_error};

/// POSTs a Slack message to an incoming-webhook URL. Slack answers `ok` or an error name:
/// `channel_is_archived` / `channel_not_found` (and 410) mean the target is gone.
pub async fn post_slack(
    http: &reqwest::Client,
    url: &str,
    message: &serde_json::Value,
) -> Result<u16, SendError> {
    let response = http
        .post(url)
        .json(message)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status();
    let after = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let gone = ["channel_is_archived", "channel_not_found", "no_service"]
        .iter()
        .find(|e| text.contains(*e))
        .map(|e| (*e).to_owned());
    classify(status, after, gone)
}

/// What Slack's Web API said to a `chat.postMessage` other than `ok`.
#[derive(Debug, PartialEq, Eq)]
pub enum SlackApiRefusal {
    /// The bot is not a member of the channel (`not_in_channel`): the incoming webhook, which
    /// the install tied to the channel, can still post there.
    NotInChannel,
    Error(SendError),
}

/// POSTs a Slack message with `chat.postMessage` (`api` is the Web API's base URL) as the bot
/// `token` to `channel`. Slack answers HTTP 200 with `{"ok": false, "error": ...}` for most
/// refusals, and 429 with `Retry-After` when rate limited.
pub async fn post_slack_api(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    channel: &str,
    message: &serde_json::Value,
) -> Result<u16, SlackApiRefusal> {
    let mut body = message.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("channel".into(), channel.into());
    }
    let response = http
        .post(format!("{api}/chat.postMessage"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| SlackApiRefusal::Error(transport_error(e)))?;
    let status = response.status();
    let after = retry_after(response.headers());
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    let error = answer["error"].as_str().unwrap_or_default();
    if status.is_success() && answer["ok"] == true {
        return Ok(status.as_u16());
    }
    if !status.is_success() || error.is_empty() {
        return classify(status, after, None).map_err(SlackApiRefusal::Error);
    }
    let refused = |failure| {
        SendError::answered(
            failure,
            status.as_u16(),
            None,
            format!("slack answered {error}"),
        )
    };
    Err(SlackApiRefusal::Error(match error {
        "not_in_channel" => return Err(SlackApiRefusal::NotInChannel),
        "channel_not_found" | "is_archived" | "channel_is_archived" => refused(Failure::Gone),
        "ratelimited"
        | "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout" => refused(Failure::Retry).after(after),
        _ => refused(Failure::Fail),
    }))
}
