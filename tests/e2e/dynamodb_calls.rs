//! DynamoDB calls per request, counted against moto (issue 2's cost targets, and the admin API's): one token lookup
//! plus one write per create, one token lookup plus one read per get.

mod moto {
    use std::sync::Arc;

    use herald_tests::{Backend, TestApp};
    use shared::model::{Clock, SystemClock};

    use crate::lambda_events::At;

    /// `app` on a clock that stands still: a token's `lastUsedAt` is written at its first use
    /// only (once a minute), so the counts do not depend on how long the test takes.
    fn frozen(app: TestApp) -> TestApp {
        app.with_clock(Arc::new(At(SystemClock.now())))
    }
    use http::{Method, StatusCode};
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn create_is_one_token_read_and_one_write_and_get_is_two_reads() {
        let app = frozen(TestApp::spawn(Backend::Moto).await);
        let body = json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": "https://hooks.example.com/in"}}});
        let created = app
            .admin(Method::POST, &app.path("/notifications"), Some(body))
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        assert_eq!(
            app.calls.take(),
            ["GetItem", "UpdateItem", "TransactWriteItems"],
            "the token's first use records its lastUsedAt"
        );

        let id = created.body["data"]["id"].as_str().unwrap_or_default();
        let got = app
            .admin(
                Method::GET,
                &app.path(&format!("/notifications/{id}")),
                None,
            )
            .await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "GetItem"]);

        let listed = app
            .admin(Method::GET, &app.path("/notifications"), None)
            .await;
        assert_eq!(listed.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "Query"]);

        // Emitting: the token, the organization's limits (once a minute per process), one
        // conditional UpdateItem of the second's event count, and the event's transaction.
        let event = json!({"type": "buildCreated", "data": {"appName": "Calls"}});
        let emitted = app
            .admin(Method::POST, &app.path("/events"), Some(event.clone()))
            .await;
        assert_eq!(emitted.status, StatusCode::ACCEPTED, "{}", emitted.body);
        assert_eq!(
            app.calls.take(),
            ["GetItem", "GetItem", "UpdateItem", "TransactWriteItems"]
        );
        let emitted = app
            .admin(Method::POST, &app.path("/events"), Some(event))
            .await;
        assert_eq!(emitted.status, StatusCode::ACCEPTED, "{}", emitted.body);
        assert_eq!(
            app.calls.take(),
            ["GetItem", "UpdateItem", "TransactWriteItems"],
            "the limits kept: one conditional write is all the limit adds"
        );

        let denied = app
            .call(
                Method::GET,
                &app.path("/notifications"),
                Some("not-a-token"),
                None,
            )
            .await;
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
        assert!(
            app.calls.take().is_empty(),
            "a malformed token costs no read"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_new_embed_recipients_take_ten_batch_reads_and_forty_batch_writes() {
        let app = TestApp::spawn(Backend::Moto).await;
        let created = app
            .admin(
                Method::POST,
                &app.path("/notifications"),
                Some(json!({"type": "email", "events": {}})),
            )
            .await;
        let id = created.body["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let path = format!("/v1/deployments/{}/notifications/{id}/recipients", app.org);
        let recipients: Vec<_> = (0..1000)
            .map(|i| json!({"embedTenantName": "bulk", "externalId": format!("u{i}@bulk.example")}))
            .collect();
        app.calls.take();

        let first = app
            .admin(Method::POST, &path, Some(json!({"recipients": recipients})))
            .await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(
            first.body["createdRecipients"].as_array().map(Vec::len),
            Some(1000)
        );
        let calls = app.calls.take();
        let count = |op: &str| calls.iter().filter(|c| *c == op).count();
        assert_eq!(
            (
                count("GetItem"),
                count("BatchGetItem"),
                count("BatchWriteItem")
            ),
            (2, 10, 40),
            "{calls:?}"
        );
        assert_eq!(calls.len(), 52, "nothing else: {calls:?}");

        let again = app
            .admin(Method::POST, &path, Some(json!({"recipients": recipients})))
            .await;
        assert_eq!(
            again.body["unchangedRecipients"].as_array().map(Vec::len),
            Some(1000)
        );
        let calls = app.calls.take();
        let count = |op: &str| calls.iter().filter(|c| *c == op).count();
        assert_eq!(
            (
                count("GetItem"),
                count("BatchGetItem"),
                count("BatchWriteItem")
            ),
            (2, 10, 0),
            "a repeat writes nothing: {calls:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settings_get_is_one_read_and_put_is_one_update_plus_the_whitelist_check() {
        let app = frozen(TestApp::spawn(Backend::Moto).await);
        let path = format!("/v1/environments/{}/notificationsSettings", app.org);
        let got = app.admin(Method::GET, &path, None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(
            app.calls.take(),
            ["GetItem", "UpdateItem", "GetItem"],
            "token (its first use recorded) + settings"
        );
        let body = json!({"whitelist": [{"user": {"id": app.admin_id}}], "defaultLanguage": "fr"});
        let put = app.admin(Method::PUT, &path, Some(body)).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
        assert_eq!(
            app.calls.take(),
            ["GetItem", "BatchGetItem", "UpdateItem"],
            "token + whitelist users + the update"
        );
        let put = app
            .admin(Method::PUT, &path, Some(json!({"defaultLanguage": "de"})))
            .await;
        assert_eq!(put.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "UpdateItem"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seed_002_requests_take_the_documented_calls() {
        let app = frozen(TestApp::spawn(Backend::Moto).await);
        let settings = "/api/v2/notifications/settings";
        let res = app.admin(Method::GET, settings, None).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "UpdateItem", "GetItem"]);
        let pause = json!({"notifier_paused": true});
        let res = app.admin(Method::PUT, settings, Some(pause.clone())).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "UpdateItem"]);
        let res = app.admin(Method::PUT, settings, Some(pause)).await;
        assert_eq!(res.status, StatusCode::NOT_MODIFIED);
        assert_eq!(app.calls.take(), ["GetItem", "UpdateItem", "GetItem"]);

        let prefs = "/api/v2/users/me/notifications/preferences";
        let res = app.admin(Method::GET, prefs, None).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "GetItem", "Query"]);
        let id = shared::templates::all()[0].id.to_string();
        let body = json!({"template_disabled_map": {id.clone(): true}});
        let res = app.admin(Method::PUT, prefs, Some(body.clone())).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(
            app.calls.take(),
            ["GetItem", "GetItem", "Query", "TransactWriteItems"]
        );
        let res = app.admin(Method::PUT, prefs, Some(body)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(
            app.calls.take(),
            ["GetItem", "GetItem", "Query"],
            "nothing changes, nothing is written"
        );

        let res = app
            .admin(Method::POST, "/api/v2/notifications/test", None)
            .await;
        assert_eq!(res.status, StatusCode::OK);
        let mut calls = app.calls.take();
        calls[1..3].sort_unstable(); // the user and the settings are read concurrently
        assert_eq!(
            calls,
            ["GetItem", "GetItem", "GetItem"],
            "the test delivery is only queued: the sender's claim records it"
        );
    }

    /// Issue 6's call counts, behind BENCHMARKS.md's cost per delivery. The fan-out: exactly one
    /// SendMessageBatch per 10 deliveries, one BatchGetItem of preferences per 100 recipients, and
    /// no BatchWriteItem at all (a queued delivery is its message; the sender's claim records it),
    /// and on the event one UpdateItem for its first chunk and one for its last.
    /// The sender: per delivery one UpdateItem to claim, one for the organization's daily email
    /// count and one to settle, and per batch one
    /// GetItem of the settings and one of the event. Every count is per 500-recipient chunk or per
    /// batch, so 10,000 recipients take 1,000 SendMessageBatch (`HERALD_FAN_OUT_RECIPIENTS`
    /// runs it at any size; the suite runs 1,000, since moto takes minutes for 10,000).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fan_out_and_its_deliveries_take_the_minimum_calls() {
        use std::sync::Arc;
        use std::time::Duration;

        use herald_tests::{CallCounter, moto_counted_queue};
        use shared::adapters::mail::outbox::Outbox;
        use shared::ports::queue::{DeliveryMessage, Disposition, consume};

        let recipients_wanted: usize = std::env::var("HERALD_FAN_OUT_RECIPIENTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000);
        let app = TestApp::spawn(Backend::Moto).await;
        let sqs = Arc::new(CallCounter::default());
        let queue = moto_counted_queue::<DeliveryMessage>(sqs.clone()).await;
        let state = app.state.clone().with_queue(Arc::new(queue));
        let created = app
            .admin(
                Method::POST,
                &app.path("/notifications"),
                Some(json!({"type": "email", "events": {"buildCreated": true}})),
            )
            .await;
        let id = created.body["data"]["id"].as_str().unwrap_or_default();
        for chunk in 0..recipients_wanted.div_ceil(500) {
            let size = (recipients_wanted - chunk * 500).min(500);
            let recipients: Vec<_> = (0..size)
                .map(|i| json!({"embedTenantName": "t", "externalId": format!("u{chunk}-{i}"), "email": format!("u{chunk}-{i}@example.com")}))
                .collect();
            let res = app
                .admin(
                    Method::POST,
                    &format!("/v1/deployments/{}/notifications/{id}/recipients", app.org),
                    Some(json!({"recipients": recipients})),
                )
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        }
        let res = app
            .admin(
                Method::POST,
                &app.path("/events"),
                Some(json!({"type": "buildCreated", "data": {}})),
            )
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
        app.calls.take();
        sqs.take();
        // Every chunk of the fan-out, as the fan-out function would run them.
        loop {
            let done = consume(&*state.fanout, Duration::from_secs(60), |batch| {
                shared::workers::fanout::process_batch(state.fanout_worker(), batch)
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            if done.is_empty() {
                break;
            }
            assert!(done.iter().all(|d| *d == Disposition::Ack));
        }
        let count = |calls: &[String], op: &str| calls.iter().filter(|c| *c == op).count();
        let sent = sqs.take();
        assert_eq!(count(&sent, "SendMessageBatch"), recipients_wanted / 10);
        let dynamo = app.calls.take();
        assert_eq!(count(&dynamo, "BatchWriteItem"), 0);
        assert_eq!(count(&dynamo, "BatchGetItem"), recipients_wanted / 100);
        // On the event: its first chunk takes it out of the outbox, its last records it done
        // (one write when it is one chunk).
        let chunks = recipients_wanted.div_ceil(500);
        assert_eq!(count(&dynamo, "UpdateItem"), chunks.min(2));

        // The sender, batch by batch as Lambda hands them over. The organization's limits were
        // read by the emit; kept here for the test's length, so that the count does not depend
        // on how fast moto answers (a sender reads them once a minute).
        let org = shared::model::OrgId::parse(&app.org).unwrap_or_else(|e| panic!("{e}"));
        let limits = shared::model::Limits::of_plan(shared::model::Plan::Paid);
        let now = state.clock.now();
        state
            .limits
            .keep(&org, limits, now + time::Duration::hours(1));
        let outbox = Arc::new(Outbox::new());
        let transports = state
            .transports(outbox.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut batches = 0;
        loop {
            let done = shared::workers::sender::round(
                &state.sender(&transports),
                &*state.inbox,
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            if done.is_empty() {
                break;
            }
            batches += 1;
            assert!(done.iter().all(|d| *d == Disposition::Ack));
        }
        assert_eq!(outbox.messages().len(), recipients_wanted);
        let dynamo = app.calls.take();
        assert_eq!(
            count(&dynamo, "UpdateItem"),
            3 * recipients_wanted,
            "a claim, the organization's daily email count and a settlement per delivery"
        );
        assert_eq!(
            count(&dynamo, "GetItem"),
            2 * batches,
            "the settings and the event, once per batch"
        );
        assert_eq!(
            dynamo.len(),
            3 * recipients_wanted + 2 * batches,
            "nothing else: {dynamo:?}"
        );
    }
}

/// Retention on DynamoDB (`HERALD_RETENTION_DAYS`): events and deliveries carry a `ttl` of their
/// creation plus the retention, an idempotency key its 24 hours; the table's TTL deletes them.
mod ttl {
    use std::collections::HashMap;
    use std::sync::Arc;

    use aws_sdk_dynamodb::types::AttributeValue;
    use herald_tests::{CallCounter, moto_client, queued_delivery};
    use shared::adapters::dynamodb::DynamoStore;
    use shared::model::{Claim, Event, EventCreated};
    use shared::model::{Clock, Email, EventType, OrgId, SystemClock};
    use shared::ports::store::{DeliveryLedger, EventStore};
    use uuid::Uuid;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_and_deliveries_expire_by_ttl_after_the_retention() {
        let client = moto_client(Arc::new(CallCounter::default())).await;
        let table = format!("herald-ttl-{}", Uuid::new_v4().simple());
        let retention = time::Duration::days(7);
        let store = DynamoStore::new(client.clone(), &table).with_retention(retention);
        store
            .create_table_if_missing()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let org = OrgId::generate();
        let now = SystemClock.now();
        let event = Event {
            id: Uuid::now_v7(),
            organization: org.clone(),
            kind: EventType::BuildCreated,
            data: serde_json::json!({}),
            idempotency_key: Some("k".into()),
            body_hash: "h".into(),
            created_at: now,
            fanout: shared::model::Fanout::PENDING,
            fanout_round: 0,
        };
        let key_expires = now + time::Duration::hours(24);
        assert_eq!(
            store.create_event(&event, key_expires).await,
            Ok(EventCreated::New)
        );
        let delivery = shared::model::Delivery {
            event: Some(event.id),
            created_at: now,
            ..queued_delivery(
                &org,
                Uuid::now_v7(),
                Email::parse("to@example.com").unwrap_or_else(|e| panic!("{e}")),
            )
        };
        assert!(matches!(
            store
                .claim_delivery(&delivery, now, now + time::Duration::seconds(60))
                .await,
            Ok(Claim::Claimed(_))
        ));
        let items = client
            .scan()
            .table_name(&table)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .unwrap_or_default();
        let ttl_of = |pk: &str, sk_prefix: &str| -> Option<i64> {
            items
                .iter()
                .find(|i: &&HashMap<String, AttributeValue>| {
                    i.get("pk") == Some(&AttributeValue::S(pk.into()))
                        && matches!(i.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with(sk_prefix))
                })
                .and_then(|i| match i.get("ttl") {
                    Some(AttributeValue::N(n)) => n.parse().ok(),
                    _ => None,
                })
        };
        let expires = (now + retention).unix_timestamp();
        assert_eq!(
            ttl_of(&format!("ORG#{org}#EVENT#{}", event.id), "EVENT"),
            Some(expires)
        );
        assert_eq!(ttl_of(&format!("ORG#{org}#DELIVERIES"), ""), Some(expires));
        assert_eq!(
            ttl_of(&format!("ORG#{org}"), "IDEM#"),
            Some(key_expires.unix_timestamp())
        );
    }
}

/// What recovering 1,000 failed deliveries costs on AWS: pages of 500 read through the sparse
/// `deliveries-failed` index (keys only, then BatchGetItem of 100 keys), one conditional
/// UpdateItem per delivery, and SendMessageBatch of 10 messages.
mod recover {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use herald_tests::{
        Backend, FakeResolver, TestApp, moto_counted_queue, new_store, queued_delivery, test_config,
    };
    use http::{Method, StatusCode};
    use serde_json::json;
    use shared::app::{AppState, Backends};
    use shared::model::{Channel, Delivery};
    use shared::model::{DeliveryStatus, Email, NotificationId, OrgId};
    use shared::ports::queue::{DeliveryMessage, FanoutMessage};
    use uuid::Uuid;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recovering_a_thousand_failed_deliveries_reads_pages_and_sends_batches_of_ten() {
        let (store, calls) = new_store(Backend::Moto).await;
        let backends = Backends::separate(
            store.clone(),
            Arc::new(moto_counted_queue::<DeliveryMessage>(calls.clone()).await),
            Arc::new(moto_counted_queue::<FanoutMessage>(calls.clone()).await),
        );
        let state = AppState::new(test_config("http://127.0.0.1:9".into()), backends)
            .with_resolver(Arc::new(FakeResolver::default()));
        let app = TestApp::on_state(Backend::Moto, state.clone(), calls.clone()).await;
        let created = app
            .admin(
                Method::POST,
                &app.path("/notifications"),
                Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": "https://hooks.example.com/in"}}})),
            )
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        let notification =
            NotificationId::parse(created.body["data"]["id"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
        let org = OrgId::parse(&app.org).unwrap_or_else(|e| panic!("{e}"));
        let now = state.clock.now();
        let to = Email::parse("unused@example.com").unwrap_or_else(|e| panic!("{e}"));
        let failed: Vec<Delivery> = (0..1000i64)
            .map(|n| Delivery {
                channel: Channel::Webhook {
                    notification: notification.clone(),
                },
                status: DeliveryStatus::Failed,
                attempts: 5,
                last_error: Some("answered 503 (after 5 attempts)".into()),
                created_at: now - time::Duration::minutes(30) + time::Duration::milliseconds(n),
                ..queued_delivery(&org, Uuid::now_v7(), to.clone())
            })
            .collect();
        store
            .put_deliveries(&failed)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        calls.take();

        let since = shared::model::timestamp::format(now - time::Duration::hours(1));
        let res = app
            .admin(
                Method::POST,
                &app.path(&format!("/notifications/{notification}/recover")),
                Some(json!({"since": since})),
            )
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
        assert_eq!(res.body["data"], json!({"queued": 1000, "more": false}));
        let mut counted: BTreeMap<String, usize> = BTreeMap::new();
        for call in calls.take() {
            *counted.entry(call).or_default() += 1;
        }
        // The token and the notification; two pages of 500 (the first read one more, to know
        // that a second exists); each delivery's conditional write; its message, 10 per batch.
        let expected: BTreeMap<String, usize> = [
            ("GetItem", 2),
            ("Query", 2),
            ("BatchGetItem", 11),
            ("UpdateItem", 1000),
            ("SendMessageBatch", 100),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(counted, expected);
        println!("recover, per 1,000 deliveries on AWS: {counted:?}");
    }
}
