//! The delivery queue on SQS: SendMessageBatch (10 entries per call, calls concurrent, failed
//! entries retried with backoff), ReceiveMessage, DeleteMessageBatch.
//!
//! The SQS client is built on first use from the process's shared SDK configuration, so the
//! functions that never touch the queue do not pay for it at cold start.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::ports::queue::{DeliveryMessage, Queue, QueueError, QueueMessage, Received};

/// SendMessageBatch's limit.
pub const BATCH_MAX: usize = 10;
const CONCURRENCY: usize = 8;
const ATTEMPTS: u32 = 5;

pub struct SqsQueue<M = DeliveryMessage> {
    sdk: SdkConfig,
    client: OnceLock<Client>,
    url: String,
    /// Its dead-letter queue, when `create` made it.
    dead_letter_url: Option<String>,
    message: std::marker::PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for SqsQueue<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue").field("url", &self.url).finish()
    }
}

fn unavailable(e: impl std::error::Error + 'static) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(e).to_string())
}

impl<M: QueueMessage> SqsQueue<M> {
    pub fn new(sdk: SdkConfig, url: impl Into<String>) -> Self {
        Self {
            sdk,
            client: OnceLock::new(),
            url: url.into(),
            dead_letter_url: None,
            message: std::marker::PhantomData,
        }
    }

    /// A queue over an existing client (tests, and `create`).
    pub fn with_client(client: Client, url: impl Into<String>) -> Self {
        Self {
            sdk: SdkConfig::builder().build(),
            client: OnceLock::from(client),
            url: url.into(),
            dead_letter_url: None,
            message: std::marker::PhantomData,
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&self.sdk))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dead-letter queue `create` made, as a queue of its own (the local server on AWS
    /// drains it as the dead-letter functions do in Lambda); `None` for a queue given by URL.
    pub fn dead_letter_queue(&self) -> Option<SqsQueue<M>> {
        let url = self.dead_letter_url.clone()?;
        Some(Self::with_client(self.client().clone(), url))
    }

    /// Creates (or finds) the queue `name` and its dead-letter queue `<name>-dlq`, redriving after
    /// `max_receives` receives, as `template.yaml` declares them: for the local server on `aws`
    /// and for tests against moto.
    pub async fn create(client: Client, name: &str, max_receives: u32) -> Result<Self, QueueError> {
        let dlq = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .map_err(unavailable)?;
        let dlq_url = dlq.queue_url.unwrap_or_default();
        let arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(unavailable)?
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .unwrap_or_default();
        let policy =
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives});
        let queue = client
            .create_queue()
            .queue_name(name)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                policy.to_string(),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(Self {
            dead_letter_url: Some(dlq_url),
            ..Self::with_client(client, queue.queue_url.unwrap_or_default())
        })
    }

    /// Up to 10 of the messages redriven to the dead-letter queue `create` made (received with no
    /// visibility timeout: they stay there). None without one.
    pub async fn dead_letters(&self) -> Result<Vec<M>, QueueError> {
        let Some(url) = &self.dead_letter_url else {
            return Ok(Vec::new());
        };
        let out = self
            .client()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(unavailable)?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                serde_json::from_str(m.body.as_deref().unwrap_or_default())
                    .map_err(|e| QueueError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn send_chunk(&self, chunk: Vec<(M, Duration)>) -> Result<(), QueueError> {
        let mut pending: Vec<(String, String, i32)> = chunk
            .iter()
            .enumerate()
            .map(|(i, (m, delay))| {
                let seconds = (*delay).min(crate::ports::queue::MAX_SEND_DELAY).as_secs();
                serde_json::to_string(m)
                    .map(|body| (i.to_string(), body, i32::try_from(seconds).unwrap_or(0)))
                    .map_err(|e| QueueError::Corrupt(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|(id, body, delay)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .set_delay_seconds((*delay > 0).then_some(*delay))
                        .build()
                        .map_err(|e| QueueError::Corrupt(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = match self
                .client()
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if attempt + 1 < ATTEMPTS => {
                    tracing::warn!(error = %DisplayErrorContext(&e), "SendMessageBatch failed; retrying");
                    continue;
                }
                Err(e) => return Err(unavailable(e)),
            };
            let failed: Vec<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
            pending.retain(|(id, _, _)| failed.contains(&id.as_str()));
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(QueueError::Unavailable(format!(
            "{} messages not accepted after {ATTEMPTS} attempts",
            pending.len()
        )))
    }
}

#[async_trait]
impl<M: QueueMessage> Queue<M> for SqsQueue<M> {
    async fn send(&self, messages: &[M]) -> Result<(), QueueError> {
        let now: Vec<(M, Duration)> = messages
            .iter()
            .map(|m| (m.clone(), Duration::ZERO))
            .collect();
        self.send_delayed(&now).await
    }

    async fn send_delayed(&self, messages: &[(M, Duration)]) -> Result<(), QueueError> {
        let chunks: Vec<Vec<(M, Duration)>> =
            messages.chunks(BATCH_MAX).map(<[_]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| self.send_chunk(chunk))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Received<M>>, QueueError> {
        let out = self
            .client()
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, BATCH_MAX)).unwrap_or(10))
            .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(unavailable)?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let message = serde_json::from_str(m.body.as_deref().unwrap_or_default())
                    .map_err(|e| QueueError::Corrupt(e.to_string()))?;
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Ok(Received {
                    message,
                    receipt: m.receipt_handle.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect()
    }

    async fn ack_all(&self, receipts: &[String]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(BATCH_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(|e| QueueError::Corrupt(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client()
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(unavailable)?;
            if !out.failed.is_empty() {
                return Err(QueueError::Unavailable(format!(
                    "{} of {} deletes refused",
                    out.failed.len(),
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    async fn delay(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.client()
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            // Whole seconds, rounded up (a retry never comes early), and at most SQS's longest,
            // 12 hours (the retry schedule's steps are no longer).
            .visibility_timeout(
                i32::try_from(delay.as_millis().div_ceil(1000).min(43_200)).unwrap_or(43_200),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
