//! An organization's settings and its users' SMS counters, as stored.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{DeliveryMode, Language, OrgId, OrgKind};

/// An organization's notification settings (the settings API, and the admin API's pause), each field absent
/// until set: defaults follow the organization's kind. Each API writes only its own fields, so
/// neither clobbers the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub kind: OrgKind,
    pub sms_daily_quota: Option<u32>,
    pub delivery_mode: Option<DeliveryMode>,
    pub whitelist: Option<Vec<Uuid>>,
    pub default_language: Option<Language>,
    /// The last change of the settings API's fields, or the organization's creation.
    pub updated_at: OffsetDateTime,
    /// The admin API's `notifier_paused` (its own API; not touched by the settings API's PUT or DELETE).
    pub notifier_paused: bool,
}

impl Settings {
    pub const DEFAULT_SMS_DAILY_QUOTA: u32 = 30;
    pub const MAX_SMS_DAILY_QUOTA: u32 = 50;
    /// The whitelist limit of a sandbox (the settings API).
    pub const SANDBOX_WHITELIST_MAX: usize = 50;

    pub fn sms_daily_quota(&self) -> u32 {
        self.sms_daily_quota
            .unwrap_or(Self::DEFAULT_SMS_DAILY_QUOTA)
    }

    /// `ALL` in production, `WHITELIST` in a sandbox, unless set.
    pub fn delivery_mode(&self) -> DeliveryMode {
        self.delivery_mode.unwrap_or(match self.kind {
            OrgKind::Production => DeliveryMode::All,
            OrgKind::Sandbox => DeliveryMode::Whitelist,
        })
    }

    pub fn whitelist(&self) -> &[Uuid] {
        self.whitelist.as_deref().unwrap_or_default()
    }

    pub fn default_language(&self) -> Language {
        self.default_language.unwrap_or(Language::En)
    }
}

/// A PUT of the settings API: the fields to set; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub sms_daily_quota: Option<u32>,
    pub delivery_mode: Option<DeliveryMode>,
    pub whitelist: Option<Vec<Uuid>>,
    pub default_language: Option<Language>,
}

impl SettingsPatch {
    /// Whether only a production organization may take this patch: `ALL`, or a whitelist over
    /// the sandbox limit.
    pub fn needs_production(&self) -> bool {
        self.delivery_mode == Some(DeliveryMode::All)
            || self
                .whitelist
                .as_ref()
                .is_some_and(|w| w.len() > Settings::SANDBOX_WHITELIST_MAX)
    }
}

/// One user's SMS counter for one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsCounter {
    pub organization: OrgId,
    pub user_id: Uuid,
    #[serde(with = "crate::model::day")]
    pub day: Date,
    pub count: u32,
}

/// A closed day's SMS usage of one organization, recorded by the quota-reset job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsUsage {
    pub organization: OrgId,
    #[serde(with = "crate::model::day")]
    pub day: Date,
    /// SMS sent that day, all users together.
    pub sent: u32,
    /// Users who received at least one.
    pub users: u32,
}
