//! The operational webhook's routes on both backends: set (the secret shown once), read, changed
//! (the secret kept), removed; every bad input a 400 naming its field that writes nothing; admin
//! only; one organization never sees another's.

use herald_tests::{Backend, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn path(app: &TestApp) -> String {
    app.path("/operational-webhook")
}

fn body(url: &str, events: &[&str]) -> Value {
    json!({"url": url, "events": events})
}

async fn the_operational_webhook_is_set_read_changed_and_removed_its_secret_shown_once(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let none = app.admin(Method::GET, &path(&app), None).await;
    assert_error(&none, 404, 3001, None);

    let created = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(body(
                "https://hooks.example.com/ops-herald",
                &["delivery.failed", "notification.disabled"],
            )),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    assert_eq!(data["url"], "https://hooks.example.com/ops-herald");
    assert_eq!(
        data["events"],
        json!(["delivery.failed", "notification.disabled"])
    );
    let secret = data["secret"].as_str().unwrap_or_default().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 50,
        "{secret}"
    );
    assert_eq!(data["createdAt"], data["updatedAt"]);

    let read = app.admin(Method::GET, &path(&app), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["data"].get("secret"), None, "never shown again");
    assert_eq!(
        read.body["data"]["url"],
        "https://hooks.example.com/ops-herald"
    );

    // A change keeps the secret (not shown) and the creation time.
    let changed = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(body(
                "https://hooks.example.com/ops-v2",
                &["sms.quotaExhausted"],
            )),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"].get("secret"), None);
    assert_eq!(
        changed.body["data"]["events"],
        json!(["sms.quotaExhausted"])
    );
    assert_eq!(changed.body["data"]["createdAt"], data["createdAt"]);
    let org = shared::model::OrgId::parse(&app.org).unwrap_or_else(|e| panic!("{e}"));
    let stored = app
        .state
        .store
        .get_operational_webhook(&org)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("stored"));
    let opened = app.state.keys.open(&stored.secret).await;
    assert_eq!(
        (stored.url.as_str(), opened.as_deref()),
        ("https://hooks.example.com/ops-v2", Ok(secret.as_str()))
    );
    assert!(
        stored.secret.is_sealed() && !stored.secret.as_stored().contains(secret.as_str()),
        "sealed at rest"
    );

    let removed = app.admin(Method::DELETE, &path(&app), None).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["data"], json!({"deleted": true}));
    assert_error(
        &app.admin(Method::GET, &path(&app), None).await,
        404,
        3001,
        None,
    );
    assert_error(
        &app.admin(Method::DELETE, &path(&app), None).await,
        404,
        3001,
        None,
    );

    // Set again: a new secret.
    let again = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(body(
                "https://hooks.example.com/ops-herald",
                &["delivery.failed"],
            )),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(again.body["data"]["secret"].as_str(), Some(secret.as_str()));
}

async fn a_bad_operational_webhook_is_a_400_naming_each_field_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(json!({"url": "https://hooks.example.com/ops-h", "events": ["delivery.failed", "delivery.exploded", 7], "colour": 1})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("colour", "is not a known field"),
            ("events[2]", "must be a string"),
        ]),
    );
    let res = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(json!({"url": "https://hooks.example.com/ops-h", "events": ["delivery.failed", "delivery.exploded", "delivery.failed"]})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            (
                "events[1]",
                "`delivery.exploded` is not an operational event: must be one of delivery.failed, notification.disabled, delivery.recovered, sms.quotaExhausted, event.fanoutFailed, organization.quotaExceeded",
            ),
            ("events[2]", "`delivery.failed` is named twice"),
        ]),
    );
    let res = app
        .admin(Method::PUT, &path(&app), Some(json!({"events": []})))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("url", "is required"),
            ("events", "must name at least one event"),
        ]),
    );
    // The SSRF rule, as for a notification's webhook: loopback, private, metadata, not https.
    for url in [
        "http://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest",
        "ftp://ops.example.com/h",
        // As the document's pattern writes a URL: a host, nothing the parser would forgive.
        "http://",
        "https:///ops.example.com/h",
        "HTTPS://ops.example.com/h",
    ] {
        let res = app
            .admin(
                Method::PUT,
                &path(&app),
                Some(body(url, &["delivery.failed"])),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{url}: {}", res.body);
        let fields: Vec<&str> = res.body["error"]["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|d| d["field"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["url"], "{url}: {}", res.body);
    }
    assert_error(
        &app.admin(Method::GET, &path(&app), None).await,
        404,
        3001,
        None,
    );
}

async fn only_admins_of_its_own_organization_reach_the_operational_webhook(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let set = app
        .admin(
            Method::PUT,
            &path(&app),
            Some(body(
                "https://hooks.example.com/ops-h",
                &["delivery.failed"],
            )),
        )
        .await;
    assert_eq!(set.status, StatusCode::CREATED);
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    for (method, payload) in [
        (
            Method::PUT,
            Some(body(
                "https://hooks.example.com/ops-other",
                &["delivery.failed"],
            )),
        ),
        (Method::GET, None),
        (Method::DELETE, None),
    ] {
        let res = app
            .call(method.clone(), &path(&app), Some(&member), payload)
            .await;
        assert_error(&res, 403, 4003, None);
    }
    // Another organization on the same store: its admin finds none of its own, and the first
    // organization's path is not its to read.
    let other = TestApp::on_state(backend, app.state.clone(), app.calls.clone()).await;
    assert_error(
        &other.admin(Method::GET, &path(&other), None).await,
        404,
        3001,
        None,
    );
    let foreign = other
        .call(Method::GET, &path(&app), Some(&other.admin_token), None)
        .await;
    assert_eq!(foreign.status.as_u16(), 404, "{}", foreign.body);
    let mine = app.admin(Method::GET, &path(&app), None).await;
    assert_eq!(mine.body["data"]["url"], "https://hooks.example.com/ops-h");
}

herald_tests::on_both_backends!(
    the_operational_webhook_is_set_read_changed_and_removed_its_secret_shown_once,
    a_bad_operational_webhook_is_a_400_naming_each_field_and_writes_nothing,
    only_admins_of_its_own_organization_reach_the_operational_webhook,
);
