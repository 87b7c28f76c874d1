//! Automatic disabling, on both backends: a webhook whose deliveries all fail for
//! `HERALD_DISABLE_AFTER` (5 days here, the default; the sender's clock is moved on) and at least
//! 10 of them is disabled with its reason, takes no more deliveries, and is enabled again by an
//! update; a delivery sent in between ends the streak.

use super::*;

/// Emits `n` events and pumps until their deliveries are settled.
async fn emit_and_settle(d: &DeliveryApp, n: usize) {
    for _ in 0..n {
        emitted(d).await;
    }
    d.pump(PUMP).await;
}

async fn streak(d: &DeliveryApp, id: &str) -> Option<u32> {
    let id = shared::model::NotificationId::parse(id).unwrap_or_else(|e| panic!("{e}"));
    d.app
        .state
        .store
        .get_notification(&org(d), &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("notification {id}"))
        .failing
        .map(|s| s.failed)
}

const DAYS_5: Duration = Duration::from_secs(5 * 86_400 + 60);

async fn a_webhook_failing_for_five_days_is_disabled_until_it_is_updated(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[(500, None); 100]).await;
    let id = webhook(&d, &receiver.url).await;
    // The operational webhook hears of the disabling once.
    let ops = Receiver::start(&[]).await;
    let res = d
        .app
        .admin(
            Method::PUT,
            &d.app.path("/operational-webhook"),
            Some(json!({"url": ops.url, "events": ["notification.disabled"]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);

    // Five failed deliveries, then five days, then four more: nine, not yet ten.
    emit_and_settle(&d, 5).await;
    assert_eq!(streak(&d, &id).await, Some(5));
    d.clock.advance(DAYS_5);
    emit_and_settle(&d, 4).await;
    assert_eq!(notification_view(&d, &id).await["enabled"], true);
    assert_eq!(streak(&d, &id).await, Some(9));

    // The tenth, over five days after the first: disabled, with its reason.
    emit_and_settle(&d, 1).await;
    let disabled = notification_view(&d, &id).await;
    assert_eq!(disabled["enabled"], false, "{disabled}");
    let reason = disabled["disabledReason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("its 10 deliveries since ") && reason.ends_with(" all failed"),
        "{reason}"
    );
    assert_eq!(
        receiver.hits().len(),
        50,
        "ten deliveries, five attempts each"
    );
    let told: Vec<Value> = ops.hits().iter().map(|h| h.json()).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["type"], "notification.disabled");
    assert_eq!(told[0]["data"]["notificationId"], json!(id));
    assert_eq!(told[0]["data"]["reason"], json!(reason));

    // Disabled: the fan-out passes it by; nothing is queued or sent.
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    assert_eq!(delivery_of(&d, &event).await, Value::Null);
    assert_eq!(receiver.hits().len(), 50);

    // An update enables it again and forgets the streak: one more failure does not disable it.
    let res = d
        .app
        .admin(
            Method::PATCH,
            &d.app.path(&format!("/notifications/{id}")),
            Some(json!({"description": "back"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["data"]["enabled"], true);
    assert_eq!(res.body["data"].get("disabledReason"), None);
    emit_and_settle(&d, 1).await;
    assert_eq!(notification_view(&d, &id).await["enabled"], true);
    assert_eq!(streak(&d, &id).await, Some(1));
}

async fn a_sent_delivery_ends_the_failure_streak(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    // Nine deliveries fail (five attempts each), one is sent, then five more fail.
    let mut script = vec![(500, None); 45];
    script.push((200, None));
    script.extend([(500, None); 25]);
    let receiver = Receiver::start(&script).await;
    let id = webhook(&d, &receiver.url).await;
    emit_and_settle(&d, 9).await;
    assert_eq!(streak(&d, &id).await, Some(9));
    emit_and_settle(&d, 1).await;
    assert_eq!(streak(&d, &id).await, None, "the sent delivery ended it");
    d.clock.advance(DAYS_5);
    emit_and_settle(&d, 5).await;
    assert_eq!(receiver.hits().len(), 71);
    assert_eq!(streak(&d, &id).await, Some(5));
    assert_eq!(
        notification_view(&d, &id).await["enabled"],
        true,
        "5 since the sent one, not 14"
    );
}

herald_tests::on_both_backends!(
    a_webhook_failing_for_five_days_is_disabled_until_it_is_updated,
    a_sent_delivery_ends_the_failure_streak,
);

/// What failure tracking costs on DynamoDB (moto, counted): a failed delivery's batch adds one
/// GetItem and one PutItem of its notification (and one GetItem of the operational webhook); a
/// sent delivery adds nothing, unless it ends a streak (then the same three calls, once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_tracking_adds_two_calls_per_failing_batch_and_none_when_healthy() {
    let d = DeliveryApp::spawn(Backend::Moto).await;
    let receiver = Receiver::start(&[(500, None); 5]).await;
    webhook(&d, &receiver.url).await;
    let count = |calls: &[String], op: &str| calls.iter().filter(|c| *c == op).count();
    d.app.calls.take();

    // One delivery failing five attempts (five batches); the last settles it failed.
    emit_and_settle(&d, 1).await;
    let failing = d.app.calls.take();
    // Then one sent (it ends the streak), then one sent with no streak.
    emit_and_settle(&d, 1).await;
    let ending = d.app.calls.take();
    emit_and_settle(&d, 1).await;
    let healthy = d.app.calls.take();

    assert_eq!(count(&failing, "PutItem"), 1, "{failing:?}");
    assert_eq!(count(&ending, "PutItem"), 1, "{ending:?}");
    assert_eq!(count(&healthy, "PutItem"), 0, "{healthy:?}");
    // The healthy delivery's calls are the sender's own (claim, settle, batch reads) and the
    // fan-out's; the one that ended a streak took one GetItem and one PutItem of the
    // notification more, and one GetItem of the operational webhook (to tell of the recovery).
    assert_eq!(
        (ending.len(), count(&ending, "GetItem")),
        (healthy.len() + 3, count(&healthy, "GetItem") + 2),
        "ending {ending:?}, healthy {healthy:?}"
    );
    eprintln!("failing: {failing:?}\nending: {ending:?}\nhealthy: {healthy:?}");
}
