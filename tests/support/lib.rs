//! Helpers shared by the end-to-end tests: the two backends (SQLite in a temporary file, and
//! DynamoDB + SQS on moto), an app spawned on either, a Slack stand-in on loopback, a resolver the
//! tests control, and a DynamoDB call counter.
//!
//! The DynamoDB backend needs moto: `scripts/test` starts it and exports `HERALD_MOTO_ENDPOINT`.
//! Without it the moto tests fail (they are never skipped) with a message saying so.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::api::Route;
use shared::api::organizations::{NewOrganization, provision};
use shared::app::{AppState, Backends};
use shared::config::Config;
use shared::model::{OrgId, OrgKind, Plan};
use shared::net::Resolver;
use shared::queue::sqlite::SqliteQueue;
use shared::queue::sqs::SqsQueue;
use shared::queue::{Queue, QueueMessage};
use shared::store::Store;
use shared::store::dynamodb::DynamoStore;
use shared::store::sqlite::Sqlite;
use tower::ServiceExt;

pub mod delivery;
pub mod local;

/// Declares each listed `async fn name(backend: Backend)` as two tests: `sqlite::name` and
/// `moto::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(herald_tests::Backend::Sqlite).await })+
        }
        mod moto {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(herald_tests::Backend::Moto).await })+
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded backend: a new SQLite database in a temporary file.
    Sqlite,
    /// DynamoDB and SQS on moto: a new table and new queues.
    Moto,
}

/// A new, empty embedded database in a temporary file of its own (under
/// `$TMPDIR/herald-tests/`, which `scripts/test` empties before each run).
pub fn temp_database() -> Sqlite {
    let dir = std::env::temp_dir().join("herald-tests");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!(
        "{}-{}.db",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    Sqlite::open(&path).unwrap_or_else(|e| panic!("opening a test database: {e}"))
}

/// A queued email delivery of a test notification to `to` in `org` (the shape of a queue
/// message before its claim).
pub fn queued_delivery(
    org: &OrgId,
    id: uuid::Uuid,
    to: shared::model::Email,
) -> shared::store::Delivery {
    use shared::model::Clock;
    let now = shared::model::SystemClock.now();
    shared::store::Delivery {
        id,
        organization: org.clone(),
        event: None,
        template: shared::templates::get(shared::templates::TemplateKey::Test).id,
        user: None,
        channel: shared::store::Channel::Email { to },
        language: shared::model::Language::Fr,
        data: Some(serde_json::json!({"userName": "admin", "n": 1})),
        status: shared::model::DeliveryStatus::Queued,
        attempts: 0,
        last_error: None,
        reason: None,
        lease_until: None,
        created_at: now,
        updated_at: now,
    }
}

/// moto's endpoint, from `HERALD_MOTO_ENDPOINT` (set by `scripts/test`).
pub fn moto_endpoint() -> String {
    match std::env::var("HERALD_MOTO_ENDPOINT") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "HERALD_MOTO_ENDPOINT is not set: run the suite with scripts/test, which starts moto"
        ),
    }
}

/// Counts DynamoDB calls by operation (`GetItem`, `TransactWriteItems`, ...), retries included;
/// and fails the ones it is told to, as an unreachable DynamoDB would (the client's call returns
/// an error before anything is sent).
#[derive(Debug, Default)]
pub struct CallCounter {
    calls: Mutex<Vec<String>>,
    faults: Mutex<Vec<Fault>>,
}

#[derive(Debug)]
struct Fault {
    operation: String,
    skip: usize,
    fail: usize,
}

impl CallCounter {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Lets the next `skip` calls of `operation` through, then fails the `fail` after them.
    pub fn fail(&self, operation: &str, skip: usize, fail: usize) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Fault {
                operation: operation.to_owned(),
                skip,
                fail,
            });
    }

    /// Whether faults are still waiting for their calls.
    pub fn faults_pending(&self) -> bool {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|f| f.fail > 0)
    }

    /// Records a call; `true` if it is to fail.
    fn record(&self, operation: String) -> bool {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let fails = match faults
            .iter_mut()
            .find(|f| f.operation == operation && f.fail > 0)
        {
            Some(f) if f.skip > 0 => {
                f.skip -= 1;
                false
            }
            Some(f) => {
                f.fail -= 1;
                true
            }
            None => false,
        };
        faults.retain(|f| f.fail > 0);
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(operation);
        fails
    }
}

#[derive(Debug)]
struct Counting(Arc<CallCounter>);

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "herald-tests-call-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        let op = target.rsplit('.').next().unwrap_or_default().to_owned();
        if self.0.record(op.clone()) {
            return Err(format!("injected: DynamoDB unavailable for {op}").into());
        }
        Ok(())
    }
}

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// The SDK configuration pointing at moto.
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

/// A new delivery queue of its own on moto (with its dead-letter queue, redrive after 5).
pub async fn moto_queue<M: QueueMessage>() -> SqsQueue<M> {
    moto_counted_queue(Arc::new(CallCounter::default())).await
}

/// [`moto_queue`], counting its SQS calls into `counter`.
pub async fn moto_counted_queue<M: QueueMessage>(counter: Arc<CallCounter>) -> SqsQueue<M> {
    let config = aws_sdk_sqs::config::Builder::from(&moto_sdk_config().await)
        .interceptor(Counting(counter))
        .build();
    let client = aws_sdk_sqs::Client::from_conf(config);
    let name = format!("herald-test-{}", uuid::Uuid::new_v4().simple());
    SqsQueue::create(client, &name, 5)
        .await
        .unwrap_or_else(|e| panic!("creating the test queue on moto: {e}"))
}

/// A fresh, empty queue with a way to read its dead letters: on a new SQLite database, or a new
/// queue of its own (and its dead-letter queue) on moto.
pub async fn new_queue<M: QueueMessage>(backend: Backend) -> ContractQueue<M> {
    match backend {
        Backend::Sqlite => {
            let queue = Arc::new(SqliteQueue::<M>::new(
                temp_database(),
                "test",
                shared::queue::MAX_RECEIVES,
            ));
            ContractQueue {
                queue: queue.clone(),
                dead: DeadLetters::Sqlite(queue),
            }
        }
        Backend::Moto => {
            let queue = Arc::new(moto_queue::<M>().await);
            ContractQueue {
                queue: queue.clone(),
                dead: DeadLetters::Sqs(queue),
            }
        }
    }
}

/// A queue under test, and where its dead letters go.
pub struct ContractQueue<M: QueueMessage> {
    pub queue: Arc<dyn Queue<M>>,
    dead: DeadLetters<M>,
}

enum DeadLetters<M: QueueMessage> {
    Sqlite(Arc<SqliteQueue<M>>),
    Sqs(Arc<SqsQueue<M>>),
}

impl<M: QueueMessage> ContractQueue<M> {
    /// The messages redriven to the dead-letter queue.
    pub async fn dead_letters(&self) -> Vec<M> {
        match &self.dead {
            DeadLetters::Sqlite(q) => q.dead_letters(),
            DeadLetters::Sqs(q) => q.dead_letters().await,
        }
        .unwrap_or_else(|e| panic!("reading the dead letters: {e}"))
    }
}

/// The store, queues and event intake of `backend`, fresh: one new SQLite database holding all
/// of them, or a new table and two new queues on moto. The counter counts the DynamoDB calls.
pub async fn new_backends(backend: Backend) -> (Backends, Arc<CallCounter>) {
    match backend {
        Backend::Sqlite => (
            Backends::sqlite(temp_database()),
            Arc::new(CallCounter::default()),
        ),
        Backend::Moto => {
            let (store, calls) = new_store(backend).await;
            let backends = Backends::separate(
                store,
                Arc::new(moto_queue::<shared::queue::DeliveryMessage>().await),
                Arc::new(moto_queue::<shared::queue::FanoutMessage>().await),
            );
            (backends, calls)
        }
    }
}

/// A DynamoDB client on moto, counting its calls into `counter`.
pub async fn moto_client(counter: Arc<CallCounter>) -> aws_sdk_dynamodb::Client {
    let shared = moto_sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .interceptor(Counting(counter))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A fresh, empty store: a new SQLite database, or a new table of its own on moto.
pub async fn new_store(backend: Backend) -> (Arc<dyn Store>, Arc<CallCounter>) {
    let counter = Arc::new(CallCounter::default());
    match backend {
        Backend::Sqlite => (Arc::new(temp_database()), counter),
        Backend::Moto => {
            let n = TABLES.fetch_add(1, Ordering::SeqCst);
            let table = format!(
                "herald-test-{}-{n}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            );
            let store = DynamoStore::new(moto_client(counter.clone()).await, table);
            store
                .create_table_if_missing()
                .await
                .unwrap_or_else(|e| panic!("creating the test table on moto: {e}"));
            counter.take();
            (Arc::new(store), counter)
        }
    }
}

/// Names the tests resolve: a public host, a private one and a metadata one.
#[derive(Debug)]
pub struct FakeResolver(HashMap<&'static str, IpAddr>);

impl Default for FakeResolver {
    fn default() -> Self {
        Self(HashMap::from([
            ("hooks.example.com", IpAddr::from([93, 184, 216, 34])),
            ("internal.example.com", IpAddr::from([10, 0, 0, 5])),
            ("metadata.example.com", IpAddr::from([169, 254, 169, 254])),
            ("localhost", IpAddr::from([127, 0, 0, 1])),
        ]))
    }
}

#[async_trait]
impl Resolver for FakeResolver {
    async fn resolve(&self, host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        self.0
            .get(host)
            .map(|ip| vec![*ip])
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
    }
}

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

pub const OPERATOR_TOKEN: &str = "operator-secret-for-tests";

/// The test configuration: private targets refused (so the SSRF rules are exercised), Slack on
/// the stand-in.
pub fn test_config(slack_url: String) -> Config {
    Config {
        operator_token: Some(OPERATOR_TOKEN.into()),
        slack_api_url: slack_url,
        slack_client_id: Some("test-client".into()),
        slack_client_secret: Some("test-secret".into()),
        allow_private_targets: false,
        ..Config::default()
    }
}

/// One organization on one backend, with the whole API mounted in-process.
pub struct TestApp {
    pub backend: Backend,
    pub router: Router,
    pub state: AppState,
    pub org: String,
    pub admin_token: String,
    pub admin_id: String,
    pub calls: Arc<CallCounter>,
}

pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    pub headers: http::HeaderMap,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let (backends, calls) = new_backends(backend).await;
        let state = AppState::new(test_config(slack_stand_in().await), backends)
            .with_resolver(Arc::new(FakeResolver::default()));
        Self::on_state(backend, state, calls).await
    }

    pub async fn on_state(backend: Backend, state: AppState, calls: Arc<CallCounter>) -> Self {
        Self::on_state_of_kind(backend, state, calls, OrgKind::Production).await
    }

    /// A sandbox organization on a fresh store.
    pub async fn spawn_sandbox(backend: Backend) -> Self {
        let app = Self::spawn(backend).await;
        Self::on_state_of_kind(backend, app.state, app.calls, OrgKind::Sandbox).await
    }

    pub async fn on_state_of_kind(
        backend: Backend,
        state: AppState,
        calls: Arc<CallCounter>,
        kind: OrgKind,
    ) -> Self {
        let created = provision(
            &state,
            NewOrganization {
                id: OrgId::generate(),
                name: "Test org".into(),
                kind,
                plan: Plan::Paid,
                admin_username: None,
                admin_email: None,
                admin_phone: None,
                admin_token: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("provision: {e:?}"));
        calls.take();
        Self {
            backend,
            router: shared::api::router(state.clone(), Route::ALL),
            state,
            org: created.organization.id,
            admin_token: created.token,
            admin_id: created.admin.id.to_string(),
            calls,
        }
    }

    /// Sends a request through the router (no socket). `body` is sent as given.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Body::from(body))
            .unwrap_or_else(|e| panic!("request: {e}"));
        let res = self
            .router
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Response {
            status,
            body,
            headers,
        }
    }

    /// Sends JSON with `token` as the bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap_or_default())
            .unwrap_or_default();
        self.raw(method, path, &headers, bytes).await
    }

    /// As the organization's admin.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call(method, path, Some(&self.admin_token.clone()), body)
            .await
    }

    /// `/v1/organizations/<this org><rest>`
    pub fn path(&self, rest: &str) -> String {
        format!("/v1/organizations/{}{rest}", self.org)
    }

    /// Creates a user with `roles` and returns (user id, a token of theirs).
    pub async fn user_with_token(&self, username: &str, roles: &[&str]) -> (String, String) {
        let user = self
            .admin(
                Method::POST,
                &self.path("/users"),
                Some(serde_json::json!({"username": username, "email": format!("{username}@example.com"), "roles": roles})),
            )
            .await;
        assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
        let id = user.body["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let token = self
            .admin(
                Method::POST,
                &self.path("/tokens"),
                Some(serde_json::json!({"userId": id})),
            )
            .await;
        assert_eq!(token.status, StatusCode::CREATED, "{}", token.body);
        (
            id,
            token.body["data"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// Every notification of the organization, as the admin sees them.
    pub async fn notifications(&self) -> Vec<Value> {
        let res = self
            .admin(Method::GET, &self.path("/notifications?limit=100"), None)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.body["data"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Asserts an error envelope: status, code, message, and (when given) exactly these details.
pub fn assert_error(res: &Response, status: u16, code: u64, details: Option<&[(&str, &str)]>) {
    assert_eq!(res.status.as_u16(), status, "body: {}", res.body);
    assert_eq!(res.body["status"], Value::Bool(false), "body: {}", res.body);
    assert_eq!(
        res.body["error"]["code"].as_u64(),
        Some(code),
        "body: {}",
        res.body
    );
    assert!(
        res.body["error"]["requestId"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "body: {}",
        res.body
    );
    if let Some(expected) = details {
        let got: Vec<(String, String)> = res.body["error"]["details"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|d| {
                (
                    d["field"].as_str().unwrap_or_default().to_owned(),
                    d["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(f, m)| ((*f).to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(got, want, "details of {}", res.body);
    }
}

/// A new organization of `kind` with its admin `admin` and the admin's token, written to `store`
/// (where the store-level tests start).
pub async fn organization_in(
    store: &dyn Store,
    kind: OrgKind,
) -> (shared::store::Organization, shared::store::User) {
    use shared::model::{Clock, Email, Role, SystemClock, Username};
    let org = OrgId::generate();
    let now = SystemClock.now();
    let admin = shared::store::User {
        id: uuid::Uuid::now_v7(),
        organization: org.clone(),
        username: Username::parse("admin").unwrap_or_else(|e| panic!("{e}")),
        email: Email::parse("admin@example.com").unwrap_or_else(|e| panic!("{e}")),
        phone: None,
        roles: vec![Role::Admin],
        created_at: now,
    };
    let issued = shared::auth::issue_token(&org);
    let token = shared::store::TokenRecord {
        id: issued.id,
        organization: org.clone(),
        hash: issued.hash,
        user_id: admin.id,
        roles: admin.roles.clone(),
        permissions: None,
        expires_at: None,
        created_at: now,
    };
    let organization = shared::store::Organization {
        id: org,
        name: "Org".into(),
        kind,
        plan: Plan::Paid,
        created_at: now,
    };
    store
        .create_organization(&organization, &admin, &token)
        .await
        .unwrap_or_else(|e| panic!("creating the organization: {e}"));
    (organization, admin)
}
