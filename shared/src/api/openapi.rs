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
    let mut doc = Route::ALL
        .iter()
        .fold(
            utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi()),
            |router, route| route.mount(router),
        )
        .into_openapi();
    declare_shared_answers(&mut doc);
    doc
}

/// The answers every route of a kind can give, declared on each such operation where its
/// annotation left them out: a route with a body answers 400 (malformed) and 413 (over 1 MiB),
/// as `JsonObject` does; a route with the organization in its path answers 400 when it is
/// malformed and 404 when it is another's; an authenticated route answers 401, and 503 when the
/// store cannot be read (the token is looked up there). 403 is in each annotation: it depends on
/// the permission the handler requires.
fn declare_shared_answers(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = || {
        ResponseBuilder::new()
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build()
    };
    let add = |operation: &mut Operation, status: &str| {
        let responses = &mut operation.responses.responses;
        if !responses.contains_key(status) {
            responses.insert(status.to_owned(), error().into());
        }
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        // The organization in the path: malformed is a 400 naming it; another one is a 404.
        let scoped = ["{organizationId}", "{environmentId}", "{deploymentId}"]
            .iter()
            .any(|p| path.contains(p));
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_some() {
                add(operation, "400");
                add(operation, "413");
            }
            if scoped {
                add(operation, "400");
                add(operation, "404");
            }
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add(operation, "401");
                add(operation, "503");
            }
        }
    }
}

/// The document as pretty JSON, ending with a newline (the committed file's exact bytes).
pub fn document() -> String {
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
