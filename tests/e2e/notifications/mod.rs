//! Organization notifications (the notifications API) through the API, on both backends.

use herald_tests::{Backend, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};

mod bad_input;
mod rate_limit;

const EVENT_KEYS: [&str; 15] = [
    "buildCreated",
    "buildProcessed",
    "feedbackCreated",
    "certificateWillExpire",
    "applePushRenovation",
    "emmEnrollmentCreated",
    "emmDeviceCreated",
    "emmDeviceChangedMdmUser",
    "admEnrollmentCreated",
    "admDeviceCreated",
    "admDeviceChangedMdmUser",
    "winEnrollmentCreated",
    "winDeviceCreated",
    "winDeviceChangedMdmUser",
    "inventoryItemRegistered",
];

fn webhook(url: &str) -> Value {
    json!({"type": "webhook", "description": "builds", "events": {"buildCreated": true}, "setup": {"webhook": {"url": url}}})
}

fn is_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
}

async fn create_webhook_returns_the_seed_shape_with_a_whsec_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(webhook("https://hooks.example.com/in")),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["status"], true);
    let data = &res.body["data"];
    let mut keys: Vec<&str> = data
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "config",
            "createdAt",
            "description",
            "enabled",
            "events",
            "id",
            "organization",
            "type",
            "updatedAt"
        ]
    );
    let id = data["id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(data["organization"], app.org.as_str());
    assert_eq!(data["type"], "webhook");
    assert_eq!(data["description"], "builds");
    assert_eq!(data["enabled"], true);
    assert_eq!(
        data["config"]["webhook"]["url"],
        "https://hooks.example.com/in"
    );
    let secret = data["config"]["webhook"]["token"]
        .as_str()
        .unwrap_or_default();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 44,
        "{secret}"
    );
    assert!(data["config"].get("slack").is_none());
    for key in EVENT_KEYS {
        assert_eq!(data["events"][key], key == "buildCreated", "{key}");
    }
    assert_eq!(data["events"].as_object().map(|o| o.len()), Some(15));
    assert!(
        is_timestamp(&data["createdAt"]) && data["createdAt"] == data["updatedAt"],
        "{data}"
    );

    let got = app
        .admin(
            Method::GET,
            &app.path(&format!("/notifications/{id}")),
            None,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, res.body);
}

async fn create_accepts_the_seeds_trailing_slash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(
            Method::POST,
            &app.path("/notifications/"),
            Some(webhook("https://hooks.example.com/in")),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(app.notifications().await.len(), 1);
}

async fn create_slack_exchanges_the_code_and_hides_the_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"type": "slack", "events": {"feedbackCreated": true},
        "setup": {"slack": {"code": "good-code", "redirectUri": "https://app.example.com/cb"}, "webhook": {"url": "ignored"}}});
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(body))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.body["data"]["config"],
        json!({"slack": {"team": "Acme Team", "channel": "#alerts"}})
    );
    assert!(res.body["data"].get("description").is_none());
    let listed = serde_json::to_string(&app.notifications().await).unwrap_or_default();
    assert!(
        !listed.contains("xoxb") && !listed.contains("/services/T1/B1/x"),
        "{listed}"
    );
}

async fn a_failed_slack_exchange_is_400_with_slacks_error_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"type": "slack", "events": {}, "setup": {"slack": {"code": "bad", "redirectUri": "https://a.example/cb"}}});
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(body))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("setup.slack.code", "slack: invalid_code")]),
    );
    assert!(app.notifications().await.is_empty());
}

async fn email_and_sms_take_no_setup(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {"buildCreated": true}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["data"]["type"], "email");
    assert_eq!(res.body["data"]["config"], json!({}));
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(json!({"type": "sms", "events": {}, "setup": {"webhook": {"url": "https://x.example"}}})))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("setup", "email and sms notifications take no setup")]),
    );
    assert_eq!(app.notifications().await.len(), 1);
}

async fn members_read_but_cannot_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let res = app
        .call(
            Method::POST,
            &app.path("/notifications"),
            Some(&member),
            Some(webhook("https://hooks.example.com/in")),
        )
        .await;
    assert_error(&res, 403, 4003, None);
    assert_eq!(res.body["error"]["message"], "Permission denied");
    assert!(app.notifications().await.is_empty());
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(webhook("https://hooks.example.com/in")),
        )
        .await;
    let id = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let read = app
        .call(
            Method::GET,
            &app.path(&format!("/notifications/{id}")),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    for method in [Method::PATCH, Method::DELETE] {
        let res = app
            .call(
                method,
                &app.path(&format!("/notifications/{id}")),
                Some(&member),
                Some(json!({"description": "x"})),
            )
            .await;
        assert_error(&res, 403, 4003, None);
    }
}

async fn list_pages_in_creation_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = json!({"type": "email", "description": format!("n{i}"), "events": {}});
        let res = app
            .admin(Method::POST, &app.path("/notifications"), Some(body))
            .await;
        ids.push(
            res.body["data"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let res = app
            .admin(
                Method::GET,
                &app.path(&format!("/notifications?limit=2{q}")),
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        pages += 1;
        let items = res.body["data"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        seen.extend(
            items
                .iter()
                .map(|n| n["id"].as_str().unwrap_or_default().to_owned()),
        );
        match res.body["data"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                // The last page: present, and null.
                assert_eq!(res.body["data"].get("nextCursor"), Some(&Value::Null));
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    for (query, field, message) in [
        ("limit=0", "limit", "must be an integer from 1 to 100"),
        ("limit=101", "limit", "must be an integer from 1 to 100"),
        ("limit=ten", "limit", "must be an integer from 1 to 100"),
        (
            "cursor=%%%",
            "cursor",
            "must be a nextCursor returned by this list",
        ),
    ] {
        let res = app
            .admin(
                Method::GET,
                &app.path(&format!("/notifications?{query}")),
                None,
            )
            .await;
        assert_error(&res, 400, 1001, Some(&[(field, message)]));
    }
}

async fn patch_changes_only_what_it_is_given(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(webhook("https://hooks.example.com/in")),
        )
        .await;
    let data = &created.body["data"];
    let path = app.path(&format!(
        "/notifications/{}",
        data["id"].as_str().unwrap_or_default()
    ));
    let res = app
        .admin(Method::PATCH, &path, Some(json!({"events": {"feedbackCreated": true}, "setup": {"webhook": {"url": "https://hooks.example.com/v2"}}})))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let patched = &res.body["data"];
    assert_eq!(patched["events"]["buildCreated"], true);
    assert_eq!(patched["events"]["feedbackCreated"], true);
    assert_eq!(patched["description"], "builds");
    assert_eq!(
        patched["config"]["webhook"]["url"],
        "https://hooks.example.com/v2"
    );
    assert_eq!(
        patched["config"]["webhook"]["token"],
        data["config"]["webhook"]["token"]
    );
    assert_eq!(patched["createdAt"], data["createdAt"]);
    assert!(patched["updatedAt"].as_str() > data["updatedAt"].as_str());

    let bad = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"type": "email", "events": {"x": 1}, "description": 5})),
        )
        .await;
    assert_error(
        &bad,
        400,
        1001,
        Some(&[
            (
                "type",
                "cannot be changed; create a new notification instead",
            ),
            ("description", "must be a string"),
            ("events.x", "is not a known event type"),
        ]),
    );
    let unchanged = app.admin(Method::GET, &path, None).await;
    assert_eq!(unchanged.body, res.body);
    let missing = app
        .admin(
            Method::PATCH,
            &app.path("/notifications/000000000000000000000000"),
            Some(json!({})),
        )
        .await;
    assert_error(&missing, 404, 3001, None);
}

async fn delete_removes_and_frees_a_slot_of_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for _ in 0..100 {
        let res = app
            .admin(
                Method::POST,
                &app.path("/notifications"),
                Some(json!({"type": "email", "events": {}})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        ids.push(
            res.body["data"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let full = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {}})),
        )
        .await;
    assert_error(
        &full,
        409,
        3002,
        Some(&[(
            "notifications",
            "the organization already has the maximum of 100 notifications",
        )]),
    );
    let path = app.path(&format!("/notifications/{}", ids[0]));
    let res = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.body,
        json!({"status": true, "data": {"id": ids[0], "deleted": true}})
    );
    assert_error(&app.admin(Method::GET, &path, None).await, 404, 3001, None);
    assert_error(
        &app.admin(Method::DELETE, &path, None).await,
        404,
        3001,
        None,
    );
    let again = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {}})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}

/// A webhook's signing secret is read only by who may update notifications: a member reads
/// `********` in the notification and in the list, and no response of theirs holds the secret
/// (the raw bytes grepped); an admin reads the secret.
async fn a_member_never_reads_a_webhooks_signing_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(webhook("https://hooks.example.com/in")),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = created.body["data"]["config"]["webhook"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let one = app.path(&format!("/notifications/{id}"));
    let all = app.path("/notifications");
    for path in [&one, &all] {
        let auth = format!("Bearer {member}");
        let res = app
            .raw(
                Method::GET,
                path,
                &[("authorization", auth.as_str())],
                Vec::new(),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let raw = res.body.to_string();
        assert!(!raw.contains(&secret), "{path}: {raw}");
        assert!(!raw.contains("whsec_"), "{path}: {raw}");
    }
    let read = app.call(Method::GET, &one, Some(&member), None).await;
    assert_eq!(read.body["data"]["config"]["webhook"]["token"], "********");
    assert_eq!(
        read.body["data"]["config"]["webhook"]["url"],
        "https://hooks.example.com/in"
    );
    let listed = app.call(Method::GET, &all, Some(&member), None).await;
    assert_eq!(
        listed.body["data"]["items"][0]["config"]["webhook"]["token"],
        "********"
    );
    // The admin, who may update it, reads it.
    let read = app.admin(Method::GET, &one, None).await;
    assert_eq!(
        read.body["data"]["config"]["webhook"]["token"],
        secret.as_str()
    );
    let listed = app.admin(Method::GET, &all, None).await;
    assert_eq!(
        listed.body["data"]["items"][0]["config"]["webhook"]["token"],
        secret.as_str()
    );
}

herald_tests::on_both_backends!(
    a_member_never_reads_a_webhooks_signing_secret,
    create_webhook_returns_the_seed_shape_with_a_whsec_secret,
    create_accepts_the_seeds_trailing_slash,
    create_slack_exchanges_the_code_and_hides_the_secrets,
    a_failed_slack_exchange_is_400_with_slacks_error_and_writes_nothing,
    email_and_sms_take_no_setup,
    members_read_but_cannot_write,
    list_pages_in_creation_order,
    patch_changes_only_what_it_is_given,
    delete_removes_and_frees_a_slot_of_the_limit,
);
