//! A webhook target and its signing secrets (a rotation's overlap included).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::{Sealed, timestamp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTarget {
    pub url: String,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret, sealed.
    pub secret: Sealed,
    /// After a rotation: the secret it replaced, which still signs (beside the new one) until
    /// its `until`. Never shown by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousSecret>,
}

/// A signing secret that a rotation replaced, valid until `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecret {
    pub secret: Sealed,
    #[serde(with = "timestamp")]
    pub until: OffsetDateTime,
}

impl WebhookTarget {
    /// How long a rotated-out secret keeps signing.
    pub const ROTATION_OVERLAP: time::Duration = time::Duration::hours(24);

    /// The secrets a delivery at `now` is signed with: the current one, then the previous one
    /// while it is valid (Standard Webhooks: one `v1,` signature per secret).
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&Sealed> {
        let mut secrets = vec![&self.secret];
        if let Some(previous) = self.previous.as_ref().filter(|p| p.until > now) {
            secrets.push(&previous.secret);
        }
        secrets
    }

    /// This target with `secret` as its signing secret, the current one kept signing until
    /// `until` (a secret rotated out before is dropped: at most two sign).
    pub fn rotated(&self, secret: Sealed, until: OffsetDateTime) -> Self {
        Self {
            url: self.url.clone(),
            previous: Some(PreviousSecret {
                secret: self.secret.clone(),
                until,
            }),
            secret,
        }
    }
}
