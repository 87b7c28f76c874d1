//! The Lambda host: each binary in `src/bin/` is one route of `shared::api`, run by `lambda_http`
//! (API Gateway HTTP API, payload v2). State (config, AWS clients) is built once per process.
//!
//! Every function's `main` runs on tokio's current-thread runtime: Lambda hands a function one
//! event at a time, and what a function waits on (DynamoDB, SQS, a webhook; the sender's batch
//! of sends) interleaves on one thread as well as on many. Not starting a worker thread per core
//! took a fifth off every function's init CPU (1.72 vs 2.12 ms on average over the 41 functions,
//! 350 vs 393 page faults; BENCHMARKS.md, issue 27). The local server keeps the multi-thread
//! runtime: it serves many requests at once.

use std::collections::HashMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::adapters::Transports;
use shared::adapters::inbox::QueueInbox;
use shared::adapters::mail::aws::AwsSenders;
use shared::api::{self, Route};
use shared::app::{self, AppState};
use shared::config::Config;
use shared::model::Clock;
use shared::ports::inbox::Taken;
use shared::ports::queue::Disposition;
use shared::ports::queue::{DeliveryMessage, FanoutMessage, QueueMessage, Received};
use shared::ports::store::Store;
use shared::telemetry::Metrics;
use shared::workers::dead_letters::LetterHandler;
use shared::workers::quota::ResetReport;

/// The app one function serves: its route, plus API Gateway's request id as the request id.
pub fn app(state: AppState, route: Route) -> Router {
    host(state, route.alone())
}

fn host(state: AppState, mounted: Router<AppState>) -> Router {
    api::serve(state, mounted).layer(axum::middleware::map_request(apigw_request_id))
}

async fn apigw_request_id(mut req: Request) -> Request {
    if req.headers().contains_key("x-request-id") {
        return req;
    }
    let id = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        req.headers_mut().insert("x-request-id", value);
    }
    req
}

/// The quota-reset function's handler: closes the ended SMS quota days as of the clock's now (the
/// event's own time is not needed: every ended day still holding counters is closed).
pub async fn quota_reset(
    store: &dyn Store,
    clock: &dyn Clock,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<ResetReport, lambda_runtime::Error> {
    let report = shared::workers::quota::reset_quotas(store, clock.now()).await?;
    tracing::info!(
        event_id = event.payload.id.as_deref().unwrap_or_default(),
        closed = ?report.closed_days,
        summaries = report.summaries_recorded,
        counters = report.counters_removed,
        "quota days closed"
    );
    Ok(report)
}

/// `main` of the quota-reset function.
pub async fn run_quota_reset() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_json("quota-reset");
    let state = AppState::on_aws_from_env(Config::from_env(false)?, app::no_queue).await?;
    let state = &state;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        quota_reset(&*state.store, &*state.clock, event).await
    }))
    .await
}

/// An SQS event's records as received messages, and the message id of each receipt (what
/// `batchItemFailures` names). A record whose body does not parse is reported at once: after
/// `maxReceiveCount` receives it goes to the dead-letter queue.
fn received<M: QueueMessage>(
    event: SqsEvent,
) -> (Vec<Received<M>>, HashMap<String, String>, Vec<String>) {
    let mut batch = Vec::new();
    let mut ids = HashMap::new();
    let mut unreadable = Vec::new();
    for record in event.records {
        let id = record.message_id.unwrap_or_default();
        let receipt = record.receipt_handle.unwrap_or_default();
        match serde_json::from_str::<M>(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => {
                let receive_count = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                ids.insert(receipt.clone(), id);
                batch.push(Received {
                    message,
                    receipt,
                    receive_count,
                });
            }
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "unreadable queue message");
                unreadable.push(id);
            }
        }
    }
    (batch, ids, unreadable)
}

/// A queue-driven function's handling of one SQS event (`ReportBatchItemFailures`), as the
/// runtime's partial-batch-failure example does it: the records read into messages, `handle`
/// given the batch, and the messages it says must come back (their receipts), with the
/// unreadable ones, reported as the batch's item failures.
pub async fn handle_sqs<M, F, Fut>(
    event: LambdaEvent<SqsEvent>,
    handle: F,
) -> Result<SqsBatchResponse, lambda_runtime::Error>
where
    M: QueueMessage,
    F: FnOnce(Vec<Received<M>>) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let (batch, ids, unreadable) = received::<M>(event.payload);
    let back = handle(batch).await;
    let failures = back
        .iter()
        .filter_map(|receipt| ids.get(receipt).cloned())
        .chain(unreadable)
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    Ok(response)
}

/// The receipts of the messages that come back: delayed (a retry) or left.
fn coming_back(results: Vec<(String, Disposition)>) -> Vec<String> {
    results
        .into_iter()
        .filter(|(_, d)| !matches!(d, Disposition::Ack))
        .map(|(receipt, _)| receipt)
        .collect()
}

/// The fan-out function's handler.
pub async fn fan_out(
    state: &AppState,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    handle_sqs(event, async |batch: Vec<Received<FanoutMessage>>| {
        let results = shared::workers::fanout::process_batch(state.fanout_worker(), batch).await;
        shared::ports::queue::apply(&*state.fanout, results, false).await
    })
    .await
}

/// The sender function's handler: the batch the event source mapping received, handled by the
/// sender over `inbox` (SQS and DynamoDB, messages left to the mapping to delete).
pub async fn send(
    state: &AppState,
    transports: &Transports,
    inbox: &QueueInbox,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    handle_sqs(event, async |batch: Vec<Received<DeliveryMessage>>| {
        let taken = batch
            .into_iter()
            .map(|r| Taken::received(r.receipt, r.message))
            .collect();
        let sender = state.sender(transports);
        coming_back(shared::workers::sender::process(&sender, inbox, taken).await)
    })
    .await
}

/// The dead-letters function's handler (the delivery dead-letter queue): each message's delivery
/// marked `failed`, so that recover finds it; a message whose delivery a sender holds now comes
/// back later.
pub async fn dead_letters(
    state: &AppState,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    handle_sqs(event, async |batch: Vec<Received<DeliveryMessage>>| {
        letters_back(&state.burying(), state.clock.now(), batch).await
    })
    .await
}

/// The fanout-dead-letters function's handler (the fan-out dead-letter queue): each dead event
/// job's event recorded `failed` and told to the operational webhook (`event.fanoutFailed`); a
/// letter that could not be handled comes back.
pub async fn fanout_dead_letters(
    state: &AppState,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    handle_sqs(event, async |batch: Vec<Received<FanoutMessage>>| {
        letters_back(&state.failing_fanouts(), state.clock.now(), batch).await
    })
    .await
}

/// A batch of dead letters answered by `handler` as of `now`: the receipts of those that come
/// back (held now, or not handled: logged).
async fn letters_back<M: QueueMessage>(
    handler: &dyn LetterHandler<M>,
    now: time::OffsetDateTime,
    batch: Vec<Received<M>>,
) -> Vec<String> {
    let letters: Vec<M> = batch.iter().map(|r| r.message.clone()).collect();
    let answers = handler.answer(now, &letters).await;
    let mut back = Vec::new();
    for (received, answer) in batch.into_iter().zip(answers) {
        match answer {
            Ok(true) => {}
            Ok(false) => back.push(received.receipt),
            Err(e) => {
                tracing::warn!(letter = ?received.message, error = %e, "dead letter not handled; it comes back");
                back.push(received.receipt);
            }
        }
    }
    back
}

/// `main` of the fanout-dead-letters function.
pub async fn run_fanout_dead_letters() -> Result<(), lambda_runtime::Error> {
    let (state, _) = queue_function("fanout-dead-letters", Needs::default()).await?;
    let state = &state;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        fanout_dead_letters(state, event).await
    }))
    .await
}

/// The configuration of `function`, read from the environment, with what it `needs` there: a
/// missing variable stops it at start with a message naming the variable.
fn configured(function: &str, needs: Needs) -> Result<Config, String> {
    let config = Config::from_env(false).map_err(|e| e.to_string())?;
    let missing = |name: &str| format!("configuration: {name}: is required by {function}");
    if needs.operator
        && config.operator_token.is_none()
        && config.operator_token_parameter.is_none()
    {
        return Err(missing("HERALD_OPERATOR_TOKEN"));
    }
    if needs.deliveries && config.delivery_queue_url.is_none() {
        return Err(missing("HERALD_DELIVERY_QUEUE_URL"));
    }
    if needs.fanouts && config.fanout_queue_url.is_none() {
        return Err(missing("HERALD_FANOUT_QUEUE_URL"));
    }
    Ok(config)
}

/// What a function needs configured beyond the common variables.
#[derive(Clone, Copy, Default)]
struct Needs {
    operator: bool,
    deliveries: bool,
    fanouts: bool,
}

/// The state of a queue-driven function, on DynamoDB and SQS with its EMF metrics on, once its
/// logs are set up and its configuration checked; and the SDK configuration it was built from.
async fn queue_function(
    function: &'static str,
    needs: Needs,
) -> Result<(AppState, shared::adapters::aws::SdkConfig), lambda_runtime::Error> {
    shared::telemetry::init_json(function);
    let config = configured(function, needs)?;
    let metrics = Metrics::emf_on_stdout(config.metrics_namespace.clone());
    let aws = shared::adapters::aws::sdk_config().await?;
    let state = AppState::on_aws(config, aws.clone(), app::sqs_queue).with_metrics(metrics);
    Ok((state, aws))
}

/// The relay function's handler (an EventBridge schedule, each minute): sends the messages that
/// records in the outbox still wait for after the grace period (`HERALD_RELAY_GRACE`).
pub async fn relay(
    state: &AppState,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, lambda_runtime::Error> {
    let sent =
        shared::workers::relay::sweep(&state.relay(), state.clock.now(), state.config.relay_grace)
            .await?;
    tracing::info!(
        event_id = event.payload.id.as_deref().unwrap_or_default(),
        sent,
        "outbox swept"
    );
    Ok(serde_json::json!({"sent": sent}))
}

/// `main` of the relay function.
pub async fn run_relay() -> Result<(), lambda_runtime::Error> {
    let needs = Needs {
        deliveries: true,
        fanouts: true,
        ..Needs::default()
    };
    let (state, _) = queue_function("relay", needs).await?;
    let state = &state;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        relay(state, event).await
    }))
    .await
}

/// `main` of the dead-letters function.
pub async fn run_dead_letters() -> Result<(), lambda_runtime::Error> {
    let (state, _) = queue_function("dead-letters", Needs::default()).await?;
    let state = &state;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        dead_letters(state, event).await
    }))
    .await
}

/// `main` of the fan-out function.
pub async fn run_fan_out() -> Result<(), lambda_runtime::Error> {
    let needs = Needs {
        deliveries: true,
        fanouts: true,
        ..Needs::default()
    };
    let (state, _) = queue_function("fan-out", needs).await?;
    let state = &state;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        fan_out(state, event).await
    }))
    .await
}

/// `main` of the sender function: SES and SNS clients from the same SDK configuration.
pub async fn run_sender() -> Result<(), lambda_runtime::Error> {
    let needs = Needs {
        deliveries: true,
        ..Needs::default()
    };
    let (state, aws) = queue_function("sender", needs).await?;
    let mail = std::sync::Arc::new(AwsSenders {
        ses: aws_sdk_sesv2::Client::new(&aws),
        sns: aws_sdk_sns::Client::new(&aws),
        from: state.config.email_from.clone(),
    });
    let transports = state.transports(mail)?;
    let inbox = QueueInbox {
        queue: state.queue.clone(),
        store: state.store.clone(),
        ack: false,
    };
    let (state, transports, inbox) = (&state, &transports, &inbox);
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        send(state, transports, inbox, event).await
    }))
    .await
}

/// The console function's app: the page and its assets (no state, no AWS call).
pub fn console() -> Router {
    shared::console::router()
}

/// `main` of the console function.
pub async fn run_console() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json("console");
    lambda_http::run(console()).await
}

/// `main` of every HTTP function. Always inlined into the binary's `main`, where `route` is a
/// constant: [`Route::mount`] then folds to that one route, and the binary links only its own
/// handler (a smaller binary starts faster).
#[inline(always)]
pub fn run(route: Route) -> impl Future<Output = Result<(), lambda_http::Error>> {
    let needs = Needs {
        operator: route == Route::CreateOrganization,
        deliveries: route.enqueues_deliveries(),
        fanouts: route.enqueues_fanouts(),
    };
    // A constant in each binary: only the functions that enqueue link the SQS client.
    let queue = if route.enqueues_deliveries() || route.enqueues_fanouts() {
        app::sqs_queue
    } else {
        app::no_queue
    };
    serve_route(route.function_name(), needs, queue, route.alone())
}

async fn serve_route(
    function: &'static str,
    needs: Needs,
    queue: app::QueueFactory,
    mounted: Router<AppState>,
) -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json(function);
    let config = configured(function, needs)?;
    let state = AppState::on_aws_from_env(config, queue).await?;
    lambda_http::run(host(state, mounted)).await
}
