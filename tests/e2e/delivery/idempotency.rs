//! The `Idempotency-Key` header on `POST …/events`, on both backends: the same key as the
//! body's `idempotencyKey`, and every way it can be broken.

use super::*;

/// Emits `body` as the admin with these extra headers.
async fn emit_with(
    d: &DeliveryApp,
    headers: &[(&str, &str)],
    body: Value,
) -> herald_tests::Response {
    let auth = format!("Bearer {}", d.app.admin_token);
    let mut all = vec![
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    all.extend_from_slice(headers);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    d.app
        .raw(Method::POST, &d.app.path("/events"), &all, bytes)
        .await
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

herald_tests::on_both_backends!(
    the_idempotency_key_header_is_the_body_key,
    a_broken_idempotency_key_is_refused_and_records_nothing,
);
