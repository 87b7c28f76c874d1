//! Organizations, users and tokens on SQLite: uniqueness checked and written in one job of the
//! writer (which no other write can interleave with).

use async_trait::async_trait;
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::{Sqlite, error, json, many, one, page};
use crate::model::{Email, OrgId, TokenId, Username};
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
}
