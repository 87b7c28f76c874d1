//! Tokens that cannot escalate, the token list with `lastUsedAt`, and changing and deleting
//! users (issue 26, part 3), on both backends.

use std::sync::Arc;
use std::time::Duration;

use herald_tests::delivery::ShiftedClock;
use herald_tests::{Backend, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A new token of `user`, made by `caller` with `body`'s other fields.
async fn token_by(app: &TestApp, caller: &str, user: &str, extra: Value) -> herald_tests::Response {
    let mut body = json!({"userId": user});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.call(Method::POST, &app.path("/tokens"), Some(caller), Some(body))
        .await
}

fn secret(res: &herald_tests::Response) -> String {
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn a_token_holds_no_permission_and_outlives_no_token_of_its_maker(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_id.clone();
    // A token that may only make tokens (and read users).
    let narrow = secret(
        &token_by(
            &app,
            &app.admin_token,
            &admin,
            json!({"permissions": ["base.organization.token.create", "base.organization.user.read"]}),
        )
        .await,
    );
    // It cannot make a full-power token: every permission it lacks is named.
    let res = token_by(&app, &narrow, &admin, json!({})).await;
    let missing: Vec<String> = [
        "notification.create",
        "notification.read",
        "notification.update",
        "notification.delete",
        "event.create",
        "settings.read",
        "settings.update",
        "user.create",
    ]
    .iter()
    .map(|p| format!("base.organization.{p} is not held by the calling token"))
    .collect();
    let want: Vec<(&str, &str)> = missing
        .iter()
        .map(|m| ("permissions", m.as_str()))
        .collect();
    assert_error(&res, 403, 4003, Some(&want));
    let res = token_by(
        &app,
        &narrow,
        &admin,
        json!({"permissions": ["base.organization.token.create", "base.organization.settings.update"]}),
    )
    .await;
    assert_error(
        &res,
        403,
        4003,
        Some(&[(
            "permissions",
            "base.organization.settings.update is not held by the calling token",
        )]),
    );
    // A subset of its own is fine.
    let res = token_by(
        &app,
        &narrow,
        &admin,
        json!({"permissions": ["base.organization.user.read"]}),
    )
    .await;
    assert_eq!(
        res.body["data"]["permissions"],
        json!(["base.organization.user.read"]),
        "{}",
        res.body
    );

    // A token expiring in 2999 cannot make one that never expires, nor one that outlives it.
    let mortal = secret(
        &token_by(
            &app,
            &app.admin_token,
            &admin,
            json!({"expiresAt": "2999-01-01T00:00:00Z"}),
        )
        .await,
    );
    let res = token_by(&app, &mortal, &admin, json!({})).await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[(
            "expiresAt",
            "must be given, and no later than the calling token's expiry (2999-01-01T00:00:00.000Z)",
        )]),
    );
    let res = token_by(
        &app,
        &mortal,
        &admin,
        json!({"expiresAt": "2999-01-01T00:00:00.001Z"}),
    )
    .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[(
            "expiresAt",
            "must be no later than the calling token's expiry (2999-01-01T00:00:00.000Z)",
        )]),
    );
    let res = token_by(
        &app,
        &mortal,
        &admin,
        json!({"expiresAt": "2998-12-31T23:59:59Z"}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["data"]["expiresAt"], "2998-12-31T23:59:59.000Z");
}

async fn a_role_is_given_only_by_a_caller_holding_all_it_grants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_id.clone();
    let user_admin = secret(
        &token_by(
            &app,
            &app.admin_token,
            &admin,
            json!({"permissions": ["base.organization.user.create", "base.organization.user.read", "base.organization.notification.read", "base.organization.settings.read"]}),
        )
        .await,
    );
    // It may make members (it holds all a member may do) but not admins.
    let res = app
        .call(
            Method::POST,
            &app.path("/users"),
            Some(&user_admin),
            Some(json!({"username": "mia", "email": "mia@example.com"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let mia = res.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let res = app
        .call(
            Method::POST,
            &app.path("/users"),
            Some(&user_admin),
            Some(json!({"username": "max", "email": "max@example.com", "roles": ["admin"]})),
        )
        .await;
    let missing: Vec<String> = [
        "notification.create",
        "notification.update",
        "notification.delete",
        "event.create",
        "settings.update",
        "token.create",
    ]
    .iter()
    .map(|p| format!("base.organization.{p} is not held by the calling token"))
    .collect();
    let want: Vec<(&str, &str)> = missing.iter().map(|m| ("roles", m.as_str())).collect();
    assert_error(&res, 403, 4003, Some(&want));
    let res = app
        .call(
            Method::PATCH,
            &app.path(&format!("/users/{mia}")),
            Some(&user_admin),
            Some(json!({"roles": ["admin"]})),
        )
        .await;
    assert_error(&res, 403, 4003, Some(&want));
    // A member changes no roles, not even their own.
    let (_, member) = app.user_with_token("mo", &["member"]).await;
    let res = app
        .call(
            Method::PATCH,
            &app.path("/users/me"),
            Some(&member),
            Some(json!({"roles": ["admin"]})),
        )
        .await;
    assert_error(&res, 403, 4003, None);
    let res = app
        .call(
            Method::DELETE,
            &app.path(&format!("/users/{mia}")),
            Some(&member),
            None,
        )
        .await;
    assert_error(&res, 403, 4003, None);
    let got = app
        .admin(Method::GET, &app.path(&format!("/users/{mia}")), None)
        .await;
    assert_eq!(
        got.body["data"]["roles"],
        json!(["member"]),
        "nothing changed"
    );
}

async fn new_roles_reach_the_users_tokens_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user_with_token("rita", &["member"]).await;
    let create = |token: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &app.path("/notifications"),
                Some(&token),
                Some(json!({"type": "email", "events": {}})),
            )
            .await
        }
    };
    assert_error(&create(token.clone()).await, 403, 4003, None);
    let res = app
        .admin(
            Method::PATCH,
            &app.path("/users/rita"),
            Some(json!({"roles": ["admin", "member", "admin"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["data"]["id"], id.as_str());
    assert_eq!(res.body["data"]["roles"], json!(["admin", "member"]));
    assert_eq!(create(token.clone()).await.status, StatusCode::OK);
    let res = app
        .admin(
            Method::PATCH,
            &app.path(&format!("/users/{id}")),
            Some(json!({"roles": ["member"]})),
        )
        .await;
    assert_eq!(res.body["data"]["roles"], json!(["member"]), "{}", res.body);
    assert_error(&create(token).await, 403, 4003, None);
}

async fn the_last_admin_is_neither_demoted_nor_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .admin(
            Method::PATCH,
            &app.path("/users/me"),
            Some(json!({"roles": ["member"]})),
        )
        .await;
    assert_error(
        &res,
        409,
        3002,
        Some(&[("roles", "the organization must keep at least one admin")]),
    );
    let res = app
        .admin(Method::DELETE, &app.path("/users/me"), None)
        .await;
    assert_error(
        &res,
        409,
        3002,
        Some(&[("user", "the organization's last admin cannot be deleted")]),
    );
    // With a second admin, each may step down, but not both: two demotions at once leave one.
    let (_, other) = app.user_with_token("ada", &["admin"]).await;
    let me = app.path("/users/me");
    let mine = app.admin(Method::PATCH, &me, Some(json!({"roles": ["member"]})));
    let theirs = app.call(
        Method::PATCH,
        &me,
        Some(&other),
        Some(json!({"roles": ["member"]})),
    );
    let (mine, theirs) = tokio::join!(mine, theirs);
    let mut statuses = [mine.status.as_u16(), theirs.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", mine.body, theirs.body);
    let users = app.admin(Method::GET, &app.path("/users"), None).await;
    let users = if mine.status == StatusCode::OK {
        app.call(Method::GET, &app.path("/users"), Some(&other), None)
            .await
    } else {
        users
    };
    let admins = users.body["data"]["items"].as_array().map(|items| {
        items
            .iter()
            .filter(|u| u["roles"] == json!(["admin"]))
            .count()
    });
    assert_eq!(admins, Some(1), "{}", users.body);
}

async fn user_changes_are_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user_with_token("val", &["member"]).await;
    let path = app.path("/users/val");
    let res = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"roles": ["root", "admin"], "name": "x"})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("name", "is not a known field"),
            ("roles[0]", "must be one of admin, member"),
        ]),
    );
    let res = app
        .admin(Method::PATCH, &path, Some(json!({"roles": []})))
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("roles", "must name at least one role")]),
    );
    let res = app.admin(Method::PATCH, &path, Some(json!({}))).await;
    assert_error(&res, 400, 1001, Some(&[("roles", "is required")]));
    let res = app
        .admin(
            Method::PATCH,
            &app.path("/users/nobody"),
            Some(json!({"roles": ["admin"]})),
        )
        .await;
    assert_error(&res, 404, 3001, None);
    let res = app
        .admin(Method::DELETE, &app.path("/users/nobody"), None)
        .await;
    assert_error(&res, 404, 3001, None);
    let got = app.admin(Method::GET, &path, None).await;
    assert_eq!(
        got.body["data"]["roles"],
        json!(["member"]),
        "nothing changed"
    );
}

async fn a_deleted_user_loses_their_tokens_and_places_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user_with_token("dora", &["member"]).await;
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "email", "events": {}})),
        )
        .await;
    let notification = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let recipients = format!(
        "/v1/deployments/{}/notifications/{notification}/recipients",
        app.org
    );
    let added = app
        .admin(
            Method::POST,
            &recipients,
            Some(json!({"recipients": [{"userId": id}, {"userId": app.admin_id}]})),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let res = app
        .admin(Method::DELETE, &app.path("/users/dora"), None)
        .await;
    assert_eq!(
        res.body,
        json!({"status": true, "data": {"id": id, "deleted": true}})
    );
    assert_error(
        &app.call(Method::GET, &app.path("/users/me"), Some(&token), None)
            .await,
        401,
        4004,
        None,
    );
    assert_error(
        &app.admin(Method::GET, &app.path(&format!("/users/{id}")), None)
            .await,
        404,
        3001,
        None,
    );
    let left = app.admin(Method::GET, &recipients, None).await;
    let ids: Vec<&str> = left.body["items"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [app.admin_id.as_str()], "{}", left.body);
    let tokens = app.admin(Method::GET, &app.path("/tokens"), None).await;
    assert!(
        !tokens.body.to_string().contains(&id),
        "no token of the deleted user is listed: {}",
        tokens.body
    );
    // Their username and email are free again.
    let again = app
        .admin(
            Method::POST,
            &app.path("/users"),
            Some(json!({"username": "dora", "email": "dora@example.com"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_error(
        &app.admin(Method::DELETE, &app.path(&format!("/users/{id}")), None)
            .await,
        404,
        3001,
        None,
    );
}

/// The token list, as the admin reads it.
async fn listed(app: &TestApp) -> herald_tests::Response {
    let res = app
        .admin(Method::GET, &app.path("/tokens?limit=100"), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res
}

/// One request authenticated by `token`.
async fn used(app: &TestApp, token: &str) {
    let res = app
        .call(Method::GET, &app.path("/users/me"), Some(token), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

async fn the_token_list_shows_last_use_to_the_minute_and_never_a_secret(backend: Backend) {
    let clock = Arc::new(ShiftedClock::default());
    let app = TestApp::spawn(backend).await.with_clock(clock.clone());
    let (id, token) = app.user_with_token("lu", &["member"]).await;
    let first = listed(&app).await;
    assert!(
        !first.body.to_string().contains(&token),
        "no secret: {}",
        first.body
    );
    assert!(
        !first.body.to_string().contains(&app.admin_token),
        "no secret"
    );
    let items = first.body["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2, "{}", first.body);
    let of_user = |body: &Value| -> Value {
        body["data"]["items"]
            .as_array()
            .and_then(|items| items.iter().find(|t| t["userId"] == id.as_str()).cloned())
            .unwrap_or(Value::Null)
    };
    let mine = of_user(&first.body);
    let keys: Vec<&str> = mine
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["createdAt", "id", "userId"], "never used: {mine}");

    used(&app, &token).await;
    let at = of_user(&listed(&app).await.body)["lastUsedAt"].clone();
    assert!(at.is_string(), "{at}");
    // Within the minute the record stays; past it, the next use writes it again.
    clock.advance(Duration::from_secs(30));
    used(&app, &token).await;
    assert_eq!(of_user(&listed(&app).await.body)["lastUsedAt"], at);
    clock.advance(Duration::from_secs(31));
    used(&app, &token).await;
    let later = of_user(&listed(&app).await.body)["lastUsedAt"].clone();
    assert_ne!(later, at);
    assert!(later.as_str() > at.as_str(), "{later} after {at}");

    // Pages, and admins only.
    let page = app
        .admin(Method::GET, &app.path("/tokens?limit=1"), None)
        .await;
    assert_eq!(page.body["data"]["items"].as_array().map(Vec::len), Some(1));
    let cursor = page.body["data"]["nextCursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let next = app
        .admin(
            Method::GET,
            &app.path(&format!("/tokens?limit=1&cursor={cursor}")),
            None,
        )
        .await;
    assert_eq!(next.body["data"]["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(next.body["data"]["nextCursor"], Value::Null);
    assert_ne!(
        page.body["data"]["items"][0]["id"],
        next.body["data"]["items"][0]["id"]
    );
    assert_error(
        &app.call(Method::GET, &app.path("/tokens"), Some(&token), None)
            .await,
        403,
        4003,
        None,
    );
}

async fn a_user_holds_at_most_fifty_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = app.user_with_token("many", &["member"]).await;
    for _ in 1..50 {
        secret(&token_by(&app, &app.admin_token, &id, json!({})).await);
    }
    let res = token_by(&app, &app.admin_token, &id, json!({})).await;
    assert_error(
        &res,
        409,
        3002,
        Some(&[(
            "userId",
            "the user already holds 50 tokens: revoke one first",
        )]),
    );
    // Fifty tokens still change roles in one go.
    let res = app
        .admin(
            Method::PATCH,
            &app.path("/users/many"),
            Some(json!({"roles": ["admin"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .admin(Method::DELETE, &app.path("/users/many"), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

herald_tests::on_both_backends!(
    a_token_holds_no_permission_and_outlives_no_token_of_its_maker,
    a_role_is_given_only_by_a_caller_holding_all_it_grants,
    new_roles_reach_the_users_tokens_at_once,
    the_last_admin_is_neither_demoted_nor_deleted,
    user_changes_are_validated,
    a_deleted_user_loses_their_tokens_and_places_at_once,
    the_token_list_shows_last_use_to_the_minute_and_never_a_secret,
    a_user_holds_at_most_fifty_tokens,
);
