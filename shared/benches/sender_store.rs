//! The sender's durable work alone, on the embedded database: what a delivery costs in writes
//! when nothing is sent. `herald-local`'s sender loop without the HTTP request, through the
//! sender's inbox: take a batch of 10 (received and claimed in one transaction), finish it (the 10
//! settled `sent` and their entries acknowledged in another) — two writer jobs per batch — with as
//! many loops as `herald-local` runs (16), on 2 tokio threads.
//! Reports deliveries/s and CPU-seconds per 1,000 (of this process: the writer thread and the
//! loops). Side by side with `bench/deliveries.py`'s sender figure, it says how much of the
//! sender's CPU is the database's.
//!
//! Run: `cargo bench -p shared --bench sender_store` (also in `bench/run`); `N=…` deliveries
//! (default 20,000), `W=…` loops.

use std::time::{Duration, Instant};

use shared::adapters::sqlite::Sqlite;
use shared::app::Backends;
use shared::model::{Channel, Claim, Delivery, Outcome};
use shared::model::{
    Clock, DeliveryStatus, EventType, Language, NotificationId, OrgId, SystemClock,
};
use shared::ports::inbox::{Ending, Entry, Finished};
use shared::ports::queue::{DeliveryMessage, Disposition};
use shared::ports::store::Settlement;
use uuid::Uuid;

/// The process's user + system CPU seconds so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(worker_threads = 2)]
async fn main() {
    let n = var("N", 20_000);
    let loops = var("W", 16);
    let dir = std::env::temp_dir().join(format!("herald-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let db = Sqlite::open(&dir.join("herald.db")).unwrap_or_else(|e| panic!("{e}"));
    let backends = Backends::sqlite(db, shared::ports::queue::MAX_RECEIVES);
    let org = OrgId::generate();
    let now = SystemClock.now();
    let notification = NotificationId::generate();
    let template = shared::templates::get(shared::templates::TemplateKey::Event(
        EventType::BuildProcessed,
    ))
    .id;
    let messages: Vec<DeliveryMessage> = (0..n)
        .map(|i| DeliveryMessage {
            delivery: Delivery {
                id: Uuid::now_v7(),
                organization: org.clone(),
                event: Some(Uuid::now_v7()),
                template,
                user: None,
                channel: Channel::Webhook {
                    notification: notification.clone(),
                },
                notification: None,
                language: Language::En,
                data: None,
                status: DeliveryStatus::Queued,
                attempts: 0,
                round: 0,
                history: Vec::new(),
                last_error: None,
                reason: None,
                lease_until: None,
                created_at: now + time::Duration::milliseconds(i64::try_from(i).unwrap_or(0)),
                updated_at: now,
            },
            slot: None,
        })
        .collect();
    for chunk in messages.chunks(500) {
        backends
            .queue
            .send(chunk)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..loops {
        let inbox = backends.inbox.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let now = SystemClock.now();
                let lease = now + time::Duration::seconds(60);
                let taken = inbox
                    .take(10, Duration::from_secs(90), now, lease)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                if taken.is_empty() {
                    return;
                }
                let endings: Vec<Ending> = taken
                    .into_iter()
                    .map(|taken| {
                        let settlement = match &taken.claim {
                            Some(Ok(Claim::Claimed(d))) => Settlement {
                                delivery: (**d).clone(),
                                lease_until: lease,
                                outcome: Outcome::Sent,
                                attempt: None,
                            },
                            other => panic!("every delivery claimed as taken: {other:?}"),
                        };
                        Ending {
                            taken,
                            settlement: Some(settlement),
                            raises: Vec::new(),
                            entry: Entry::Message(Disposition::Ack),
                        }
                    })
                    .collect();
                let finished = inbox.finish(&endings, SystemClock.now()).await;
                assert!(
                    finished.iter().all(|f| f == &Finished::Done),
                    "every one settled and acknowledged"
                );
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "sender's store work alone: {n} deliveries received, claimed, settled and acknowledged by \
         {loops} loops in {seconds:.2} s = {:.0}/s; {:.3} CPU-s per 1,000",
        n as f64 / seconds,
        cpu / n as f64 * 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
