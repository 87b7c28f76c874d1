//! The notifications admin API under `/api/v2` through the API, on both backends.

use std::time::Duration;

use herald_tests::{Backend, Response, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::model::Channel;
use shared::model::{DeliveryStatus, Email, EventType, Language, OrgId};
use shared::templates::{self, TemplateKey};

const SETTINGS: &str = "/api/v2/notifications/settings";

fn template_id(key: TemplateKey) -> String {
    templates::get(key).id.to_string()
}

fn cert() -> String {
    template_id(TemplateKey::Event(EventType::CertificateWillExpire))
}

fn inventory() -> String {
    template_id(TemplateKey::Event(EventType::InventoryItemRegistered))
}

fn prefs(user: &str) -> String {
    format!("/api/v2/users/{user}/notifications/preferences")
}

/// A request authenticated with the admin API's `Coder-Session-Token` header.
async fn coder(app: &TestApp, method: Method, path: &str, token: &str, body: &str) -> Response {
    app.raw(
        method,
        path,
        &[
            ("coder-session-token", token),
            ("content-type", "application/json"),
        ],
        body.as_bytes().to_vec(),
    )
    .await
}

async fn paused(app: &TestApp) -> Value {
    let res = app.admin(Method::GET, SETTINGS, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
}

async fn dispatch_methods_are_one_object_with_the_available_methods_and_email_as_default(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let path = "/api/v2/notifications/dispatch-methods";
    for token in [&app.admin_token, &member] {
        let res = coder(&app, Method::GET, path, token, "").await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(
            res.body,
            json!([{"available": ["email", "slack", "sms", "webhook"], "default": "email"}])
        );
    }
    let res = app.call(Method::GET, path, None, None).await;
    assert_error(&res, 401, 4002, None);
}

async fn pausing_answers_200_then_304_when_nothing_changes_and_keeps_seed_003_fields(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let seed3 = format!("/v1/environments/{}/notificationsSettings", app.org);
    let res = app
        .admin(
            Method::PUT,
            &seed3,
            Some(
                json!({"restrictions": {"smsVoiceQuota": {"daily": 12}}, "defaultLanguage": "de"}),
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let seed3_before = app.admin(Method::GET, &seed3, None).await.body;

    assert_eq!(paused(&app).await, json!({"notifier_paused": false}));
    let pause = json!({"notifier_paused": true});
    let res = app.admin(Method::PUT, SETTINGS, Some(pause.clone())).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, json!({"notifier_paused": true}));
    let again = coder(
        &app,
        Method::PUT,
        SETTINGS,
        &app.admin_token,
        r#"{"notifier_paused": true}"#,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.body, Value::Null, "304 has no body");
    assert_eq!(paused(&app).await, json!({"notifier_paused": true}));
    // The settings API's fields are untouched by the pause, and the settings API's reset leaves the pause alone.
    assert_eq!(
        app.admin(Method::GET, &seed3, None).await.body,
        seed3_before
    );
    let reset = app.admin(Method::DELETE, &seed3, None).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(paused(&app).await, json!({"notifier_paused": true}));

    let resume = json!({"notifier_paused": false});
    let res = app.admin(Method::PUT, SETTINGS, Some(resume.clone())).await;
    assert_eq!(
        (res.status, res.body),
        (StatusCode::OK, json!({"notifier_paused": false}))
    );
    let res = app.admin(Method::PUT, SETTINGS, Some(resume)).await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
}

async fn bad_pause_requests_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let res = app
        .admin(
            Method::PUT,
            SETTINGS,
            Some(json!({"notifier_paused": "yes"})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("notifier_paused", "must be a boolean")]),
    );
    let res = app
        .admin(
            Method::PUT,
            SETTINGS,
            Some(json!({"notifier_paused": null, "extra": 1})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("extra", "is not a known field"),
            ("notifier_paused", "must be a boolean"),
        ]),
    );
    let res = app.admin(Method::PUT, SETTINGS, Some(json!({}))).await;
    assert_error(&res, 400, 1001, Some(&[("notifier_paused", "is required")]));
    let res = coder(&app, Method::PUT, SETTINGS, &app.admin_token, "{not json").await;
    assert_error(&res, 400, 1000, None);
    let res = coder(
        &app,
        Method::PUT,
        SETTINGS,
        &member,
        r#"{"notifier_paused": true}"#,
    )
    .await;
    assert_error(&res, 403, 4003, None);
    // A member may read it.
    let res = coder(&app, Method::GET, SETTINGS, &member, "").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(paused(&app).await, json!({"notifier_paused": false}));
}

async fn system_templates_are_the_sixteen_static_templates_read_without_the_store(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    app.calls.take();
    let res = coder(
        &app,
        Method::GET,
        "/api/v2/notifications/templates/system",
        &member,
        "",
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    if backend == Backend::Moto {
        assert_eq!(
            app.calls.take(),
            ["GetItem", "UpdateItem"],
            "only the token is read (and its first use recorded)"
        );
    }
    let list = res.body.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 16);
    let cert = list
        .iter()
        .find(|t| t["name"] == "Certificate Will Expire")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        cert,
        json!({
            "actions": r#"[{"label":"Renew certificate","url":"{{ url }}"}]"#,
            "body_template": "The certificate {{ certificateName }} expires on {{ expiresAt }}. Renew it before then.",
            "enabled_by_default": true,
            "group": "Certificates",
            "id": cert_id_literal(),
            "kind": "system",
            "method": "",
            "name": "Certificate Will Expire",
            "title_template": "Certificate {{ certificateName }} expires soon",
        })
    );
    let groups: Vec<&str> = list.iter().filter_map(|t| t["group"].as_str()).collect();
    for group in [
        "Build",
        "Feedback",
        "Certificates",
        "Push",
        "EMM",
        "ADM",
        "Windows",
        "Inventory",
        "Test",
    ] {
        assert!(groups.contains(&group), "{group}");
    }
    let disabled: Vec<&Value> = list
        .iter()
        .filter(|t| t["enabled_by_default"] == false)
        .map(|t| &t["name"])
        .collect();
    assert_eq!(disabled, [&json!("Inventory Item Registered")]);
    for t in &list {
        let actions: Value =
            serde_json::from_str(t["actions"].as_str().unwrap_or_default()).unwrap_or_default();
        assert!(actions.is_array(), "actions is a JSON string of a list");
    }
}

/// The id of "Certificate Will Expire", as every deployment has it.
fn cert_id_literal() -> String {
    let id = cert();
    assert_eq!(
        uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()),
        Ok(5)
    );
    id
}

async fn a_test_notification_is_durably_queued_for_the_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = coder(
        &app,
        Method::POST,
        "/api/v2/notifications/test",
        &app.admin_token,
        "",
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, Value::Null, "an empty body");
    let received = app
        .state
        .queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(received.len(), 1, "exactly one message");
    let delivery = &received[0].message.delivery;
    let org = OrgId::parse(&app.org).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivery.organization, org);
    let recorded = app
        .state
        .store
        .get_delivery(&org, delivery.created_at, delivery.id)
        .await;
    match backend {
        // On SQS its message is its record until the sender claims it.
        Backend::Moto => assert_eq!(recorded, Ok(None)),
        // On SQLite the delivery's row is its queue entry: recorded, queued.
        Backend::Sqlite => assert_eq!(recorded, Ok(Some(delivery.clone()))),
    }
    assert_eq!(delivery.status, DeliveryStatus::Queued);
    assert_eq!(delivery.template, templates::get(TemplateKey::Test).id);
    assert_eq!(
        delivery.user.map(|u| u.to_string()),
        Some(app.admin_id.clone())
    );
    let admin = app
        .admin(Method::GET, &app.path("/users/me"), None)
        .await
        .body;
    let email = Email::parse(admin["data"]["email"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivery.channel, Channel::Email { to: email });
    assert_eq!(delivery.language, Language::En);
    assert_eq!(delivery.attempts, 0);
}

async fn a_member_cannot_send_a_test_notification_and_nothing_is_queued(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let res = coder(
        &app,
        Method::POST,
        "/api/v2/notifications/test",
        &member,
        "",
    )
    .await;
    assert_error(&res, 403, 4003, None);
    let received = app
        .state
        .queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(received.is_empty());
}

async fn preferences_merge_and_list_every_template_the_user_set(backend: Backend) {
    let clock = std::sync::Arc::new(herald_tests::delivery::ShiftedClock::default());
    let app = TestApp::spawn(backend).await.with_clock(clock.clone());
    let res = app.admin(Method::GET, &prefs("me"), None).await;
    assert_eq!((res.status, res.body), (StatusCode::OK, json!([])));

    let body = json!({"template_disabled_map": {cert(): true, inventory(): false}});
    let res = app.admin(Method::PUT, &prefs("me"), Some(body)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let first = res.body.as_array().cloned().unwrap_or_default();
    assert_eq!(first.len(), 2);
    let mut expected = vec![(cert(), true), (inventory(), false)];
    expected.sort();
    let got: Vec<(String, bool)> = first
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default().to_owned(),
                p["disabled"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(got, expected, "ordered by template id");
    for p in &first {
        let keys: Vec<&String> = p
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["disabled", "id", "updated_at"]);
        let ts = p["updated_at"].as_str().unwrap_or_default();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    }

    // A PUT merges: the unchanged entry keeps its timestamp; the changed one moves.
    clock.advance(Duration::from_secs(1));
    let body = json!({"template_disabled_map": {cert(): true, inventory(): true}});
    let res = app
        .admin(Method::PUT, &prefs(&app.admin_id), Some(body))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let second = res.body.as_array().cloned().unwrap_or_default();
    let find = |list: &[Value], id: &str| {
        list.iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(find(&second, &cert()), find(&first, &cert()));
    assert_eq!(find(&second, &inventory())["disabled"], true);
    assert_ne!(
        find(&second, &inventory())["updated_at"],
        find(&first, &inventory())["updated_at"]
    );
    let res = app.admin(Method::GET, &prefs("me"), None).await;
    assert_eq!(res.body, Value::Array(second));
}

async fn preferences_belong_to_their_user_or_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mia_id, mia) = app.user_with_token("mia", &["member"]).await;
    let (_, ben) = app.user_with_token("ben", &["member"]).await;
    // An admin sets a member's preferences by username.
    let body = json!({"template_disabled_map": {cert(): true}});
    let res = app.admin(Method::PUT, &prefs("mia"), Some(body)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // The member reads them by id, by `me`, with either header.
    for path in [prefs(&mia_id), prefs("me"), prefs("mia")] {
        let res = coder(&app, Method::GET, &path, &mia, "").await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {}", res.body);
        assert_eq!(res.body[0]["id"], cert());
    }
    // Another member may neither read nor write them.
    let res = coder(&app, Method::GET, &prefs("mia"), &ben, "").await;
    assert_error(&res, 403, 4003, None);
    let body = format!(r#"{{"template_disabled_map": {{"{}": false}}}}"#, cert());
    let res = coder(&app, Method::PUT, &prefs(&mia_id), &ben, &body).await;
    assert_error(&res, 403, 4003, None);
    let res = coder(&app, Method::GET, &prefs("me"), &mia, "").await;
    assert_eq!(
        res.body[0]["disabled"], true,
        "unchanged by the refused PUT"
    );
    // Unknown users are 404 (a UUID, a username, something that is neither).
    for who in [
        uuid::Uuid::now_v7().to_string(),
        "nobody".into(),
        "x".into(),
    ] {
        let res = app.admin(Method::GET, &prefs(&who), None).await;
        assert_error(&res, 404, 3001, None);
    }
    // No token at all.
    let res = app.call(Method::GET, &prefs("me"), None, None).await;
    assert_error(&res, 401, 4002, None);
}

async fn bad_preferences_are_all_listed_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let body = json!({"template_disabled_map": {
        cert(): "yes",
        unknown.clone(): true,
        "not-a-uuid": false,
        inventory(): true,
    }});
    let res = app.admin(Method::PUT, &prefs("me"), Some(body)).await;
    let cert_field = format!("template_disabled_map.{}", cert());
    let unknown_field = format!("template_disabled_map.{unknown}");
    let mut expected = vec![
        (cert_field.as_str(), "must be a boolean"),
        (unknown_field.as_str(), "is not a system template"),
        (
            "template_disabled_map.not-a-uuid",
            "must be a template id (a UUID)",
        ),
    ];
    expected.sort();
    assert_error(&res, 400, 1001, Some(&expected));
    let res = app
        .admin(
            Method::PUT,
            &prefs("me"),
            Some(json!({"template_disabled_map": []})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("template_disabled_map", "must be an object")]),
    );
    let res = app
        .admin(Method::PUT, &prefs("me"), Some(json!({"other": {}})))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("other", "is not a known field"),
            ("template_disabled_map", "is required"),
        ]),
    );
    let res = coder(&app, Method::PUT, &prefs("me"), &app.admin_token, "[1,").await;
    assert_error(&res, 400, 1000, None);
    // Nothing was written, not even the valid entry of the refused request.
    let res = app.admin(Method::GET, &prefs("me"), None).await;
    assert_eq!(res.body, json!([]));
}

herald_tests::on_both_backends!(
    dispatch_methods_are_one_object_with_the_available_methods_and_email_as_default,
    pausing_answers_200_then_304_when_nothing_changes_and_keeps_seed_003_fields,
    bad_pause_requests_are_refused_and_change_nothing,
    system_templates_are_the_sixteen_static_templates_read_without_the_store,
    a_test_notification_is_durably_queued_for_the_caller,
    a_member_cannot_send_a_test_notification_and_nothing_is_queued,
    preferences_merge_and_list_every_template_the_user_set,
    preferences_belong_to_their_user_or_an_admin,
    bad_preferences_are_all_listed_and_change_nothing,
);
