//! The event-type catalog: `GET /v1/event-types`, every event type with its description, the
//! JSON Schema of its `data`, an example, and the system template that renders it.

use std::sync::LazyLock;

use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Envelope;
use crate::api::auth::Principal;
use crate::event_types;
use crate::model::{EventType, Language};

/// The system template that renders an event type.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderingTemplate {
    pub id: Uuid,
    pub name: &'static str,
    /// The languages it is written in (the organization's `defaultLanguage` picks one).
    #[schema(value_type = Vec<String>)]
    pub languages: &'static [Language],
    /// Whether users receive it unless they turn it off (their preferences).
    pub enabled_by_default: bool,
}

/// One event type: what it means and what its `data` should carry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeView {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub description: &'static str,
    /// A JSON Schema of the event's `data`: the fields its template renders (none required).
    #[schema(value_type = Object)]
    pub data_schema: Value,
    /// A `data` with every field the template renders.
    #[schema(value_type = Object)]
    pub example: Value,
    pub templates: Vec<RenderingTemplate>,
}

/// Every event type, on one page.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePage {
    /// The 15 event types, in the API's order.
    pub items: Vec<EventTypeView>,
    /// Always `null`: the catalog is one page.
    pub next_cursor: Option<String>,
}

/// `{"status": true, "data": {"items": [...], "nextCursor": null}}`
#[derive(Serialize, ToSchema)]
pub struct EventTypePageResponse {
    pub status: bool,
    pub data: EventTypePage,
}

/// List the event types
///
/// Every event type (all 15 on one page, in the API's order) with its description, the JSON
/// Schema of its `data`, an example `data`, and the system template that renders it. Any
/// authenticated user; the same for every organization.
#[utoipa::path(
    get,
    path = "/v1/event-types",
    tag = "Events and delivery",
    security(("bearer" = [])),
    responses((status = 200, body = EventTypePageResponse), (status = 401, body = crate::api::error::ErrorEnvelope))
)]
pub async fn list(_principal: Principal) -> Response {
    super::static_json(EVENT_TYPES_JSON.as_slice())
}

/// The catalog is the same for every caller and every request: serialized once per process.
static EVENT_TYPES_JSON: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let items = event_types::catalog()
        .iter()
        .map(|info| EventTypeView {
            kind: info.kind,
            description: info.description,
            data_schema: info.data_schema(),
            example: info.example(),
            templates: vec![RenderingTemplate {
                id: info.template.id,
                name: &info.template.name,
                languages: Language::ALL,
                enabled_by_default: info.template.enabled_by_default,
            }],
        })
        .collect();
    let page = Envelope {
        status: true,
        data: EventTypePage {
            items,
            next_cursor: None,
        },
    };
    serde_json::to_vec(&page).unwrap_or_default()
});
