//! Events, fan-out and the sender (SPEC §7) end to end, on both backends: a real HTTP receiver on
//! loopback, the real queues (in memory, or SQS on moto).

use std::time::Duration;

use herald_tests::delivery::{DeliveryApp, Receiver};
use herald_tests::{Backend, assert_error};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::deliver::webhook::sign;
use shared::model::{DeliveryStatus, OrgId};
use shared::queue::DeliveryMessage;
use shared::store::Delivery;
use uuid::Uuid;

const PUMP: Duration = Duration::from_secs(20);

async fn webhook(d: &DeliveryApp, url: &str) -> String {
    create_notification(
        d,
        json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": url}}}),
    )
    .await
}

/// Creates a notification (as the admin); its id.
async fn create_notification(d: &DeliveryApp, body: Value) -> String {
    let res = d
        .app
        .admin(Method::POST, &d.app.path("/notifications"), Some(body))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Subscribes `recipients` (seed 004's objects) to an email or SMS notification.
async fn subscribe(d: &DeliveryApp, notification: &str, recipients: Value) {
    let res = d
        .app
        .admin(
            Method::POST,
            &format!(
                "/v1/deployments/{}/notifications/{notification}/recipients",
                d.app.org
            ),
            Some(json!({"recipients": recipients})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// The notification's `enabled` as the API shows it.
async fn enabled(d: &DeliveryApp, notification: &str) -> Value {
    let n = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/notifications/{notification}")),
            None,
        )
        .await;
    n.body["data"]["enabled"].clone()
}

async fn emit(d: &DeliveryApp, body: Value) -> (StatusCode, Value) {
    let res = d
        .app
        .admin(Method::POST, &d.app.path("/events"), Some(body))
        .await;
    (res.status, res.body)
}

fn build_event(key: Option<&str>) -> Value {
    let mut body = json!({"type": "buildCreated", "data": {"appName": "Field Service", "version": "4.2.0", "buildNumber": "1187", "platform": "iOS", "createdBy": "Grace", "url": "https://console.example.com/b/1187"}});
    if let Some(key) = key {
        body["idempotencyKey"] = json!(key);
    }
    body
}

fn org(d: &DeliveryApp) -> OrgId {
    OrgId::parse(&d.app.org).unwrap_or_else(|e| panic!("{e}"))
}

async fn delivery(d: &DeliveryApp, event: &str, notification: &str) -> Delivery {
    let event: Uuid = event.parse().unwrap_or_else(|e| panic!("{e}"));
    let id = Uuid::new_v5(&event, notification.as_bytes());
    let store = &d.app.state.store;
    let at = store
        .get_event(&org(d), event)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("event {event} recorded"))
        .created_at;
    store
        .get_delivery(&org(d), at, id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("delivery {id} recorded"))
}

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
fn unique(name: &str) -> String {
    format!("{name}-{}", &Uuid::new_v4().simple().to_string()[..8])
}

/// What was sent to `to`: (to, subject or text), from the outbox or from moto.
async fn sent_to(d: &DeliveryApp, backend: Backend, to: &str) -> Vec<(String, String)> {
    let all: Vec<(String, String)> = match backend {
        Backend::Sqlite => d
            .outbox
            .messages()
            .into_iter()
            .map(|m| (m.to, m.subject.unwrap_or(m.text)))
            .collect(),
        Backend::Moto => {
            let (emails, sms) = herald_tests::delivery::moto_sent().await;
            emails.into_iter().chain(sms).collect()
        }
    };
    all.into_iter().filter(|(t, _)| t == to).collect()
}

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
    let template = shared::deliver::event_template(shared::model::EventType::BuildCreated)
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
    assert_eq!(skipped.reason.as_deref(), Some("preference_disabled"));
    let ann_delivery = delivery(&d, &event, &format!("{notification}/{ann}")).await;
    assert_eq!(ann_delivery.status, DeliveryStatus::Sent);
}

async fn sms_take_the_daily_quota_and_skip_past_it(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let res = d
        .app
        .admin(
            Method::PUT,
            &format!("/v1/environments/{}/notificationsSettings", d.app.org),
            Some(json!({"restrictions": {"smsVoiceQuota": {"daily": 1}}})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let notification =
        create_notification(&d, json!({"type": "sms", "events": {"buildCreated": true}})).await;
    let phone = format!("+1415{:07}", rand_digits());
    let name = unique("sam");
    let user = d
        .app
        .admin(
            Method::POST,
            &d.app.path("/users"),
            Some(json!({"username": name, "email": format!("{name}@example.com"), "phone": phone, "roles": ["member"]})),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
    let user_id = user.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    subscribe(&d, &notification, json!([{"userId": user_id}])).await;
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
    assert_eq!(over.reason.as_deref(), Some("quota_exceeded"));
}

fn rand_digits() -> u32 {
    (Uuid::new_v4().as_u128() % 10_000_000) as u32
}

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
    // The admin's own test notification (seed 002) arrives by email.
    let res = d
        .app
        .admin(Method::POST, "/api/v2/notifications/test", None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    d.pump(PUMP).await;
    let me = d
        .app
        .admin(Method::GET, &d.app.path("/users/me"), None)
        .await;
    let email = me.body["data"]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
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

async fn a_timeout_is_retried_and_delivered_with_the_same_webhook_id(backend: Backend) {
    let mut d = DeliveryApp::spawn(backend).await;
    d.transports.http.client = shared::net::delivery_client_with_timeout(
        d.app.state.resolver.clone(),
        true,
        Duration::from_millis(300),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let receiver = Receiver::start_slow(&[], Some(Duration::from_secs(2))).await;
    let notification = webhook(&d, &receiver.url).await;
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2, "timed out, then delivered");
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 2));
}

async fn a_sender_killed_between_send_and_settle_loses_nothing(backend: Backend) {
    let mut d = DeliveryApp::spawn(backend).await;
    d.visibility = Duration::from_secs(1);
    d.quiet = Duration::from_millis(1500);
    let receiver = Receiver::start_slow(&[], Some(Duration::from_secs(5))).await;
    let notification = webhook(&d, &receiver.url).await;
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    let state = d.app.state.clone();
    let fanouts = state
        .fanout
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let results = shared::fanout::process_batch(&state, fanouts).await;
    shared::queue::apply(&*state.fanout, results, true).await;
    let batch = state
        .queue
        .receive(10, d.visibility)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(batch.len(), 1);
    // The sender sends, then dies before it settles or acknowledges anything.
    let transports = d.transports.clone();
    let sender =
        tokio::spawn(
            async move { shared::deliver::process_batch(&state, &transports, batch).await },
        );
    for _ in 0..100 {
        if !receiver.hits().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sender.abort();
    assert_eq!(receiver.hits().len(), 1, "the request went out");
    let stuck = delivery(&d, &event, &notification).await;
    assert_eq!(stuck.status, DeliveryStatus::Sending);
    // Its lease runs out, its message comes back, and another sender delivers it again under
    // the same webhook-id (which the receiver uses to drop the repeat).
    d.clock
        .advance(shared::deliver::LEASE + Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 2));
}

async fn when_sqs_refuses_nothing_is_recorded_and_a_retry_delivers_once(backend: Backend) {
    use herald_tests::delivery::FlakyQueue;
    let mut d = DeliveryApp::spawn(backend).await;
    d.visibility = Duration::from_secs(1);
    d.quiet = Duration::from_millis(1500);
    let fanout = FlakyQueue::wrap(d.app.state.fanout.clone(), 0);
    let deliveries = FlakyQueue::wrap(d.app.state.queue.clone(), 0);
    d.app.state = d
        .app
        .state
        .clone()
        .with_fanout(fanout.clone())
        .with_queue(deliveries.clone());
    d.app.router = shared::api::router(d.app.state.clone(), shared::api::Route::ALL);
    let receiver = Receiver::start(&[]).await;
    let notification = webhook(&d, &receiver.url).await;

    // Emit: the fan-out cannot be queued: 503, and the event (and its key) is gone.
    fanout.fail_next(1);
    let res = d
        .app
        .admin(
            Method::POST,
            &d.app.path("/events"),
            Some(build_event(Some("k-1"))),
        )
        .await;
    assert_error(&res, 503, 5003, None);
    let listed = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries"), None)
        .await;
    assert_eq!(listed.body["data"]["items"], json!([]));
    // The retry (same key) is a new event, accepted.
    let (status, body) = emit(&d, build_event(Some("k-1"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();

    // Fan-out: its deliveries cannot be queued: the chunk's message comes back and is redone,
    // without a second record or a second send.
    deliveries.fail_next(1);
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 1, "delivered once");
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 1));

    // Test notification: the delivery cannot be queued: 503, and nothing is recorded.
    deliveries.fail_next(1);
    let res = d
        .app
        .admin(
            Method::POST,
            &d.app.path(&format!("/notifications/{notification}/test")),
            None,
        )
        .await;
    assert_error(&res, 503, 5003, None);
    let listed = d
        .app
        .admin(Method::GET, &d.app.path("/deliveries"), None)
        .await;
    assert_eq!(
        listed.body["data"]["items"].as_array().map(Vec::len),
        Some(1)
    );
}

/// Emits an event that must be accepted; its id.
async fn emitted(d: &DeliveryApp) -> String {
    let (status, body) = emit(d, build_event(None)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["data"]["id"].as_str().unwrap_or_default().to_owned()
}

/// Runs what is on the queues once: one fan-out batch, then one sender batch.
async fn run_once(d: &DeliveryApp) {
    let state = &d.app.state;
    let fanouts = state
        .fanout
        .receive(10, d.visibility)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let results = shared::fanout::process_batch(state, fanouts).await;
    shared::queue::apply(&*state.fanout, results, true).await;
    let deliveries = state
        .queue
        .receive(10, d.visibility)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let results = shared::deliver::process_batch(state, &d.transports, deliveries).await;
    shared::queue::apply(&*state.queue, results, true).await;
}

/// DynamoDB (moto) failing at each step of an event's way, one step per event: the emit's
/// transaction, the fan-out's reads, the sender's settings read, its claim, its settlement, and
/// the test notification's reads. Every event ends delivered, once, except the one whose
/// settlement failed after its send: that one is sent again once its lease ends, under the same
/// `webhook-id` (the documented at-least-once edge, as when a sender dies there).
async fn when_dynamodb_fails_at_any_step_nothing_is_lost_or_sent_twice(backend: Backend) {
    let mut d = DeliveryApp::spawn(backend).await;
    d.visibility = Duration::from_secs(1);
    d.quiet = Duration::from_millis(1500);
    let receiver = Receiver::start(&[]).await;
    let notification = webhook(&d, &receiver.url).await;
    let calls = d.app.calls.clone();

    // The emit's transaction: 503, nothing recorded or queued; the same key again is accepted.
    calls.fail("TransactWriteItems", 0, 1);
    let res = d
        .app
        .admin(
            Method::POST,
            &d.app.path("/events"),
            Some(build_event(Some("db-1"))),
        )
        .await;
    assert_error(&res, 503, 5003, None);
    let (status, body) = emit(&d, build_event(Some("db-1"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut events = vec![body["data"]["id"].as_str().unwrap_or_default().to_owned()];

    // The fan-out's event read, then its notifications query: the chunk comes back and is done.
    calls.fail("GetItem", 0, 1);
    d.pump(PUMP).await;
    calls.fail("Query", 0, 1);
    events.push(emitted(&d).await);
    d.pump(PUMP).await;
    assert!(!calls.faults_pending(), "each fault met its call");
    assert_eq!(receiver.hits().len(), 2);

    // The sender's settings read, then its claim: nothing was written, the message comes back.
    for operation in ["GetItem", "UpdateItem"] {
        events.push(emitted(&d).await);
        let state = &d.app.state;
        let fanouts = state
            .fanout
            .receive(10, d.visibility)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let results = shared::fanout::process_batch(state, fanouts).await;
        shared::queue::apply(&*state.fanout, results, true).await;
        calls.fail(operation, 0, 1);
        d.pump(PUMP).await;
        assert!(!calls.faults_pending(), "{operation} failed once");
    }
    assert_eq!(receiver.hits().len(), 4, "each sent once");

    // The settlement after a send (the claim passes, the next UpdateItem fails): the delivery
    // stays `sending` under its lease; when the lease ends it is sent again, same webhook-id.
    events.push(emitted(&d).await);
    calls.fail("UpdateItem", 1, 1);
    run_once(&d).await;
    assert!(!calls.faults_pending(), "the settlement failed");
    let last = events.last().cloned().unwrap_or_default();
    let stuck = delivery(&d, &last, &notification).await;
    assert_eq!(stuck.status, DeliveryStatus::Sending);
    d.clock
        .advance(shared::deliver::LEASE + Duration::from_secs(1));
    d.pump(PUMP).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 6);
    assert_eq!(hits[4].header("webhook-id"), hits[5].header("webhook-id"));

    // The test notification's reads: 503, and nothing is queued.
    calls.fail("GetItem", 0, 1);
    let res = d
        .app
        .admin(
            Method::POST,
            &d.app.path(&format!("/notifications/{notification}/test")),
            None,
        )
        .await;
    assert_error(&res, 503, 5003, None);
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 6, "the refused test sent nothing");

    let mut attempts = Vec::new();
    for event in &events {
        let sent = delivery(&d, event, &notification).await;
        attempts.push((sent.status, sent.attempts));
    }
    let sent_once = (DeliveryStatus::Sent, 1);
    assert_eq!(
        attempts,
        [
            sent_once,
            sent_once,
            sent_once,
            sent_once,
            (DeliveryStatus::Sent, 2)
        ]
    );
}

async fn five_failures_fail_the_delivery_and_its_message_goes_to_the_dead_letter_queue(
    backend: Backend,
) {
    let mut d = DeliveryApp::spawn(backend).await;
    d.visibility = Duration::from_secs(1);
    d.quiet = Duration::from_millis(1500);
    let receiver = Receiver::start(&[(500, None); 6]).await;
    let notification = webhook(&d, &receiver.url).await;
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    assert_eq!(receiver.hits().len(), 5, "five attempts, no sixth");
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(
        (failed.status, failed.attempts),
        (DeliveryStatus::Failed, 5)
    );
    assert_eq!(
        failed.last_error.as_deref(),
        Some("answered 500 (after 5 attempts)")
    );
    // Its message was left, came back past maxReceiveCount and was moved out of the queue.
    let left = d
        .app
        .state
        .queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(left.is_empty());
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
    assert_eq!(bob_delivery.reason.as_deref(), Some("not_whitelisted"));
}

async fn slack_gets_block_kit_honours_retry_after_and_an_archived_channel_disables_it(
    backend: Backend,
) {
    let d = DeliveryApp::spawn(backend).await;
    let notification = create_notification(&d, json!({"type": "slack", "events": {"buildCreated": true}, "setup": {"slack": {"code": "good-code", "redirectUri": "https://app.example.com/cb"}}})).await;
    d.slack.answer(&[(429, "rate_limited", Some(0))]);
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let posts = d.slack.posts();
    assert_eq!(posts.len(), 2, "429, then delivered");
    assert_eq!(
        posts[1]["text"],
        "New build of Field Service\nGrace uploaded Field Service 4.2.0 (build 1187) for iOS."
    );
    assert_eq!(posts[1]["blocks"][0]["type"], "header");
    assert_eq!(
        posts[1]["blocks"][2]["elements"][0]["url"],
        "https://console.example.com/b/1187"
    );
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 2));

    d.slack.answer(&[(404, "channel_is_archived", None)]);
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("slack answered channel_is_archived")
    );
    assert_eq!(enabled(&d, &notification).await, false);
}

async fn slack_with_chat_write_posts_with_the_api_and_falls_back_to_the_webhook_off_channel(
    backend: Backend,
) {
    let d = DeliveryApp::spawn(backend).await;
    let notification = create_notification(&d, json!({"type": "slack", "events": {"buildCreated": true}, "setup": {"slack": {"code": "chat-code", "redirectUri": "https://app.example.com/cb"}}})).await;
    let text =
        "New build of Field Service\nGrace uploaded Field Service 4.2.0 (build 1187) for iOS.";

    // Rate limited (429, Retry-After), then posted as the bot to the channel's id: Block Kit
    // with its text fallback, and nothing through the incoming webhook.
    d.slack
        .answer(&[(429, r#"{"ok": false, "error": "ratelimited"}"#, Some(0))]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let api = d.slack.api_posts();
    assert_eq!(api.len(), 2, "429, then delivered");
    assert_eq!(api[1].0, "Bearer xoxb-test");
    assert_eq!(api[1].1["channel"], "C1");
    assert_eq!(api[1].1["text"], text);
    assert_eq!(api[1].1["blocks"][0]["type"], "header");
    assert_eq!(d.slack.posts(), Vec::<Value>::new());
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 2));

    // The bot is not in the channel: the incoming webhook posts it, in the same attempt.
    d.slack
        .answer(&[(200, r#"{"ok": false, "error": "not_in_channel"}"#, None)]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let posts = d.slack.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["text"], text);
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 1));

    // A refused token fails at once and leaves the notification on.
    d.slack
        .answer(&[(200, r#"{"ok": false, "error": "invalid_auth"}"#, None)]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(
        (failed.status, failed.attempts, failed.last_error.as_deref()),
        (
            DeliveryStatus::Failed,
            1,
            Some("slack answered invalid_auth")
        )
    );
    assert_eq!(enabled(&d, &notification).await, true);

    // An archived channel fails and disables the notification.
    d.slack
        .answer(&[(200, r#"{"ok": false, "error": "is_archived"}"#, None)]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(
        (failed.status, failed.last_error.as_deref()),
        (DeliveryStatus::Failed, Some("slack answered is_archived"))
    );
    assert_eq!(enabled(&d, &notification).await, false);
    assert_eq!(d.slack.api_posts().len(), 5);
}

herald_tests::on_both_backends!(
    a_webhook_is_signed_sent_once_and_an_idempotent_replay_adds_nothing,
    a_500_then_200_is_delivered_once_with_the_same_webhook_id,
    a_410_fails_at_once_and_disables_the_notification,
    a_duplicated_queue_message_is_sent_once,
    email_recipients_get_the_event_unless_their_preferences_say_no,
    sms_take_the_daily_quota_and_skip_past_it,
    bad_events_are_refused_and_record_nothing,
    events_and_their_deliveries_are_listed_newest_first_and_filtered,
    bad_event_and_delivery_reads_are_refused,
    while_paused_deliveries_are_held_and_resuming_sends_every_one,
    a_notification_test_really_delivers_through_it,
    a_timeout_is_retried_and_delivered_with_the_same_webhook_id,
    a_sender_killed_between_send_and_settle_loses_nothing,
    when_sqs_refuses_nothing_is_recorded_and_a_retry_delivers_once,
    five_failures_fail_the_delivery_and_its_message_goes_to_the_dead_letter_queue,
    in_whitelist_mode_only_whitelisted_recipients_get_email,
    slack_gets_block_kit_honours_retry_after_and_an_archived_channel_disables_it,
    slack_with_chat_write_posts_with_the_api_and_falls_back_to_the_webhook_off_channel,
);

/// DynamoDB's failures are injected into its client: moto only.
mod moto_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_dynamodb_fails_at_any_step_nothing_is_lost_or_sent_twice() {
        super::when_dynamodb_fails_at_any_step_nothing_is_lost_or_sent_twice(
            herald_tests::Backend::Moto,
        )
        .await
    }
}
