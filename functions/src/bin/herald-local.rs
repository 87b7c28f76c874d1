//! `herald-local`: the whole API in one process on 127.0.0.1:3000, durable.
//!
//! - Data lives in `HERALD_DATA_DIR` (default `./herald-data`): the SQLite database holding the
//!   store and both queues, and the ready-made organization's credentials (`shared::app::local`). A
//!   second server on the same directory is refused.
//! - On a new directory it creates the ready-made organization once; every start prints the same
//!   three lines on stdout, and nothing else there: `export HERALD_OPERATOR_TOKEN=…`,
//!   `export HERALD_ORGANIZATION_ID=…`, `export HERALD_ADMIN_TOKEN=…` (`HERALD_OPERATOR_TOKEN`,
//!   when set, wins), printed once it listens. Its logs go to stderr, coloured only on a terminal.
//! - It runs the fan-out and sender loops, the quota-reset job (at start and every UTC midnight)
//!   and the retention job (at start and hourly) in-process; on the AWS backend, the outbox
//!   relay and the passes over the dead-letter queues of the queues it created too (every 5 s).
//! - SIGTERM or Ctrl-C: it stops accepting requests, lets the requests in flight and the batches
//!   being sent finish (at most 10 s), checkpoints the database and exits 0.
//!
//! `HERALD_BACKEND=aws` uses DynamoDB, SQS, SES and SNS through the standard AWS variables instead
//! (creating the table and the queues `<TABLE_NAME>-deliveries` and `<TABLE_NAME>-fanout` if
//! missing, which makes moto usable as-is); the credentials still live in `HERALD_DATA_DIR`.

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
use shared::adapters::Transports;
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::keys::{MasterKey, SealingOff};
use shared::adapters::kms::KmsKeys;
use shared::adapters::mail::aws::AwsSenders;
use shared::adapters::mail::outbox::Outbox;
use shared::adapters::secrets::Secret;
use shared::adapters::sqlite::{Pruned, Sqlite};
use shared::adapters::sqs::SqsQueue;
use shared::api::auth::Operator;
use shared::api::{Route, openapi};
use shared::app::local::{Credentials, DataDir};
use shared::app::{AppState, Backends};
use shared::config::{Backend, Config};
use shared::domain::organizations::{NewOrganization, provision};
use shared::model::Clock;
use shared::model::token::IssuedToken;
use shared::model::{OrgKind, Plan};
use shared::ports::keys::Keys;
use shared::ports::queue::{
    DeliveryMessage, Disposition, FanoutMessage, MAX_RECEIVES, QueueError, QueueMessage, Received,
    consume,
};
use shared::ports::transport::Transport;
use shared::workers::dead_letters::{LetterHandler, drain};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Fan-out loops: the Lambda bundle's fan-out function, in-process.
const FANOUT_WORKERS: usize = 4;
/// Sender loops: the Lambda bundle's sender function, in-process. Each handles a batch of up to
/// 10 deliveries at once, so up to 160 are in flight; with fewer, the sender waits on its
/// database writes more than it sends (BENCHMARKS.md). `examples/post-loop.rs`, the sender's
/// benchmark baseline, uses the same concurrency.
const SENDERS: usize = 16;
/// A received message stays hidden this long: 6× the sender's HTTP timeout, as in template.yaml.
const VISIBILITY: Duration = Duration::from_secs(90);
const IDLE: Duration = Duration::from_millis(10);
/// How long a shutdown waits for the requests in flight and the batches being sent.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the retention job runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the relay sweeps the outbox on the AWS backend.
const RELAY_EVERY: Duration = Duration::from_secs(5);
/// How often the dead-letter pass runs.
const DEAD_LETTERS_EVERY: Duration = Duration::from_secs(5);

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
    let dir = DataDir::open(&config.data_dir)?;
    let credentials = match dir.credentials()? {
        Some(kept) => kept,
        None => {
            let new = Credentials::generate();
            dir.save_credentials(&new)?;
            new
        }
    };
    // The local server prints it: read now (from its SSM parameter, if one is named).
    let operator_token = Secret::configured(
        config.operator_token.as_deref(),
        config.operator_token_parameter.as_deref(),
    )
    .get()
    .await?
    .map(|t| t.to_string())
    .unwrap_or_else(|| credentials.operator_token.clone());
    config.operator_token = Some(operator_token.clone());
    config.operator_token_parameter = None;
    let port = config.port;

    let mut db = None;
    let mut aws = None;
    let mut sqs_dead_letters = (None, None);
    let state = match config.backend {
        Backend::Embedded => {
            let sqlite = Sqlite::open(&dir.database())?;
            // The key its secrets are sealed under, before anything reads them: another key
            // stops the start here, having changed nothing.
            let keys = sqlite
                .unlock(config.master_key.as_deref(), dir.path())
                .await?;
            let (messages, leases) = sqlite.recover_after_restart().await?;
            if messages + leases > 0 {
                tracing::info!(
                    messages,
                    leases,
                    "taken back from the previous run: its messages in flight are visible again and its leases ended"
                );
            }
            let keys: Arc<dyn Keys> = if config.seal_secrets {
                Arc::new(keys)
            } else {
                tracing::warn!(
                    "HERALD_SEAL_SECRETS=false: new secrets are stored in plain text (a benchmark's baseline, never for real data)"
                );
                Arc::new(SealingOff(keys))
            };
            AppState::on_sqlite(config, db.insert(sqlite).clone()).with_keys(keys)
        }
        Backend::Aws => {
            let sdk = aws.insert(shared::adapters::aws::sdk_config().await?);
            let store = DynamoStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.table_name.clone(),
            )
            .with_retention(config.retention);
            store.create_table_if_missing().await?;
            let sqs = aws_sdk_sqs::Client::new(sdk);
            let queue: SqsQueue<DeliveryMessage> = match config.delivery_queue_url.clone() {
                Some(url) => SqsQueue::with_client(sqs.clone(), url),
                None => {
                    let attempts = config.retry_schedule.attempts();
                    let name = format!("{}-deliveries", config.table_name);
                    SqsQueue::create(sqs.clone(), &name, attempts).await?
                }
            };
            let fanout: SqsQueue<FanoutMessage> = match config.fanout_queue_url.clone() {
                Some(url) => SqsQueue::with_client(sqs, url),
                None => {
                    let name = format!("{}-fanout", config.table_name);
                    SqsQueue::create(sqs, &name, MAX_RECEIVES).await?
                }
            };
            sqs_dead_letters = (queue.dead_letter_queue(), fanout.dead_letter_queue());
            // KMS as the functions use it when HERALD_KMS_KEY_ID names a key; else the master
            // key (HERALD_MASTER_KEY, or the data directory's master.key).
            let keys: Arc<dyn Keys> = match config.kms_key_id.clone() {
                Some(key) => Arc::new(KmsKeys::new(sdk.clone(), config.table_name.clone(), key)),
                None => Arc::new(MasterKey::load(
                    config.master_key.as_deref(),
                    dir.path(),
                    None,
                )?),
            };
            AppState::new(
                config,
                Backends::separate(Arc::new(store), Arc::new(queue), Arc::new(fanout)),
            )
            .with_keys(keys)
        }
    };
    ensure_organization(&state, &credentials).await?;

    let outbox = Arc::new(Outbox::new());
    let mail: Arc<dyn Transport> = match &aws {
        // With the AWS backend, email and SMS go through SES and SNS.
        Some(aws) => Arc::new(AwsSenders {
            ses: aws_sdk_sesv2::Client::new(aws),
            sns: aws_sdk_sns::Client::new(aws),
            from: state.config.email_from.clone(),
        }),
        None => outbox.clone(),
    };
    let transports = Arc::new(state.transports(mail)?);
    let (stop, stopping) = watch::channel(false);
    let mut workers = JoinSet::new();
    for _ in 0..FANOUT_WORKERS {
        workers.spawn(fanout_worker(state.clone(), stopping.clone()));
    }
    for _ in 0..SENDERS {
        workers.spawn(sender_worker(
            state.clone(),
            transports.clone(),
            stopping.clone(),
        ));
    }
    let jobs = [
        tokio::spawn(quota_job(state.clone())),
        tokio::spawn(prune_job(state.clone(), db.clone())),
        tokio::spawn(dead_letter_job(state.clone(), db.clone())),
        tokio::spawn(relay_job(state.clone(), aws.is_some())),
        tokio::spawn(sqs_dead_letter_job(state.clone(), sqs_dead_letters)),
    ];

    let app = Router::new()
        .route(
            "/openapi.json",
            get(|| async { ([(CONTENT_TYPE, "application/json")], openapi::document()) }),
        )
        .merge(outbox_routes(outbox, state.clone()))
        .merge(shared::console::router())
        .merge(shared::api::router(state, Route::ALL));

    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|e| bind_error(port, e))?;
    let stop_signal = stop_signals()?;
    // Only these three lines go to stdout, in a form a shell takes as it is (`. ./herald.env`);
    // the values are `[A-Za-z0-9_-]`, nothing to quote.
    println!("export HERALD_OPERATOR_TOKEN={operator_token}");
    println!(
        "export HERALD_ORGANIZATION_ID={}",
        credentials.organization_id
    );
    println!("export HERALD_ADMIN_TOKEN={}", credentials.admin_token);
    tracing::info!(
        "herald-local listening on http://{}, data in {}",
        listener.local_addr()?,
        dir.path().display()
    );
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped(stopping.clone()))
            .into_future(),
    );
    tokio::select! {
        () = stop_signal => {}
        served = &mut server => return Ok(served??),
    }

    tracing::info!("shutting down: no new requests; finishing the requests and batches in flight");
    let _ = stop.send(true);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(served) => served??,
        Err(_) => {
            tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; closing them");
            server.abort();
        }
    }
    if tokio::time::timeout_at(deadline, workers.join_all())
        .await
        .is_err()
    {
        tracing::warn!(
            "deliveries still being sent after {SHUTDOWN_GRACE:?}: their messages come back at the next start"
        );
    }
    for job in jobs {
        job.abort();
    }
    if let Some(db) = db
        && let Err(e) = db.checkpoint().await
    {
        // Everything is in the WAL already: the next start reads it from there.
        tracing::warn!(error = %e, "the database's WAL could not be checkpointed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// A port that cannot be taken, named with what to change.
fn bind_error(port: u16, e: std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => "is already in use (another server?)".to_owned(),
        std::io::ErrorKind::PermissionDenied => "may not be used by this user".to_owned(),
        _ => format!("cannot be listened on: {e}"),
    };
    format!("port {port} on 127.0.0.1 {why}; choose another with HERALD_PORT")
}

/// Makes sure the ready-made organization of `credentials` exists (created on the first start,
/// or again if its database was removed), with that admin token.
async fn ensure_organization(
    state: &AppState,
    credentials: &Credentials,
) -> Result<(), Box<dyn std::error::Error>> {
    let org = &credentials.organization_id;
    if state.store.get_organization(org).await?.is_some() {
        return Ok(());
    }
    let token = IssuedToken::from_secret(org, &credentials.admin_token).ok_or_else(|| {
        format!(
            "{}: its admin token does not belong to organization {org}; remove the file to start with a new organization",
            "credentials.json"
        )
    })?;
    provision(
        &*state.store,
        state.clock.now(),
        NewOrganization {
            id: org.clone(),
            name: "Local organization".into(),
            kind: OrgKind::Production,
            plan: Plan::Paid,
            admin_username: None,
            admin_email: None,
            admin_phone: None,
            admin_token: Some(token),
        },
    )
    .await
    .map_err(|e| format!("creating the local organization: {e}"))?;
    Ok(())
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Waits `IDLE`, or less if the server is stopping.
async fn idle(stop: &mut watch::Receiver<bool>, wait: Duration) {
    let _ = tokio::time::timeout(wait, stop.wait_for(|stopping| *stopping)).await;
}

async fn fanout_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let round = consume(&*state.fanout, VISIBILITY, |batch| {
            shared::workers::fanout::process_batch(state.fanout_worker(), batch)
        })
        .await;
        pace(&mut stop, round, "fan-out").await;
    }
}

async fn sender_worker(
    state: AppState,
    transports: Arc<Transports>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let round =
            shared::workers::sender::round(&state.sender(&*transports), &*state.inbox, VISIBILITY)
                .await;
        pace(&mut stop, round, "delivery").await;
    }
}

/// After a worker's round: on at once after work, a short pause when its queue was empty, a
/// second when the queue failed.
async fn pace(
    stop: &mut watch::Receiver<bool>,
    round: Result<Vec<Disposition>, QueueError>,
    queue: &str,
) {
    match round {
        Ok(done) if !done.is_empty() => {}
        Ok(_) => idle(stop, IDLE).await,
        Err(e) => {
            tracing::warn!(error = %e, "{queue} queue unavailable");
            idle(stop, Duration::from_secs(1)).await;
        }
    }
}

/// The quota-reset job of the Lambda bundle, in-process: once at start (closing days that ended
/// while the server was down), then at every UTC midnight.
async fn quota_job(state: AppState) {
    loop {
        match shared::workers::quota::reset_quotas(&*state.store, state.clock.now()).await {
            Ok(report) if !report.closed_days.is_empty() => {
                tracing::info!(closed = ?report.closed_days, "quota days closed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "quota reset failed; the next run retries"),
        }
        let now = state.clock.now();
        let wait = shared::workers::quota::next_midnight(now) - now;
        tokio::time::sleep(
            wait.try_into()
                .unwrap_or(std::time::Duration::from_secs(60)),
        )
        .await;
    }
}

/// The retention job on the embedded database (DynamoDB expires the same items by TTL): at start,
/// then hourly, it removes the events and deliveries older than `HERALD_RETENTION_DAYS` and the
/// idempotency keys past their 24 hours.
async fn prune_job(state: AppState, db: Option<Sqlite>) {
    let Some(db) = db else { return };
    loop {
        let now = state.clock.now();
        match db.prune(now - state.config.retention, now).await {
            Ok(pruned) if pruned == Pruned::default() => {}
            Ok(pruned) => tracing::info!(?pruned, "retention: pruned"),
            Err(e) => tracing::warn!(error = %e, "retention run failed; the next run retries"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// The dead-letter passes on the embedded database, every [`DEAD_LETTERS_EVERY`]: the deliveries
/// whose messages were received `maxReceiveCount` times unsettled become `failed`, which recover
/// finds; the events whose fan-out jobs were, `fanout.status = failed` (told to the operational
/// webhook). (With the AWS backend, the `dead-letters` and `fanout-dead-letters` functions do
/// this.)
async fn dead_letter_job(state: AppState, db: Option<Sqlite>) {
    let Some(db) = db else { return };
    let dead = shared::adapters::sqlite::queue::SqliteQueue::<DeliveryMessage>::new(
        db.clone(),
        shared::adapters::sqlite::delivery_queue::DEAD_LETTERS,
        state.config.retry_schedule.attempts(),
    );
    let dead_fanouts = shared::adapters::sqlite::queue::SqliteQueue::<FanoutMessage>::new(
        db,
        shared::adapters::sqlite::queue::FANOUT,
        MAX_RECEIVES,
    );
    let (burying, failing) = (state.burying(), state.failing_fanouts());
    loop {
        let now = state.clock.now();
        let drained = drain(&burying, &dead, now).await;
        match drained {
            Ok(0) => {}
            Ok(n) => tracing::info!(dead_letters = n, "dead letters' deliveries marked failed"),
            Err(e) => tracing::warn!(error = %e, "dead-letter pass failed; the next one retries"),
        }
        let drained = drain(&failing, &dead_fanouts, now).await;
        match drained {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                dead_letters = n,
                "fan-outs that ran out of retries marked failed"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "fan-out dead-letter pass failed; the next one retries")
            }
        }
        tokio::time::sleep(DEAD_LETTERS_EVERY).await;
    }
}

/// On the AWS backend, the dead-letter queues of the queues this server created, drained every
/// [`DEAD_LETTERS_EVERY`] as the `dead-letters` and `fanout-dead-letters` functions drain theirs
/// in Lambda: each dead delivery `failed`, each dead fan-out's event `failed` (both told to the
/// operational webhook). A letter that could not be handled comes back.
async fn sqs_dead_letter_job(
    state: AppState,
    (deliveries, fanouts): (
        Option<SqsQueue<DeliveryMessage>>,
        Option<SqsQueue<FanoutMessage>>,
    ),
) {
    let (burying, failing) = (state.burying(), state.failing_fanouts());
    loop {
        if let Some(dead) = &deliveries {
            drain_sqs(&burying, dead, &*state.clock).await;
        }
        if let Some(dead) = &fanouts {
            drain_sqs(&failing, dead, &*state.clock).await;
        }
        tokio::time::sleep(DEAD_LETTERS_EVERY).await;
    }
}

/// Receives `dead`'s letters until none is left, each batch answered by `handler`: a letter that
/// may go is deleted, any other comes back when its visibility ends.
async fn drain_sqs<M: QueueMessage>(
    handler: &dyn LetterHandler<M>,
    dead: &SqsQueue<M>,
    clock: &dyn Clock,
) {
    loop {
        let round = consume(dead, VISIBILITY, |batch: Vec<Received<M>>| async move {
            let letters: Vec<M> = batch.iter().map(|r| r.message.clone()).collect();
            let answers = handler.answer(clock.now(), &letters).await;
            let receipts = batch.into_iter().map(|r| r.receipt);
            receipts
                .zip(answers)
                .map(|(receipt, answer)| match answer {
                    Ok(true) => (receipt, Disposition::Ack),
                    _ => (receipt, Disposition::Leave),
                })
                .collect()
        })
        .await;
        match round {
            Ok(done) if !done.is_empty() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "dead-letter pass failed; the next one retries");
                return;
            }
        }
    }
}

/// The relay of the Lambda bundle, in-process on the AWS backend, every [`RELAY_EVERY`] (the
/// records it sends are those marked more than `HERALD_RELAY_GRACE` ago, as there). The
/// embedded database has nothing to relay.
async fn relay_job(state: AppState, aws: bool) {
    if !aws {
        return;
    }
    loop {
        let swept = shared::workers::relay::sweep(
            &state.relay(),
            state.clock.now(),
            state.config.relay_grace,
        )
        .await;
        if let Err(e) = swept {
            tracing::warn!(error = %e, "outbox sweep failed; the next one retries");
        }
        tokio::time::sleep(RELAY_EVERY).await;
    }
}

/// `GET /_local/outbox` (the emails and SMS "sent") and `/_local/outbox/count`, for the operator
/// only (`Authorization: Bearer <operator token>`, as `POST /v1/organizations`): the messages
/// hold people's addresses and whatever the events carried. Anyone else gets the API's 401.
fn outbox_routes(outbox: Arc<Outbox>, state: AppState) -> Router {
    let all = outbox.clone();
    Router::new()
        .route(
            "/_local/outbox",
            get(move |_: Operator| {
                let all = all.clone();
                async move { axum::Json(all.messages()) }
            }),
        )
        .route(
            "/_local/outbox/count",
            get(move |_: Operator| {
                let count = outbox.clone();
                async move { axum::Json(serde_json::json!({"count": count.len()})) }
            }),
        )
        .with_state(state)
}

/// Resolves at SIGTERM or Ctrl-C (SIGINT). The handlers are installed when this is called, not
/// when it is first awaited: the server calls it before it prints its three lines, so a signal
/// sent as soon as they appear stops it gracefully instead of killing it.
#[cfg(unix)]
fn stop_signals() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Resolves at Ctrl-C.
#[cfg(not(unix))]
fn stop_signals() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
}
