//! What one attempt means. [`decide`] takes a claimed delivery, what happened when it was tried
//! (the target's answer, a transport's refusal, or why it was not sent) and the time, and returns
//! the [`Decision`]: how the delivery ends this round, the attempt for its history, what becomes of
//! its queue entry, and the [`Effect`]s beyond the delivery itself. It reads and writes nothing;
//! [`super::effects`] carries a batch's decisions out.
//!
//! The whole table, in one place:
//!
//! | happened | outcome | entry | effects |
//! |---|---|---|---|
//! | the notifier is paused | `held` (no attempt) | released if resumed meanwhile | — |
//! | sent (2xx) | `sent` | acknowledged | a webhook or Slack notification's failure streak ends |
//! | worth another attempt (timeout, 408, 429, 5xx), steps left | `queued` again, `retry` | back after the next step (jittered) or the target's `Retry-After`, capped by the longest step | a 429 with `Retry-After` holds the target back as long |
//! | the same, no step left | `failed` | left for the dead-letter queue | the streak grows; `delivery.failed` told |
//! | refused for good (another 4xx, a bad target) | `failed` | acknowledged | the streak grows; `delivery.failed` told |
//! | the target is gone (410, an archived Slack channel) | `failed` | acknowledged | the notification is disabled (`notification.disabled` told if this disabled it); the streak grows; `delivery.failed` told |
//! | not sent on purpose ([`SkipReason`]) | `skipped` | acknowledged | a spent SMS quota tells `sms.quotaExhausted` |
//!
//! An operational delivery (to the organization's operational webhook) raises no
//! `delivery.failed` of its own and has no notification, so no streak.

use std::time::Duration;

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::domain::operational::Occurrence;
use crate::model::retry::RetrySchedule;
use crate::model::{Attempt, AttemptOutcome, Delivery, NotificationId, Outcome, SkipReason};
use crate::ports::transport::{Failure, SendError};

/// What happened when a claimed delivery was tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The target took it: its HTTP status where there is one (none from SES, SNS, the outbox).
    Sent { status: Option<u16> },
    /// It was not taken: the target's answer or the transport's failure.
    Refused(SendError),
    /// Not sent, on purpose.
    Skipped(SkipReason),
    /// An SMS not sent: `user`'s quota of `quota` for `day` is spent.
    QuotaSpent { user: Uuid, day: Date, quota: u32 },
    /// An email or SMS not sent: the organization's daily count of `limit` for `channel` and
    /// `day` is spent.
    OrganizationQuotaSpent {
        channel: crate::model::DispatchMethod,
        day: Date,
        limit: u32,
    },
    /// Not tried: the organization's notifier is paused.
    Held,
}

/// What a batch's decisions depend on besides the attempt: the deployment's retry schedule,
/// whether targets may be paced (`HERALD_RATE_LIMITS`), and the jitter drawn for this attempt
/// (uniform in `[0, 1)`; drawn by the caller, so that the decision stays a function).
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    pub schedule: &'a RetrySchedule,
    pub rate_limits: bool,
    pub jitter: f64,
}

/// What becomes of a delivery's queue entry once its settlement is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Done with: delete it.
    Ack,
    /// Back for another attempt after this long.
    Delay(Duration),
    /// Left for the dead-letter queue: every attempt failed.
    DeadLetter,
    /// Held while the notifier is paused: released at once if it was resumed meanwhile.
    ReleaseIfResumed,
}

/// What an attempt changes beyond its delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A delivery through this webhook or Slack notification was sent: its failure streak, if
    /// it has one, ends.
    StreakEnds(NotificationId),
    /// A delivery through this webhook or Slack notification failed: its failure streak grows
    /// (and may disable it).
    StreakGrows(NotificationId),
    /// The notification's target is gone: disable it, saying why.
    Disable(NotificationId, String),
    /// The notification's target asked for a pause: none of its deliveries before `until`.
    Throttle(NotificationId, OffsetDateTime),
    /// Tell the organization's operational webhook.
    Tell(Occurrence),
}

/// How one attempt ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The attempt for the delivery's history (none when it was held: nothing was tried).
    pub attempt: Option<Attempt>,
    pub then: Then,
    pub effects: Vec<Effect>,
}

/// Decides how `delivery` (as claimed: this attempt counted) ends after `answer`, tried at
/// `now` for `took`.
pub fn decide(
    delivery: &Delivery,
    answer: Answer,
    now: OffsetDateTime,
    took: Duration,
    rules: Rules<'_>,
) -> Decision {
    let through = delivery.through();
    let attempt = |outcome, status_code, error: Option<&str>, next_attempt_at| {
        Some(Attempt {
            at: now,
            outcome,
            status_code,
            error: error.map(str::to_owned),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            next_attempt_at,
        })
    };
    let refused = match answer {
        Answer::Held => {
            return Decision {
                outcome: Outcome::Held,
                attempt: None,
                then: Then::ReleaseIfResumed,
                effects: Vec::new(),
            };
        }
        Answer::Sent { status } => {
            return Decision {
                outcome: Outcome::Sent,
                attempt: attempt(AttemptOutcome::Sent, status, None, None),
                then: Then::Ack,
                effects: through
                    .cloned()
                    .map(Effect::StreakEnds)
                    .into_iter()
                    .collect(),
            };
        }
        Answer::Skipped(reason) => {
            return skipped(
                reason,
                attempt(AttemptOutcome::Skipped, None, Some(reason.as_str()), None),
                Vec::new(),
            );
        }
        Answer::QuotaSpent { user, day, quota } => {
            let reason = SkipReason::QuotaExceeded;
            let told = Occurrence::sms_quota_exhausted(&delivery.organization, user, day, quota);
            return skipped(
                reason,
                attempt(AttemptOutcome::Skipped, None, Some(reason.as_str()), None),
                vec![Effect::Tell(told)],
            );
        }
        Answer::OrganizationQuotaSpent {
            channel,
            day,
            limit,
        } => {
            let reason = SkipReason::OrganizationQuotaExceeded;
            let told = Occurrence::organization_quota_exceeded(
                &delivery.organization,
                channel,
                day,
                limit,
            );
            return skipped(
                reason,
                attempt(AttemptOutcome::Skipped, None, Some(reason.as_str()), None),
                vec![Effect::Tell(told)],
            );
        }
        Answer::Refused(e) => e,
    };
    let mut effects = Vec::new();
    // A target that answered 429 with a `Retry-After` gets none of its deliveries before then.
    if let (Some(429), Some(after), Some(notification), true) = (
        refused.status,
        refused.retry_after,
        through,
        rules.rate_limits,
    ) && !after.is_zero()
    {
        let until = now + after.min(rules.schedule.longest());
        effects.push(Effect::Throttle(notification.clone(), until));
    }
    let status = refused.status;
    let (error, then) = match refused.failure {
        Failure::Retry => {
            match rules.schedule.delay_jittered(
                delivery.attempts,
                refused.retry_after,
                rules.jitter,
            ) {
                Some(wait) => {
                    return Decision {
                        outcome: Outcome::Retry(refused.error.clone()),
                        attempt: attempt(
                            AttemptOutcome::Retry,
                            status,
                            Some(&refused.error),
                            Some(now + wait),
                        ),
                        then: Then::Delay(wait),
                        effects,
                    };
                }
                // After the schedule's last step: `failed`, and the message goes to the
                // dead-letter queue (whose `maxReceiveCount` is the schedule's attempts).
                None => (
                    format!("{} (after {} attempts)", refused.error, delivery.attempts),
                    Then::DeadLetter,
                ),
            }
        }
        Failure::Fail => (refused.error, Then::Ack),
        Failure::Gone => {
            if let Some(notification) = through {
                effects.push(Effect::Disable(notification.clone(), refused.error.clone()));
            }
            (refused.error, Then::Ack)
        }
    };
    if let Some(notification) = through {
        effects.push(Effect::StreakGrows(notification.clone()));
    }
    if let Some(told) = Occurrence::delivery_failed(delivery, Some(&error)) {
        effects.push(Effect::Tell(told));
    }
    Decision {
        attempt: attempt(AttemptOutcome::Failed, status, Some(&error), None),
        outcome: Outcome::Failed(error),
        then,
        effects,
    }
}

fn skipped(reason: SkipReason, attempt: Option<Attempt>, effects: Vec<Effect>) -> Decision {
    Decision {
        outcome: Outcome::Skipped(reason),
        attempt,
        then: Then::Ack,
        effects,
    }
}

#[cfg(test)]
mod tests;
