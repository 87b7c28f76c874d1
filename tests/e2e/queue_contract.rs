//! The queue contract: the same assertions against the embedded queue (SQLite) and SQS (moto),
//! for both message kinds: at least once, a visibility timeout, a delay, redelivery after a lost
//! acknowledgement, and redrive to the dead-letter queue after 5 receives.

use std::collections::HashSet;
use std::time::Duration;

use herald_tests::{Backend, ContractQueue, new_queue, queued_delivery};
use shared::model::{Email, NotificationId, OrgId};
use shared::ports::queue::{
    DeliveryMessage, FanoutMessage, FanoutPosition, QueueMessage, Received,
};
use uuid::Uuid;

fn deliveries(n: usize) -> Vec<DeliveryMessage> {
    let org = OrgId::generate();
    (0..n)
        .map(|_| DeliveryMessage {
            delivery: queued_delivery(
                &org,
                Uuid::now_v7(),
                Email::parse("q@example.com").unwrap_or_else(|e| panic!("{e}")),
            ),
            slot: None,
        })
        .collect()
}

/// Fan-out jobs of every shape: a first chunk, a later chunk, a resume.
fn fanouts(n: usize) -> Vec<FanoutMessage> {
    let organization = OrgId::generate();
    (0..n)
        .map(|i| match i % 3 {
            0 => FanoutMessage::Event {
                organization: organization.clone(),
                event: Uuid::now_v7(),
                position: None,
                round: 0,
            },
            1 => FanoutMessage::Event {
                organization: organization.clone(),
                event: Uuid::now_v7(),
                position: Some(FanoutPosition {
                    notification: NotificationId::generate(),
                    after: Some(format!("recipient-{i}")),
                    chunk: u32::try_from(i).unwrap_or(0),
                    made: i as u64,
                }),
                round: u32::try_from(i).unwrap_or(0),
            },
            _ => FanoutMessage::Resume {
                organization: OrgId::parse(&format!("org-{i}")).unwrap_or_else(|e| panic!("{e}")),
            },
        })
        .collect()
}

async fn receive<M: QueueMessage>(
    q: &ContractQueue<M>,
    max: usize,
    visibility: Duration,
) -> Vec<Received<M>> {
    q.queue
        .receive(max, visibility)
        .await
        .unwrap_or_else(|e| panic!("receive: {e}"))
}

async fn ack<M: QueueMessage>(q: &ContractQueue<M>, received: &Received<M>) {
    q.queue
        .ack(&received.receipt)
        .await
        .unwrap_or_else(|e| panic!("ack: {e}"));
}

/// Sends `sent`, receives until all are in hand (each once while in flight), acknowledges them,
/// and finds the queue empty.
async fn every_message_is_received_once_until_acknowledged<M>(q: ContractQueue<M>, sent: Vec<M>)
where
    M: QueueMessage + PartialEq,
{
    q.queue.send(&sent).await.unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    for _ in 0..20 {
        let batch = receive(&q, 10, Duration::from_secs(30)).await;
        assert!(batch.len() <= 10, "at most ten per receive");
        if batch.is_empty() && got.len() == sent.len() {
            break;
        }
        got.extend(batch);
    }
    assert_eq!(got.len(), sent.len(), "each message once while in flight");
    let text = |m: &M| serde_json::to_string(m).unwrap_or_else(|e| panic!("{e}"));
    let messages: HashSet<String> = got.iter().map(|r| text(&r.message)).collect();
    assert_eq!(messages, sent.iter().map(text).collect::<HashSet<_>>());
    assert!(got.iter().all(|r| r.receive_count == 1));
    for r in &got {
        ack(&q, r).await;
    }
    assert!(receive(&q, 10, Duration::ZERO).await.is_empty());
}

async fn delivery_messages_are_received_once_until_acknowledged(backend: Backend) {
    // 23: three SendMessageBatch calls on SQS.
    every_message_is_received_once_until_acknowledged(new_queue(backend).await, deliveries(23))
        .await;
}

async fn fanout_messages_are_received_once_until_acknowledged(backend: Backend) {
    every_message_is_received_once_until_acknowledged(new_queue(backend).await, fanouts(12)).await;
}

async fn a_lost_acknowledgement_brings_the_message_back_after_its_visibility_timeout(
    backend: Backend,
) {
    let q = new_queue(backend).await;
    let sent = deliveries(1);
    q.queue.send(&sent).await.unwrap_or_else(|e| panic!("{e}"));
    let first = receive(&q, 10, Duration::from_secs(1)).await;
    assert_eq!(first.len(), 1);
    // Hidden while its receiver holds it.
    assert!(receive(&q, 10, Duration::from_secs(1)).await.is_empty());
    // The receiver dies before acknowledging: the message comes back, counted.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = receive(&q, 10, Duration::from_secs(30)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message, sent[0]);
    assert_eq!(again[0].receive_count, 2);
    ack(&q, &again[0]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(receive(&q, 10, Duration::ZERO).await.is_empty());
}

async fn a_delayed_message_stays_hidden_for_its_delay_then_comes_back(backend: Backend) {
    let q = new_queue(backend).await;
    let sent = fanouts(1);
    q.queue.send(&sent).await.unwrap_or_else(|e| panic!("{e}"));
    let first = receive(&q, 10, Duration::from_secs(30)).await;
    assert_eq!(first.len(), 1);
    q.queue
        .delay(&first[0].receipt, Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("delay: {e}"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        receive(&q, 10, Duration::from_secs(30)).await.is_empty(),
        "still hidden halfway through its delay"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let again = receive(&q, 10, Duration::from_secs(30)).await;
    assert_eq!(again.len(), 1, "back after its delay");
    assert_eq!(again[0].message, sent[0]);
    assert_eq!(again[0].receive_count, 2);
    ack(&q, &again[0]).await;
}

async fn a_message_sent_delayed_stays_hidden_for_its_delay_and_counts_its_receives_afresh(
    backend: Backend,
) {
    let q = new_queue(backend).await;
    let mut sent = deliveries(2);
    let slot = time::OffsetDateTime::now_utc() + time::Duration::seconds(5);
    sent[1].slot = Some(shared::model::timestamp::truncate(slot));
    let delayed: Vec<(DeliveryMessage, Duration)> = vec![
        (sent[0].clone(), Duration::from_secs(2)),
        (sent[1].clone(), Duration::from_millis(2900)),
    ];
    q.queue
        .send_delayed(&delayed)
        .await
        .unwrap_or_else(|e| panic!("send delayed: {e}"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        receive(&q, 10, Duration::from_secs(30)).await.is_empty(),
        "hidden halfway through their delays"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Both are back: SQS rounds 2.9 s down to 2 s, and SQLite's 2.9 s has not passed yet, so
    // wait for the second where it is due.
    let mut back = receive(&q, 10, Duration::from_secs(30)).await;
    if back.len() < 2 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        back.extend(receive(&q, 10, Duration::from_secs(30)).await);
    }
    back.sort_by_key(|r| r.message.slot.is_some());
    let messages: Vec<&DeliveryMessage> = back.iter().map(|r| &r.message).collect();
    assert_eq!(messages, vec![&sent[0], &sent[1]], "each with its slot");
    assert_eq!(
        back.iter().map(|r| r.receive_count).collect::<Vec<_>>(),
        vec![1, 1]
    );
    for r in &back {
        ack(&q, r).await;
    }
}

async fn a_message_received_five_times_without_acknowledgement_goes_to_the_dead_letter_queue(
    backend: Backend,
) {
    let q = new_queue(backend).await;
    let sent = deliveries(1);
    q.queue.send(&sent).await.unwrap_or_else(|e| panic!("{e}"));
    for n in 1..=5 {
        let got = receive(&q, 10, Duration::ZERO).await;
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].receive_count, n);
    }
    assert!(
        receive(&q, 10, Duration::ZERO).await.is_empty(),
        "the sixth receive finds it gone"
    );
    assert_eq!(q.dead_letters().await, sent);
}

async fn a_receive_takes_at_most_ten(backend: Backend) {
    let q = new_queue(backend).await;
    q.queue
        .send(&fanouts(15))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(receive(&q, 50, Duration::from_secs(30)).await.len(), 10);
    assert_eq!(receive(&q, 50, Duration::from_secs(30)).await.len(), 5);
}

herald_tests::on_both_backends!(
    a_message_sent_delayed_stays_hidden_for_its_delay_and_counts_its_receives_afresh,
    delivery_messages_are_received_once_until_acknowledged,
    fanout_messages_are_received_once_until_acknowledged,
    a_lost_acknowledgement_brings_the_message_back_after_its_visibility_timeout,
    a_delayed_message_stays_hidden_for_its_delay_then_comes_back,
    a_message_received_five_times_without_acknowledgement_goes_to_the_dead_letter_queue,
    a_receive_takes_at_most_ten,
);
