//! What the delivery tests share: creating targets, emitting events, and reading back what
//! the API and the store show.

use std::io::Write;
use std::process::{Command, Stdio};

use herald_tests::delivery::Hit;

use super::*;

pub(super) async fn webhook(d: &DeliveryApp, url: &str) -> String {
    create_notification(
        d,
        json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": url}}}),
    )
    .await
}

/// Creates a notification (as the admin); its id.
pub(super) async fn create_notification(d: &DeliveryApp, body: Value) -> String {
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

/// Subscribes `recipients` (the recipients API's objects) to an email or SMS notification.
pub(super) async fn subscribe(d: &DeliveryApp, notification: &str, recipients: Value) {
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

/// An SMS notification with one subscriber (a new member with a phone), the organization's
/// daily SMS quota set to 1: (notification, user id, phone).
pub(super) async fn sms_subscriber_with_quota_1(d: &DeliveryApp) -> (String, String, String) {
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
        create_notification(d, json!({"type": "sms", "events": {"buildCreated": true}})).await;
    let phone = format!("+1415{:07}", Uuid::new_v4().as_u128() % 10_000_000);
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
    subscribe(d, &notification, json!([{"userId": user_id}])).await;
    (notification, user_id, phone)
}

/// The notification as the API shows it (`data`).
pub(super) async fn notification_view(d: &DeliveryApp, notification: &str) -> Value {
    let n = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/notifications/{notification}")),
            None,
        )
        .await;
    assert_eq!(n.status, StatusCode::OK, "{}", n.body);
    n.body["data"].clone()
}

/// The notification's `enabled` as the API shows it.
pub(super) async fn enabled(d: &DeliveryApp, notification: &str) -> Value {
    notification_view(d, notification).await["enabled"].clone()
}

/// The calling admin's email address.
pub(super) async fn my_email(d: &DeliveryApp) -> String {
    let me = d
        .app
        .admin(Method::GET, &d.app.path("/users/me"), None)
        .await;
    me.body["data"]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// POSTs to `path` as the admin, with these extra headers and `body` (JSON) if any.
pub(super) async fn post_with(
    d: &DeliveryApp,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> herald_tests::Response {
    let auth = format!("Bearer {}", d.app.admin_token);
    let mut all = vec![
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    all.extend_from_slice(headers);
    let bytes = body
        .map(|b| serde_json::to_vec(&b).unwrap_or_default())
        .unwrap_or_default();
    d.app.raw(Method::POST, path, &all, bytes).await
}

pub(super) async fn emit(d: &DeliveryApp, body: Value) -> (StatusCode, Value) {
    let res = d
        .app
        .admin(Method::POST, &d.app.path("/events"), Some(body))
        .await;
    (res.status, res.body)
}

pub(super) fn build_event(key: Option<&str>) -> Value {
    let mut body = json!({"type": "buildCreated", "data": {"appName": "Field Service", "version": "4.2.0", "buildNumber": "1187", "platform": "iOS", "createdBy": "Grace", "url": "https://console.example.com/b/1187"}});
    if let Some(key) = key {
        body["idempotencyKey"] = json!(key);
    }
    body
}

/// Emits an event that must be accepted; its id.
pub(super) async fn emitted(d: &DeliveryApp) -> String {
    let (status, body) = emit(d, build_event(None)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["data"]["id"].as_str().unwrap_or_default().to_owned()
}

pub(super) fn unique(name: &str) -> String {
    format!("{name}-{}", &Uuid::new_v4().simple().to_string()[..8])
}

/// What was sent to `to`: (to, subject or text), from the outbox or from moto.
pub(super) async fn sent_to(d: &DeliveryApp, backend: Backend, to: &str) -> Vec<(String, String)> {
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

/// The (first) delivery of `event`, as the log shows it.
pub(super) async fn delivery_of(d: &DeliveryApp, event: &str) -> Value {
    let path = d.app.path(&format!("/deliveries?eventId={event}"));
    let log = d.app.admin(Method::GET, &path, None).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    log.body["data"]["items"][0].clone()
}

pub(super) fn org(d: &DeliveryApp) -> OrgId {
    OrgId::parse(&d.app.org).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) async fn delivery(d: &DeliveryApp, event: &str, notification: &str) -> Delivery {
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

/// Each secret's verdict on `hit`, by the official verifier, with the sender's clock at `now`.
pub(super) fn verify(hit: &Hit, now: time::OffsetDateTime, secrets: &[&str]) -> Vec<String> {
    let python = herald_tests::installed(".venv-webhooks/bin/python");
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| ((*h).to_owned(), json!(hit.header(h))))
            .collect();
    let request = json!({
        "body": String::from_utf8_lossy(&hit.body),
        "headers": headers,
        "secrets": secrets,
        "now": now.unix_timestamp(),
    });
    let mut child = Command::new(python)
        .arg(herald_tests::repo_root().join("tests/support/verify_webhook.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("the verifier: {e}"));
    child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(request.to_string().as_bytes()))
        .unwrap_or_else(|| panic!("the verifier's stdin"))
        .unwrap_or_else(|e| panic!("the verifier's stdin: {e}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("the verifier: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", out.stdout))
}
