//! The decision table, case by case, on every channel.
use std::time::Duration;

use serde_json::json;
use time::macros::datetime;
use uuid::Uuid;

use super::*;
use crate::model::{
    Channel, DeliveryStatus, Email, Language, OperationalEvent, OrgId, Phone, timestamp,
};

const NOW: OffsetDateTime = datetime!(2026-12-07 10:00:00 UTC);
const TOOK: Duration = Duration::from_millis(42);

fn org() -> OrgId {
    OrgId::parse("acme-corp").unwrap_or_else(|_| unreachable!())
}

fn notification() -> NotificationId {
    NotificationId::parse("0123456789abcdef01234567").unwrap_or_else(|_| unreachable!())
}

/// A delivery on `channel`, claimed for its `attempts`-th attempt.
fn delivery(channel: Channel, attempts: u32) -> Delivery {
    Delivery {
        id: Uuid::from_u128(7),
        organization: org(),
        event: Some(Uuid::from_u128(9)),
        template: Uuid::nil(),
        user: Some(Uuid::from_u128(3)),
        channel,
        notification: None,
        language: Language::En,
        data: None,
        status: DeliveryStatus::Sending,
        attempts,
        round: 0,
        history: Vec::new(),
        last_error: None,
        reason: None,
        lease_until: Some(NOW + time::Duration::seconds(60)),
        created_at: NOW - time::Duration::seconds(5),
        updated_at: NOW,
    }
}

/// Every channel a delivery can go by, and whether it goes through a notification.
fn channels() -> Vec<(Channel, bool)> {
    let email = Email::parse("ann@example.com").unwrap_or_else(|_| unreachable!());
    let phone = Phone::parse("+14155550100").unwrap_or_else(|_| unreachable!());
    vec![
        (
            Channel::Webhook {
                notification: notification(),
            },
            true,
        ),
        (
            Channel::Slack {
                notification: notification(),
            },
            true,
        ),
        (Channel::Email { to: email }, false),
        (Channel::Sms { to: Some(phone) }, false),
        (
            Channel::Operational {
                event: OperationalEvent::DeliveryFailed,
            },
            false,
        ),
    ]
}

/// The tests' schedule: three attempts, the first retry after 10 s, the second after 60 s.
fn schedule() -> RetrySchedule {
    "10s,60s".parse().unwrap_or_else(|e: String| panic!("{e}"))
}

fn rules(schedule: &RetrySchedule) -> Rules<'_> {
    Rules {
        schedule,
        rate_limits: true,
        jitter: 0.5,
    }
}

fn made(outcome: AttemptOutcome, status: Option<u16>, error: Option<&str>) -> Option<Attempt> {
    Some(Attempt {
        at: NOW,
        outcome,
        status_code: status,
        error: error.map(str::to_owned),
        duration_ms: 42,
        next_attempt_at: None,
    })
}

/// `delivery.failed` of `d` with `error`, where it is told (not of an operational delivery).
fn told_failed(d: &Delivery, error: &str) -> Vec<Effect> {
    Occurrence::delivery_failed(d, Some(error))
        .map(Effect::Tell)
        .into_iter()
        .collect()
}

#[test]
fn a_held_delivery_is_not_attempted_and_is_released_if_resumed_on_every_channel() {
    let schedule = schedule();
    for (channel, _) in channels() {
        let d = delivery(channel, 1);
        assert_eq!(
            decide(&d, Answer::Held, NOW, TOOK, rules(&schedule)),
            Decision {
                outcome: Outcome::Held,
                attempt: None,
                then: Then::ReleaseIfResumed,
                effects: vec![],
            }
        );
    }
}

#[test]
fn a_sent_delivery_is_acknowledged_and_ends_its_notifications_streak() {
    let schedule = schedule();
    for (channel, through) in channels() {
        let d = delivery(channel, 2);
        let sent = decide(
            &d,
            Answer::Sent { status: Some(204) },
            NOW,
            TOOK,
            rules(&schedule),
        );
        let ends = if through {
            vec![Effect::StreakEnds(notification())]
        } else {
            vec![]
        };
        assert_eq!(
            sent,
            Decision {
                outcome: Outcome::Sent,
                attempt: made(AttemptOutcome::Sent, Some(204), None),
                then: Then::Ack,
                effects: ends,
            }
        );
    }
}

#[test]
fn a_retryable_failure_with_steps_left_waits_its_jittered_step() {
    let schedule = schedule();
    for (channel, _) in channels() {
        for (attempts, step) in [(1, 10), (2, 60)] {
            let d = delivery(channel.clone(), attempts);
            let refused = SendError::answered(Failure::Retry, 503, None, "answered 503");
            let decided = decide(&d, Answer::Refused(refused), NOW, TOOK, rules(&schedule));
            // Jitter 0.5: a tenth of the step plus half of the other nine tenths.
            let wait = Duration::from_secs(step).mul_f64(0.55);
            let mut attempt = made(AttemptOutcome::Retry, Some(503), Some("answered 503"));
            if let Some(a) = attempt.as_mut() {
                a.next_attempt_at = Some(NOW + wait);
            }
            assert_eq!(
                decided,
                Decision {
                    outcome: Outcome::Retry("answered 503".into()),
                    attempt,
                    then: Then::Delay(wait),
                    effects: vec![],
                },
                "attempt {attempts}"
            );
        }
    }
}

#[test]
fn a_retryable_failure_after_the_last_step_fails_to_the_dead_letters_and_is_told() {
    let schedule = schedule();
    for (channel, through) in channels() {
        let d = delivery(channel, 3);
        let refused = SendError::retry("timed out");
        let decided = decide(&d, Answer::Refused(refused), NOW, TOOK, rules(&schedule));
        let error = "timed out (after 3 attempts)";
        let mut effects = Vec::new();
        if through {
            effects.push(Effect::StreakGrows(notification()));
        }
        effects.extend(told_failed(&d, error));
        assert_eq!(
            decided,
            Decision {
                outcome: Outcome::Failed(error.into()),
                attempt: made(AttemptOutcome::Failed, None, Some(error)),
                then: Then::DeadLetter,
                effects,
            }
        );
    }
}

#[test]
fn a_429_with_retry_after_waits_that_long_capped_and_holds_its_target_back() {
    let schedule = schedule();
    for (channel, through) in channels() {
        for (asked, waits) in [(30, 30), (3600, 60)] {
            let d = delivery(channel.clone(), 1);
            let after = Some(Duration::from_secs(asked));
            let refused = SendError::answered(Failure::Retry, 429, after, "answered 429");
            let decided = decide(&d, Answer::Refused(refused), NOW, TOOK, rules(&schedule));
            let wait = Duration::from_secs(waits);
            let held = if through {
                vec![Effect::Throttle(notification(), NOW + wait)]
            } else {
                vec![]
            };
            assert_eq!(decided.then, Then::Delay(wait), "{asked}");
            assert_eq!(decided.outcome, Outcome::Retry("answered 429".into()));
            assert_eq!(decided.effects, held, "{asked}");
            assert_eq!(
                decided.attempt.and_then(|a| a.next_attempt_at),
                Some(NOW + wait)
            );
        }
    }
}

#[test]
fn a_429_holds_nothing_back_without_rate_limits_or_a_retry_after() {
    let schedule = schedule();
    let d = delivery(
        Channel::Webhook {
            notification: notification(),
        },
        1,
    );
    let asked = SendError::answered(
        Failure::Retry,
        429,
        Some(Duration::from_secs(30)),
        "answered 429",
    );
    let off = Rules {
        rate_limits: false,
        ..rules(&schedule)
    };
    let decided = decide(&d, Answer::Refused(asked), NOW, TOOK, off);
    assert_eq!(decided.effects, vec![]);
    assert_eq!(decided.then, Then::Delay(Duration::from_secs(30)));
    let unasked = SendError::answered(Failure::Retry, 429, None, "answered 429");
    let decided = decide(&d, Answer::Refused(unasked), NOW, TOOK, rules(&schedule));
    assert_eq!(decided.effects, vec![]);
    assert_eq!(
        decided.then,
        Then::Delay(Duration::from_secs(10).mul_f64(0.55))
    );
    // The last attempt refused with a 429: failed, and the target held back all the same.
    let last = delivery(
        Channel::Webhook {
            notification: notification(),
        },
        3,
    );
    let asked = SendError::answered(
        Failure::Retry,
        429,
        Some(Duration::from_secs(30)),
        "answered 429",
    );
    let decided = decide(&last, Answer::Refused(asked), NOW, TOOK, rules(&schedule));
    assert_eq!(decided.then, Then::DeadLetter);
    assert_eq!(
        decided.effects[..2],
        [
            Effect::Throttle(notification(), NOW + Duration::from_secs(30)),
            Effect::StreakGrows(notification())
        ]
    );
}

#[test]
fn a_final_refusal_fails_at_once_and_is_told() {
    let schedule = schedule();
    for (channel, through) in channels() {
        for refused in [
            SendError::answered(Failure::Fail, 400, None, "answered 400"),
            SendError::fail("url: must use https"),
        ] {
            let d = delivery(channel.clone(), 1);
            let error = refused.error.clone();
            let status = refused.status;
            let decided = decide(&d, Answer::Refused(refused), NOW, TOOK, rules(&schedule));
            let mut effects = Vec::new();
            if through {
                effects.push(Effect::StreakGrows(notification()));
            }
            effects.extend(told_failed(&d, &error));
            assert_eq!(
                decided,
                Decision {
                    outcome: Outcome::Failed(error.clone()),
                    attempt: made(AttemptOutcome::Failed, status, Some(&error)),
                    then: Then::Ack,
                    effects,
                }
            );
        }
    }
}

#[test]
fn a_gone_target_fails_disables_its_notification_and_is_told() {
    let schedule = schedule();
    for (channel, through) in channels() {
        let d = delivery(channel, 1);
        let refused = SendError::answered(Failure::Gone, 410, None, "answered 410");
        let decided = decide(&d, Answer::Refused(refused), NOW, TOOK, rules(&schedule));
        let mut effects = Vec::new();
        if through {
            effects.push(Effect::Disable(notification(), "answered 410".into()));
            effects.push(Effect::StreakGrows(notification()));
        }
        effects.extend(told_failed(&d, "answered 410"));
        assert_eq!(
            decided,
            Decision {
                outcome: Outcome::Failed("answered 410".into()),
                attempt: made(AttemptOutcome::Failed, Some(410), Some("answered 410")),
                then: Then::Ack,
                effects,
            }
        );
    }
}

#[test]
fn a_skip_is_acknowledged_with_its_reason_and_no_effect() {
    let schedule = schedule();
    for (channel, _) in channels() {
        for reason in SkipReason::ALL {
            let d = delivery(channel.clone(), 1);
            let decided = decide(&d, Answer::Skipped(*reason), NOW, TOOK, rules(&schedule));
            assert_eq!(
                decided,
                Decision {
                    outcome: Outcome::Skipped(*reason),
                    attempt: made(AttemptOutcome::Skipped, None, Some(reason.as_str())),
                    then: Then::Ack,
                    effects: vec![],
                }
            );
        }
    }
}

#[test]
fn a_spent_sms_quota_skips_the_sms_and_tells_the_operational_webhook() {
    let schedule = schedule();
    let phone = Phone::parse("+14155550100").unwrap_or_else(|_| unreachable!());
    let d = delivery(Channel::Sms { to: Some(phone) }, 1);
    let (user, day) = (Uuid::from_u128(3), NOW.date());
    let decided = decide(
        &d,
        Answer::QuotaSpent {
            user,
            day,
            quota: 30,
        },
        NOW,
        TOOK,
        rules(&schedule),
    );
    assert_eq!(
        decided,
        Decision {
            outcome: Outcome::Skipped(SkipReason::QuotaExceeded),
            attempt: made(AttemptOutcome::Skipped, None, Some("quota_exceeded")),
            then: Then::Ack,
            effects: vec![Effect::Tell(Occurrence::sms_quota_exhausted(
                &org(),
                user,
                day,
                30
            ))],
        }
    );
}

#[test]
fn what_delivery_failed_tells_names_the_delivery_its_attempts_and_error() {
    let schedule = schedule();
    let d = delivery(
        Channel::Webhook {
            notification: notification(),
        },
        1,
    );
    let refused = SendError::answered(Failure::Fail, 404, None, "answered 404");
    let decided = decide(&d, Answer::Refused(refused), NOW, TOOK, rules(&schedule));
    let Some(Effect::Tell(told)) = decided.effects.last() else {
        panic!("{:?}", decided.effects);
    };
    assert_eq!(told.event, OperationalEvent::DeliveryFailed);
    assert_eq!(told.cause, format!("{}#0", d.id));
    assert_eq!(told.cause_at, d.created_at);
    assert_eq!(
        told.data,
        json!({
            "deliveryId": d.id,
            "eventId": d.event,
            "notificationId": notification(),
            "method": "webhook",
            "attempts": 1,
            "error": "answered 404",
        })
    );
    assert_eq!(timestamp::format(told.cause_at), "2026-12-07T09:59:55.000Z");
}
