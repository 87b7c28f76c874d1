//! The OpenAPI document, generated from the handlers' annotations (never written by hand). The
//! local server serves it at `GET /openapi.json`; `openapi.json` at the repository root is the
//! committed copy, and a test fails when it differs from what the code generates.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, events, notifications, organizations, recipients, settings};

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "Herald, a multi-tenant notifications service: where notifications go (Slack, webhooks, email, SMS), who receives them and under which policy. Conventions (envelope, errors, lists, authentication) are in the README."),
    paths(
        organizations::create_organization,
        organizations::create_user,
        organizations::list_users,
        organizations::get_user,
        organizations::create_token,
        organizations::revoke_token,
        notifications::create,
        notifications::list,
        notifications::get,
        notifications::update,
        notifications::remove,
        notifications::test,
        recipients::add,
        recipients::list,
        recipients::remove,
        settings::get,
        settings::update,
        settings::reset,
        admin::dispatch_methods,
        admin::get_settings,
        admin::update_settings,
        admin::system_templates,
        admin::send_test,
        admin::get_preferences,
        admin::update_preferences,
        events::emit,
        events::get,
        events::list_deliveries,
        events::event_types,
    ),
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

/// The document as pretty JSON, ending with a newline (the committed file's exact bytes).
pub fn document() -> String {
    let mut json = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
