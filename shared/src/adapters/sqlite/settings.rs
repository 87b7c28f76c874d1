//! Settings, the notifier pause and SMS quota counters on SQLite: settings are columns of the
//! organization's row (each `NULL` until set), a counter is one row per (day, organization, user).

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{Sqlite, error, json, one, parse};
use crate::model::{DeliveryMode, Language, OrgId, OrgKind, day, timestamp};
use crate::model::{Organization, Settings, SettingsPatch, SmsCounter, SmsUsage};
use crate::ports::store::{SettingsStore, SmsQuotaStore, StoreError, StoreResult};

const SETTINGS: &str = "SELECT record, sms_daily_quota, delivery_mode, whitelist, default_language,
     settings_updated_at, notifier_paused FROM organizations WHERE id = ?1";

fn settings(conn: &Connection, org: &str) -> StoreResult<Option<Settings>> {
    type Row = (
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
    );
    let row: Option<Row> = conn
        .prepare_cached(SETTINGS)
        .and_then(|mut s| {
            s.query_row([org], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()
        })
        .map_err(error)?;
    let Some((record, quota, mode, whitelist, language, updated, paused)) = row else {
        return Ok(None);
    };
    let organization: Organization = parse(&record)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("settings: {what}"));
    Ok(Some(Settings {
        kind: organization.kind,
        sms_daily_quota: quota
            .map(u32::try_from)
            .transpose()
            .map_err(|_| corrupt("smsDailyQuota"))?,
        delivery_mode: mode
            .as_deref()
            .map(DeliveryMode::parse)
            .transpose()
            .map_err(corrupt)?,
        whitelist: whitelist.as_deref().map(parse).transpose()?,
        default_language: language
            .as_deref()
            .map(Language::parse)
            .transpose()
            .map_err(corrupt)?,
        updated_at: match updated {
            Some(t) => timestamp::parse(&t).map_err(corrupt)?,
            None => organization.created_at,
        },
        notifier_paused: paused,
    }))
}

#[async_trait]
impl SettingsStore for Sqlite {
    async fn get_settings(&self, org: &OrgId) -> StoreResult<Option<Settings>> {
        let cached = self
            .inner
            .settings
            .get(org, || self.read(|conn| settings(conn, org.as_str())))?;
        Ok(cached.map(|s| (*s).clone()))
    }

    async fn update_settings(
        &self,
        org: &OrgId,
        patch: &SettingsPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Settings> {
        let key = org.clone();
        let org = org.clone();
        let whitelist = patch.whitelist.as_ref().map(json).transpose()?;
        let patch = patch.clone();
        let out = self
            .write(move |conn| {
                let kind: Option<String> = conn
                    .prepare_cached("SELECT kind FROM organizations WHERE id = ?1")
                    .and_then(|mut s| s.query_row([org.as_str()], |r| r.get(0)).optional())
                    .map_err(error)?;
                let kind = kind.ok_or(StoreError::NotFound)?;
                if patch.needs_production() && kind != OrgKind::Production.as_str() {
                    return Err(StoreError::Refused);
                }
                conn.prepare_cached(
                    "UPDATE organizations SET
                    sms_daily_quota = coalesce(?2, sms_daily_quota),
                    delivery_mode = coalesce(?3, delivery_mode),
                    whitelist = coalesce(?4, whitelist),
                    default_language = coalesce(?5, default_language),
                    settings_updated_at = ?6
                 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        org.as_str(),
                        patch.sms_daily_quota,
                        patch.delivery_mode.map(DeliveryMode::as_str),
                        whitelist,
                        patch.default_language.map(Language::as_str),
                        timestamp::format(now),
                    ])
                })
                .map_err(error)?;
                settings(conn, org.as_str())?.ok_or(StoreError::NotFound)
            })
            .await;
        self.inner.settings.drop_key(&key);
        out
    }

    async fn reset_settings(&self, org: &OrgId, now: OffsetDateTime) -> StoreResult<Settings> {
        let key = org.clone();
        let org = org.clone();
        let out = self
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE organizations SET sms_daily_quota = NULL, delivery_mode = NULL,
                    whitelist = NULL, default_language = NULL, settings_updated_at = ?2
                 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute([org.as_str(), &timestamp::format(now)]))
                .map_err(error)?;
                settings(conn, org.as_str())?.ok_or(StoreError::NotFound)
            })
            .await;
        self.inner.settings.drop_key(&key);
        out
    }

    async fn set_notifier_paused(&self, org: &OrgId, paused: bool) -> StoreResult<bool> {
        let key = org.clone();
        let org = org.clone();
        let out = self
            .write(move |conn| {
                let current: Option<bool> = conn
                    .prepare_cached("SELECT notifier_paused FROM organizations WHERE id = ?1")
                    .and_then(|mut s| s.query_row([org.as_str()], |r| r.get(0)).optional())
                    .map_err(error)?;
                match current {
                    None => Err(StoreError::NotFound),
                    Some(current) if current == paused => Ok(false),
                    Some(_) => {
                        conn.prepare_cached(
                            "UPDATE organizations SET notifier_paused = ?2 WHERE id = ?1",
                        )
                        .and_then(|mut s| s.execute(params![org.as_str(), paused]))
                        .map_err(error)?;
                        Ok(true)
                    }
                }
            })
            .await;
        self.inner.settings.drop_key(&key);
        out
    }
}

#[async_trait]
impl SmsQuotaStore for Sqlite {
    async fn take_sms(&self, org: &OrgId, user: Uuid, on: Date, limit: u32) -> StoreResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let org = org.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sms_counters (day, org, user, count) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (day, org, user) DO UPDATE SET count = count + 1 WHERE count < ?4",
            )
            .and_then(|mut s| {
                s.execute(params![
                    day::format(on),
                    org.as_str(),
                    user.to_string(),
                    limit
                ])
            })
            .map(|changed| changed == 1)
            .map_err(error)
        })
        .await
    }

    async fn sms_counters(&self, on: Date) -> StoreResult<Vec<SmsCounter>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT org, user, count FROM sms_counters WHERE day = ?1")
                .map_err(error)?;
            let rows = stmt
                .query_map([day::format(on)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                })
                .map_err(error)?;
            let mut out = Vec::new();
            for row in rows {
                let (org, user, count) = row.map_err(error)?;
                out.push(SmsCounter {
                    organization: OrgId::parse(&org)
                        .map_err(|e| StoreError::Corrupt(format!("sms counter org: {e}")))?,
                    user_id: Uuid::parse_str(&user)
                        .map_err(|e| StoreError::Corrupt(format!("sms counter user: {e}")))?,
                    day: on,
                    count,
                });
            }
            Ok(out)
        })
    }

    async fn record_sms_usage(&self, usage: &SmsUsage) -> StoreResult<bool> {
        let record = json(usage)?;
        let (org, on) = (usage.organization.clone(), day::format(usage.day));
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sms_usage (org, day, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT (org, day) DO NOTHING",
            )
            .and_then(|mut s| s.execute([org.as_str(), &on, &record]))
            .map(|n| n == 1)
            .map_err(error)
        })
        .await
    }

    async fn sms_usage(&self, org: &OrgId, on: Date) -> StoreResult<Option<SmsUsage>> {
        self.read(|conn| {
            one(
                conn,
                "SELECT record FROM sms_usage WHERE org = ?1 AND day = ?2",
                [org.as_str(), &day::format(on)],
            )
        })
    }

    async fn delete_sms_counters(&self, counters: &[SmsCounter]) -> StoreResult<()> {
        let keys: Vec<[Value; 3]> = counters
            .iter()
            .map(|c| {
                [
                    Value::Text(day::format(c.day)),
                    Value::Text(c.organization.to_string()),
                    Value::Text(c.user_id.to_string()),
                ]
            })
            .collect();
        self.write(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "DELETE FROM sms_counters WHERE day = ?1 AND org = ?2 AND user = ?3",
                )
                .map_err(error)?;
            for key in &keys {
                stmt.execute(rusqlite::params_from_iter(key.iter()))
                    .map_err(error)?;
            }
            Ok(())
        })
        .await
    }
}
