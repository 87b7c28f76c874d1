//! A dependency that crawls: `herald-local` on `HERALD_BACKEND=aws`, its AWS calls through a
//! proxy in front of moto that can hold SQS's answers back. Every AWS call has a time limit
//! (`HERALD_AWS_TIMEOUT_MS`), so a crawling SQS ends the request in a clean 503 in about that
//! limit instead of holding it (a Lambda function would be killed at its own timeout halfway
//! through), and nothing of the refused event is left: the same key again is a new event,
//! delivered exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, temp_path};
use serde_json::{Value, json};

/// How long a held-back SQS answer waits: far beyond the limit under test, so a request that
/// does not give up by its limit cannot pass.
const HELD: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    /// While set, SQS's answers are held back by [`HELD`] (after SQS has acted on the request:
    /// the slow answer of a service that did the work, the harder case).
    slow_sqs: Arc<AtomicBool>,
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut request = proxy
        .http
        .request(method, format!("{}{path}", proxy.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.send().await else {
        return (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new());
    };
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out.insert(name.clone(), value.clone());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    if target.starts_with("AmazonSQS.") && proxy.slow_sqs.load(Ordering::SeqCst) {
        tokio::time::sleep(HELD).await;
    }
    (status, out, bytes)
}

/// The proxy's base URL and its switch.
async fn start_proxy() -> (String, Arc<AtomicBool>) {
    let slow_sqs = Arc::new(AtomicBool::new(false));
    let proxy = Proxy {
        upstream: herald_tests::moto_endpoint(),
        http: reqwest::Client::new(),
        slow_sqs: slow_sqs.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), slow_sqs)
}

/// Emits a `buildCreated` event with the idempotency key `key`: the status and the answer.
async fn emit(local: &Local, key: &str) -> (u16, Value) {
    let event = json!({"type": "buildCreated", "idempotencyKey": key, "data": {"appName": "Field Service", "version": "4.2.0", "buildNumber": "1187", "platform": "iOS", "createdBy": "Grace", "url": "https://console.example.com/b/1187"}});
    local
        .admin(reqwest::Method::POST, &local.path("/events"), Some(event))
        .await
}

mod moto {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_sqs_that_does_not_answer_in_time_ends_the_emit_in_a_503_and_leaves_nothing_of_it() {
        let (proxy, slow_sqs) = start_proxy().await;
        let table = format!("herald-slow-{}", uuid::Uuid::new_v4().simple());
        let local = Local::start(
            &temp_path("data"),
            &[
                ("HERALD_BACKEND", "aws"),
                ("AWS_ENDPOINT_URL", &proxy),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("TABLE_NAME", &table),
                // One call may take 2 s here; SQS's held answer would take 60.
                ("HERALD_AWS_TIMEOUT_MS", "2000"),
            ],
        );
        let receiver = Receiver::start(&[]).await;
        let (status, created) = local
            .admin(
                reqwest::Method::POST,
                &local.path("/notifications"),
                Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": receiver.url}}})),
            )
            .await;
        assert_eq!(status, 200, "{created}");

        slow_sqs.store(true, Ordering::SeqCst);
        let started = Instant::now();
        let (status, refused) = emit(&local, "slow-1").await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{refused}");
        assert_eq!(refused["status"], false);
        assert_eq!(refused["error"]["code"], 5003, "{refused}");
        // Well under the held answer's 60 s: the call gave up at its limit (and the event's
        // record was undone) instead of waiting for SQS.
        assert!(took < Duration::from_secs(30), "took {took:?}");

        // SQS answers in time again: the same key is a new event (nothing of the first one was
        // kept to be replayed), delivered once.
        slow_sqs.store(false, Ordering::SeqCst);
        let (status, accepted) = emit(&local, "slow-1").await;
        assert_eq!(status, 202, "{accepted}");
        let id = accepted["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, sent) = local
                .admin(
                    reqwest::Method::GET,
                    &local.path(&format!("/deliveries?eventId={id}&status=sent")),
                    None,
                )
                .await;
            if sent["data"]["items"]
                .as_array()
                .is_some_and(|i| i.len() == 1)
            {
                break;
            }
            assert!(Instant::now() < deadline, "not delivered: {sent}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let hits = receiver.hits();
        assert_eq!(hits.len(), 1, "delivered exactly once");
        assert_eq!(hits[0].json()["data"]["appName"], "Field Service");
    }
}
