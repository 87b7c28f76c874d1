//! The SMS quota counter (store contract) and the quota-reset job, on both backends, with an
//! injected clock.

use std::sync::Arc;

use herald_tests::{Backend, new_store};
use shared::model::day::today;
use shared::model::token::issue_token;
use shared::model::{Email, OrgId, OrgKind, Plan, Role, Username};
use shared::model::{Organization, TokenRecord, User};
use shared::ports::store::Store;
use shared::workers::quota::{next_midnight, reset_quotas};
use time::macros::{date, datetime};
use uuid::Uuid;

async fn org_in(store: &Arc<dyn Store>) -> OrgId {
    let id =
        OrgId::parse(&format!("q-{}", Uuid::new_v4().simple())).unwrap_or_else(|e| panic!("{e}"));
    let now = datetime!(2026-11-20 12:00 UTC);
    let admin = User {
        id: Uuid::now_v7(),
        organization: id.clone(),
        username: Username::parse("admin").unwrap_or_else(|e| panic!("{e}")),
        email: Email::parse("admin@example.com").unwrap_or_else(|e| panic!("{e}")),
        phone: None,
        roles: vec![Role::Admin],
        created_at: now,
    };
    let issued = issue_token(&id);
    let token = TokenRecord {
        id: issued.id,
        organization: id.clone(),
        hash: issued.hash,
        user_id: admin.id,
        roles: vec![Role::Admin],
        permissions: None,
        expires_at: None,
        created_at: now,
        last_used_at: None,
    };
    let org = Organization {
        id: id.clone(),
        name: "Q".into(),
        kind: OrgKind::Production,
        plan: Plan::Paid,
        created_at: now,
        limits: None,
    };
    store
        .create_organization(&org, &admin, &token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    id
}

async fn two_hundred_concurrent_takes_with_limit_50_take_exactly_50(backend: Backend) {
    let (store, _) = new_store(backend).await;
    let org = org_in(&store).await;
    let user = Uuid::now_v7();
    let day = date!(2026 - 11 - 23);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (store, org) = (store.clone(), org.clone());
            tokio::spawn(async move { store.take_sms(&org, user, day, 50).await })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        if t.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"))
        {
            taken += 1;
        }
    }
    assert_eq!(taken, 50);
    let counters = store
        .sms_counters(day)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mine: Vec<_> = counters.iter().filter(|c| c.organization == org).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].user_id, mine[0].count), (user, 50));
    // Another user, another day, and a zero quota.
    assert_eq!(
        store.take_sms(&org, Uuid::now_v7(), day, 50).await,
        Ok(true)
    );
    assert_eq!(
        store.take_sms(&org, user, date!(2026 - 11 - 24), 50).await,
        Ok(true),
        "a new day starts at zero"
    );
    assert_eq!(
        store.take_sms(&org, Uuid::now_v7(), day, 0).await,
        Ok(false)
    );
}

async fn the_reset_job_closes_ended_days_once_and_never_blocks_the_new_day(backend: Backend) {
    let (store, _) = new_store(backend).await;
    let (a, b) = (org_in(&store).await, org_in(&store).await);
    let (ann, bob, cid) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let d1 = date!(2026 - 11 - 21);
    let d2 = date!(2026 - 11 - 22);
    for _ in 0..2 {
        assert_eq!(store.take_sms(&a, ann, d1, 2).await, Ok(true));
    }
    assert_eq!(
        store.take_sms(&a, ann, d1, 2).await,
        Ok(false),
        "ann spent her quota on d1"
    );
    assert_eq!(store.take_sms(&a, bob, d1, 2).await, Ok(true));
    assert_eq!(store.take_sms(&b, cid, d2, 2).await, Ok(true));

    // The job never ran at midnight: on d2, ann is not blocked anyway (the day key).
    assert_eq!(store.take_sms(&a, ann, d2, 2).await, Ok(true));

    // It runs late, on d3: both ended days are closed, today's counters are untouched.
    let late = datetime!(2026-11-23 00:47 UTC);
    assert_eq!(today(late), date!(2026 - 11 - 23));
    let report = reset_quotas(&*store, late)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mine = |c: &shared::model::SmsCounter| c.organization == a || c.organization == b;
    assert!(
        report.closed_days.contains(&"2026-11-21".to_owned())
            && report.closed_days.contains(&"2026-11-22".to_owned()),
        "{report:?}"
    );
    let usage = |org: OrgId, day| {
        let store = store.clone();
        async move {
            store
                .sms_usage(&org, day)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|u| (u.sent, u.users))
        }
    };
    assert_eq!(usage(a.clone(), d1).await, Some((3, 2)));
    assert_eq!(usage(a.clone(), d2).await, Some((1, 1)));
    assert_eq!(usage(b.clone(), d2).await, Some((1, 1)));
    for day in [d1, d2] {
        let left = store
            .sms_counters(day)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!left.iter().any(mine), "the closed day's counters are gone");
    }

    // Running twice changes nothing.
    let again = reset_quotas(&*store, late)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!again.closed_days.contains(&"2026-11-21".to_owned()));
    assert_eq!(usage(a.clone(), d1).await, Some((3, 2)));

    // A counter of an already summarized day (an SMS counted in its last instant and read late)
    // is removed without rewriting the summary.
    assert_eq!(store.take_sms(&a, ann, d1, 5).await, Ok(true));
    reset_quotas(&*store, late)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        usage(a.clone(), d1).await,
        Some((3, 2)),
        "the first summary stands"
    );
    assert!(
        !store
            .sms_counters(d1)
            .await
            .unwrap_or_default()
            .iter()
            .any(mine)
    );
}

#[test]
fn the_local_schedule_is_the_next_utc_midnight() {
    assert_eq!(
        next_midnight(datetime!(2026-11-23 18:30 UTC)),
        datetime!(2026-11-24 00:00 UTC)
    );
    assert_eq!(
        next_midnight(datetime!(2026-11-23 00:00 UTC)),
        datetime!(2026-11-24 00:00 UTC)
    );
    assert_eq!(
        next_midnight(datetime!(2026-11-23 23:30 -05:00)),
        datetime!(2026-11-25 00:00 UTC)
    );
}

herald_tests::on_both_backends!(
    two_hundred_concurrent_takes_with_limit_50_take_exactly_50,
    the_reset_job_closes_ended_days_once_and_never_blocks_the_new_day,
);
