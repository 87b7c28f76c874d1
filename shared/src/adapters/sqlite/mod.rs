//! The embedded backend: one SQLite database file in WAL mode holding the store **and** both
//! queues (`queue::sqlite`), so that an accepted event, its idempotency key and its fan-out
//! message commit in one transaction, and a `kill -9` loses nothing that was answered 2xx.
//!
//! How it is used:
//! - **One writer thread** owns the only connection that writes. Every write is a job sent to
//!   it; the thread takes every job waiting, runs each in its own savepoint inside one
//!   transaction, commits once, and only then answers each job (group commit). A job that fails
//!   rolls back its own savepoint and nothing else; a commit that fails (a full disk) answers
//!   every job of the group with `Unavailable`, and nothing of the group is kept. Writes are
//!   serialized, so a job may read, decide and write: that is atomic here, as a conditional write
//!   is in DynamoDB.
//! - **Reads** run on the calling task with a pooled connection of their own: WAL readers never
//!   wait for the writer, and a read after an answered write sees it.
//! - `synchronous = FULL`: a commit is on disk (the WAL fsynced) before any job of its group is
//!   answered, so a 2xx survives a power cut as well as a `kill -9`. Group commit makes that one
//!   fsync per group, not per request.
//!
//! The schema and its version are in [`schema`]; one file per resource, as in `dynamodb/`.

mod cache;
mod deliveries;
pub mod delivery_queue;
mod delivery_row;
mod events;
pub mod intake;
mod notifications;
mod operational;
mod organizations;
mod preferences;
pub mod queue;
mod recipients;
mod redelivery;
mod request_keys;
mod retention;
pub mod schema;
pub mod sealing;
mod settings;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::model::{Event, Notification, Settings, TokenRecord};
use crate::model::{OrgId, TokenId, timestamp};
use crate::ports::store::{Page, PageRequest, StoreError, StoreResult};
use cache::Cache;
pub use retention::Pruned;
pub use schema::OpenError;

/// Jobs committed together at most (a group's size also bounds how long its first job waits).
const GROUP_MAX: usize = 512;
/// Read connections kept for reuse; more are opened when more reads run at once.
const READERS_KEPT: usize = 16;
/// How long a connection waits for a lock another process holds (a backup, the sqlite3 shell).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of the database file each connection maps into memory: reads of pages that are in the
/// file (not in the WAL) then copy nothing.
pub(crate) const MMAP_SIZE: u64 = 1 << 30;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// The embedded database: cheap to clone, one writer thread, pooled readers.
#[derive(Clone)]
pub struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    tokens: Cache<(OrgId, TokenId), TokenRecord>,
    /// Each organization's notifications, all of them, in id order.
    notifications: Cache<OrgId, Vec<Notification>>,
    settings: Cache<OrgId, Settings>,
    events: Cache<(OrgId, Uuid), Event>,
    /// Each organization's events of the current second (`LimitCounters`): in memory, this
    /// process being the database's only writer (the data directory's lock).
    event_rates: Mutex<HashMap<OrgId, (i64, u32)>>,
}

/// Records of each kind kept in memory at most (`cache`).
const CACHED: usize = 10_000;

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Sqlite {
    /// Opens (creating it if missing) the Herald database at `path`: refuses a file that is not
    /// a Herald database or comes from a newer version, without changing it; brings an older
    /// schema up to date; starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        create_private(path)?;
        let conn = schema::open_and_migrate(path)?;
        let (writer, jobs) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("herald-sqlite-writer".into())
            .spawn(move || write_loop(conn, jobs))
            .map_err(|error| OpenError::Io {
                path: path.to_path_buf(),
                error,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                tokens: Cache::new(CACHED),
                notifications: Cache::new(CACHED),
                settings: Cache::new(CACHED),
                events: Cache::new(CACHED),
                event_rates: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the writer thread, inside the current group's transaction, and answers once
    /// the group is committed. `Err` from `f` undoes what `f` wrote, and only that: `f` may run
    /// twice (see [`write_loop`]), so it must decide from what it reads, not from outside state.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Write(Box::new(Write {
            f,
            out: None,
            reply,
        })))?;
        answer.await.map_err(|_| stopped())?
    }

    fn send(&self, job: Job) -> StoreResult<()> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| stopped())
    }

    /// Runs `f` with a read connection of the pool (on the calling thread: a point read takes
    /// microseconds, and WAL readers never wait for the writer).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.inner.path)?,
        };
        let out = f(&conn);
        let mut readers = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() < READERS_KEPT {
            readers.push(conn);
        }
        out
    }

    /// Moves the whole WAL into the database file and truncates it (on a clean shutdown, so the
    /// directory holds one self-contained file).
    pub async fn checkpoint(&self) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Checkpoint(reply))?;
        answer.await.map_err(|_| stopped())?
    }

    /// After a restart of the one process that uses this database (the local server holds the
    /// data directory's lock): the messages the dead process had received come back at once, and
    /// the leases it held on deliveries end, so nothing waits for a timeout of a process that is
    /// gone. Returns (messages made visible, leases ended).
    pub async fn recover_after_restart(&self) -> StoreResult<(usize, usize)> {
        let now = OffsetDateTime::now_utc();
        self.write(move |conn| {
            let messages = conn
                .prepare_cached(
                    "UPDATE queue_messages SET visible_at = ?1, in_flight = 0 WHERE in_flight = 1",
                )
                .and_then(|mut s| s.execute([millis(now)]))
                .map_err(error)?;
            let taken = delivery_queue::release_taken(conn, millis(now))?;
            let leases = conn
                .prepare_cached(
                    "UPDATE deliveries SET lease_until = ?1 WHERE status = 'sending' AND lease_until > ?1",
                )
                .and_then(|mut s| s.execute([timestamp::format(now - time::Duration::SECOND)]))
                .map_err(error)?;
            Ok((messages + taken, leases))
        })
        .await
    }
}

/// Creates the database file owner-only if it is missing (SQLite gives its `-wal` and `-shm`
/// files the same mode): it holds webhook secrets and Slack tokens.
fn create_private(path: &Path) -> Result<(), OpenError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(OpenError::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// What every connection, the writer's and the readers', is set up with: the lock wait, the
/// statement cache, and plans that never depend on the values bound to them (SQLite's query
/// planner stability guarantee). Without it SQLite compiles a statement again at every run when
/// its plan looked at a bound value: any `WHERE org = ?1 … ORDER BY …`, that is nearly every
/// query here (listing an organization's notifications, for one, on every event emitted), and
/// the cache then saves nothing. No partial index is chosen through a bound value: their
/// queries name the status they read (`status = 'held'`).
pub(super) fn settle_in(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the database writer has stopped".into())
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(error)?;
    settle_in(&conn).map_err(error)?;
    conn.execute_batch("PRAGMA query_only = 1;")
        .map_err(error)?;
    Ok(conn)
}

/// What the writer thread does: a write (grouped with others in one transaction), or a
/// checkpoint (between groups).
enum Job {
    Write(Box<dyn Work>),
    Checkpoint(oneshot::Sender<StoreResult<()>>),
}

/// A write as the writer thread sees it.
trait Work: Send {
    /// Runs inside the group's transaction (again, if the group is run a second time); `true`
    /// if it succeeded and its writes are to be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller, once the group's commit is known.
    fn answer(self: Box<Self>, commit: &StoreResult<()>);
}

struct Write<T, F> {
    f: F,
    out: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Work for Write<T, F>
where
    T: Send,
    F: Fn(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let f = &self.f;
        let out = catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|_| {
            Err(StoreError::Corrupt(
                "a database write panicked; it was undone".into(),
            ))
        });
        let keep = out.is_ok();
        self.out = Some(out);
        keep
    }

    fn answer(self: Box<Self>, commit: &StoreResult<()>) {
        let out = match (commit, self.out) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(out)) => out,
            (Err(e), _) => Err(e.clone()),
            (Ok(()), None) => Err(StoreError::Unavailable("the write did not run".into())),
        };
        // The caller may have gone (its request was cancelled): nothing to tell then.
        let _ = self.reply.send(out);
    }
}

/// The writer thread: takes every job waiting, commits them as one group, answers each.
fn write_loop(conn: Connection, jobs: Receiver<Job>) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return, // every handle is gone
            },
        };
        let mut group = match first {
            Job::Write(work) => vec![work],
            Job::Checkpoint(reply) => {
                let done = conn
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                    .map_err(error);
                let _ = reply.send(done);
                continue;
            }
        };
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(Job::Write(work)) => group.push(work),
                Ok(checkpoint @ Job::Checkpoint(_)) => {
                    next = Some(checkpoint);
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let commit = run_group(&conn, &mut group);
        if let Err(e) = &commit {
            tracing::warn!(error = %e, jobs = group.len(), "a database commit failed; its writes were undone and answered 503");
        }
        for job in group {
            job.answer(&commit);
        }
    }
}

/// Runs a group in one transaction. First without savepoints, as every job of a busy server
/// usually succeeds; if one fails, that transaction is rolled back and the group run again with
/// a savepoint per job, so that the failed job undoes only itself. (A savepoint copies every page
/// a job touches first: a tenth of the writer's time, spent for the rare failure.)
fn run_group(conn: &Connection, group: &mut [Box<dyn Work>]) -> StoreResult<()> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(error)?;
    let mut all_ok = true;
    for job in group.iter_mut() {
        if !job.run(conn) {
            all_ok = false;
            break;
        }
    }
    if all_ok && !conn.is_autocommit() {
        return commit(conn);
    }
    rollback(conn);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(error)?;
    for job in group.iter_mut() {
        let step = conn.execute_batch("SAVEPOINT job").map_err(error);
        let step = step.and_then(|()| {
            let sql = if job.run(conn) {
                "RELEASE job"
            } else {
                "ROLLBACK TO job; RELEASE job"
            };
            // SQLite rolls a whole transaction back by itself on some errors (a full disk, an
            // I/O error): then nothing of the group is kept, and no later job may run outside a
            // transaction.
            if conn.is_autocommit() {
                return Err(StoreError::Unavailable(
                    "the database rolled the transaction back".into(),
                ));
            }
            conn.execute_batch(sql).map_err(error)
        });
        if let Err(e) = step {
            rollback(conn);
            return Err(e);
        }
    }
    commit(conn)
}

fn commit(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch("COMMIT").map_err(|e| {
        rollback(conn);
        error(e)
    })
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// One record by key, parsed.
pub(crate) fn one<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: impl rusqlite::Params,
) -> StoreResult<Option<T>> {
    let text: Option<String> = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row(key, |r| r.get(0)).optional())
        .map_err(error)?;
    text.as_deref().map(parse).transpose()
}

/// Records whose key is one of `keys` (`sql` ends in `IN (` and takes `first` before them).
pub(crate) fn many<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    first: &[&str],
    keys: &[String],
) -> StoreResult<Vec<T>> {
    let mut out = Vec::with_capacity(keys.len());
    // SQLite takes at most 32,766 parameters; callers ask for at most a thousand.
    for chunk in keys.chunks(500) {
        let text = format!("{sql}{})", placeholders(chunk.len()));
        let mut stmt = conn.prepare_cached(&text).map_err(error)?;
        let values: Vec<&str> = first
            .iter()
            .copied()
            .chain(chunk.iter().map(String::as_str))
            .collect();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                r.get::<_, String>(0)
            })
            .map_err(error)?;
        for row in rows {
            out.push(parse(&row.map_err(error)?)?);
        }
    }
    Ok(out)
}

/// Up to `page.limit` records in key order after `page.after`: `sql` selects `(key, record)`
/// with `?1` the scope and `?2` the key to start after (`''` from the start), and ends with
/// `ORDER BY <key> LIMIT ?3`.
pub(crate) fn page<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    scope: &[&str],
    page: &PageRequest,
) -> StoreResult<Page<T>> {
    let after = page.after.clone().unwrap_or_default();
    let limit = i64::try_from(page.limit + 1).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(sql).map_err(error)?;
    let mut values: Vec<rusqlite::types::Value> = scope
        .iter()
        .map(|s| rusqlite::types::Value::Text((*s).to_owned()))
        .collect();
    values.push(rusqlite::types::Value::Text(after));
    values.push(rusqlite::types::Value::Integer(limit));
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(error)?;
    let mut items = Vec::new();
    for row in rows {
        let (key, record) = row.map_err(error)?;
        items.push((key, parse::<T>(&record)?));
    }
    let page = Page::from_overfetch(items, page.limit, |(k, _)| k.clone());
    Ok(Page {
        items: page.items.into_iter().map(|(_, v)| v).collect(),
        next: page.next,
    })
}

/// A database error as the store reports it: a full disk or any other failure of the database
/// is `Unavailable` (503, nothing written); an unreadable value is `Corrupt`.
pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull => {
            StoreError::Unavailable("the disk is full".into())
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(format!("database: {e}")),
    }
}

/// A record as stored: its JSON.
pub(crate) fn json<T: Serialize>(record: &T) -> StoreResult<String> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A record from its stored JSON.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Milliseconds since the Unix epoch: the queue's clock (it must survive a restart).
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `?, ?, …` for `n` parameters (`IN (…)` lists).
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, StatementStatus, params};

    /// A query whose plan looked at its bound organization (an equality and an ORDER BY) runs
    /// again from the statement cache as compiled, on every connection set up as Herald's are.
    #[test]
    fn a_cached_statement_is_not_compiled_again_for_new_values() -> rusqlite::Result<()> {
        const SQL: &str = "SELECT id FROM t WHERE org = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
        let runs = |conn: &Connection| -> rusqlite::Result<i32> {
            conn.execute_batch(
                "CREATE TABLE t (org TEXT, id TEXT, PRIMARY KEY (org, id)) WITHOUT ROWID;
                 INSERT INTO t VALUES ('a', '1'), ('a', '2'), ('b', '1');",
            )?;
            for (org, expected) in [("a", 2), ("b", 1), ("a", 2)] {
                let mut stmt = conn.prepare_cached(SQL)?;
                let found = stmt.query_map(params![org, "", 10], |r| r.get::<_, String>(0))?;
                assert_eq!(found.count(), expected);
            }
            Ok(conn
                .prepare_cached(SQL)?
                .get_status(StatementStatus::RePrepare))
        };
        let plain = Connection::open_in_memory()?;
        assert_eq!(
            runs(&plain)?,
            3,
            "SQLite's default: compiled again at every run"
        );
        let settled = Connection::open_in_memory()?;
        super::settle_in(&settled)?;
        assert_eq!(runs(&settled)?, 0);
        Ok(())
    }
}
