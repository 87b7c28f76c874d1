//! The database's layout on one page, its version, and opening it without ever harming a file
//! that is not ours.
//!
//! The file carries `PRAGMA application_id` = [`APPLICATION_ID`] ("HRLD") and `PRAGMA
//! user_version` = its schema version. Opening refuses, before writing anything: a file that is
//! not a SQLite database, a SQLite database of another application, and a database of a newer
//! schema version than this build knows. An older version is brought up to date, one migration
//! per transaction.
//!
//! | table | key | what |
//! |---|---|---|
//! | `organizations` | `id` | the organization (JSON), its notification count (the limit of 100), and its settings as columns, each `NULL` until set (the settings API), and `notifier_paused` (the admin API) |
//! | `users` | `org, id` | a user (JSON); `UNIQUE (org, username)` (lowercased) and `UNIQUE (org, email)` |
//! | `tokens` | `org, id` | a token (its hash, never the secret) |
//! | `notifications` | `org, id` | a notification (JSON) |
//! | `recipients` | `org, notification, id` | a recipient (JSON) |
//! | `preferences` | `org, user, template` | a user's preference for one template |
//! | `sms_counters` | `day, org, user` | SMS sent to a user on a UTC day |
//! | `sms_usage` | `org, day` | a closed day's usage summary (JSON) |
//! | `events` | `org, id` | an event (JSON); indexed by `created_at` for retention |
//! | `idempotency_keys` | `org, key` | the event a key names, until `expires_at` |
//! | `deliveries` | `org, list_key` | a delivery as born (JSON) and its state as columns; `list_key` (`<created at>#<id>`) is the log's order; its `notification`, `round` and attempts' `history` (JSON) as columns too; partial indexes hold only the `held` ones (the resume job's input) and the `failed` ones by notification (recover's). The row is its own delivery-queue entry: visible from `visible_at` (ms since the epoch, `NULL` off the queue; a partial index holds the queued ones), received `receives` times, holding its send `slot` |
//! | `queue_messages` | `id` | a message of the queue `queue` (`fanout`), hidden until `visible_at` (ms since the epoch), received `receives` times, `in_flight` while a receiver holds it |
//! | `dead_letters` | `id` | a message received `maxReceiveCount` times without being acknowledged |
//! | `operational_webhooks` | `org` | the organization's operational webhook (JSON) |
//! | `send_slots` | `org, notification` | a rate-limited target's next free send slot (µs since the epoch) |
//! | `sealing_key` | one row | the id of the key the secrets are sealed under, and a check value sealed under it |
//! | `daily_counts` | `org, channel, day` | emails or SMS an organization sent on a UTC day (its daily limits); pruned four days on |
//!
//! Times are RFC 3339 strings with milliseconds (`2019-01-28T16:57:42.293Z`), which sort as the
//! times they name; the queue's are integers of milliseconds.
//!
//! The tables of many rows with large records (recipients, events, deliveries, the queue) keep
//! their rows by rowid, their keys in a `UNIQUE` index: a new row is appended, where a table
//! keyed by its record's key (`WITHOUT ROWID`) would rebalance pages of whole records. Small
//! rows (preferences, counters, keys) are `WITHOUT ROWID`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::MMAP_SIZE;

/// `PRAGMA application_id` of a Herald database: "HRLD".
pub const APPLICATION_ID: i32 = 0x4852_4c44;

/// The schema version this build writes: the number of [`MIGRATIONS`].
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Migration `n` (from 0) brings version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The delivery row is its own queue entry: `visible_at` (ms since the epoch; `NULL` when it is
/// on no queue), its receives since it was last queued, and the send slot it holds (pacing). The
/// delivery queue's messages become their deliveries' entries (a delivery not yet recorded is
/// recorded from its message, as the sender's claim would have), and leave `queue_messages`.
/// The key the database's secrets are sealed under: its id and a known text sealed under it, so
/// that a start with another key stops before it reads or writes anything with it. Written by
/// the first start that has a key (`sealing.rs`, which then seals the secrets stored before).
/// With it, each organization's daily email and SMS counts (its `Limits`).
const V7: &str = "
CREATE TABLE sealing_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_id TEXT NOT NULL,
    check_value TEXT NOT NULL
) STRICT;

CREATE TABLE daily_counts (
    org TEXT NOT NULL,
    channel TEXT NOT NULL,
    day TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (org, channel, day)
) STRICT, WITHOUT ROWID;
";

const V6: &str = "
ALTER TABLE deliveries ADD COLUMN visible_at INTEGER;
ALTER TABLE deliveries ADD COLUMN receives INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN slot TEXT;
INSERT INTO deliveries
    (org, list_key, event, status, attempts, updated_at, record, notification, round, visible_at,
     receives, slot)
SELECT json_extract(body, '$.delivery.organization'),
    json_extract(body, '$.delivery.createdAt') || '#' || json_extract(body, '$.delivery.id'),
    json_extract(body, '$.delivery.event'),
    'queued', 0, json_extract(body, '$.delivery.updatedAt'), json_extract(body, '$.delivery'),
    coalesce(json_extract(body, '$.delivery.notification'),
        json_extract(body, '$.delivery.channel.notification')),
    coalesce(json_extract(body, '$.delivery.round'), 0),
    visible_at, receives, json_extract(body, '$.slot')
FROM queue_messages WHERE queue = 'deliveries'
ON CONFLICT (org, list_key) DO UPDATE SET
    visible_at = min(coalesce(visible_at, excluded.visible_at), excluded.visible_at),
    receives = excluded.receives, slot = coalesce(excluded.slot, slot);
DELETE FROM queue_messages WHERE queue = 'deliveries';
CREATE INDEX deliveries_visible ON deliveries (visible_at) WHERE visible_at IS NOT NULL;
";

/// An organization's operational webhook.
const V5: &str = "
CREATE TABLE operational_webhooks (
    org TEXT PRIMARY KEY,
    record TEXT NOT NULL
) WITHOUT ROWID;
";

/// A rate-limited target's next free send slot (microseconds since the epoch).
const V4: &str = "
CREATE TABLE send_slots (
    org TEXT NOT NULL,
    notification TEXT NOT NULL,
    next_slot INTEGER NOT NULL,
    PRIMARY KEY (org, notification)
) WITHOUT ROWID;
";

/// What resend and recover need: a delivery's notification, its round and its attempts'
/// history as columns, and a partial index of the `failed` ones by notification (recover's
/// input). The notification of a delivery recorded before is read from its record (Slack and
/// webhook deliveries name it; earlier email and SMS ones do not).
const V3: &str = "
ALTER TABLE deliveries ADD COLUMN notification TEXT;
ALTER TABLE deliveries ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN history TEXT;
UPDATE deliveries SET notification =
    coalesce(json_extract(record, '$.notification'), json_extract(record, '$.channel.notification'));
CREATE INDEX deliveries_failed ON deliveries (org, notification, list_key) WHERE status = 'failed';
";

/// A delivery found by its id alone (`GET .../deliveries/{deliveryId}`): the id is what follows
/// the `#` of its list key.
const V2: &str = "
CREATE INDEX deliveries_by_id ON deliveries (org, substr(list_key, instr(list_key, '#') + 1));
";

const V1: &str = "
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    record TEXT NOT NULL,
    notification_count INTEGER NOT NULL DEFAULT 0,
    sms_daily_quota INTEGER,
    delivery_mode TEXT,
    whitelist TEXT,
    default_language TEXT,
    settings_updated_at TEXT,
    notifier_paused INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (org, id),
    UNIQUE (org, username),
    UNIQUE (org, email)
) STRICT, WITHOUT ROWID;

CREATE TABLE tokens (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (org, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE notifications (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (org, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE recipients (
    org TEXT NOT NULL,
    notification TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (org, notification, id)
) STRICT;

CREATE TABLE preferences (
    org TEXT NOT NULL,
    user TEXT NOT NULL,
    template TEXT NOT NULL,
    disabled INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org, user, template)
) STRICT, WITHOUT ROWID;

CREATE TABLE sms_counters (
    day TEXT NOT NULL,
    org TEXT NOT NULL,
    user TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, org, user)
) STRICT, WITHOUT ROWID;

CREATE TABLE sms_usage (
    org TEXT NOT NULL,
    day TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (org, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (org, id)
) STRICT;
CREATE INDEX events_by_time ON events (created_at);

CREATE TABLE idempotency_keys (
    org TEXT NOT NULL,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (org, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE deliveries (
    org TEXT NOT NULL,
    list_key TEXT NOT NULL,
    event TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    reason TEXT,
    lease_until TEXT,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (org, list_key)
) STRICT;
CREATE INDEX deliveries_held ON deliveries (org, list_key) WHERE status = 'held';

CREATE TABLE queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receives INTEGER NOT NULL DEFAULT 0,
    in_flight INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX queue_visible ON queue_messages (queue, visible_at, id);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    died_at INTEGER NOT NULL,
    receives INTEGER NOT NULL,
    body TEXT NOT NULL
) STRICT;
";

/// Why the database could not be opened. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{}: not a SQLite database ({detail}). Herald left it as it is: move it away, or point HERALD_DATA_DIR at another directory",
        path.display()
    )]
    NotADatabase { path: PathBuf, detail: String },
    #[error(
        "{}: a SQLite database of another application (application_id {found:#010x}, not Herald's {APPLICATION_ID:#010x}). Herald left it as it is",
        path.display()
    )]
    NotHerald { path: PathBuf, found: i32 },
    #[error(
        "{}: written by a newer Herald (schema version {found}; this build knows versions up to {VERSION}). Herald left it as it is: run the newer version, or restore a backup taken with this one",
        path.display()
    )]
    Newer { path: PathBuf, found: i32 },
    #[error("{}: {detail}", path.display())]
    Database { path: PathBuf, detail: String },
}

/// Opens the writer's connection: checks what the file is (reading only), switches it to WAL,
/// and brings its schema to [`VERSION`].
pub(super) fn open_and_migrate(path: &Path) -> Result<Connection, OpenError> {
    let failed = |e: rusqlite::Error| classify(path, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    super::settle_in(&conn).map_err(failed)?;
    let application: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(failed)?;
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(failed)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(failed)?;
    let fresh = application == 0 && version == 0 && tables == 0;
    if !fresh && application != APPLICATION_ID {
        return Err(OpenError::NotHerald {
            path: path.to_path_buf(),
            found: application,
        });
    }
    if version > VERSION {
        return Err(OpenError::Newer {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(failed)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Database {
            path: path.to_path_buf(),
            detail: format!("cannot use write-ahead logging (journal mode stays {mode})"),
        });
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL;
         PRAGMA secure_delete = FAST;
         PRAGMA foreign_keys = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = {MMAP_SIZE};
         PRAGMA journal_size_limit = 67108864;"
    ))
    .map_err(failed)?;
    for (from, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let to = from + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             {migration}
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {to};
             COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            failed(e)
        })?;
    }
    Ok(conn)
}

fn classify(path: &Path, e: rusqlite::Error) -> OpenError {
    let path = path.to_path_buf();
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::NotADatabase => {
            OpenError::NotADatabase {
                path,
                detail: e.to_string(),
            }
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull => {
            OpenError::Database {
                path,
                detail: "the disk is full".into(),
            }
        }
        _ => OpenError::Database {
            path,
            detail: e.to_string(),
        },
    }
}
