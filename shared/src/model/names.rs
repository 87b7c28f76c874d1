//! The closed sets of names Herald speaks: event types, notification types, statuses, roles and
//! the rest, each an enum with its wire names (`parse`, `as_str`, serde, and its OpenAPI enum).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a closed set of names: the enum, its wire names, `parse`, `as_str` and serde.
macro_rules! name_enum {
    ($(#[$meta:meta])* $name:ident, $expect:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, &'static str> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    _ => Err(concat!("must be one of ", $expect)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        /// In the OpenAPI document: a string, one of the names.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_enum!(
    /// The 15 event types, in the API's order.
    EventType, "buildCreated, buildProcessed, feedbackCreated, certificateWillExpire, applePushRenovation, emmEnrollmentCreated, emmDeviceCreated, emmDeviceChangedMdmUser, admEnrollmentCreated, admDeviceCreated, admDeviceChangedMdmUser, winEnrollmentCreated, winDeviceCreated, winDeviceChangedMdmUser, inventoryItemRegistered" {
        BuildCreated = "buildCreated",
        BuildProcessed = "buildProcessed",
        FeedbackCreated = "feedbackCreated",
        CertificateWillExpire = "certificateWillExpire",
        ApplePushRenovation = "applePushRenovation",
        EmmEnrollmentCreated = "emmEnrollmentCreated",
        EmmDeviceCreated = "emmDeviceCreated",
        EmmDeviceChangedMdmUser = "emmDeviceChangedMdmUser",
        AdmEnrollmentCreated = "admEnrollmentCreated",
        AdmDeviceCreated = "admDeviceCreated",
        AdmDeviceChangedMdmUser = "admDeviceChangedMdmUser",
        WinEnrollmentCreated = "winEnrollmentCreated",
        WinDeviceCreated = "winDeviceCreated",
        WinDeviceChangedMdmUser = "winDeviceChangedMdmUser",
        InventoryItemRegistered = "inventoryItemRegistered",
    }
);

name_enum!(
    /// How far an event's fan-out has come ([`crate::model::Fanout`]).
    FanoutStatus, "pending, done, failed" {
        Pending = "pending",
        Done = "done",
        Failed = "failed",
    }
);

name_enum!(
    /// What Herald tells an organization's operational webhook about itself.
    OperationalEvent, "delivery.failed, notification.disabled, delivery.recovered, sms.quotaExhausted, event.fanoutFailed, organization.quotaExceeded" {
        DeliveryFailed = "delivery.failed",
        NotificationDisabled = "notification.disabled",
        DeliveryRecovered = "delivery.recovered",
        SmsQuotaExhausted = "sms.quotaExhausted",
        EventFanoutFailed = "event.fanoutFailed",
        OrganizationQuotaExceeded = "organization.quotaExceeded",
    }
);

name_enum!(
    /// A notification's target type: the notifications API's `slack` and `webhook`, and the per-user `email`
    /// and `sms` (Herald's own).
    NotificationType, "slack, webhook, email, sms" {
        Slack = "slack",
        Webhook = "webhook",
        Email = "email",
        Sms = "sms",
    }
);

name_enum!(
    OrgKind, "PRODUCTION, SANDBOX" {
        Production = "PRODUCTION",
        Sandbox = "SANDBOX",
    }
);

name_enum!(
    Plan, "TRIAL, PAID" {
        Trial = "TRIAL",
        Paid = "PAID",
    }
);

name_enum!(
    /// The supported template languages (the settings API's `defaultLanguage`).
    Language, "en, de, fr, es" {
        En = "en",
        De = "de",
        Fr = "fr",
        Es = "es",
    }
);

name_enum!(
    /// How a notification reaches a user (the admin API's dispatch methods), in the API's order.
    DispatchMethod, "email, slack, sms, webhook" {
        Email = "email",
        Slack = "slack",
        Sms = "sms",
        Webhook = "webhook",
    }
);

name_enum!(
    /// Where a delivery stands.
    DeliveryStatus, "queued, held, sending, sent, failed, skipped" {
        Queued = "queued",
        Held = "held",
        Sending = "sending",
        Sent = "sent",
        Failed = "failed",
        Skipped = "skipped",
    }
);

name_enum!(
    /// Why a delivery was not sent, on purpose (`skipped`): at its birth by the fan-out
    /// (`preference_disabled`, `not_whitelisted`, `no_phone`), or by the sender
    /// (`quota_exceeded`, `notification_deleted`, `notification_disabled`,
    /// `operational_webhook_removed`, `organization_quota_exceeded`).
    SkipReason, "preference_disabled, not_whitelisted, no_phone, quota_exceeded, notification_deleted, notification_disabled, operational_webhook_removed, organization_quota_exceeded" {
        PreferenceDisabled = "preference_disabled",
        NotWhitelisted = "not_whitelisted",
        NoPhone = "no_phone",
        QuotaExceeded = "quota_exceeded",
        NotificationDeleted = "notification_deleted",
        NotificationDisabled = "notification_disabled",
        OperationalWebhookRemoved = "operational_webhook_removed",
        OrganizationQuotaExceeded = "organization_quota_exceeded",
    }
);

name_enum!(
    /// How one attempt of a delivery ended: `retry` is a failure worth another attempt.
    AttemptOutcome, "sent, retry, failed, skipped" {
        Sent = "sent",
        Retry = "retry",
        Failed = "failed",
        Skipped = "skipped",
    }
);

name_enum!(
    /// Who receives email and SMS (the settings API): everyone, or only the whitelist.
    DeliveryMode, "ALL, WHITELIST" {
        All = "ALL",
        Whitelist = "WHITELIST",
    }
);

name_enum!(
    Role, "admin, member" {
        Admin = "admin",
        Member = "member",
    }
);

name_enum!(
    /// The permission names.
    Permission, "base.organization.notification.create, base.organization.notification.read, base.organization.notification.update, base.organization.notification.delete, base.organization.event.create, base.organization.settings.read, base.organization.settings.update, base.organization.user.create, base.organization.user.read, base.organization.token.create" {
        NotificationCreate = "base.organization.notification.create",
        NotificationRead = "base.organization.notification.read",
        NotificationUpdate = "base.organization.notification.update",
        NotificationDelete = "base.organization.notification.delete",
        EventCreate = "base.organization.event.create",
        SettingsRead = "base.organization.settings.read",
        SettingsUpdate = "base.organization.settings.update",
        UserCreate = "base.organization.user.create",
        UserRead = "base.organization.user.read",
        TokenCreate = "base.organization.token.create",
    }
);

impl Role {
    /// What the role may do: `admin` everything; `member` the read permissions.
    pub fn grants(self, permission: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Member => matches!(
                permission,
                Permission::NotificationRead | Permission::SettingsRead | Permission::UserRead
            ),
        }
    }
}
