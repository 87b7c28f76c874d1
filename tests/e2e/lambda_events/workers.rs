//! The sample events of the functions a queue or a schedule invokes (quota-reset, relay,
//! fan-out, sender, dead-letters, fanout-dead-letters), each fed through its handler.

use std::sync::Arc;

use serde_json::Value;
use shared::app::AppState;
use shared::model::{Clock, DeliveryStatus, OrgId, SystemClock};

use super::{
    At, DEAD_DELIVERY, EMAIL_NOTIFICATION, EVENT, NOTIFICATION, ORG, USER, events_dir, parse,
    sample_event, seeded_state,
};
use herald_tests::test_config;

#[tokio::test]
async fn the_quota_reset_sample_event_closes_the_day_that_ended() {
    let state = seeded_state().await;
    let org = parse(OrgId::parse(ORG));
    let user: uuid::Uuid = parse(USER.parse());
    let yesterday = time::macros::date!(2026 - 11 - 23);
    for _ in 0..3 {
        assert_eq!(
            state.store.take_sms(&org, user, yesterday, 30).await,
            Ok(true)
        );
    }
    let raw = parse(std::fs::read_to_string(
        events_dir().join("quota-reset.json"),
    ));
    let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
        parse(serde_json::from_str(&raw));
    let clock = At(time::macros::datetime!(2026-11-24 00:00:03 UTC));
    let invocation = lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default());
    let report = functions::quota_reset(&*state.store, &clock, invocation).await;
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.closed_days, ["2026-11-23"]);
    assert_eq!((report.summaries_recorded, report.counters_removed), (1, 1));
    let usage = parse(state.store.sms_usage(&org, yesterday).await);
    assert_eq!(usage.map(|u| (u.sent, u.users)), Some((3, 1)));
}

/// The relay's sample (its schedule's event), on moto (the embedded database has no outbox): an
/// event recorded two minutes ago whose fan-out message never went out is fanned out by it, and
/// once only.
#[tokio::test]
async fn the_relay_sample_event_sends_the_fan_out_message_an_event_recorded_long_ago_lacks() {
    let (backends, _) = herald_tests::new_backends(herald_tests::Backend::Moto).await;
    let state = AppState::new(test_config("http://127.0.0.1:9".into()), backends);
    let now = SystemClock.now();
    let event = shared::model::Event {
        created_at: now - time::Duration::minutes(2),
        ..sample_event()
    };
    // Recorded as the emitting function records it, which then died before its SQS send.
    assert_eq!(
        state
            .store
            .create_event(&event, now + time::Duration::hours(24))
            .await,
        Ok(shared::model::EventCreated::New)
    );
    let raw = parse(std::fs::read_to_string(events_dir().join("relay.json")));
    let schedule: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
        parse(serde_json::from_str(&raw));
    let invocation =
        || lambda_runtime::LambdaEvent::new(schedule.clone(), lambda_runtime::Context::default());
    let answer = functions::relay(&state, invocation()).await;
    assert_eq!(
        answer.unwrap_or_else(|e| panic!("{e}")),
        serde_json::json!({"sent": 1})
    );
    let queued = parse(
        state
            .fanout
            .receive(10, std::time::Duration::from_secs(30))
            .await,
    );
    let jobs: Vec<_> = queued.iter().map(|r| r.message.clone()).collect();
    assert_eq!(jobs, [shared::ports::queue::FanoutMessage::first(&event)]);
    // Marked again as of this sweep: the next sweep, a minute later, leaves it to the grace period.
    let again = functions::relay(&state, invocation()).await;
    assert_eq!(
        again.unwrap_or_else(|e| panic!("{e}")),
        serde_json::json!({"sent": 0})
    );
}

fn sqs_event(name: &str) -> lambda_runtime::LambdaEvent<aws_lambda_events::sqs::SqsEvent> {
    let raw = parse(std::fs::read_to_string(
        events_dir().join(format!("{name}.json")),
    ));
    let event: aws_lambda_events::sqs::SqsEvent = parse(serde_json::from_str(&raw));
    lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default())
}

fn failures(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn the_fan_out_sample_event_queues_one_delivery_per_target() {
    let state = seeded_state().await;
    let event = sample_event();
    let response = functions::fan_out(&state, sqs_event("fan-out")).await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failures(&response), Vec::<String>::new());
    // The webhook notification and the email notification's one recipient.
    let queued = parse(
        state
            .queue
            .receive(10, std::time::Duration::from_secs(30))
            .await,
    );
    let mut ids: Vec<uuid::Uuid> = queued.iter().map(|r| r.message.delivery.id).collect();
    ids.sort();
    let mut expected = vec![
        uuid::Uuid::new_v5(&event.id, NOTIFICATION.as_bytes()),
        uuid::Uuid::new_v5(&event.id, format!("{EMAIL_NOTIFICATION}/{USER}").as_bytes()),
    ];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn the_sender_sample_event_sends_its_delivery_and_reports_the_unreadable_record() {
    let state = seeded_state().await;
    let org = parse(OrgId::parse(ORG));
    let id: uuid::Uuid = parse("01890a5e-0000-7000-8000-0000000d0001".parse());
    let created_at = parse(shared::model::timestamp::parse("2026-11-16T12:00:00.000Z"));
    assert_eq!(
        state.store.get_delivery(&org, created_at, id).await,
        Ok(None),
        "the message is the delivery until it is claimed"
    );
    let outbox = Arc::new(shared::adapters::mail::outbox::Outbox::new());
    let transports = parse(state.transports(outbox.clone()));
    // As the sender function runs it: the batch its event source mapping received.
    let inbox = shared::adapters::inbox::QueueInbox {
        queue: state.queue.clone(),
        store: state.store.clone(),
        ack: false,
    };
    let response = functions::send(&state, &transports, &inbox, sqs_event("sender")).await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        failures(&response),
        ["sender-message-2"],
        "the unreadable one"
    );
    let sent = outbox.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject.as_deref(), Some("Testbenachrichtigung"));
    let after = parse(state.store.get_delivery(&org, created_at, id).await);
    assert_eq!(
        after.map(|d| (d.status, d.attempts)),
        Some((shared::model::DeliveryStatus::Sent, 1))
    );
}

#[tokio::test]
async fn the_dead_letters_sample_event_marks_its_delivery_failed() {
    let state = seeded_state().await;
    let org = parse(OrgId::parse(ORG));
    let id: uuid::Uuid = parse(DEAD_DELIVERY.parse());
    assert_eq!(parse(state.store.find_delivery(&org, id).await), None);
    let response = functions::dead_letters(&state, sqs_event("dead-letters")).await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failures(&response), Vec::<String>::new());
    let after = parse(state.store.find_delivery(&org, id).await);
    assert_eq!(
        after.map(|d| (d.status, d.last_error)),
        Some((
            DeliveryStatus::Failed,
            Some(shared::domain::deliveries::DEAD_LETTERED.to_owned())
        ))
    );
    // Handled again (SQS repeats a message): nothing changes, and the message goes.
    let again = functions::dead_letters(&state, sqs_event("dead-letters")).await;
    assert_eq!(
        again
            .map(|r| failures(&r))
            .unwrap_or_else(|e| panic!("{e}")),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_fanout_dead_letters_sample_event_records_its_events_fan_out_failed() {
    use shared::model::{Fanout, FanoutStatus};
    let state = seeded_state().await;
    let org = parse(OrgId::parse(ORG));
    let event: uuid::Uuid = parse(EVENT.parse());
    let fanout = async || parse(state.store.get_event(&org, event).await).map(|e| e.fanout);
    assert_eq!(fanout().await, Some(Fanout::PENDING));
    let response = functions::fanout_dead_letters(&state, sqs_event("fanout-dead-letters")).await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failures(&response), Vec::<String>::new());
    let failed = Fanout {
        status: FanoutStatus::Failed,
        deliveries: 0,
    };
    assert_eq!(fanout().await, Some(failed));
    // Handled again (SQS repeats a message): the same, and the letter goes.
    let again = functions::fanout_dead_letters(&state, sqs_event("fanout-dead-letters")).await;
    assert_eq!(
        again
            .map(|r| failures(&r))
            .unwrap_or_else(|e| panic!("{e}")),
        Vec::<String>::new()
    );
    assert_eq!(fanout().await, Some(failed));
}
