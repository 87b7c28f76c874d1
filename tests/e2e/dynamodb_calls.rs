//! DynamoDB calls per request, counted against moto (issue 2's cost targets, and seed 002's): one token lookup
//! plus one write per create, one token lookup plus one read per get.

mod moto {
    use herald_tests::{Backend, TestApp};
    use http::{Method, StatusCode};
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn create_is_one_token_read_and_one_write_and_get_is_two_reads() {
        let app = TestApp::spawn(Backend::Moto).await;
        let body = json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": "https://hooks.example.com/in"}}});
        let created = app
            .admin(Method::POST, &app.path("/notifications"), Some(body))
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        assert_eq!(app.calls.take(), ["GetItem", "TransactWriteItems"]);

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
        let app = TestApp::spawn(Backend::Moto).await;
        let path = format!("/v1/environments/{}/notificationsSettings", app.org);
        let got = app.admin(Method::GET, &path, None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "GetItem"], "token + settings");
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
        let app = TestApp::spawn(Backend::Moto).await;
        let settings = "/api/v2/notifications/settings";
        let res = app.admin(Method::GET, settings, None).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(app.calls.take(), ["GetItem", "GetItem"]);
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
        assert_eq!(calls, ["GetItem", "GetItem", "GetItem", "PutItem"]);
    }

    /// Issue 6's cost target, at 1,000 recipients (moto answers a fan-out to 10,000 too slowly for
    /// the suite: over 5 minutes): exactly one SendMessageBatch per 10 deliveries and the minimum
    /// BatchWriteItem calls (one per 25). Every count is per 500-recipient chunk, so 10,000 take
    /// 1,000 and 400.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fan_out_to_a_thousand_recipients_takes_the_minimum_batch_calls() {
        use std::sync::Arc;
        use std::time::Duration;

        use herald_tests::{CallCounter, moto_counted_queue};
        use shared::queue::DeliveryMessage;

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
        for chunk in 0..2 {
            let recipients: Vec<_> = (0..500)
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
            let batch = state
                .fanout
                .receive(10, Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if batch.is_empty() {
                break;
            }
            let results = shared::fanout::process_batch(&state, batch).await;
            assert!(
                results
                    .iter()
                    .all(|(_, d)| *d == shared::queue::Disposition::Ack)
            );
            shared::queue::apply(&*state.fanout, results, true).await;
        }
        let count = |calls: &[String], op: &str| calls.iter().filter(|c| *c == op).count();
        let sent = sqs.take();
        assert_eq!(count(&sent, "SendMessageBatch"), 100);
        let dynamo = app.calls.take();
        assert_eq!(count(&dynamo, "BatchWriteItem"), 40);
        // Reads: 2 pages of 500 recipients, each checked for existing deliveries and for
        // preferences (5 BatchGetItem of 100 each).
        assert_eq!(count(&dynamo, "BatchGetItem"), 20);
    }
}
