//! Preferences on SQLite: one row per (organization, user, template).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use rusqlite::{Connection, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Sqlite, error, placeholders};
use crate::model::Preference;
use crate::model::{OrgId, timestamp};
use crate::ports::store::{PreferenceStore, StoreError, StoreResult};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("preference: {what}"))
}

/// A user's preferences, by template id.
fn preferences(
    conn: &Connection,
    org: &str,
    user: Uuid,
) -> StoreResult<BTreeMap<Uuid, Preference>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT template, disabled, updated_at FROM preferences WHERE org = ?1 AND user = ?2",
        )
        .map_err(error)?;
    let rows = stmt
        .query_map([org, &user.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(error)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (template, disabled, updated_at) = row.map_err(error)?;
        let template = Uuid::parse_str(&template).map_err(|_| corrupt("template"))?;
        let updated_at = timestamp::parse(&updated_at).map_err(corrupt)?;
        out.insert(
            template,
            Preference {
                template,
                disabled,
                updated_at,
            },
        );
    }
    Ok(out)
}

#[async_trait]
impl PreferenceStore for Sqlite {
    async fn get_preferences(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<Preference>> {
        self.read(|conn| {
            Ok(preferences(conn, org.as_str(), user)?
                .into_values()
                .collect())
        })
    }

    async fn set_preferences(
        &self,
        org: &OrgId,
        user: Uuid,
        changes: &[(Uuid, bool)],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Preference>> {
        let (org, changes) = (org.clone(), changes.to_vec());
        self.write(move |conn| {
            let mut current = preferences(conn, org.as_str(), user)?;
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO preferences (org, user, template, disabled, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (org, user, template)
                     DO UPDATE SET disabled = excluded.disabled, updated_at = excluded.updated_at",
                )
                .map_err(error)?;
            for &(template, disabled) in &changes {
                if current
                    .get(&template)
                    .is_some_and(|p| p.disabled == disabled)
                {
                    continue;
                }
                stmt.execute(params![
                    org.as_str(),
                    user.to_string(),
                    template.to_string(),
                    disabled,
                    timestamp::format(now)
                ])
                .map_err(error)?;
                current.insert(
                    template,
                    Preference {
                        template,
                        disabled,
                        updated_at: now,
                    },
                );
            }
            Ok(current.into_values().collect())
        })
        .await
    }

    async fn template_preferences(
        &self,
        org: &OrgId,
        template: Uuid,
        users: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, bool>> {
        self.read(|conn| {
            let mut out = HashMap::new();
            for chunk in users.chunks(500) {
                let sql = format!(
                    "SELECT user, disabled FROM preferences WHERE org = ? AND template = ? AND user IN ({})",
                    placeholders(chunk.len())
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(error)?;
                let values: Vec<String> = [org.to_string(), template.to_string()]
                    .into_iter()
                    .chain(chunk.iter().map(Uuid::to_string))
                    .collect();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(values), |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
                    })
                    .map_err(error)?;
                for row in rows {
                    let (user, disabled) = row.map_err(error)?;
                    let user = Uuid::parse_str(&user).map_err(|_| corrupt("user"))?;
                    out.insert(user, disabled);
                }
            }
            Ok(out)
        })
    }
}
