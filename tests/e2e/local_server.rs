//! `herald-local` as a process on a data directory of its own: it prints its three lines, serves
//! the API and the OpenAPI document, keeps everything across a restart (printing the same lines),
//! stops gracefully on SIGTERM and Ctrl-C, and starts on a restored backup.

use std::time::Duration;

use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, Records, id, temp_path};
use reqwest::Method;
use serde_json::json;

/// Starts herald-local with `env`, checks its three lines and drives the API through a socket.
async fn serves_the_api(env: &[(&str, &str)]) {
    let dir = temp_path("data");
    let mut env = env.to_vec();
    env.push(("HERALD_OPERATOR_TOKEN", "fixed-operator-token-of-32-chars"));
    let local = Local::start(&dir, &env);
    assert_eq!(local.operator_token(), "fixed-operator-token-of-32-chars");
    assert!(
        local
            .admin_token()
            .starts_with(&format!("hrld_{}_", local.org()))
    );
    let body = json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": "http://127.0.0.1:9/hook"}}});
    let (status, created) = local
        .admin(Method::POST, &local.path("/notifications/"), Some(body))
        .await;
    assert_eq!(
        status, 200,
        "private targets are allowed locally: {created}"
    );
    let (status, listed) = local
        .admin(Method::GET, &local.path("/notifications"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["data"]["items"][0]["config"]["webhook"]["url"],
        "http://127.0.0.1:9/hook"
    );
    // The outbox holds people's addresses: the operator's only.
    let admin = local.admin_token().to_owned();
    for path in ["/_local/outbox", "/_local/outbox/count"] {
        for token in ["", admin.as_str()] {
            let (status, refused) = local.call(Method::GET, path, token, None).await;
            assert_eq!(status, 401, "{path} with {token:?}: {refused}");
        }
    }
    let operator = "fixed-operator-token-of-32-chars";
    let (status, outbox) = local
        .call(Method::GET, "/_local/outbox", operator, None)
        .await;
    assert_eq!((status, outbox), (200, json!([])));
    let (status, count) = local
        .call(Method::GET, "/_local/outbox/count", operator, None)
        .await;
    assert_eq!((status, count), (200, json!({"count": 0})));
    let (status, doc) = local.call(Method::GET, "/openapi.json", "", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let (status, created_org) = local
        .call(
            Method::POST,
            "/v1/organizations",
            "fixed-operator-token-of-32-chars",
            Some(json!({"name": "Second", "kind": "SANDBOX", "plan": "TRIAL"})),
        )
        .await;
    assert_eq!(status, 201, "{created_org}");
}

/// Webhooks go straight to their target, whatever proxy the environment names (a proxy would
/// see every signed body): with every proxy variable pointing at a closed port, the delivery
/// still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_ignore_the_proxy_variables_of_the_environment() {
    let closed = format!("http://127.0.0.1:{}", herald_tests::local::free_port());
    let proxies: Vec<(&str, &str)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, closed.as_str()))
    .collect();
    let local = Local::start(&temp_path("proxy"), &proxies);
    let receiver = Receiver::start(&[]).await;
    let body = json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": receiver.url}}});
    let (status, created) = local
        .admin(Method::POST, &local.path("/notifications"), Some(body))
        .await;
    assert_eq!(status, 200, "{created}");
    delivered_after(&local, &receiver, 1).await;
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_local_prints_its_credentials_and_serves_the_api() {
    serves_the_api(&[]).await;
}

mod moto {
    /// `HERALD_BACKEND=aws`: the same process on DynamoDB and SQS (moto), creating its table.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn herald_local_on_dynamodb_prints_its_credentials_and_serves_the_api() {
        let table = format!("herald-local-{}", uuid::Uuid::new_v4().simple());
        let endpoint = herald_tests::moto_endpoint();
        super::serves_the_api(&[
            ("HERALD_BACKEND", "aws"),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("TABLE_NAME", &table),
        ])
        .await;
    }
}

/// Emits a sentinel `buildCreated` event and waits until it is the `count`-th request
/// `receiver` has had and the delivery log holds nothing `queued` or `sending` (on the embedded
/// backend every queued delivery shows there): the fan-out takes its messages oldest first, so
/// whatever was queued before the sentinel has been sent by then. Returns the sentinel
/// delivery's id (its `webhook-id`).
async fn delivered_after(local: &Local, receiver: &Receiver, count: usize) -> String {
    let (status, _) = local
        .admin(
            Method::POST,
            &local.path("/events"),
            Some(json!({"type": "buildCreated", "data": {"appName": "Sentinel"}})),
        )
        .await;
    assert_eq!(status, 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut pending = 0;
        for status in ["queued", "sending"] {
            let (_, log) = local
                .admin(
                    Method::GET,
                    &local.path(&format!("/deliveries?status={status}")),
                    None,
                )
                .await;
            pending += log["data"]["items"].as_array().map_or(1, Vec::len);
        }
        if pending == 0 && receiver.received() >= count {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled: {pending} pending, {} received",
            receiver.received()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hits = receiver.hits();
    let sentinel = hits
        .iter()
        .find(|h| h.json()["data"]["appName"] == "Sentinel")
        .unwrap_or_else(|| panic!("the sentinel arrived"));
    sentinel.header("webhook-id")
}

/// Waits until `done` holds, up to `limit`.
async fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_record_and_prints_the_same_three_lines() {
    let dir = temp_path("data");
    let receiver = Receiver::start(&[]).await;
    let mut first = Local::start(&dir, &[]);
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700, "the data directory is its owner's");
        assert_eq!(mode(&dir.join("credentials.json")), 0o600);
        assert_eq!(mode(&dir.join("herald.db")), 0o600);
    }
    let records = Records::create(&first, &receiver.url).await;
    let ann_token = records.ann_token.clone();
    let (_, templates) = first
        .admin(Method::GET, "/api/v2/notifications/templates/system", None)
        .await;
    let template = templates[0]["id"].as_str().unwrap_or_default().to_owned();
    let preferences = "/api/v2/users/me/notifications/preferences";
    let (status, _) = first
        .call(
            Method::PUT,
            preferences,
            &ann_token,
            Some(json!({"template_disabled_map": {template.clone(): true}})),
        )
        .await;
    assert_eq!(status, 200);
    let emit =
        json!({"type": "buildCreated", "data": {"appName": "Demo"}, "idempotencyKey": "restart-1"});
    let (status, accepted) = first
        .admin(Method::POST, &first.path("/events"), Some(emit.clone()))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let event = id(&accepted);
    assert!(until(Duration::from_secs(20), || receiver.received() == 1).await);

    first.signal("TERM");
    let stopped = first.wait(Duration::from_secs(15));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "{stopped:?}: {}",
        first.stderr()
    );

    let second = Local::start(&dir, &[]);
    assert_eq!(second.lines, first.lines, "the same three lines");
    records.assert_kept(&second).await;
    let (_, kept) = second
        .call(Method::GET, preferences, &ann_token, None)
        .await;
    assert_eq!(kept[0]["id"], template.as_str());
    assert_eq!(kept[0]["disabled"], true);
    let (_, got) = second
        .admin(Method::GET, &second.path(&format!("/events/{event}")), None)
        .await;
    assert_eq!(got["data"]["deliveries"]["items"][0]["status"], "sent");
    // The idempotency key holds across the restart: the first event, nothing sent again.
    let (status, replay) = second
        .admin(Method::POST, &second.path("/events"), Some(emit))
        .await;
    assert_eq!((status, id(&replay)), (202, event));
    // Nothing is sent again: once a sentinel event emitted after the replay is delivered and
    // nothing is queued or being sent, the receiver has had every request it will have.
    let sentinel = delivered_after(&second, &receiver, 2).await;
    let ids: Vec<String> = receiver
        .hits()
        .iter()
        .map(|h| h.header("webhook-id"))
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[1], sentinel, "the replay sent nothing: {ids:?}");
    drop(second);

    // An explicit operator token wins, and what is kept stays as it is.
    let third = Local::start(
        &dir,
        &[("HERALD_OPERATOR_TOKEN", "explicit-operator-token-32-chars")],
    );
    assert_eq!(third.operator_token(), "explicit-operator-token-32-chars");
    assert_eq!(third.lines[1..], first.lines[1..]);
    let org = json!({"name": "Other", "kind": "SANDBOX", "plan": "TRIAL"});
    let (status, _) = third
        .call(
            Method::POST,
            "/v1/organizations",
            "explicit-operator-token-32-chars",
            Some(org.clone()),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = third
        .call(
            Method::POST,
            "/v1/organizations",
            first.operator_token(),
            Some(org),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_lets_the_batch_being_sent_finish_and_exits_zero() {
    let dir = temp_path("data");
    let receiver = Receiver::start_pacing(Duration::from_millis(1500)).await;
    let mut local = Local::start(&dir, &[]);
    let (status, _) = local
        .admin(
            Method::POST,
            &local.path("/notifications"),
            Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": receiver.url}}})),
        )
        .await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        let (status, _) = local
            .admin(
                Method::POST,
                &local.path("/events"),
                Some(json!({"type": "buildCreated", "data": {}})),
            )
            .await;
        assert_eq!(status, 202);
    }
    assert!(
        until(Duration::from_secs(20), || receiver.received() == 3).await,
        "three deliveries in flight"
    );
    assert_eq!(receiver.answered(), 0);
    local.signal("TERM");
    let port = local.port;
    assert!(
        until(Duration::from_secs(5), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_err())
        .await,
        "no new connection is accepted once stopping"
    );
    let stopped = local.wait(Duration::from_secs(12));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "{stopped:?}: {}",
        local.stderr()
    );
    assert_eq!(receiver.answered(), 3, "the batch being sent finished");
    let wal = dir.join("herald.db-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "checkpointed: the database file holds everything"
    );

    let again = Local::start(&dir, &[]);
    let (_, log) = again
        .admin(Method::GET, &again.path("/deliveries"), None)
        .await;
    let states: Vec<(String, u64)> = log["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            (
                d["status"].as_str().unwrap_or_default().to_owned(),
                d["attempts"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![("sent".to_owned(), 1); 3],
        "settled before exiting"
    );
    // Nothing was sent twice: once a sentinel event is delivered and nothing is queued or being
    // sent, the receiver has had every request it will have.
    let sentinel = delivered_after(&again, &receiver, 4).await;
    let mut ids: Vec<String> = receiver
        .hits()
        .iter()
        .map(|h| h.header("webhook-id"))
        .collect();
    assert_eq!(ids.pop(), Some(sentinel));
    assert_eq!(ids.len(), 3, "nothing was sent twice: {ids:?}");
    ids.dedup();
    assert_eq!(ids.len(), 3, "three deliveries, once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_it_gracefully_too() {
    let dir = temp_path("data");
    let mut local = Local::start(&dir, &[]);
    local.signal("INT");
    let stopped = local.wait(Duration::from_secs(12));
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
    let again = Local::start(&dir, &[]);
    assert_eq!(again.lines, local.lines);
}

/// The README's backup: `VACUUM INTO` run by Python's standard `sqlite3` module against the
/// running server's database, then the copy (with `credentials.json`) started as a new data
/// directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_server_restores_and_starts() {
    let dir = temp_path("data");
    let local = Local::start(&dir, &[]);
    let (_, created) = local
        .admin(
            Method::POST,
            &local.path("/notifications"),
            Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": "http://127.0.0.1:9/hook"}}})),
        )
        .await;
    let notification = id(&created);
    let backup = temp_path("backup").with_extension("db");
    let copied = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('VACUUM INTO ?', (sys.argv[2],))")
        .arg(dir.join("herald.db"))
        .arg(&backup)
        .status()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(copied.success(), "VACUUM INTO");
    // Written after the copy: not in it.
    let (status, _) = local
        .admin(
            Method::POST,
            &local.path("/notifications"),
            Some(json!({"type": "email", "events": {"buildCreated": true}})),
        )
        .await;
    assert_eq!(status, 200);

    let restored = temp_path("restored");
    std::fs::create_dir_all(&restored).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(&backup, restored.join("herald.db")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        dir.join("credentials.json"),
        restored.join("credentials.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Without the master key the copy's secrets cannot be opened: the server refuses to start
    // (it never makes a new key for a database whose secrets are sealed).
    let refused = herald_tests::local::Local::try_start(&restored, &[]);
    let refusal = match refused {
        Ok(_) => panic!("started without the master key"),
        Err(refusal) => refusal.stderr,
    };
    assert!(
        refusal.contains(
            "master.key: missing, and this database's secrets are sealed under master key m"
        ),
        "{refusal}"
    );
    assert!(!restored.join("master.key").exists(), "no new key was made");
    std::fs::copy(dir.join("master.key"), restored.join("master.key"))
        .unwrap_or_else(|e| panic!("{e}"));
    let from_backup = Local::start(&restored, &[]);
    assert_eq!(from_backup.lines, local.lines);
    let (status, listed) = from_backup
        .admin(Method::GET, &from_backup.path("/notifications"), None)
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["data"]["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [notification.as_str()]);
    assert_eq!(
        listed["data"]["items"][0]["config"]["webhook"]["token"],
        created["data"]["config"]["webhook"]["token"],
        "the secret opens under the restored key"
    );
}
