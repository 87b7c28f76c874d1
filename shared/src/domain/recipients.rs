//! Subscribing recipients to an email or SMS notification (the recipients API): all or nothing, and
//! idempotent. Every recipient is resolved (console users looked up, embed users given their
//! stable id) before anything is written; only new and changed recipients are written.

use std::collections::HashMap;

use uuid::Uuid;

use super::Error;
use crate::domain::FieldError;
use crate::model::{Email, NotificationId, NotificationType, OrgId, Phone};
use crate::model::{EmbedProfile, Recipient, RecipientKind, Target, User};
use crate::ports::store::{NotificationStore, RecipientStore, UserStore};

/// Namespace of embed user ids: `embedUserId` = UUIDv5(this, "<org>/<tenant>/<externalId>").
const EMBED_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_8d3b_4c5a_9e7f_0b1d_2c3e_4f5a);

/// An embed user's stable id in `org`.
pub fn embed_user_id(org: &OrgId, tenant: &str, external_id: &str) -> Uuid {
    Uuid::new_v5(
        &EMBED_NAMESPACE,
        format!("{org}/{tenant}/{external_id}").as_bytes(),
    )
}

/// One recipient asked for, not yet resolved; `index` is its place in the request (problems
/// name it: `recipients[index]`).
#[derive(Debug, PartialEq)]
pub enum Wanted {
    UserById { index: usize, id: Uuid },
    UserByEmail { index: usize, email: Email },
    Embed { index: usize, profile: EmbedProfile },
}

/// The notification recipients are added to: it must exist in `org` and be an email or SMS one
/// (a Slack channel or a webhook has no recipients: 400 naming `id`).
pub async fn notification(
    notifications: &dyn NotificationStore,
    org: &OrgId,
    id: &NotificationId,
) -> Result<NotificationType, Error> {
    let found = notifications
        .get_notification(org, id)
        .await?
        .ok_or(Error::NotFound)?;
    let kind = found.target.kind();
    if matches!(found.target, Target::Email | Target::Sms) {
        Ok(kind)
    } else {
        Err(Error::invalid(
            "id",
            format!("recipients can be added only to email and sms notifications, not {kind}"),
        ))
    }
}

/// What `wanted` resolve to for notification `id` of type `kind` (console users in two batched
/// reads), in request order; a recipient named twice keeps its first place and its last
/// properties. [`Error::Invalid`] lists every one that does not resolve (no such user, no phone
/// for SMS, an embed user without an email).
pub async fn resolve(
    users: &dyn UserStore,
    now: time::OffsetDateTime,
    org: &OrgId,
    id: &NotificationId,
    kind: NotificationType,
    wanted: Vec<Wanted>,
) -> Result<Vec<Recipient>, Error> {
    let mut ids: Vec<Uuid> = Vec::new();
    let mut emails: Vec<Email> = Vec::new();
    for w in &wanted {
        match w {
            Wanted::UserById { id, .. } => ids.push(*id),
            Wanted::UserByEmail { email, .. } => emails.push(email.clone()),
            Wanted::Embed { .. } => {}
        }
    }
    ids.sort_unstable();
    ids.dedup();
    emails.sort_unstable();
    emails.dedup();
    let (by_id, by_email) = tokio::try_join!(
        async {
            if ids.is_empty() {
                Ok(Vec::new())
            } else {
                users.get_users(org, &ids).await
            }
        },
        async {
            if emails.is_empty() {
                Ok(Vec::new())
            } else {
                users.find_users_by_email(org, &emails).await
            }
        },
    )?;
    let by_id: HashMap<Uuid, User> = by_id.into_iter().map(|u| (u.id, u)).collect();
    let by_email: HashMap<Email, User> =
        by_email.into_iter().map(|u| (u.email.clone(), u)).collect();

    let stamp = Stamp {
        org: org.clone(),
        notification: id.clone(),
        now,
        sms: kind == NotificationType::Sms,
    };
    let mut problems = Vec::new();
    let mut order: Vec<Uuid> = Vec::with_capacity(wanted.len());
    let mut resolved: HashMap<Uuid, Recipient> = HashMap::with_capacity(wanted.len());
    for w in wanted {
        let recipient = match w {
            Wanted::UserById { index, id } => match by_id.get(&id) {
                Some(user) => stamp.user(user, index, "userId"),
                None => Err(vec![FieldError::new(
                    format!("recipients[{index}].userId"),
                    "no such user in this organization",
                )]),
            },
            Wanted::UserByEmail { index, email } => match by_email.get(&email) {
                Some(user) => stamp.user(user, index, "email"),
                None => Err(vec![FieldError::new(
                    format!("recipients[{index}].email"),
                    "no such user in this organization",
                )]),
            },
            Wanted::Embed { index, profile } => stamp.embed(index, profile),
        };
        match recipient {
            Ok(r) => {
                if resolved.insert(r.id, r.clone()).is_none() {
                    order.push(r.id);
                }
            }
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    Ok(order
        .into_iter()
        .filter_map(|id| resolved.remove(&id))
        .collect())
}

/// What subscribing did to each recipient, in request order.
#[derive(Debug, Default)]
pub struct Subscribed {
    pub created: Vec<Recipient>,
    pub updated: Vec<Recipient>,
    pub unchanged: Vec<Recipient>,
}

/// Subscribes `recipients` (from [`resolve`]) to notification `id`: one batched read of what is
/// subscribed already decides each one's bucket, and only the created and updated are written.
pub async fn subscribe(
    recipients_store: &dyn RecipientStore,
    org: &OrgId,
    id: &NotificationId,
    recipients: Vec<Recipient>,
) -> Result<Subscribed, Error> {
    let ids: Vec<Uuid> = recipients.iter().map(|r| r.id).collect();
    let existing: HashMap<Uuid, Recipient> = recipients_store
        .get_recipients(org, id, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut out = Subscribed::default();
    let mut writes = Vec::new();
    for mut wanted in recipients {
        match existing.get(&wanted.id) {
            None => {
                out.created.push(wanted.clone());
                writes.push(wanted);
            }
            Some(old) if wanted.differs_from(old) => {
                wanted.created_at = old.created_at;
                out.updated.push(wanted.clone());
                writes.push(wanted);
            }
            Some(old) => out.unchanged.push(old.clone()),
        }
    }
    if !writes.is_empty() {
        recipients_store.put_recipients(&writes).await?;
    }
    Ok(out)
}

/// What every recipient written by one request shares.
struct Stamp {
    org: OrgId,
    notification: NotificationId,
    now: time::OffsetDateTime,
    /// An SMS notification: every recipient needs a phone number.
    sms: bool,
}

impl Stamp {
    fn recipient(
        &self,
        id: Uuid,
        kind: RecipientKind,
        email: Email,
        phone: Option<Phone>,
    ) -> Recipient {
        Recipient {
            id,
            organization: self.org.clone(),
            notification: self.notification.clone(),
            kind,
            email,
            phone,
            username: None,
            embed: None,
            created_at: self.now,
            updated_at: self.now,
        }
    }

    /// The recipient a console user becomes, or the problem that stops it.
    fn user(&self, user: &User, index: usize, field: &str) -> Result<Recipient, Vec<FieldError>> {
        if self.sms && user.phone.is_none() {
            return Err(vec![FieldError::new(
                format!("recipients[{index}].{field}"),
                "the user has no phone number, which an sms notification needs",
            )]);
        }
        Ok(Recipient {
            username: Some(user.username.to_string()),
            ..self.recipient(
                user.id,
                RecipientKind::User,
                user.email.clone(),
                user.phone.clone(),
            )
        })
    }

    /// The recipient an embed user becomes: its email is `externalId` unless given; its phone
    /// is its `phone` attribute. `Err` names every problem it has.
    fn embed(&self, index: usize, profile: EmbedProfile) -> Result<Recipient, Vec<FieldError>> {
        let mut problems = Vec::new();
        let email = match &profile.email {
            Some(e) => Some(e.clone()),
            None => Email::parse(&profile.external_id)
                .map_err(|_| {
                    problems.push(FieldError::new(
                        format!("recipients[{index}].externalId"),
                        "must be an email address when the embed user has no email",
                    ));
                })
                .ok(),
        };
        let attribute = profile
            .user_attributes
            .iter()
            .find(|a| a.name == "phone")
            .map(|a| a.value.as_str());
        let at = format!("recipients[{index}].userAttributes");
        let phone = match (self.sms, attribute) {
            (_, Some(raw)) => match Phone::parse(raw) {
                Ok(phone) => Some(phone),
                Err(e) => {
                    problems.push(FieldError::new(at, format!("phone {e}")));
                    None
                }
            },
            (true, None) => {
                problems.push(FieldError::new(
                    at,
                    "needs a phone attribute (E.164) for an sms notification",
                ));
                None
            }
            (false, None) => None,
        };
        let (Some(email), true) = (email, problems.is_empty()) else {
            return Err(problems);
        };
        let id = embed_user_id(&self.org, &profile.tenant_name, &profile.external_id);
        Ok(Recipient {
            embed: Some(profile),
            ..self.recipient(id, RecipientKind::EmbedUser, email, phone)
        })
    }
}
