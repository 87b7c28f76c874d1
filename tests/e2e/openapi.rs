//! The committed `openapi.json` is exactly what the code generates. Regenerate with
//! `HERALD_UPDATE_OPENAPI=1 cargo test -p herald-tests --test e2e openapi`.

use std::path::PathBuf;

use serde_json::json;
use shared::api::Route;

#[test]
fn committed_openapi_matches_the_code_and_covers_every_route() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
    let generated = shared::api::openapi::document();
    if std::env::var("HERALD_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, generated)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is stale: run HERALD_UPDATE_OPENAPI=1 cargo test -p herald-tests --test e2e openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(generated).unwrap_or_default();
    let operations: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|ops| ops.as_object().map_or(0, |o| o.len()))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(operations, Route::ALL.len(), "one operation per route");
}

/// What schemathesis found the document leaving out (issue 12), each stated now.
#[test]
fn the_document_states_the_constraints_and_answers_the_server_has() {
    let doc: serde_json::Value =
        serde_json::from_str(shared::api::openapi::document()).unwrap_or_else(|e| panic!("{e}"));
    let schemas = &doc["components"]["schemas"];
    let codes = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        codes("/v1/organizations/{organizationId}/events", "post"),
        [
            "202", "400", "401", "403", "404", "413", "422", "429", "503"
        ]
    );
    assert_eq!(codes("/v1/event-types", "get"), ["200", "401", "503"]);
    // Request bodies refuse unknown fields, and require exactly what the handler requires.
    // Creating: one shape per type, `setup` required for slack and webhook only.
    let create = schemas["CreateNotificationRequest"]["oneOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shapes: Vec<_> = create
        .iter()
        .map(|v| {
            assert_eq!(v["additionalProperties"], false, "{v}");
            (
                v["properties"]["type"]["enum"].clone(),
                v["required"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shapes,
        [
            (json!(["slack"]), json!(["type", "events", "setup"])),
            (json!(["webhook"]), json!(["type", "events", "setup"])),
            (json!(["email", "sms"]), json!(["type", "events"])),
        ]
    );
    let patch = &schemas["UpdateNotificationRequest"];
    assert_eq!(patch["additionalProperties"], false);
    assert!(patch.get("required").is_none(), "{patch}");
    assert_eq!(schemas["EventSet"]["additionalProperties"], false);
    assert_eq!(
        schemas["EventSet"]["properties"]
            .as_object()
            .map(|p| p.len()),
        Some(15)
    );
    // Closed sets are enums.
    let names = |schema: &str| schemas[schema]["enum"].clone();
    assert_eq!(
        names("DeliveryStatus"),
        serde_json::json!(["queued", "held", "sending", "sent", "failed", "skipped"])
    );
    assert_eq!(
        names("OrgKind"),
        serde_json::json!(["PRODUCTION", "SANDBOX"])
    );
    assert_eq!(names("Plan"), serde_json::json!(["TRIAL", "PAID"]));
    assert_eq!(
        names("NotificationType"),
        serde_json::json!(["slack", "webhook", "email", "sms"])
    );
    assert_eq!(names("EventType").as_array().map(Vec::len), Some(15));
    // Paging: 1-100, and the event id a UUID.
    let params = doc["paths"]["/v1/organizations/{organizationId}/deliveries"]["get"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .unwrap_or_default()
    };
    assert_eq!(param("limit")["minimum"], 1);
    assert_eq!(param("limit")["maximum"], 100);
    assert_eq!(param("eventId")["format"], "uuid");
    assert_eq!(
        param("cursor")["pattern"],
        shared::api::input::CURSOR_PATTERN
    );
    // The events body is one shape per event type.
    let events = &doc["paths"]["/v1/organizations/{organizationId}/events"]["post"]["requestBody"]
        ["content"]["application/json"]["schema"];
    let event_body = match events.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
        None => events,
    };
    assert_eq!(
        event_body["oneOf"].as_array().map(Vec::len),
        Some(15),
        "{event_body}"
    );
    // `null` is not a value for settings' fields (it is absent elsewhere).
    let settings = &schemas["UpdateSettingsRequest"]["properties"];
    assert_eq!(
        settings["deliveryMode"]["$ref"],
        "#/components/schemas/DeliveryMode"
    );
    assert_eq!(settings["whitelist"]["type"], "array");
    // A recipient is one of three closed shapes.
    let recipient = &schemas["Recipient"]["oneOf"];
    let titles: Vec<_> = recipient
        .as_array()
        .map(|shapes| shapes.iter().map(|s| s["title"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        titles,
        [
            json!("USER by id"),
            json!("USER by email"),
            json!("EMBED_USER")
        ]
    );
}
