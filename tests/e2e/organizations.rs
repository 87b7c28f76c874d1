//! Organizations, users and tokens through the API, on both backends.

use herald_tests::{Backend, OPERATOR_TOKEN, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::model::TokenRecord;
use shared::model::token::issue_token;
use shared::model::{OrgId, Role};

async fn the_operator_creates_an_organization_with_its_admin_and_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = format!("acme-{}", uuid::Uuid::new_v4().simple());
    let body = json!({"id": id, "name": "Acme", "kind": "SANDBOX", "plan": "TRIAL", "admin": {"username": "root", "email": "Root@Acme.example"}});
    let res = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some(OPERATOR_TOKEN),
            Some(body.clone()),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let data = &res.body["data"];
    assert_eq!(data["organization"]["id"], id.as_str());
    assert_eq!(data["organization"]["kind"], "SANDBOX");
    assert_eq!(data["organization"]["plan"], "TRIAL");
    assert_eq!(data["admin"]["username"], "root");
    assert_eq!(data["admin"]["email"], "root@acme.example");
    assert_eq!(data["admin"]["roles"], json!(["admin"]));
    let token = data["token"].as_str().unwrap_or_default();
    let own = app
        .call(
            Method::GET,
            &format!("/v1/organizations/{id}/users/me"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["data"]["username"], "root");

    let again = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some(OPERATOR_TOKEN),
            Some(body),
        )
        .await;
    assert_error(&again, 409, 3002, Some(&[("id", "is already taken")]));
}

async fn an_organization_without_an_admin_gets_the_default_admin_email_whatever_its_id(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let long = format!("Acme-{}", "x".repeat(64));
    let cases = [
        (
            format!("Acme-{suffix}"),
            format!("admin@acme-{suffix}.invalid"),
        ),
        // Not a domain label: a leading or trailing '-', more than 63 characters.
        (
            format!("-{suffix}"),
            "admin@organization.invalid".to_owned(),
        ),
        (
            format!("{suffix}-"),
            "admin@organization.invalid".to_owned(),
        ),
        (
            format!("{long}{}", &suffix[..8]),
            "admin@organization.invalid".to_owned(),
        ),
    ];
    for (id, email) in cases {
        let res = app
            .call(
                Method::POST,
                "/v1/organizations",
                Some(OPERATOR_TOKEN),
                Some(
                    json!({"id": id, "name": "\u{8a}Pr\u{d6}", "kind": "SANDBOX", "plan": "PAID"}),
                ),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{id}: {}", res.body);
        let admin = &res.body["data"]["admin"];
        assert_eq!(
            (&admin["username"], &admin["email"]),
            (&json!("admin"), &json!(email))
        );
    }
}

async fn only_the_operator_creates_organizations_and_bad_bodies_list_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"name": "Acme", "kind": "PRODUCTION", "plan": "PAID"});
    assert_error(
        &app.call(Method::POST, "/v1/organizations", None, Some(body.clone()))
            .await,
        401,
        4002,
        None,
    );
    assert_error(
        &app.call(
            Method::POST,
            "/v1/organizations",
            Some("wrong"),
            Some(body.clone()),
        )
        .await,
        401,
        4004,
        None,
    );
    assert_error(
        &app.call(
            Method::POST,
            "/v1/organizations",
            Some(&app.admin_token),
            Some(body),
        )
        .await,
        401,
        4004,
        None,
    );
    let bad = json!({"id": "a_b", "kind": "BIG", "plan": 3, "admin": {"email": "nope"}});
    let res = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some(OPERATOR_TOKEN),
            Some(bad),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            (
                "id",
                "must match ^(([a-fA-F0-9]{24})|([a-zA-Z0-9\\-]{3,}))$",
            ),
            ("name", "is required"),
            ("kind", "must be one of PRODUCTION, SANDBOX"),
            ("plan", "must be a string"),
            ("admin.email", "must be a valid email address"),
        ]),
    );
    // An empty or blank name names nothing: refused, and no organization appears. U+0085 and
    // U+FEFF are blank too, as the schema's pattern says (schemathesis once sent "\u{85}").
    for name in ["", "   ", "\u{85}", "\u{feff}\t"] {
        let body = json!({"id": "blank-name", "name": name, "kind": "PRODUCTION", "plan": "PAID"});
        let res = app
            .call(
                Method::POST,
                "/v1/organizations",
                Some(OPERATOR_TOKEN),
                Some(body),
            )
            .await;
        assert_error(&res, 400, 1001, Some(&[("name", "must not be empty")]));
    }
    let body =
        json!({"id": "blank-name", "name": "Now named", "kind": "PRODUCTION", "plan": "PAID"});
    let res = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some(OPERATOR_TOKEN),
            Some(body),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "the id was never taken: {}",
        res.body
    );
}

async fn users_are_unique_by_username_and_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(
            Method::POST,
            &app.path("/users"),
            Some(json!({"username": "ann", "email": "ann@example.com", "phone": "+14155550100"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["data"]["roles"], json!(["member"]));
    assert_eq!(res.body["data"]["phone"], "+14155550100");
    let cases = [
        (
            json!({"username": "ANN", "email": "other@example.com"}),
            vec![("username", "is already taken")],
        ),
        (
            json!({"username": "ann2", "email": "Ann@Example.com"}),
            vec![("email", "is already taken")],
        ),
    ];
    for (body, details) in cases {
        let res = app
            .admin(Method::POST, &app.path("/users"), Some(body))
            .await;
        assert_error(&res, 409, 3002, Some(&details));
    }
    let res = app.admin(Method::GET, &app.path("/users"), None).await;
    assert_eq!(
        res.body["data"]["items"].as_array().map(Vec::len),
        Some(2),
        "admin + ann: {}",
        res.body
    );
    // One page holds them all: its `nextCursor` is there, and null.
    assert_eq!(res.body["data"].get("nextCursor"), Some(&Value::Null));
}

async fn user_bodies_are_validated_field_by_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body =
        json!({"username": "me", "email": "x@", "phone": "555", "roles": ["admin", "king", 3]});
    let res = app
        .admin(Method::POST, &app.path("/users"), Some(body))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("username", "must not be 'me' or a UUID"),
            ("email", "must be a valid email address"),
            (
                "phone",
                "must be an E.164 phone number such as +14155550100",
            ),
            ("roles[2]", "must be a string"),
        ]),
    );
    let res = app.admin(Method::GET, &app.path("/users"), None).await;
    assert_eq!(res.body["data"]["items"].as_array().map(Vec::len), Some(1));
}

async fn users_are_found_by_id_username_or_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, member) = app.user_with_token("bob", &["member"]).await;
    for user in [id.as_str(), "bob", "BOB"] {
        let res = app
            .admin(Method::GET, &app.path(&format!("/users/{user}")), None)
            .await;
        assert_eq!(res.status, StatusCode::OK, "{user}: {}", res.body);
        assert_eq!(res.body["data"]["id"], id.as_str());
    }
    let me = app
        .call(Method::GET, &app.path("/users/me"), Some(&member), None)
        .await;
    assert_eq!(me.body["data"]["username"], "bob");
    for missing in [
        "nobody",
        "0190c6f2-0000-7000-8000-000000000000",
        "bad%20name",
    ] {
        assert_error(
            &app.admin(Method::GET, &app.path(&format!("/users/{missing}")), None)
                .await,
            404,
            3001,
            None,
        );
    }
    let denied = app
        .call(
            Method::POST,
            &app.path("/users"),
            Some(&member),
            Some(json!({"username": "eve", "email": "eve@example.com"})),
        )
        .await;
    assert_error(&denied, 403, 4003, None);
}

async fn narrowed_tokens_can_do_only_what_they_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(Method::POST, &app.path("/tokens"), Some(json!({"userId": app.admin_id, "permissions": ["base.organization.notification.read"]})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(
        res.body["data"]["permissions"],
        json!(["base.organization.notification.read"])
    );
    let narrow = res.body["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        app.call(
            Method::GET,
            &app.path("/notifications"),
            Some(&narrow),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let res = app
        .call(
            Method::POST,
            &app.path("/notifications"),
            Some(&narrow),
            Some(json!({"type": "email", "events": {}})),
        )
        .await;
    assert_error(&res, 403, 4003, None);
}

async fn token_bodies_are_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (member_id, _) = app.user_with_token("carl", &["member"]).await;
    let body = json!({"userId": member_id, "permissions": ["base.organization.notification.create", "fly"], "expiresAt": "2001-01-01T00:00:00Z"});
    let res = app
        .admin(Method::POST, &app.path("/tokens"), Some(body))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            (
                "permissions[1]",
                "must be one of base.organization.notification.create, base.organization.notification.read, base.organization.notification.update, base.organization.notification.delete, base.organization.event.create, base.organization.settings.read, base.organization.settings.update, base.organization.user.create, base.organization.user.read, base.organization.token.create",
            ),
            ("expiresAt", "must be in the future"),
            (
                "permissions",
                "base.organization.notification.create is not granted by the user's roles",
            ),
        ]),
    );
    let res = app
        .admin(
            Method::POST,
            &app.path("/tokens"),
            Some(json!({"userId": uuid::Uuid::new_v4()})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("userId", "no such user in this organization")]),
    );
}

async fn revoked_and_expired_tokens_stop_working_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(
            Method::POST,
            &app.path("/tokens"),
            Some(json!({"userId": app.admin_id, "expiresAt": "2999-01-01T00:00:00.000Z"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["data"]["expiresAt"], "2999-01-01T00:00:00.000Z");
    let (id, token) = (
        res.body["data"]["id"].as_str().unwrap_or_default(),
        res.body["data"]["token"].as_str().unwrap_or_default(),
    );
    assert_eq!(
        app.call(Method::GET, &app.path("/notifications"), Some(token), None)
            .await
            .status,
        StatusCode::OK
    );
    let revoked = app
        .admin(Method::DELETE, &app.path(&format!("/tokens/{id}")), None)
        .await;
    assert_eq!(
        revoked.body,
        json!({"status": true, "data": {"id": id, "revoked": true}})
    );
    assert_error(
        &app.call(Method::GET, &app.path("/notifications"), Some(token), None)
            .await,
        401,
        4004,
        None,
    );
    assert_error(
        &app.admin(Method::DELETE, &app.path(&format!("/tokens/{id}")), None)
            .await,
        404,
        3001,
        None,
    );

    // A token whose expiry has passed (written directly: the API refuses a past expiry).
    let org = OrgId::parse(&app.org).unwrap_or_else(|e| panic!("{e}"));
    let issued = issue_token(&org);
    let now = app.state.clock.now();
    let record = TokenRecord {
        id: issued.id,
        organization: org,
        hash: issued.hash,
        user_id: app.admin_id.parse().unwrap_or_default(),
        roles: vec![Role::Admin],
        permissions: None,
        expires_at: Some(now - time::Duration::seconds(1)),
        created_at: now - time::Duration::hours(1),
        last_used_at: None,
    };
    app.state
        .store
        .create_token(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_error(
        &app.call(
            Method::GET,
            &app.path("/notifications"),
            Some(&issued.secret),
            None,
        )
        .await,
        401,
        4004,
        None,
    );
}

herald_tests::on_both_backends!(
    the_operator_creates_an_organization_with_its_admin_and_token,
    an_organization_without_an_admin_gets_the_default_admin_email_whatever_its_id,
    only_the_operator_creates_organizations_and_bad_bodies_list_every_field,
    users_are_unique_by_username_and_email,
    user_bodies_are_validated_field_by_field,
    users_are_found_by_id_username_or_me,
    narrowed_tokens_can_do_only_what_they_list,
    token_bodies_are_validated,
    revoked_and_expired_tokens_stop_working_at_once,
);
