//! Reading a notification's body (its events, its setup, its description), turning a setup into
//! a target, and finding the notification a path names.

use super::*;

#[derive(Debug)]
pub(super) enum Setup {
    Slack { code: String, redirect_uri: String },
    Webhook { url: String },
    None,
}

/// Reads `events`: only the 15 keys, each a boolean. Returns the changes it asks for.
pub(super) fn read_events(fields: &Fields<'_>, problems: &mut Problems) -> Vec<(EventType, bool)> {
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

pub(super) fn apply_events(base: EventSet, changes: &[(EventType, bool)]) -> EventSet {
    changes
        .iter()
        .fold(base, |set, (event, on)| set.with(*event, *on))
}

/// Reads `setup` for a notification of type `kind`. Seed 000's example carries both `slack` and
/// `webhook`; only the one matching the type is read. `email` and `sms` take no setup.
pub(super) fn read_setup(
    body: &Fields<'_>,
    kind: Option<NotificationType>,
    required: bool,
    problems: &mut Problems,
) -> Setup {
    let Ok(setup) = body.opt_object("setup", problems) else {
        return Setup::None;
    };
    let sub = |name: &str, problems: &mut Problems| match &setup {
        Some(s) => s.opt_object(name, problems).ok().flatten(),
        None => None,
    };
    match kind {
        Some(NotificationType::Slack) => match sub("slack", problems) {
            Some(slack) => {
                slack.deny_unknown(&["code", "redirectUri"], problems);
                let code = slack.str("code", SLACK_CODE_MAX, problems);
                let redirect = slack.str("redirectUri", URL_MAX, problems);
                match (code, redirect) {
                    (Some(c), Some(r)) => Setup::Slack {
                        code: c.to_owned(),
                        redirect_uri: r.to_owned(),
                    },
                    _ => Setup::None,
                }
            }
            None => {
                if required {
                    problems.add("setup.slack", "is required for a slack notification");
                }
                Setup::None
            }
        },
        Some(NotificationType::Webhook) => match sub("webhook", problems) {
            Some(webhook) => {
                webhook.deny_unknown(&["url"], problems);
                match webhook.str("url", URL_MAX, problems) {
                    Some(url) => Setup::Webhook {
                        url: url.to_owned(),
                    },
                    None => Setup::None,
                }
            }
            None => {
                if required {
                    problems.add("setup.webhook", "is required for a webhook notification");
                }
                Setup::None
            }
        },
        Some(NotificationType::Email | NotificationType::Sms) => {
            if setup.is_some_and(|s| !s.is_empty()) {
                problems.add("setup", "email and sms notifications take no setup");
            }
            Setup::None
        }
        None => Setup::None,
    }
}

/// Reads `description`: at most 128 characters; an empty string clears it.
pub(super) fn read_description(
    body: &Fields<'_>,
    problems: &mut Problems,
) -> Result<Option<String>, Reported> {
    body.opt_str("description", DESCRIPTION_MAX, problems)
        .map(|d| d.filter(|d| !d.is_empty()).map(str::to_owned))
}

/// Turns a parsed setup into a target: checks the webhook URL (after DNS resolution) or
/// exchanges the Slack code. `problems` must already hold every other broken field, so that a
/// bad URL is reported with them; the Slack exchange (which spends the code) runs only when
/// everything else is valid.
pub(super) async fn resolve_setup(
    state: &AppState,
    setup: Setup,
    existing_secret: Option<&str>,
    mut problems: Problems,
) -> ApiResult<Option<Target>> {
    match setup {
        Setup::None => problems.finish(|| Some(None)),
        Setup::Webhook { url } => {
            let checked = crate::net::check_webhook_url(
                &url,
                state.config.allow_private_targets,
                &*state.resolver,
            )
            .await;
            let url = problems.check("setup.webhook.url", checked);
            let secret = existing_secret
                .map(str::to_owned)
                .unwrap_or_else(new_webhook_secret);
            problems.finish(|| {
                Some(Some(Target::Webhook(WebhookTarget {
                    url: url?.to_string(),
                    secret,
                })))
            })
        }
        Setup::Slack { code, redirect_uri } => {
            if !problems.is_empty() {
                return problems.finish(|| None);
            }
            match state.slack.exchange(&code, &redirect_uri).await {
                Ok(install) => Ok(Some(Target::Slack(SlackTarget {
                    team: install.team,
                    channel: install.channel,
                    channel_id: install.channel_id,
                    webhook_url: install.webhook_url,
                    access_token: install.access_token,
                    chat_write: install.chat_write,
                }))),
                Err(ExchangeError::Refused(error)) => Err(ApiError::field(
                    "setup.slack.code",
                    format!("slack: {error}"),
                )),
                Err(ExchangeError::Unavailable(why)) => Err(ApiError::Unavailable(why)),
            }
        }
    }
}

/// `whsec_` + base64 of 32 random bytes (Standard Webhooks).
pub(super) fn new_webhook_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

pub(super) fn notification_id(raw: &str) -> ApiResult<NotificationId> {
    NotificationId::parse(raw).map_err(|_| ApiError::NotFound)
}

pub(super) async fn load(
    state: &AppState,
    org: &OrgId,
    id: &NotificationId,
) -> ApiResult<Notification> {
    state
        .store
        .get_notification(org, id)
        .await?
        .ok_or(ApiError::NotFound)
}
