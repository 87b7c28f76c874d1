//! What only the embedded backend has: the retention job, taking back a dead process's work at
//! start-up, and writes committed in groups where a failing one undoes only itself. (DynamoDB
//! expires the same records by TTL: `moto::events_and_deliveries_expire_by_ttl`.)

use std::sync::Arc;
use std::time::Duration;

use herald_tests::{organization_in, queued_delivery, temp_database};
use shared::adapters::sqlite::delivery_queue::DeliveryRows;
use shared::adapters::sqlite::{Pruned, Sqlite};
use shared::model::{Claim, Delivery, DeliveryFilter, Event, EventCreated, User};
use shared::model::{
    Clock, DeliveryStatus, Email, EventType, OrgId, OrgKind, Role, SystemClock, Username,
};
use shared::ports::queue::{DeliveryMessage, Queue};
use shared::ports::store::{
    DeliveryLedger, DeliveryLog, EventStore, PageRequest, StoreError, Unique, UserStore,
};
use time::OffsetDateTime;
use uuid::Uuid;

fn user(org: &OrgId, name: &str) -> User {
    User {
        id: Uuid::now_v7(),
        organization: org.clone(),
        username: Username::parse(name).unwrap_or_else(|e| panic!("{e}")),
        email: Email::parse(&format!("{name}@example.com")).unwrap_or_else(|e| panic!("{e}")),
        phone: None,
        roles: vec![Role::Admin],
        created_at: SystemClock.now(),
    }
}

async fn organization(db: &Sqlite) -> OrgId {
    organization_in(db, OrgKind::Production).await.0.id
}

fn event_at(org: &OrgId, at: OffsetDateTime, key: Option<&str>) -> Event {
    Event {
        id: Uuid::now_v7(),
        organization: org.clone(),
        kind: EventType::BuildCreated,
        data: serde_json::json!({}),
        idempotency_key: key.map(str::to_owned),
        body_hash: "h".into(),
        created_at: at,
        fanout: shared::model::Fanout::PENDING,
        fanout_round: 0,
    }
}

/// A `sent` delivery of `event`, recorded whole.
fn sent_delivery(org: &OrgId, event: &Event) -> Delivery {
    Delivery {
        event: Some(event.id),
        status: DeliveryStatus::Sent,
        attempts: 1,
        created_at: event.created_at,
        updated_at: event.created_at,
        ..queued_delivery(
            org,
            Uuid::now_v7(),
            Email::parse("to@example.com").unwrap_or_else(|e| panic!("{e}")),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_removes_what_is_older_than_the_retention_and_nothing_newer() {
    let db = temp_database();
    let org = organization(&db).await;
    let now = SystemClock.now();
    let retention = time::Duration::days(30);
    let old_at = now - time::Duration::days(31);
    let new_at = now - time::Duration::days(29);
    let (old, new) = (
        event_at(&org, old_at, Some("old-key")),
        event_at(&org, new_at, None),
    );
    // The old event's key expired 24 h after it; a fresh key is kept.
    for (e, expires) in [
        (&old, old_at + time::Duration::hours(24)),
        (&new, new_at + time::Duration::hours(24)),
    ] {
        assert_eq!(db.create_event(e, expires).await, Ok(EventCreated::New));
    }
    let fresh = event_at(&org, now, Some("fresh-key"));
    assert_eq!(
        db.create_event(&fresh, now + time::Duration::hours(24))
            .await,
        Ok(EventCreated::New)
    );
    let old_deliveries: Vec<Delivery> = (0..7).map(|_| sent_delivery(&org, &old)).collect();
    let new_deliveries: Vec<Delivery> = (0..3).map(|_| sent_delivery(&org, &new)).collect();
    db.put_deliveries(&old_deliveries)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.put_deliveries(&new_deliveries)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let pruned = db
        .prune(now - retention, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pruned,
        Pruned {
            deliveries: 7,
            events: 1,
            idempotency_keys: 1,
            dead_letters: 0,
        }
    );
    assert_eq!(db.get_event(&org, old.id).await, Ok(None));
    assert_eq!(
        db.get_event(&org, new.id).await.map(|e| e.is_some()),
        Ok(true)
    );
    let log = db
        .list_deliveries(
            &org,
            &DeliveryFilter::default(),
            &PageRequest {
                limit: 100,
                after: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut kept: Vec<Uuid> = log.items.iter().map(|d| d.id).collect();
    let mut want: Vec<Uuid> = new_deliveries.iter().map(|d| d.id).collect();
    kept.sort();
    want.sort();
    assert_eq!(kept, want);
    // The fresh key still holds; the expired one is gone, so its key is free again.
    let replay = event_at(&org, now, Some("fresh-key"));
    assert_eq!(
        db.create_event(&replay, now + time::Duration::hours(24))
            .await,
        Ok(EventCreated::Replay(fresh))
    );
    // A second run finds nothing.
    assert_eq!(db.prune(now - retention, now).await, Ok(Pruned::default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_works_in_chunks_through_a_large_log() {
    let db = temp_database();
    let org = organization(&db).await;
    let now = SystemClock.now();
    let old = event_at(&org, now - time::Duration::days(40), None);
    let many: Vec<Delivery> = (0..12_345).map(|_| sent_delivery(&org, &old)).collect();
    db.put_deliveries(&many)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pruned = db
        .prune(now - time::Duration::days(30), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pruned.deliveries, 12_345);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_takes_back_the_messages_and_leases_of_the_dead_process() {
    let db = temp_database();
    let org = organization(&db).await;
    let queue = DeliveryRows::new(db.clone(), 5);
    let queued = queued_delivery(
        &org,
        Uuid::now_v7(),
        Email::parse("to@example.com").unwrap_or_else(|e| panic!("{e}")),
    );
    queue
        .send(&[DeliveryMessage {
            delivery: queued.clone(),
            slot: None,
        }])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The process that dies: it took the message for 90 s and claimed the delivery for 60 s.
    let taken = queue
        .receive(10, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.len(), 1);
    let now = SystemClock.now();
    let lease = now + time::Duration::seconds(60);
    assert!(matches!(
        db.claim_delivery(&queued, now, lease).await,
        Ok(Claim::Claimed(_))
    ));
    // A message delayed for a retry is not in flight: it keeps its delay.
    queue
        .send(&[DeliveryMessage {
            delivery: queued_delivery(
                &org,
                Uuid::now_v7(),
                Email::parse("later@example.com").unwrap_or_else(|e| panic!("{e}")),
            ),
            slot: None,
        }])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let delayed = queue
        .receive(10, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    queue
        .delay(&delayed[0].receipt, Duration::from_secs(300))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The next process: both come back at once, not after 90 and 60 seconds.
    assert_eq!(db.recover_after_restart().await, Ok((1, 1)));
    let again = queue
        .receive(10, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.len(), 1, "the message in flight, not the delayed one");
    assert_eq!(
        (again[0].message.delivery.id, again[0].receive_count),
        (queued.id, 2)
    );
    let later = SystemClock.now();
    match db
        .claim_delivery(&queued, later, later + time::Duration::seconds(60))
        .await
    {
        Ok(Claim::Claimed(d)) => assert_eq!(d.attempts, 2),
        other => panic!("the dead process's lease ended: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_undoes_only_itself_among_the_writes_committed_with_it() {
    let db = Arc::new(temp_database());
    let org = organization(&db).await;
    // 64 creates at once (committed in a few groups); every other one takes a username in use.
    let taken = user(&org, "taken");
    db.create_user(&taken)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let attempts: Vec<User> = (0..64)
        .map(|i| {
            if i % 2 == 0 {
                User {
                    email: Email::parse(&format!("other{i}@example.com"))
                        .unwrap_or_else(|e| panic!("{e}")),
                    ..user(&org, "taken")
                }
            } else {
                user(&org, &format!("user{i}"))
            }
        })
        .collect();
    let results = futures_join(attempts.iter().map(|u| {
        let db = db.clone();
        let u = u.clone();
        async move { db.create_user(&u).await }
    }))
    .await;
    for (i, result) in results.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(result, &Err(StoreError::Conflict(vec![Unique::Username])));
        } else {
            assert_eq!(result, &Ok(()));
        }
    }
    let users = db
        .list_users(
            &org,
            &PageRequest {
                limit: 100,
                after: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        users.items.len(),
        2 + 32,
        "admin, taken, and the 32 new ones"
    );
    for (i, u) in attempts.iter().enumerate() {
        let found = db
            .get_user(&org, u.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.is_some(), i % 2 == 1);
    }
}

/// Runs the futures concurrently (each on its own task), results in order.
async fn futures_join<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap_or_else(|e| panic!("{e}")));
    }
    out
}
