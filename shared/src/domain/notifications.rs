//! Notifications: creating one (its target checked first: the webhook URL resolved and held to
//! the SSRF rule, the Slack code exchanged), and updating one without losing a concurrent change.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::Duration;

use super::Error;
use crate::domain::FieldError;
use crate::model::rate::RateLimit;
use crate::model::{EventSet, EventType, NotificationId, NotificationType, OrgId};
use crate::model::{FailureStreak, Notification, SlackTarget, Target, WebhookTarget};
use crate::ports::keys::Keys;
use crate::ports::net::Resolver;
use crate::ports::slack::{ExchangeError, SlackInstaller};
use crate::ports::store::NotificationStore;
use crate::ports::store::StoreError;

/// Where a Slack or webhook notification delivers, as the client gave it (not yet checked).
/// The notifications API's body may carry both parts: only the one for the notification's type is used, and
/// email and SMS notifications take none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    pub slack: Option<SlackCode>,
    /// The webhook's URL.
    pub webhook: Option<String>,
}

/// A Slack OAuth code to exchange for the channel's incoming webhook (spent once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackCode {
    pub code: String,
    pub redirect_uri: String,
}

/// The part of a setup that a notification of one type uses.
enum Part {
    Slack(SlackCode),
    Webhook(String),
    None,
}

/// The rule on the parts of a setup for a notification of type `kind`: at creation
/// (`required`), slack and webhook notifications need their own part; email and SMS take none.
/// The request's reader applies it too, so that one 400 names it with the other fields.
pub fn setup_problem(
    kind: NotificationType,
    slack: bool,
    webhook: bool,
    required: bool,
) -> Option<FieldError> {
    match kind {
        NotificationType::Slack if required && !slack => Some(FieldError::new(
            "setup.slack",
            "is required for a slack notification",
        )),
        NotificationType::Webhook if required && !webhook => Some(FieldError::new(
            "setup.webhook",
            "is required for a webhook notification",
        )),
        NotificationType::Email | NotificationType::Sms if slack || webhook => Some(
            FieldError::new("setup", "email and sms notifications take no setup"),
        ),
        _ => None,
    }
}

/// The rule on `rateLimit`: only slack and webhook notifications take one (email and SMS go
/// out through the deployment's SES and SNS, not to a target of the organization's).
pub fn rate_limit_problem(kind: NotificationType, given: bool) -> Option<FieldError> {
    match kind {
        NotificationType::Email | NotificationType::Sms if given => Some(FieldError::new(
            "rateLimit",
            "only slack and webhook notifications take a rate limit",
        )),
        _ => None,
    }
}

impl Setup {
    /// The part for type `kind`, held to [`setup_problem`].
    fn part(self, kind: NotificationType, required: bool) -> Result<Part, Error> {
        let problem = setup_problem(kind, self.slack.is_some(), self.webhook.is_some(), required);
        if let Some(problem) = problem {
            return Err(Error::Invalid(vec![problem]));
        }
        Ok(match (kind, self.slack, self.webhook) {
            (NotificationType::Slack, Some(slack), _) => Part::Slack(slack),
            (NotificationType::Webhook, _, Some(url)) => Part::Webhook(url),
            _ => Part::None,
        })
    }
}

/// What turning a setup into a target needs: the resolver the SSRF rule checks webhook hosts
/// with (unless private targets are allowed), and Slack's OAuth exchange.
#[derive(Clone, Copy)]
pub struct Targets<'a> {
    pub resolver: &'a dyn Resolver,
    pub slack: &'a dyn SlackInstaller,
    pub allow_private: bool,
    /// Seals the secrets a new target gets.
    pub keys: &'a dyn Keys,
}

/// A notification to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub kind: NotificationType,
    pub description: Option<String>,
    pub events: EventSet,
    /// Required for slack and webhook notifications.
    pub setup: Setup,
    /// Slack and webhook notifications only.
    pub rate_limit: Option<RateLimit>,
}

/// A change to a notification: only what is given changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationPatch {
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    /// Each event turned on or off; the others keep their value.
    pub events: Vec<(EventType, bool)>,
    /// A new target, from the part for the notification's own type; `None` keeps it.
    pub setup: Option<Setup>,
    /// `Some(None)` removes the rate limit (slack and webhook notifications only).
    pub rate_limit: Option<Option<RateLimit>>,
}

/// Creates a notification in `org` (at most `config.max_notifications` per organization). The
/// setup becomes its target first; nothing is written when that fails.
pub async fn create(
    store: &dyn NotificationStore,
    targets: &Targets<'_>,
    now: time::OffsetDateTime,
    max: u32,
    org: OrgId,
    new: NewNotification,
) -> Result<Notification, Error> {
    if let Some(problem) = rate_limit_problem(new.kind, new.rate_limit.is_some()) {
        return Err(Error::Invalid(vec![problem]));
    }
    let target = match resolve(targets, new.setup.part(new.kind, true)?, None).await? {
        Some(target) => target,
        None if new.kind == NotificationType::Sms => Target::Sms,
        // Email (slack and webhook always resolve to a target once their part is there).
        None => Target::Email,
    };
    let notification = Notification {
        id: NotificationId::generate(),
        organization: org,
        description: new.description,
        target,
        events: new.events,
        enabled: true,
        disabled_reason: None,
        failing: None,
        rate_limit: new.rate_limit,
        throttled_until: None,
        created_at: now,
        updated_at: now,
    };
    store.create_notification(&notification, max).await?;
    Ok(notification)
}

/// Applies `patch` to the notification `id` and re-enables it. A new setup must be for the
/// notification's own type; a new webhook URL keeps the signing secret. Optimistic: the patch
/// is applied to the latest version and written only if nobody changed it meanwhile (a Slack
/// code is spent once, before).
pub async fn update(
    store: &dyn NotificationStore,
    targets: &Targets<'_>,
    now: time::OffsetDateTime,
    org: &OrgId,
    id: &NotificationId,
    patch: NotificationPatch,
) -> Result<Notification, Error> {
    let mut current = load(store, org, id).await?;
    let rate_limit_given = patch.rate_limit.is_some_and(|r| r.is_some());
    if let Some(problem) = rate_limit_problem(current.target.kind(), rate_limit_given) {
        return Err(Error::Invalid(vec![problem]));
    }
    let setup = match patch.setup {
        Some(setup) => setup.part(current.target.kind(), false)?,
        None => Part::None,
    };
    let existing = match &current.target {
        Target::Webhook(w) => Some(w.clone()),
        _ => None,
    };
    let new_target = resolve(targets, setup, existing).await?;
    for _ in 0..3 {
        let mut next = current.clone();
        if let Some(d) = &patch.description {
            next.description.clone_from(d);
        }
        next.events = current.events.apply(patch.events.iter().copied());
        if let Some(t) = &new_target {
            next.target = t.clone();
        }
        if let Some(r) = patch.rate_limit {
            next.rate_limit = r;
        }
        // Enabled again, its failure streak forgotten.
        next.enabled = true;
        next.disabled_reason = None;
        next.failing = None;
        next.updated_at = later_than(now, current.updated_at);
        match store.update_notification(&next, current.updated_at).await {
            Ok(()) => return Ok(next),
            Err(StoreError::Stale) => current = load(store, org, id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Stale.into())
}

/// Gives the webhook notification `id` a new signing secret; the one it had keeps signing
/// beside it for 24 hours ([`WebhookTarget::ROTATION_OVERLAP`]). Returns the new secret and until
/// when the replaced one signs. Optimistic, as [`update`].
pub async fn rotate_secret(
    store: &dyn NotificationStore,
    keys: &dyn Keys,
    now: time::OffsetDateTime,
    org: &OrgId,
    id: &NotificationId,
) -> Result<(String, time::OffsetDateTime), Error> {
    // A notification's type never changes: checked once.
    let current = load(store, org, id).await?;
    if !matches!(current.target, Target::Webhook(_)) {
        return Err(Error::invalid(
            "id",
            format!(
                "only webhook notifications have a signing secret, not {} ones",
                current.target.kind()
            ),
        ));
    }
    let secret = new_webhook_secret();
    let sealed = keys.seal(&secret).await?;
    let written = amend(store, now, org, id, |n, now| match &n.target {
        Target::Webhook(webhook) => {
            let until = now + WebhookTarget::ROTATION_OVERLAP;
            n.target = Target::Webhook(webhook.rotated(sealed.clone(), until));
            true
        }
        _ => false,
    })
    .await?;
    match written.map(|n| n.target) {
        Some(Target::Webhook(WebhookTarget {
            previous: Some(previous),
            ..
        })) => Ok((secret, previous.until)),
        _ => Err(Error::NotFound),
    }
}

/// How many failed deliveries a failure streak needs before it may disable its notification.
pub const DISABLE_MIN_FAILED: u32 = 10;

/// What recording a batch's outcomes changed about a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Its failure streak reached the limit: it is disabled now.
    Disabled(Box<Notification>),
    /// A sent delivery ended this failure streak.
    Recovered(FailureStreak),
}

/// What one batch of the sender settled for a webhook or Slack notification: `failed`
/// deliveries ended `failed`, `sent` ended `sent`. A sent delivery ends the failure streak (one
/// write, only when there is a streak); failures extend it, starting it if needed, and once it
/// has lasted `HERALD_DISABLE_AFTER` with at least [`DISABLE_MIN_FAILED`] failed deliveries the
/// notification is disabled. Returns what this changed that is worth telling (a disabling, a
/// recovery).
pub async fn record_outcomes(
    store: &dyn NotificationStore,
    now: time::OffsetDateTime,
    disable_after: std::time::Duration,
    org: &OrgId,
    id: &NotificationId,
    failed: u32,
    sent: bool,
) -> Result<Option<Recorded>, Error> {
    let ended = std::sync::Mutex::new(None);
    let changed = amend(store, now, org, id, |n, now| {
        if sent {
            let streak = n.failing.take();
            let changed = streak.is_some();
            *ended.lock().unwrap_or_else(|e| e.into_inner()) = streak;
            return changed;
        }
        if failed == 0 || !n.enabled {
            return false;
        }
        let streak = n.failing.get_or_insert(FailureStreak {
            since: now,
            failed: 0,
        });
        streak.failed = streak.failed.saturating_add(failed);
        let lasted = now - streak.since;
        if streak.failed >= DISABLE_MIN_FAILED && lasted >= disable_after {
            n.enabled = false;
            n.disabled_reason = Some(format!(
                "its {} deliveries since {} all failed",
                streak.failed,
                crate::model::timestamp::format(streak.since)
            ));
        }
        true
    })
    .await?;
    let ended = ended.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(match changed {
        Some(_) if sent => ended.map(Recorded::Recovered),
        Some(n) if !n.enabled => Some(Recorded::Disabled(Box::new(n))),
        _ => None,
    })
}

/// Holds back the deliveries to the notification `id`'s target until `until`: it answered 429
/// with a `Retry-After`. A later hold that is already there stays.
pub async fn throttle(
    store: &dyn NotificationStore,
    now: time::OffsetDateTime,
    org: &OrgId,
    id: &NotificationId,
    until: time::OffsetDateTime,
) -> Result<(), Error> {
    amend(store, now, org, id, |n, _| {
        if n.throttled_until.is_some_and(|t| t >= until) {
            return false;
        }
        n.throttled_until = Some(until);
        true
    })
    .await
    .map(|_| ())
}

/// Disables the notification `id`: its target is gone (HTTP 410, an archived Slack channel).
/// Returns it when this disabled it (it was enabled).
pub async fn disable_gone(
    store: &dyn NotificationStore,
    now: time::OffsetDateTime,
    org: &OrgId,
    id: &NotificationId,
    why: &str,
) -> Result<Option<Notification>, Error> {
    amend(store, now, org, id, |n, _| {
        if !n.enabled {
            return false;
        }
        n.enabled = false;
        n.disabled_reason = Some(format!("its target is gone: {why}"));
        true
    })
    .await
}

/// Changes the notification `id` with `change` (which says whether it changed anything), on its
/// latest version, written only if nobody changed it meanwhile (tried again on a conflict). The
/// notification as written, or `None` when it is gone or `change` left it as it was.
async fn amend(
    store: &dyn NotificationStore,
    now: time::OffsetDateTime,
    org: &OrgId,
    id: &NotificationId,
    change: impl Fn(&mut Notification, time::OffsetDateTime) -> bool,
) -> Result<Option<Notification>, Error> {
    for _ in 0..5 {
        let Some(current) = store.get_notification(org, id).await? else {
            return Ok(None);
        };
        let mut next = current.clone();
        if !change(&mut next, now) {
            return Ok(None);
        }
        next.updated_at = later_than(now, current.updated_at);
        match store.update_notification(&next, current.updated_at).await {
            Ok(()) => return Ok(Some(next)),
            Err(StoreError::Stale) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Stale.into())
}

/// A new version's `updatedAt`: now, or just after the version it replaces when the clock has
/// not moved past it (the store's optimistic check compares them).
fn later_than(now: time::OffsetDateTime, read: time::OffsetDateTime) -> time::OffsetDateTime {
    if now > read {
        now
    } else {
        read + Duration::milliseconds(1)
    }
}

/// The notification `id` of `org`.
pub async fn load(
    store: &dyn NotificationStore,
    org: &OrgId,
    id: &NotificationId,
) -> Result<Notification, Error> {
    store
        .get_notification(org, id)
        .await?
        .ok_or(Error::NotFound)
}

/// Turns a setup into a target: checks the webhook URL (after DNS resolution) or exchanges the
/// Slack code. A new webhook URL keeps the `existing` webhook's secrets (a rotation's overlap
/// included) when there is one.
async fn resolve(
    targets: &Targets<'_>,
    setup: Part,
    existing: Option<WebhookTarget>,
) -> Result<Option<Target>, Error> {
    match setup {
        Part::None => Ok(None),
        Part::Webhook(url) => {
            let url =
                crate::ports::net::check_webhook_url(&url, targets.allow_private, targets.resolver)
                    .await
                    .map_err(|why| Error::invalid("setup.webhook.url", why))?;
            let (secret, previous) = match existing {
                Some(w) => (w.secret, w.previous),
                None => (targets.keys.seal(&new_webhook_secret()).await?, None),
            };
            Ok(Some(Target::Webhook(WebhookTarget {
                url: url.to_string(),
                secret,
                previous,
            })))
        }
        Part::Slack(SlackCode { code, redirect_uri }) => {
            match targets.slack.exchange(&code, &redirect_uri).await {
                Ok(install) => Ok(Some(Target::Slack(SlackTarget {
                    team: install.team,
                    channel: install.channel,
                    channel_id: install.channel_id,
                    webhook_url: targets.keys.seal(&install.webhook_url).await?,
                    access_token: targets.keys.seal(&install.access_token).await?,
                    chat_write: install.chat_write,
                }))),
                Err(ExchangeError::Refused(error)) => Err(Error::invalid(
                    "setup.slack.code",
                    format!("slack: {error}"),
                )),
                Err(ExchangeError::Unavailable(why)) => Err(Error::Unavailable(why)),
            }
        }
    }
}

/// `whsec_` + base64 of 32 random bytes (Standard Webhooks).
pub(crate) fn new_webhook_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}
