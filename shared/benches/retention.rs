//! The embedded database's size and its retention job (issue 11), on a temporary SQLite file:
//!
//! 1. Size: 1,000,000 webhook deliveries and 100,000 events (10 deliveries each) written through
//!    the store, the database checkpointed: bytes per delivery and per event, and the size per
//!    100,000 deliveries.
//! 2. The retention job (`Sqlite::prune`, 250 rows per writer job) removing all of them, side by
//!    side with the baseline of the same rows removed by one `DELETE` per table on a copy; and
//!    the latency of small writes made meanwhile (an SMS quota take every millisecond): the job
//!    works in chunks so that other writes go on.
//!
//! Run: `cargo bench -p shared --bench retention` (also in `bench/run`); `ROWS=100000` for a
//! quicker run.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};

use shared::adapters::sqlite::Sqlite;
use shared::model::token::issue_token;
use shared::model::{Channel, Delivery, Event, EventCreated, Organization, TokenRecord, User};
use shared::model::{
    Clock, DeliveryStatus, Email, EventType, Language, NotificationId, OrgId, OrgKind, Plan, Role,
    SystemClock, Username,
};
use shared::ports::store::{DeliveryLedger, EventStore, OrganizationStore, SmsQuotaStore};
use time::OffsetDateTime;
use uuid::Uuid;

const EVENT_FANOUT: usize = 10;
const CHUNK: usize = 10_000;

fn size(path: &std::path::Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| {
            std::fs::metadata(format!("{}{s}", path.display()))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

async fn organization(db: &Sqlite) -> OrgId {
    let org = OrgId::generate();
    let now = SystemClock.now();
    let admin = User {
        id: Uuid::now_v7(),
        organization: org.clone(),
        username: Username::parse("admin").unwrap_or_else(|e| panic!("{e}")),
        email: Email::parse("admin@example.com").unwrap_or_else(|e| panic!("{e}")),
        phone: None,
        roles: vec![Role::Admin],
        created_at: now,
    };
    let issued = issue_token(&org);
    let token = TokenRecord {
        id: issued.id,
        organization: org.clone(),
        hash: issued.hash,
        user_id: admin.id,
        roles: admin.roles.clone(),
        permissions: None,
        expires_at: None,
        created_at: now,
        last_used_at: None,
    };
    let record = Organization {
        id: org.clone(),
        name: "Bench".into(),
        kind: OrgKind::Production,
        plan: Plan::Paid,
        created_at: now,
        limits: None,
    };
    db.create_organization(&record, &admin, &token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    org
}

/// `rows` sent webhook deliveries of events created at `at`, `EVENT_FANOUT` per event.
async fn fill(db: &Sqlite, org: &OrgId, rows: usize, at: OffsetDateTime) -> (u64, u64) {
    let notification = NotificationId::generate();
    let template = shared::templates::get(shared::templates::TemplateKey::Event(
        EventType::BuildProcessed,
    ))
    .id;
    let before = size(db.path());
    let events: Vec<Event> = (0..rows.div_ceil(EVENT_FANOUT))
        .map(|n| Event {
            id: Uuid::now_v7(),
            organization: org.clone(),
            kind: EventType::BuildProcessed,
            data: serde_json::json!({"appName": "Bench", "version": "1.0", "build": n}),
            idempotency_key: None,
            body_hash: "0".repeat(64),
            created_at: at,
            fanout: shared::model::Fanout::PENDING,
            fanout_round: 0,
        })
        .collect();
    // Many at once, as requests come: the writer commits them in groups.
    stream::iter(&events)
        .for_each_concurrent(512, |event| async move {
            let created = db.create_event(event, at + time::Duration::hours(24)).await;
            assert_eq!(created, Ok(EventCreated::New));
        })
        .await;
    db.checkpoint().await.unwrap_or_else(|e| panic!("{e}"));
    let with_events = size(db.path());
    let mut batch = Vec::with_capacity(CHUNK);
    for i in 0..rows {
        let event = &events[i / EVENT_FANOUT];
        batch.push(Delivery {
            id: Uuid::new_v5(&event.id, format!("{notification}/{i}").as_bytes()),
            organization: org.clone(),
            event: Some(event.id),
            template,
            user: None,
            channel: Channel::Webhook {
                notification: notification.clone(),
            },
            notification: None,
            language: Language::En,
            data: None,
            status: DeliveryStatus::Sent,
            attempts: 1,
            round: 0,
            history: Vec::new(),
            last_error: None,
            reason: None,
            lease_until: None,
            created_at: at,
            updated_at: at,
        });
        if batch.len() == CHUNK || i + 1 == rows {
            db.put_deliveries(&batch)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            batch.clear();
        }
    }
    db.checkpoint().await.unwrap_or_else(|e| panic!("{e}"));
    (with_events - before, size(db.path()) - with_events)
}

/// Small writes every millisecond until `stop`: their latencies, and how many failed (a write
/// that waits more than the database's busy timeout, 5 s, for another connection's lock fails).
async fn writes_meanwhile(
    db: Sqlite,
    org: OrgId,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut failed = 0;
    let day = time::macros::date!(2026 - 01 - 01);
    while !*stop.borrow() {
        let started = Instant::now();
        match db.take_sms(&org, Uuid::now_v7(), day, 50).await {
            Ok(true) => {}
            Ok(false) => panic!("a new user's quota refused"),
            Err(_) => failed += 1,
        }
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (latencies, failed)
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted
        .get(i)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Times `prune`, with small writes going on; returns (seconds, write latencies, failed writes).
async fn timed<F: std::future::Future<Output = ()>>(
    db: &Sqlite,
    org: &OrgId,
    prune: F,
) -> (f64, Vec<Duration>, usize) {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let meanwhile = tokio::spawn(writes_meanwhile(db.clone(), org.clone(), stopping));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    prune.await;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let (mut latencies, failed) = meanwhile.await.unwrap_or_else(|e| panic!("{e}"));
    latencies.sort();
    (seconds, latencies, failed)
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("herald-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let now = SystemClock.now();
    let old = now - time::Duration::days(40);

    let job_db = Sqlite::open(&dir.join("job.db")).unwrap_or_else(|e| panic!("{e}"));
    let org = organization(&job_db).await;
    let started = Instant::now();
    let (events_bytes, deliveries_bytes) = fill(&job_db, &org, rows, old).await;
    let events = rows.div_ceil(EVENT_FANOUT);
    println!(
        "wrote {rows} deliveries and {events} events through the store in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "size: {:.0} bytes per delivery, {:.0} bytes per event; 100,000 deliveries = {:.1} MB, \
         100,000 one-target events with their deliveries = {:.1} MB",
        deliveries_bytes as f64 / rows as f64,
        events_bytes as f64 / events as f64,
        deliveries_bytes as f64 / rows as f64 * 1e5 / 1e6,
        (deliveries_bytes as f64 / rows as f64 + events_bytes as f64 / events as f64) * 1e5 / 1e6,
    );
    // The baseline works on an identical copy.
    let copy = dir.join("baseline.db");
    std::fs::copy(job_db.path(), &copy).unwrap_or_else(|e| panic!("{e}"));
    let base_db = Sqlite::open(&copy).unwrap_or_else(|e| panic!("{e}"));

    let cutoff = now - time::Duration::days(30);
    let (job_seconds, job_latency, job_failed) = timed(&job_db, &org, async {
        let pruned = job_db
            .prune(cutoff, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((pruned.deliveries, pruned.events), (rows, events));
    })
    .await;
    let (base_seconds, base_latency, base_failed) = timed(&base_db, &org, async {
        let conn = rusqlite::Connection::open(&copy).unwrap_or_else(|e| panic!("{e}"));
        conn.busy_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
        let cutoff = shared::model::timestamp::format(cutoff);
        let deleted = conn
            .execute(
                "DELETE FROM deliveries WHERE org = ?1 AND list_key < ?2",
                [org.as_str(), &cutoff],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        conn.execute("DELETE FROM events WHERE created_at < ?1", [&cutoff])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deleted, rows);
    })
    .await;
    println!(
        "retention job on {rows} deliveries + {events} events: {job_seconds:.2} s; one DELETE per table \
         (baseline): {base_seconds:.2} s; job / baseline = {:.2}",
        job_seconds / base_seconds
    );
    println!(
        "small writes meanwhile, p50 / p99 / max: job {:.1} / {:.1} / {:.1} ms ({} writes, {job_failed} \
         failed); baseline {:.1} / {:.1} / {:.1} ms ({} writes, {base_failed} failed after waiting \
         5 s for the lock)",
        quantile(&job_latency, 0.5),
        quantile(&job_latency, 0.99),
        quantile(&job_latency, 1.0),
        job_latency.len(),
        quantile(&base_latency, 0.5),
        quantile(&base_latency, 0.99),
        quantile(&base_latency, 1.0),
        base_latency.len(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
