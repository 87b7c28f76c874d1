//! Organizations, users and tokens on SQLite: uniqueness checked and written in one job of the
//! writer (which no other write can interleave with).

use async_trait::async_trait;
use rusqlite::{Connection, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Sqlite, error, json, many, one, page, parse};
use crate::model::{Email, Limits, OrgId, Role, TokenId, Username, timestamp};
use crate::model::{Organization, TokenRecord, User};
use crate::ports::store::{
    OrganizationStore, Page, PageRequest, StoreError, StoreResult, TokenStore, Unique, UserStore,
};

/// Which of a user's unique fields are taken in its organization.
fn user_conflicts(conn: &Connection, user: &User) -> StoreResult<Vec<Unique>> {
    let taken = |sql: &str, value: &str| -> StoreResult<bool> {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.exists(params![user.organization.as_str(), value]))
            .map_err(error)
    };
    let mut out = Vec::new();
    if taken(
        "SELECT 1 FROM users WHERE org = ?1 AND username = ?2",
        &user.username.key(),
    )? {
        out.push(Unique::Username);
    }
    if taken(
        "SELECT 1 FROM users WHERE org = ?1 AND email = ?2",
        user.email.as_str(),
    )? {
        out.push(Unique::Email);
    }
    Ok(out)
}

fn insert_user(conn: &Connection, user: &User) -> StoreResult<()> {
    let record = json(user)?;
    conn.prepare_cached(
        "INSERT INTO users (org, id, username, email, record) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            user.organization.as_str(),
            user.id.to_string(),
            user.username.key(),
            user.email.as_str(),
            record,
        ])
    })
    .map_err(error)?;
    Ok(())
}

fn insert_token(conn: &Connection, token: &TokenRecord) -> StoreResult<()> {
    let record = json(token)?;
    conn.prepare_cached("INSERT INTO tokens (org, id, record) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| {
            s.execute(params![
                token.organization.as_str(),
                token.id.as_str(),
                record
            ])
        })
        .map_err(error)?;
    Ok(())
}

/// Whether `org` has an admin other than user `id`.
fn other_admin(conn: &Connection, org: &str, id: &str) -> StoreResult<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM users WHERE org = ?1 AND id != ?2 \
         AND EXISTS (SELECT 1 FROM json_each(record, '$.roles') WHERE value = 'admin')",
    )
    .and_then(|mut s| s.exists([org, id]))
    .map_err(error)
}

/// The ids of user `user`'s tokens.
fn token_ids_of(conn: &Connection, org: &str, user: &str) -> StoreResult<Vec<TokenId>> {
    Ok(tokens_of(conn, org, user)?
        .into_iter()
        .map(|t| t.id)
        .collect())
}

/// User `user`'s tokens.
fn tokens_of(conn: &Connection, org: &str, user: &str) -> StoreResult<Vec<TokenRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT record FROM tokens WHERE org = ?1 AND json_extract(record, '$.userId') = ?2",
        )
        .map_err(error)?;
    let rows = stmt
        .query_map([org, user], |r| r.get::<_, String>(0))
        .map_err(error)?;
    rows.map(|r| parse(&r.map_err(error)?)).collect()
}

/// The user `id` of `org` as stored, read in the writer's transaction.
fn user_in(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<User>> {
    one(
        conn,
        "SELECT record FROM users WHERE org = ?1 AND id = ?2",
        [org, id],
    )
}

pub(super) fn org_exists(conn: &Connection, org: &str) -> StoreResult<bool> {
    conn.prepare_cached("SELECT 1 FROM organizations WHERE id = ?1")
        .and_then(|mut s| s.exists([org]))
        .map_err(error)
}

#[async_trait]
impl OrganizationStore for Sqlite {
    async fn create_organization(
        &self,
        org: &Organization,
        admin: &User,
        token: &TokenRecord,
    ) -> StoreResult<()> {
        let (org, admin, token) = (org.clone(), admin.clone(), token.clone());
        let record = json(&org)?;
        self.write(move |conn| {
            if org_exists(conn, org.id.as_str())? {
                return Err(StoreError::Conflict(vec![Unique::OrganizationId]));
            }
            conn.prepare_cached("INSERT INTO organizations (id, kind, record) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![org.id.as_str(), org.kind.as_str(), record]))
                .map_err(error)?;
            insert_user(conn, &admin)?;
            insert_token(conn, &token)
        })
        .await
    }

    async fn set_limits(&self, id: &OrgId, limits: Limits) -> StoreResult<Organization> {
        let (id, limits) = (id.to_string(), json(&limits)?);
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE organizations SET record = json_set(record, '$.limits', json(?2)) WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, limits]))
                .map_err(error)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            one(conn, "SELECT record FROM organizations WHERE id = ?1", [&id])?
                .ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn get_organization(&self, id: &OrgId) -> StoreResult<Option<Organization>> {
        self.read(|conn| {
            one(
                conn,
                "SELECT record FROM organizations WHERE id = ?1",
                [id.as_str()],
            )
        })
    }
}

#[async_trait]
impl UserStore for Sqlite {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |conn| {
            if !org_exists(conn, user.organization.as_str())? {
                return Err(StoreError::NotFound);
            }
            let conflicts = user_conflicts(conn, &user)?;
            if !conflicts.is_empty() {
                return Err(StoreError::Conflict(conflicts));
            }
            insert_user(conn, &user)
        })
        .await
    }

    async fn get_user(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<User>> {
        self.read(|conn| {
            one(
                conn,
                "SELECT record FROM users WHERE org = ?1 AND id = ?2",
                [org.as_str(), &id.to_string()],
            )
        })
    }

    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> StoreResult<Option<User>> {
        self.read(|conn| {
            one(
                conn,
                "SELECT record FROM users WHERE org = ?1 AND username = ?2",
                [org.as_str(), &username.key()],
            )
        })
    }

    async fn list_users(&self, org: &OrgId, request: &PageRequest) -> StoreResult<Page<User>> {
        self.read(|conn| {
            page(
                conn,
                "SELECT id, record FROM users WHERE org = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                &[org.as_str()],
                request,
            )
        })
    }

    async fn get_users(&self, org: &OrgId, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        self.read(|conn| {
            many(
                conn,
                "SELECT record FROM users WHERE org = ? AND id IN (",
                &[org.as_str()],
                &keys,
            )
        })
    }

    async fn find_users_by_email(&self, org: &OrgId, emails: &[Email]) -> StoreResult<Vec<User>> {
        let keys: Vec<String> = emails.iter().map(|e| e.as_str().to_owned()).collect();
        self.read(|conn| {
            many(
                conn,
                "SELECT record FROM users WHERE org = ? AND email IN (",
                &[org.as_str()],
                &keys,
            )
        })
    }

    async fn set_user_roles(&self, org: &OrgId, id: Uuid, roles: &[Role]) -> StoreResult<User> {
        let (o, i, roles) = (org.to_string(), id.to_string(), roles.to_vec());
        let (user, tokens) = self
            .write(move |conn| {
                let mut user = user_in(conn, &o, &i)?.ok_or(StoreError::NotFound)?;
                let demoted = user.roles.contains(&Role::Admin) && !roles.contains(&Role::Admin);
                if demoted && !other_admin(conn, &o, &i)? {
                    return Err(StoreError::LastAdmin);
                }
                user.roles.clone_from(&roles);
                let record = json(&user)?;
                conn.prepare_cached("UPDATE users SET record = ?3 WHERE org = ?1 AND id = ?2")
                    .and_then(|mut s| s.execute(params![o, i, record]))
                    .map_err(error)?;
                let roles = serde_json::to_string(&roles)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                conn.prepare_cached(
                    "UPDATE tokens SET record = json_set(record, '$.roles', json(?3)) \
                     WHERE org = ?1 AND json_extract(record, '$.userId') = ?2",
                )
                .and_then(|mut s| s.execute(params![o, i, roles]))
                .map_err(error)?;
                Ok((user, token_ids_of(conn, &o, &i)?))
            })
            .await?;
        for token in tokens {
            self.inner.tokens.drop_key(&(org.clone(), token));
        }
        Ok(user)
    }

    async fn delete_user(&self, org: &OrgId, id: Uuid) -> StoreResult<bool> {
        let (o, i) = (org.to_string(), id.to_string());
        let tokens = self
            .write(move |conn| {
                let Some(user) = user_in(conn, &o, &i)? else {
                    return Ok(None);
                };
                if user.roles.contains(&Role::Admin) && !other_admin(conn, &o, &i)? {
                    return Err(StoreError::LastAdmin);
                }
                let tokens = token_ids_of(conn, &o, &i)?;
                for sql in [
                    "DELETE FROM users WHERE org = ?1 AND id = ?2",
                    "DELETE FROM tokens WHERE org = ?1 AND json_extract(record, '$.userId') = ?2",
                    "DELETE FROM recipients WHERE org = ?1 AND id = ?2",
                    "DELETE FROM preferences WHERE org = ?1 AND user = ?2",
                ] {
                    conn.prepare_cached(sql)
                        .and_then(|mut s| s.execute([&o, &i]))
                        .map_err(error)?;
                }
                Ok(Some(tokens))
            })
            .await?;
        // Revoked at once, as `delete_token`.
        for token in tokens.iter().flatten() {
            self.inner.tokens.drop_key(&(org.clone(), token.clone()));
        }
        Ok(tokens.is_some())
    }
}

#[async_trait]
impl TokenStore for Sqlite {
    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |conn| {
            if !org_exists(conn, token.organization.as_str())? {
                return Err(StoreError::NotFound);
            }
            let taken = conn
                .prepare_cached("SELECT 1 FROM tokens WHERE org = ?1 AND id = ?2")
                .and_then(|mut s| s.exists([token.organization.as_str(), token.id.as_str()]))
                .map_err(error)?;
            if taken {
                return Err(StoreError::Conflict(vec![Unique::TokenId]));
            }
            insert_token(conn, &token)
        })
        .await
    }

    async fn get_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<Option<TokenRecord>> {
        let cached = self.inner.tokens.get(&(org.clone(), id.clone()), || {
            self.read(|conn| {
                one(
                    conn,
                    "SELECT record FROM tokens WHERE org = ?1 AND id = ?2",
                    [org.as_str(), id.as_str()],
                )
            })
        })?;
        Ok(cached.map(|t| (*t).clone()))
    }

    async fn delete_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<bool> {
        let key = (org.clone(), id.clone());
        let (org, id) = key.clone();
        let deleted = self
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM tokens WHERE org = ?1 AND id = ?2")
                    .and_then(|mut s| s.execute([org.as_str(), id.as_str()]))
                    .map(|n| n > 0)
                    .map_err(error)
            })
            .await;
        // Revoked at once: before the answer, no request authenticates with it any more.
        self.inner.tokens.drop_key(&key);
        deleted
    }

    async fn list_tokens(
        &self,
        org: &OrgId,
        request: &PageRequest,
    ) -> StoreResult<Page<TokenRecord>> {
        self.read(|conn| {
            page(
                conn,
                "SELECT id, record FROM tokens WHERE org = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                &[org.as_str()],
                request,
            )
        })
    }

    async fn user_tokens(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<TokenRecord>> {
        self.read(|conn| tokens_of(conn, org.as_str(), &user.to_string()))
    }

    async fn record_token_use(
        &self,
        org: &OrgId,
        id: &TokenId,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let key = (org.clone(), id.clone());
        let (o, i) = (org.to_string(), id.to_string());
        let (now, stale) = (
            timestamp::format(at),
            timestamp::format(at - TokenRecord::LAST_USED_EVERY),
        );
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE tokens SET record = json_set(record, '$.lastUsedAt', ?3) \
                 WHERE org = ?1 AND id = ?2 \
                 AND coalesce(json_extract(record, '$.lastUsedAt') <= ?4, 1)",
            )
            .and_then(|mut s| s.execute(params![o, i, now, stale]))
            .map_err(error)?;
            Ok(())
        })
        .await?;
        self.inner.tokens.drop_key(&key);
        Ok(())
    }
}

#[async_trait]
impl crate::ports::limits::LimitCounters for Sqlite {
    async fn take_event(&self, org: &OrgId, second: i64, limit: u32) -> StoreResult<bool> {
        let mut rates = self
            .inner
            .event_rates
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (at, taken) = rates.entry(org.clone()).or_insert((second, 0));
        if *at != second {
            (*at, *taken) = (second, 0);
        }
        if *taken >= limit {
            return Ok(false);
        }
        *taken += 1;
        Ok(true)
    }

    async fn take_daily(
        &self,
        org: &OrgId,
        channel: crate::model::DispatchMethod,
        day: time::Date,
        limit: u32,
    ) -> StoreResult<bool> {
        let (org, channel, day) = (
            org.to_string(),
            channel.as_str(),
            crate::model::day::format(day),
        );
        self.write(move |conn| {
            let taken = conn
                .prepare_cached(
                    "INSERT INTO daily_counts (org, channel, day, count) VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT (org, channel, day) DO UPDATE SET count = count + 1
                     WHERE count < ?4",
                )
                .and_then(|mut s| s.execute(params![org, channel, day, limit]))
                .map_err(error)?;
            Ok(taken > 0)
        })
        .await
    }
}
