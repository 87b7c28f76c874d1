//! The store contract for events and the delivery log, and the event intake (an event, its
//! idempotency key and its fan-out message as one unit): the same assertions on SQLite and on
//! DynamoDB + SQS (moto).

use std::time::Duration;

use herald_tests::{Backend, new_backends, organization_in, queued_delivery};
use shared::app::Backends;
use shared::model::{Claim, Delivery, DeliveryFilter, Event, EventCreated, Outcome};
use shared::model::{Clock, DeliveryStatus, Email, EventType, OrgId, OrgKind, SystemClock};
use shared::ports::intake::FirstFanout;
use shared::ports::queue::FanoutMessage;
use shared::ports::store::PageRequest;
use time::OffsetDateTime;
use uuid::Uuid;

async fn seeded(backend: Backend) -> (Backends, OrgId) {
    let (backends, _) = new_backends(backend).await;
    let (organization, _) = organization_in(&*backends.store, OrgKind::Production).await;
    (backends, organization.id)
}

fn event(org: &OrgId, key: Option<&str>, body_hash: &str, at: OffsetDateTime) -> Event {
    Event {
        id: Uuid::now_v7(),
        organization: org.clone(),
        kind: EventType::BuildCreated,
        data: serde_json::json!({"appName": "Demo"}),
        idempotency_key: key.map(str::to_owned),
        body_hash: body_hash.into(),
        created_at: at,
        fanout: shared::model::Fanout::PENDING,
        fanout_round: 0,
    }
}

/// The fan-out messages waiting on the queue (received, then left to come back).
async fn fanouts(backends: &Backends) -> Vec<FanoutMessage> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let got = backends
            .fanout
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        out.extend(got.into_iter().map(|r| r.message));
    }
    out
}

async fn an_accepted_event_is_recorded_with_its_key_and_its_fan_out_is_queued_once(
    backend: Backend,
) {
    let (backends, org) = seeded(backend).await;
    let now = SystemClock.now();
    let expires = now + time::Duration::hours(24);
    let first = event(&org, Some("k-1"), "hash-a", now);
    assert_eq!(
        backends
            .intake
            .accept(&first, expires, FirstFanout::Job)
            .await,
        Ok(EventCreated::New)
    );
    assert_eq!(
        backends.store.get_event(&org, first.id).await,
        Ok(Some(first.clone()))
    );
    // The same key and body within 24 h: the first event, nothing queued again.
    let replay = event(
        &org,
        Some("k-1"),
        "hash-a",
        now + time::Duration::seconds(5),
    );
    assert_eq!(
        backends
            .intake
            .accept(&replay, expires, FirstFanout::Job)
            .await,
        Ok(EventCreated::Replay(first.clone()))
    );
    // The same key with another body: refused, nothing written.
    let other = event(
        &org,
        Some("k-1"),
        "hash-b",
        now + time::Duration::seconds(6),
    );
    assert_eq!(
        backends
            .intake
            .accept(&other, expires, FirstFanout::Job)
            .await,
        Ok(EventCreated::KeyReused)
    );
    assert_eq!(backends.store.get_event(&org, other.id).await, Ok(None));
    assert_eq!(
        backends.store.get_event(&org, replay.id).await,
        Ok(None),
        "a replay records no event"
    );
    // Without a key, every event is new.
    let keyless = event(&org, None, "hash-a", now);
    assert_eq!(
        backends
            .intake
            .accept(&keyless, expires, FirstFanout::Job)
            .await,
        Ok(EventCreated::New)
    );
    assert_eq!(
        fanouts(&backends).await,
        [FanoutMessage::first(&first), FanoutMessage::first(&keyless)],
        "one fan-out message per new event, none for a replay or a reused key"
    );
}

async fn an_event_accepted_with_its_deliveries_queues_them_only_where_the_intake_makes_them(
    backend: Backend,
) {
    let (backends, org) = seeded(backend).await;
    let now = SystemClock.now();
    let e = event(&org, None, "hash-a", now);
    let made = Delivery {
        event: Some(e.id),
        ..queued_delivery(
            &org,
            Uuid::now_v7(),
            Email::parse("a@example.com").unwrap_or_else(|e| panic!("{e}")),
        )
    };
    let rest = FanoutMessage::first(&e);
    let first = FirstFanout::Made {
        deliveries: vec![made.clone()],
        rest: Some(rest.clone()),
    };
    assert_eq!(
        backends
            .intake
            .accept(&e, now + time::Duration::hours(24), first)
            .await,
        Ok(EventCreated::New)
    );
    let queued = backends
        .queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let queued: Vec<Uuid> = queued.iter().map(|r| r.message.delivery.id).collect();
    let recorded = backends
        .store
        .get_delivery(&org, made.created_at, made.id)
        .await;
    match backend {
        // One transaction: the event, its delivery (its row is its queue entry) and the job.
        Backend::Sqlite => {
            assert!(backends.intake.makes_deliveries());
            assert_eq!(queued, [made.id]);
            assert_eq!(
                recorded.map(|d| d.map(|d| d.status)),
                Ok(Some(DeliveryStatus::Queued))
            );
        }
        // The intake does not make deliveries: the fan-out job makes the same ones.
        Backend::Moto => {
            assert!(!backends.intake.makes_deliveries());
            assert_eq!(queued, Vec::<Uuid>::new());
            assert_eq!(recorded, Ok(None));
        }
    }
    assert_eq!(fanouts(&backends).await, [rest]);
}

async fn an_expired_idempotency_key_is_taken_by_the_next_event(backend: Backend) {
    let (backends, org) = seeded(backend).await;
    let now = SystemClock.now();
    let first = event(&org, Some("k-2"), "hash-a", now);
    let expires = now + time::Duration::hours(24);
    assert_eq!(
        backends.store.create_event(&first, expires).await,
        Ok(EventCreated::New)
    );
    let later = expires + time::Duration::seconds(1);
    let second = event(&org, Some("k-2"), "hash-b", later);
    assert_eq!(
        backends
            .store
            .create_event(&second, later + time::Duration::hours(24))
            .await,
        Ok(EventCreated::New)
    );
    let third = event(
        &org,
        Some("k-2"),
        "hash-b",
        later + time::Duration::seconds(1),
    );
    assert_eq!(
        backends
            .store
            .create_event(&third, later + time::Duration::hours(24))
            .await,
        Ok(EventCreated::Replay(second))
    );
}

async fn a_deleted_event_frees_its_key(backend: Backend) {
    let (backends, org) = seeded(backend).await;
    let now = SystemClock.now();
    let expires = now + time::Duration::hours(24);
    let first = event(&org, Some("k-3"), "hash-a", now);
    assert_eq!(
        backends.store.create_event(&first, expires).await,
        Ok(EventCreated::New)
    );
    assert_eq!(backends.store.delete_event(&first).await, Ok(()));
    assert_eq!(backends.store.get_event(&org, first.id).await, Ok(None));
    let retry = event(&org, Some("k-3"), "hash-a", now);
    assert_eq!(
        backends.store.create_event(&retry, expires).await,
        Ok(EventCreated::New)
    );
}

/// Records a claimed delivery of `event` settled with `outcome`.
/// A request's idempotency key (a test notification's): free, then naming its first delivery
/// (recorded `queued` with it) until it expires or is freed (only by that delivery, which goes
/// with it); never meeting an event's key of the same text.
async fn a_request_key_names_its_first_delivery_recorded_with_it_until_it_expires_or_is_freed(
    backend: Backend,
) {
    let (backends, org) = seeded(backend).await;
    let store = &backends.store;
    let now = SystemClock.now();
    let day = time::Duration::hours(24);
    let to = || Email::parse("key@example.com").unwrap_or_else(|e| panic!("{e}"));
    let [first, second, third, fourth] =
        [(); 4].map(|()| queued_delivery(&org, Uuid::now_v7(), to()));
    let take = |d: &Delivery, at: OffsetDateTime| {
        let d = d.clone();
        async move { store.take_request_key("k-1", &d, at, at + day).await }
    };
    let status = |d: &Delivery| {
        let (org, at, id) = (d.organization.clone(), d.created_at, d.id);
        async move {
            store
                .get_delivery(&org, at, id)
                .await
                .map(|d| d.map(|d| d.status))
        }
    };
    assert_eq!(take(&first, now).await, Ok(None), "free: taken");
    assert_eq!(status(&first).await, Ok(Some(DeliveryStatus::Queued)));
    assert_eq!(
        take(&second, now).await,
        Ok(Some(first.id)),
        "a replay names the first"
    );
    assert_eq!(status(&second).await, Ok(None), "a replay records nothing");
    // Freed by another delivery: nothing happens; by its own: free again, its delivery gone.
    assert_eq!(store.free_request_key("k-1", &second).await, Ok(()));
    assert_eq!(take(&second, now).await, Ok(Some(first.id)));
    assert_eq!(store.free_request_key("k-1", &first).await, Ok(()));
    assert_eq!(status(&first).await, Ok(None));
    assert_eq!(
        take(&second, now).await,
        Ok(None),
        "freed: taken by the next"
    );
    // Expired (a day and a minute on): taken by the next.
    let later = now + day + time::Duration::minutes(1);
    assert_eq!(take(&third, later).await, Ok(None));
    assert_eq!(take(&fourth, later).await, Ok(Some(third.id)));
    // Another organization, and an event's key of the same text, are other keys.
    let (other, _) = organization_in(&**store, OrgKind::Production).await;
    let elsewhere = queued_delivery(&other.id, Uuid::now_v7(), to());
    assert_eq!(take(&elsewhere, now).await, Ok(None));
    let e = event(&org, Some("k-1"), "h", now);
    assert_eq!(
        store.create_event(&e, now + day).await,
        Ok(EventCreated::New)
    );
}

async fn settled(backends: &Backends, org: &OrgId, event: &Event, outcome: Outcome) -> Delivery {
    let now = SystemClock.now();
    let lease = now + time::Duration::seconds(60);
    let queued = Delivery {
        event: Some(event.id),
        created_at: event.created_at,
        ..queued_delivery(
            org,
            Uuid::now_v7(),
            Email::parse("to@example.com").unwrap_or_else(|e| panic!("{e}")),
        )
    };
    let claimed = match backends.store.claim_delivery(&queued, now, lease).await {
        Ok(Claim::Claimed(d)) => *d,
        other => panic!("claim: {other:?}"),
    };
    assert_eq!(
        backends
            .store
            .settle_delivery(&claimed, lease, &outcome, now)
            .await,
        Ok(true)
    );
    queued
}

async fn the_delivery_log_filters_by_status_and_event_newest_first_and_pages(backend: Backend) {
    let (backends, org) = seeded(backend).await;
    let base = SystemClock.now();
    let (one, two) = (
        event(&org, None, "h", base),
        event(&org, None, "h", base + time::Duration::seconds(1)),
    );
    for e in [&one, &two] {
        assert_eq!(
            backends
                .store
                .create_event(e, base + time::Duration::hours(24))
                .await,
            Ok(EventCreated::New)
        );
    }
    let a = settled(&backends, &org, &one, Outcome::Sent).await;
    let b = settled(
        &backends,
        &org,
        &one,
        Outcome::Failed("answered 400".into()),
    )
    .await;
    let c = settled(&backends, &org, &two, Outcome::Sent).await;
    let d = settled(&backends, &org, &two, Outcome::Held).await;
    let list = |status: Option<DeliveryStatus>, event: Option<Uuid>, after: Option<String>| {
        let store = backends.store.clone();
        let org = org.clone();
        async move {
            store
                .list_deliveries(
                    &org,
                    &DeliveryFilter { status, event },
                    &PageRequest { limit: 2, after },
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let ids = |page: &shared::ports::store::Page<Delivery>| -> Vec<Uuid> {
        page.items.iter().map(|d| d.id).collect()
    };
    // Newest first: the second event's deliveries, then the first's (ids within an event in
    // key order, descending).
    let mut by_key = [a.clone(), b.clone(), c.clone(), d.clone()];
    by_key.sort_by_key(|d| std::cmp::Reverse(d.list_key()));
    let first = list(None, None, None).await;
    assert_eq!(ids(&first), [by_key[0].id, by_key[1].id]);
    let second = list(None, None, first.next.clone()).await;
    assert_eq!(ids(&second), [by_key[2].id, by_key[3].id]);
    assert_eq!(second.next, None, "the last page carries no cursor");
    assert_eq!(
        ids(&list(Some(DeliveryStatus::Failed), None, None).await),
        [b.id]
    );
    assert_eq!(
        ids(&list(Some(DeliveryStatus::Held), None, None).await),
        [d.id]
    );
    let mut of_one = ids(&list(None, Some(one.id), None).await);
    of_one.sort();
    let mut want = vec![a.id, b.id];
    want.sort();
    assert_eq!(of_one, want);
    assert_eq!(
        ids(&list(Some(DeliveryStatus::Sent), Some(two.id), None).await),
        [c.id]
    );
    assert_eq!(
        ids(&list(None, Some(Uuid::now_v7()), None).await),
        Vec::<Uuid>::new(),
        "an unknown event has no deliveries"
    );
}

async fn a_held_delivery_is_released_once(backend: Backend) {
    let (backends, org) = seeded(backend).await;
    let e = event(&org, None, "h", SystemClock.now());
    let held = settled(&backends, &org, &e, Outcome::Held).await;
    assert_eq!(backends.store.release_held(&held).await, Ok(true));
    assert_eq!(
        backends.store.release_held(&held).await,
        Ok(false),
        "already released"
    );
    let now = SystemClock.now();
    match backends
        .store
        .claim_delivery(&held, now, now + time::Duration::seconds(60))
        .await
    {
        Ok(Claim::Claimed(d)) => assert_eq!((d.status, d.attempts), (DeliveryStatus::Sending, 2)),
        other => panic!("a released delivery is claimed again: {other:?}"),
    }
}

herald_tests::on_both_backends!(
    a_request_key_names_its_first_delivery_recorded_with_it_until_it_expires_or_is_freed,
    an_accepted_event_is_recorded_with_its_key_and_its_fan_out_is_queued_once,
    an_event_accepted_with_its_deliveries_queues_them_only_where_the_intake_makes_them,
    an_expired_idempotency_key_is_taken_by_the_next_event,
    a_deleted_event_frees_its_key,
    the_delivery_log_filters_by_status_and_event_newest_first_and_pages,
    a_held_delivery_is_released_once,
);
