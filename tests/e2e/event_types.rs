//! The event-type catalog (`GET /v1/event-types`) and the `warnings` of `POST /events`, on both
//! backends.

use herald_tests::{Backend, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::model::EventType;
use shared::templates::{self, TemplateKey};

const CATALOG: &str = "/v1/event-types";

async fn catalog_lists_the_fifteen_types_in_seed_order_with_schema_example_and_template_for_any_user(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, member) = app.user_with_token("mia", &["member"]).await;
    let mut answers = Vec::new();
    for token in [app.admin_token.clone(), member] {
        let res = app.call(Method::GET, CATALOG, Some(&token), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        answers.push(res.body);
    }
    assert_eq!(answers[0], answers[1], "the same for every caller");
    let body = &answers[0];
    assert_eq!(body["status"], true);
    assert_eq!(body["data"]["nextCursor"], Value::Null);
    assert!(body["data"].get("nextCursor").is_some());
    let items = body["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = items.iter().filter_map(|i| i["type"].as_str()).collect();
    let expected: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(names, expected);

    let build = &items[0];
    let template = templates::get(TemplateKey::Event(EventType::BuildCreated));
    assert_eq!(build["description"], "A new build of an app was uploaded.");
    assert_eq!(
        build["templates"],
        json!([{
            "id": template.id.to_string(),
            "name": "Build Created",
            "languages": ["en", "de", "fr", "es"],
            "enabledByDefault": true,
        }])
    );
    assert_eq!(
        build["example"],
        json!({
            "appName": "Field Service",
            "version": "4.2.0",
            "buildNumber": "1187",
            "platform": "iOS",
            "createdBy": "Grace Hopper",
            "url": "https://console.example.com/apps/field-service/builds/1187",
        })
    );
    let schema = &build["dataSchema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], true);
    let properties: Vec<&String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        properties,
        [
            "appName",
            "buildNumber",
            "createdBy",
            "platform",
            "url",
            "version"
        ]
    );
    assert_eq!(
        schema["properties"]["createdBy"],
        json!({"type": ["string", "number", "integer", "boolean", "object", "array", "null"], "description": "Who uploaded the build.", "examples": ["Grace Hopper"]})
    );
    // The inventory template is the one users opt into.
    assert_eq!(items[14]["templates"][0]["enabledByDefault"], false);
    // Each type's template is the one the template list names.
    let listed = app
        .admin(Method::GET, "/api/v2/notifications/templates/system", None)
        .await;
    for item in &items {
        let id = &item["templates"][0]["id"];
        let found = listed
            .body
            .as_array()
            .and_then(|all| all.iter().find(|t| &t["id"] == id).cloned())
            .unwrap_or(Value::Null);
        assert_eq!(
            found["name"], item["templates"][0]["name"],
            "{}",
            item["type"]
        );
    }
}

async fn catalog_without_a_valid_token_is_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.call(Method::GET, CATALOG, None, None).await;
    assert_error(&res, 401, 4002, None);
    let forged = format!("hrld_{}_{}", app.org, "A".repeat(43));
    let res = app.call(Method::GET, CATALOG, Some(&forged), None).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert_eq!(res.body["status"], false);
}

async fn an_event_lacking_fields_its_template_renders_is_accepted_with_warnings_naming_them(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let path = app.path("/events");
    let body = json!({"type": "feedbackCreated", "data": {"appName": "Demo", "author": null, "rating": 5}, "idempotencyKey": "fb-1"});
    let res = app.admin(Method::POST, &path, Some(body.clone())).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    let message = "is missing: the feedbackCreated template renders it, and it will render empty";
    let warnings = json!([
        {"field": "data.author", "message": message},
        {"field": "data.message", "message": message},
        {"field": "data.url", "message": message},
    ]);
    assert_eq!(res.body["data"]["warnings"], warnings);
    let id = res.body["data"]["id"].clone();
    // The event was recorded as sent, extra field included.
    let stored = app
        .admin(
            Method::GET,
            &app.path(&format!("/events/{}", id.as_str().unwrap_or_default())),
            None,
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    assert_eq!(
        stored.body["data"]["data"],
        json!({"appName": "Demo", "author": null, "rating": 5})
    );
    // A replay answers the first event, with the same warnings.
    let replay = app.admin(Method::POST, &path, Some(body)).await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
    assert_eq!(replay.body["data"]["id"], id);
    assert_eq!(replay.body["data"]["warnings"], warnings);
    // No data at all: every field is missing.
    let res = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"type": "certificateWillExpire"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    let fields: Vec<&str> = res.body["data"]["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        ["data.certificateName", "data.expiresAt", "data.url"]
    );
}

async fn every_catalog_example_is_accepted_without_warnings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let catalog = app.admin(Method::GET, CATALOG, None).await;
    let items = catalog.body["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 15);
    for item in items {
        let body = json!({"type": item["type"], "data": item["example"]});
        let res = app
            .admin(Method::POST, &app.path("/events"), Some(body))
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
        assert_eq!(res.body["data"]["warnings"], json!([]), "{}", item["type"]);
    }
}

herald_tests::on_both_backends!(
    catalog_lists_the_fifteen_types_in_seed_order_with_schema_example_and_template_for_any_user,
    catalog_without_a_valid_token_is_401,
    an_event_lacking_fields_its_template_renders_is_accepted_with_warnings_naming_them,
    every_catalog_example_is_accepted_without_warnings,
);
