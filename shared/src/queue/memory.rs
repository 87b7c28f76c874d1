//! The embedded queue: SQS's at-least-once semantics in process. A received message is hidden for
//! its visibility timeout and comes back if not acknowledged; after `max_receives` receives it
//! moves to the dead-letter list instead (SQS redrive, `maxReceiveCount`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{DeliveryMessage, Queue, QueueError, QueueMessage, Received};

#[derive(Debug)]
struct Entry<M> {
    message: M,
    visible_at: Instant,
    receives: u32,
    /// The receipt of the latest receive; an older receipt no longer acknowledges it.
    receipt: Option<String>,
}

/// Entries by arrival number (oldest first), and the live receipts: acknowledging or delaying a
/// message is a lookup, and nothing moves the messages (a delivery message carries the whole
/// delivery, and a busy queue holds thousands).
#[derive(Debug)]
struct Inner<M> {
    entries: BTreeMap<u64, Entry<M>>,
    receipts: HashMap<String, u64>,
    dead: Vec<M>,
    next_entry: u64,
    next_receipt: u64,
}

#[derive(Debug)]
pub struct MemoryQueue<M = DeliveryMessage> {
    inner: Mutex<Inner<M>>,
    max_receives: u32,
}

impl<M: Clone> Default for MemoryQueue<M> {
    fn default() -> Self {
        Self::new(5)
    }
}

impl<M: Clone> MemoryQueue<M> {
    /// A queue redriving a message to its dead-letter list at its `max_receives`-th failed receive.
    pub fn new(max_receives: u32) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: BTreeMap::new(),
                receipts: HashMap::new(),
                dead: Vec::new(),
                next_entry: 0,
                next_receipt: 0,
            }),
            max_receives,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<M>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages not yet acknowledged (visible or in flight), oldest first.
    pub fn pending(&self) -> Vec<M> {
        self.lock()
            .entries
            .values()
            .map(|e| e.message.clone())
            .collect()
    }

    /// Messages moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<M> {
        self.lock().dead.clone()
    }
}

#[async_trait]
impl<M: QueueMessage> Queue<M> for MemoryQueue<M> {
    async fn send(&self, messages: &[M]) -> Result<(), QueueError> {
        let now = Instant::now();
        let mut inner = self.lock();
        for message in messages {
            let n = inner.next_entry;
            inner.next_entry += 1;
            inner.entries.insert(
                n,
                Entry {
                    message: message.clone(),
                    visible_at: now,
                    receives: 0,
                    receipt: None,
                },
            );
        }
        Ok(())
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Received<M>>, QueueError> {
        let now = Instant::now();
        let max_receives = self.max_receives;
        let inner = &mut *self.lock();
        // Redrive: a message received `max_receives` times and visible again goes dead.
        let dead: Vec<u64> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.receives >= max_receives && e.visible_at <= now)
            .map(|(n, _)| *n)
            .collect();
        for n in dead {
            if let Some(e) = inner.entries.remove(&n) {
                if let Some(receipt) = &e.receipt {
                    inner.receipts.remove(receipt);
                }
                inner.dead.push(e.message);
            }
        }
        let mut out = Vec::new();
        for (n, entry) in inner.entries.iter_mut() {
            if out.len() >= max.min(10) {
                break;
            }
            if entry.visible_at > now {
                continue;
            }
            inner.next_receipt += 1;
            let receipt = format!("r{}", inner.next_receipt);
            if let Some(old) = entry.receipt.replace(receipt.clone()) {
                inner.receipts.remove(&old);
            }
            inner.receipts.insert(receipt.clone(), *n);
            entry.receives += 1;
            entry.visible_at = now + visibility;
            out.push(Received {
                message: entry.message.clone(),
                receipt,
                receive_count: entry.receives,
            });
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let mut inner = self.lock();
        if let Some(n) = inner.receipts.remove(receipt) {
            inner.entries.remove(&n);
        }
        Ok(())
    }

    async fn delay(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let at = Instant::now() + delay;
        let mut inner = self.lock();
        if let Some(n) = inner.receipts.get(receipt).copied()
            && let Some(entry) = inner.entries.get_mut(&n)
        {
            entry.visible_at = at;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OrgId;
    use crate::queue::FanoutMessage;

    /// The queue is the same whatever it carries: its tests carry small fan-out jobs.
    fn message(n: u128) -> FanoutMessage {
        FanoutMessage::Resume {
            organization: OrgId::parse(&format!("org-{n}")).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_received_message_is_hidden_until_its_visibility_ends_then_comes_back() {
        let queue = MemoryQueue::new(5);
        queue.send(&[message(1)]).await.unwrap();
        let first = queue.receive(10, Duration::from_millis(30)).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        assert!(
            queue
                .receive(10, Duration::from_millis(30))
                .await
                .unwrap()
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        let again = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(again[0].message, message(1));
        assert_eq!(again[0].receive_count, 2);
        // The stale receipt no longer acknowledges it; the new one does.
        queue.ack(&first[0].receipt).await.unwrap();
        assert_eq!(queue.pending().len(), 1);
        queue.ack(&again[0].receipt).await.unwrap();
        assert!(queue.pending().is_empty());
    }

    #[tokio::test]
    async fn after_max_receives_a_message_goes_to_the_dead_letters() {
        let queue = MemoryQueue::new(2);
        queue.send(&[message(7)]).await.unwrap();
        for _ in 0..2 {
            assert_eq!(queue.receive(1, Duration::ZERO).await.unwrap().len(), 1);
        }
        assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(queue.dead_letters(), [message(7)]);
        assert!(queue.pending().is_empty());
    }

    #[tokio::test]
    async fn receive_takes_at_most_ten() {
        let queue: MemoryQueue<FanoutMessage> = MemoryQueue::default();
        let messages: Vec<_> = (0..15).map(message).collect();
        queue.send(&messages).await.unwrap();
        assert_eq!(
            queue
                .receive(50, Duration::from_secs(30))
                .await
                .unwrap()
                .len(),
            10
        );
        assert_eq!(
            queue
                .receive(50, Duration::from_secs(30))
                .await
                .unwrap()
                .len(),
            5
        );
    }
}
