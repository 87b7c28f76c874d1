//! The embedded database's secrets at rest: which master key seals them (`sealing_key`), checked
//! at every start before anything is read or written with the key, and the one-time sealing of
//! the secrets a database held in plain text before (notifications' signing secrets, Slack tokens
//! and incoming-webhook URLs, operational webhooks' secrets).

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::{Sqlite, error, json, parse};
use crate::adapters::keys::{Cipher, MasterKey, MasterKeyError};
use crate::model::{Notification, OperationalWebhook, Sealed, Target};
use crate::ports::keys::KeyError;
use crate::ports::store::{StoreError, StoreResult};

/// The text sealed as the check value: opens only under the database's key.
const CHECK: &str = "herald sealing key check";

/// Why a start cannot have the database's key. Never holds a key or a secret.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error(transparent)]
    Key(#[from] MasterKeyError),
    #[error(
        "the master key {given} does not open this database's secrets (its check value is sealed under {expected} and does not open): give the key it was created with (HERALD_MASTER_KEY or master.key); nothing was changed"
    )]
    CheckFails { given: String, expected: String },
    #[error("the database: {0}")]
    Store(#[from] StoreError),
}

/// Seals `sealed` in place when it is plain text; whether it was.
fn seal_if_plain(sealed: &mut Sealed, cipher: &Cipher) -> Result<bool, KeyError> {
    if sealed.is_sealed() {
        return Ok(false);
    }
    *sealed = cipher.seal(sealed.as_stored())?;
    Ok(true)
}

/// Seals a notification's plain secrets; whether it had any.
fn seal_notification(n: &mut Notification, cipher: &Cipher) -> Result<bool, KeyError> {
    let mut changed = false;
    match &mut n.target {
        Target::Webhook(w) => {
            changed |= seal_if_plain(&mut w.secret, cipher)?;
            if let Some(previous) = &mut w.previous {
                changed |= seal_if_plain(&mut previous.secret, cipher)?;
            }
        }
        Target::Slack(s) => {
            changed |= seal_if_plain(&mut s.webhook_url, cipher)?;
            changed |= seal_if_plain(&mut s.access_token, cipher)?;
        }
        Target::Email | Target::Sms => {}
    }
    Ok(changed)
}

fn key_error(e: KeyError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Sqlite {
    /// The key of this database: `variable` (`HERALD_MASTER_KEY`) or `dir/master.key`, which
    /// must be the one its secrets are sealed under (a start with another stops here, having
    /// changed nothing). The first start with a key records it (creating `master.key` when no
    /// variable gives one) and seals every secret the database held in plain text.
    pub async fn unlock(
        &self,
        variable: Option<&str>,
        dir: &Path,
    ) -> Result<MasterKey, UnlockError> {
        let recorded: Option<(String, String)> = self.read(|conn| {
            conn.prepare_cached("SELECT key_id, check_value FROM sealing_key WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(error)
        })?;
        let key = MasterKey::load(variable, dir, recorded.as_ref().map(|(id, _)| id.as_str()))?;
        let cipher = key.cipher().clone();
        match recorded {
            Some((expected, check)) => {
                if cipher.open(&Sealed::from_stored(check)).as_deref() != Ok(CHECK) {
                    return Err(UnlockError::CheckFails {
                        given: cipher.id().to_owned(),
                        expected,
                    });
                }
            }
            None => {
                let check = cipher.seal(CHECK).map_err(key_error)?;
                let id = cipher.id().to_owned();
                self.write(move |conn| {
                    conn.prepare_cached(
                        "INSERT OR IGNORE INTO sealing_key (id, key_id, check_value) VALUES (1, ?1, ?2)",
                    )
                    .and_then(|mut s| s.execute(params![id, check.as_stored()]))
                    .map_err(error)?;
                    Ok(())
                })
                .await?;
            }
        }
        let sealed = self.seal_plain_secrets(cipher).await?;
        if sealed > 0 {
            tracing::info!(records = sealed, "sealed the secrets stored in plain text");
        }
        Ok(key)
    }

    /// Seals, in one transaction, every secret stored in plain text; how many records changed.
    async fn seal_plain_secrets(&self, cipher: Cipher) -> StoreResult<usize> {
        let changed = self
            .write(move |conn| {
                let mut changed = 0;
                let rows: Vec<(String, String, String)> = {
                    let mut stmt = conn
                        .prepare_cached("SELECT org, id, record FROM notifications")
                        .map_err(error)?;
                    let rows = stmt
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(error)?;
                    rows.collect::<Result<_, _>>().map_err(error)?
                };
                for (org, id, record) in rows {
                    let mut n: Notification = parse(&record)?;
                    if seal_notification(&mut n, &cipher).map_err(key_error)? {
                        let record = json(&n)?;
                        conn.prepare_cached(
                            "UPDATE notifications SET record = ?3 WHERE org = ?1 AND id = ?2",
                        )
                        .and_then(|mut s| s.execute(params![org, id, record]))
                        .map_err(error)?;
                        changed += 1;
                    }
                }
                let hooks: Vec<(String, String)> = {
                    let mut stmt = conn
                        .prepare_cached("SELECT org, record FROM operational_webhooks")
                        .map_err(error)?;
                    let rows = stmt
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(error)?;
                    rows.collect::<Result<_, _>>().map_err(error)?
                };
                for (org, record) in hooks {
                    let mut hook: OperationalWebhook = parse(&record)?;
                    if seal_if_plain(&mut hook.secret, &cipher).map_err(key_error)? {
                        let record = json(&hook)?;
                        conn.prepare_cached(
                            "UPDATE operational_webhooks SET record = ?2 WHERE org = ?1",
                        )
                        .and_then(|mut s| s.execute(params![org, record]))
                        .map_err(error)?;
                        changed += 1;
                    }
                }
                Ok(changed)
            })
            .await?;
        if changed > 0 {
            self.inner.notifications.clear();
        }
        Ok(changed)
    }
}
