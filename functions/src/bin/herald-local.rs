//! `herald-local`: the whole API in one process on 127.0.0.1:3000 (SPEC §9).
//!
//! Embedded backends by default; `HERALD_BACKEND=aws` uses DynamoDB through the standard AWS
//! variables (creating the table, and the delivery queue unless `HERALD_DELIVERY_QUEUE_URL` names
//! one, if missing, which makes moto usable as-is). At start it
//! creates a ready-made organization and prints, one per line:
//! `HERALD_OPERATOR_TOKEN=…`, `HERALD_ORGANIZATION_ID=…`, `HERALD_ADMIN_TOKEN=…`. It also runs the
//! quota-reset job at start and at every UTC midnight.

use std::net::{Ipv4Addr, SocketAddr};

/// mimalloc for the long-running, multi-threaded local server: under load, glibc malloc/free were
/// its largest userspace cost. The Lambda functions keep the system allocator: they serve one
/// request at a time, and mimalloc raised their cold start from 3.7 to 5.2 ms and their peak RSS
/// from 13 to 22 MB (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use base64::Engine;
use shared::api::organizations::{NewOrganization, provision};
use shared::api::{AppState, Route, openapi};
use shared::config::{Backend, Config};
use shared::deliver::aws::AwsSenders;
use shared::deliver::outbox::Outbox;
use shared::deliver::{Mail, Transports};
use shared::model::{OrgId, OrgKind, Plan};
use shared::queue::sqs::SqsQueue;
use shared::queue::{DeliveryMessage, FanoutMessage};
use shared::store::dynamodb::DynamoStore;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init_human();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env(true)?;
    let operator_token = config.operator_token.clone().unwrap_or_else(|| {
        let random: [u8; 32] = rand::random();
        format!(
            "hrld_operator_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        )
    });
    config.operator_token = Some(operator_token.clone());
    let port = config.port;

    let mut aws = None;
    let state = match config.backend {
        Backend::Embedded => AppState::from_config(config).await?,
        Backend::Aws => {
            let sdk = shared::aws::sdk_config().await?;
            let aws = aws.insert(sdk);
            let store = DynamoStore::new(
                aws_sdk_dynamodb::Client::new(aws),
                config.table_name.clone(),
            );
            store.create_table_if_missing().await?;
            let sqs = aws_sdk_sqs::Client::new(aws);
            let queue: SqsQueue<DeliveryMessage> = match config.delivery_queue_url.clone() {
                Some(url) => SqsQueue::with_client(sqs.clone(), url),
                None => SqsQueue::create(sqs.clone(), "herald-deliveries", 5).await?,
            };
            let fanout: SqsQueue<FanoutMessage> = match config.fanout_queue_url.clone() {
                Some(url) => SqsQueue::with_client(sqs, url),
                None => SqsQueue::create(sqs, "herald-fanout", 5).await?,
            };
            AppState::new(config, Arc::new(store))
                .with_queue(Arc::new(queue))
                .with_fanout(Arc::new(fanout))
        }
    };

    let created = provision(
        &state,
        NewOrganization {
            id: OrgId::generate(),
            name: "Local organization".into(),
            kind: OrgKind::Production,
            plan: Plan::Paid,
            admin_username: None,
            admin_email: None,
            admin_phone: None,
        },
    )
    .await
    .map_err(|e| format!("creating the local organization: {e}"))?;

    tokio::spawn(quota_job(state.clone()));
    let outbox = Arc::new(Outbox::new());
    let mail = match &aws {
        // With the AWS backend, email and SMS go through SES and SNS.
        Some(aws) => Mail::Aws(AwsSenders {
            ses: aws_sdk_sesv2::Client::new(aws),
            sns: aws_sdk_sns::Client::new(aws),
            from: state.config.email_from.clone(),
        }),
        None => Mail::Outbox(outbox.clone()),
    };
    let transports = Arc::new(Transports::new(&state, mail)?);
    for _ in 0..WORKERS {
        tokio::spawn(fanout_worker(state.clone()));
        tokio::spawn(sender_worker(state.clone(), transports.clone()));
    }

    let app = Router::new()
        .route(
            "/openapi.json",
            get(|| async { ([(CONTENT_TYPE, "application/json")], openapi::document()) }),
        )
        .route(
            "/_local/outbox",
            get({
                let outbox = outbox.clone();
                move || {
                    let outbox = outbox.clone();
                    async move { axum::Json(outbox.messages()) }
                }
            }),
        )
        .route(
            "/_local/outbox/count",
            get(move || {
                let outbox = outbox.clone();
                async move { axum::Json(serde_json::json!({"count": outbox.len()})) }
            }),
        )
        .merge(shared::api::router(state, Route::ALL));

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("HERALD_OPERATOR_TOKEN={operator_token}");
    println!("HERALD_ORGANIZATION_ID={}", created.organization.id);
    println!("HERALD_ADMIN_TOKEN={}", created.token);
    tracing::info!(
        "herald-local listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// Fan-out and sender loops per kind: the Lambda bundle's SQS-triggered functions, in-process.
const WORKERS: usize = 4;
/// A received message stays hidden this long: 6× the sender's HTTP timeout, as in template.yaml.
const VISIBILITY: Duration = Duration::from_secs(90);
const IDLE: Duration = Duration::from_millis(10);

async fn fanout_worker(state: AppState) {
    loop {
        match state.fanout.receive(10, VISIBILITY).await {
            Ok(batch) if !batch.is_empty() => {
                let results = shared::fanout::process_batch(&state, batch).await;
                shared::queue::apply(&*state.fanout, results, true).await;
            }
            Ok(_) => tokio::time::sleep(IDLE).await,
            Err(e) => {
                tracing::warn!(error = %e, "fan-out queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn sender_worker(state: AppState, transports: Arc<Transports>) {
    loop {
        match state.queue.receive(10, VISIBILITY).await {
            Ok(batch) if !batch.is_empty() => {
                let results = shared::deliver::process_batch(&state, &transports, batch).await;
                shared::queue::apply(&*state.queue, results, true).await;
            }
            Ok(_) => tokio::time::sleep(IDLE).await,
            Err(e) => {
                tracing::warn!(error = %e, "delivery queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The quota-reset job of the Lambda bundle, in-process: once at start (closing days that ended
/// while the server was down), then at every UTC midnight.
async fn quota_job(state: AppState) {
    loop {
        match shared::quota::reset_quotas(&*state.store, state.clock.now()).await {
            Ok(report) if !report.closed_days.is_empty() => {
                tracing::info!(closed = ?report.closed_days, "quota days closed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "quota reset failed; the next run retries"),
        }
        let now = state.clock.now();
        let wait = shared::quota::next_midnight(now) - now;
        tokio::time::sleep(
            wait.try_into()
                .unwrap_or(std::time::Duration::from_secs(60)),
        )
        .await;
    }
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}
