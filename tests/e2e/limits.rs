//! Per-organization limits (issue 26, part 4): the operator sets them, the plan's apply until
//! then, and past `eventsPerSecond` an event is 429 4029 with `Retry-After` and nothing is
//! recorded; across two instances sharing a table the limit holds exactly.

use std::sync::Arc;

use herald_tests::{Backend, OPERATOR_TOKEN, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn event() -> Value {
    json!({"type": "buildCreated", "data": {"appName": "Limits"}})
}

async fn set_limits(app: &TestApp, org: &str, body: Value) -> herald_tests::Response {
    app.call(
        Method::PATCH,
        &format!("/v1/organizations/{org}"),
        Some(OPERATOR_TOKEN),
        Some(body),
    )
    .await
}

async fn the_operator_sets_limits_over_the_plans_and_bad_bodies_list_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = set_limits(&app, &app.org, json!({"limits": {"eventsPerSecond": 5}})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["data"]["id"], app.org.as_str());
    assert_eq!(
        res.body["data"]["limits"],
        json!({"eventsPerSecond": 5, "emailsPerDay": 1_000_000, "smsPerDay": 100_000}),
        "the PAID plan's, but the one changed"
    );
    let res = set_limits(&app, &app.org, json!({"limits": {"smsPerDay": 7}})).await;
    assert_eq!(
        res.body["data"]["limits"],
        json!({"eventsPerSecond": 5, "emailsPerDay": 1_000_000, "smsPerDay": 7}),
        "{}",
        res.body
    );

    let res = set_limits(
        &app,
        &app.org,
        json!({"limits": {"eventsPerSecond": 0, "emailsPerDay": "many", "smsPerDay": 1_000_000_001_u64, "fax": 1}, "plan": "PAID"}),
    )
    .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("plan", "is not a known field"),
            ("limits.fax", "is not a known field"),
            (
                "limits.eventsPerSecond",
                "must be a whole number from 1 to 1000000000",
            ),
            (
                "limits.emailsPerDay",
                "must be a whole number from 1 to 1000000000",
            ),
            (
                "limits.smsPerDay",
                "must be a whole number from 1 to 1000000000",
            ),
        ]),
    );
    let res = set_limits(&app, &app.org, json!({"limits": {}})).await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("limits", "must name at least one limit")]),
    );
    let res = set_limits(&app, "no-such-org", json!({"limits": {"smsPerDay": 1}})).await;
    assert_error(&res, 404, 3001, None);
    // Users, admins included, do not set limits.
    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/organizations/{}", app.org),
            Some(json!({"limits": {"eventsPerSecond": 100000}})),
        )
        .await;
    assert_error(&res, 401, 4004, None);
    let org = shared::model::OrgId::parse(&app.org).unwrap_or_else(|e| panic!("{e}"));
    let stored = app
        .state
        .store
        .get_organization(&org)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(stored.limits().events_per_second, 5, "nothing changed");
}

async fn emit(app: &TestApp) -> herald_tests::Response {
    app.admin(Method::POST, &app.path("/events"), Some(event()))
        .await
}

async fn past_events_per_second_an_event_is_429_and_nothing_is_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = set_limits(&app, &app.org, json!({"limits": {"eventsPerSecond": 3}})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // Within one second of a stopped clock: three accepted, then refused.
    let clock_now = shared::model::Clock::now(&shared::model::SystemClock);
    let app = app.with_clock(Arc::new(crate::lambda_events::At(clock_now)));
    for _ in 0..3 {
        assert_eq!(emit(&app).await.status, StatusCode::ACCEPTED);
    }
    let refused = emit(&app).await;
    assert_error(&refused, 429, 4029, None);
    assert_eq!(refused.body["error"]["message"], "Too many requests");
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // Nothing recorded: a refused event's idempotency key is not taken, so the next second
    // takes the same key with another body (a recorded key would be 422).
    let keyed = |kind: &str| json!({"type": kind, "data": {"appName": "Limits"}, "idempotencyKey": "limits-1"});
    let refused = app
        .admin(
            Method::POST,
            &app.path("/events"),
            Some(keyed("buildCreated")),
        )
        .await;
    assert_error(&refused, 429, 4029, None);
    let app = app.with_clock(Arc::new(crate::lambda_events::At(
        clock_now + time::Duration::seconds(1),
    )));
    let accepted = app
        .admin(
            Method::POST,
            &app.path("/events"),
            Some(keyed("buildProcessed")),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(accepted.body["data"]["type"], "buildProcessed");
}

async fn a_trial_organization_takes_ten_events_a_second_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = format!("trial-{}", uuid::Uuid::new_v4().simple());
    let created = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some(OPERATOR_TOKEN),
            Some(json!({"id": id, "name": "Trial", "kind": "PRODUCTION", "plan": "TRIAL"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["data"]["organization"]["limits"],
        json!({"eventsPerSecond": 10, "emailsPerDay": 1000, "smsPerDay": 100})
    );
    let token = created.body["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let app = app.with_clock(Arc::new(crate::lambda_events::At(
        shared::model::Clock::now(&shared::model::SystemClock),
    )));
    let path = format!("/v1/organizations/{id}/events");
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(
            app.call(Method::POST, &path, Some(&token), Some(event()))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [[202; 10].as_slice(), &[429]].concat());
}

/// `HERALD_ORGANIZATION_LIMITS=false` (the benchmark's baseline) counts no event.
async fn with_the_limits_switched_off_no_event_is_counted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = set_limits(&app, &app.org, json!({"limits": {"eventsPerSecond": 1}})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let now = shared::model::Clock::now(&shared::model::SystemClock);
    let app = app
        .with_clock(Arc::new(crate::lambda_events::At(now)))
        .restated(|state| {
            let mut config = (*state.config).clone();
            config.organization_limits = false;
            shared::app::AppState {
                config: Arc::new(config),
                ..state
            }
        });
    for _ in 0..3 {
        assert_eq!(emit(&app).await.status, StatusCode::ACCEPTED);
    }
}

herald_tests::on_both_backends!(
    with_the_limits_switched_off_no_event_is_counted,
    the_operator_sets_limits_over_the_plans_and_bad_bodies_list_every_field,
    past_events_per_second_an_event_is_429_and_nothing_is_recorded,
    a_trial_organization_takes_ten_events_a_second_by_default,
);

/// Two instances (each its own state: its own cache and clients) on one table, emitting at once
/// within one second over a limit of 25: exactly 25 accepted, the counter being one conditional
/// write on DynamoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_table_never_take_more_than_the_limit() {
    let first = TestApp::spawn(Backend::Moto).await;
    let res = set_limits(
        &first,
        &first.org,
        json!({"limits": {"eventsPerSecond": 25}}),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let at = Arc::new(crate::lambda_events::At(shared::model::Clock::now(
        &shared::model::SystemClock,
    )));
    let first = first.with_clock(at);
    // The second instance: the same table, its own limits cache and router.
    let mut state = first.state.clone();
    state.limits = Arc::new(shared::domain::limits::LimitsCache::default());
    let second = TestApp {
        backend: Backend::Moto,
        router: shared::api::router(state.clone(), shared::api::Route::ALL),
        state,
        org: first.org.clone(),
        admin_token: first.admin_token.clone(),
        admin_id: first.admin_id.clone(),
        calls: first.calls.clone(),
    };
    let path = first.path("/events");
    let calls = (0..40).map(|i| {
        let (app, path) = (if i % 2 == 0 { &first } else { &second }, path.clone());
        async move {
            app.admin(Method::POST, &path, Some(event()))
                .await
                .status
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((accepted, refused), (25, 15), "{statuses:?}");
}
