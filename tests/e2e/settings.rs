//! Environment notifications settings (the settings API) through the API, on both backends.

use herald_tests::{Backend, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn path(app: &TestApp) -> String {
    format!("/v1/environments/{}/notificationsSettings", app.org)
}

async fn settings(app: &TestApp) -> Value {
    let res = app.admin(Method::GET, &path(app), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
}

async fn a_production_organization_starts_with_the_seeds_defaults(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app
        .raw(
            Method::GET,
            &path(&app),
            &[
                ("authorization", &format!("Bearer {}", app.admin_token)),
                ("host", "herald.example.com"),
                ("x-forwarded-proto", "https"),
            ],
            Vec::new(),
        )
        .await
        .body;
    let keys: Vec<&str> = body
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "_links",
            "defaultLanguage",
            "deliveryMode",
            "environment",
            "restrictions",
            "updatedAt",
            "whitelist"
        ]
    );
    let env = format!("https://herald.example.com/v1/environments/{}", app.org);
    assert_eq!(
        body["_links"],
        json!({"self": {"href": format!("{env}/notificationsSettings")}, "environment": {"href": env}})
    );
    assert_eq!(
        body["restrictions"],
        json!({"smsVoiceQuota": {"daily": 30}})
    );
    assert_eq!(body["whitelist"], json!([]));
    assert_eq!(body["deliveryMode"], "ALL");
    assert_eq!(body["environment"], json!({"id": app.org}));
    assert_eq!(body["defaultLanguage"], "en");
    assert!(
        body["updatedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24)
    );
}

async fn put_changes_only_the_fields_given_and_delete_resets(backend: Backend) {
    let clock = std::sync::Arc::new(herald_tests::delivery::ShiftedClock::default());
    let app = TestApp::spawn(backend).await.with_clock(clock.clone());
    let (ann, member) = app.user_with_token("ann", &["member"]).await;
    let (bob, _) = app.user_with_token("bob", &["member"]).await;
    let before = settings(&app).await;
    // Timestamps have millisecond precision: time passes, so `updatedAt` must move.
    clock.advance(std::time::Duration::from_secs(1));
    let res = app
        .admin(Method::PUT, &path(&app), Some(json!({"restrictions": {"smsVoiceQuota": {"daily": 1}}, "whitelist": [{"user": {"id": ann}}, {"user": {"id": bob}}, {"user": {"id": ann}}]})))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["restrictions"]["smsVoiceQuota"]["daily"], 1);
    assert_eq!(
        res.body["whitelist"],
        json!([{"user": {"id": ann}}, {"user": {"id": bob}}]),
        "duplicates collapse"
    );
    assert_eq!(res.body["deliveryMode"], "ALL", "untouched");
    assert!(res.body["updatedAt"].as_str() > before["updatedAt"].as_str());
    let res = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(json!({"deliveryMode": "WHITELIST", "defaultLanguage": "de"})),
        )
        .await;
    assert_eq!(
        res.body["restrictions"]["smsVoiceQuota"]["daily"], 1,
        "kept"
    );
    assert_eq!(res.body["deliveryMode"], "WHITELIST");
    assert_eq!(res.body["defaultLanguage"], "de");
    assert_eq!(settings(&app).await, res.body);
    // A member reads them.
    assert_eq!(
        app.call(Method::GET, &path(&app), Some(&member), None)
            .await
            .body,
        res.body
    );
    // GET -> PUT round-trips (read-only fields are accepted and ignored).
    let round = app
        .admin(Method::PUT, &path(&app), Some(res.body.clone()))
        .await;
    assert_eq!(round.status, StatusCode::OK, "{}", round.body);

    let reset = app.admin(Method::DELETE, &path(&app), None).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.body["restrictions"]["smsVoiceQuota"]["daily"], 30);
    assert_eq!(reset.body["whitelist"], json!([]));
    assert_eq!(reset.body["deliveryMode"], "ALL");
    assert_eq!(reset.body["defaultLanguage"], "en");
    assert_eq!(settings(&app).await, reset.body);
}

async fn every_broken_field_is_listed_and_nothing_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = TestApp::on_state(backend, app.state.clone(), app.calls.clone()).await;
    let foreign = other.admin_id.clone();
    let unknown = uuid::Uuid::new_v4().to_string();
    let before = settings(&app).await;
    for bad in [json!(51), json!(-1), json!(2.5), json!("ten"), Value::Null] {
        let res = app
            .admin(
                Method::PUT,
                &path(&app),
                Some(json!({"restrictions": {"smsVoiceQuota": {"daily": bad}}})),
            )
            .await;
        assert_error(
            &res,
            400,
            1001,
            Some(&[(
                "restrictions.smsVoiceQuota.daily",
                "must be an integer from 0 to 50",
            )]),
        );
    }
    let res = app
        .admin(Method::PUT, &path(&app), Some(json!({
            "restrictions": {"smsVoiceQuota": {"daily": 51}},
            "whitelist": [{"user": {"id": unknown}}, {"user": {}}, {"user": {"id": foreign}}, {"nope": 1}],
            "deliveryMode": "SOME",
            "defaultLanguage": "it",
        })))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            (
                "restrictions.smsVoiceQuota.daily",
                "must be an integer from 0 to 50",
            ),
            ("whitelist[1].user.id", "is required"),
            ("whitelist[3].user.id", "is required"),
            ("deliveryMode", "must be one of ALL, WHITELIST"),
            ("defaultLanguage", "must be one of en, de, fr, es"),
            ("whitelist[0].user.id", "no such user in this organization"),
            ("whitelist[2].user.id", "no such user in this organization"),
        ]),
    );
    assert_eq!(settings(&app).await, before);
}

async fn a_sandbox_allows_only_whitelist_mode_and_50_users(backend: Backend) {
    let app = TestApp::spawn_sandbox(backend).await;
    let before = settings(&app).await;
    assert_eq!(before["deliveryMode"], "WHITELIST", "a sandbox's default");
    let res = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(json!({"deliveryMode": "ALL"})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[(
            "deliveryMode",
            "ALL is available to production organizations only",
        )]),
    );
    let mut ids = vec![app.admin_id.clone()];
    for i in 0..50 {
        ids.push(app.user_with_token(&format!("u{i}"), &["member"]).await.0);
    }
    let entries: Vec<Value> = ids.iter().map(|id| json!({"user": {"id": id}})).collect();
    let res = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(json!({"whitelist": entries, "deliveryMode": "ALL"})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            (
                "whitelist",
                "a sandbox organization whitelists at most 50 users",
            ),
            (
                "deliveryMode",
                "ALL is available to production organizations only",
            ),
        ]),
    );
    // Mixed with another broken field, one 400 still lists all three.
    let res = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(json!({"whitelist": entries, "deliveryMode": "ALL", "defaultLanguage": "xx"})),
        )
        .await;
    assert_eq!(
        res.body["error"]["details"].as_array().map(Vec::len),
        Some(3),
        "{}",
        res.body
    );
    assert_eq!(settings(&app).await, before);
    let res = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(json!({"whitelist": entries[..50]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["whitelist"].as_array().map(Vec::len), Some(50));
}

async fn members_cannot_change_settings_and_other_organizations_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let before = settings(&app).await;
    let put = app
        .call(
            Method::PUT,
            &path(&app),
            Some(&member),
            Some(json!({"defaultLanguage": "fr"})),
        )
        .await;
    assert_error(&put, 403, 4003, None);
    assert_error(
        &app.call(Method::DELETE, &path(&app), Some(&member), None)
            .await,
        403,
        4003,
        None,
    );
    let other = TestApp::on_state(backend, app.state.clone(), app.calls.clone()).await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let res = other
            .call(
                method,
                &path(&app),
                Some(&other.admin_token),
                Some(json!({"defaultLanguage": "fr"})),
            )
            .await;
        assert_error(&res, 404, 3001, None);
    }
    assert_error(
        &app.admin(
            Method::GET,
            "/v1/environments/x_y/notificationsSettings",
            None,
        )
        .await,
        400,
        1001,
        None,
    );
    assert_eq!(settings(&app).await, before);
}

async fn settings_writes_leave_the_notification_counter_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    app.admin(
        Method::PUT,
        &path(&app),
        Some(json!({"defaultLanguage": "es"})),
    )
    .await;
    app.admin(Method::DELETE, &path(&app), None).await;
    // The org item's notificationCount survived both writes: 99 more fit, the 101st does not.
    for _ in 0..99 {
        let res = app
            .admin(
                Method::POST,
                &app.path("/notifications"),
                Some(json!({"type": "email", "events": {}})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    let full = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {}})),
        )
        .await;
    assert_error(&full, 409, 3002, None);
}

herald_tests::on_both_backends!(
    a_production_organization_starts_with_the_seeds_defaults,
    put_changes_only_the_fields_given_and_delete_resets,
    every_broken_field_is_listed_and_nothing_changes,
    a_sandbox_allows_only_whitelist_mode_and_50_users,
    members_cannot_change_settings_and_other_organizations_are_404,
    settings_writes_leave_the_notification_counter_alone,
);
