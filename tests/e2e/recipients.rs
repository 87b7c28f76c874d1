//! Notification recipients (the recipients API) through the API, on both backends.

use herald_tests::{Backend, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn notification(app: &TestApp, kind: &str) -> String {
    let body = if kind == "webhook" {
        json!({"type": "webhook", "events": {}, "setup": {"webhook": {"url": "https://hooks.example.com/x"}}})
    } else {
        json!({"type": kind, "events": {"buildCreated": true}})
    };
    let res = app
        .admin(Method::POST, &app.path("/notifications"), Some(body))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn recipients_path(app: &TestApp, id: &str) -> String {
    format!("/v1/deployments/{}/notifications/{id}/recipients", app.org)
}

async fn add(app: &TestApp, id: &str, recipients: Value) -> herald_tests::Response {
    app.admin(
        Method::POST,
        &recipients_path(app, id),
        Some(json!({"recipients": recipients})),
    )
    .await
}

async fn listed(app: &TestApp, id: &str) -> Vec<Value> {
    let res = app
        .admin(
            Method::GET,
            &format!("{}?limit=100", recipients_path(app, id)),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

fn bucket_sizes(body: &Value) -> (usize, usize, usize) {
    let n = |k: &str| body[k].as_array().map_or(usize::MAX, Vec::len);
    (
        n("createdRecipients"),
        n("updatedRecipients"),
        n("unchangedRecipients"),
    )
}

async fn adding_is_idempotent_and_shows_the_seeds_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let (ann, _) = app.user_with_token("ann", &["member"]).await;
    app.user_with_token("bob", &["member"]).await;
    let recipients = json!([
        {"userId": ann},
        {"email": "BOB@example.com"},
        {"embedTenantName": "acme", "externalId": "cara@acme.example", "securityContext": {"team": "ops"},
         "userAttributes": [{"name": "region", "value": "eu"}], "groups": ["ops", "oncall"]},
        {"embedTenantName": "acme", "externalId": "u-42", "email": "dan@acme.example"},
    ]);
    let first = add(&app, &id, recipients.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(bucket_sizes(&first.body), (4, 0, 0));
    let created = &first.body["createdRecipients"];
    assert_eq!(created[0]["userId"], ann.as_str());
    assert_eq!(created[0]["username"], "ann");
    assert_eq!(created[1]["email"], "bob@example.com");
    let cara = created[2].clone();
    let mut keys: Vec<&str> = cara
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "channelId",
            "channelName",
            "email",
            "embedTenantName",
            "embedUserId",
            "externalId",
            "userId",
            "username"
        ]
    );
    assert_eq!(cara["channelId"], Value::Null);
    assert_eq!(cara["userId"], Value::Null);
    assert_eq!(cara["email"], "cara@acme.example");
    assert_eq!(cara["embedTenantName"], "acme");
    assert_eq!(cara["externalId"], "cara@acme.example");
    assert!(
        cara["embedUserId"]
            .as_str()
            .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
        "{cara}"
    );
    assert_eq!(created[3]["email"], "dan@acme.example");

    let again = add(&app, &id, recipients).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(bucket_sizes(&again.body), (0, 0, 4));
    assert_eq!(
        again.body["unchangedRecipients"][2], cara,
        "the same embed user id every time"
    );
    assert_eq!(listed(&app, &id).await.len(), 4);
}

async fn changed_embed_properties_are_updated_and_duplicates_count_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let embed = |team: &str| json!({"embedTenantName": "acme", "externalId": "eve@acme.example", "securityContext": {"team": team}});
    assert_eq!(
        bucket_sizes(
            &add(&app, &id, json!([embed("ops"), embed("ops")]))
                .await
                .body
        ),
        (1, 0, 0)
    );
    let other = json!({"embedTenantName": "acme", "externalId": "fay@acme.example"});
    let res = add(&app, &id, json!([embed("dev"), other.clone(), other])).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(bucket_sizes(&res.body), (1, 1, 0));
    assert_eq!(
        res.body["updatedRecipients"][0]["externalId"],
        "eve@acme.example"
    );
    assert_eq!(
        bucket_sizes(&add(&app, &id, json!([embed("dev")])).await.body),
        (0, 0, 1)
    );
    // The same embed identity in another organization is another embed user.
    let elsewhere = TestApp::on_state(backend, app.state.clone(), app.calls.clone()).await;
    let id2 = notification(&elsewhere, "email").await;
    let there = add(&elsewhere, &id2, json!([embed("dev")])).await;
    assert_ne!(
        there.body["createdRecipients"][0]["embedUserId"],
        res.body["updatedRecipients"][0]["embedUserId"]
    );
}

async fn one_bad_recipient_fails_the_request_naming_every_bad_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let (ann, _) = app.user_with_token("ann", &["member"]).await;
    assert_eq!(
        bucket_sizes(&add(&app, &id, json!([{"userId": ann}])).await.body),
        (1, 0, 0)
    );
    let before = listed(&app, &id).await;

    let res = add(&app, &id, json!([
        {"embedTenantName": "acme", "externalId": "new@acme.example"},
        {},
        {"userId": uuid::Uuid::new_v4().to_string()},
        {"email": "nobody@example.com"},
        {"embedTenantName": "acme", "externalId": "not-an-email"},
        {"channelId": "C1", "channelName": "#general"},
        {"embedTenantName": "acme", "externalId": "g@acme.example", "userAttributes": [{"name": "a"}, "x"]},
        {"embedTenantName": "acme", "externalId": "h@acme.example", "securityContext": "admin"},
        {"embedTenantName": "acme", "externalId": "i@acme.example", "groups": ["ok", 7]},
        {"userId": 123},
        {"userId": ann, "email": "ann@example.com"},
    ])).await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            // Shape first, in index order...
            (
                "recipients[1]",
                "needs a userId, an email, or embedTenantName and externalId",
            ),
            ("recipients[5]", "SLACK recipients are not supported yet"),
            (
                "recipients[6].userAttributes[0]",
                "must be {\"name\": string, \"value\": string}",
            ),
            (
                "recipients[6].userAttributes[1]",
                "must be {\"name\": string, \"value\": string}",
            ),
            ("recipients[7].securityContext", "must be an object"),
            ("recipients[8].groups[1]", "must be a string"),
            ("recipients[9].userId", "must be a string"),
            ("recipients[10]", "give userId or email, not both"),
            // ...then what the well-shaped ones failed to resolve to.
            ("recipients[2].userId", "no such user in this organization"),
            ("recipients[3].email", "no such user in this organization"),
            (
                "recipients[4].externalId",
                "must be an email address when the embed user has no email",
            ),
        ]),
    );
    for (body, message) in [
        (json!({"recipients": []}), "must hold 1 to 1000 recipients"),
        (
            json!({"recipients": vec![json!({"userId": ann}); 1001]}),
            "must hold 1 to 1000 recipients",
        ),
        (json!({"recipients": {"userId": ann}}), "must be an array"),
        (json!({}), "is required"),
    ] {
        let res = app
            .admin(Method::POST, &recipients_path(&app, &id), Some(body))
            .await;
        assert_error(&res, 400, 1001, Some(&[("recipients", message)]));
    }
    assert_eq!(listed(&app, &id).await, before, "nothing was written");
}

async fn embed_groups_and_attributes_are_bounded_in_count_and_length(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let embed = |extra: Value| {
        let mut r = json!({"embedTenantName": "acme", "externalId": "a@acme.example"});
        if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(extra.clone());
        }
        r
    };
    let attribute = json!({"name": "n", "value": "v"});
    let res = add(
        &app,
        &id,
        json!([
            embed(json!({"groups": vec!["g"; 101]})),
            embed(json!({"groups": ["ok", "", "x".repeat(257)]})),
            embed(json!({"userAttributes": vec![attribute.clone(); 101]})),
        ]),
    )
    .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("recipients[0].groups", "must have at most 100 entries"),
            ("recipients[1].groups[1]", "must be 1 to 256 characters"),
            ("recipients[1].groups[2]", "must be 1 to 256 characters"),
            (
                "recipients[2].userAttributes",
                "must have at most 100 entries",
            ),
        ]),
    );
    assert_eq!(
        listed(&app, &id).await,
        Vec::<Value>::new(),
        "nothing was written"
    );
    // At the bounds, it is accepted.
    let res = add(
        &app,
        &id,
        json!([embed(json!({
            "groups": vec!["g".repeat(256); 100],
            "userAttributes": vec![attribute; 100],
        }))]),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(bucket_sizes(&res.body), (1, 0, 0));
}

async fn an_embed_recipient_with_an_empty_name_is_refused_not_dropped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let res = add(
        &app,
        &id,
        json!([
            {"embedTenantName": "acme", "externalId": "a@acme.example"},
            {"embedTenantName": "", "externalId": "b@acme.example"},
            {"embedTenantName": "acme", "externalId": ""},
        ]),
    )
    .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("recipients[1].embedTenantName", "must not be empty"),
            ("recipients[2].externalId", "must not be empty"),
        ]),
    );
    assert_eq!(
        listed(&app, &id).await,
        Vec::<Value>::new(),
        "nothing was written"
    );
}

async fn a_console_user_recipient_refuses_the_embed_users_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let (ann, _) = app.user_with_token("ann", &["member"]).await;
    let res = add(
        &app,
        &id,
        json!([
            {"userId": ann, "groups": ["g"], "securityContext": null},
            {"email": "ann@example.com", "userAttributes": [], "securityContext": {}},
        ]),
    )
    .await;
    let only = "is for EMBED_USER recipients (with embedTenantName and externalId) only";
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("recipients[0].groups", only),
            ("recipients[1].securityContext", only),
            ("recipients[1].userAttributes", only),
        ]),
    );
    assert_eq!(
        listed(&app, &id).await,
        Vec::<Value>::new(),
        "nothing was written"
    );
}

async fn only_admins_of_the_organization_add_to_email_or_sms_notifications(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = notification(&app, "email").await;
    let hook = notification(&app, "webhook").await;
    let (ann, member) = app.user_with_token("ann", &["member"]).await;
    let body = json!({"recipients": [{"userId": ann}]});
    let res = app
        .admin(
            Method::POST,
            &recipients_path(&app, &hook),
            Some(body.clone()),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[(
            "id",
            "recipients can be added only to email and sms notifications, not webhook",
        )]),
    );
    let res = app
        .call(
            Method::POST,
            &recipients_path(&app, &email),
            Some(&member),
            Some(body.clone()),
        )
        .await;
    assert_error(&res, 403, 4003, None);
    let res = app
        .call(
            Method::POST,
            &recipients_path(&app, &email),
            None,
            Some(body.clone()),
        )
        .await;
    assert_error(&res, 401, 4002, None);
    let res = app
        .admin(
            Method::POST,
            &recipients_path(&app, "000000000000000000000000"),
            Some(body.clone()),
        )
        .await;
    assert_error(&res, 404, 3001, None);
    let other = TestApp::on_state(backend, app.state.clone(), app.calls.clone()).await;
    let res = other
        .call(
            Method::POST,
            &recipients_path(&app, &email),
            Some(&other.admin_token),
            Some(body.clone()),
        )
        .await;
    assert_error(&res, 404, 3001, None);
    let res = other
        .call(
            Method::GET,
            &recipients_path(&app, &email),
            Some(&other.admin_token),
            None,
        )
        .await;
    assert_error(&res, 404, 3001, None);
    assert!(listed(&app, &email).await.is_empty());
    // Members may read the list.
    add(&app, &email, json!([{"userId": ann}])).await;
    let res = app
        .call(
            Method::GET,
            &recipients_path(&app, &email),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn sms_recipients_need_a_phone_number(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "sms").await;
    let (no_phone, _) = app.user_with_token("ann", &["member"]).await;
    let with_phone = app
        .admin(
            Method::POST,
            &app.path("/users"),
            Some(json!({"username": "pat", "email": "pat@example.com", "phone": "+14155550100"})),
        )
        .await;
    let with_phone = with_phone.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let res = add(&app, &id, json!([
        {"userId": no_phone},
        {"embedTenantName": "acme", "externalId": "x@acme.example"},
        {"embedTenantName": "acme", "externalId": "y@acme.example", "userAttributes": [{"name": "phone", "value": "555"}]},
    ])).await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            (
                "recipients[0].userId",
                "the user has no phone number, which an sms notification needs",
            ),
            (
                "recipients[1].userAttributes",
                "needs a phone attribute (E.164) for an sms notification",
            ),
            (
                "recipients[2].userAttributes",
                "phone must be an E.164 phone number such as +14155550100",
            ),
        ]),
    );
    let res = add(&app, &id, json!([
        {"userId": with_phone},
        {"embedTenantName": "acme", "externalId": "y@acme.example", "userAttributes": [{"name": "phone", "value": "+447700900123"}]},
    ])).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(bucket_sizes(&res.body), (2, 0, 0));
}

async fn recipients_page_delete_and_go_with_their_notification(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let many: Vec<Value> = (0..7)
        .map(|i| json!({"embedTenantName": "t", "externalId": format!("r{i}@t.example")}))
        .collect();
    assert_eq!(
        bucket_sizes(&add(&app, &id, json!(many)).await.body),
        (7, 0, 0)
    );
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let res = app
            .admin(
                Method::GET,
                &format!("{}?limit=3{cursor}", recipients_path(&app, &id)),
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        for item in res.body["items"].as_array().cloned().unwrap_or_default() {
            assert_eq!(item["kind"], "EMBED_USER");
            assert_eq!(item["id"], item["embedUserId"]);
            seen.push(item["id"].as_str().unwrap_or_default().to_owned());
        }
        match res.body["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => {
                // The last page: present, and null.
                assert_eq!(res.body.get("nextCursor"), Some(&Value::Null));
                break;
            }
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!((seen.len(), &seen), (7, &sorted), "all seven, in id order");

    let one = format!("{}/{}", recipients_path(&app, &id), seen[0]);
    let res = app.admin(Method::DELETE, &one, None).await;
    assert_eq!(res.body, json!({"id": seen[0], "deleted": true}));
    assert_error(
        &app.admin(Method::DELETE, &one, None).await,
        404,
        3001,
        None,
    );
    assert_eq!(listed(&app, &id).await.len(), 6);

    assert_eq!(
        app.admin(
            Method::DELETE,
            &app.path(&format!("/notifications/{id}")),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let org = shared::model::OrgId::parse(&app.org).unwrap_or_else(|e| panic!("{e}"));
    let nid = shared::model::NotificationId::parse(&id).unwrap_or_else(|e| panic!("{e}"));
    let left = app
        .state
        .store
        .list_recipients(
            &org,
            &nid,
            &shared::ports::store::PageRequest {
                limit: 100,
                after: None,
            },
        )
        .await;
    assert_eq!(
        left.map(|p| p.items.len()),
        Ok(0),
        "deleting a notification deletes its recipients"
    );
}

async fn a_thousand_recipients_in_one_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = notification(&app, "email").await;
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({"embedTenantName": "bulk", "externalId": format!("user{i}@bulk.example")}))
        .collect();
    let res = add(&app, &id, json!(many.clone())).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(bucket_sizes(&res.body), (1000, 0, 0));
    let again = add(&app, &id, json!(many)).await;
    assert_eq!(bucket_sizes(&again.body), (0, 0, 1000));
}

herald_tests::on_both_backends!(
    embed_groups_and_attributes_are_bounded_in_count_and_length,
    an_embed_recipient_with_an_empty_name_is_refused_not_dropped,
    a_console_user_recipient_refuses_the_embed_users_fields,
    adding_is_idempotent_and_shows_the_seeds_fields,
    changed_embed_properties_are_updated_and_duplicates_count_once,
    one_bad_recipient_fails_the_request_naming_every_bad_index,
    only_admins_of_the_organization_add_to_email_or_sms_notifications,
    sms_recipients_need_a_phone_number,
    recipients_page_delete_and_go_with_their_notification,
    a_thousand_recipients_in_one_request,
);
