//! The OpenAPI document, generated from the handlers' annotations through the route table (never
//! written by hand). The local server serves it at `GET /openapi.json`; `openapi.json` at the
//! repository root is the committed copy, and a test fails when it differs from what the code
//! generates.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::Route;

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "Herald, a multi-tenant notifications service: where notifications go (Slack, webhooks, email, SMS), who receives them and under which policy. Conventions (envelope, errors, lists, authentication) are in the README. Some routes keep the shape of the API they follow, so that its clients work unchanged: the notifications API (`/v1/organizations/{organizationId}/notifications`), the admin API (Coder's notifications API under `/api/v2`), the settings API (`/v1/environments/{environmentId}/notificationsSettings`) and the recipients API (`/v1/deployments/{deploymentId}/notifications/{id}/recipients`); the others are Herald's own."),
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
/// operation and schemas from the route table. Each route's operations are named after its
/// function and carry its links before they join the document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for route in Route::ALL {
        let mut part = route
            .mount(utoipa_axum::router::OpenApiRouter::new())
            .into_openapi();
        for item in part.paths.paths.values_mut() {
            for operation in operations(item) {
                name_and_link(*route, operation);
            }
        }
        doc.merge(part);
    }
    declare_shared_answers(&mut doc);
    declare_cursor_pattern(&mut doc);
    doc
}

/// The operations of a path item, on the methods the API uses.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// A link: from a route, on an answer's status, to a route with its parameters.
type Link = (
    Route,
    &'static str,
    Route,
    &'static [(&'static str, &'static str)],
);

/// What a successful answer names, and where to use it next: each link is `(from, its status,
/// to, to's parameters as OpenAPI runtime expressions)`. Clients and tools (schemathesis's
/// stateful phase) follow them: create a notification, then get, patch, test and delete it.
/// (Recipients are for email and SMS notifications only: for the others the recipient routes
/// answer 400 naming `id`.)
const LINKS: &[Link] = {
    const ORG: (&str, &str) = ("organizationId", "$request.path.organizationId");
    const CREATED: (&str, &str) = ("id", "$response.body#/data/id");
    const DEPLOYMENT: (&str, &str) = ("deploymentId", "$request.path.organizationId");
    &[
        (
            Route::CreateNotification,
            "200",
            Route::GetNotification,
            &[ORG, CREATED],
        ),
        (
            Route::CreateNotification,
            "200",
            Route::UpdateNotification,
            &[ORG, CREATED],
        ),
        (
            Route::CreateNotification,
            "200",
            Route::TestNotification,
            &[ORG, CREATED],
        ),
        (
            Route::CreateNotification,
            "200",
            Route::DeleteNotification,
            &[ORG, CREATED],
        ),
        (
            Route::CreateNotification,
            "200",
            Route::AddRecipients,
            &[DEPLOYMENT, CREATED],
        ),
        (
            Route::CreateNotification,
            "200",
            Route::ListRecipients,
            &[DEPLOYMENT, CREATED],
        ),
        (
            Route::EmitEvent,
            "202",
            Route::GetEvent,
            &[ORG, ("eventId", "$response.body#/data/id")],
        ),
        (
            Route::CreateUser,
            "201",
            Route::GetUser,
            &[ORG, ("user", "$response.body#/data/id")],
        ),
        (Route::CreateUser, "201", Route::CreateToken, &[ORG]),
        (
            Route::CreateToken,
            "201",
            Route::RevokeToken,
            &[ORG, ("tokenId", "$response.body#/data/id")],
        ),
    ]
};

/// Names `operation`, one of `route`'s, after the route's function (`create-notification`):
/// unique, as OpenAPI requires, and the name a reader finds the Lambda function, binary and sample
/// event by. And adds the [`LINKS`] from it.
fn name_and_link(route: Route, operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::link::LinkBuilder;
    operation.operation_id = Some(route.function_name().to_owned());
    for (_, status, to, parameters) in LINKS.iter().filter(|l| l.0 == route) {
        let link = parameters
            .iter()
            .fold(
                LinkBuilder::new().operation_id(to.function_name()),
                |link, (name, value)| link.parameter(*name, *value),
            )
            .build();
        if let Some(RefOr::T(answer)) = operation.responses.responses.get_mut(*status) {
            answer
                .links
                .insert(to.function_name().to_owned(), link.into());
        }
    }
}

/// Every list's `cursor` query parameter: [`super::input::CURSOR_PATTERN`], the one rule
/// `PageQuery` holds it to.
fn declare_cursor_pattern(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            let cursors = operation
                .parameters
                .iter_mut()
                .flatten()
                .filter_map(|p| match p {
                    utoipa::openapi::RefOr::T(p) => Some(p),
                    utoipa::openapi::RefOr::Ref(_) => None,
                })
                .filter(|p| p.name == "cursor" && p.parameter_in == ParameterIn::Query);
            for parameter in cursors {
                parameter.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(super::input::CURSOR_PATTERN))
                        .into(),
                );
            }
        }
    }
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
        for operation in operations(item) {
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

/// The document as pretty JSON, ending with a newline (the committed file's exact bytes); built
/// once per process, when first asked for.
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut json = openapi().to_pretty_json().unwrap_or_default();
        json.push('\n');
        json
    });
    &DOCUMENT
}
