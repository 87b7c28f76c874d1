//! Helpers of the delivery tests: a webhook receiver on loopback that answers as scripted, an app
//! whose webhooks may target loopback, and a pump that runs fan-out and sender until the queues
//! are quiet.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use shared::adapters::Transports;
use shared::adapters::mail::aws::AwsSenders;
use shared::adapters::mail::outbox::Outbox;
use shared::app::AppState;
use shared::ports::queue::consume;
use shared::ports::transport::Transport;

use crate::{
    Backend, FakeResolver, TestApp, moto_endpoint, moto_sdk_config, new_backends_with, test_config,
};

/// The sender address of the email tests (its SES identity is created on moto).
pub const EMAIL_FROM: &str = "herald@example.com";

/// SES and SNS on moto, the sender's identity created.
pub async fn moto_senders() -> AwsSenders {
    let sdk = moto_sdk_config().await;
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    let created = ses
        .create_email_identity()
        .email_identity(EMAIL_FROM)
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_already_exists_exception());
        assert!(exists, "creating the SES identity on moto: {e:?}");
    }
    AwsSenders {
        ses,
        sns: aws_sdk_sns::Client::new(&sdk),
        from: Some(EMAIL_FROM.into()),
    }
}

/// What moto "sent": emails as (to, subject), SMS as (phone, text), from its data endpoint.
pub async fn moto_sent() -> (Vec<(String, String)>, Vec<(String, String)>) {
    // scripts/moto_server.py restricts data.json to these services (the whole of it is huge).
    let url = format!("{}/moto-api/data.json?services=ses,sns", moto_endpoint());
    let data: serde_json::Value = reqwest_json(&url).await;
    let emails = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|m| {
            let subject = m["subject"].as_str().unwrap_or_default().to_owned();
            m["destinations"]["ToAddresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |to| (to.as_str().unwrap_or_default().to_owned(), subject.clone()))
        })
        .collect();
    let sms = data["sns"]["SMS"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["phone_number"].as_str().unwrap_or_default().to_owned(),
                m["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (emails, sms)
}

async fn reqwest_json(url: &str) -> serde_json::Value {
    let client = shared::adapters::http::http_client().unwrap_or_else(|e| panic!("client: {e}"));
    let res = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    res.json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Hit {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// A scripted answer: a status, and a `Retry-After` in seconds.
pub type Answer = (u16, Option<u64>);

/// A webhook receiver on loopback: records every request, answers the scripted statuses in order
/// (each with an optional `Retry-After`), then 200.
#[derive(Clone, Default)]
pub struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    /// The first request's answer waits this long (a slow or hung receiver).
    first_delay: Option<Duration>,
    /// Every answer waits this long (a receiver that keeps deliveries in flight).
    every_delay: Option<Duration>,
    /// Requests answered so far.
    answered: Arc<std::sync::atomic::AtomicUsize>,
    /// Until then, every request is answered 503 (an outage).
    pub unavailable_until: Option<std::time::Instant>,
    /// Each delivery's first this many requests (by `webhook-id`) are answered 503: an outage
    /// counted in attempts, the same on any machine.
    failing_first: Option<usize>,
    pub url: String,
}

impl Receiver {
    pub async fn start(script: &[Answer]) -> Self {
        Self::start_slow(script, None).await
    }

    /// A receiver whose first answer takes `first_delay`.
    pub async fn start_slow(script: &[Answer], first_delay: Option<Duration>) -> Self {
        Self::serve(Receiver {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            first_delay,
            ..Default::default()
        })
        .await
    }

    /// A receiver answering 200 to everything, each answer after `delay`.
    pub async fn start_pacing(delay: Duration) -> Self {
        Self::serve(Receiver {
            every_delay: Some(delay),
            ..Default::default()
        })
        .await
    }

    /// A receiver that answers 503 to each delivery's first `n` requests (by `webhook-id`), then
    /// 200.
    pub async fn start_failing_first(n: usize) -> Self {
        Self::serve(Receiver {
            failing_first: Some(n),
            ..Default::default()
        })
        .await
    }

    /// A receiver that is down for a while: nothing listens on its port (connections are
    /// refused) for `refusing`, then it answers 503 until `up` has passed since the call, then
    /// 200.
    pub async fn start_after_outage(refusing: Duration, up: Duration) -> Self {
        // A free port, released: connecting to it is refused until the receiver binds it.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("a free port: {e}"));
        let receiver = Receiver {
            unavailable_until: Some(std::time::Instant::now() + up),
            url: format!("http://{addr}/hook"),
            ..Default::default()
        };
        let app = receiver.router();
        tokio::spawn(async move {
            tokio::time::sleep(refusing).await;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .unwrap_or_else(|e| panic!("bind {addr} again: {e}"));
            axum::serve(listener, app).await
        });
        receiver
    }

    async fn serve(mut receiver: Receiver) -> Self {
        let app = receiver.router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr: SocketAddr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver.url = format!("http://{addr}/hook");
        receiver
    }

    fn router(&self) -> Router {
        let state = self.clone();
        Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let (first, seen) = {
                        let mut hits = state.hits.lock().unwrap_or_else(|e| e.into_inner());
                        let id = headers.get("webhook-id").cloned();
                        let seen = hits
                            .iter()
                            .filter(|h| h.headers.get("webhook-id").cloned() == id)
                            .count();
                        hits.push(Hit {
                            headers,
                            body,
                            at: std::time::Instant::now(),
                        });
                        (hits.len() == 1, seen)
                    };
                    if let (true, Some(delay)) = (first, state.first_delay) {
                        tokio::time::sleep(delay).await;
                    }
                    if let Some(delay) = state.every_delay {
                        tokio::time::sleep(delay).await;
                    }
                    state
                        .answered
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if state
                        .unavailable_until
                        .is_some_and(|until| std::time::Instant::now() < until)
                        || state.failing_first.is_some_and(|n| seen < n)
                    {
                        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
                    }
                    let next = state
                        .script
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .pop_front();
                    let (status, after) = next.unwrap_or((200, None));
                    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                    let mut headers = HeaderMap::new();
                    if let Some(after) = after {
                        headers.insert("retry-after", after.into());
                    }
                    (status, headers, "ok").into_response()
                }
            }),
        )
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests received so far (answered or not yet).
    pub fn received(&self) -> usize {
        self.hits.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The system clock, moved forward by the tests (to let a lease run out).
#[derive(Debug, Default)]
pub struct ShiftedClock(std::sync::atomic::AtomicI64);

impl ShiftedClock {
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl shared::model::Clock for ShiftedClock {
    fn now(&self) -> time::OffsetDateTime {
        let shift = self.0.load(std::sync::atomic::Ordering::SeqCst);
        shared::model::SystemClock.now() + time::Duration::seconds(shift)
    }
}

/// An app whose webhooks may target loopback (the receiver), with a sender on the tests' retry
/// schedule ([`crate::test_schedule`]: five attempts, the first retry within 20 ms) and an outbox
/// for email and SMS.
pub struct DeliveryApp {
    pub app: TestApp,
    /// The Slack stand-in's incoming webhook (what Slack notifications deliver to).
    pub slack: crate::SlackHook,
    pub transports: Transports,
    pub outbox: Arc<Outbox>,
    pub clock: Arc<ShiftedClock>,
    /// How long a message the pump received stays hidden.
    pub visibility: Duration,
    /// The pump stops after this long without work.
    pub quiet: Duration,
}

impl DeliveryApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::with_schedule(backend, crate::test_schedule()).await
    }

    /// An app whose sender retries on `schedule`, over a delivery queue whose messages go to the
    /// dead letters after as many receives as it gives attempts.
    pub async fn with_schedule(
        backend: Backend,
        schedule: shared::model::retry::RetrySchedule,
    ) -> Self {
        let (backends, calls) = new_backends_with(backend, schedule.attempts()).await;
        let (slack_url, slack) = crate::slack_stand_in_with_hook().await;
        let config = shared::config::Config {
            allow_private_targets: true,
            retry_schedule: schedule,
            ..test_config(slack_url)
        };
        let clock = Arc::new(ShiftedClock::default());
        let state = AppState::new(config, backends)
            .with_resolver(Arc::new(FakeResolver::default()))
            .with_clock(clock.clone());
        let app = TestApp::on_state(backend, state, calls).await;
        let outbox = Arc::new(Outbox::new());
        let mail: Arc<dyn Transport> = match backend {
            Backend::Sqlite => outbox.clone(),
            Backend::Moto => Arc::new(moto_senders().await),
        };
        let transports = app
            .state
            .transports(mail)
            .unwrap_or_else(|e| panic!("transports: {e}"));
        Self {
            app,
            slack,
            transports,
            outbox,
            clock,
            visibility: Duration::from_secs(30),
            quiet: Duration::from_millis(300),
        }
    }

    /// Runs fan-out and sender until both queues stay empty for a while and no retry is due
    /// (SQS delays in whole seconds, rounded up), or `limit` passes.
    pub async fn pump(&self, limit: Duration) {
        let state = &self.app.state;
        let started = std::time::Instant::now();
        let mut idle_since = std::time::Instant::now();
        let mut retries_due = std::time::Instant::now();
        while started.elapsed() < limit
            && (idle_since.elapsed() < self.quiet || std::time::Instant::now() < retries_due)
        {
            let fanned = consume(&*state.fanout, self.visibility, |batch| {
                shared::workers::fanout::process_batch(state.fanout_worker(), batch)
            })
            .await
            .unwrap_or_else(|e| panic!("fan-out queue: {e}"));
            let sent = shared::workers::sender::round(
                &state.sender(&self.transports),
                &*state.inbox,
                self.visibility,
            )
            .await
            .unwrap_or_else(|e| panic!("delivery queue: {e}"));
            if fanned.is_empty() && sent.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            idle_since = std::time::Instant::now();
            for disposition in sent {
                if let shared::ports::queue::Disposition::Delay(wait) = disposition {
                    let wait = match self.app.backend {
                        Backend::Sqlite => wait,
                        Backend::Moto => Duration::from_secs(
                            u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX),
                        ),
                    };
                    // Then a quiet spell of receives after it is visible.
                    retries_due = retries_due.max(idle_since + wait + self.quiet);
                }
            }
        }
    }
}

/// A queue that refuses the next `fail` sends (SQS unavailable), then passes everything through.
pub struct FlakyQueue<M: shared::ports::queue::QueueMessage> {
    pub inner: Arc<dyn shared::ports::queue::Queue<M>>,
    pub fail: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl<M: shared::ports::queue::QueueMessage> shared::ports::queue::Queue<M> for FlakyQueue<M> {
    async fn send(&self, messages: &[M]) -> Result<(), shared::ports::queue::QueueError> {
        self.refuse()?;
        self.inner.send(messages).await
    }

    async fn send_delayed(
        &self,
        messages: &[(M, Duration)],
    ) -> Result<(), shared::ports::queue::QueueError> {
        self.refuse()?;
        self.inner.send_delayed(messages).await
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<shared::ports::queue::Received<M>>, shared::ports::queue::QueueError> {
        self.inner.receive(max, visibility).await
    }

    async fn ack_all(&self, receipts: &[String]) -> Result<(), shared::ports::queue::QueueError> {
        self.inner.ack_all(receipts).await
    }

    async fn delay(
        &self,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), shared::ports::queue::QueueError> {
        self.inner.delay(receipt, delay).await
    }
}

impl<M: shared::ports::queue::QueueMessage> FlakyQueue<M> {
    /// Wraps `inner`, refusing its next `fail` sends.
    pub fn wrap(inner: Arc<dyn shared::ports::queue::Queue<M>>, fail: usize) -> Arc<Self> {
        Arc::new(Self {
            inner,
            fail: std::sync::atomic::AtomicUsize::new(fail),
        })
    }

    /// Spends one of the sends to refuse, if any are left.
    fn refuse(&self) -> Result<(), shared::ports::queue::QueueError> {
        let left = self.fail.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.fail
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(shared::ports::queue::QueueError::Unavailable(
                "injected: SQS unavailable".into(),
            ));
        }
        Ok(())
    }

    pub fn fail_next(&self, n: usize) {
        self.fail.store(n, std::sync::atomic::Ordering::SeqCst);
    }
}
