//! The delivery queue's contract: the same assertions against the embedded queue and SQS (moto).

use std::collections::HashSet;
use std::time::Duration;

use herald_tests::{Backend, new_queue, queued_delivery};
use shared::model::{Email, OrgId};
use shared::queue::DeliveryMessage;
use uuid::Uuid;

fn messages(n: usize) -> Vec<DeliveryMessage> {
    let org = OrgId::generate();
    (0..n)
        .map(|_| DeliveryMessage {
            delivery: queued_delivery(
                &org,
                Uuid::now_v7(),
                Email::parse("q@example.com").unwrap_or_else(|e| panic!("{e}")),
            ),
        })
        .collect()
}

async fn every_sent_message_is_received_once_until_acknowledged(backend: Backend) {
    let queue = new_queue(backend).await;
    let sent = messages(23); // three SendMessageBatch calls on SQS
    queue.send(&sent).await.unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    for _ in 0..20 {
        let batch = queue
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(batch.len() <= 10);
        if batch.is_empty() && got.len() == sent.len() {
            break;
        }
        got.extend(batch);
    }
    let ids: HashSet<Uuid> = got.iter().map(|r| r.message.delivery.id).collect();
    assert_eq!(got.len(), 23, "each message once while in flight");
    assert_eq!(ids, sent.iter().map(|m| m.delivery.id).collect());
    assert!(got.iter().all(|r| r.receive_count == 1));
    for r in &got {
        queue
            .ack(&r.receipt)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

async fn an_unacknowledged_message_comes_back_after_its_visibility_timeout(backend: Backend) {
    let queue = new_queue(backend).await;
    let sent = messages(1);
    queue.send(&sent).await.unwrap_or_else(|e| panic!("{e}"));
    let first = queue
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message, sent[0]);
    assert_eq!(again[0].receive_count, 2);
    queue
        .ack(&again[0].receipt)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let none = queue
        .receive(10, Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(none.is_empty());
}

herald_tests::on_both_backends!(
    every_sent_message_is_received_once_until_acknowledged,
    an_unacknowledged_message_comes_back_after_its_visibility_timeout,
);
