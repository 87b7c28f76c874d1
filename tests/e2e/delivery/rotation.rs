//! Rotating a webhook's signing secret, on both backends, with every signature checked by the
//! official Standard Webhooks verifier (Python `standardwebhooks`): during the 24-hour overlap
//! receivers holding the old secret and the new one both verify; a second rotation keeps only
//! the last two; after the overlap only the newest verifies. And what cannot be rotated.

use herald_tests::delivery::Hit;

use super::*;

async fn rotate(d: &DeliveryApp, notification: &str) -> herald_tests::Response {
    d.app
        .admin(
            Method::POST,
            &d.app
                .path(&format!("/notifications/{notification}/secret/rotate")),
            None,
        )
        .await
}

async fn token(d: &DeliveryApp, notification: &str) -> String {
    notification_view(d, notification).await["config"]["webhook"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Emits an event and pumps until the receiver has one more request: that request.
async fn next_delivery(d: &DeliveryApp, receiver: &Receiver) -> Hit {
    let before = receiver.hits().len();
    emitted(d).await;
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), before + 1);
    hits[before].clone()
}

const STRANGER: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn during_a_rotation_the_old_and_the_new_secret_both_verify(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let notification = webhook(&d, &receiver.url).await;
    let first = token(&d, &notification).await;

    let before = d.app.state.clock.now();
    let rotated = rotate(&d, &notification).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["status"], true);
    let second = rotated.body["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        second.starts_with("whsec_") && second.len() == 50,
        "{second}"
    );
    assert_ne!(second, first);
    let until = time::OffsetDateTime::parse(
        rotated.body["data"]["previousValidUntil"]
            .as_str()
            .unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap_or_else(|e| panic!("{e}: {}", rotated.body));
    let overlap = until - before;
    assert!(
        overlap >= time::Duration::hours(24)
            && overlap < time::Duration::hours(24) + time::Duration::seconds(5),
        "{overlap}"
    );
    // The resource shows the new secret; the old one is never shown again.
    assert_eq!(token(&d, &notification).await, second);
    let shown = notification_view(&d, &notification).await;
    assert!(!shown.to_string().contains(&first), "{shown}");

    // During the overlap: two signatures, each receiver verifies; a stranger does not.
    let hit = next_delivery(&d, &receiver).await;
    assert_eq!(hit.header("webhook-signature").matches("v1,").count(), 2);
    let now = d.app.state.clock.now();
    assert_eq!(
        verify(&hit, now, &[&first, &second, STRANGER]),
        ["ok", "ok", "No matching signature found"]
    );

    // A second rotation within the overlap: the last two secrets sign, the first no more.
    let third = rotate(&d, &notification).await.body["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let hit = next_delivery(&d, &receiver).await;
    assert_eq!(hit.header("webhook-signature").matches("v1,").count(), 2);
    assert_eq!(
        verify(&hit, d.app.state.clock.now(), &[&first, &second, &third]),
        ["No matching signature found", "ok", "ok"]
    );

    // A day later the overlap is over: only the newest secret signs.
    d.clock.advance(Duration::from_secs(24 * 3600 + 60));
    let hit = next_delivery(&d, &receiver).await;
    assert_eq!(hit.header("webhook-signature").matches("v1,").count(), 1);
    assert_eq!(
        verify(&hit, d.app.state.clock.now(), &[&second, &third]),
        ["No matching signature found", "ok"]
    );
}

async fn only_a_webhook_secret_rotates_and_only_an_admin_rotates_it(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let hook = webhook(&d, &receiver.url).await;
    let first = token(&d, &hook).await;
    for (setup, kind) in [
        (
            json!({"type": "email", "events": {"buildCreated": true}}),
            "email",
        ),
        (
            json!({"type": "sms", "events": {"buildCreated": true}}),
            "sms",
        ),
        (
            json!({"type": "slack", "events": {"buildCreated": true}, "setup": {"slack": {"code": "good-code", "redirectUri": "https://app.example.com/cb"}}}),
            "slack",
        ),
    ] {
        let id = create_notification(&d, setup).await;
        let res = rotate(&d, &id).await;
        assert_error(
            &res,
            400,
            1001,
            Some(&[(
                "id",
                &format!("only webhook notifications have a signing secret, not {kind} ones"),
            )]),
        );
    }
    let (_, member) = d.app.user_with_token("mia", &["member"]).await;
    let res = d
        .app
        .call(
            Method::POST,
            &d.app.path(&format!("/notifications/{hook}/secret/rotate")),
            Some(&member),
            None,
        )
        .await;
    assert_error(&res, 403, 4003, None);
    let res = rotate(&d, "5f1e2d3c4b5a697887969999").await;
    assert_error(&res, 404, 3001, None);
    let res = d
        .app
        .admin(
            Method::POST,
            &format!("/v1/organizations/another-org/notifications/{hook}/secret/rotate"),
            None,
        )
        .await;
    assert_error(&res, 404, 3001, None);
    assert_eq!(token(&d, &hook).await, first, "nothing was rotated");
}

herald_tests::on_both_backends!(
    during_a_rotation_the_old_and_the_new_secret_both_verify,
    only_a_webhook_secret_rotates_and_only_an_admin_rotates_it,
);
