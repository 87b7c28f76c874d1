//! Nothing lost on AWS, with real processes: `herald-local` on `HERALD_BACKEND=aws`, its AWS
//! calls through a proxy in front of moto ([`MotoProxy`]) that kills it with SIGKILL at the
//! moment it sends a queue message, refuses SQS for a while, or refuses the fan-out's DynamoDB
//! calls. What was recorded and never queued is sent by the outbox relay (which the local server
//! runs on this backend as the `relay` function does on AWS) after its grace period, and
//! delivered exactly once; a fan-out that fails every time ends `failed`, told, and retried.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, temp_path};
use herald_tests::proxy::MotoProxy;
use reqwest::Method;
use serde_json::{Value, json};

/// The relay's grace period in these tests (`HERALD_RELAY_GRACE`; 45 s by default).
const GRACE: &str = "2s";

/// A data directory, a table and its queues on moto, reached through a proxy: a local server
/// started again on them finds everything the one before recorded.
struct Deployment {
    proxy: MotoProxy,
    dir: PathBuf,
    table: String,
}

impl Deployment {
    async fn new() -> Self {
        Self {
            proxy: MotoProxy::start().await,
            dir: temp_path("relay"),
            table: format!("herald-relay-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn start(&self) -> Local {
        Local::start(
            &self.dir,
            &[
                ("HERALD_BACKEND", "aws"),
                ("AWS_ENDPOINT_URL", &self.proxy.url),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("TABLE_NAME", &self.table),
                ("HERALD_RELAY_GRACE", GRACE),
            ],
        )
    }
}

fn event(key: &str) -> Value {
    json!({"type": "buildCreated", "idempotencyKey": key, "data": {"appName": "Relay", "version": "1.0.0", "buildNumber": key, "platform": "iOS", "createdBy": "Grace", "url": "https://console.example.com/b/1"}})
}

/// Sends `body` with the admin's token, as a client that may see the server die under it: the
/// status, or `None` when no answer came.
async fn try_call(
    local: &Local,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://127.0.0.1:{}{path}", local.port))
        .bearer_auth(local.admin_token())
        .timeout(Duration::from_secs(120));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Some((status, body))
}

/// Emits the event of `key`, which must be accepted (a new event or a replay): its id.
async fn emitted(local: &Local, key: &str) -> String {
    let (status, accepted) = local
        .admin(Method::POST, &local.path("/events"), Some(event(key)))
        .await;
    assert_eq!(status, 202, "{accepted}");
    accepted["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A webhook notification of `buildCreated` to `url`.
async fn webhook(local: &Local, url: &str) {
    let (status, created) = local
        .admin(
            Method::POST,
            &local.path("/notifications"),
            Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": url}}})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
}

/// Waits until `receiver` has `n` requests, at most until `deadline`.
async fn wait_for_hits(receiver: &Receiver, n: usize, deadline: Instant, what: &str) {
    while receiver.hits().len() < n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {n} arrived in time",
            receiver.hits().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What arrived, by `webhook-id`.
fn by_webhook_id(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for hit in receiver.hits() {
        *seen.entry(hit.header("webhook-id")).or_default() += 1;
    }
    seen
}

/// Long enough for the relay to have swept twice more after `GRACE` (every 5 s): a message it
/// would send again would have arrived.
const SETTLE: Duration = Duration::from_secs(12);

mod moto {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_whose_process_was_killed_before_its_fan_out_message_is_delivered_once_after_a_restart()
     {
        let deployment = Deployment::new().await;
        let mut first = deployment.start();
        let receiver = Receiver::start(&[]).await;
        webhook(&first, &receiver.url).await;

        // The process dies between recording the event and sending its fan-out message.
        deployment.proxy.kill_at_send("-fanout", first.pid());
        let answer = try_call(
            &first,
            Method::POST,
            &first.path("/events"),
            Some(event("k-1")),
        )
        .await;
        assert_eq!(answer, None, "the client saw the process die");
        assert!(first.wait(Duration::from_secs(10)).is_some(), "killed");
        assert!(!deployment.proxy.kill_armed());

        let restarted = Instant::now();
        let second = deployment.start();
        // The client retries with its key: the event recorded before the kill, replayed.
        let id = emitted(&second, "k-1").await;
        wait_for_hits(&receiver, 1, restarted + Duration::from_secs(60), "relayed").await;
        eprintln!("relayed {:?} after the restart", restarted.elapsed());
        tokio::time::sleep(SETTLE).await;
        let hits = receiver.hits();
        assert_eq!(hits.len(), 1, "delivered exactly once");
        assert_eq!(hits[0].json()["data"]["buildNumber"], "k-1");
        let (_, log) = second
            .admin(
                Method::GET,
                &second.path(&format!("/deliveries?eventId={id}")),
                None,
            )
            .await;
        let items = log["data"]["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "{log}");
        assert_eq!(
            (&items[0]["status"], &items[0]["attempts"]),
            (&json!("sent"), &json!(1))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resend_whose_process_was_killed_before_its_message_is_sent_once_more_after_a_restart()
     {
        let deployment = Deployment::new().await;
        let mut first = deployment.start();
        let receiver = Receiver::start(&[]).await;
        webhook(&first, &receiver.url).await;
        let id = emitted(&first, "r-1").await;
        wait_for_hits(
            &receiver,
            1,
            Instant::now() + Duration::from_secs(60),
            "first send",
        )
        .await;
        let log_path = first.path(&format!("/deliveries?eventId={id}"));
        let delivery = loop {
            let (_, log) = first.admin(Method::GET, &log_path, None).await;
            if log["data"]["items"][0]["status"] == "sent" {
                break log["data"]["items"][0]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };

        // The process dies between queueing the delivery again in the table and its message.
        deployment.proxy.kill_at_send("-deliveries", first.pid());
        let resend = first.path(&format!("/deliveries/{delivery}/resend"));
        assert_eq!(try_call(&first, Method::POST, &resend, None).await, None);
        assert!(first.wait(Duration::from_secs(10)).is_some(), "killed");
        assert!(!deployment.proxy.kill_armed());

        let restarted = Instant::now();
        let second = deployment.start();
        wait_for_hits(&receiver, 2, restarted + Duration::from_secs(60), "relayed").await;
        eprintln!("relayed {:?} after the restart", restarted.elapsed());
        tokio::time::sleep(SETTLE).await;
        let seen = by_webhook_id(&receiver);
        assert_eq!(seen.len(), 1, "one message: {seen:?}");
        assert_eq!(
            seen.values().copied().collect::<Vec<_>>(),
            [2],
            "sent, then resent once"
        );
        let (_, log) = second.admin(Method::GET, &log_path, None).await;
        assert_eq!(
            (
                &log["data"]["items"][0]["status"],
                &log["data"]["items"][0]["attempts"]
            ),
            (&json!("sent"), &json!(1)),
            "{log}"
        );
    }

    /// SQS refuses every call for 30 s while a client emits an event every 200 ms: each event
    /// answered 2xx is delivered once SQS is back, and each answered 5xx left nothing (its key
    /// is free: the same key again is a new event, delivered once).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_emitted_while_sqs_refuses_are_delivered_once_if_accepted_and_leave_nothing_if_refused()
     {
        let deployment = Deployment::new().await;
        let local = deployment.start();
        let receiver = Receiver::start(&[]).await;
        webhook(&local, &receiver.url).await;

        let (mut accepted, mut refused) = (BTreeSet::new(), Vec::new());
        let refusing = Duration::from_secs(30);
        let started = Instant::now();
        let mut n = 0;
        // A second before, the 30 s, a second after.
        while started.elapsed() < refusing + Duration::from_secs(2) {
            let at = started.elapsed();
            deployment
                .proxy
                .refuse_sqs(at >= Duration::from_secs(1) && at < refusing + Duration::from_secs(1));
            n += 1;
            let key = format!("sqs-{n}");
            let (status, body) = local
                .admin(Method::POST, &local.path("/events"), Some(event(&key)))
                .await;
            match status {
                202 => {
                    accepted.insert(key);
                }
                503 => {
                    assert_eq!(body["error"]["code"], 5003, "{body}");
                    refused.push(key);
                }
                other => panic!("{key}: {other} {body}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        deployment.proxy.refuse_sqs(false);
        assert!(!refused.is_empty(), "some were refused");
        assert!(!accepted.is_empty(), "some were accepted");

        // Each refused key is free again: a new event, not a replay.
        for key in &refused {
            let (status, body) = local
                .admin(Method::POST, &local.path("/events"), Some(event(key)))
                .await;
            assert_eq!(status, 202, "{key}: {body}");
            assert!(accepted.insert(key.clone()), "{key}");
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        wait_for_hits(&receiver, accepted.len(), deadline, "every accepted event").await;
        tokio::time::sleep(SETTLE).await;
        let delivered: Vec<String> = receiver
            .hits()
            .iter()
            .map(|h| {
                h.json()["data"]["buildNumber"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(delivered.len(), accepted.len(), "each once");
        assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), accepted);
    }

    /// A fan-out that fails every time: its DynamoDB reads of the organization's notifications
    /// refused (the fan-out's first write comes after its deliveries are queued, so refusing its
    /// writes would let deliveries out before the failure). Its job comes back after 1, 2, 4 and
    /// 8 s, then goes to the dead-letter queue, which the local server drains: the event's
    /// fan-out is `failed` and the operational webhook is told once. Nothing was delivered. With
    /// the fault gone, `fanout/retry` delivers it, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fan_out_refused_every_time_ends_failed_told_once_and_a_retry_delivers_it_once() {
        let deployment = Deployment::new().await;
        let local = deployment.start();
        let receiver = Receiver::start(&[]).await;
        webhook(&local, &receiver.url).await;
        let ops = Receiver::start(&[]).await;
        let (status, hook) = local
            .admin(
                Method::PUT,
                &local.path("/operational-webhook"),
                Some(json!({"url": ops.url, "events": ["event.fanoutFailed"]})),
            )
            .await;
        assert_eq!(status, 201, "{hook}");

        deployment.proxy.refuse_dynamodb(Some(("Query", "NOTIF#")));
        let id = emitted(&local, "f-1").await;
        wait_for_hits(
            &ops,
            1,
            Instant::now() + Duration::from_secs(120),
            "event.fanoutFailed",
        )
        .await;
        let told = ops.hits()[0].json();
        assert_eq!(told["type"], "event.fanoutFailed");
        assert_eq!(told["data"]["eventId"], id.as_str());
        let event_path = local.path(&format!("/events/{id}"));
        let (_, shown) = local.admin(Method::GET, &event_path, None).await;
        assert_eq!(
            shown["data"]["fanout"],
            json!({"status": "failed", "deliveries": 0}),
            "{shown}"
        );
        assert_eq!(receiver.hits().len(), 0, "nothing delivered");

        deployment.proxy.refuse_dynamodb(None);
        let retry = local.path(&format!("/events/{id}/fanout/retry"));
        let (status, retried) = local.admin(Method::POST, &retry, None).await;
        assert_eq!(status, 202, "{retried}");
        wait_for_hits(
            &receiver,
            1,
            Instant::now() + Duration::from_secs(60),
            "retried",
        )
        .await;
        tokio::time::sleep(SETTLE).await;
        assert_eq!(receiver.hits().len(), 1, "delivered once");
        assert_eq!(ops.hits().len(), 1, "told once");
        let (_, shown) = local.admin(Method::GET, &event_path, None).await;
        assert_eq!(
            shown["data"]["fanout"],
            json!({"status": "done", "deliveries": 1}),
            "{shown}"
        );
    }
}
