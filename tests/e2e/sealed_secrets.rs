//! Secrets at rest (issue 26, part 2): webhook and operational-webhook signing secrets, Slack bot
//! tokens and incoming-webhook URLs are nowhere in the database files or the DynamoDB items; the
//! local server's master key (`master.key`, `0600`, or `HERALD_MASTER_KEY`) is checked at every
//! start; a database written before sealing has its secrets sealed on start; on AWS a KMS data
//! key seals them, decrypted from the table by a new process.

use std::sync::Arc;

use herald_tests::local::{Local, temp_path};
use herald_tests::{Backend, CallCounter, FakeResolver, TestApp, slack_stand_in, test_config};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::kms::KmsKeys;
use shared::app::{AppState, Backends};

/// Makes every kind of secret through the API: a webhook notification (its secret rotated, so
/// that two are held), a Slack one, an operational webhook. Returns the secrets in plain text.
async fn every_kind_of_secret(app: &TestApp) -> Vec<String> {
    let created = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": "https://hooks.example.com/in"}}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let first = created.body["data"]["config"]["webhook"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rotated = app
        .admin(
            Method::POST,
            &app.path(&format!("/notifications/{id}/secret/rotate")),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = rotated.body["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let slack = app
        .admin(
            Method::POST,
            &app.path("/notifications"),
            Some(json!({"type": "slack", "events": {"buildCreated": true}, "setup": {"slack": {"code": "good-code", "redirectUri": "https://app.example.com/cb"}}})),
        )
        .await;
    assert_eq!(slack.status, StatusCode::OK, "{}", slack.body);
    let hook = app
        .admin(
            Method::PUT,
            &app.path("/operational-webhook"),
            Some(json!({"url": "https://hooks.example.com/ops", "events": ["delivery.failed"]})),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
    let ops = hook.body["data"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for secret in [&first, &second, &ops] {
        assert!(secret.starts_with("whsec_"), "{secret}");
    }
    // The Slack stand-in's install: its bot token and incoming-webhook path.
    vec![
        first,
        second,
        ops,
        "xoxb-test".into(),
        "/services/T1/B1/x".into(),
    ]
}

/// The secrets of `secrets` that occur in `haystack`.
fn found<'a>(haystack: &[u8], secrets: &'a [String]) -> Vec<&'a str> {
    let text = String::from_utf8_lossy(haystack);
    secrets
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .map(String::as_str)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_files_hold_no_secret_in_plain_text() {
    let db = herald_tests::temp_database();
    let path = db.path().to_path_buf();
    let state = AppState::on_sqlite(test_config(slack_stand_in().await), db)
        .with_resolver(Arc::new(FakeResolver::default()));
    let app = TestApp::on_state(Backend::Sqlite, state, Arc::new(CallCounter::default())).await;
    let secrets = every_kind_of_secret(&app).await;
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let file = format!("{}{suffix}", path.display());
        bytes.extend(std::fs::read(&file).unwrap_or_default());
    }
    assert!(
        String::from_utf8_lossy(&bytes).contains("hooks.example.com/in"),
        "the files read are the database's"
    );
    assert_eq!(found(&bytes, &secrets), Vec::<&str>::new());
    assert!(
        String::from_utf8_lossy(&bytes).contains("hrs1:m"),
        "sealed values are there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_items_hold_sealed_secrets_under_a_kms_data_key_that_a_new_process_opens() {
    let sdk = herald_tests::moto_sdk_config().await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .create_key()
        .description("herald test")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create_key: {e:?}"))
        .key_metadata
        .map(|m| m.key_id)
        .unwrap_or_default();
    let table = format!("herald-sealed-{}", uuid::Uuid::new_v4().simple());
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoStore::new(client.clone(), table.clone());
    store
        .create_table_if_missing()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let state = |store: DynamoStore| {
        let (sdk, table, key) = (sdk.clone(), table.clone(), key.clone());
        async move {
            let backends = Backends::separate(
                Arc::new(store),
                Arc::new(herald_tests::moto_queue::<shared::ports::queue::DeliveryMessage>().await),
                Arc::new(herald_tests::moto_queue::<shared::ports::queue::FanoutMessage>().await),
            );
            AppState::new(test_config(slack_stand_in().await), backends)
                .with_resolver(Arc::new(FakeResolver::default()))
                .with_keys(Arc::new(KmsKeys::new(sdk, table, key)))
        }
    };
    let app = TestApp::on_state(
        Backend::Moto,
        state(store.clone()).await,
        Arc::new(CallCounter::default()),
    )
    .await;
    let secrets = every_kind_of_secret(&app).await;
    let items = client
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("scan: {e:?}"))
        .items
        .unwrap_or_default();
    let dump = format!("{items:?}");
    assert!(
        dump.contains("hooks.example.com/in"),
        "the items read are the table's"
    );
    assert_eq!(found(dump.as_bytes(), &secrets), Vec::<&str>::new());
    assert!(dump.contains("hrs1:d"), "sealed under the data key");
    let data_key = items
        .iter()
        .find(|i| i.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("DATAKEY"))
        .unwrap_or_else(|| panic!("the data key is kept in the table: {dump}"));
    assert!(
        data_key.get("blob").is_some_and(|b| b.is_b()),
        "{data_key:?}"
    );

    // A new process (new keys, nothing cached) opens what the first sealed.
    let listed = app
        .admin(Method::GET, &app.path("/notifications"), None)
        .await;
    let fresh = state(store).await;
    let again = app.restated(|_| fresh);
    let relisted = again
        .admin(Method::GET, &again.path("/notifications"), None)
        .await;
    assert_eq!(relisted.status, StatusCode::OK, "{}", relisted.body);
    let tokens = |body: &Value| -> Vec<Value> {
        body["data"]["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|n| n["config"]["webhook"]["token"].clone())
                    .filter(|t| !t.is_null())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(tokens(&relisted.body), tokens(&listed.body));
    assert_eq!(
        tokens(&relisted.body),
        [json!(secrets[1])],
        "the rotated secret, opened: {}",
        relisted.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_is_made_once_owner_only_and_another_key_stops_the_start() {
    let dir = temp_path("sealed");
    let mut local = Local::start(&dir, &[]);
    let key_file = dir.join("master.key");
    let mode = std::fs::metadata(&key_file)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mode, 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap_or_else(|e| panic!("{e}"));
    let (status, created) = local
        .admin(
            Method::POST,
            &local.path("/notifications"),
            Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": "http://127.0.0.1:9/hook"}}})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let token = created["data"]["config"]["webhook"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    local.signal("TERM");
    assert!(local.wait(std::time::Duration::from_secs(12)).is_some());
    let before = std::fs::read(dir.join("herald.db")).unwrap_or_default();

    // Another key, given by the variable: the start stops, naming both keys; nothing changes.
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let refusal = match Local::try_start(&dir, &[("HERALD_MASTER_KEY", other)]) {
        Ok(_) => panic!("started with another master key"),
        Err(refusal) => refusal,
    };
    assert_eq!(
        refusal.status.and_then(|s| s.code()),
        Some(1),
        "{}",
        refusal.stderr
    );
    assert!(
        refusal.stderr.contains(
            "(HERALD_MASTER_KEY) is not the key this database's secrets are sealed under (m"
        ),
        "{}",
        refusal.stderr
    );
    assert!(!refusal.stderr.contains(other) && !refusal.stderr.contains(key.trim()));
    assert_eq!(
        std::fs::read(dir.join("herald.db")).unwrap_or_default(),
        before
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap_or_default(), key);
    // A key file that is not a key: the same.
    std::fs::write(&key_file, "not a key\n").unwrap_or_else(|e| panic!("{e}"));
    let refusal = match Local::try_start(&dir, &[]) {
        Ok(_) => panic!("started with a broken key file"),
        Err(refusal) => refusal.stderr,
    };
    assert!(
        refusal.contains("master.key: must hold the base64 of 32 bytes"),
        "{refusal}"
    );

    // The right key by the variable (the file aside): the secret opens.
    std::fs::remove_file(&key_file).unwrap_or_else(|e| panic!("{e}"));
    let again = Local::start(&dir, &[("HERALD_MASTER_KEY", key.trim())]);
    let (_, listed) = again
        .admin(Method::GET, &again.path("/notifications"), None)
        .await;
    assert_eq!(
        listed["data"]["items"][0]["config"]["webhook"]["token"],
        token.as_str()
    );
    assert!(
        !key_file.exists(),
        "a key given by the variable is not written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stored_in_plain_text_before_are_sealed_when_the_server_starts() {
    use shared::model::{
        EventSet, EventType, Notification, NotificationId, OrgId, Sealed, Target, WebhookTarget,
    };
    let dir = temp_path("plain");
    // A first start makes the database and its organization; the key check is then removed and
    // a notification written with its secret in plain text, as a build before sealing did.
    let mut first = Local::start(&dir, &[]);
    let org = first.org().to_owned();
    first.signal("TERM");
    assert!(first.wait(std::time::Duration::from_secs(12)).is_some());
    std::fs::remove_file(dir.join("master.key")).unwrap_or_else(|e| panic!("{e}"));
    let plain = "whsec_PlainTextFromBeforeSealing0000000000000=";
    {
        let now = shared::model::Clock::now(&shared::model::SystemClock);
        let n = Notification {
            id: NotificationId::generate(),
            organization: OrgId::parse(&org).unwrap_or_else(|e| panic!("{e}")),
            description: None,
            target: Target::Webhook(WebhookTarget {
                url: "http://127.0.0.1:9/old".into(),
                secret: Sealed::from_stored(plain),
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
        };
        let record = serde_json::to_string(&n).unwrap_or_else(|e| panic!("{e}"));
        let conn =
            rusqlite::Connection::open(dir.join("herald.db")).unwrap_or_else(|e| panic!("{e}"));
        conn.execute(
            "INSERT INTO notifications (org, id, record) VALUES (?1, ?2, ?3)",
            [org.as_str(), n.id.as_str(), record.as_str()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        conn.execute("DELETE FROM sealing_key", [])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let bytes = std::fs::read(dir.join("herald.db")).unwrap_or_default();
    assert_eq!(found(&bytes, &[plain.to_owned()]), [plain], "plain before");

    let mut local = Local::start(&dir, &[]);
    let (_, listed) = local
        .admin(Method::GET, &local.path("/notifications"), None)
        .await;
    assert_eq!(
        listed["data"]["items"][0]["config"]["webhook"]["token"],
        plain
    );
    local.signal("TERM");
    assert!(local.wait(std::time::Duration::from_secs(12)).is_some());
    let mut bytes = std::fs::read(dir.join("herald.db")).unwrap_or_default();
    bytes.extend(std::fs::read(dir.join("herald.db-wal")).unwrap_or_default());
    assert_eq!(
        found(&bytes, &[plain.to_owned()]),
        Vec::<&str>::new(),
        "sealed on start"
    );
}
