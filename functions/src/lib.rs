//! The Lambda host: each binary in `src/bin/` is one route of `shared::api`, run by `lambda_http`
//! (API Gateway HTTP API, payload v2). State (config, AWS clients) is built once per process.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::api::{self, AppState, Route};
use shared::config::Config;
use shared::model::Clock;
use shared::quota::ResetReport;
use shared::store::Store;

/// The app one function serves: its route, plus API Gateway's request id as the request id.
pub fn app(state: AppState, route: Route) -> Router {
    host(state, route.mount(Router::new()))
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
    let report = shared::quota::reset_quotas(store, clock.now()).await?;
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
    shared::telemetry::init_json();
    let state = AppState::from_config_with(Config::from_env(false)?, api::no_queue).await?;
    let state = &state;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| async move {
        quota_reset(&*state.store, &*state.clock, event).await
    }))
    .await
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
        api::sqs_queue
    } else {
        api::no_queue
    };
    serve_route(
        route.function_name(),
        needs,
        queue,
        route.mount(Router::new()),
    )
}

/// What a function needs configured beyond the common variables.
struct Needs {
    operator: bool,
    deliveries: bool,
    fanouts: bool,
}

async fn serve_route(
    function: &'static str,
    needs: Needs,
    queue: api::QueueFactory,
    mounted: Router<AppState>,
) -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json();
    let config = Config::from_env(false)?;
    let missing = |name: &str| format!("configuration: {name}: is required by {function}");
    if needs.operator && config.operator_token.is_none() {
        return Err(missing("HERALD_OPERATOR_TOKEN").into());
    }
    if needs.deliveries && config.delivery_queue_url.is_none() {
        return Err(missing("HERALD_DELIVERY_QUEUE_URL").into());
    }
    if needs.fanouts && config.fanout_queue_url.is_none() {
        return Err(missing("HERALD_FANOUT_QUEUE_URL").into());
    }
    let state = AppState::from_config_with(config, queue).await?;
    lambda_http::run(host(state, mounted)).await
}
