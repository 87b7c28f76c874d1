//! Changing an organization's notifications settings (the settings API): whitelisted users must exist in
//! the organization, and a sandbox organization cannot deliver to `ALL` or whitelist more than
//! 50 users. The store applies the sandbox rule in the same write as the change, so a concurrent
//! change of the organization's kind cannot slip past it.

use std::collections::HashSet;

use uuid::Uuid;

use super::Error;
use crate::domain::FieldError;
use crate::model::{DeliveryMode, OrgId, OrgKind};
use crate::model::{Settings, SettingsPatch};
use crate::ports::store::{SettingsStore, StoreError, UserStore};

/// A change of settings, with each whitelisted user's place in the request (for error paths:
/// `whitelist[i].user.id`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub patch: SettingsPatch,
    pub whitelist_at: Vec<(usize, Uuid)>,
}

/// Applies `change` to `org`'s settings, or refuses it whole with every problem found.
pub async fn update(
    settings: &dyn SettingsStore,
    users: &dyn UserStore,
    now: time::OffsetDateTime,
    org: &OrgId,
    change: &SettingsChange,
) -> Result<Settings, Error> {
    let unknown = unknown_users(users, org, change).await?;
    if !unknown.is_empty() {
        return Err(Error::Invalid(
            with_sandbox_problems(settings, org, change, unknown).await?,
        ));
    }
    match settings.update_settings(org, &change.patch, now).await {
        Ok(settings) => Ok(settings),
        Err(StoreError::Refused) => Err(Error::Invalid(sandbox_problems(&change.patch))),
        Err(e) => Err(e.into()),
    }
}

/// Every problem `change` has with `org` as it is now (whitelisted users that do not exist, what
/// a sandbox organization may not have), without changing anything: for a request that is
/// refused anyway, so that one answer names everything.
pub async fn problems(
    settings: &dyn SettingsStore,
    users: &dyn UserStore,
    org: &OrgId,
    change: &SettingsChange,
) -> Result<Vec<FieldError>, Error> {
    let unknown = unknown_users(users, org, change).await?;
    with_sandbox_problems(settings, org, change, unknown).await
}

/// `found`, and what a sandbox organization may not have if `org` is one.
async fn with_sandbox_problems(
    settings: &dyn SettingsStore,
    org: &OrgId,
    change: &SettingsChange,
    mut found: Vec<FieldError>,
) -> Result<Vec<FieldError>, Error> {
    if change.patch.needs_production() {
        let kind = settings.get_settings(org).await?.map(|s| s.kind);
        if kind == Some(OrgKind::Sandbox) {
            found.extend(sandbox_problems(&change.patch));
        }
    }
    Ok(found)
}

/// The whitelisted users that are not users of `org`, in one batched read.
async fn unknown_users(
    users: &dyn UserStore,
    org: &OrgId,
    change: &SettingsChange,
) -> Result<Vec<FieldError>, Error> {
    let Some(ids) = change
        .patch
        .whitelist
        .as_ref()
        .filter(|ids| !ids.is_empty())
    else {
        return Ok(Vec::new());
    };
    let found: HashSet<Uuid> = users
        .get_users(org, ids)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    Ok(change
        .whitelist_at
        .iter()
        .filter(|(_, id)| !found.contains(id))
        .map(|(i, _)| {
            FieldError::new(
                format!("whitelist[{i}].user.id"),
                "no such user in this organization",
            )
        })
        .collect())
}

/// The problems a sandbox organization has with `patch`.
fn sandbox_problems(patch: &SettingsPatch) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Some(w) = &patch.whitelist
        && w.len() > Settings::SANDBOX_WHITELIST_MAX
    {
        out.push(FieldError::new(
            "whitelist",
            "a sandbox organization whitelists at most 50 users",
        ));
    }
    if patch.delivery_mode == Some(DeliveryMode::All) {
        out.push(FieldError::new(
            "deliveryMode",
            "ALL is available to production organizations only",
        ));
    }
    out
}
