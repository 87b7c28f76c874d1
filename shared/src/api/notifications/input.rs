//! The notification routes' request bodies (the notifications API's, and its PATCH), each reading itself with
//! every broken field collected, and giving the routes' OpenAPI schemas.

use super::*;
use crate::domain::notifications::{
    NewNotification, NotificationPatch, Setup, SlackCode, rate_limit_problem, setup_problem,
};
use crate::model::net::check_webhook_url_shape;
use crate::model::rate::RateLimit;

const DESCRIPTION_MAX: usize = 128;
const SLACK_CODE_MAX: usize = 256;
const URL_MAX: usize = 500;

/// The notifications API's request body. Its schema is one object per type ([`create_schema`]): `setup`
/// is required for slack and webhook, and email and SMS take none.
#[derive(Debug, PartialEq)]
pub struct CreateNotificationRequest {
    pub kind: NotificationType,
    pub description: Option<String>,
    pub events: EventSet,
    pub setup: Option<SetupRequest>,
    pub rate_limit: Option<RateLimit>,
}

impl utoipa::PartialSchema for CreateNotificationRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        create_schema()
    }
}

impl ToSchema for CreateNotificationRequest {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            EventSet::name().into_owned(),
            <EventSet as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// The create body's schema: for each type, `type` naming it, `description`, `events`, and the
/// `setup` that type takes. The notifications API's example carries both `slack` and `webhook`: the part for
/// the type is used, and the other, if given, must be well formed too.
fn create_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::PartialSchema;
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
    use utoipa::openapi::{Ref, RefOr, Schema};
    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let or_null = |schema: RefOr<Schema>| -> RefOr<Schema> {
        OneOfBuilder::new().item(schema).item(null()).into()
    };
    let closed = || {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let variant = |kinds: &[NotificationType], setup: Option<RefOr<Schema>>| {
        let object = closed()
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(kinds.iter().map(|k| k.as_str()))),
            )
            .required("type")
            .property(
                "description",
                ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                        Type::String,
                        Type::Null,
                    ]))
                    .max_length(Some(DESCRIPTION_MAX))
                    .description(Some("Up to 128 characters; empty means none.")),
            )
            .property("events", Ref::from_schema_name(EventSet::name()))
            .required("events");
        match setup {
            Some(setup) => object
                .property("setup", setup)
                .required("setup")
                .property("rateLimit", or_null(rate_limit_schema())),
            None => object.property(
                "setup",
                or_null(
                    closed()
                        .property("slack", null())
                        .property("webhook", null())
                        .description(Some("Email and SMS notifications take no setup."))
                        .into(),
                ),
            ),
        }
    };
    // A Slack notification ignores a webhook part (the API's own example carries both): any
    // `{"url"}` of a string is taken.
    let ignored_webhook: RefOr<Schema> = closed()
        .property(
            "url",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(URL_MAX)),
        )
        .required("url")
        .description(Some("Ignored: a Slack notification takes no webhook."))
        .into();
    let setup = |own: &str, own_schema: RefOr<Schema>, other: &str, other_schema: RefOr<Schema>| {
        closed()
            .property(own, own_schema)
            .required(own)
            .property(other, or_null(other_schema))
            .into()
    };
    OneOfBuilder::new()
        .item(variant(
            &[NotificationType::Slack],
            Some(setup(
                "slack",
                SlackSetup::schema(),
                "webhook",
                ignored_webhook,
            )),
        ))
        .item(variant(
            &[NotificationType::Webhook],
            Some(setup(
                "webhook",
                WebhookSetup::schema(),
                "slack",
                SlackSetup::schema(),
            )),
        ))
        .item(variant(
            &[NotificationType::Email, NotificationType::Sms],
            None,
        ))
        .into()
}

/// `rateLimit`'s schema: deliveries per second.
fn rate_limit_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(RateLimit::MIN))
        .maximum(Some(RateLimit::MAX))
        .description(Some(
            "Deliveries per second to this target, across every sender (slack and webhook \
             notifications only). Deliveries beyond it wait; none fail for it.",
        ))
        .into()
}

/// Reads `rateLimit`: `Ok(None)` when absent, `Ok(Some(None))` when `null` (on a PATCH: remove
/// it).
fn read_rate_limit(
    body: &Fields<'_>,
    problems: &mut Problems,
) -> Result<Option<Option<RateLimit>>, Reported> {
    match body.present("rateLimit") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => RateLimit::parse(value)
            .map(|r| Some(Some(r)))
            .map_err(|why| {
                problems.add(body.path("rateLimit"), why);
                Reported
            }),
    }
}

impl FromBody for CreateNotificationRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(
            &["type", "description", "events", "setup", "rateLimit"],
            problems,
        );
        let kind = body.parsed("type", 16, NotificationType::parse, problems);
        let description = read_description(body, problems);
        let events = body
            .object("events", problems)
            .map(|e| read_events(&e, problems))
            .map(|changes| EventSet::default().apply(changes));
        let setup = read_setup(body, problems);
        if let (Some(kind), Ok(setup)) = (kind, &setup) {
            let (slack, webhook) = setup
                .as_ref()
                .map_or((false, false), |s| (s.slack.is_some(), s.webhook.is_some()));
            if let Some(p) = setup_problem(kind, slack, webhook, true) {
                problems.add(p.field, p.message);
            }
            // A webhook notification's URL, as written (the other types ignore the part).
            if kind == NotificationType::Webhook {
                check_url_syntax(setup.as_ref(), problems);
            }
        }
        let rate_limit = read_rate_limit(body, problems).map(Option::flatten);
        if let (Some(kind), Ok(Some(_))) = (kind, rate_limit)
            && let Some(p) = rate_limit_problem(kind, true)
        {
            problems.add(p.field, p.message);
        }
        Some(Self {
            kind: kind?,
            description: description.ok()?,
            events: events?,
            setup: setup.ok()?,
            rate_limit: rate_limit.ok()?,
        })
    }
}

impl CreateNotificationRequest {
    pub fn into_new(self) -> NewNotification {
        let setup = self.setup.map(SetupRequest::into_setup).unwrap_or_default();
        NewNotification {
            kind: self.kind,
            description: self.description,
            events: self.events,
            setup,
            rate_limit: self.rate_limit,
        }
    }
}

/// PATCH body: any of `description`, `events` (only the keys given change) and `setup` (for the
/// notification's own type). The type cannot change.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNotificationRequest {
    /// Up to 128 characters; an empty string clears it.
    #[schema(value_type = Option<String>, max_length = 128)]
    pub description: Option<Option<String>>,
    /// Any of the 15 event keys, each a boolean: only the keys given change.
    #[schema(value_type = Option<EventSet>)]
    pub events: Vec<(EventType, bool)>,
    /// As at creation, for the notification's own type (a new webhook URL keeps the secret).
    pub setup: Option<SetupRequest>,
    /// Deliveries per second to this target, across every sender (slack and webhook
    /// notifications only); `null` removes it.
    #[serde(rename = "rateLimit")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000, nullable)]
    pub rate_limit: Option<Option<RateLimit>>,
}

impl FromBody for UpdateNotificationRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(
            &["description", "events", "setup", "type", "rateLimit"],
            problems,
        );
        if body.has("type") {
            problems.add(
                "type",
                "cannot be changed; create a new notification instead",
            );
        }
        let description = if body.has("description") {
            read_description(body, problems).map(Some)
        } else {
            Ok(None)
        };
        let events = match body.opt_object("events", problems) {
            Ok(Some(e)) => Ok(read_events(&e, problems)),
            Ok(None) => Ok(Vec::new()),
            Err(Reported) => Err(Reported),
        };
        let setup = read_setup(body, problems);
        // The notification's type is not in the request: a webhook part is checked as written
        // whatever the type (a Slack notification ignores it, as a valid URL or not at all).
        if let Ok(setup) = &setup {
            check_url_syntax(setup.as_ref(), problems);
        }
        let rate_limit = read_rate_limit(body, problems);
        Some(Self {
            description: description.ok()?,
            events: events.ok()?,
            setup: setup.ok()?,
            rate_limit: rate_limit.ok()?,
        })
    }
}

impl UpdateNotificationRequest {
    pub fn into_patch(self) -> NotificationPatch {
        NotificationPatch {
            description: self.description,
            events: self.events,
            setup: self.setup.map(SetupRequest::into_setup),
            rate_limit: self.rate_limit,
        }
    }
}

/// A notification's `setup`.
#[derive(Debug, Default, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    pub slack: Option<SlackSetup>,
    pub webhook: Option<WebhookSetup>,
}

/// `setup.slack`: the code of Slack's OAuth redirect, exchanged for the channel's webhook.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackSetup {
    #[schema(max_length = 256)]
    pub code: String,
    #[schema(max_length = 500)]
    pub redirect_uri: String,
}

/// `setup.webhook`.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSetup {
    /// An absolute `https` URL (plain `http` only where the deployment allows private targets),
    /// not resolving to a loopback, private, link-local or metadata address.
    #[schema(max_length = 500, pattern = r"^https?://[^\s/?#@]+([/?#]\S*)?$")]
    pub url: String,
}

impl SetupRequest {
    fn into_setup(self) -> Setup {
        Setup {
            slack: self.slack.map(|s| SlackCode {
                code: s.code,
                redirect_uri: s.redirect_uri,
            }),
            webhook: self.webhook.map(|w| w.url),
        }
    }
}

/// Reads `setup`: each part present is read whole.
fn read_setup(
    body: &Fields<'_>,
    problems: &mut Problems,
) -> Result<Option<SetupRequest>, Reported> {
    let Some(setup) = body.opt_object("setup", problems)? else {
        return Ok(None);
    };
    setup.deny_unknown(&["slack", "webhook"], problems);
    let slack = match setup.opt_object("slack", problems) {
        Ok(Some(slack)) => {
            slack.deny_unknown(&["code", "redirectUri"], problems);
            let code = slack.str("code", SLACK_CODE_MAX, problems);
            let redirect = slack.str("redirectUri", URL_MAX, problems);
            match (code, redirect) {
                (Some(c), Some(r)) => Ok(Some(SlackSetup {
                    code: c.to_owned(),
                    redirect_uri: r.to_owned(),
                })),
                _ => Err(Reported),
            }
        }
        Ok(None) => Ok(None),
        Err(Reported) => Err(Reported),
    };
    let webhook = match setup.opt_object("webhook", problems) {
        Ok(Some(webhook)) => {
            webhook.deny_unknown(&["url"], problems);
            match webhook.str("url", URL_MAX, problems) {
                Some(url) => Ok(Some(WebhookSetup {
                    url: url.to_owned(),
                })),
                None => Err(Reported),
            }
        }
        Ok(None) => Ok(None),
        Err(Reported) => Err(Reported),
    };
    Ok(Some(SetupRequest {
        slack: slack?,
        webhook: webhook?,
    }))
}

/// `setup.webhook.url` held to the URL syntax the OpenAPI document states
/// ([`crate::model::net::URL_PATTERN`]); what the deployment allows of it (https only, no
/// private address) is the domain's to check.
fn check_url_syntax(setup: Option<&SetupRequest>, problems: &mut Problems) {
    if let Some(webhook) = setup.and_then(|s| s.webhook.as_ref())
        && let Err(why) = check_webhook_url_shape(&webhook.url, true)
    {
        problems.add("setup.webhook.url", why);
    }
}

/// Reads `events`: only the 15 keys, each a boolean. Returns the changes it asks for.
fn read_events(fields: &Fields<'_>, problems: &mut Problems) -> Vec<(EventType, bool)> {
    let mut changes = Vec::new();
    for (key, value) in fields.entries() {
        let path = fields.path(key);
        match (EventType::parse(key), value) {
            (Err(_), _) => problems.add(path, "is not a known event type"),
            (Ok(event), Value::Bool(on)) => changes.push((event, *on)),
            (Ok(_), _) => problems.add(path, "must be a boolean"),
        }
    }
    changes
}

/// Reads `description`: at most 128 characters; an empty string clears it.
fn read_description(
    body: &Fields<'_>,
    problems: &mut Problems,
) -> Result<Option<String>, Reported> {
    body.opt_str("description", DESCRIPTION_MAX, problems)
        .map(|d| d.filter(|d| !d.is_empty()).map(str::to_owned))
}
