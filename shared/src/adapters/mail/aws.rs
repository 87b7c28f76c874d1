//! Email through Amazon SES v2 and SMS through Amazon SNS, classified for the retry
//! rules: throttling and service errors are retried; a rejected message fails at once.

use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::ports::transport::{Outgoing, SendError, Sent, Transport};
use crate::templates;

/// The AWS senders, built once per sender process.
#[derive(Clone, Debug)]
pub struct AwsSenders {
    pub ses: aws_sdk_sesv2::Client,
    pub sns: aws_sdk_sns::Client,
    /// `HERALD_EMAIL_FROM`; without it, email deliveries fail ("not configured").
    pub from: Option<String>,
}

fn classify<E, R>(e: SdkError<E, R>) -> SendError
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
    let code = e
        .as_service_error()
        .and_then(|s| s.code())
        .unwrap_or_default();
    let retry = match &e {
        SdkError::ServiceError(_) => {
            code.contains("Throttl")
                || code == "TooManyRequestsException"
                || code.contains("Internal")
                || code.contains("ServiceUnavailable")
        }
        // Timeouts, connection and response errors: worth another attempt.
        _ => true,
    };
    if retry {
        SendError::retry(text)
    } else {
        SendError::fail(text)
    }
}

#[async_trait::async_trait]
impl Transport for AwsSenders {
    async fn send(&self, message: Outgoing<'_>) -> Sent {
        match message {
            Outgoing::Email { to, content, .. } => self.email(to, content).await.map(|()| None),
            Outgoing::Sms { to, text, .. } => self.sms(to, text).await.map(|()| None),
            other => Err(other.not_served_by("SES/SNS")),
        }
    }
}

impl AwsSenders {
    async fn email(&self, to: &str, content: templates::EmailContent) -> Result<(), SendError> {
        let from = self
            .from
            .as_deref()
            .ok_or_else(|| SendError::fail("email is not configured (HERALD_EMAIL_FROM)"))?;
        let text = |data: String| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::fail(e.to_string()))
        };
        let message = Message::builder()
            .subject(text(content.subject)?)
            .body(
                Body::builder()
                    .text(text(content.text)?)
                    .html(text(content.html)?)
                    .build(),
            )
            .build();
        self.ses
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn sms(&self, to: &str, text: String) -> Result<(), SendError> {
        self.sns
            .publish()
            .phone_number(to)
            .message(text)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
