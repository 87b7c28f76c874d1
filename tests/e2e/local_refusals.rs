//! Bad ground under `herald-local`, each with a real process: a data directory that is a file,
//! one it cannot write in (a read-only tmpfs), a random file as `herald.db`, a database of a
//! newer schema or of another application, a second server on the same directory, and a disk
//! that fills up while it runs (a size-limited tmpfs). Each ends in one clear message (start-up)
//! or a 503 (run time), never a panic, and the data already there intact.

use std::path::Path;
use std::time::Duration;

use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, Tmpfs, temp_path};
use reqwest::Method;
use serde_json::json;

/// Starts on `dir`, expecting a refusal: exit status 1, and stderr naming the problem in one
/// `herald-local: …` line that contains `expected`.
fn refused(dir: &Path, expected: &str) -> String {
    refused_in(None, dir, &[], expected)
}

fn refused_in(tmpfs: Option<&Tmpfs>, dir: &Path, env: &[(&str, &str)], expected: &str) -> String {
    let refusal = match Local::try_start_in(tmpfs, dir, env) {
        Ok(local) => panic!("started on a bad directory: {:?}", local.lines),
        Err(refusal) => refusal,
    };
    assert_eq!(
        refusal.status.and_then(|s| s.code()),
        Some(1),
        "{}",
        refusal.stderr
    );
    let line = refusal
        .stderr
        .lines()
        .find(|l| l.starts_with("herald-local: "))
        .unwrap_or_else(|| panic!("no message: {}", refusal.stderr))
        .to_owned();
    assert!(line.contains(expected), "{line}");
    assert!(!refusal.stderr.contains("panicked"), "{}", refusal.stderr);
    line
}

#[test]
fn an_invalid_retry_schedule_stops_start_up_naming_the_variable() {
    let dir = temp_path("data");
    let line = refused_in(
        None,
        &dir,
        &[("HERALD_RETRY_SCHEDULE", "5s,soon,1h")],
        "HERALD_RETRY_SCHEDULE: step 2 (\"soon\"): must be a whole number with a unit: ms, s, m, h or d",
    );
    assert!(line.starts_with("herald-local: configuration: "), "{line}");
}

#[test]
fn an_operator_token_under_32_characters_stops_start_up_naming_it() {
    let dir = temp_path("data");
    let line = refused_in(
        None,
        &dir,
        &[("HERALD_OPERATOR_TOKEN", "operator")],
        "HERALD_OPERATOR_TOKEN: must be at least 32 characters (it has 8): a short one can be guessed",
    );
    assert!(line.starts_with("herald-local: configuration: "), "{line}");
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_data_directory_that_is_a_file_is_refused() {
    let path = temp_path("file");
    std::fs::write(&path, b"not a directory").unwrap_or_else(|e| panic!("{e}"));
    let line = refused(&path, "is a file, not a directory");
    assert!(line.contains(&format!("HERALD_DATA_DIR {}", path.display())));
    assert_eq!(bytes(&path), b"not a directory");
}

#[test]
fn a_directory_it_cannot_write_in_is_refused() {
    // A read-only filesystem: unwritable even for root, as CI runs.
    let tmpfs = Tmpfs::mount("ro,size=1m");
    refused_in(
        Some(&tmpfs),
        tmpfs.inside(),
        &[],
        "cannot write in it (Read-only file system",
    );
}

#[test]
fn a_random_file_as_its_database_is_refused_and_left_as_it_was() {
    let dir = temp_path("data");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut random = vec![0u8; 1 << 20];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap_or_else(|e| panic!("{e}")),
        &mut random,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let db = dir.join("herald.db");
    std::fs::write(&db, &random).unwrap_or_else(|e| panic!("{e}"));
    refused(&dir, "herald.db: not a SQLite database");
    assert_eq!(bytes(&db), random, "the file is untouched");
    assert!(!dir.join("herald.db-wal").exists());
}

/// A database made by this build, then changed by `change` (run with rusqlite, the same SQLite).
fn database_then(change: &str) -> std::path::PathBuf {
    let dir = temp_path("data");
    let mut local = Local::start(&dir, &[]);
    local.signal("TERM");
    assert!(local.wait(Duration::from_secs(12)).is_some());
    let conn = rusqlite::Connection::open(dir.join("herald.db")).unwrap_or_else(|e| panic!("{e}"));
    conn.execute_batch(change)
        .unwrap_or_else(|e| panic!("{change}: {e}"));
    drop(conn);
    dir
}

#[test]
fn a_database_of_a_newer_schema_is_refused_and_left_as_it_was() {
    let newer = shared::adapters::sqlite::schema::VERSION + 1;
    let dir = database_then(&format!("PRAGMA user_version = {newer};"));
    let before = bytes(&dir.join("herald.db"));
    refused(
        &dir,
        &format!(
            "herald.db: written by a newer Herald (schema version {newer}; this build knows versions up to {})",
            shared::adapters::sqlite::schema::VERSION
        ),
    );
    assert_eq!(bytes(&dir.join("herald.db")), before);
}

#[test]
fn a_database_of_schema_version_1_is_brought_up_to_date_on_start() {
    // Version 1's layout, holding a failed webhook delivery of that time.
    let dir = database_then(
        "DROP TABLE sealing_key; DROP TABLE daily_counts; DROP TABLE send_slots; DROP TABLE operational_webhooks;
         DROP INDEX deliveries_by_id; DROP INDEX deliveries_failed; DROP INDEX deliveries_visible;
         ALTER TABLE deliveries DROP COLUMN visible_at;
         ALTER TABLE deliveries DROP COLUMN receives;
         ALTER TABLE deliveries DROP COLUMN slot;
         ALTER TABLE deliveries DROP COLUMN notification;
         ALTER TABLE deliveries DROP COLUMN round;
         ALTER TABLE deliveries DROP COLUMN history;
         INSERT INTO deliveries
            (org, list_key, event, status, attempts, last_error, reason, lease_until, updated_at,
             record)
         VALUES ('o', '2026-11-20T00:00:00.000Z#x', NULL, 'failed', 5, 'answered 503', NULL, NULL,
            '2026-11-20T00:00:00.000Z',
            '{\"channel\": {\"method\": \"webhook\", \"notification\": \"n1\"}}');
         PRAGMA user_version = 1;",
    );
    let mut local = Local::start(&dir, &[]);
    local.signal("TERM");
    assert!(local.wait(Duration::from_secs(12)).is_some());
    let conn = rusqlite::Connection::open(dir.join("herald.db")).unwrap_or_else(|e| panic!("{e}"));
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(version, shared::adapters::sqlite::schema::VERSION);
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT record FROM deliveries \
             WHERE org = 'o' AND substr(list_key, instr(list_key, '#') + 1) = 'x'",
            [],
            |r| r.get(3),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.contains("deliveries_by_id"), "{plan}");
    // Version 3: the delivery's notification read from its record, its round 0, no history;
    // recover's partial index serves its query.
    let migrated: (Option<String>, i64, Option<String>) = conn
        .query_row(
            "SELECT notification, round, history FROM deliveries WHERE org = 'o'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(migrated, (Some("n1".to_owned()), 0, None));
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT record FROM deliveries INDEXED BY deliveries_failed \
             WHERE org = 'o' AND notification = 'n1' AND status = 'failed' ORDER BY list_key",
            [],
            |r| r.get(3),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.contains("deliveries_failed"), "{plan}");
}

/// Version 5's delivery queue was messages beside the rows: version 6 makes each message its
/// delivery's row entry. A message of a delivery not yet recorded (the message was its record)
/// becomes its row, queued; a message of a recorded delivery (a held one, released) makes that
/// row's entry; each keeps its visibility, its receives and its slot.
#[test]
fn a_database_of_schema_version_5_keeps_its_queued_deliveries_as_their_rows() {
    let org = shared::model::OrgId::generate();
    let to = shared::model::Email::parse("ann@example.com").unwrap_or_else(|e| panic!("{e}"));
    let new = herald_tests::queued_delivery(&org, uuid::Uuid::now_v7(), to.clone());
    let held = shared::model::Delivery {
        status: shared::model::DeliveryStatus::Held,
        attempts: 1,
        ..herald_tests::queued_delivery(&org, uuid::Uuid::now_v7(), to)
    };
    let slot = shared::model::timestamp::parse("2100-01-01T00:00:05.000Z")
        .unwrap_or_else(|e| panic!("{e}"));
    let message = |d: &shared::model::Delivery, slot| {
        serde_json::to_string(&shared::ports::queue::DeliveryMessage {
            delivery: d.clone(),
            slot,
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .replace('\'', "''")
    };
    let record = serde_json::to_string(&held).unwrap_or_else(|e| panic!("{e}"));
    // Visible in 2100: the server that migrates them does not take them meanwhile.
    let dir = database_then(&format!(
        "DROP TABLE sealing_key; DROP TABLE daily_counts;
         DROP INDEX deliveries_visible;
         ALTER TABLE deliveries DROP COLUMN visible_at;
         ALTER TABLE deliveries DROP COLUMN receives;
         ALTER TABLE deliveries DROP COLUMN slot;
         INSERT INTO deliveries (org, list_key, status, attempts, updated_at, record, round)
            VALUES ('{org}', '{held_key}', 'held', 1, '2026-11-20T00:00:00.000Z', '{record}', 0);
         INSERT INTO queue_messages (queue, visible_at, receives, in_flight, body) VALUES
            ('deliveries', 4102444800000, 2, 0, '{new_message}'),
            ('deliveries', 4102444800001, 0, 0, '{held_message}');
         PRAGMA user_version = 5;",
        held_key = held.list_key(),
        record = record.replace('\'', "''"),
        new_message = message(&new, Some(slot)),
        held_message = message(&held, None),
    ));
    let mut local = Local::start(&dir, &[]);
    local.signal("TERM");
    assert!(local.wait(Duration::from_secs(12)).is_some());
    let conn = rusqlite::Connection::open(dir.join("herald.db")).unwrap_or_else(|e| panic!("{e}"));
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM queue_messages WHERE queue = 'deliveries'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(left, 0, "no delivery message is left beside the rows");
    let row = |key: &str| -> (String, i64, i64, Option<String>, String) {
        conn.query_row(
            "SELECT status, visible_at, receives, slot, record FROM deliveries WHERE list_key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    let (status, visible_at, receives, kept_slot, record) = row(&new.list_key());
    assert_eq!(
        (status.as_str(), visible_at, receives, kept_slot.as_deref()),
        (
            "queued",
            4_102_444_800_000,
            2,
            Some("2100-01-01T00:00:05.000Z")
        )
    );
    let recorded: shared::model::Delivery =
        serde_json::from_str(&record).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        serde_json::to_value(&recorded).ok(),
        serde_json::to_value(&new).ok(),
        "recorded as its message carried it"
    );
    let (status, visible_at, receives, kept_slot, _) = row(&held.list_key());
    assert_eq!(
        (status.as_str(), visible_at, receives, kept_slot),
        ("held", 4_102_444_800_001, 0, None)
    );
}

#[test]
fn a_database_of_another_application_is_refused() {
    let dir = temp_path("data");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let conn = rusqlite::Connection::open(dir.join("herald.db")).unwrap_or_else(|e| panic!("{e}"));
    conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap_or_else(|e| panic!("{e}"));
    drop(conn);
    let before = bytes(&dir.join("herald.db"));
    refused(&dir, "herald.db: a SQLite database of another application");
    assert_eq!(bytes(&dir.join("herald.db")), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_directory_is_refused_and_the_first_keeps_serving() {
    let dir = temp_path("data");
    let first = Local::start(&dir, &[]);
    refused(
        &dir,
        &format!("another herald-local (pid {}) is using it", first.pid()),
    );
    let (status, _) = first
        .admin(Method::GET, &first.path("/notifications"), None)
        .await;
    assert_eq!(status, 200);
}

/// Fills the filesystem of `dir` with a file of its own; returns that file.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap_or_else(|e| panic!("{e}"));
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // The last bytes that fit.
    while file.write_all(&[0]).is_ok() {}
    filler
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_writes_nothing_and_keeps_what_is_there() {
    let tmpfs = Tmpfs::mount("size=8m");
    let dir = tmpfs.inside().join("data");
    let receiver = Receiver::start(&[]).await;
    let mut local = Local::start_in(Some(&tmpfs), &dir, &[]);
    let (status, created) = local
        .admin(
            Method::POST,
            &local.path("/notifications"),
            Some(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": receiver.url}}})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let event = json!({"type": "buildCreated", "data": {"appName": "Disk"}});
    let (status, _) = local
        .admin(Method::POST, &local.path("/events"), Some(event.clone()))
        .await;
    assert_eq!(status, 202);
    let mut accepted = 1;

    let filler = fill(&tmpfs.root());
    // Writes now fail: each answers 503 with the envelope, and nothing of it is kept.
    let mut refused = 0;
    for _ in 0..20 {
        let (status, body) = local
            .admin(Method::POST, &local.path("/events"), Some(event.clone()))
            .await;
        match status {
            202 => accepted += 1,
            503 => {
                assert_eq!(body["error"]["code"], 5003, "{body}");
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(refused > 0, "the full disk refused writes");
    let (status, body) = local
        .admin(
            Method::POST,
            &local.path("/notifications"),
            Some(json!({"type": "email", "events": {"buildCreated": true}})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!(5003)),
        "{body}"
    );
    // Reads go on.
    let (status, listed) = local
        .admin(Method::GET, &local.path("/notifications"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"]["items"].as_array().map(Vec::len), Some(1));

    // Space again: it takes writes at once, without a restart.
    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    let (status, _) = local
        .admin(Method::POST, &local.path("/events"), Some(event.clone()))
        .await;
    assert_eq!(status, 202);
    accepted += 1;
    local.signal("TERM");
    assert!(
        local
            .wait(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "{}",
        local.stderr()
    );
    assert!(!local.stderr().contains("panicked"), "{}", local.stderr());

    // Restarted on the same disk: what was there is intact, what was refused is not.
    let again = Local::start_in(Some(&tmpfs), &dir, &[]);
    let (_, listed) = again
        .admin(Method::GET, &again.path("/notifications"), None)
        .await;
    assert_eq!(listed["data"]["items"].as_array().map(Vec::len), Some(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.received() < accepted && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, log) = again
        .admin(Method::GET, &again.path("/deliveries?limit=100"), None)
        .await;
    assert_eq!(
        log["data"]["items"].as_array().map(Vec::len),
        Some(accepted),
        "one delivery per accepted event, none for a refused one: {}",
        again.stderr()
    );
    // Each accepted event's delivery arrived. One sent just as the disk filled may have had its
    // settlement refused: it is sent again after the restart, with the same `webhook-id`.
    let mut ids: Vec<String> = receiver
        .hits()
        .iter()
        .map(|h| h.header("webhook-id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), accepted, "{ids:?}");
}

#[test]
fn a_port_in_use_is_refused_naming_the_port_and_herald_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = taken
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port()
        .to_string();
    let line = refused_in(
        None,
        &temp_path("data"),
        &[("HERALD_PORT", &port)],
        "is already in use",
    );
    assert_eq!(
        line,
        format!(
            "herald-local: port {port} on 127.0.0.1 is already in use (another server?); choose another with HERALD_PORT"
        )
    );
}
