//! Settings, the notifier pause and SMS quota counters on DynamoDB: attributes of the `ORG` item
//! written by update expressions, and one counter item per (organization, user, day).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::ReturnValue;
use futures_util::{StreamExt, TryStreamExt, stream};
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{
    EXISTS, NOT_EXISTS, SMS_COUNTER_TTL, SMS_DAY_INDEX, SMS_DAY_SHARDS, pk, sms_pk, sms_shard,
};
use super::{
    BATCH_CONCURRENCY, DynamoStore, Pages, condition_failed, delete_request, item, key, record,
    unavailable, value,
};
use crate::model::{DeliveryMode, Language, OrgId, OrgKind, day as day_fmt, timestamp};
use crate::model::{Settings, SettingsPatch, SmsCounter, SmsUsage};
use crate::ports::store::{StoreError, StoreResult};

/// The settings attributes of the `ORG` item.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsItem {
    kind: OrgKind,
    #[serde(with = "timestamp")]
    created_at: OffsetDateTime,
    #[serde(default)]
    sms_daily_quota: Option<u32>,
    #[serde(default)]
    delivery_mode: Option<DeliveryMode>,
    #[serde(default)]
    whitelist: Option<Vec<Uuid>>,
    #[serde(default)]
    default_language: Option<Language>,
    #[serde(default, with = "timestamp::option")]
    settings_updated_at: Option<OffsetDateTime>,
    #[serde(default)]
    notifier_paused: bool,
}

impl From<SettingsItem> for Settings {
    fn from(i: SettingsItem) -> Self {
        Settings {
            kind: i.kind,
            sms_daily_quota: i.sms_daily_quota,
            delivery_mode: i.delivery_mode,
            whitelist: i.whitelist,
            default_language: i.default_language,
            updated_at: i.settings_updated_at.unwrap_or(i.created_at),
            notifier_paused: i.notifier_paused,
        }
    }
}

impl DynamoStore {
    /// One UpdateItem on the `ORG` item returning the settings after it; a failed condition is
    /// `Refused` when the organization exists, `NotFound` otherwise.
    async fn update_org_settings(
        &self,
        org: &OrgId,
        expression: String,
        condition: String,
        values: HashMap<String, Av>,
        names: HashMap<String, String>,
    ) -> StoreResult<Settings> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), "ORG".into())))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .set_expression_attribute_names(if names.is_empty() { None } else { Some(names) })
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                record::<SettingsItem>(out.attributes.unwrap_or_default()).map(Settings::from)
            }
            Err(e) if condition_failed(&e) => {
                if self.exists(pk(org), "ORG".into()).await? {
                    Err(StoreError::Refused)
                } else {
                    Err(StoreError::NotFound)
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl crate::ports::store::SettingsStore for DynamoStore {
    async fn get_settings(&self, org: &OrgId) -> StoreResult<Option<Settings>> {
        Ok(self
            .get::<SettingsItem>(pk(org), "ORG".into())
            .await?
            .map(Settings::from))
    }

    async fn update_settings(
        &self,
        org: &OrgId,
        patch: &SettingsPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Settings> {
        let mut sets = vec!["settingsUpdatedAt = :now".to_owned()];
        let mut values = HashMap::from([(":now".to_owned(), Av::S(timestamp::format(now)))]);
        let mut names = HashMap::new();
        if let Some(q) = patch.sms_daily_quota {
            sets.push("smsDailyQuota = :quota".into());
            values.insert(":quota".into(), Av::N(q.to_string()));
        }
        if let Some(m) = patch.delivery_mode {
            sets.push("deliveryMode = :mode".into());
            values.insert(":mode".into(), Av::S(m.as_str().into()));
        }
        if let Some(w) = &patch.whitelist {
            sets.push("whitelist = :whitelist".into());
            values.insert(":whitelist".into(), value(w)?);
        }
        if let Some(l) = patch.default_language {
            sets.push("defaultLanguage = :language".into());
            values.insert(":language".into(), Av::S(l.as_str().into()));
        }
        let mut condition = EXISTS.to_owned();
        if patch.needs_production() {
            condition.push_str(" AND #kind = :production");
            names.insert("#kind".into(), "kind".into());
            values.insert(
                ":production".into(),
                Av::S(OrgKind::Production.as_str().into()),
            );
        }
        self.update_org_settings(
            org,
            format!("SET {}", sets.join(", ")),
            condition,
            values,
            names,
        )
        .await
    }

    async fn reset_settings(&self, org: &OrgId, now: OffsetDateTime) -> StoreResult<Settings> {
        let values = HashMap::from([(":now".to_owned(), Av::S(timestamp::format(now)))]);
        self.update_org_settings(
            org,
            "SET settingsUpdatedAt = :now REMOVE smsDailyQuota, deliveryMode, whitelist, defaultLanguage".into(),
            EXISTS.into(),
            values,
            HashMap::new(),
        )
        .await
    }

    async fn set_notifier_paused(&self, org: &OrgId, paused: bool) -> StoreResult<bool> {
        // Absent means `false`: pausing changes an absent or false value, resuming a true one.
        let condition = if paused {
            "attribute_exists(pk) AND (attribute_not_exists(notifierPaused) OR notifierPaused = :no)"
        } else {
            "attribute_exists(pk) AND notifierPaused = :yes"
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(org), "ORG".into())))
            .update_expression("SET notifierPaused = :paused")
            .condition_expression(condition)
            .expression_attribute_values(":paused", Av::Bool(paused))
            .expression_attribute_values(if paused { ":no" } else { ":yes" }, Av::Bool(!paused))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => {
                if self.exists(pk(org), "ORG".into()).await? {
                    Ok(false)
                } else {
                    Err(StoreError::NotFound)
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl crate::ports::store::SmsQuotaStore for DynamoStore {
    async fn take_sms(
        &self,
        org: &OrgId,
        user: Uuid,
        day: time::Date,
        limit: u32,
    ) -> StoreResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let day_text = day_fmt::format(day);
        let expires = day.midnight().assume_utc() + SMS_COUNTER_TTL;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(sms_pk(org, day), format!("USER#{user}"))))
            .update_expression(
                "SET #count = if_not_exists(#count, :zero) + :one, #ttl = :ttl, smsDay = :shard, \
                 organization = :org, userId = :user, #day = :day",
            )
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":zero", Av::N("0".into()))
            .expression_attribute_values(":one", Av::N("1".into()))
            .expression_attribute_values(":limit", Av::N(limit.to_string()))
            .expression_attribute_values(":ttl", Av::N(expires.unix_timestamp().to_string()))
            .expression_attribute_values(":shard", Av::S(format!("{day_text}#{}", sms_shard(user))))
            .expression_attribute_values(":org", Av::S(org.to_string()))
            .expression_attribute_values(":user", Av::S(user.to_string()))
            .expression_attribute_values(":day", Av::S(day_text))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn sms_counters(&self, day: time::Date) -> StoreResult<Vec<SmsCounter>> {
        let day_text = day_fmt::format(day);
        let shards: Vec<Vec<SmsCounter>> = stream::iter(0..SMS_DAY_SHARDS)
            .map(|shard| {
                let hash = format!("{day_text}#{shard}");
                async move {
                    let mut out = Vec::new();
                    let query = |start| {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(SMS_DAY_INDEX)
                            .key_condition_expression("smsDay = :d")
                            .expression_attribute_values(":d", Av::S(hash.clone()))
                            .set_exclusive_start_key(start)
                    };
                    let mut pages = Pages::new(query, None);
                    while let Some(page) = pages.next().await? {
                        for it in page {
                            out.push(record::<SmsCounter>(it)?);
                        }
                    }
                    Ok::<_, StoreError>(out)
                }
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(shards.into_iter().flatten().collect())
    }

    async fn record_sms_usage(&self, usage: &SmsUsage) -> StoreResult<bool> {
        let it = item(
            pk(&usage.organization),
            format!("SMSUSAGE#{}", day_fmt::format(usage.day)),
            usage,
        )?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it))
            .condition_expression(NOT_EXISTS)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn sms_usage(&self, org: &OrgId, day: time::Date) -> StoreResult<Option<SmsUsage>> {
        self.get(pk(org), format!("SMSUSAGE#{}", day_fmt::format(day)))
            .await
    }

    async fn delete_sms_counters(&self, counters: &[SmsCounter]) -> StoreResult<()> {
        let deletes = counters
            .iter()
            .map(|c| {
                let k = key(
                    sms_pk(&c.organization, c.day),
                    format!("USER#{}", c.user_id),
                );
                delete_request(k)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(deletes).await
    }
}
