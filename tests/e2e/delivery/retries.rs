//! The retry schedule on both backends: a receiver down for longer than the old five-attempt
//! budget gets every delivery once it is back; a waiting delivery shows when it is tried next;
//! a target's `Retry-After` is honoured up to the schedule's longest step.

use shared::model::retry::RetrySchedule;

use super::*;

fn schedule(raw: &str) -> RetrySchedule {
    raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"))
}

/// The receiver answers each delivery's first seven requests 503: an outage longer than
/// Herald's old five-attempt budget, counted in attempts so that it is the same on a loaded
/// machine as on an idle one. A 40-step schedule outlasts it (its steps are at most a second; on
/// SQS exactly one: its delays are whole seconds), and every delivery arrives once it is back.
async fn a_receiver_down_longer_than_five_attempts_gets_every_delivery_once_back(backend: Backend) {
    const DOWN: usize = 7;
    let mut d = DeliveryApp::with_schedule(backend, schedule(&vec!["1s"; 40].join(","))).await;
    d.visibility = Duration::from_secs(5);
    let receiver = Receiver::start_failing_first(DOWN).await;
    let notification = webhook(&d, &receiver.url).await;
    let events = [emitted(&d).await, emitted(&d).await, emitted(&d).await];
    d.pump(Duration::from_secs(90)).await;

    let mut delivered = Vec::new();
    for event in &events {
        let sent = delivery(&d, event, &notification).await;
        assert_eq!(sent.status, DeliveryStatus::Sent, "{:?}", sent.history);
        assert_eq!(
            sent.attempts,
            u32::try_from(DOWN + 1).unwrap_or(0),
            "more than the old five attempts were needed"
        );
        // Its history (the last ten attempts): 503s before the 200.
        let outcomes: Vec<Option<u16>> = sent.history.iter().map(|a| a.status_code).collect();
        let mut expected = vec![Some(503); DOWN];
        expected.push(Some(200));
        assert_eq!(outcomes, expected);
        delivered.push(sent.id.to_string());
    }
    // Every delivery's requests: its seven refused, then the one that arrived, and no other.
    let hits = receiver.hits();
    for id in &delivered {
        let requests = hits
            .iter()
            .filter(|h| h.header("webhook-id") == *id)
            .count();
        assert_eq!(requests, DOWN + 1, "{id}");
    }
    assert_eq!(hits.len(), delivered.len() * (DOWN + 1));
}

/// A delivery waiting for its next attempt shows when (`nextAttemptAt`, in the delivery and in
/// the attempt that failed), within the step's jitter: between a tenth of the step and all of it.
async fn a_waiting_delivery_shows_when_it_is_tried_next(backend: Backend) {
    let d = DeliveryApp::with_schedule(backend, schedule("1h,1h")).await;
    let receiver = Receiver::start(&[(503, None)]).await;
    webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    d.pump(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.hits().len(),
        1,
        "one attempt; the next in up to an hour"
    );

    let shown = delivery_of(&d, &event).await;
    assert_eq!(shown["status"], "queued");
    assert_eq!(shown["attempts"], 1);
    let at = timestamp(&shown["history"][0]["at"]);
    let next = timestamp(&shown["nextAttemptAt"]);
    assert_eq!(shown["history"][0]["nextAttemptAt"], shown["nextAttemptAt"]);
    assert_eq!(shown["history"][0]["outcome"], "retry");
    let wait = next - at;
    assert!(
        wait >= time::Duration::minutes(6) && wait <= time::Duration::hours(1),
        "{wait}"
    );
    // Its message is hidden until then.
    let visible = d
        .app
        .state
        .queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(visible.is_empty(), "{visible:?}");
}

/// `Retry-After: 7200` from a target on a schedule whose longest step is an hour: the next
/// attempt is an hour after the failed one, exactly. A shorter `Retry-After` is taken as it is.
async fn retry_after_is_honoured_up_to_the_longest_step(backend: Backend) {
    let d = DeliveryApp::with_schedule(backend, schedule("10s,1h")).await;
    let receiver = Receiver::start(&[(429, Some(7200))]).await;
    webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    d.pump(Duration::from_secs(3)).await;
    let shown = delivery_of(&d, &event).await;
    assert_eq!(shown["status"], "queued");
    let wait = timestamp(&shown["nextAttemptAt"]) - timestamp(&shown["history"][0]["at"]);
    assert_eq!(wait, time::Duration::hours(1));

    // Another target asking for two minutes: its delivery waits two minutes. (The first target
    // asked for an hour: its delivery of this event waits on the queue, unclaimed and never
    // attempted. On SQS its message is its only record, so the log shows only the second's; on
    // SQLite its row is its queue entry, so the log shows it `queued`, with no attempt.)
    let receiver = Receiver::start(&[(429, Some(120))]).await;
    let second = webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    d.pump(Duration::from_secs(3)).await;
    let log = d
        .app
        .admin(
            Method::GET,
            &d.app.path(&format!("/deliveries?eventId={event}")),
            None,
        )
        .await;
    let items = log.body["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (waiting, unclaimed): (Vec<Value>, Vec<Value>) = items
        .into_iter()
        .partition(|i| i["notificationId"] == json!(second));
    let statuses = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["status"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(statuses(&waiting), ["queued"], "{}", log.body);
    match backend {
        Backend::Moto => assert!(unclaimed.is_empty(), "{}", log.body),
        Backend::Sqlite => {
            assert_eq!(statuses(&unclaimed), ["queued"], "{}", log.body);
            assert_eq!(unclaimed[0]["history"], json!([]), "never attempted");
        }
    }
    let waiting = &waiting[0];
    let wait = timestamp(&waiting["nextAttemptAt"]) - timestamp(&waiting["history"][0]["at"]);
    assert_eq!(wait, time::Duration::minutes(2));
}

fn timestamp(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap_or_else(|e| panic!("{v}: {e}"))
}

herald_tests::on_both_backends!(
    a_receiver_down_longer_than_five_attempts_gets_every_delivery_once_back,
    a_waiting_delivery_shows_when_it_is_tried_next,
    retry_after_is_honoured_up_to_the_longest_step,
);
