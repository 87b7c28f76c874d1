//! The store contract: the same assertions against the embedded store (SQLite) and DynamoDB
//! (moto). The embedded store must not pass anything DynamoDB fails.

use std::sync::Arc;

use herald_tests::{Backend, new_store};
use shared::model::DeliveryStatus;
use shared::model::token::issue_token;
use shared::model::{
    Claim, Delivery, DeliveryFilter, Notification, Organization, Outcome, Preference, Target,
    TokenRecord, User, WebhookTarget,
};
use shared::model::{
    Clock, Email, EventSet, EventType, NotificationId, OrgId, OrgKind, Plan, Role, SystemClock,
    Username,
};
use shared::ports::store::{PageRequest, Store, StoreError, Unique};
use uuid::Uuid;

mod pacing;
mod people;

fn org(id: &str) -> Organization {
    Organization {
        id: OrgId::parse(id).unwrap_or_else(|e| panic!("{e}")),
        name: "Org".into(),
        kind: OrgKind::Sandbox,
        plan: Plan::Trial,
        created_at: SystemClock.now(),
        limits: None,
    }
}

fn user(org: &OrgId, username: &str, email: &str) -> User {
    User {
        id: Uuid::now_v7(),
        organization: org.clone(),
        username: Username::parse(username).unwrap_or_else(|e| panic!("{e}")),
        email: Email::parse(email).unwrap_or_else(|e| panic!("{e}")),
        phone: None,
        roles: vec![Role::Admin],
        created_at: SystemClock.now(),
    }
}

fn token(org: &OrgId, user: &User) -> TokenRecord {
    let issued = issue_token(org);
    TokenRecord {
        id: issued.id,
        organization: org.clone(),
        hash: issued.hash,
        user_id: user.id,
        roles: user.roles.clone(),
        permissions: None,
        expires_at: None,
        created_at: SystemClock.now(),
        last_used_at: None,
    }
}

fn notification(org: &OrgId) -> Notification {
    let now = SystemClock.now();
    Notification {
        id: NotificationId::generate(),
        organization: org.clone(),
        description: Some("d".into()),
        target: Target::Webhook(WebhookTarget {
            url: "https://hooks.example.com/x".into(),
            secret: shared::model::Sealed::from_stored("whsec_x"),
            previous: None,
        }),
        events: EventSet::default().with(EventType::BuildCreated, true),
        enabled: true,
        disabled_reason: None,
        failing: None,
        rate_limit: None,
        throttled_until: None,
        created_at: now,
        updated_at: now,
    }
}

async fn seeded(backend: Backend) -> (Arc<dyn Store>, Organization, User) {
    let (store, _) = new_store(backend).await;
    let o = org(&format!("org-{}", Uuid::new_v4().simple()));
    let admin = user(&o.id, "admin", "admin@example.com");
    store
        .create_organization(&o, &admin, &token(&o.id, &admin))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (store, o, admin)
}

async fn organizations_are_created_once_with_their_admin(backend: Backend) {
    let (store, o, admin) = seeded(backend).await;
    assert_eq!(store.get_organization(&o.id).await, Ok(Some(o.clone())));
    assert_eq!(
        store.get_user(&o.id, admin.id).await,
        Ok(Some(admin.clone()))
    );
    let other_admin = user(&o.id, "root", "root@example.com");
    let again = store
        .create_organization(&o, &other_admin, &token(&o.id, &other_admin))
        .await;
    assert_eq!(
        again,
        Err(StoreError::Conflict(vec![Unique::OrganizationId]))
    );
    assert_eq!(
        store.get_user(&o.id, other_admin.id).await,
        Ok(None),
        "nothing of the failed write remains"
    );
    let unknown = OrgId::parse("no-such-org").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.get_organization(&unknown).await, Ok(None));
}

async fn usernames_and_emails_are_unique_per_organization(backend: Backend) {
    let (store, o, _) = seeded(backend).await;
    let ann = user(&o.id, "Ann", "ann@example.com");
    store
        .create_user(&ann)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let clash = user(&o.id, "ANN", "ann@example.com");
    match store.create_user(&clash).await {
        Err(StoreError::Conflict(fields)) => {
            assert!(fields.contains(&Unique::Username), "{fields:?}");
            assert!(
                !fields.is_empty()
                    && fields
                        .iter()
                        .all(|f| matches!(f, Unique::Username | Unique::Email))
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let email_clash = user(&o.id, "ann2", "ann@example.com");
    assert_eq!(
        store.create_user(&email_clash).await,
        Err(StoreError::Conflict(vec![Unique::Email]))
    );
    assert_eq!(store.get_user(&o.id, email_clash.id).await, Ok(None));
    let by_name = store
        .find_user_by_username(
            &o.id,
            &Username::parse("aNN").unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
    assert_eq!(by_name, Ok(Some(ann.clone())));

    // Another organization may reuse both.
    let (other_store_org, _) = (org(&format!("org-{}", Uuid::new_v4().simple())), ());
    let other_admin = user(&other_store_org.id, "admin", "admin@example.com");
    store
        .create_organization(
            &other_store_org,
            &other_admin,
            &token(&other_store_org.id, &other_admin),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .create_user(&user(&other_store_org.id, "ann", "ann@example.com"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let orphan = user(
        &OrgId::parse("missing-org").unwrap_or_else(|e| panic!("{e}")),
        "x",
        "x@example.com",
    );
    assert_eq!(store.create_user(&orphan).await, Err(StoreError::NotFound));
}

async fn users_page_in_id_order(backend: Backend) {
    let (store, o, admin) = seeded(backend).await;
    let mut ids = vec![admin.id];
    for i in 0..4 {
        let u = user(&o.id, &format!("u{i}"), &format!("u{i}@example.com"));
        ids.push(u.id);
        store
            .create_user(&u)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_users(
                &o.id,
                &PageRequest {
                    limit: 2,
                    after: after.clone(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|u| u.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let exact = store
        .list_users(
            &o.id,
            &PageRequest {
                limit: 5,
                after: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (exact.items.len(), exact.next),
        (5, None),
        "a full last page has no cursor"
    );
}

async fn tokens_are_stored_found_and_revoked(backend: Backend) {
    let (store, o, admin) = seeded(backend).await;
    let t = token(&o.id, &admin);
    store
        .create_token(&t)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.get_token(&o.id, &t.id).await, Ok(Some(t.clone())));
    assert_eq!(
        store.create_token(&t).await,
        Err(StoreError::Conflict(vec![Unique::TokenId]))
    );
    assert_eq!(store.delete_token(&o.id, &t.id).await, Ok(true));
    assert_eq!(store.get_token(&o.id, &t.id).await, Ok(None));
    assert_eq!(store.delete_token(&o.id, &t.id).await, Ok(false));
    let other = OrgId::parse("someone-else").unwrap_or_else(|e| panic!("{e}"));
    let t2 = token(&o.id, &admin);
    store
        .create_token(&t2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.get_token(&other, &t2.id).await,
        Ok(None),
        "tenant isolation"
    );
}

async fn notifications_respect_the_limit_atomically(backend: Backend) {
    let (store, o, _) = seeded(backend).await;
    let mut created = Vec::new();
    for _ in 0..3 {
        let n = notification(&o.id);
        store
            .create_notification(&n, 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        created.push(n);
    }
    let fourth = notification(&o.id);
    assert_eq!(
        store.create_notification(&fourth, 3).await,
        Err(StoreError::LimitReached)
    );
    assert_eq!(store.get_notification(&o.id, &fourth.id).await, Ok(None));
    assert_eq!(
        store.delete_notification(&o.id, &created[0].id).await,
        Ok(true)
    );
    assert_eq!(
        store.delete_notification(&o.id, &created[0].id).await,
        Ok(false)
    );
    store
        .create_notification(&fourth, 3)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let page = store
        .list_notifications(
            &o.id,
            &PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut expected: Vec<_> = created[1..]
        .iter()
        .chain([&fourth])
        .map(|n| n.id.clone())
        .collect();
    expected.sort();
    assert_eq!(
        page.items.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        page.items.iter().find(|n| n.id == fourth.id),
        Some(&fourth),
        "round-trips exactly"
    );
    let missing = OrgId::parse("missing-org").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.create_notification(&notification(&missing), 3).await,
        Err(StoreError::NotFound)
    );
}

async fn concurrent_creates_never_exceed_the_limit(backend: Backend) {
    let (store, o, _) = seeded(backend).await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (store, n) = (store.clone(), notification(&o.id));
            tokio::spawn(async move { store.create_notification(&n, 5).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap_or_else(|e| panic!("{e}")) {
            Ok(()) => ok += 1,
            Err(StoreError::LimitReached | StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let page = store
        .list_notifications(
            &o.id,
            &PageRequest {
                limit: 100,
                after: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.items.len(), ok);
    assert!(ok <= 5, "{ok} created past a limit of 5");
}

async fn updates_are_conditional_on_the_version_read(backend: Backend) {
    let (store, o, _) = seeded(backend).await;
    let n = notification(&o.id);
    store
        .create_notification(&n, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut next = n.clone();
    next.description = Some("v2".into());
    next.updated_at = n.updated_at + time::Duration::milliseconds(5);
    store
        .update_notification(&next, n.updated_at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stale = n.clone();
    stale.description = Some("lost".into());
    assert_eq!(
        store.update_notification(&stale, n.updated_at).await,
        Err(StoreError::Stale)
    );
    assert_eq!(
        store.get_notification(&o.id, &n.id).await,
        Ok(Some(next.clone()))
    );
    let ghost = notification(&o.id);
    assert_eq!(
        store.update_notification(&ghost, ghost.updated_at).await,
        Err(StoreError::NotFound)
    );
}

async fn the_notifier_pause_reports_whether_it_changed(backend: Backend) {
    let (store, o, _) = seeded(backend).await;
    let paused = |s: Option<shared::model::Settings>| s.map(|s| s.notifier_paused);
    assert_eq!(store.get_settings(&o.id).await.map(paused), Ok(Some(false)));
    assert_eq!(store.set_notifier_paused(&o.id, false).await, Ok(false));
    assert_eq!(store.set_notifier_paused(&o.id, true).await, Ok(true));
    assert_eq!(store.set_notifier_paused(&o.id, true).await, Ok(false));
    assert_eq!(store.get_settings(&o.id).await.map(paused), Ok(Some(true)));
    let now = SystemClock.now();
    store
        .reset_settings(&o.id, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.get_settings(&o.id).await.map(paused),
        Ok(Some(true)),
        "the settings API's reset leaves the pause alone"
    );
    assert_eq!(store.set_notifier_paused(&o.id, false).await, Ok(true));
    let unknown = OrgId::parse("no-such-org").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.set_notifier_paused(&unknown, true).await,
        Err(StoreError::NotFound)
    );
}

/// A delivery like `queued`, recorded settled at birth (skipped by the fan-out).
async fn recorded_skipped(store: &Arc<dyn Store>, queued: &Delivery) -> Delivery {
    let skipped = Delivery {
        id: Uuid::now_v7(),
        status: DeliveryStatus::Skipped,
        reason: Some(shared::model::SkipReason::NotWhitelisted),
        ..queued.clone()
    };
    assert_eq!(
        store.put_deliveries(std::slice::from_ref(&skipped)).await,
        Ok(())
    );
    skipped
}

async fn a_delivery_is_recorded_by_its_first_claim_and_sent_at_most_once(backend: Backend) {
    let (store, o, admin) = seeded(backend).await;
    let now = SystemClock.now();
    let lease = now + time::Duration::seconds(60);
    let queued = herald_tests::queued_delivery(&o.id, Uuid::now_v7(), admin.email.clone());
    assert_eq!(
        store
            .get_delivery(&o.id, queued.created_at, queued.id)
            .await,
        Ok(None),
        "a queued delivery is only its message"
    );
    let claimed = match store.claim_delivery(&queued, now, lease).await {
        Ok(Claim::Claimed(d)) => *d,
        other => panic!("the first claim records and claims it: {other:?}"),
    };
    let expected = Delivery {
        status: DeliveryStatus::Sending,
        attempts: 1,
        lease_until: Some(lease),
        updated_at: now,
        ..queued.clone()
    };
    assert_eq!(claimed, expected);
    assert_eq!(
        store
            .get_delivery(&o.id, queued.created_at, queued.id)
            .await,
        Ok(Some(expected.clone()))
    );
    // A repeated message while the lease is live: not claimed.
    assert_eq!(
        store.claim_delivery(&queued, now, lease).await,
        Ok(Claim::Busy)
    );
    // Only the lease holder settles; a retry goes back to `queued` and keeps its error.
    let other_lease = lease + time::Duration::seconds(1);
    let retry = Outcome::Retry("answered 500".into());
    assert_eq!(
        store
            .settle_delivery(&claimed, other_lease, &retry, now)
            .await,
        Ok(false)
    );
    assert_eq!(
        store.settle_delivery(&claimed, lease, &retry, now).await,
        Ok(true)
    );
    let later = now + time::Duration::seconds(5);
    let again = match store
        .claim_delivery(&queued, later, later + time::Duration::seconds(60))
        .await
    {
        Ok(Claim::Claimed(d)) => *d,
        other => panic!("a queued delivery is claimed again: {other:?}"),
    };
    assert_eq!(
        (
            again.attempts,
            again.last_error.as_deref(),
            again.channel.clone()
        ),
        (2, Some("answered 500"), queued.channel.clone()),
        "the claim counts attempts and keeps what the record holds"
    );
    // A lease that ran out may be taken over.
    let expired = later + time::Duration::seconds(61);
    let third = match store
        .claim_delivery(&queued, expired, expired + time::Duration::seconds(60))
        .await
    {
        Ok(Claim::Claimed(d)) => *d,
        other => panic!("an expired lease is taken over: {other:?}"),
    };
    assert_eq!(third.attempts, 3);
    let third_lease = third.lease_until.unwrap_or(expired);
    assert_eq!(
        store
            .settle_delivery(&third, third_lease, &Outcome::Sent, expired)
            .await,
        Ok(true)
    );
    assert_eq!(
        store.claim_delivery(&queued, expired, lease).await,
        Ok(Claim::Settled(DeliveryStatus::Sent)),
        "a sent delivery is never claimed again"
    );
    // Another organization never sees it.
    let elsewhere = OrgId::parse("no-such-org").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store
            .get_delivery(&elsewhere, queued.created_at, queued.id)
            .await,
        Ok(None)
    );
    // A delivery recorded settled at birth (skipped by the fan-out) is not claimed.
    let skipped = recorded_skipped(&store, &queued).await;
    assert_eq!(
        store.claim_delivery(&skipped, now, lease).await,
        Ok(Claim::Settled(DeliveryStatus::Skipped))
    );
    let log = store
        .list_deliveries(
            &o.id,
            &DeliveryFilter::default(),
            &PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<(Uuid, DeliveryStatus)> = log.items.iter().map(|d| (d.id, d.status)).collect();
    assert_eq!(
        ids,
        [
            (skipped.id, DeliveryStatus::Skipped),
            (queued.id, DeliveryStatus::Sent)
        ],
        "newest first"
    );
}

async fn a_delivery_is_found_by_its_id_alone_in_its_own_organization(backend: Backend) {
    let (store, o, admin) = seeded(backend).await;
    let now = SystemClock.now();
    let lease = now + time::Duration::seconds(60);
    let queued = herald_tests::queued_delivery(&o.id, Uuid::now_v7(), admin.email.clone());
    assert_eq!(
        store.find_delivery(&o.id, queued.id).await,
        Ok(None),
        "a queued delivery is only its message"
    );
    let claimed = match store.claim_delivery(&queued, now, lease).await {
        Ok(Claim::Claimed(d)) => *d,
        other => panic!("{other:?}"),
    };
    let skipped = recorded_skipped(&store, &queued).await;
    assert_eq!(
        store.find_delivery(&o.id, queued.id).await,
        Ok(Some(claimed))
    );
    assert_eq!(
        store.find_delivery(&o.id, skipped.id).await,
        Ok(Some(skipped.clone()))
    );
    let elsewhere = OrgId::parse("no-such-org").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.find_delivery(&elsewhere, queued.id).await, Ok(None));
    assert_eq!(store.find_delivery(&o.id, Uuid::now_v7()).await, Ok(None));
}

herald_tests::on_both_backends!(
    a_delivery_is_found_by_its_id_alone_in_its_own_organization,
    updates_are_conditional_on_the_version_read,
    organizations_are_created_once_with_their_admin,
    usernames_and_emails_are_unique_per_organization,
    users_page_in_id_order,
    tokens_are_stored_found_and_revoked,
    notifications_respect_the_limit_atomically,
    concurrent_creates_never_exceed_the_limit,
    the_notifier_pause_reports_whether_it_changed,
    a_delivery_is_recorded_by_its_first_claim_and_sent_at_most_once,
);
