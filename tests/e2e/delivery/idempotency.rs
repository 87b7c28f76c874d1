//! The `Idempotency-Key` header on both backends: on `POST …/events` the same key as the body's
//! `idempotencyKey`, and every way it can be broken; on both test-notification routes, one test
//! per key.

use super::*;

/// Emits `body` as the admin with these extra headers.
async fn emit_with(
    d: &DeliveryApp,
    headers: &[(&str, &str)],
    body: Value,
) -> herald_tests::Response {
    post_with(d, &d.app.path("/events"), headers, Some(body)).await
}

async fn the_idempotency_key_header_is_the_body_key(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    webhook(&d, &receiver.url).await;
    let first = emit_with(&d, &[("idempotency-key", "build-42")], build_event(None)).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 1);

    // The header again, the body's key, or both agreeing: the first event, nothing sent.
    for (headers, key) in [
        (&[("Idempotency-Key", "build-42")][..], None),
        (&[][..], Some("build-42")),
        (&[("idempotency-key", "build-42")][..], Some("build-42")),
    ] {
        let again = emit_with(&d, headers, build_event(key)).await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
        assert_eq!(
            again.body["data"], first.body["data"],
            "{headers:?} {key:?}"
        );
    }
    // Another body under the key: 422, as with the body's key.
    let reused = emit_with(
        &d,
        &[("idempotency-key", "build-42")],
        json!({"type": "buildProcessed", "data": {}}),
    )
    .await;
    assert_error(&reused, 422, 1003, None);
    d.pump(Duration::from_secs(1)).await;
    assert_eq!(receiver.hits().len(), 1, "nothing more was sent");
}

/// Header or detail pairs: (name, value) or (field, message).
type Headers<'a> = Vec<(&'a str, &'a str)>;

async fn a_broken_idempotency_key_is_refused_and_records_nothing(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    webhook(&d, &receiver.url).await;
    let long = "k".repeat(256);
    let cases: Vec<(Headers, Value, Headers)> = vec![
        (
            vec![("idempotency-key", long.as_str())],
            build_event(None),
            vec![("Idempotency-Key", "must be at most 255 characters")],
        ),
        (
            vec![("idempotency-key", "tab\there")],
            build_event(None),
            vec![(
                "Idempotency-Key",
                "must be printable ASCII (no control or non-ASCII characters)",
            )],
        ),
        (
            vec![],
            build_event(Some("bell\u{7}here")),
            vec![(
                "idempotencyKey",
                "must be printable ASCII (no control or non-ASCII characters)",
            )],
        ),
        (
            vec![],
            build_event(Some(&long)),
            vec![("idempotencyKey", "must be at most 255 characters")],
        ),
        (
            vec![("idempotency-key", "a")],
            build_event(Some("b")),
            vec![
                ("idempotencyKey", "differs from the Idempotency-Key header"),
                ("Idempotency-Key", "differs from the body's idempotencyKey"),
            ],
        ),
        (
            vec![("idempotency-key", "a"), ("idempotency-key", "a")],
            build_event(None),
            vec![("Idempotency-Key", "must be given once")],
        ),
        (
            vec![("idempotency-key", "")],
            json!({"type": "nope"}),
            vec![
                (
                    "type",
                    "must be one of buildCreated, buildProcessed, feedbackCreated, certificateWillExpire, applePushRenovation, emmEnrollmentCreated, emmDeviceCreated, emmDeviceChangedMdmUser, admEnrollmentCreated, admDeviceCreated, admDeviceChangedMdmUser, winEnrollmentCreated, winDeviceCreated, winDeviceChangedMdmUser, inventoryItemRegistered",
                ),
                ("Idempotency-Key", "must not be empty"),
            ],
        ),
    ];
    for (headers, body, details) in cases {
        let res = emit_with(&d, &headers, body).await;
        assert_error(&res, 400, 1001, Some(&details));
    }
    d.pump(Duration::from_secs(1)).await;
    assert_eq!(receiver.hits().len(), 0, "no event was recorded");
    let log = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries"), None)
        .await;
    assert_eq!(log.body["data"]["items"], json!([]), "{}", log.body);
}

/// Both test-notification routes take the header: a repeat answers the first test and sends
/// nothing more; a request without it, or with another key, is a new test; a broken key is a
/// 400 that queues nothing.
async fn a_test_notification_is_sent_once_per_idempotency_key(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let hook = webhook(&d, &receiver.url).await;
    let path = d.app.path(&format!("/notifications/{hook}/test"));
    let first = post_with(&d, &path, &[("idempotency-key", "test-1")], None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let again = post_with(&d, &path, &[("idempotency-key", "test-1")], None).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body, first.body, "the first test's delivery");
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 1, "sent once");
    let id = first.body["data"]["deliveryId"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(receiver.hits()[0].header("webhook-id"), id);
    for other in [&[("idempotency-key", "test-2")][..], &[][..]] {
        let res = post_with(&d, &path, other, None).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
        assert_ne!(
            res.body["data"]["deliveryId"],
            first.body["data"]["deliveryId"]
        );
    }
    let res = post_with(&d, &path, &[("idempotency-key", "tab\there")], None).await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[(
            "Idempotency-Key",
            "must be printable ASCII (no control or non-ASCII characters)",
        )]),
    );
    d.pump(PUMP).await;
    assert_eq!(
        receiver.hits().len(),
        3,
        "the two new tests, nothing for the refused one"
    );

    // The admin API's test notification: the admin's email, once per key.
    for _ in 0..2 {
        let res = post_with(
            &d,
            "/api/v2/notifications/test",
            &[("idempotency-key", "seed-1")],
            None,
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    d.pump(PUMP).await;
    let email = my_email(&d).await;
    assert_eq!(
        sent_to(&d, backend, &email).await,
        [(email.clone(), "Test Notification".to_owned())]
    );
    let res = post_with(
        &d,
        "/api/v2/notifications/test",
        &[("idempotency-key", "a"), ("idempotency-key", "b")],
        None,
    )
    .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("Idempotency-Key", "must be given once")]),
    );
}

/// The queue refuses a keyed test notification: 503, and the key is free again, so the retry
/// with the same key is sent (once).
async fn a_test_the_queue_refused_frees_its_key_for_the_retry(backend: Backend) {
    use herald_tests::delivery::FlakyQueue;
    let mut d = DeliveryApp::spawn(backend).await;
    let deliveries = FlakyQueue::wrap(d.app.state.queue.clone(), 0);
    d.app = d.app.restated(|state| state.with_queue(deliveries.clone()));
    let receiver = Receiver::start(&[]).await;
    let hook = webhook(&d, &receiver.url).await;
    let path = d.app.path(&format!("/notifications/{hook}/test"));
    deliveries.fail_next(1);
    let refused = post_with(&d, &path, &[("idempotency-key", "retry-me")], None).await;
    assert_error(&refused, 503, 5003, None);
    let retried = post_with(&d, &path, &[("idempotency-key", "retry-me")], None).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        json!(hits[0].header("webhook-id")),
        retried.body["data"]["deliveryId"]
    );
}

herald_tests::on_both_backends!(
    a_test_the_queue_refused_frees_its_key_for_the_retry,
    the_idempotency_key_header_is_the_body_key,
    a_broken_idempotency_key_is_refused_and_records_nothing,
    a_test_notification_is_sent_once_per_idempotency_key,
);
