//! The HTTP API: one axum handler per route, mounted one route per Lambda function or all together
//! in the local server (ARCHITECTURE "one handler, two hosts").

pub mod admin;
pub mod events;
pub mod input;
pub mod notifications;
pub mod openapi;
pub mod organizations;
pub mod recipients;
pub mod settings;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::Serialize;
use tracing::Instrument;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::auth::sha256_hex;
use crate::config::{Config, ConfigError};
use crate::error::{ApiError, FieldError, REQUEST_ID};
use crate::intake::{EventIntake, RecordThenQueue};
use crate::model::{Clock, SystemClock};
use crate::net::{Resolver, SystemResolver};
use crate::queue::sqlite::SqliteQueue;
use crate::queue::sqs::SqsQueue;
use crate::queue::{DeliveryMessage, FanoutMessage, MAX_RECEIVES, Queue, QueueError, QueueMessage};
use crate::slack::SlackOAuth;
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::Sqlite;
use crate::store::{Store, StoreError};

/// Everything a handler needs, built once per process and shared.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The delivery queue (the sender's input).
    pub queue: Arc<dyn Queue<DeliveryMessage>>,
    /// The fan-out queue (emitted events, one chunk per message).
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
    /// Records an event and queues its fan-out, as one unit.
    pub intake: Arc<dyn EventIntake>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub resolver: Arc<dyn Resolver>,
    pub slack: SlackOAuth,
    /// SHA-256 (hex) of `HERALD_OPERATOR_TOKEN`; the plain secret is not kept.
    pub operator_token_hash: Option<Arc<str>>,
}

/// The store and the queues a state runs on.
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue<DeliveryMessage>>,
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
    pub intake: Arc<dyn EventIntake>,
}

impl Backends {
    /// The embedded database: its store, both its queues, and events accepted in one
    /// transaction with their fan-out message.
    pub fn sqlite(db: Sqlite) -> Self {
        Self {
            queue: Arc::new(SqliteQueue::<DeliveryMessage>::new(
                db.clone(),
                crate::queue::sqlite::DELIVERIES,
                MAX_RECEIVES,
            )),
            fanout: Arc::new(SqliteQueue::<FanoutMessage>::new(
                db.clone(),
                crate::queue::sqlite::FANOUT,
                MAX_RECEIVES,
            )),
            intake: Arc::new(db.clone()),
            store: Arc::new(db),
        }
    }

    /// A store and two queues that are separate services (DynamoDB and SQS): an event is
    /// recorded, then queued.
    pub fn separate(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue<DeliveryMessage>>,
        fanout: Arc<dyn Queue<FanoutMessage>>,
    ) -> Self {
        Self {
            intake: Arc::new(RecordThenQueue {
                store: store.clone(),
                fanout: fanout.clone(),
            }),
            store,
            queue,
            fanout,
        }
    }
}

impl AppState {
    /// State over `backends`, with the system clock and resolver.
    pub fn new(config: Config, backends: Backends) -> Self {
        Self {
            store: backends.store,
            queue: backends.queue,
            fanout: backends.fanout,
            intake: backends.intake,
            slack: SlackOAuth::new(&config),
            operator_token_hash: config
                .operator_token
                .as_deref()
                .map(|t| Arc::from(sha256_hex(t))),
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            resolver: Arc::new(SystemResolver),
        }
    }

    /// State on the embedded database (the local server, and the fast tests).
    pub fn on_sqlite(config: Config, db: Sqlite) -> Self {
        Self::new(config, Backends::sqlite(db))
    }

    /// State on DynamoDB and the queues `queue` makes, from the standard AWS variables (a Lambda
    /// function: the DynamoDB client created here, once; the SQS client on first use). A function
    /// binary that never enqueues passes [`no_queue`], so it does not link the SQS client.
    pub async fn on_aws_from_env(config: Config, queue: QueueFactory) -> Result<Self, ConfigError> {
        Ok(Self::on_aws(config, crate::aws::sdk_config().await?, queue))
    }

    /// State on DynamoDB and the queues `queue` makes, from an SDK configuration the caller
    /// already has (the sender builds its SES and SNS clients from the same one).
    pub fn on_aws(config: Config, aws: aws_config::SdkConfig, queue: QueueFactory) -> Self {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            config.table_name.clone(),
        )
        .with_retention(config.retention);
        let queues = queue(aws, &config);
        Self::new(
            config,
            Backends::separate(Arc::new(store), queues.deliveries, queues.fanout),
        )
    }

    /// Replaces the fan-out queue (tests wrap it to make it fail). Events are then recorded and
    /// queued in two steps, as on AWS: a transaction cannot span a queue it does not own.
    pub fn with_fanout(mut self, fanout: Arc<dyn Queue<FanoutMessage>>) -> Self {
        self.intake = Arc::new(RecordThenQueue {
            store: self.store.clone(),
            fanout: fanout.clone(),
        });
        self.fanout = fanout;
        self
    }

    pub fn with_queue(mut self, queue: Arc<dyn Queue<DeliveryMessage>>) -> Self {
        self.queue = queue;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.resolver = resolver;
        self
    }
}

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

/// The two queues of the AWS backend.
pub struct Queues {
    pub deliveries: Arc<dyn Queue<DeliveryMessage>>,
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
}

/// Makes the AWS backend's queues from the shared SDK configuration.
pub type QueueFactory = fn(aws_config::SdkConfig, &Config) -> Queues;

/// The queues on SQS, at `HERALD_DELIVERY_QUEUE_URL` and `HERALD_FANOUT_QUEUE_URL`. Without a URL
/// every send fails (503); the functions that enqueue refuse to start without theirs.
pub fn sqs_queue(aws: aws_config::SdkConfig, config: &Config) -> Queues {
    let url = |u: &Option<String>| u.clone().unwrap_or_default();
    Queues {
        deliveries: Arc::new(SqsQueue::<DeliveryMessage>::new(
            aws.clone(),
            url(&config.delivery_queue_url),
        )),
        fanout: Arc::new(SqsQueue::<FanoutMessage>::new(
            aws,
            url(&config.fanout_queue_url),
        )),
    }
}

/// For a function that never enqueues: every call fails (a bug if one happens).
pub fn no_queue(_: aws_config::SdkConfig, _: &Config) -> Queues {
    Queues {
        deliveries: Arc::new(NoQueue),
        fanout: Arc::new(NoQueue),
    }
}

struct NoQueue;

fn no_queue_error() -> QueueError {
    QueueError::Unavailable("this function has no queue".into())
}

#[async_trait::async_trait]
impl<M: QueueMessage> Queue<M> for NoQueue {
    async fn send(&self, _: &[M]) -> Result<(), QueueError> {
        Err(no_queue_error())
    }

    async fn receive(
        &self,
        _: usize,
        _: std::time::Duration,
    ) -> Result<Vec<crate::queue::Received<M>>, QueueError> {
        Err(no_queue_error())
    }

    async fn ack_all(&self, _: &[String]) -> Result<(), QueueError> {
        Err(no_queue_error())
    }

    async fn delay(&self, _: &str, _: std::time::Duration) -> Result<(), QueueError> {
        Err(no_queue_error())
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

/// The success envelope of seed 000 and SPEC §8: `{"status": true, "data": ...}`.
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
    ($($(#[$doc:meta])* $variant:ident $function:literal => $handler:path,)+) => {
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
                    $(Route::$variant => routes!($handler),)+
                }
            }
        }
    };
}

route_table! {
    CreateOrganization "create-organization" => organizations::create_organization,
    CreateUser "create-user" => organizations::create_user,
    ListUsers "list-users" => organizations::list_users,
    GetUser "get-user" => organizations::get_user,
    CreateToken "create-token" => organizations::create_token,
    RevokeToken "revoke-token" => organizations::revoke_token,
    /// Seed 000 writes its path with a trailing slash: both spellings are served.
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
    ListDeliveries "list-deliveries" => events::list_deliveries,
    TestNotification "test-notification" => notifications::test,
    ListEventTypes "list-event-types" => events::event_types,
}

/// Seed 000's spelling of the notifications path, served by [`Route::CreateNotification`] too.
const NOTIFICATIONS_WITH_SLASH: &str = "/v1/organizations/{organizationId}/notifications/";

impl Route {
    /// Whether the route puts deliveries on the delivery queue (its function needs
    /// `HERALD_DELIVERY_QUEUE_URL` and the SQS client).
    #[inline(always)]
    pub fn enqueues_deliveries(self) -> bool {
        matches!(self, Route::SendTestNotification | Route::TestNotification)
    }

    /// Whether the route puts events on the fan-out queue (its function needs
    /// `HERALD_FANOUT_QUEUE_URL` and the SQS client).
    #[inline(always)]
    pub fn enqueues_fanouts(self) -> bool {
        matches!(self, Route::EmitEvent | Route::UpdateNotifierSettings)
    }

    /// Adds the route to `router`: its handler at its path and methods, and its OpenAPI
    /// operation. Always inlined, as [`Route::methods`].
    #[inline(always)]
    pub fn mount(self, router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
        let router = router.routes(self.methods());
        match self {
            Route::CreateNotification => router.route(
                NOTIFICATIONS_WITH_SLASH,
                axum::routing::post(notifications::create),
            ),
            _ => router,
        }
    }

    /// An axum router of this route alone (a Lambda function's). Always inlined, as
    /// [`Route::methods`].
    #[inline(always)]
    pub fn alone(self) -> Router<AppState> {
        self.mount(OpenApiRouter::new()).split_for_parts().0
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
        tenant = tracing::field::Empty
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
