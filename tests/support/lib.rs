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
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::sqlite::Sqlite;
use shared::adapters::sqlite::queue::SqliteQueue;
use shared::adapters::sqs::SqsQueue;
use shared::api::Route;
use shared::app::{AppState, Backends};
use shared::config::Config;
use shared::domain::organizations::{NewOrganization, provision};
use shared::model::{OrgId, OrgKind, Plan};
use shared::ports::net::Resolver;
use shared::ports::queue::{Queue, QueueMessage};
use shared::ports::store::Store;
use tower::ServiceExt;

mod backends;
pub mod delivery;
pub mod local;
pub mod proxy;
mod slack;

pub use backends::*;
pub use slack::*;

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
) -> shared::model::Delivery {
    use shared::model::Clock;
    let now = shared::model::SystemClock.now();
    shared::model::Delivery {
        data: Some(serde_json::json!({"userName": "admin", "n": 1})),
        ..shared::model::Delivery::queued(
            id,
            org.clone(),
            shared::templates::get(shared::templates::TemplateKey::Test).id,
            shared::model::Channel::Email { to },
            shared::model::Language::Fr,
            now,
            now,
        )
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
        retry_schedule: test_schedule(),
        ..Config::default()
    }
}

/// The tests' retry schedule: four quick steps, so five attempts, as many as the test queues'
/// receives ([`shared::ports::queue::MAX_RECEIVES`]).
pub fn test_schedule() -> shared::model::retry::RetrySchedule {
    "20ms,40ms,80ms,160ms"
        .parse()
        .unwrap_or_else(|e| panic!("the test schedule: {e}"))
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

    /// The same app on `clock` (a test that needs time to pass advances it instead of sleeping).
    pub fn with_clock(self, clock: Arc<dyn shared::model::Clock>) -> Self {
        self.restated(|state| state.with_clock(clock))
    }

    /// The same app on the state `change` makes of its own, its routes included.
    pub fn restated(mut self, change: impl FnOnce(AppState) -> AppState) -> Self {
        self.state = change(self.state);
        self.router = shared::api::router(self.state.clone(), Route::ALL);
        self
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
            &*state.store,
            state.clock.now(),
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
            org: created.organization.id.to_string(),
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
) -> (shared::model::Organization, shared::model::User) {
    use shared::model::{Clock, Email, Role, SystemClock, Username};
    let org = OrgId::generate();
    let now = SystemClock.now();
    let admin = shared::model::User {
        id: uuid::Uuid::now_v7(),
        organization: org.clone(),
        username: Username::parse("admin").unwrap_or_else(|e| panic!("{e}")),
        email: Email::parse("admin@example.com").unwrap_or_else(|e| panic!("{e}")),
        phone: None,
        roles: vec![Role::Admin],
        created_at: now,
    };
    let issued = shared::model::token::issue_token(&org);
    let token = shared::model::TokenRecord {
        id: issued.id,
        organization: org.clone(),
        hash: issued.hash,
        user_id: admin.id,
        roles: admin.roles.clone(),
        permissions: None,
        expires_at: None,
        created_at: now,
        last_used_at: None,
    };
    let organization = shared::model::Organization {
        id: org,
        name: "Org".into(),
        kind,
        plan: Plan::Paid,
        created_at: now,
        limits: None,
    };
    store
        .create_organization(&organization, &admin, &token)
        .await
        .unwrap_or_else(|e| panic!("creating the organization: {e}"));
    (organization, admin)
}

/// What a process part writes (log lines, metric documents), kept for the test to read.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Each line, parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// The repository's root (where `scripts/test` runs).
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A tool that `scripts/test` installs (`.venv-…/bin/…`, a Debian package's binary): its path,
/// or a failure saying so (never a skip).
pub fn installed(path: impl AsRef<std::path::Path>) -> std::path::PathBuf {
    let path = repo_root().join(path);
    assert!(
        path.exists(),
        "{} is missing: scripts/test installs it",
        path.display()
    );
    path
}
