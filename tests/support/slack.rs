//! A stand-in for Slack's Web API and incoming webhooks, on a loopback port.

use super::*;

/// A Slack stand-in on loopback: `oauth.v2.access` accepts the code `good-code` (with client id
/// `test-client` / secret `test-secret`) and refuses any other with `invalid_code`.
pub async fn slack_stand_in() -> String {
    slack_stand_in_with_hook().await.0
}

/// A scripted Slack answer: status, body, `Retry-After` seconds.
pub type SlackAnswer = (u16, &'static str, Option<u64>);

/// Slack as the stand-in serves it: every message posted to the incoming webhook, every
/// `chat.postMessage` (with its `Authorization` header), and the answers to give to either
/// (status, body, `Retry-After`) in order, then `200 ok` (`{"ok": true}` for the API).
#[derive(Clone, Default)]
pub struct SlackHook {
    pub posts: Arc<Mutex<Vec<Value>>>,
    pub api_posts: Arc<Mutex<Vec<(String, Value)>>>,
    pub script: Arc<Mutex<std::collections::VecDeque<SlackAnswer>>>,
}

impl SlackHook {
    pub fn posts(&self) -> Vec<Value> {
        self.posts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn api_posts(&self) -> Vec<(String, Value)> {
        self.api_posts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn answer(&self, answers: &[SlackAnswer]) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(answers.iter().copied());
    }

    fn next_answer(&self, default: &'static str) -> (StatusCode, http::HeaderMap, &'static str) {
        let next = self
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let (status, body, after) = next.unwrap_or((200, default, None));
        let mut headers = http::HeaderMap::new();
        if let Some(after) = after {
            headers.insert("retry-after", after.into());
        }
        if body.starts_with('{') {
            headers.insert(
                "content-type",
                http::HeaderValue::from_static("application/json"),
            );
        }
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers,
            body,
        )
    }
}

/// [`slack_stand_in`], whose OAuth answer installs an incoming webhook served by the stand-in
/// itself (`/services/T1/B1/x`), and which serves `chat.postMessage`: returns the API base URL
/// and that Slack. The code `good-code` grants `incoming-webhook`; `chat-code` grants
/// `incoming-webhook,chat:write`.
pub async fn slack_stand_in_with_hook() -> (String, SlackHook) {
    use axum::Form;
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr: SocketAddr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let hook_url = format!("http://{addr}/services/T1/B1/x");
    let hook = SlackHook::default();
    let recorder = hook.clone();
    let api_recorder = hook.clone();
    let app = Router::new()
        .route(
            "/api/oauth.v2.access",
            post(move |Form(form): Form<HashMap<String, String>>| async move {
                let client_ok = form.get("client_id").map(String::as_str) == Some("test-client")
                    && form.get("client_secret").map(String::as_str) == Some("test-secret");
                let scope = match form.get("code").map(String::as_str) {
                    Some("good-code") => Some("incoming-webhook"),
                    Some("chat-code") => Some("incoming-webhook,chat:write"),
                    _ => None,
                };
                let body = match scope {
                    Some(scope) if client_ok => serde_json::json!({
                        "ok": true,
                        "access_token": "xoxb-test",
                        "scope": scope,
                        "team": {"id": "T1", "name": "Acme Team"},
                        "incoming_webhook": {"channel": "#alerts", "channel_id": "C1", "url": hook_url}
                    }),
                    _ => serde_json::json!({"ok": false, "error": "invalid_code"}),
                };
                axum::Json(body)
            }),
        )
        .route(
            "/api/chat.postMessage",
            post(
                move |headers: http::HeaderMap, axum::Json(message): axum::Json<Value>| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    api_recorder
                        .api_posts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((auth, message));
                    api_recorder.next_answer(r#"{"ok": true}"#)
                },
            ),
        )
        .route(
            "/services/T1/B1/x",
            post(move |axum::Json(message): axum::Json<Value>| async move {
                recorder
                    .posts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(message);
                recorder.next_answer("ok")
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api"), hook)
}
