//! The operational webhook hearing about Herald, on both backends: each delivery that ends
//! `failed` once, each disabling once, a recovery once, every post signed with the webhook's
//! secret (checked by the official Standard Webhooks verifier), and nothing said twice when the
//! cause comes back.

use std::collections::BTreeMap;

use shared::model::Clock;

use super::*;

/// Sets the operational webhook to `url` for `events`; its secret.
async fn set_operational_webhook(d: &DeliveryApp, url: &str, events: &[&str]) -> String {
    let res = d
        .app
        .admin(
            Method::PUT,
            &d.app.path("/operational-webhook"),
            Some(json!({"url": url, "events": events})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["data"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The operational events the receiver got, by type: each one's `data`.
fn heard(ops: &Receiver) -> BTreeMap<String, Vec<Value>> {
    let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for hit in ops.hits() {
        let body = hit.json();
        by_type
            .entry(body["type"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(body["data"].clone());
    }
    by_type
}

async fn the_operational_webhook_hears_each_failure_and_each_disabling_exactly_once(
    backend: Backend,
) {
    let d = DeliveryApp::spawn(backend).await;
    let ops = Receiver::start(&[]).await;
    let secret = set_operational_webhook(
        &d,
        &ops.url,
        &[
            "delivery.failed",
            "notification.disabled",
            "delivery.recovered",
        ],
    )
    .await;
    // A: always 500 (each delivery fails after five attempts). B: gone (410: failed, and
    // disabled). C: its first delivery fails, its second is sent (a recovery).
    let failing = Receiver::start(&[(500, None); 10]).await;
    let gone = Receiver::start(&[(410, None)]).await;
    let mut recovering = vec![(500, None); 5];
    recovering.push((200, None));
    let recovering = Receiver::start(&recovering).await;
    let a = webhook(&d, &failing.url).await;
    let b = webhook(&d, &gone.url).await;
    let c = webhook(&d, &recovering.url).await;
    let first = emitted(&d).await;
    d.pump(Duration::from_secs(20)).await;
    let second = emitted(&d).await;
    d.pump(Duration::from_secs(20)).await;

    // A message of an already failed delivery comes back (SQS repeats one): its failure is told
    // again, as the same operational delivery, which is not posted twice.
    let failed = delivery(&d, &first, &a).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    let repeat = DeliveryMessage {
        delivery: Delivery {
            status: DeliveryStatus::Queued,
            attempts: 0,
            history: Vec::new(),
            ..failed.clone()
        },
        slot: None,
    };
    d.app
        .state
        .queue
        .send(&[repeat])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    d.pump(Duration::from_secs(10)).await;

    let heard = heard(&ops);
    let ids = |kind: &str, key: &str| -> Vec<String> {
        let mut ids: Vec<String> = heard
            .get(kind)
            .map(|v| {
                v.iter()
                    .map(|d| d[key].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    };
    let mut expected_failed: Vec<String> = [
        delivery(&d, &first, &a).await.id,
        delivery(&d, &first, &b).await.id,
        delivery(&d, &first, &c).await.id,
        delivery(&d, &second, &a).await.id,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    expected_failed.sort();
    assert_eq!(
        ids("delivery.failed", "deliveryId"),
        expected_failed,
        "{heard:?}"
    );
    assert_eq!(ids("notification.disabled", "notificationId"), vec![b]);
    assert_eq!(ids("delivery.recovered", "notificationId"), vec![c]);
    assert_eq!(ops.hits().len(), 6, "nothing else, nothing twice");
    let disabled = &heard["notification.disabled"][0];
    assert_eq!(disabled["type"], "webhook");
    assert!(
        disabled["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("its target is gone: answered 410")),
        "{disabled}"
    );
    let a_failed = heard["delivery.failed"]
        .iter()
        .find(|f| f["deliveryId"] == json!(failed.id.to_string()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(a_failed["notificationId"], json!(a));
    assert_eq!(a_failed["eventId"], json!(first));
    assert_eq!(a_failed["method"], "webhook");
    assert_eq!(a_failed["attempts"], 5);
    assert_eq!(heard["delivery.recovered"][0]["failedDeliveries"], 1);

    // Every post names the organization, and is signed with the webhook's secret (and no other).
    for hit in ops.hits() {
        assert_eq!(hit.json()["organization"], json!(d.app.org));
        let stranger = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let verdicts = verify(&hit, d.clock.now(), &[&secret, stranger]);
        assert_eq!(
            verdicts,
            ["ok", "No matching signature found"],
            "{}",
            hit.json()
        );
    }
    // The operational deliveries are in the log: method webhook, their event named.
    let log = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries?limit=100"), None)
        .await;
    let operational: Vec<&Value> = log.body["data"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i.get("operationalEvent").is_some())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(operational.len(), 6, "{}", log.body);
    assert!(
        operational
            .iter()
            .all(|o| o["status"] == "sent" && o["method"] == "webhook")
    );
}

/// Another organization's failures are never told to this one's operational webhook, and an
/// organization without one queues nothing for it.
async fn an_operational_webhook_hears_only_its_own_organization(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let ops = Receiver::start(&[]).await;
    set_operational_webhook(&d, &ops.url, &["delivery.failed"]).await;
    let other =
        herald_tests::TestApp::on_state(backend, d.app.state.clone(), d.app.calls.clone()).await;
    let failing = Receiver::start(&[(400, None); 2]).await;
    let res = other
        .admin(
            Method::POST,
            &other.path("/notifications"),
            Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": failing.url}}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = other
        .admin(
            Method::POST,
            &other.path("/events"),
            Some(build_event(None)),
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    d.pump(Duration::from_secs(10)).await;
    assert_eq!(
        failing.hits().len(),
        1,
        "the other organization's delivery failed (400)"
    );
    assert_eq!(
        ops.hits().len(),
        0,
        "and this one's webhook heard nothing of it"
    );
}

/// A user's daily SMS quota spent: told once that day, however many SMS it then skips.
async fn a_spent_sms_quota_is_told_once_per_user_and_day(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let ops = Receiver::start(&[]).await;
    set_operational_webhook(&d, &ops.url, &["sms.quotaExhausted"]).await;
    let (_, user_id, _) = sms_subscriber_with_quota_1(&d).await;
    for _ in 0..3 {
        emitted(&d).await;
        d.pump(Duration::from_secs(10)).await;
    }
    let heard = heard(&ops);
    assert_eq!(heard.keys().collect::<Vec<_>>(), ["sms.quotaExhausted"]);
    let told = &heard["sms.quotaExhausted"];
    assert_eq!(told.len(), 1, "two SMS skipped, told once: {told:?}");
    assert_eq!(told[0]["userId"], json!(user_id));
    assert_eq!(told[0]["dailyQuota"], 1);
}

/// A delivery that the dead-letter pass fails is told once, even when the queue refuses the
/// first telling: the letter stays, and its next pass tells it (and a third finds it told).
async fn a_dead_lettered_delivery_is_told_once_even_if_the_queue_refuses_first(backend: Backend) {
    use herald_tests::delivery::FlakyQueue;
    let mut d = DeliveryApp::spawn(backend).await;
    let deliveries = FlakyQueue::wrap(d.app.state.queue.clone(), 0);
    d.app = d.app.restated(|state| state.with_queue(deliveries.clone()));
    let ops = Receiver::start(&[]).await;
    set_operational_webhook(&d, &ops.url, &["delivery.failed"]).await;
    let target = Receiver::start(&[]).await;
    let notification = webhook(&d, &target.url).await;
    // Its message reached the dead letters unsettled (never claimed).
    let to = shared::model::Email::parse("x@example.com").unwrap_or_else(|e| panic!("{e}"));
    let letter = DeliveryMessage {
        delivery: Delivery {
            channel: shared::model::Channel::Webhook {
                notification: shared::model::NotificationId::parse(&notification)
                    .unwrap_or_else(|e| panic!("{e}")),
            },
            ..herald_tests::queued_delivery(&org(&d), Uuid::now_v7(), to)
        },
        slot: None,
    };
    let burying = d.app.state.burying();
    let bury = || burying.bury(d.app.state.clock.now(), std::slice::from_ref(&letter));
    deliveries.fail_next(1);
    let refused = bury().await;
    assert!(
        matches!(refused[..], [Err(_)]),
        "{refused:?}: the letter stays"
    );
    let again = bury().await;
    assert!(matches!(again[..], [Ok(true)]), "{again:?}");
    let third = bury().await;
    assert!(matches!(third[..], [Ok(true)]), "{third:?}");
    d.pump(Duration::from_secs(10)).await;

    let told: Vec<Value> = ops.hits().iter().map(|h| h.json()).collect();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert_eq!(told[0]["type"], "delivery.failed");
    assert_eq!(told[0]["data"]["deliveryId"], json!(letter.delivery.id));
    assert_eq!(
        told[0]["data"]["error"],
        json!(shared::domain::deliveries::DEAD_LETTERED)
    );
    assert_eq!(
        target.received(),
        0,
        "the failed delivery itself is not sent"
    );
}

/// An event of `d`'s organization recorded, whose fan-out job then ran out of retries: its dead
/// letter drained `times` times (SQS may hand a letter over more than once).
async fn dead_fanout(d: &DeliveryApp, times: usize) -> shared::model::Event {
    let now = d.app.state.clock.now();
    let event = shared::model::Event {
        id: Uuid::now_v7(),
        organization: org(d),
        kind: shared::model::EventType::BuildCreated,
        data: json!({"appName": "Dead"}),
        idempotency_key: None,
        body_hash: "h".into(),
        created_at: now,
        fanout: shared::model::Fanout::PENDING,
        fanout_round: 0,
    };
    let created = d
        .app
        .state
        .store
        .create_event(&event, now + time::Duration::hours(24))
        .await;
    assert_eq!(created, Ok(shared::model::EventCreated::New));
    fail_fanout(d, &event, times).await;
    event
}

/// Drains `event`'s fan-out dead letter `times` times.
async fn fail_fanout(d: &DeliveryApp, event: &shared::model::Event, times: usize) {
    let letter = shared::ports::queue::FanoutMessage::first(event);
    let failing = d.app.state.failing_fanouts();
    for _ in 0..times {
        let answers = shared::workers::dead_letters::fail_fanouts(
            &failing,
            d.app.state.clock.now(),
            std::slice::from_ref(&letter),
        )
        .await;
        assert!(matches!(answers[..], [Ok(())]), "{answers:?}");
    }
}

async fn fanout_of(d: &DeliveryApp, event: Uuid) -> Value {
    let res = d
        .app
        .admin(Method::GET, &d.app.path(&format!("/events/{event}")), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["data"]["fanout"].clone()
}

/// A fan-out job that ran out of retries (its dead letter, drained twice as SQS may hand it over
/// twice): its event's fan-out is `failed`, and `event.fanoutFailed` is told once.
async fn a_fan_out_that_ran_out_of_retries_is_failed_and_told_once(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let ops = Receiver::start(&[]).await;
    set_operational_webhook(&d, &ops.url, &["event.fanoutFailed"]).await;
    let event = dead_fanout(&d, 2).await;
    d.pump(Duration::from_secs(10)).await;

    let told: Vec<Value> = ops.hits().iter().map(|h| h.json()).collect();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert_eq!(told[0]["type"], "event.fanoutFailed");
    assert_eq!(
        told[0]["data"],
        json!({"eventId": event.id, "type": "buildCreated", "deliveries": 0})
    );
    assert_eq!(
        fanout_of(&d, event.id).await,
        json!({"status": "failed", "deliveries": 0})
    );
}

/// `fanout/retry`: a failed fan-out fanned out again delivers its event once (202, then
/// `done`); a retry of a fan-out that is not `failed` is 409, of an unknown event 404, by a
/// member 403. A retried fan-out that fails again is told again (a round of its own).
async fn a_failed_fan_out_retried_delivers_once_and_anything_else_is_refused(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    webhook(&d, &receiver.url).await;
    let ops = Receiver::start(&[]).await;
    set_operational_webhook(&d, &ops.url, &["event.fanoutFailed"]).await;
    let event = dead_fanout(&d, 1).await;
    let retry = |id: String, token: Option<String>| {
        let d = &d;
        async move {
            let path = d.app.path(&format!("/events/{id}/fanout/retry"));
            match token {
                Some(token) => d.app.call(Method::POST, &path, Some(&token), None).await,
                None => d.app.admin(Method::POST, &path, None).await,
            }
        }
    };
    let (_, member) = d.app.user_with_token(&unique("member"), &["member"]).await;
    assert_error(
        &retry(event.id.to_string(), Some(member)).await,
        403,
        4003,
        None,
    );
    assert_error(
        &retry(Uuid::now_v7().to_string(), None).await,
        404,
        3001,
        None,
    );
    assert_error(&retry("not-an-id".into(), None).await, 404, 3001, None);

    let res = retry(event.id.to_string(), None).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    assert_eq!(
        res.body,
        json!({"status": true, "data": {"id": event.id, "fanout": {"status": "pending", "deliveries": 0}}})
    );
    assert_error(
        &retry(event.id.to_string(), None).await,
        409,
        3002,
        Some(&[(
            "fanout.status",
            "the event's fan-out is pending: only a failed one is retried",
        )]),
    );
    // A late letter of the first round (SQS may hand one over again) fails nothing now.
    fail_fanout(&d, &event, 1).await;
    assert_eq!(
        fanout_of(&d, event.id).await,
        json!({"status": "pending", "deliveries": 0})
    );
    // That round fails too (its job's letter, of round 1): failed again, and told again.
    let second_round = shared::model::Event {
        fanout_round: 1,
        ..event.clone()
    };
    fail_fanout(&d, &second_round, 1).await;
    assert_eq!(
        fanout_of(&d, event.id).await,
        json!({"status": "failed", "deliveries": 0})
    );
    // Retried once more, and the fault gone: delivered once, done.
    let res = retry(event.id.to_string(), None).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 1, "delivered once");
    assert_eq!(
        fanout_of(&d, event.id).await,
        json!({"status": "done", "deliveries": 1})
    );
    assert_error(
        &retry(event.id.to_string(), None).await,
        409,
        3002,
        Some(&[(
            "fanout.status",
            "the event's fan-out is done: only a failed one is retried",
        )]),
    );
    d.pump(Duration::from_secs(2)).await;
    let told: Vec<Value> = ops
        .hits()
        .iter()
        .map(|h| h.json()["type"].clone())
        .collect();
    assert_eq!(
        told,
        [json!("event.fanoutFailed"), json!("event.fanoutFailed")],
        "once per round"
    );
}

herald_tests::on_both_backends!(
    a_fan_out_that_ran_out_of_retries_is_failed_and_told_once,
    a_failed_fan_out_retried_delivers_once_and_anything_else_is_refused,
    a_dead_lettered_delivery_is_told_once_even_if_the_queue_refuses_first,
    a_spent_sms_quota_is_told_once_per_user_and_day,
    the_operational_webhook_hears_each_failure_and_each_disabling_exactly_once,
    an_operational_webhook_hears_only_its_own_organization,
);
