//! A dependency that crawls: `herald-local` on `HERALD_BACKEND=aws`, its AWS calls through a
//! proxy in front of moto that can hold SQS's answers back. Every AWS call has a time limit
//! (`HERALD_AWS_TIMEOUT_MS`), so a crawling SQS ends the request in a clean 503 in about that
//! limit instead of holding it (a Lambda function would be killed at its own timeout halfway
//! through), and nothing of the refused event is left: the same key again is a new event,
//! delivered exactly once.

use std::time::{Duration, Instant};

use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, temp_path};
use herald_tests::proxy::MotoProxy;
use serde_json::{Value, json};

/// Emits a `buildCreated` event with the idempotency key `key`: the status and the answer.
async fn emit(local: &Local, key: &str) -> (u16, Value) {
    let event = json!({"type": "buildCreated", "idempotencyKey": key, "data": {"appName": "Field Service", "version": "4.2.0", "buildNumber": "1187", "platform": "iOS", "createdBy": "Grace", "url": "https://console.example.com/b/1187"}});
    local
        .admin(reqwest::Method::POST, &local.path("/events"), Some(event))
        .await
}

mod moto {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_sqs_that_does_not_answer_in_time_ends_the_emit_in_a_503_and_leaves_nothing_of_it() {
        let proxy = MotoProxy::start().await;
        let table = format!("herald-slow-{}", uuid::Uuid::new_v4().simple());
        let local = Local::start(
            &temp_path("data"),
            &[
                ("HERALD_BACKEND", "aws"),
                ("AWS_ENDPOINT_URL", &proxy.url),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("TABLE_NAME", &table),
                // One call may take 2 s here; SQS's held answer would take 60.
                ("HERALD_AWS_TIMEOUT_MS", "2000"),
            ],
        );
        let receiver = Receiver::start(&[]).await;
        let (status, created) = local
            .admin(
                reqwest::Method::POST,
                &local.path("/notifications"),
                Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": receiver.url}}})),
            )
            .await;
        assert_eq!(status, 200, "{created}");

        proxy.hold_sqs_answers(true);
        let started = Instant::now();
        let (status, refused) = emit(&local, "slow-1").await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{refused}");
        assert_eq!(refused["status"], false);
        assert_eq!(refused["error"]["code"], 5003, "{refused}");
        // Well under the held answer's 60 s: the call gave up at its limit (and the event's
        // record was undone) instead of waiting for SQS.
        assert!(took < Duration::from_secs(30), "took {took:?}");

        // SQS answers in time again: the same key is a new event (nothing of the first one was
        // kept to be replayed), delivered once.
        proxy.hold_sqs_answers(false);
        let (status, accepted) = emit(&local, "slow-1").await;
        assert_eq!(status, 202, "{accepted}");
        let id = accepted["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, sent) = local
                .admin(
                    reqwest::Method::GET,
                    &local.path(&format!("/deliveries?eventId={id}&status=sent")),
                    None,
                )
                .await;
            if sent["data"]["items"]
                .as_array()
                .is_some_and(|i| i.len() == 1)
            {
                break;
            }
            assert!(Instant::now() < deadline, "not delivered: {sent}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let hits = receiver.hits();
        assert_eq!(hits.len(), 1, "delivered exactly once");
        assert_eq!(hits[0].json()["data"]["appName"], "Field Service");
    }
}
