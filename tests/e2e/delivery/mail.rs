//! Email and SMS deliveries on both backends: recipients' preferences, the daily SMS quota, and
//! the whitelist mode.

use super::*;
use shared::model::SkipReason;

async fn email_recipients_get_the_event_unless_their_preferences_say_no(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let notification = create_notification(
        &d,
        json!({"type": "email", "events": {"buildCreated": true}}),
    )
    .await;
    let (ann_name, bob_name) = (unique("ann"), unique("bob"));
    let (ann, _) = d.app.user_with_token(&ann_name, &["member"]).await;
    let (bob, bob_token) = d.app.user_with_token(&bob_name, &["member"]).await;
    subscribe(&d, &notification, json!([{"userId": ann}, {"userId": bob}])).await;
    // Bob turns the build template off.
    let template = shared::templates::get(shared::templates::TemplateKey::Event(
        shared::model::EventType::BuildCreated,
    ))
    .id
    .to_string();
    let res = d
        .app
        .call(
            Method::PUT,
            "/api/v2/users/me/notifications/preferences",
            Some(&bob_token),
            Some(json!({"template_disabled_map": {template: true}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let ann_mail = format!("{ann_name}@example.com");
    assert_eq!(
        sent_to(&d, backend, &ann_mail).await,
        [(ann_mail.clone(), "New build of Field Service".to_owned())]
    );
    assert!(
        sent_to(&d, backend, &format!("{bob_name}@example.com"))
            .await
            .is_empty()
    );
    let skipped = delivery(&d, &event, &format!("{notification}/{bob}")).await;
    assert_eq!(skipped.status, DeliveryStatus::Skipped);
    assert_eq!(skipped.reason, Some(SkipReason::PreferenceDisabled));
    let ann_delivery = delivery(&d, &event, &format!("{notification}/{ann}")).await;
    assert_eq!(ann_delivery.status, DeliveryStatus::Sent);
}

async fn sms_take_the_daily_quota_and_skip_past_it(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let (notification, user_id, phone) = sms_subscriber_with_quota_1(&d).await;
    let (_, first) = emit(&d, build_event(None)).await;
    d.pump(PUMP).await;
    let (_, second) = emit(&d, build_event(None)).await;
    d.pump(PUMP).await;
    let sent = sent_to(&d, backend, &phone).await;
    assert_eq!(sent.len(), 1, "one SMS: the quota is 1 a day");
    assert!(
        sent[0].1.starts_with("New build of Field Service\n"),
        "{sent:?}"
    );
    let key = format!("{notification}/{user_id}");
    let ok = delivery(&d, first["data"]["id"].as_str().unwrap_or_default(), &key).await;
    assert_eq!(ok.status, DeliveryStatus::Sent);
    let over = delivery(&d, second["data"]["id"].as_str().unwrap_or_default(), &key).await;
    assert_eq!(over.status, DeliveryStatus::Skipped);
    assert_eq!(over.reason, Some(SkipReason::QuotaExceeded));
}

async fn in_whitelist_mode_only_whitelisted_recipients_get_email(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let notification = create_notification(
        &d,
        json!({"type": "email", "events": {"buildCreated": true}}),
    )
    .await;
    let (ann, _) = d.app.user_with_token(&unique("ann"), &["member"]).await;
    let (bob, _) = d.app.user_with_token(&unique("bob"), &["member"]).await;
    subscribe(&d, &notification, json!([{"userId": ann}, {"userId": bob}])).await;
    let res = d
        .app
        .admin(
            Method::PUT,
            &format!("/v1/environments/{}/notificationsSettings", d.app.org),
            Some(json!({"deliveryMode": "WHITELIST", "whitelist": [{"user": {"id": ann}}]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let ann_delivery = delivery(&d, &event, &format!("{notification}/{ann}")).await;
    assert_eq!(ann_delivery.status, DeliveryStatus::Sent);
    let bob_delivery = delivery(&d, &event, &format!("{notification}/{bob}")).await;
    assert_eq!(bob_delivery.status, DeliveryStatus::Skipped);
    assert_eq!(bob_delivery.reason, Some(SkipReason::NotWhitelisted));
}

herald_tests::on_both_backends!(
    email_recipients_get_the_event_unless_their_preferences_say_no,
    sms_take_the_daily_quota_and_skip_past_it,
    in_whitelist_mode_only_whitelisted_recipients_get_email,
);
