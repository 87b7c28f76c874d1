//! The arm64 artefact runs: `get-notification` built for aarch64 (`scripts/build-functions
//! arm64 --dev get-notification`, which the test command runs first and names in
//! `HERALD_ARM64_BOOTSTRAP`) is started under Debian's `qemu-aarch64` against a stand-in of
//! the Lambda Runtime API serving its sample event (`events/get-notification.json`), on a moto
//! table seeded with what the sample names; its answer is the notification.
//!
//! qemu-user hangs here on any thread creation: the functions run on tokio's current-thread
//! runtime, and reach moto at an IP literal (no resolver thread).

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use herald_tests::local::wait_for;
use serde_json::Value;
use shared::adapters::dynamodb::DynamoStore;

/// What the function posted back: its response, or its init or invocation error.
#[derive(Default)]
struct Runtime {
    event: String,
    served: bool,
    answer: Option<(String, String)>,
}

type Shared = Arc<Mutex<Runtime>>;

fn lock(runtime: &Shared) -> std::sync::MutexGuard<'_, Runtime> {
    runtime
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `GET /2018-06-01/runtime/invocation/next`: the sample event once, then nothing (the function
/// waits, as Lambda keeps it, until the test kills it).
async fn next(State(runtime): State<Shared>) -> (HeaderMap, String) {
    let event = {
        let mut rt = lock(&runtime);
        if rt.served {
            None
        } else {
            rt.served = true;
            Some(rt.event.clone())
        }
    };
    let Some(event) = event else {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return (HeaderMap::new(), String::new());
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 120_000)
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (
            "lambda-runtime-aws-request-id",
            "arm64-request-1".to_owned(),
        ),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:get-notification".to_owned(),
        ),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    (headers, event)
}

async fn respond(
    State(runtime): State<Shared>,
    Path((_, kind)): Path<(String, String)>,
    body: String,
) -> &'static str {
    lock(&runtime).answer = Some((kind, body));
    "{}"
}

async fn init_error(State(runtime): State<Shared>, body: String) -> &'static str {
    lock(&runtime).answer = Some(("init/error".into(), body));
    "{}"
}

fn elf_machine(path: &str) -> u16 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        bytes.get(..4),
        Some(&b"\x7fELF"[..]),
        "{path} is not an ELF file"
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_arm64_get_notification_bootstrap_answers_its_sample_event_under_qemu() {
    let bootstrap = std::env::var("HERALD_ARM64_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "HERALD_ARM64_BOOTSTRAP is not set: scripts/test builds it (scripts/build-functions arm64 --dev get-notification)"
        )
    });
    assert_eq!(
        elf_machine(&bootstrap),
        183,
        "{bootstrap} is an aarch64 program (EM_AARCH64)"
    );

    // What the sample names, in a table of its own on moto.
    let table = format!("herald-arm64-{}", uuid::Uuid::new_v4().simple());
    let client = herald_tests::moto_client(Arc::new(herald_tests::CallCounter::default())).await;
    let store = DynamoStore::new(client, table.clone());
    store
        .create_table_if_missing()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    crate::lambda_events::seed(&store).await;

    let events = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let event = std::fs::read_to_string(events.join("get-notification.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let runtime: Shared = Arc::new(Mutex::new(Runtime {
        event,
        ..Runtime::default()
    }));
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(respond))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let log = herald_tests::local::temp_path("arm64").with_extension("log");
    let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new("qemu-aarch64")
        .args(["-L", "/usr/aarch64-linux-gnu", &bootstrap])
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "get-notification".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "arm64".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "arm64".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_ENDPOINT_URL", herald_tests::moto_endpoint()),
            ("TABLE_NAME", table),
            // moto serves the whole run one request at a time.
            ("HERALD_AWS_TIMEOUT_MS", "120000".into()),
            ("RUST_LOG", "warn".into()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap_or_else(|e| panic!("qemu-aarch64: {e} (scripts/test installs Debian's qemu-user)"));
    let deadline = Instant::now() + Duration::from_secs(180);
    let answer = loop {
        if let Some(answer) = lock(&runtime).answer.clone() {
            break answer;
        }
        if let Some(status) = wait_for(&mut child, Duration::ZERO) {
            panic!(
                "the function ended ({status}) without answering:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no answer in 180 s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();

    let (kind, body) = answer;
    assert_eq!(kind, "response", "{body}");
    let response: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(response["statusCode"], 200, "{response}");
    let payload: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {response}"));
    assert_eq!(payload["status"], true, "{payload}");
    assert_eq!(
        payload["data"]["id"], "5f1e2d3c4b5a697887960001",
        "{payload}"
    );
    assert_eq!(payload["data"]["type"], "webhook", "{payload}");
}
