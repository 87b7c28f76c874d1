//! Secrets sealed at rest, as the sender and the API meet them (issue 26, part 2): a signing
//! secret whose ciphertext was tampered with in the store refuses its delivery (failed, its text
//! never logged) and nothing else: the notification still reads, lists and can be rotated, after
//! which it signs with the new secret alone (the replaced one cannot be opened to sign beside it).

use super::*;
use shared::model::{NotificationId, Sealed, Target};

async fn a_tampered_signing_secret_fails_its_delivery_and_nothing_else(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let notification = webhook(&d, &receiver.url).await;
    let org = OrgId::parse(&d.app.org).unwrap_or_else(|e| panic!("{e}"));
    let id = NotificationId::parse(&notification).unwrap_or_else(|e| panic!("{e}"));
    let store = &d.app.state.store;
    let mut stored = store
        .get_notification(&org, &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("stored"));
    let Target::Webhook(target) = &mut stored.target else {
        panic!("a webhook");
    };
    assert!(target.secret.is_sealed(), "{:?}", target.secret);
    // Cut the sealed value short, as a broken write or a hand edit would.
    let text = target.secret.as_stored().to_owned();
    target.secret = Sealed::from_stored(&text[..text.len() - 8]);
    store
        .update_notification(&stored, stored.updated_at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let (status, body) = emit(&d, build_event(None)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    assert_eq!(
        receiver.received(),
        0,
        "nothing unsigned or wrongly signed went out"
    );
    let refused = delivery(&d, &event, &notification).await;
    assert_eq!(
        (
            refused.status,
            refused.attempts,
            refused.last_error.as_deref()
        ),
        (
            DeliveryStatus::Failed,
            1,
            Some(
                "a secret of the target cannot be opened (tampered with, or sealed under another key)"
            )
        ),
        "failed at once: another attempt would not open it either"
    );

    // The API still answers: the admin reads the token masked, the list is whole.
    let got = notification_view(&d, &notification).await;
    assert_eq!(got["config"]["webhook"]["token"], "********", "{got}");
    let listed = d
        .app
        .admin(Method::GET, &d.app.path("/notifications"), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    // Rotating gives it a secret that opens again: the next delivery is signed and sent.
    let rotated = d
        .app
        .admin(
            Method::POST,
            &d.app
                .path(&format!("/notifications/{notification}/secret/rotate")),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!(
        (sent.status, receiver.received()),
        (DeliveryStatus::Sent, 1),
        "signed with the new secret alone: the replaced one cannot be opened"
    );
    let token = rotated.body["data"]["token"].as_str().unwrap_or_default();
    let hit = &receiver.hits()[0];
    let expected = sign(
        token,
        &hit.header("webhook-id"),
        hit.header("webhook-timestamp").parse().unwrap_or(0),
        &hit.body,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hit.header("webhook-signature"), expected);
}

herald_tests::on_both_backends!(a_tampered_signing_secret_fails_its_delivery_and_nothing_else);
