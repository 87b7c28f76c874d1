//! A proxy in front of moto for the process tests of `herald-local` on `HERALD_BACKEND=aws`
//! (`AWS_ENDPOINT_URL` pointed at it): it forwards every AWS call, and on command holds SQS's
//! answers back (a crawling SQS), refuses SQS calls (an SQS that is down) or some DynamoDB
//! calls (a fault of one kind of request), or kills a process
//! with SIGKILL at the moment it sends a message to a queue (a function that dies between its
//! DynamoDB write and its SQS send).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

/// How long a held-back SQS answer waits: far beyond any limit under test.
pub const HELD: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Switches {
    /// SQS's answers held back by [`HELD`] (after SQS acted on the request).
    slow_sqs: AtomicBool,
    /// SQS calls answered 503 without reaching moto.
    refuse_sqs: AtomicBool,
    /// DynamoDB calls of operation `.0` whose body holds `.1`, answered 400 (a
    /// `ValidationException`: not retried by the SDK) without reaching moto.
    refuse_dynamodb: Mutex<Option<(String, String)>>,
    /// The next message sent to a queue whose URL ends with `.0` kills process `.1`; the
    /// message is not forwarded.
    kill_at_send: Mutex<Option<(String, u32)>>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    switches: Arc<Switches>,
}

/// The proxy: its URL, and its switches.
pub struct MotoProxy {
    pub url: String,
    switches: Arc<Switches>,
}

impl MotoProxy {
    /// A proxy on a free loopback port in front of `crate::moto_endpoint()`.
    pub async fn start() -> Self {
        let switches = Arc::new(Switches::default());
        let proxy = Proxy {
            upstream: crate::moto_endpoint(),
            http: reqwest::Client::new(),
            switches: switches.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            switches,
        }
    }

    /// While on, SQS's answers come [`HELD`] late.
    pub fn hold_sqs_answers(&self, on: bool) {
        self.switches.slow_sqs.store(on, Ordering::SeqCst);
    }

    /// While on, every SQS call is answered 503 (moto never sees it).
    pub fn refuse_sqs(&self, on: bool) {
        self.switches.refuse_sqs.store(on, Ordering::SeqCst);
    }

    /// While set, DynamoDB's `operation` calls whose request body contains `containing` are
    /// refused (400, which the SDK does not retry); `None` lets everything through again.
    pub fn refuse_dynamodb(&self, refused: Option<(&str, &str)>) {
        let mut switch = self
            .switches
            .refuse_dynamodb
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *switch = refused.map(|(op, text)| (op.to_owned(), text.to_owned()));
    }

    /// The next message sent to a queue whose URL ends with `queue` kills `pid` (SIGKILL)
    /// before it reaches SQS.
    pub fn kill_at_send(&self, queue: &str, pid: u32) {
        let mut armed = self
            .switches
            .kill_at_send
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *armed = Some((queue.to_owned(), pid));
    }

    /// Whether the armed kill is still waiting for its send.
    pub fn kill_armed(&self) -> bool {
        self.switches
            .kill_at_send
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }
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
    let sqs = target.starts_with("AmazonSQS.");
    if sqs && proxy.switches.refuse_sqs.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            HeaderMap::new(),
            Bytes::new(),
        );
    }
    let refused = proxy
        .switches
        .refuse_dynamodb
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .is_some_and(|(op, text)| {
            target == format!("DynamoDB_20120810.{op}")
                && String::from_utf8_lossy(&body).contains(text.as_str())
        });
    if refused {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        let error = r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"refused by the test's proxy"}"#;
        return (StatusCode::BAD_REQUEST, headers, Bytes::from(error));
    }
    if matches!(
        target.as_str(),
        "AmazonSQS.SendMessage" | "AmazonSQS.SendMessageBatch"
    ) {
        let queue = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|b| b["QueueUrl"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let victim = {
            let mut armed = proxy
                .switches
                .kill_at_send
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match armed.as_ref() {
                Some((suffix, pid)) if queue.ends_with(suffix.as_str()) => {
                    let pid = *pid;
                    *armed = None;
                    Some(pid)
                }
                _ => None,
            }
        };
        if let Some(pid) = victim {
            let killed = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            assert!(killed.is_ok_and(|s| s.success()), "kill -KILL {pid} failed");
            return (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new());
        }
    }
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
    if sqs && proxy.switches.slow_sqs.load(Ordering::SeqCst) {
        tokio::time::sleep(HELD).await;
    }
    (status, out, bytes)
}
