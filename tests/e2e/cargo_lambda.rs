//! Two real function binaries run as the README shows, under `cargo lambda watch` (the Lambda
//! runtime emulator) and invoked with `cargo lambda invoke --data-file events/<function>.json`:
//! `create-notification` (HTTP API) and `sender` (SQS), over moto's DynamoDB, SQS and SES, the
//! table seeded with what the sample events name. What they write is what CloudWatch gets: JSON
//! log lines carrying the function, the request id and the organization, and the sender's
//! Embedded Metric Format document.
//!
//! `scripts/test` installs cargo-lambda into `.venv-lambda` (PyPI's `cargo-lambda`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald_tests::delivery::{EMAIL_FROM, moto_senders, moto_sent};
use herald_tests::local::{free_port, temp_path};
use herald_tests::{CallCounter, moto_client, moto_endpoint, moto_queue};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::model::NotificationId;
use shared::ports::queue::DeliveryMessage;
use shared::ports::store::NotificationStore;

/// The first invoke of each function builds it (debug, over the suite's compiled dependencies).
const FIRST_INVOKE: Duration = Duration::from_secs(600);

/// `cargo lambda watch`, stopped (with the functions it runs) when the test ends.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        // Ctrl-C: the watcher stops the function processes it started (each in a process group of
        // its own), then itself. SIGTERM leaves it running.
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn invoke(cargo_lambda: &PathBuf, root: &PathBuf, port: u16, function: &str) -> Value {
    let started = Instant::now();
    loop {
        let output = Command::new(cargo_lambda)
            .current_dir(root)
            .args([
                "lambda",
                "invoke",
                function,
                "--invoke-address",
                "127.0.0.1",
            ])
            .args([
                "--invoke-port",
                &port.to_string(),
                "--output-format",
                "json",
            ])
            .arg("--data-file")
            .arg(format!("events/{function}.json"))
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", cargo_lambda.display()));
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
        // The emulator may not listen yet; any other failure repeats until the deadline.
        let error = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            started.elapsed() < FIRST_INVOKE,
            "cargo lambda invoke {function}: {error}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_notification_and_the_sender_run_from_their_sample_events_under_cargo_lambda() {
    let root = herald_tests::repo_root();
    let cargo_lambda = herald_tests::installed(".venv-lambda/bin/cargo-lambda");
    let table = format!("herald-cargo-lambda-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoStore::new(
        moto_client(std::sync::Arc::new(CallCounter::default())).await,
        table.clone(),
    );
    store
        .create_table_if_missing()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    crate::lambda_events::seed(&store).await;
    moto_senders().await;
    let queue = moto_queue::<DeliveryMessage>().await;

    let port = free_port();
    let log = temp_path("cargo-lambda-watch.log");
    let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(&cargo_lambda);
    command
        .current_dir(&root)
        .args([
            "lambda",
            "watch",
            "--package",
            "functions",
            "--ignore-changes",
        ])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .env("TABLE_NAME", &table)
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        // moto serves every test of the run one request at a time: no 3 s limit here.
        .env("HERALD_AWS_TIMEOUT_MS", "120000")
        .env("HERALD_DELIVERY_QUEUE_URL", queue.url())
        .env("HERALD_EMAIL_FROM", EMAIL_FROM)
        .env("HERALD_METRICS_NAMESPACE", "Herald/cargo-lambda-test")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
    let _watch = Watch(command.spawn().unwrap_or_else(|e| panic!("{e}")));

    let (cl, r) = (cargo_lambda.clone(), root.clone());
    let created = tokio::task::spawn_blocking(move || invoke(&cl, &r, port, "create-notification"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created["statusCode"], 200, "{created}");
    let body: Value = serde_json::from_str(created["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {created}"));
    assert_eq!(body["data"]["description"], "Build alerts", "{body}");
    let id = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    let org = shared::model::OrgId::parse("sample-org").unwrap_or_else(|e| panic!("{e}"));
    let id = NotificationId::parse(&id).unwrap_or_else(|e| panic!("{e}"));
    let stored = store
        .get_notification(&org, &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stored.is_some(), "the notification is in moto's table");

    let (cl, r) = (cargo_lambda.clone(), root.clone());
    let sent = tokio::task::spawn_blocking(move || invoke(&cl, &r, port, "sender"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The unreadable second record comes back; the first, an email, is sent through SES.
    assert_eq!(
        sent,
        json!({"batchItemFailures": [{"itemIdentifier": "sender-message-2"}]})
    );
    let (emails, _) = moto_sent().await;
    assert!(
        emails.iter().any(|(to, _)| to == "admin@sample.example"),
        "{emails:?}"
    );

    // What the functions wrote: JSON lines (among cargo's and the emulator's own lines).
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| l.find('{').map(|at| &l[at..]))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done = lines
        .iter()
        .find(|l| l["function"] == "create-notification" && l["message"] == "done")
        .unwrap_or_else(|| panic!("no create-notification request line in:\n{text}"));
    assert_eq!(done["request_id"], "sample-create-notification", "{done}");
    assert_eq!(done["organization"], "sample-org", "{done}");
    assert_eq!(done["status"], 200, "{done}");
    assert_eq!(done["level"], "INFO", "{done}");
    assert!(done["requestId"].is_string(), "Lambda's request id: {done}");
    let unreadable = lines
        .iter()
        .find(|l| l["function"] == "sender" && l["message"] == "unreadable queue message")
        .unwrap_or_else(|| panic!("no sender line in:\n{text}"));
    assert_eq!(unreadable["message_id"], "sender-message-2", "{unreadable}");
    let metrics = lines
        .iter()
        .find(|l| l["Transport"] == "email")
        .unwrap_or_else(|| panic!("no EMF document in:\n{text}"));
    assert_eq!(
        metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Herald/cargo-lambda-test"
    );
    assert_eq!(
        (
            &metrics["DeliveriesSent"],
            &metrics["DeliveriesFailed"],
            &metrics["DeliveriesRetried"],
            &metrics["DeliveriesSkipped"]
        ),
        (&json!(1), &json!(0), &json!(0), &json!(0)),
        "{metrics}"
    );
}
