//! The Lambda host: each binary in `src/bin/` is one route of `shared::api`, run by `lambda_http`
//! (API Gateway HTTP API, payload v2). State (config, AWS clients) is built once per process.

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use lambda_http::request::RequestContext;
use shared::api::{self, AppState, Route};
use shared::config::Config;

/// The app one function serves: its route, plus API Gateway's request id as the request id.
pub fn app(state: AppState, route: Route) -> Router {
    api::router(state, &[route]).layer(axum::middleware::map_request(apigw_request_id))
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

/// `main` of every HTTP function.
pub async fn run(route: Route) -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json();
    let config = Config::from_env(false)?;
    if route == Route::CreateOrganization && config.operator_token.is_none() {
        return Err(
            "configuration: HERALD_OPERATOR_TOKEN: is required by create-organization".into(),
        );
    }
    let state = AppState::from_config(config).await?;
    lambda_http::run(app(state, route)).await
}
