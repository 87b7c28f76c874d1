//! The event-type catalog (`GET /v1/event-types`): for each of the 15 event types, what it means,
//! the fields of its `data` that its system template renders, a JSON Schema of that `data`, an
//! example, and the template that renders it.
//!
//! The fields are read from the templates' own sources (every language, every part), so the
//! catalog cannot drift from what is rendered. An event may carry other fields too (they are
//! kept, and sent in webhook bodies); a field the template renders that an event lacks renders
//! empty, which never fails a delivery: the answer to `POST /events` lists those as `warnings`.
//!
//! The same schemas go into the OpenAPI document (`api::openapi`): the events route's `type` is an
//! enum of the 15, and its body is one schema per type with that type's `data`.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};

use crate::model::{EventSet, EventType};
use crate::templates::{self, SystemTemplate, TemplateKey};

/// One event type as the catalog shows it.
#[derive(Debug)]
pub struct EventTypeInfo {
    pub kind: EventType,
    pub description: &'static str,
    /// The fields of `data` its template renders, sorted.
    pub fields: Vec<String>,
    pub template: &'static SystemTemplate,
}

/// Every event type, in the API's order ([`EventType::ALL`]).
pub fn catalog() -> &'static [EventTypeInfo] {
    &CATALOG
}

/// The catalog entry of `kind`.
pub fn of(kind: EventType) -> &'static EventTypeInfo {
    &CATALOG[kind as usize]
}

static CATALOG: LazyLock<Vec<EventTypeInfo>> = LazyLock::new(|| {
    EventType::ALL
        .iter()
        .map(|&kind| {
            let template = templates::get(TemplateKey::Event(kind));
            EventTypeInfo {
                kind,
                description: description(kind),
                fields: template.fields(),
                template,
            }
        })
        .collect()
});

impl EventTypeInfo {
    /// A JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of this type's `data`: an object whose
    /// properties are the fields the template renders, none required, others allowed. A field
    /// may be any JSON value (a string, as the examples, is what renders best): `data` is the
    /// client's, and webhook bodies carry it as sent.
    pub fn data_schema(&self) -> Value {
        let example = self.example();
        let properties: Map<String, Value> = self
            .fields
            .iter()
            .map(|field| {
                let mut property = json!({
                    "type": ANY_TYPE,
                    "description": field_description(field),
                });
                if let Some(value) = example.get(field) {
                    property["examples"] = json!([value]);
                }
                (field.clone(), property)
            })
            .collect();
        // Every type's `url` (a link in emails, Slack and SMS): an http or https URL, or absent.
        let mut properties = properties;
        let url = properties.entry("url").or_insert_with(|| json!({}));
        url["type"] = json!(["string", "null"]);
        url["format"] = json!("uri");
        url["pattern"] = json!("^https?://");
        url["description"] = json!(
            "A link to it in your console: the notification's action (a button in Slack, a link in email). An absolute http or https URL (another is a 400 naming data.url)."
        );
        json!({
            "type": "object",
            "description": format!(
                "The data of a {} event (at most 64 KiB as JSON). Each property is rendered by its template; one that is missing renders empty (the 202 lists it in `warnings`). Other properties are kept and sent in webhook bodies.",
                self.kind
            ),
            "properties": properties,
            "additionalProperties": true,
        })
    }

    /// Realistic `data` for this type: every field its template renders.
    pub fn example(&self) -> Value {
        self.template.sample_data()
    }

    /// The fields the template renders that `data` lacks (absent or `null`), sorted.
    pub fn missing<'a>(&'a self, data: &Map<String, Value>) -> impl Iterator<Item = &'a str> {
        self.fields
            .iter()
            .filter(|f| data.get(f.as_str()).is_none_or(Value::is_null))
            .map(String::as_str)
    }
}

/// Every JSON type: a `data` field may be any value.
const ANY_TYPE: [&str; 7] = [
    "string", "number", "integer", "boolean", "object", "array", "null",
];

/// The OpenAPI schema of the `POST /events` body: one object per event type, `type` naming it
/// and `data` its [`EventTypeInfo::data_schema`]; keys of at most `max_key` characters.
pub fn request_schema(max_key: usize) -> RefOr<Schema> {
    let per_type: Vec<Value> = catalog()
        .iter()
        .map(|info| {
            json!({
                "title": info.kind.as_str(),
                "description": info.description,
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": [info.kind.as_str()]},
                    // `null` reads as absent, as in every body.
                    "data": {"anyOf": [info.data_schema(), {"type": "null"}]},
                    "idempotencyKey": {
                        "type": ["string", "null"],
                        "minLength": 1,
                        "maxLength": max_key,
                        "pattern": "^[\\x20-\\x7E]+$",
                        "description": "Deduplicates for 24 h: the same key with the same body answers the first event; with another body, 422. Printable ASCII; the Idempotency-Key header is the same key (both given must be equal)."
                    },
                },
                "required": ["type"],
                "additionalProperties": false,
            })
        })
        .collect();
    let schema = json!({
        "description": "An event: its `type`, one of the 15, decides what its `data` should carry. `data` defaults to `{}`.",
        "oneOf": per_type,
    });
    serde_json::from_value(schema).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the events body schema does not convert");
        ObjectBuilder::new().schema_type(Type::Object).into()
    })
}

/// What an event of each type means.
fn description(kind: EventType) -> &'static str {
    use EventType as E;
    match kind {
        E::BuildCreated => "A new build of an app was uploaded.",
        E::BuildProcessed => "A build was processed and can be installed.",
        E::FeedbackCreated => "Someone left feedback on an app.",
        E::CertificateWillExpire => "A signing certificate expires soon.",
        E::ApplePushRenovation => {
            "The Apple push certificate that device management needs expires soon."
        }
        E::EmmEnrollmentCreated => "An EMM (Android Enterprise) enrollment was created.",
        E::EmmDeviceCreated => "A device was added to EMM (Android Enterprise).",
        E::EmmDeviceChangedMdmUser => "An EMM (Android Enterprise) device changed hands.",
        E::AdmEnrollmentCreated => "An ADM (Apple device management) enrollment was created.",
        E::AdmDeviceCreated => "A device was added to ADM (Apple device management).",
        E::AdmDeviceChangedMdmUser => "An ADM (Apple device management) device changed hands.",
        E::WinEnrollmentCreated => "A Windows device management enrollment was created.",
        E::WinDeviceCreated => "A device was added to Windows device management.",
        E::WinDeviceChangedMdmUser => "A Windows-managed device changed hands.",
        E::InventoryItemRegistered => "An item was registered in the inventory.",
    }
}

/// What a field of `data` is, as the templates use it.
fn field_description(field: &str) -> &'static str {
    match field {
        "appName" => "The app's name.",
        "version" => "The build's version, as shown to people.",
        "buildNumber" => "The build's number.",
        "platform" => "The platform the build is for (iOS, Android, ...).",
        "createdBy" => "Who uploaded the build.",
        "author" => "Who wrote the feedback.",
        "message" => "The feedback itself.",
        "certificateName" => "The certificate's name.",
        "expiresAt" => "When the certificate expires, as it should be shown.",
        "userName" => "The person concerned (the device's user, who acted).",
        "previousUserName" => "The device's user before the change.",
        "deviceName" => "The device's name.",
        "deviceModel" => "The device's model.",
        "enrollmentName" => "The enrollment's name.",
        "itemName" => "The inventory item's name.",
        "serialNumber" => "The item's serial number.",
        "url" => {
            "A link to it in your console: the notification's action (a button in Slack, a link in email)."
        }
        _ => "Rendered by the template.",
    }
}

/// In the OpenAPI document, a notification's `events`: the 15 event types as keys, each a
/// boolean, no other key. (An answer carries all 15; a request any of them.)
impl utoipa::PartialSchema for EventSet {
    fn schema() -> RefOr<Schema> {
        EventType::ALL
            .iter()
            .fold(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
                |object, kind| {
                    object.property(
                        kind.as_str(),
                        ObjectBuilder::new().schema_type(Type::Boolean),
                    )
                },
            )
            .into()
    }
}

impl utoipa::ToSchema for EventSet {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_listed_once_in_seed_order_with_its_own_template() {
        let kinds: Vec<EventType> = catalog().iter().map(|i| i.kind).collect();
        assert_eq!(kinds, EventType::ALL);
        for info in catalog() {
            assert_eq!(info.template.key, TemplateKey::Event(info.kind));
            assert!(info.description.ends_with('.'), "{}", info.kind);
        }
    }

    #[test]
    fn fields_are_read_from_the_templates_and_the_example_has_exactly_them() {
        assert_eq!(
            of(EventType::BuildCreated).fields,
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
            of(EventType::FeedbackCreated).fields,
            ["appName", "author", "message", "url"]
        );
        for info in catalog() {
            let example = info.example();
            let mut keys: Vec<&str> = example
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.sort_unstable();
            assert_eq!(keys, info.fields, "{}", info.kind);
            for field in &info.fields {
                assert_ne!(
                    field_description(field),
                    "Rendered by the template.",
                    "{field} has no description"
                );
            }
        }
    }

    #[test]
    fn missing_fields_are_the_absent_and_null_ones() {
        let info = of(EventType::FeedbackCreated);
        let data = json!({"appName": "Demo", "author": null, "extra": 1});
        let missing: Vec<&str> = info
            .missing(data.as_object().unwrap_or(&Map::new()))
            .collect();
        assert_eq!(missing, ["author", "message", "url"]);
        let full = info.example();
        assert_eq!(
            info.missing(full.as_object().unwrap_or(&Map::new()))
                .count(),
            0
        );
    }

    #[test]
    fn the_data_schema_names_every_field_with_its_example_and_requires_none() {
        let schema = of(EventType::InventoryItemRegistered).data_schema();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], true);
        assert!(schema.get("required").is_none());
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&String> = properties.keys().collect();
        assert_eq!(names, ["itemName", "serialNumber", "url", "userName"]);
        assert_eq!(
            properties["serialNumber"],
            json!({"type": ["string", "number", "integer", "boolean", "object", "array", "null"], "description": "The item's serial number.", "examples": ["21245522500142"]})
        );
    }
}
