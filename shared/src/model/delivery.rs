//! Deliveries: one message to one target, its attempts, and what the store's delivery
//! operations answer (a claim, a burial, how a claimed delivery ended).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AttemptOutcome, DeliveryStatus, DispatchMethod, Email, Language, NotificationId, OrgId, Phone,
    SkipReason, timestamp,
};

/// Where one delivery goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Channel {
    Email {
        to: Email,
    },
    /// To the recipient's phone; a recipient without one is recorded on this channel, `skipped`
    /// with `no_phone`.
    Sms {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Phone>,
    },
    /// The notification's Slack channel (`chat.postMessage` or its stored incoming webhook).
    Slack {
        notification: NotificationId,
    },
    /// The notification's webhook URL, signed with its secret.
    Webhook {
        notification: NotificationId,
    },
    /// The organization's operational webhook: `event` about Herald itself.
    Operational {
        event: crate::model::OperationalEvent,
    },
}

impl Channel {
    /// How it reaches its target (the delivery log's `method`, the metrics' `Transport`).
    pub fn method(&self) -> DispatchMethod {
        match self {
            Channel::Slack { .. } => DispatchMethod::Slack,
            Channel::Webhook { .. } | Channel::Operational { .. } => DispatchMethod::Webhook,
            Channel::Email { .. } => DispatchMethod::Email,
            Channel::Sms { .. } => DispatchMethod::Sms,
        }
    }
}

/// One message to one target. A queued delivery travels as its queue message; the
/// sender's claim records it (the fan-out records only those it skips).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// An event's delivery: UUIDv5 of (event, target), so a repeated fan-out names the same
    /// deliveries. A test notification's: UUIDv7.
    pub id: Uuid,
    pub organization: OrgId,
    /// The event it delivers (`None` for a test notification).
    #[serde(default)]
    pub event: Option<Uuid>,
    /// The system template rendered for it.
    pub template: Uuid,
    /// The user it is for, when it is for a user.
    #[serde(default)]
    pub user: Option<Uuid>,
    pub channel: Channel,
    /// The notification it goes through or is a recipient's delivery of (`None` for a test
    /// notification, and for email and SMS deliveries recorded before Herald kept it): what
    /// recover finds a notification's failed deliveries by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationId>,
    pub language: Language,
    /// What the template is rendered with; `None`: the event's data.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    pub status: DeliveryStatus,
    /// Attempts since it was last queued (by the fan-out, a resend or a recover).
    pub attempts: u32,
    /// How many times an operator put it back on the queue (resend, recover). A message carries
    /// the round it was queued for: a message of an earlier round never takes the delivery.
    #[serde(default)]
    pub round: u32,
    /// Its last attempts, oldest first: at most [`Delivery::HISTORY`], over every round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Attempt>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Why a delivery was `skipped`.
    #[serde(default)]
    pub reason: Option<SkipReason>,
    /// While `sending`: until when the sender that claimed it holds it.
    #[serde(default, with = "timestamp::option")]
    pub lease_until: Option<OffsetDateTime>,
    /// For an event's delivery, the event's time (the delivery log's order).
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    pub updated_at: OffsetDateTime,
}

/// One attempt to deliver: when, how it ended, the target's HTTP status where there is one, the
/// error, and how long it took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// After a `retry`: when the next attempt is due (the schedule's step, jittered, or the
    /// target's `Retry-After`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "timestamp::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// What claiming a delivery for sending found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// It is this sender's until `lease_until` (status `sending`, `attempts` counted).
    Claimed(Box<Delivery>),
    /// Another sender holds a live lease.
    Busy,
    /// It is already `sent`, `failed` or `skipped`, or the message is of an earlier round than
    /// the delivery (a resend or recover queued it again since): the message has nothing to do.
    Settled(DeliveryStatus),
}

impl Claim {
    /// What a claim that took nothing found: the delivery's `status` in `round`, for a message of
    /// round `message`.
    pub fn found(status: DeliveryStatus, round: u32, message: u32) -> Claim {
        match status {
            DeliveryStatus::Sent | DeliveryStatus::Failed | DeliveryStatus::Skipped => {
                Claim::Settled(status)
            }
            _ if round > message => Claim::Settled(status),
            _ => Claim::Busy,
        }
    }
}

/// What marking a dead-lettered delivery `failed` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Burial {
    /// It is `failed` now, with the dead-letter queue's reason.
    Failed,
    /// Nothing to do: it was settled, or queued again in a later round.
    Settled,
    /// A sender holds a live lease on it: try again once that ends.
    Busy,
}

/// How a claimed delivery ended (with the attempt that ended it, when one was made).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Failed(String),
    /// Back to `queued`, to be tried again.
    Retry(String),
    /// Not sent, on purpose.
    Skipped(SkipReason),
    /// Not sent while the notifier is paused: `held` until a resume releases it.
    Held,
}

/// Which deliveries a listing wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event: Option<Uuid>,
}

impl Delivery {
    /// How many attempts a delivery's history keeps.
    pub const HISTORY: usize = 10;

    /// A delivery born `queued`, no attempt made: `id` of `organization`, `template` rendered
    /// in `language` for `channel`, at its place `created_at` in the log, as of `now`. The
    /// event, user, notification and data it carries are the caller's to set.
    pub fn queued(
        id: Uuid,
        organization: OrgId,
        template: Uuid,
        channel: Channel,
        language: Language,
        created_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            organization,
            event: None,
            template,
            user: None,
            channel,
            notification: None,
            language,
            data: None,
            status: DeliveryStatus::Queued,
            attempts: 0,
            round: 0,
            history: Vec::new(),
            last_error: None,
            reason: None,
            lease_until: None,
            created_at,
            updated_at: now,
        }
    }

    /// The webhook or Slack notification it goes out through.
    pub fn through(&self) -> Option<&NotificationId> {
        match &self.channel {
            Channel::Slack { notification } | Channel::Webhook { notification } => {
                Some(notification)
            }
            Channel::Email { .. } | Channel::Sms { .. } | Channel::Operational { .. } => None,
        }
    }

    /// When it is tried again: while it is `queued` after a failed attempt, that attempt's
    /// `next_attempt_at`.
    pub fn next_attempt_at(&self) -> Option<OffsetDateTime> {
        match (self.status, self.history.last()) {
            (DeliveryStatus::Queued, Some(last)) if last.outcome == AttemptOutcome::Retry => {
                last.next_attempt_at
            }
            _ => None,
        }
    }

    /// The notification it goes through or belongs to.
    pub fn notification_id(&self) -> Option<&NotificationId> {
        match &self.channel {
            Channel::Slack { notification } | Channel::Webhook { notification } => {
                Some(notification)
            }
            Channel::Email { .. } | Channel::Sms { .. } | Channel::Operational { .. } => {
                self.notification.as_ref()
            }
        }
    }

    /// Its history with `attempt` added, the oldest dropped past [`Delivery::HISTORY`].
    pub fn history_with(&self, attempt: Option<&Attempt>) -> Vec<Attempt> {
        let mut history = self.history.clone();
        history.extend(attempt.cloned());
        let excess = history.len().saturating_sub(Self::HISTORY);
        history.drain(..excess);
        history
    }

    /// The message that puts it back on the queue for one more round (resend, recover): as it
    /// was born, `queued`, its attempts counted afresh.
    pub fn requeued(&self, now: OffsetDateTime) -> Delivery {
        Delivery {
            status: DeliveryStatus::Queued,
            attempts: 0,
            round: self.round + 1,
            lease_until: None,
            updated_at: now,
            ..self.clone()
        }
    }

    /// The listing order's key (newest first): creation time, then id.
    pub fn list_key(&self) -> String {
        Self::key_of(self.created_at, self.id)
    }

    /// The list key of the delivery `id` created at `created_at`.
    pub fn key_of(created_at: OffsetDateTime, id: Uuid) -> String {
        format!("{}#{id}", timestamp::format(created_at))
    }
}
