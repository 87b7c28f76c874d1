//! The webhook transport: one signed HTTP POST, its answer classified for the retry rules (Slack's
//! transports in [`super::slack`] use the same classification).
//!
//! Webhooks are signed per the Standard Webhooks specification over the exact bytes sent:
//! `webhook-id` (the delivery id, the same on every retry), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the
//! base64-decoded part of the notification's `whsec_` secret.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use crate::ports::transport::{Failure, SendError};

/// The `webhook-signature` value for `id`, `timestamp` and `body` under `secret` (`whsec_...`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the webhook secret is not base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| "the webhook secret is empty".to_owned())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// POSTs a webhook signed with each of `secrets`: `webhook-signature` lists one `v1,` signature
/// per secret, space-separated, as Standard Webhooks allows during a rotation.
pub async fn post_webhook(
    http: &reqwest::Client,
    url: &str,
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: Vec<u8>,
) -> Result<u16, SendError> {
    let signature = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, &body))
        .collect::<Result<Vec<_>, _>>()
        .map_err(SendError::fail)?
        .join(" ");
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(transport_error)?;
    classify(response.status(), retry_after(response.headers()), None)
}

pub(super) fn transport_error(e: reqwest::Error) -> SendError {
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        format!("could not connect: {}", root_cause(&e))
    } else {
        format!("request failed: {}", root_cause(&e))
    };
    SendError::retry(what)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// 2xx sent (its status returned); 408, 429, 5xx retried (honouring `Retry-After`); 410 (or a
/// Slack "gone" error) fails and disables the notification; any other answer fails at once.
/// The error carries the status itself, and says `answered <status>` for the history.
pub(super) fn classify(
    status: StatusCode,
    after: Option<Duration>,
    slack_gone: Option<String>,
) -> Result<u16, SendError> {
    let code = status.as_u16();
    if let Some(error) = slack_gone {
        return Err(SendError::answered(
            Failure::Gone,
            code,
            None,
            format!("slack answered {error}"),
        ));
    }
    if status.is_success() {
        return Ok(code);
    }
    let failure = if status == StatusCode::GONE {
        Failure::Gone
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Failure::Retry
    } else {
        Failure::Fail
    };
    let after = after.filter(|_| failure == Failure::Retry);
    Err(SendError::answered(
        failure,
        code,
        after,
        format!("answered {code}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            signature.as_deref(),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    fn answer(status: u16, after: Option<Duration>, gone: Option<&str>) -> Result<u16, SendError> {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        classify(status, after, gone.map(str::to_owned))
    }

    #[test]
    fn answers_are_classified_as_spec_7_says_with_their_status_kept() {
        assert_eq!(answer(204, None, None), Ok(204));
        let failed = |s: u16, failure| {
            Err(SendError::answered(
                failure,
                s,
                None,
                format!("answered {s}"),
            ))
        };
        for s in [408, 429, 500, 502, 503] {
            assert_eq!(answer(s, None, None), failed(s, Failure::Retry), "{s}");
        }
        for s in [400, 401, 403, 404, 422] {
            assert_eq!(answer(s, None, None), failed(s, Failure::Fail), "{s}");
        }
        assert_eq!(answer(410, None, None), failed(410, Failure::Gone));
        assert_eq!(
            answer(404, None, Some("channel_not_found")),
            Err(SendError::answered(
                Failure::Gone,
                404,
                None,
                "slack answered channel_not_found"
            ))
        );
        let after = Some(Duration::from_secs(7));
        assert_eq!(
            answer(429, after, None),
            Err(SendError::answered(
                Failure::Retry,
                429,
                after,
                "answered 429"
            ))
        );
        // A `Retry-After` on a final answer means nothing.
        assert_eq!(answer(400, after, None), failed(400, Failure::Fail));
    }
}
