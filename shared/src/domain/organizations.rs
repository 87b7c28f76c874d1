//! Creating an organization: the organization, its first admin and that admin's token are one
//! all-or-nothing write.

use uuid::Uuid;

use super::Error;
use crate::domain::FieldError;
use crate::model::token::{IssuedToken, issue_token};
use crate::model::{Email, OrgId, OrgKind, Phone, Plan, Role, Username};
use crate::model::{Organization, TokenRecord, User};
use crate::ports::store::{OrganizationStore, StoreError, Unique};

/// What an organization is created from (the operator's request, or the local server's start).
#[derive(Debug)]
pub struct NewOrganization {
    pub id: OrgId,
    pub name: String,
    pub kind: OrgKind,
    pub plan: Plan,
    pub admin_username: Option<Username>,
    pub admin_email: Option<Email>,
    pub admin_phone: Option<Phone>,
    /// The admin's token, when the caller issued it already (the local server keeps its
    /// ready-made organization's token across restarts); a new one otherwise.
    pub admin_token: Option<IssuedToken>,
}

/// A new organization, its admin, and the admin's token (its secret, shown once).
#[derive(Debug)]
pub struct Provisioned {
    pub organization: Organization,
    pub admin: User,
    pub token: String,
}

/// The first admin's email unless one is given: `admin@<id>.invalid`, or, where the id cannot be
/// a domain label (it starts or ends with `-`, or is longer than 63 characters),
/// `admin@organization.invalid`. Emails are unique within an organization only, so the id is
/// there to be read, not to keep them apart.
pub fn default_admin_email(id: &OrgId) -> Result<Email, &'static str> {
    let id = id.as_str().to_ascii_lowercase();
    Email::parse(&format!("admin@{id}.invalid"))
        .or_else(|_| Email::parse("admin@organization.invalid"))
}

/// Creates an organization, its first admin (username `admin` and email
/// [`default_admin_email`] unless given) and that admin's token, in one all-or-nothing write. A taken id is
/// [`Error::Conflict`] naming `id`; a taken username or email names `admin.username` or
/// `admin.email`.
pub async fn provision(
    organizations: &dyn OrganizationStore,
    now: time::OffsetDateTime,
    new: NewOrganization,
) -> Result<Provisioned, Error> {
    let username = match new.admin_username {
        Some(u) => u,
        None => Username::parse("admin").map_err(|e| StoreError::Corrupt(e.into()))?,
    };
    let email = match new.admin_email {
        Some(e) => e,
        None => default_admin_email(&new.id).map_err(|e| StoreError::Corrupt(e.into()))?,
    };
    let admin = User {
        id: Uuid::now_v7(),
        organization: new.id.clone(),
        username,
        email,
        phone: new.admin_phone,
        roles: vec![Role::Admin],
        created_at: now,
    };
    let organization = Organization {
        id: new.id.clone(),
        name: new.name,
        kind: new.kind,
        plan: new.plan,
        created_at: now,
        limits: None,
    };
    let issued = new.admin_token.unwrap_or_else(|| issue_token(&new.id));
    let token = TokenRecord {
        id: issued.id,
        organization: new.id,
        hash: issued.hash,
        user_id: admin.id,
        roles: admin.roles.clone(),
        permissions: None,
        expires_at: None,
        created_at: now,
        last_used_at: None,
    };
    match organizations
        .create_organization(&organization, &admin, &token)
        .await
    {
        Ok(()) => Ok(Provisioned {
            organization,
            admin,
            token: issued.secret,
        }),
        Err(StoreError::Conflict(taken)) => Err(Error::Conflict(
            taken
                .into_iter()
                .map(|unique| match unique {
                    Unique::Username | Unique::Email => {
                        FieldError::new(format!("admin.{}", unique.field()), "is already taken")
                    }
                    other => FieldError::new(other.field(), "is already taken"),
                })
                .collect(),
        )),
        Err(e) => Err(e.into()),
    }
}
