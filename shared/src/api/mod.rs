//! The HTTP API: one axum handler per route, mounted one route per Lambda function or all together
//! in the local server: one handler, two hosts.

pub mod admin;
pub mod auth;
pub mod credentials;
pub mod deliveries;
pub mod delivery_log;
pub mod error;
pub mod event_types;
pub mod events;
pub mod input;
pub mod notifications;
pub mod openapi;
pub mod operational;
pub mod organizations;
pub mod recipients;
pub mod settings;
pub mod tokens;
pub mod users;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::Serialize;
use tracing::Instrument;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::api::error::{ApiError, REQUEST_ID};
use crate::app::AppState;
use crate::domain::FieldError;
use crate::ports::queue::QueueError;
use crate::ports::store::StoreError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(fields) => ApiError::Conflict(
                fields
                    .into_iter()
                    .map(|f| FieldError::new(f.field(), "is already taken"))
                    .collect(),
            ),
            StoreError::LimitReached => ApiError::Conflict(vec![FieldError::new(
                "notifications",
                "the organization already has the maximum of 100 notifications",
            )]),
            StoreError::LastAdmin => ApiError::Conflict(vec![FieldError::new(
                "roles",
                "the organization must keep at least one admin",
            )]),
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Refused => {
                ApiError::Internal("a refused settings write reached the generic mapping".into())
            }
            StoreError::Stale => ApiError::Unavailable("concurrent updates kept winning".into()),
            StoreError::Unavailable(why) => ApiError::Unavailable(why),
            StoreError::Corrupt(why) => ApiError::Internal(why),
        }
    }
}

impl From<crate::domain::Error> for ApiError {
    fn from(e: crate::domain::Error) -> Self {
        match e {
            crate::domain::Error::Store(e) => e.into(),
            crate::domain::Error::Queue(e) => e.into(),
            crate::domain::Error::Invalid(details) => ApiError::Validation(details),
            crate::domain::Error::NotFound => ApiError::NotFound,
            crate::domain::Error::Conflict(taken) => ApiError::Conflict(taken),
            crate::domain::Error::KeyReused => ApiError::IdempotencyKeyReused,
            crate::domain::Error::Unavailable(why) => ApiError::Unavailable(why),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Unavailable(why) => ApiError::Unavailable(why),
            QueueError::Corrupt(why) => ApiError::Internal(why),
        }
    }
}

/// A JSON answer serialized once per process (a static list, the same for every caller).
pub(crate) fn static_json(bytes: &'static [u8]) -> Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

/// The success envelope of the notifications API and Herald's own routes: `{"status": true, "data": ...}`.
#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    pub status: bool,
    pub data: T,
}

pub fn envelope<T>(data: T) -> axum::Json<Envelope<T>> {
    axum::Json(Envelope { status: true, data })
}

/// Declares the route table once: the [`Route`] enum (each variant named after its Lambda
/// function), [`Route::ALL`], [`Route::function_name`] and [`Route::methods`], whose paths and
/// methods come from each handler's `#[utoipa::path]` (`utoipa_axum::routes!`): the router and
/// the OpenAPI document read the same declaration.
macro_rules! route_table {
    ($($(#[$doc:meta])* $variant:ident $function:literal => $module:ident :: $handler:ident,)+) => {
        /// Every route, each one Lambda function (`functions/src/bin/<function_name>.rs`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Route {
            $($(#[$doc])* $variant,)+
        }

        impl Route {
            pub const ALL: &'static [Route] = &[$(Route::$variant,)+];

            /// The Lambda function (and binary) serving the route.
            pub fn function_name(self) -> &'static str {
                match self {
                    $(Route::$variant => $function,)+
                }
            }

            /// The route's handler with its path, methods and OpenAPI operation. Always inlined:
            /// called with a constant (as each function binary does), the match folds away and
            /// the binary links only its own handler.
            #[inline(always)]
            fn methods(self) -> UtoipaMethodRouter<AppState> {
                match self {
                    $(Route::$variant => routes!($module::$handler),)+
                }
            }

            /// The route's path and its handler on its methods, without the OpenAPI operation
            /// and schemas (what a Lambda function needs: building those at every cold start
            /// costs time for nothing). Always inlined, as [`Route::methods`].
            #[inline(always)]
            fn handler(self) -> (String, axum::routing::MethodRouter<AppState>) {
                use utoipa::Path as _;
                use utoipa_axum::PathItemExt as _;
                match self {
                    $(Route::$variant => utoipa_axum::paste! {{
                        let methods = $module::[<__path_ $handler>]::methods();
                        let router = methods.iter().fold(
                            axum::routing::MethodRouter::new(),
                            |router, method| router.on(method.to_method_filter(), $module::$handler),
                        );
                        ($module::[<__path_ $handler>]::path(), router)
                    }},)+
                }
            }
        }
    };
}

route_table! {
    CreateOrganization "create-organization" => organizations::create_organization,
    UpdateOrganization "update-organization" => organizations::update_organization,
    CreateUser "create-user" => organizations::create_user,
    ListUsers "list-users" => organizations::list_users,
    GetUser "get-user" => organizations::get_user,
    UpdateUser "update-user" => users::update_user,
    DeleteUser "delete-user" => users::delete_user,
    CreateToken "create-token" => tokens::create_token,
    ListTokens "list-tokens" => tokens::list_tokens,
    RevokeToken "revoke-token" => tokens::revoke_token,
    /// The notifications API writes its path with a trailing slash: both spellings are served.
    CreateNotification "create-notification" => notifications::create,
    ListNotifications "list-notifications" => notifications::list,
    GetNotification "get-notification" => notifications::get,
    UpdateNotification "update-notification" => notifications::update,
    DeleteNotification "delete-notification" => notifications::remove,
    AddRecipients "add-recipients" => recipients::add,
    ListRecipients "list-recipients" => recipients::list,
    DeleteRecipient "delete-recipient" => recipients::remove,
    GetNotificationsSettings "get-notifications-settings" => settings::get,
    UpdateNotificationsSettings "update-notifications-settings" => settings::update,
    ResetNotificationsSettings "reset-notifications-settings" => settings::reset,
    GetDispatchMethods "get-dispatch-methods" => admin::dispatch_methods,
    GetNotifierSettings "get-notifier-settings" => admin::get_settings,
    UpdateNotifierSettings "update-notifier-settings" => admin::update_settings,
    ListSystemTemplates "list-system-templates" => admin::system_templates,
    SendTestNotification "send-test-notification" => admin::send_test,
    GetNotificationPreferences "get-notification-preferences" => admin::get_preferences,
    UpdateNotificationPreferences "update-notification-preferences" => admin::update_preferences,
    EmitEvent "emit-event" => events::emit,
    GetEvent "get-event" => events::get,
    RetryFanout "retry-fanout" => events::retry_fanout,
    ListDeliveries "list-deliveries" => delivery_log::list_deliveries,
    GetDelivery "get-delivery" => delivery_log::get_delivery,
    ResendDelivery "resend-delivery" => deliveries::resend,
    RecoverDeliveries "recover-deliveries" => deliveries::recover,
    TestNotification "test-notification" => notifications::test,
    RotateNotificationSecret "rotate-notification-secret" => notifications::rotate_secret,
    ListEventTypes "list-event-types" => event_types::list,
    PutOperationalWebhook "put-operational-webhook" => operational::put,
    GetOperationalWebhook "get-operational-webhook" => operational::get,
    DeleteOperationalWebhook "delete-operational-webhook" => operational::delete,
}

/// The notifications API's spelling of the notifications path, served by [`Route::CreateNotification`] too.
const NOTIFICATIONS_WITH_SLASH: &str = "/v1/organizations/{organizationId}/notifications/";

impl Route {
    /// Whether the route puts deliveries on the delivery queue (its function needs
    /// `HERALD_DELIVERY_QUEUE_URL` and the SQS client).
    #[inline(always)]
    pub fn enqueues_deliveries(self) -> bool {
        matches!(
            self,
            Route::SendTestNotification
                | Route::TestNotification
                | Route::ResendDelivery
                | Route::RecoverDeliveries
        )
    }

    /// Whether the route puts events on the fan-out queue (its function needs
    /// `HERALD_FANOUT_QUEUE_URL` and the SQS client).
    #[inline(always)]
    pub fn enqueues_fanouts(self) -> bool {
        matches!(
            self,
            Route::EmitEvent
                | Route::UpdateNotifierSettings
                | Route::RecoverDeliveries
                | Route::RetryFanout
        )
    }

    /// Adds the route to `router`: its handler at its path and methods, and its OpenAPI
    /// operation. Always inlined, as [`Route::methods`].
    #[inline(always)]
    pub fn mount(self, router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
        let router = router.routes(self.methods());
        match self.extra() {
            Some((path, handler)) => router.route(path, handler),
            None => router,
        }
    }

    /// An axum router of this route alone (a Lambda function's). Always inlined, as
    /// [`Route::methods`].
    #[inline(always)]
    pub fn alone(self) -> Router<AppState> {
        let (path, handler) = self.handler();
        let router = Router::new().route(&path, handler);
        match self.extra() {
            Some((path, handler)) => router.route(path, handler),
            None => router,
        }
    }

    /// A second spelling of the route's path that it serves too (not in the OpenAPI document).
    #[inline(always)]
    fn extra(self) -> Option<(&'static str, axum::routing::MethodRouter<AppState>)> {
        match self {
            Route::CreateNotification => Some((
                NOTIFICATIONS_WITH_SLASH,
                axum::routing::post(notifications::create),
            )),
            _ => None,
        }
    }

    /// Every `(method, path)` the route serves, as `template.yaml` and the README name them.
    pub fn endpoints(self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .mount(OpenApiRouter::new())
            .into_openapi()
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ];
                methods
                    .into_iter()
                    .filter(|(_, served)| *served)
                    .map(move |(method, _)| (method.to_owned(), path.clone()))
            })
            .collect();
        if self == Route::CreateNotification {
            out.push(("POST".to_owned(), NOTIFICATIONS_WITH_SLASH.to_owned()));
        }
        out
    }
}

/// The routes' handlers, paths and methods in one axum router (no state yet).
pub fn mounted(routes: &[Route]) -> Router<AppState> {
    routes
        .iter()
        .fold(OpenApiRouter::new(), |r, route| route.mount(r))
        .split_for_parts()
        .0
}

/// The router serving `routes`, with the body limit, request ids, tracing, and the envelope for
/// unknown paths and methods.
pub fn router(state: AppState, routes: &[Route]) -> Router {
    serve(state, mounted(routes))
}

/// `mounted` (routes already added with [`Route::mount`]) with the body limit, request ids,
/// tracing, and the envelope for unknown paths and methods.
pub fn serve(state: AppState, mounted: Router<AppState>) -> Router {
    mounted
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_method)
        .layer(DefaultBodyLimit::max(input::MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound
}

/// A known path, another method: 405 with the envelope (axum adds `Allow`, listing the methods
/// this process serves on the path).
async fn unknown_method() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Gives every request an id (the caller's `x-request-id` when it is reasonable, else a new UUID),
/// scopes it for the error envelope, echoes it in the response, and opens the request's span.
async fn request_context(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        organization = tracing::field::Empty
    );
    let header = HeaderValue::from_str(&id).ok();
    let mut response = REQUEST_ID
        .scope(id, next.run(req).instrument(span.clone()))
        .await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "done"));
    if let Some(h) = header {
        response.headers_mut().insert("x-request-id", h);
    }
    response
}
