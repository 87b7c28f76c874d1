//! Bad input to the notification routes, on both backends: every broken field in one 400, lengths,
//! webhook URLs, malformed and oversized bodies, repeated keys, echo limits, unknown paths and
//! methods, tokens, and other organizations. Nothing is written by a refused request.

use super::*;

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
        // NAT64, 6to4 and Teredo carry an IPv4 address (here 10.0.0.1 and 8.8.8.8) inside.
        (
            "https://[64:ff9b::a00:1]/in",
            "must not point to a loopback, private, link-local or metadata address",
        ),
        (
            "https://[2002:808:808::1]/in",
            "must not point to a loopback, private, link-local or metadata address",
        ),
        (
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/in",
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

async fn a_body_is_read_only_after_the_caller_is_authorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = TestApp::on_state(backend, app.state.clone(), app.calls.clone()).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let broken = json!({"type": "pigeon", "colour": 1});
    // Without the permission: 403, however broken the body.
    let res = app
        .call(
            Method::POST,
            &app.path("/notifications"),
            Some(&member),
            Some(broken.clone()),
        )
        .await;
    assert_error(&res, 403, 4003, None);
    // Another organization's path: 404, however broken the body.
    let res = other
        .call(
            Method::POST,
            &app.path("/notifications"),
            Some(&other.admin_token),
            Some(broken.clone()),
        )
        .await;
    assert_error(&res, 404, 3001, None);
    // Authorized: the body's problems.
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(broken))
        .await;
    assert_error(&res, 400, 1001, None);
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

/// A webhook URL is taken as the OpenAPI document's pattern writes it, not as a URL parser would
/// forgive it; a Slack notification ignores a webhook part on creation (the API's own example
/// carries both), and a PATCH, which does not say the type, holds any webhook part to the
/// pattern. Nothing is written by a refusal.
async fn a_webhook_url_is_taken_only_as_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (url, message) in [
        ("https:///hooks.example.com/in", "must have a host"),
        (
            "https://@hooks.example.com/in",
            "must not carry credentials",
        ),
        ("HTTPS://hooks.example.com/in", "must start with https://"),
        ("https:hooks.example.com/in", "must start with https://"),
        (
            "https://hooks.example.com/a b",
            "must not contain spaces or control characters",
        ),
        (
            " https://hooks.example.com/in",
            "must not contain spaces or control characters",
        ),
        ("http://", "must be an absolute URL"),
    ] {
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
    let slack = json!({"type": "slack", "events": {"feedbackCreated": true},
        "setup": {"slack": {"code": "good-code", "redirectUri": "https://app.example.com/cb"}, "webhook": {"url": ""}}});
    let created = app
        .admin(Method::POST, &app.path("/notifications"), Some(slack))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = app.path(&format!("/notifications/{id}"));
    let res = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"description": "changed", "setup": {"webhook": {"url": ""}}})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("setup.webhook.url", "must be an absolute URL")]),
    );
    let kept = app.admin(Method::GET, &path, None).await;
    assert_eq!(
        kept.body["data"].get("description"),
        None,
        "nothing written"
    );
}

herald_tests::on_both_backends!(
    a_webhook_url_is_taken_only_as_written,
    every_broken_field_is_listed_in_one_400_and_nothing_is_written,
    setup_lengths_are_enforced,
    webhook_urls_must_be_public_https,
    malformed_json_is_400_1000_and_oversized_bodies_are_413,
    a_key_named_twice_is_400_naming_its_path_and_nothing_is_written,
    errors_echo_at_most_128_characters_of_a_field_and_100_problems,
    an_unknown_path_is_404_and_a_wrong_method_405_with_allow_in_the_envelope,
    tokens_are_required_and_checked,
    another_organization_is_always_404_and_a_bad_id_is_400,
    a_body_is_read_only_after_the_caller_is_authorized,
);
