//! The OpenAPI document, generated from the handlers' annotations through the route table (never
//! written by hand). The local server serves it at `GET /openapi.json`; `openapi.json` at the
//! repository root is the committed copy, and a test fails when it differs from what the code
//! generates.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::Route;

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "Herald, a multi-tenant notifications service: where notifications go (Slack, webhooks, email, SMS), who receives them and under which policy. Conventions (envelope, errors, lists, authentication) are in the README."),
    modifiers(&Security)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "coder",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Coder-Session-Token"))),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The whole document: [`ApiDoc`]'s information and security schemes, with every route's path,
/// operation and schemas from the route table.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Route::ALL
        .iter()
        .fold(
            utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi()),
            |router, route| route.mount(router),
        )
        .into_openapi()
}

/// The document as pretty JSON, ending with a newline (the committed file's exact bytes).
pub fn document() -> String {
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
