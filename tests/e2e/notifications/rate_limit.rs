//! A webhook or Slack notification's `rateLimit`, on both backends: set at creation, changed and
//! removed by PATCH, shown; every bad value a 400 naming it that writes nothing.

use super::*;

fn limited(limit: Value) -> Value {
    let mut body = webhook("https://hooks.example.com/in");
    body["rateLimit"] = limit;
    body
}

async fn a_rate_limit_is_set_at_creation_shown_changed_and_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(limited(json!(20))),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["data"]["rateLimit"], 20);
    let id = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = app.path(&format!("/notifications/{id}"));
    let shown = app.admin(Method::GET, &path, None).await;
    assert_eq!(shown.body["data"]["rateLimit"], 20);

    let changed = app
        .admin(Method::PATCH, &path, Some(json!({"rateLimit": 10000})))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"]["rateLimit"], 10000);
    // A PATCH without it keeps it.
    let kept = app
        .admin(Method::PATCH, &path, Some(json!({"description": "v2"})))
        .await;
    assert_eq!(kept.body["data"]["rateLimit"], 10000);
    let removed = app
        .admin(Method::PATCH, &path, Some(json!({"rateLimit": null})))
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["data"].get("rateLimit"), None);
    let shown = app.admin(Method::GET, &path, None).await;
    assert_eq!(shown.body["data"].get("rateLimit"), None);
    // A whole number written with a fraction is that integer, as JSON Schema says.
    let whole = app
        .admin(Method::PATCH, &path, Some(json!({"rateLimit": 349.0})))
        .await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    assert_eq!(whole.body["data"]["rateLimit"], 349);
    // Without one, none is shown.
    let plain = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(webhook("https://hooks.example.com/in")),
        )
        .await;
    assert_eq!(plain.body["data"].get("rateLimit"), None);
}

async fn a_bad_rate_limit_is_a_400_naming_it_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let message = "must be a whole number of deliveries per second from 1 to 10000";
    for bad in [
        json!(0),
        json!(10_001),
        json!(2.5),
        json!("fast"),
        json!(-3),
        json!({}),
    ] {
        let res = app
            .admin(
                Method::POST,
                &app.path("/notifications"),
                Some(limited(bad.clone())),
            )
            .await;
        assert_error(&res, 400, 1001, Some(&[("rateLimit", message)]));
    }
    assert!(app.notifications().await.is_empty());

    // Email and SMS notifications take none.
    for kind in ["email", "sms"] {
        let body = json!({"type": kind, "events": {"buildCreated": true}, "rateLimit": 5});
        let res = app
            .admin(Method::POST, &app.path("/notifications"), Some(body))
            .await;
        assert_error(
            &res,
            400,
            1001,
            Some(&[(
                "rateLimit",
                "only slack and webhook notifications take a rate limit",
            )]),
        );
    }
    assert!(app.notifications().await.is_empty());

    // A PATCH with a bad one changes nothing, not even the fields beside it.
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(limited(json!(7))),
        )
        .await;
    let before = created.body["data"].clone();
    let path = app.path(&format!(
        "/notifications/{}",
        before["id"].as_str().unwrap_or_default()
    ));
    for bad in [json!(0), json!(10_001), json!(2.5), json!("fast")] {
        let res = app
            .admin(
                Method::PATCH,
                &path,
                Some(json!({"rateLimit": bad, "description": "changed"})),
            )
            .await;
        assert_error(&res, 400, 1001, Some(&[("rateLimit", message)]));
    }
    let after = app.admin(Method::GET, &path, None).await;
    assert_eq!(after.body["data"], before);

    // On an email notification a PATCH may not add one (removing none is fine).
    let email = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {"buildCreated": true}})),
        )
        .await;
    let email_path = app.path(&format!(
        "/notifications/{}",
        email.body["data"]["id"].as_str().unwrap_or_default()
    ));
    let res = app
        .admin(Method::PATCH, &email_path, Some(json!({"rateLimit": 5})))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[(
            "rateLimit",
            "only slack and webhook notifications take a rate limit",
        )]),
    );
    let res = app
        .admin(Method::PATCH, &email_path, Some(json!({"rateLimit": null})))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

herald_tests::on_both_backends!(
    a_rate_limit_is_set_at_creation_shown_changed_and_removed,
    a_bad_rate_limit_is_a_400_naming_it_and_writes_nothing,
);
