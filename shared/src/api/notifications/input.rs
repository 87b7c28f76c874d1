//! The notification routes' request bodies (seed 000's, and its PATCH), each reading itself with
//! every broken field collected, and giving the routes' OpenAPI schemas.

use super::*;
use crate::domain::notifications::{NewNotification, NotificationPatch, Setup, SlackCode};

const DESCRIPTION_MAX: usize = 128;
const SLACK_CODE_MAX: usize = 256;
const URL_MAX: usize = 500;

/// Seed 000's request body.
#[derive(Debug, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNotificationRequest {
    #[serde(rename = "type")]
    #[schema(example = "webhook")]
    pub kind: NotificationType,
    /// Up to 128 characters; empty means none.
    #[schema(max_length = 128)]
    pub description: Option<String>,
    /// Any of the 15 event keys, each a boolean; absent = `false`.
    pub events: EventSet,
    /// `slack` for a slack notification and `webhook` for a webhook one (required for those
    /// two); none for email and SMS. Seed 000's example carries both: only the part for the type
    /// is used.
    pub setup: Option<SetupRequest>,
}

impl FromBody for CreateNotificationRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["type", "description", "events", "setup"], problems);
        let kind = body
            .str("type", 16, problems)
            .and_then(|t| problems.check("type", NotificationType::parse(t)));
        let description = read_description(body, problems);
        let events = body
            .object("events", problems)
            .map(|e| read_events(&e, problems))
            .map(|changes| apply(EventSet::default(), &changes));
        let setup = read_setup(body, problems);
        if let (Some(kind), Ok(setup)) = (kind, &setup) {
            setup_for(kind, setup.as_ref(), problems);
        }
        Some(Self {
            kind: kind?,
            description: description.ok()?,
            events: events?,
            setup: setup.ok()?,
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
}

impl FromBody for UpdateNotificationRequest {
    fn read(body: &Fields<'_>, problems: &mut Problems) -> Option<Self> {
        body.deny_unknown(&["description", "events", "setup", "type"], problems);
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
        Some(Self {
            description: description.ok()?,
            events: events.ok()?,
            setup: setup.ok()?,
        })
    }
}

impl UpdateNotificationRequest {
    pub fn into_patch(self) -> NotificationPatch {
        NotificationPatch {
            description: self.description,
            events: self.events,
            setup: self.setup.map(SetupRequest::into_setup),
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
    #[schema(max_length = 500, pattern = "^https?://")]
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

/// Creation's rule on `setup` for a notification of type `kind`: its own part is required for
/// slack and webhook, and email and SMS take none.
fn setup_for(kind: NotificationType, setup: Option<&SetupRequest>, problems: &mut Problems) {
    let has = |part: fn(&SetupRequest) -> bool| setup.is_some_and(part);
    match kind {
        NotificationType::Slack if !has(|s| s.slack.is_some()) => {
            problems.add("setup.slack", "is required for a slack notification");
        }
        NotificationType::Webhook if !has(|s| s.webhook.is_some()) => {
            problems.add("setup.webhook", "is required for a webhook notification");
        }
        NotificationType::Email | NotificationType::Sms
            if has(|s| s.slack.is_some() || s.webhook.is_some()) =>
        {
            problems.add("setup", "email and sms notifications take no setup");
        }
        _ => {}
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

fn apply(base: EventSet, changes: &[(EventType, bool)]) -> EventSet {
    changes
        .iter()
        .fold(base, |set, (event, on)| set.with(*event, *on))
}

/// Reads `description`: at most 128 characters; an empty string clears it.
fn read_description(
    body: &Fields<'_>,
    problems: &mut Problems,
) -> Result<Option<String>, Reported> {
    body.opt_str("description", DESCRIPTION_MAX, problems)
        .map(|d| d.filter(|d| !d.is_empty()).map(str::to_owned))
}

pub(super) fn notification_id(raw: &str) -> ApiResult<NotificationId> {
    NotificationId::parse(raw).map_err(|_| ApiError::NotFound)
}
