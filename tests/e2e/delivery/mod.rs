//! Events, fan-out and the sender end to end, on both backends: a real HTTP receiver on
//! loopback, the real queues (SQLite's, or SQS on moto).

use std::time::Duration;

use herald_tests::delivery::{DeliveryApp, Receiver};
use herald_tests::{Backend, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::adapters::http::webhook::sign;
use shared::model::Delivery;
use shared::model::{DeliveryStatus, OrgId};
use shared::ports::queue::DeliveryMessage;
use uuid::Uuid;

const PUMP: Duration = Duration::from_secs(20);

mod disabling;
mod failures;
mod helpers;
mod idempotency;
mod limits;
mod mail;
mod metrics;
mod one;
mod operational;
mod operators;
mod pacing;
mod relay;
mod retries;
mod rotation;
mod sealed;
mod slack;

use helpers::*;

async fn a_webhook_is_signed_sent_once_and_an_idempotent_replay_adds_nothing(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let notification = webhook(&d, &receiver.url).await;
    let secret = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/notifications/{notification}")),
            None,
        )
        .await
        .body["data"]["config"]["webhook"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let (status, body) = emit(&d, build_event(Some("build-1187"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], true);
    assert_eq!(body["data"]["type"], "buildCreated");
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "delivered once");
    let hit = &hits[0];
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!(hit.header("webhook-id"), sent.id.to_string());
    let ts: i64 = hit.header("webhook-timestamp").parse().unwrap_or_default();
    assert_eq!(
        sign(&secret, &hit.header("webhook-id"), ts, &hit.body).as_deref(),
        Ok(hit.header("webhook-signature").as_str()),
        "signed over the exact bytes with the notification's secret"
    );
    let payload = hit.json();
    assert_eq!(payload["type"], "buildCreated");
    assert_eq!(payload["title"], "New build of Field Service");
    assert_eq!(
        payload["body"],
        "Grace uploaded Field Service 4.2.0 (build 1187) for iOS."
    );
    assert_eq!(payload["organization"], d.app.org);
    assert_eq!(payload["notification"], notification);
    assert_eq!(payload["data"]["buildNumber"], "1187");
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 1));

    // The same key and body: the first event again, nothing new sent.
    let (status, again) = emit(&d, build_event(Some("build-1187"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["data"], body["data"]);
    d.pump(Duration::from_secs(2)).await;
    assert_eq!(receiver.hits().len(), 1);
    // The same key with another body: 422.
    let mut other = build_event(Some("build-1187"));
    other["data"]["buildNumber"] = json!("1188");
    let res = d
        .app
        .admin(Method::POST, &d.app.path("/events"), Some(other))
        .await;
    assert_error(&res, 422, 1003, None);
}

async fn a_500_then_200_is_delivered_once_with_the_same_webhook_id(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[(500, None), (429, Some(0))]).await;
    let notification = webhook(&d, &receiver.url).await;
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3, "500, 429, then 200");
    let ids: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one webhook-id: {ids:?}"
    );
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 3));
}

async fn a_410_fails_at_once_and_disables_the_notification(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[(410, None)]).await;
    let notification = webhook(&d, &receiver.url).await;
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 1);
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("answered 410"));
    assert_eq!(enabled(&d, &notification).await, false);
}

async fn a_duplicated_queue_message_is_sent_once(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let notification = webhook(&d, &receiver.url).await;
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let sent = delivery(&d, &event, &notification).await;
    // SQS delivers the same message again, twice at once.
    let again = DeliveryMessage {
        delivery: Delivery {
            status: DeliveryStatus::Queued,
            attempts: 0,
            ..sent
        },
        slot: None,
    };
    d.app
        .state
        .queue
        .send(&[again.clone(), again])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 1);
    let after = delivery(&d, &event, &notification).await;
    assert_eq!((after.status, after.attempts), (DeliveryStatus::Sent, 1));
}

/// A unique username (moto's record of sent mail is shared by every test).
async fn bad_events_are_refused_and_record_nothing(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let (_, member) = d.app.user_with_token("mia", &["member"]).await;
    let path = d.app.path("/events");
    let res = d
        .app
        .admin(
            Method::POST,
            &path,
            Some(json!({"type": "buildDeleted", "data": [], "idempotencyKey": "", "extra": 1})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("extra", "is not a known field"),
            (
                "type",
                "must be one of buildCreated, buildProcessed, feedbackCreated, certificateWillExpire, applePushRenovation, emmEnrollmentCreated, emmDeviceCreated, emmDeviceChangedMdmUser, admEnrollmentCreated, admDeviceCreated, admDeviceChangedMdmUser, winEnrollmentCreated, winDeviceCreated, winDeviceChangedMdmUser, inventoryItemRegistered",
            ),
            ("data", "must be an object"),
            ("idempotencyKey", "must not be empty"),
        ]),
    );
    let big = "x".repeat(64 * 1024);
    let res = d
        .app
        .admin(
            Method::POST,
            &path,
            Some(json!({"type": "buildCreated", "data": {"blob": big}})),
        )
        .await;
    assert_error(&res, 400, 1001, Some(&[("data", "must be at most 64 KiB")]));
    // A link that is not a web address (it would be one in emails, Slack and SMS).
    let res = d
        .app
        .admin(
            Method::POST,
            &path,
            Some(json!({"type": "buildCreated", "data": {"url": "javascript:alert(1)"}})),
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[("data.url", "must be an absolute http or https URL")]),
    );
    let res = d.app.admin(Method::POST, &path, Some(json!({}))).await;
    assert_error(&res, 400, 1001, Some(&[("type", "is required")]));
    let res = d
        .app
        .call(Method::POST, &path, Some(&member), Some(build_event(None)))
        .await;
    assert_error(&res, 403, 4003, None);
    let res = d
        .app
        .admin(
            Method::POST,
            "/v1/organizations/another-org/events",
            Some(build_event(None)),
        )
        .await;
    assert_error(&res, 404, 3001, None);
    let fanouts = d
        .app
        .state
        .fanout
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(fanouts.is_empty(), "nothing was queued");
}

/// An event's `fanout`: `pending` while a fan-out job has deliveries to make, then `done` with
/// how many it made (targets, recipients, skipped ones included). On SQLite an event with only
/// Slack and webhook targets is done as it is recorded.
async fn an_events_fanout_is_pending_until_its_deliveries_are_made_then_done_with_their_count(
    backend: Backend,
) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    webhook(&d, &receiver.url).await;
    let fanout = |id: String| {
        let d = &d;
        async move {
            let res = d
                .app
                .admin(Method::GET, &d.app.path(&format!("/events/{id}")), None)
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            res.body["data"]["fanout"].clone()
        }
    };
    let targets_only = emitted(&d).await;
    let first = match backend {
        Backend::Sqlite => json!({"status": "done", "deliveries": 1}),
        Backend::Moto => json!({"status": "pending", "deliveries": 0}),
    };
    assert_eq!(fanout(targets_only.clone()).await, first);
    d.pump(PUMP).await;
    assert_eq!(
        fanout(targets_only).await,
        json!({"status": "done", "deliveries": 1})
    );

    // With an email notification of three recipients: four deliveries in all.
    let email = create_notification(
        &d,
        json!({"type": "email", "events": {"buildCreated": true}}),
    )
    .await;
    let people: Vec<Value> = (0..3)
        .map(|i| json!({"embedTenantName": "t", "externalId": format!("p{i}"), "email": format!("p{i}@example.com")}))
        .collect();
    subscribe(&d, &email, json!(people)).await;
    let with_people = emitted(&d).await;
    assert_eq!(
        fanout(with_people.clone()).await,
        json!({"status": "pending", "deliveries": 0}),
        "its recipients are a fan-out job's"
    );
    d.pump(PUMP).await;
    assert_eq!(
        fanout(with_people).await,
        json!({"status": "done", "deliveries": 4})
    );
}

async fn events_and_their_deliveries_are_listed_newest_first_and_filtered(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let hook = webhook(&d, &receiver.url).await;
    let (first, _) = emit(&d, build_event(None)).await;
    assert_eq!(first, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, second) = emit(&d, build_event(None)).await;
    let second_id = second["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 2);

    let res = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/events/{second_id}")),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let event = &res.body["data"];
    assert_eq!(event["id"], second_id);
    assert_eq!(event["type"], "buildCreated");
    assert_eq!(event["data"]["buildNumber"], "1187");
    let items = event["deliveries"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["method"], "webhook");
    assert_eq!(items[0]["notificationId"], hook);
    assert_eq!(items[0]["status"], "sent");
    assert_eq!(items[0]["attempts"], 1);
    // The last page says so with `"nextCursor": null`, as every list does.
    assert_eq!(event["deliveries"].get("nextCursor"), Some(&Value::Null));

    // All deliveries, newest first, one per page.
    let res = d
        .app
        .admin(
            Method::GET,
            &d.app.path("/deliveries?status=sent&limit=1"),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let page = &res.body["data"];
    assert_eq!(page["items"][0]["eventId"], second_id, "newest first");
    let cursor = page["nextCursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty());
    let res = d
        .app
        .admin(
            Method::GET,
            &d.app
                .path(&format!("/deliveries?status=sent&limit=1&cursor={cursor}")),
            None,
        )
        .await;
    let page = &res.body["data"];
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(page["items"][0]["eventId"], second_id);
    assert_eq!(page.get("nextCursor"), Some(&Value::Null), "{}", res.body);
    // Filters: by event, by a status nothing has.
    let res = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/deliveries?eventId={second_id}")),
            None,
        )
        .await;
    assert_eq!(res.body["data"]["items"].as_array().map(Vec::len), Some(1));
    let res = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries?status=failed"), None)
        .await;
    assert_eq!(res.body["data"]["items"], json!([]));
}

async fn bad_event_and_delivery_reads_are_refused(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let res = d
        .app
        .admin(
            Method::GET,
            &d.app
                .path("/deliveries?status=lost&eventId=nope&limit=0&color=red"),
            None,
        )
        .await;
    assert_error(
        &res,
        400,
        1001,
        Some(&[
            ("color", "is not a known query parameter"),
            (
                "status",
                "must be one of queued, held, sending, sent, failed, skipped",
            ),
            ("eventId", "must be an event id (a UUID)"),
            ("limit", "must be an integer from 1 to 100"),
        ]),
    );
    let unknown = Uuid::now_v7();
    let res = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/events/{unknown}")),
            None,
        )
        .await;
    assert_error(&res, 404, 3001, None);
    let res = d
        .app
        .admin(Method::GET, &d.app.path("/events/not-a-uuid"), None)
        .await;
    assert_error(&res, 404, 3001, None);
    let res = d
        .app
        .admin(
            Method::GET,
            "/v1/organizations/another-org/deliveries",
            None,
        )
        .await;
    assert_error(&res, 404, 3001, None);
    let res = d
        .app
        .call(Method::GET, &d.app.path("/deliveries"), None, None)
        .await;
    assert_error(&res, 401, 4002, None);
}

async fn while_paused_deliveries_are_held_and_resuming_sends_every_one(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    webhook(&d, &receiver.url).await;
    let settings = "/api/v2/notifications/settings";
    let res = d
        .app
        .admin(
            Method::PUT,
            settings,
            Some(json!({"notifier_paused": true})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    for _ in 0..3 {
        let (status, _) = emit(&d, build_event(None)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    d.pump(PUMP).await;
    assert!(receiver.hits().is_empty(), "nothing is sent while paused");
    let held = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries?status=held"), None)
        .await;
    assert_eq!(held.body["data"]["items"].as_array().map(Vec::len), Some(3));

    let res = d
        .app
        .admin(
            Method::PUT,
            settings,
            Some(json!({"notifier_paused": false})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 3, "every held delivery is sent");
    let held = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries?status=held"), None)
        .await;
    assert_eq!(held.body["data"]["items"], json!([]));
    let sent = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries?status=sent"), None)
        .await;
    assert_eq!(sent.body["data"]["items"].as_array().map(Vec::len), Some(3));
}

async fn a_notification_test_really_delivers_through_it(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[]).await;
    let hook = webhook(&d, &receiver.url).await;
    let res = d
        .app
        .admin(
            Method::POST,
            &d.app.path(&format!("/notifications/{hook}/test")),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    let id = res.body["data"]["deliveryId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].header("webhook-id"), id);
    let payload = hits[0].json();
    assert_eq!(payload["type"], "test");
    assert_eq!(payload["title"], "Test Notification");
    // The admin's own test notification (the admin API's) arrives by email.
    let res = d
        .app
        .admin(Method::POST, "/api/v2/notifications/test", None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    d.pump(PUMP).await;
    let email = my_email(&d).await;
    assert_eq!(
        sent_to(&d, backend, &email).await,
        [(email.clone(), "Test Notification".to_owned())]
    );
    // Refusals.
    let (_, member) = d.app.user_with_token(&unique("mia"), &["member"]).await;
    let res = d
        .app
        .call(
            Method::POST,
            &d.app.path(&format!("/notifications/{hook}/test")),
            Some(&member),
            None,
        )
        .await;
    assert_error(&res, 403, 4003, None);
    let res = d
        .app
        .admin(
            Method::POST,
            &d.app.path("/notifications/5f1e2d3c4b5a697887969999/test"),
            None,
        )
        .await;
    assert_error(&res, 404, 3001, None);
}

herald_tests::on_both_backends!(
    a_webhook_is_signed_sent_once_and_an_idempotent_replay_adds_nothing,
    a_500_then_200_is_delivered_once_with_the_same_webhook_id,
    a_410_fails_at_once_and_disables_the_notification,
    a_duplicated_queue_message_is_sent_once,
    bad_events_are_refused_and_record_nothing,
    events_and_their_deliveries_are_listed_newest_first_and_filtered,
    an_events_fanout_is_pending_until_its_deliveries_are_made_then_done_with_their_count,
    bad_event_and_delivery_reads_are_refused,
    while_paused_deliveries_are_held_and_resuming_sends_every_one,
    a_notification_test_really_delivers_through_it,
);
