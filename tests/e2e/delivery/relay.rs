//! The outbox relay in-process, on moto (the embedded database has nothing to relay): a message
//! sent twice, by the request that recorded it and again by the relay (as when the relay's grace
//! period passes before the consumer took it), is delivered once.

use super::*;
use shared::workers::relay::sweep;

/// The relay's default grace period (`HERALD_RELAY_GRACE`).
const GRACE: Duration = Duration::from_secs(45);

/// A sweep by `d`'s relay as of `minutes` after `d`'s clock's now: how many messages it sent.
async fn sweep_at(d: &DeliveryApp, minutes: i64) -> Result<usize, String> {
    let state = &d.app.state;
    let at = state.clock.now() + time::Duration::minutes(minutes);
    sweep(&state.relay(), at, GRACE)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn an_event_fanned_out_by_its_request_and_again_by_the_relay_is_delivered_once() {
    let d = DeliveryApp::spawn(Backend::Moto).await;
    let receiver = Receiver::start(&[]).await;
    webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    // A minute on, before any fan-out took it: still marked, so the relay sends it again.
    assert_eq!(sweep_at(&d, 1).await, Ok(1));
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 1, "delivered once");
    let delivery = delivery_of(&d, &event).await;
    assert_eq!(
        (&delivery["status"], &delivery["attempts"]),
        (&json!("sent"), &json!(1))
    );
    // Taken by the fan-out: nothing is marked any more.
    assert_eq!(sweep_at(&d, 3).await, Ok(0));
}

#[tokio::test]
async fn a_resent_delivery_queued_by_its_request_and_again_by_the_relay_is_sent_once_more() {
    let d = DeliveryApp::spawn(Backend::Moto).await;
    let receiver = Receiver::start(&[]).await;
    webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    assert_eq!(sweep_at(&d, 1).await, Ok(0), "the fan-out took it");
    let id = delivery_of(&d, &event).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let resent = d
        .app
        .admin(
            Method::POST,
            &d.app.path(&format!("/deliveries/{id}/resend")),
            None,
        )
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{}", resent.body);
    // Queued again and still unclaimed a minute on: the relay sends its message again.
    assert_eq!(sweep_at(&d, 1).await, Ok(1));
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2, "the first send and one resend");
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    let delivery = delivery_of(&d, &event).await;
    assert_eq!(
        (&delivery["status"], &delivery["attempts"]),
        (&json!("sent"), &json!(1))
    );
    assert_eq!(sweep_at(&d, 3).await, Ok(0), "claimed: nothing marked");
}

#[tokio::test]
async fn a_keyed_test_notification_queued_by_its_request_and_again_by_the_relay_is_sent_once() {
    let d = DeliveryApp::spawn(Backend::Moto).await;
    let receiver = Receiver::start(&[]).await;
    let hook = webhook(&d, &receiver.url).await;
    let path = d.app.path(&format!("/notifications/{hook}/test"));
    let res = post_with(&d, &path, &[("idempotency-key", "t-1")], None).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    // Recorded with its key and still unclaimed a minute on: the relay sends its message again.
    assert_eq!(sweep_at(&d, 1).await, Ok(1));
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "sent once");
    assert_eq!(
        hits[0].header("webhook-id"),
        res.body["data"]["deliveryId"].as_str().unwrap_or_default()
    );
    assert_eq!(sweep_at(&d, 3).await, Ok(0), "claimed: nothing marked");
}

#[tokio::test]
async fn a_recovered_delivery_queued_by_its_request_and_again_by_the_relay_is_sent_once_more() {
    let d = DeliveryApp::spawn(Backend::Moto).await;
    let receiver = Receiver::start(&[(400, None)]).await;
    let notification = webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    assert_eq!(delivery_of(&d, &event).await["status"], "failed");
    let since =
        shared::model::timestamp::format(d.app.state.clock.now() - time::Duration::hours(1));
    let res = d
        .app
        .admin(
            Method::POST,
            &d.app
                .path(&format!("/notifications/{notification}/recover")),
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    assert_eq!(res.body["data"]["queued"], 1);
    // Queued again and still unclaimed a minute on: the relay sends its message again.
    assert_eq!(sweep_at(&d, 1).await, Ok(1));
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2, "the failed attempt and one recovered send");
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    assert_eq!(delivery_of(&d, &event).await["status"], "sent");
    assert_eq!(sweep_at(&d, 3).await, Ok(0), "claimed: nothing marked");
}
