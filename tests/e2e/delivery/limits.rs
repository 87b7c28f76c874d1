//! The organization's daily email count (issue 26, part 4), on both backends: past it, the
//! delivery is skipped (`organization_quota_exceeded`) and the operational webhook hears it once
//! that day, however many more are skipped.

use super::*;
use shared::model::SkipReason;

async fn past_the_daily_email_count_deliveries_are_skipped_and_told_once(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let res = d
        .app
        .call(
            Method::PATCH,
            &format!("/v1/organizations/{}", d.app.org),
            Some(herald_tests::OPERATOR_TOKEN),
            Some(json!({"limits": {"emailsPerDay": 2}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let ops = Receiver::start(&[]).await;
    let hook = d
        .app
        .admin(
            Method::PUT,
            &d.app.path("/operational-webhook"),
            Some(json!({"url": ops.url, "events": ["organization.quotaExceeded"]})),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
    let notification = create_notification(
        &d,
        json!({"type": "email", "events": {"buildCreated": true}}),
    )
    .await;
    let names: Vec<String> = ["ann", "bob", "cid"].iter().map(|n| unique(n)).collect();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(d.app.user_with_token(name, &["member"]).await.0);
    }
    let recipients: Vec<Value> = ids.iter().map(|id| json!({"userId": id})).collect();
    subscribe(&d, &notification, json!(recipients)).await;

    let (_, body) = emit(&d, build_event(None)).await;
    let first = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let (_, body) = emit(&d, build_event(None)).await;
    let second = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;

    let mut outcomes = Vec::new();
    for event in [&first, &second] {
        for id in &ids {
            let one = delivery(&d, event, &format!("{notification}/{id}")).await;
            outcomes.push((one.status, one.reason));
        }
    }
    let sent = outcomes
        .iter()
        .filter(|(s, _)| *s == DeliveryStatus::Sent)
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| {
            **o == (
                DeliveryStatus::Skipped,
                Some(SkipReason::OrganizationQuotaExceeded),
            )
        })
        .count();
    assert_eq!((sent, skipped), (2, 4), "{outcomes:?}");
    let mut mailed = 0;
    for name in &names {
        mailed += sent_to(&d, backend, &format!("{name}@example.com"))
            .await
            .len();
    }
    assert_eq!(mailed, 2);
    // Told once, whatever the number skipped.
    let told = wait_for_hits(&ops, 1).await;
    assert_eq!(told.len(), 1);
    let body = told[0].json();
    assert_eq!(body["type"], "organization.quotaExceeded");
    assert_eq!(body["data"]["channel"], "email");
    assert_eq!(body["data"]["dailyLimit"], 2);
    d.pump(std::time::Duration::from_secs(1)).await;
    assert_eq!(ops.received(), 1, "once a day");
}

/// The receiver's hits once it has at least `n` (waiting up to 20 s).
async fn wait_for_hits(receiver: &Receiver, n: usize) -> Vec<herald_tests::delivery::Hit> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while receiver.received() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    receiver.hits()
}

herald_tests::on_both_backends!(past_the_daily_email_count_deliveries_are_skipped_and_told_once);
