//! Every sample event in `events/` goes through its function's app exactly as `lambda_http` hands
//! it over (API Gateway HTTP API, payload v2), on a store seeded with the fixtures the events name.

use std::path::PathBuf;
use std::sync::Arc;

use herald_tests::{FakeResolver, OPERATOR_TOKEN, test_config};
use http_body_util::BodyExt;
use lambda_http::request::LambdaRequest;
use serde_json::{Value, json};
use shared::api::Route;
use shared::app::AppState;
use shared::config::Config;
use shared::model::token::sha256_hex;
use shared::model::{
    Channel, Delivery, Notification, Organization, Recipient, RecipientKind, Target, TokenRecord,
    User, WebhookTarget,
};
use shared::model::{
    Clock, DeliveryStatus, Email, EventSet, EventType, Language, NotificationId, OrgId, OrgKind,
    Plan, Role, SystemClock, TokenId, Username,
};
use shared::ports::store::Store;
use tower::ServiceExt;

mod workers;

const ORG: &str = "sample-org";
const ADMIN_TOKEN: &str = "hrld_sample-org_SampleAdminTokenForLambdaEventFixtures00000";
const TOKEN_TO_REVOKE: &str = "hrld_sample-org_SampleTokenToRevokeInTheRevokeEvent00000000";
const NOTIFICATION: &str = "5f1e2d3c4b5a697887960001";
const EMAIL_NOTIFICATION: &str = "5f1e2d3c4b5a697887960002";
const USER: &str = "01890a5d-ac96-774b-bcce-b302099a8057";
/// A member, whose roles the update-user sample changes and whom the delete-user sample deletes.
const MEMBER: &str = "01890a5d-ac96-774b-bcce-b302099a8058";

const EVENT: &str = "01890a5e-0000-7000-8000-00000000e001";
/// An event whose fan-out failed: the retry-fanout sample names it.
const FAILED_EVENT: &str = "01890a5e-0000-7000-8000-00000000e002";

/// The delivery the get-delivery sample names.
const DELIVERY: &str = "01890a5e-0000-7000-8000-00000000d001";

/// The failed delivery the resend and recover samples name.
const FAILED_DELIVERY: &str = "01890a5e-0000-7000-8000-00000000d002";

/// The delivery of the dead-letters sample's message.
const DEAD_DELIVERY: &str = "01890a5e-0000-7000-8000-00000000d003";

/// The recover sample's window ends before this (its `timeEpoch`, and the app's clock for it).
const SAMPLE_NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-23 19:00:00 UTC);

/// The event the get-event and fan-out samples name.
fn sample_event() -> shared::model::Event {
    shared::model::Event {
        id: parse(EVENT.parse()),
        organization: parse(OrgId::parse(ORG)),
        kind: EventType::BuildCreated,
        data: serde_json::json!({"appName": "Sample"}),
        idempotency_key: None,
        body_hash: "sample".into(),
        created_at: SystemClock.now(),
        fanout: shared::model::Fanout::PENDING,
        fanout_round: 0,
    }
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn parse<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("fixture: {e}"))
}

fn token_record(secret: &str, user: &User) -> TokenRecord {
    let hash = sha256_hex(secret);
    TokenRecord {
        id: TokenId::of_hash(&hash),
        organization: user.organization.clone(),
        hash,
        user_id: user.id,
        roles: user.roles.clone(),
        permissions: None,
        expires_at: None,
        created_at: SystemClock.now(),
        last_used_at: None,
    }
}

/// A database holding what the sample events refer to.
async fn seeded_state() -> AppState {
    let store = herald_tests::temp_database();
    seed(&store).await;
    let config = Config {
        operator_token: Some("sample-operator-token".into()),
        ..test_config("http://127.0.0.1:9".into())
    };
    assert_ne!(config.operator_token.as_deref(), Some(OPERATOR_TOKEN));
    AppState::on_sqlite(config, store).with_resolver(Arc::new(FakeResolver::default()))
}

/// Records what the sample events refer to in `store` (an empty one).
pub(crate) async fn seed(store: &dyn Store) {
    let now = SystemClock.now();
    let org = parse(OrgId::parse(ORG));
    let admin = User {
        id: parse(USER.parse::<uuid::Uuid>()),
        organization: org.clone(),
        username: parse(Username::parse("sample-admin")),
        email: parse(Email::parse("admin@sample.example")),
        phone: None,
        roles: vec![Role::Admin],
        created_at: now,
    };
    let organization = Organization {
        id: org.clone(),
        name: "Sample".into(),
        kind: OrgKind::Production,
        plan: Plan::Paid,
        created_at: now,
        limits: None,
    };
    parse(
        store
            .create_organization(&organization, &admin, &token_record(ADMIN_TOKEN, &admin))
            .await,
    );
    parse(
        store
            .create_token(&token_record(TOKEN_TO_REVOKE, &admin))
            .await,
    );
    let member = User {
        id: parse(MEMBER.parse::<uuid::Uuid>()),
        username: parse(Username::parse("sample-member")),
        email: parse(Email::parse("member@sample.example")),
        roles: vec![Role::Member],
        ..admin.clone()
    };
    parse(store.create_user(&member).await);
    let notification = Notification {
        id: parse(NotificationId::parse(NOTIFICATION)),
        organization: org,
        description: Some("Sample".into()),
        target: Target::Webhook(WebhookTarget {
            url: "https://hooks.example.com/herald".into(),
            secret: shared::model::Sealed::from_stored("whsec_sample"),
            previous: None,
        }),
        events: EventSet::default().with(EventType::BuildCreated, true),
        enabled: true,
        disabled_reason: None,
        failing: None,
        rate_limit: None,
        throttled_until: None,
        created_at: now,
        updated_at: now,
    };
    parse(store.create_notification(&notification, 100).await);
    let email = Notification {
        id: parse(NotificationId::parse(EMAIL_NOTIFICATION)),
        target: Target::Email,
        ..notification
    };
    parse(store.create_notification(&email, 100).await);
    let recipient = Recipient {
        id: admin.id,
        organization: email.organization.clone(),
        notification: email.id.clone(),
        kind: RecipientKind::User,
        email: admin.email.clone(),
        phone: None,
        username: Some(admin.username.to_string()),
        embed: None,
        created_at: now,
        updated_at: now,
    };
    let recipient_org = recipient.organization.clone();
    parse(store.put_recipients(&[recipient]).await);
    // The delivery the get-delivery sample names: the sample event's, skipped.
    let skipped = Delivery {
        event: Some(parse(EVENT.parse())),
        status: DeliveryStatus::Skipped,
        reason: Some(shared::model::SkipReason::NotWhitelisted),
        ..Delivery::queued(
            parse(DELIVERY.parse()),
            recipient_org.clone(),
            shared::templates::get(shared::templates::TemplateKey::Event(
                EventType::BuildCreated,
            ))
            .id,
            Channel::Webhook {
                notification: parse(NotificationId::parse(NOTIFICATION)),
            },
            Language::En,
            now,
            now,
        )
    };
    // The delivery the resend and recover samples name: failed, inside the recover window.
    let failed = Delivery {
        id: parse(FAILED_DELIVERY.parse()),
        status: DeliveryStatus::Failed,
        attempts: 5,
        round: 0,
        history: Vec::new(),
        last_error: Some("answered 503 (after 5 attempts)".into()),
        reason: None,
        created_at: time::macros::datetime!(2026-11-21 12:00:00 UTC),
        ..skipped.clone()
    };
    parse(store.put_deliveries(&[skipped, failed]).await);
    // The operational webhook the get, put (a change) and delete samples find.
    let hook = shared::model::OperationalWebhook {
        organization: recipient_org.clone(),
        url: "https://hooks.example.com/herald-ops".into(),
        events: vec![shared::model::OperationalEvent::DeliveryFailed],
        secret: shared::model::Sealed::from_stored("whsec_sample"),
        created_at: now,
        updated_at: now,
    };
    parse(store.put_operational_webhook(&hook).await);
    let created = store
        .create_event(&sample_event(), now + time::Duration::hours(24))
        .await;
    assert_eq!(created, Ok(shared::model::EventCreated::New));
    let failed = shared::model::Event {
        id: parse(FAILED_EVENT.parse()),
        ..sample_event()
    };
    let created = store
        .create_event(&failed, now + time::Duration::hours(24))
        .await;
    assert_eq!(created, Ok(shared::model::EventCreated::New));
    let recorded = store
        .record_fanout(
            &failed.organization,
            failed.id,
            shared::ports::store::FanoutProgress::Failed { round: 0 },
        )
        .await;
    assert_eq!(recorded, Ok(()));
}

fn expected_status(route: Route) -> u16 {
    match route {
        Route::CreateOrganization | Route::CreateUser | Route::CreateToken => 201,
        Route::EmitEvent
        | Route::TestNotification
        | Route::ResendDelivery
        | Route::RecoverDeliveries
        | Route::RetryFanout => 202,
        _ => 200,
    }
}

#[tokio::test]
async fn every_function_has_a_sample_event_that_its_handler_answers() {
    let mut files: Vec<PathBuf> = parse(std::fs::read_dir(events_dir()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut covered = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "json"))
    {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if [
            "quota-reset",
            "relay",
            "fanout-dead-letters",
            "fan-out",
            "sender",
            "dead-letters",
            "console",
        ]
        .iter()
        .any(|f| name.starts_with(f))
        {
            continue; // the scheduled and SQS-triggered functions, and the console: see below
        }
        let route = Route::ALL
            .iter()
            .copied()
            .filter(|r| name.starts_with(r.function_name()))
            .max_by_key(|r| r.function_name().len())
            .unwrap_or_else(|| panic!("events/{name}.json belongs to no function"));
        let raw = parse(std::fs::read_to_string(file));
        let event: LambdaRequest = parse(serde_json::from_str(&raw));
        let request: http::Request<lambda_http::Body> = event.into();
        let state = match route {
            Route::RecoverDeliveries => seeded_state().await.with_clock(Arc::new(At(SAMPLE_NOW))),
            _ => seeded_state().await,
        };
        let app = functions::app(state, route);
        let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = body_bytes(response).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(status, expected_status(route), "events/{name}.json: {body}");
        // Seeds 002, 003 and 004 answer with the resource itself, no {"status", "data"}
        // envelope; the test notification with an empty body.
        match route {
            Route::SendTestNotification => {
                assert!(bytes.is_empty(), "events/{name}.json: {body}");
            }
            Route::AddRecipients
            | Route::ListRecipients
            | Route::DeleteRecipient
            | Route::GetNotificationsSettings
            | Route::UpdateNotificationsSettings
            | Route::ResetNotificationsSettings
            | Route::GetDispatchMethods
            | Route::GetNotifierSettings
            | Route::UpdateNotifierSettings
            | Route::ListSystemTemplates
            | Route::GetNotificationPreferences
            | Route::UpdateNotificationPreferences => {
                assert!(
                    (body.is_object() || body.is_array()) && body.get("error").is_none(),
                    "events/{name}.json: {body}"
                );
            }
            Route::ResendDelivery => assert_eq!(
                body,
                json!({"status": true, "data": {"id": FAILED_DELIVERY, "status": "queued"}})
            ),
            Route::RecoverDeliveries => assert_eq!(
                body,
                json!({"status": true, "data": {"queued": 1, "more": false}})
            ),
            Route::RetryFanout => assert_eq!(
                body,
                json!({"status": true, "data": {"id": FAILED_EVENT, "fanout": {"status": "pending", "deliveries": 0}}})
            ),
            _ => assert_eq!(body["status"], true, "events/{name}.json: {body}"),
        }
        assert_eq!(
            request_id,
            format!("sample-{name}"),
            "API Gateway's request id is the request id"
        );
        covered.push(route);
    }
    for route in Route::ALL {
        assert!(
            covered.contains(route),
            "no sample event for {}",
            route.function_name()
        );
    }
}

/// A clock the tests set.
/// A clock stopped at one time.
pub(crate) struct At(pub(crate) time::OffsetDateTime);

impl Clock for At {
    fn now(&self) -> time::OffsetDateTime {
        self.0
    }
}

#[tokio::test]
async fn the_console_sample_event_gets_its_script_with_the_strict_policy() {
    let raw = parse(std::fs::read_to_string(events_dir().join("console.json")));
    let event: LambdaRequest = parse(serde_json::from_str(&raw));
    let request: http::Request<lambda_http::Body> = event.into();
    let response = functions::console()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header("content-security-policy"), shared::console::CSP);
    let bytes = body_bytes(response).await;
    assert!(bytes.starts_with(b"// Herald's console"));
}

/// API Gateway's `$default` route reaches create-notification: the notifications API's trailing-slash path
/// creates (the sample above), and any other path or method gets Herald's envelope.
#[tokio::test]
async fn the_default_route_answers_unknown_paths_and_methods_with_the_envelope() {
    let raw = parse(std::fs::read_to_string(
        events_dir().join("create-notification-default-route.json"),
    ));
    for (method, path, status, code) in [
        ("GET", "/v1/nowhere", 404, 3001),
        (
            "GET",
            "/v1/organizations/sample-org/notifications/",
            405,
            1004,
        ),
    ] {
        let mut event: Value = parse(serde_json::from_str(&raw));
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["requestContext"]["http"]["method"] = json!(method);
        let event: LambdaRequest = parse(serde_json::from_value(event));
        let request: http::Request<lambda_http::Body> = event.into();
        let app = functions::app(seeded_state().await, Route::CreateNotification);
        let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let bytes = body_bytes(response).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(body["status"], false, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
}

/// A handler's whole response body.
async fn body_bytes(response: http::Response<axum::body::Body>) -> axum::body::Bytes {
    response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}
