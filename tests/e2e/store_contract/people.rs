//! The store contract for recipients, users read in batches, and template preferences, on both
//! backends.

use super::*;

fn recipient(org: &OrgId, notification: &NotificationId, n: usize) -> shared::model::Recipient {
    let now = SystemClock.now();
    shared::model::Recipient {
        id: Uuid::now_v7(),
        organization: org.clone(),
        notification: notification.clone(),
        kind: shared::model::RecipientKind::EmbedUser,
        email: Email::parse(&format!("r{n}@example.com")).unwrap_or_else(|e| panic!("{e}")),
        phone: None,
        username: None,
        embed: Some(shared::model::EmbedProfile {
            tenant_name: "t".into(),
            external_id: format!("r{n}@example.com"),
            email: None,
            security_context: r#"{"a":1}"#.into(),
            user_attributes: vec![shared::model::UserAttribute {
                name: "k".into(),
                value: "v".into(),
            }],
            groups: Vec::new(),
        }),
        created_at: now,
        updated_at: now,
    }
}

async fn recipients_are_written_in_batches_read_back_and_paged(backend: Backend) {
    let (store, o, _) = seeded(backend).await;
    let n = notification(&o.id);
    store
        .create_notification(&n, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // 130 recipients: more than one BatchWriteItem (25) and one BatchGetItem (100).
    let mut all: Vec<_> = (0..130).map(|i| recipient(&o.id, &n.id, i)).collect();
    store
        .put_recipients(&all)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    all.sort_by_key(|r| r.id);
    let ids: Vec<Uuid> = all.iter().map(|r| r.id).chain([Uuid::now_v7()]).collect();
    let mut got = store
        .get_recipients(&o.id, &n.id, &ids)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    got.sort_by_key(|r| r.id);
    assert_eq!(
        got, all,
        "round-trips exactly; the unknown id is simply absent"
    );

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_recipients(
                &o.id,
                &n.id,
                &PageRequest {
                    limit: 50,
                    after: after.clone(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        paged.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        paged, all,
        "the delivery engine's pages: every recipient once, in id order"
    );

    assert_eq!(
        store.delete_recipient(&o.id, &n.id, all[0].id).await,
        Ok(true)
    );
    assert_eq!(
        store.delete_recipient(&o.id, &n.id, all[0].id).await,
        Ok(false)
    );
    let other = notification(&o.id);
    assert_eq!(
        store.get_recipients(&o.id, &other.id, &ids).await,
        Ok(Vec::new()),
        "per notification"
    );

    assert_eq!(store.delete_notification(&o.id, &n.id).await, Ok(true));
    let left = store
        .list_recipients(
            &o.id,
            &n.id,
            &PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        left.items.is_empty(),
        "deleting a notification deletes its recipients"
    );
}

async fn users_are_read_in_batches_by_id_and_email(backend: Backend) {
    let (store, o, admin) = seeded(backend).await;
    let mut users = vec![admin.clone()];
    for i in 0..120 {
        let u = user(&o.id, &format!("b{i}"), &format!("b{i}@example.com"));
        store
            .create_user(&u)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        users.push(u);
    }
    let mut ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    ids.push(Uuid::now_v7());
    let mut got = store
        .get_users(&o.id, &ids)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    got.sort_by_key(|u| u.id);
    users.sort_by_key(|u| u.id);
    assert_eq!(got, users);
    let emails = [
        Email::parse("b7@example.com"),
        Email::parse("nobody@example.com"),
    ]
    .map(|e| e.unwrap_or_else(|e| panic!("{e}")));
    let found = store
        .find_users_by_email(&o.id, &emails)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        found
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["b7"]
    );
}

async fn template_preferences_are_merged_and_read_for_many_users_in_batches(backend: Backend) {
    let (store, calls) = new_store(backend).await;
    let o = org(&format!("org-{}", Uuid::new_v4().simple()));
    let admin = user(&o.id, "admin", "admin@example.com");
    store
        .create_organization(&o, &admin, &token(&o.id, &admin))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let template = Uuid::from_u128(1);
    let other = Uuid::from_u128(2);
    let t0 = SystemClock.now();
    let users: Vec<Uuid> = (0..150).map(|_| Uuid::now_v7()).collect();
    // users[0] disabled, users[120] enabled explicitly, users[1] only set another template.
    let set = |u: Uuid, changes: Vec<(Uuid, bool)>| {
        let store = store.clone();
        let org = o.id.clone();
        async move {
            store
                .set_preferences(&org, u, &changes, t0)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let first = set(users[0], vec![(template, true), (other, false)]).await;
    assert_eq!(
        first,
        [
            Preference {
                template,
                disabled: true,
                updated_at: t0
            },
            Preference {
                template: other,
                disabled: false,
                updated_at: t0
            },
        ]
    );
    set(users[120], vec![(template, false)]).await;
    set(users[1], vec![(other, true)]).await;
    // A repeat changes nothing, not even the timestamp.
    let later = t0 + time::Duration::seconds(5);
    let again = store
        .set_preferences(&o.id, users[0], &[(template, true), (other, true)], later)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        again,
        [
            Preference {
                template,
                disabled: true,
                updated_at: t0
            },
            Preference {
                template: other,
                disabled: true,
                updated_at: later
            },
        ]
    );
    assert_eq!(store.get_preferences(&o.id, users[0]).await, Ok(again));
    assert_eq!(store.get_preferences(&o.id, users[2]).await, Ok(vec![]));

    calls.take();
    let found = store
        .template_preferences(&o.id, template, &users)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        found,
        std::collections::HashMap::from([(users[0], true), (users[120], false)])
    );
    if backend == Backend::Moto {
        assert_eq!(
            calls.take(),
            ["BatchGetItem", "BatchGetItem"],
            "150 users: two batched reads"
        );
    }
    // Another organization sees none of it.
    let elsewhere = org(&format!("org-{}", Uuid::new_v4().simple()));
    assert_eq!(
        store
            .template_preferences(&elsewhere.id, template, &users)
            .await,
        Ok(std::collections::HashMap::new())
    );
}

herald_tests::on_both_backends!(
    recipients_are_written_in_batches_read_back_and_paged,
    users_are_read_in_batches_by_id_and_email,
    template_preferences_are_merged_and_read_for_many_users_in_batches,
);
