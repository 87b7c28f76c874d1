//! An operator's routes on the delivery log, end to end on both backends: resend one delivery,
//! recover a notification's failed ones, each attempt kept in the delivery's history, and the
//! deliveries of dead-lettered messages made `failed` and recoverable.

use super::*;
use herald_tests::TestApp;

async fn resend(d: &DeliveryApp, id: &str) -> herald_tests::Response {
    d.app
        .admin(
            Method::POST,
            &d.app.path(&format!("/deliveries/{id}/resend")),
            None,
        )
        .await
}

async fn recover(d: &DeliveryApp, notification: &str, body: Value) -> herald_tests::Response {
    d.app
        .admin(
            Method::POST,
            &d.app
                .path(&format!("/notifications/{notification}/recover")),
            Some(body),
        )
        .await
}

/// An attempt of a history without its time and duration (which vary): outcome, status, error.
fn attempt(a: &Value) -> (Value, Value, Value) {
    assert!(a["at"].is_string() && a["durationMs"].is_u64(), "{a}");
    (
        a["outcome"].clone(),
        a["statusCode"].clone(),
        a["error"].clone(),
    )
}

async fn a_failed_delivery_is_resent_once_with_the_same_webhook_id_and_its_history_kept(
    backend: Backend,
) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[(400, None)]).await;
    webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let failed = delivery_of(&d, &event).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let history = failed["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        history.iter().map(attempt).collect::<Vec<_>>(),
        [(json!("failed"), json!(400), json!("answered 400"))]
    );
    let id = failed["id"].as_str().unwrap_or_default().to_owned();

    // A member may not; an unknown id, and another organization's, are 404.
    let (_, member) = d.app.user_with_token(&unique("member"), &["member"]).await;
    let path = d.app.path(&format!("/deliveries/{id}/resend"));
    let res = d.app.call(Method::POST, &path, Some(&member), None).await;
    assert_error(&res, 403, 4003, None);
    assert_error(
        &resend(&d, &Uuid::now_v7().to_string()).await,
        404,
        3001,
        None,
    );
    let other = TestApp::on_state(backend, d.app.state.clone(), d.app.calls.clone()).await;
    let res = other
        .admin(
            Method::POST,
            &other.path(&format!("/deliveries/{id}/resend")),
            None,
        )
        .await;
    assert_error(&res, 404, 3001, None);
    assert_eq!(receiver.received(), 1, "nothing refused was queued");

    let res = resend(&d, &id).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    assert_eq!(
        res.body,
        json!({"status": true, "data": {"id": id, "status": "queued"}})
    );
    // Queued now: a second resend is 409, and queues nothing.
    let again = resend(&d, &id).await;
    assert_error(
        &again,
        409,
        3002,
        Some(&[(
            "status",
            "the delivery is queued: only failed or sent deliveries are resent",
        )]),
    );
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2, "sent once more, once");
    assert_eq!(hits[0].header("webhook-id"), id);
    assert_eq!(hits[1].header("webhook-id"), id, "the same webhook-id");
    assert_eq!(hits[1].body, hits[0].body, "the same content");
    let sent = delivery_of(&d, &event).await;
    assert_eq!(
        (&sent["status"], &sent["attempts"]),
        (&json!("sent"), &json!(1))
    );
    let history = sent["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        history.iter().map(attempt).collect::<Vec<_>>(),
        [
            (json!("failed"), json!(400), json!("answered 400")),
            (json!("sent"), json!(200), Value::Null),
        ]
    );
    // A sent delivery may be resent too; the event and the single delivery show the history.
    let res = resend(&d, &id).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    d.pump(PUMP).await;
    assert_eq!(receiver.received(), 3);
    let one = d
        .app
        .admin(Method::GET, &d.app.path(&format!("/deliveries/{id}")), None)
        .await;
    assert_eq!(
        one.body["data"]["history"].as_array().map(Vec::len),
        Some(3)
    );
    let shown = d
        .app
        .admin(Method::GET, &d.app.path(&format!("/events/{event}")), None)
        .await;
    assert_eq!(
        shown.body["data"]["deliveries"]["items"][0]["history"],
        one.body["data"]["history"]
    );
}

async fn recover_queues_each_failed_delivery_of_the_notification_and_window_once(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[(400, None), (400, None), (400, None)]).await;
    let notification = webhook(&d, &receiver.url).await;
    for _ in 0..3 {
        emitted(&d).await;
    }
    d.pump(PUMP).await;
    assert_eq!(receiver.received(), 3);
    // Another notification's failed delivery is not this one's to recover.
    let elsewhere = Receiver::start(&[(400, None)]).await;
    webhook(&d, &elsewhere.url).await;
    let late = emitted(&d).await;
    d.pump(PUMP).await;
    assert_eq!(elsewhere.received(), 1);
    assert_eq!(receiver.received(), 4, "the fourth event went to both");
    let now = d.app.state.clock.now();
    let at = |t: time::OffsetDateTime| shared::model::timestamp::format(t);
    let since = at(now - time::Duration::hours(1));

    // Broken windows: 400 naming each broken field, nothing queued.
    for (body, details) in [
        (json!({}), vec![("since", "is required")]),
        (
            json!({"since": "yesterday", "until": 3, "other": true}),
            vec![
                ("other", "is not a known field"),
                (
                    "since",
                    "must be an RFC 3339 timestamp such as 2019-01-28T16:57:42.293Z",
                ),
                ("until", "must be a string"),
            ],
        ),
        (
            json!({"since": at(now - time::Duration::days(15))}),
            vec![("since", "must be at most 14 days back")],
        ),
        (
            json!({"since": at(now + time::Duration::hours(1)), "until": at(now + time::Duration::hours(2))}),
            vec![
                ("since", "must not be in the future"),
                ("until", "must not be in the future"),
            ],
        ),
        (
            json!({"since": since, "until": at(now - time::Duration::hours(2))}),
            vec![("since", "must not be after until")],
        ),
    ] {
        let res = recover(&d, &notification, body.clone()).await;
        assert_error(&res, 400, 1001, Some(&details));
    }
    let (_, member) = d.app.user_with_token(&unique("member"), &["member"]).await;
    let res = d
        .app
        .call(
            Method::POST,
            &d.app
                .path(&format!("/notifications/{notification}/recover")),
            Some(&member),
            Some(json!({"since": since})),
        )
        .await;
    assert_error(&res, 403, 4003, None);
    let res = recover(&d, "5f1e2d3c4b5a6978879600ff", json!({"since": since})).await;
    assert_error(&res, 404, 3001, None);
    assert_eq!(receiver.received(), 4, "nothing refused was queued");

    // Two recovers at once: each failed delivery is queued by one of them.
    let (first, second) = tokio::join!(
        recover(&d, &notification, json!({"since": since})),
        recover(&d, &notification, json!({"since": since}))
    );
    for res in [&first, &second] {
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
        assert_eq!(res.body["data"]["more"], false);
    }
    let queued: Vec<u64> = [&first, &second]
        .iter()
        .map(|r| r.body["data"]["queued"].as_u64().unwrap_or(99))
        .collect();
    assert_eq!(queued.iter().sum::<u64>(), 3, "{queued:?}");
    d.pump(PUMP).await;
    let mut ids: Vec<String> = receiver
        .hits()
        .iter()
        .map(|h| h.header("webhook-id"))
        .collect();
    ids.sort();
    assert_eq!(
        ids.len(),
        7,
        "three failed ones once more, each once: {ids:?}"
    );
    ids.dedup();
    assert_eq!(ids.len(), 4, "the same webhook-ids");
    assert_eq!(
        elsewhere.received(),
        1,
        "the other notification's stays failed"
    );
    let log = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/deliveries?eventId={late}")),
            None,
        )
        .await;
    let mut statuses: Vec<(bool, Value)> = log.body["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| {
            (
                i["notificationId"] == notification.as_str(),
                i["status"].clone(),
            )
        })
        .collect();
    statuses.sort_by_key(|(here, _)| *here);
    assert_eq!(
        statuses,
        [(false, json!("failed")), (true, json!("sent"))],
        "the late event: failed at the other notification, sent here"
    );
    // Nothing failed is left: a third recover queues nothing.
    let res = recover(&d, &notification, json!({"since": since})).await;
    assert_eq!(
        res.body,
        json!({"status": true, "data": {"queued": 0, "more": false}})
    );
}

async fn a_dead_lettered_delivery_becomes_failed_and_recover_sends_it(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let notification = webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    // Its message dies unhandled (received five times by senders that never settled it): the
    // fan-out's message, taken off the queue as the redrive would.
    let fanned = take_delivery(&d, &event).await;
    let answers = d
        .app
        .state
        .burying()
        .bury(d.app.state.clock.now(), &fanned)
        .await;
    assert_eq!(
        answers.iter().map(|a| a.is_ok()).collect::<Vec<_>>(),
        [true]
    );
    assert!(matches!(answers[0], Ok(true)));
    let dead = delivery_of(&d, &event).await;
    assert_eq!(
        (&dead["status"], &dead["lastError"]),
        (
            &json!("failed"),
            &json!(shared::domain::deliveries::DEAD_LETTERED)
        )
    );
    // Buried again (the dead-letter queue repeats a message): nothing changes.
    let again = d
        .app
        .state
        .burying()
        .bury(d.app.state.clock.now(), &fanned)
        .await;
    assert!(matches!(again[..], [Ok(true)]));
    assert_eq!(delivery_of(&d, &event).await, dead);
    let since =
        shared::model::timestamp::format(d.app.state.clock.now() - time::Duration::hours(1));
    let res = recover(&d, &notification, json!({"since": since})).await;
    assert_eq!(res.body["data"]["queued"], 1, "{}", res.body);
    d.pump(PUMP).await;
    assert_eq!(receiver.received(), 1, "sent once, when recovered");
    assert_eq!(delivery_of(&d, &event).await["status"], "sent");
}

/// Runs the fan-out of `event` and takes its one delivery message off the delivery queue. Where
/// emitting made the event's webhook delivery itself (the embedded database), there is no fan-out
/// job to run.
async fn take_delivery(d: &DeliveryApp, event: &str) -> Vec<DeliveryMessage> {
    let state = &d.app.state;
    let fanned = shared::ports::queue::consume(&*state.fanout, d.visibility, |batch| {
        shared::workers::fanout::process_batch(state.fanout_worker(), batch)
    })
    .await;
    let jobs = match state.intake.makes_deliveries() {
        true => 0,
        false => 1,
    };
    assert_eq!(parse_ok(fanned).len(), jobs);
    let mut taken = Vec::new();
    for _ in 0..20 {
        taken = parse_ok(state.queue.receive(10, d.visibility).await);
        if !taken.is_empty() {
            break;
        }
    }
    let receipts: Vec<String> = taken.iter().map(|r| r.receipt.clone()).collect();
    parse_ok(state.queue.ack_all(&receipts).await);
    let messages: Vec<DeliveryMessage> = taken.into_iter().map(|r| r.message).collect();
    assert_eq!(
        messages
            .iter()
            .map(|m| m.delivery.event.map(|e| e.to_string()))
            .collect::<Vec<_>>(),
        [Some(event.to_owned())]
    );
    messages
}

fn parse_ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

herald_tests::on_both_backends!(
    a_failed_delivery_is_resent_once_with_the_same_webhook_id_and_its_history_kept,
    recover_queues_each_failed_delivery_of_the_notification_and_window_once,
    a_dead_lettered_delivery_becomes_failed_and_recover_sends_it
);
