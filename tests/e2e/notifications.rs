//! Organization notifications (SPEC §3, seed 000) through the API, on both backends.

use herald_tests::{Backend, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};

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

async fn every_broken_field_is_listed_in_one_400_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"type": "pigeon", "description": "x".repeat(129), "events": {"buildCreated": "yes", "nope": true}, "colour": 1});
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(body))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("colour", "is not a known field"),
            ("type", "must be one of slack, webhook, email, sms"),
            ("description", "must be at most 128 characters"),
            ("events.buildCreated", "must be a boolean"),
            ("events.nope", "is not a known event type"),
        ]),
    );
    let res = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "webhook"})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("events", "is required"),
            ("setup.webhook", "is required for a webhook notification"),
        ]),
    );
    let res = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "slack", "events": {}, "setup": {}})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("setup.slack", "is required for a slack notification")]),
    );
    assert!(app.notifications().await.is_empty());
}

async fn setup_lengths_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"type": "slack", "events": {}, "setup": {"slack": {"code": "c".repeat(257), "redirectUri": format!("https://a.example/{}", "r".repeat(500))}}});
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(body))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("setup.slack.code", "must be at most 256 characters"),
            ("setup.slack.redirectUri", "must be at most 500 characters"),
        ]),
    );
    let res = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(webhook(&format!(
                "https://hooks.example.com/{}",
                "u".repeat(480)
            ))),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("setup.webhook.url", "must be at most 500 characters")]),
    );
    assert!(app.notifications().await.is_empty());
}

async fn webhook_urls_must_be_public_https(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        ("http://hooks.example.com/in", "must use https"),
        ("ftp://hooks.example.com/in", "must be an https URL"),
        ("/relative", "must be an absolute URL"),
        (
            "https://internal.example.com/in",
            "must not point to a loopback, private, link-local or metadata address",
        ),
        (
            "https://metadata.example.com/latest",
            "must not point to a loopback, private, link-local or metadata address",
        ),
        (
            "https://127.0.0.1/in",
            "must not point to a loopback, private, link-local or metadata address",
        ),
        (
            "https://[::1]/in",
            "must not point to a loopback, private, link-local or metadata address",
        ),
        (
            "https://192.168.1.10/in",
            "must not point to a loopback, private, link-local or metadata address",
        ),
        ("https://nowhere.invalid/in", "host does not resolve"),
        (
            "https://user:pw@hooks.example.com/in",
            "must not carry credentials",
        ),
    ];
    for (url, message) in cases {
        let res = app
            .admin(
                Method::POST,
                &app.path("/notifications"),
                Some(webhook(url)),
            )
            .await;
        assert_error(&res, 400, 1001, Some(&[("setup.webhook.url", message)]));
    }
    assert!(app.notifications().await.is_empty());
}

async fn malformed_json_is_400_1000_and_oversized_bodies_are_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let auth = format!("Bearer {}", app.admin_token);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let res = app
        .raw(
            Method::POST,
            &app.path("/notifications"),
            &headers,
            b"{\"type\": ".to_vec(),
        )
        .await;
    assert_error(&res, 400, 1000, None);
    let res = app
        .raw(
            Method::POST,
            &app.path("/notifications"),
            &headers,
            b"[1, 2]".to_vec(),
        )
        .await;
    assert_error(&res, 400, 1000, None);
    let mut big = b"{\"description\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    big.extend(b"\"}");
    let res = app
        .raw(Method::POST, &app.path("/notifications"), &headers, big)
        .await;
    assert_error(&res, 413, 1002, None);
    assert_eq!(res.body["error"]["message"], "Payload too large");
    assert!(app.notifications().await.is_empty());
}

async fn a_key_named_twice_is_400_naming_its_path_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let auth = format!("Bearer {}", app.admin_token);
    let headers = [("authorization", auth.as_str())];
    for body in [
        r#"{"type": "email", "events": {"buildCreated": true}, "type": "sms"}"#,
        // Nested too: inside `events`.
        r#"{"type": "email", "events": {"buildCreated": true, "buildCreated": false}}"#,
    ] {
        let res = app
            .raw(
                Method::POST,
                &app.path("/notifications"),
                &headers,
                body.as_bytes().to_vec(),
            )
            .await;
        let field = if body.contains(r#""buildCreated": false"#) {
            "events.buildCreated"
        } else {
            "type"
        };
        assert_error(
            &res,
            400,
            1001,
            Some(&[(field, "appears twice in one object")]),
        );
    }
    assert!(app.notifications().await.is_empty());
}

async fn errors_echo_at_most_128_characters_of_a_field_and_100_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let huge = "k".repeat(100_000);
    let res = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {}, huge.clone(): 1})),
        )
        .await;
    let echoed = format!("{}…", "k".repeat(128));
    assert_error(
        &res,
        400,
        1001,
        Some(&[(echoed.as_str(), "is not a known field")]),
    );
    assert!(
        res.body.to_string().len() < 1024,
        "{}",
        res.body.to_string().len()
    );
    // 150 unknown fields: the first 100 listed (in key order), then how many more.
    let mut body = json!({"type": "email", "events": {}});
    for i in 0..150 {
        body[format!("x{i:03}")] = json!(1);
    }
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(body))
        .await;
    let names: Vec<String> = (0..100).map(|i| format!("x{i:03}")).collect();
    let mut expected: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "is not a known field"))
        .collect();
    expected.push(("", "and 50 more problems, not listed"));
    assert_error(&res, 400, 1001, Some(&expected));
    assert!(app.notifications().await.is_empty());
}

async fn an_unknown_path_is_404_and_a_wrong_method_405_with_allow_in_the_envelope(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let res = app.admin(Method::GET, "/v1/nothing-here", None).await;
    assert_error(&res, 404, 3001, None);
    let id = "5f1e2d3c4b5a697887960001";
    let res = app
        .admin(
            Method::PUT,
            &app.path(&format!("/notifications/{id}")),
            Some(json!({})),
        )
        .await;
    assert_error(&res, 405, 1004, None);
    assert_eq!(res.body["error"]["message"], "Method not allowed");
    let allow = res
        .headers
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["DELETE", "GET", "HEAD", "PATCH"], "{allow}");
    let res = app.admin(Method::DELETE, &app.path("/events"), None).await;
    assert_error(&res, 405, 1004, None);
    assert_eq!(
        res.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
}

async fn tokens_are_required_and_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let path = app.path("/notifications");
    let res = app.call(Method::GET, &path, None, None).await;
    assert_error(&res, 401, 4002, None);
    assert_eq!(res.body["error"]["message"], "No auth token");
    let forged = format!("hrld_{}_{}", app.org, "A".repeat(43));
    for token in ["nonsense", forged.as_str()] {
        let res = app.call(Method::GET, &path, Some(token), None).await;
        assert_error(&res, 401, 4004, None);
        assert_eq!(res.body["error"]["message"], "Invalid Token");
    }
    // Coder-Session-Token is accepted too.
    let res = app
        .raw(
            Method::GET,
            &path,
            &[("coder-session-token", app.admin_token.as_str())],
            Vec::new(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

async fn another_organization_is_always_404_and_a_bad_id_is_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = TestApp::on_state(backend, app.state.clone(), app.calls.clone()).await;
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
    let foreign = format!("/v1/organizations/{}/notifications", app.org);
    let cases = [
        (Method::GET, foreign.clone(), None),
        (
            Method::POST,
            foreign.clone(),
            Some(webhook("https://hooks.example.com/x")),
        ),
        (Method::GET, format!("{foreign}/{id}"), None),
        (
            Method::PATCH,
            format!("{foreign}/{id}"),
            Some(json!({"description": "mine now"})),
        ),
        (Method::DELETE, format!("{foreign}/{id}"), None),
    ];
    for (method, path, body) in cases {
        let res = other
            .call(method.clone(), &path, Some(&other.admin_token), body)
            .await;
        assert_error(&res, 404, 3001, None);
        assert_eq!(
            res.body["error"]["message"], "Entity not found",
            "{method} {path}"
        );
    }
    // Its own id, spelt with a broken pattern.
    let res = app
        .admin(Method::GET, "/v1/organizations/a_b/notifications", None)
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[(
            "organizationId",
            "must match ^(([a-fA-F0-9]{24})|([a-zA-Z0-9\\-]{3,}))$",
        )]),
    );
    let still = app
        .admin(
            Method::GET,
            &app.path(&format!("/notifications/{id}")),
            None,
        )
        .await;
    assert_eq!(still.body["data"]["description"], "builds");
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

herald_tests::on_both_backends!(
    an_unknown_path_is_404_and_a_wrong_method_405_with_allow_in_the_envelope,
    a_key_named_twice_is_400_naming_its_path_and_nothing_is_written,
    errors_echo_at_most_128_characters_of_a_field_and_100_problems,
    create_webhook_returns_the_seed_shape_with_a_whsec_secret,
    create_accepts_the_seeds_trailing_slash,
    create_slack_exchanges_the_code_and_hides_the_secrets,
    a_failed_slack_exchange_is_400_with_slacks_error_and_writes_nothing,
    email_and_sms_take_no_setup,
    every_broken_field_is_listed_in_one_400_and_nothing_is_written,
    setup_lengths_are_enforced,
    webhook_urls_must_be_public_https,
    malformed_json_is_400_1000_and_oversized_bodies_are_413,
    tokens_are_required_and_checked,
    another_organization_is_always_404_and_a_bad_id_is_400,
    members_read_but_cannot_write,
    list_pages_in_creation_order,
    patch_changes_only_what_it_is_given,
    delete_removes_and_frees_a_slot_of_the_limit,
);
