//! The delivery engine under failure, on both backends: a timeout, a sender killed between
//! sending and settling, SQS refusing, DynamoDB failing at each step (moto only), and five
//! failures ending in the dead-letter queue. Nothing is lost; a repeat keeps its `webhook-id`.

use shared::ports::queue::consume;

use super::*;

async fn a_timeout_is_retried_and_delivered_with_the_same_webhook_id(backend: Backend) {
    let mut d = DeliveryApp::spawn(backend).await;
    d.transports.http.client = shared::adapters::http::delivery_client_with_timeout(
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
    let results = shared::workers::fanout::process_batch(state.fanout_worker(), fanouts).await;
    shared::ports::queue::apply(&*state.fanout, results, true).await;
    let now = state.clock.now();
    let batch = state
        .inbox
        .take(10, d.visibility, now, now + shared::workers::sender::LEASE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(batch.len(), 1);
    // The sender sends, then dies before it settles or acknowledges anything.
    let transports = d.transports.clone();
    let sender = tokio::spawn(async move {
        shared::workers::sender::process(&state.sender(&transports), &*state.inbox, batch).await
    });
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
        .advance(shared::workers::sender::LEASE + Duration::from_secs(1));
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
    d.app = d.app.restated(|state| {
        state
            .with_fanout(fanout.clone())
            .with_queue(deliveries.clone())
    });
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

/// Runs what is on the queues once: one fan-out batch, then one sender batch.
async fn run_once(d: &DeliveryApp) {
    let state = &d.app.state;
    consume(&*state.fanout, d.visibility, |batch| {
        shared::workers::fanout::process_batch(state.fanout_worker(), batch)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    shared::workers::sender::round(&state.sender(&d.transports), &*state.inbox, d.visibility)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
        let results = shared::workers::fanout::process_batch(state.fanout_worker(), fanouts).await;
        shared::ports::queue::apply(&*state.fanout, results, true).await;
        calls.fail(operation, 0, 1);
        d.pump(PUMP).await;
        assert!(!calls.faults_pending(), "{operation} failed once");
    }
    assert_eq!(receiver.hits().len(), 4, "each sent once");

    // The settlement after a send (the claim passes, the next UpdateItem fails): the delivery
    // stays `sending` under its lease; when the lease ends it is sent again, same webhook-id.
    events.push(emitted(&d).await);
    // (The first UpdateItem is the fan-out's record of its event, the second the claim.)
    calls.fail("UpdateItem", 2, 1);
    run_once(&d).await;
    assert!(!calls.faults_pending(), "the settlement failed");
    let last = events.last().cloned().unwrap_or_default();
    let stuck = delivery(&d, &last, &notification).await;
    assert_eq!(stuck.status, DeliveryStatus::Sending);
    d.clock
        .advance(shared::workers::sender::LEASE + Duration::from_secs(1));
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

herald_tests::on_both_backends!(
    a_timeout_is_retried_and_delivered_with_the_same_webhook_id,
    a_sender_killed_between_send_and_settle_loses_nothing,
    when_sqs_refuses_nothing_is_recorded_and_a_retry_delivers_once,
    five_failures_fail_the_delivery_and_its_message_goes_to_the_dead_letter_queue,
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
