//! The embedded store: the same semantics as DynamoDB (uniqueness, all-or-nothing writes, key
//! order, paging), held in memory behind one lock. No `await` happens while the lock is held.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{
    Claim, Delivery, DeliveryFilter, Event, EventCreated, Notification, Organization, Outcome,
    Page, PageRequest, Preference, Recipient, Settings, SettingsPatch, SmsCounter, SmsUsage, Store,
    StoreError, StoreResult, TokenRecord, Unique, User,
};
use crate::model::{Email, NotificationId, OrgId, TokenId, Username};

#[derive(Default)]
pub struct MemoryStore {
    tenants: RwLock<HashMap<OrgId, Tenant>>,
    /// SMS counters by (day, organization, user), and closed days' summaries.
    sms: Mutex<Sms>,
}

#[derive(Default)]
struct Sms {
    counters: BTreeMap<(Date, OrgId, Uuid), u32>,
    usage: HashMap<(OrgId, Date), SmsUsage>,
}

struct Tenant {
    org: Organization,
    /// Keyed by the hyphenated UUID, as DynamoDB's sort key orders them.
    users: BTreeMap<String, User>,
    usernames: HashMap<String, Uuid>,
    emails: HashMap<String, Uuid>,
    tokens: HashMap<TokenId, TokenRecord>,
    notifications: BTreeMap<String, Notification>,
    /// By notification id, then by the recipient's hyphenated id.
    recipients: HashMap<String, BTreeMap<String, Recipient>>,
    settings: Settings,
    /// By user, then by template id.
    preferences: HashMap<Uuid, BTreeMap<Uuid, Preference>>,
    /// By list key (`<created at>#<id>`): the log's order.
    deliveries: BTreeMap<String, Delivery>,
    events: HashMap<Uuid, Event>,
    /// Idempotency key → (event id, until when the key holds).
    idempotency: HashMap<String, (Uuid, OffsetDateTime)>,
}

impl Tenant {
    fn new(org: Organization) -> Self {
        Self {
            users: BTreeMap::new(),
            usernames: HashMap::new(),
            emails: HashMap::new(),
            tokens: HashMap::new(),
            notifications: BTreeMap::new(),
            recipients: HashMap::new(),
            settings: Settings {
                kind: org.kind,
                sms_daily_quota: None,
                delivery_mode: None,
                whitelist: None,
                default_language: None,
                updated_at: org.created_at,
                notifier_paused: false,
            },
            preferences: HashMap::new(),
            deliveries: BTreeMap::new(),
            events: HashMap::new(),
            idempotency: HashMap::new(),
            org,
        }
    }

    fn user_conflicts(&self, user: &User) -> Vec<Unique> {
        let mut out = Vec::new();
        if self.usernames.contains_key(&user.username.key()) {
            out.push(Unique::Username);
        }
        if self.emails.contains_key(user.email.as_str()) {
            out.push(Unique::Email);
        }
        out
    }

    fn insert_user(&mut self, user: &User) {
        self.usernames.insert(user.username.key(), user.id);
        self.emails.insert(user.email.as_str().to_owned(), user.id);
        self.users.insert(user.id.to_string(), user.clone());
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave a half-applied write (every write checks first
    // and mutates after), so a poisoned lock is safe to keep using.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<OrgId, Tenant>> {
        self.tenants.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<OrgId, Tenant>> {
        self.tenants.write().unwrap_or_else(|e| e.into_inner())
    }

    fn sms(&self) -> MutexGuard<'_, Sms> {
        self.sms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_tenant<T>(&self, org: &OrgId, f: impl FnOnce(&Tenant) -> T) -> Option<T> {
        self.read().get(org).map(f)
    }

    fn delivery_mut<'a>(
        tenants: &'a mut HashMap<OrgId, Tenant>,
        delivery: &Delivery,
    ) -> Option<&'a mut Delivery> {
        tenants
            .get_mut(&delivery.organization)?
            .deliveries
            .get_mut(&delivery.list_key())
    }
}

fn page_of<T: Clone>(map: &BTreeMap<String, T>, page: &PageRequest) -> Page<T> {
    let start = match &page.after {
        Some(after) => Bound::Excluded(after.clone()),
        None => Bound::Unbounded,
    };
    let items: Vec<(String, T)> = map
        .range((start, Bound::Unbounded))
        .take(page.limit + 1)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let page = Page::from_overfetch(items, page.limit, |(k, _)| k.clone());
    Page {
        items: page.items.into_iter().map(|(_, v)| v).collect(),
        next: page.next,
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_organization(
        &self,
        org: &Organization,
        admin: &User,
        token: &TokenRecord,
    ) -> StoreResult<()> {
        let mut tenants = self.write();
        if tenants.contains_key(&org.id) {
            return Err(StoreError::Conflict(vec![Unique::OrganizationId]));
        }
        let mut tenant = Tenant::new(org.clone());
        tenant.insert_user(admin);
        tenant.tokens.insert(token.id.clone(), token.clone());
        tenants.insert(org.id.clone(), tenant);
        Ok(())
    }

    async fn get_organization(&self, id: &OrgId) -> StoreResult<Option<Organization>> {
        Ok(self.with_tenant(id, |t| t.org.clone()))
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut tenants = self.write();
        let tenant = tenants
            .get_mut(&user.organization)
            .ok_or(StoreError::NotFound)?;
        let conflicts = tenant.user_conflicts(user);
        if !conflicts.is_empty() {
            return Err(StoreError::Conflict(conflicts));
        }
        tenant.insert_user(user);
        Ok(())
    }

    async fn get_user(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<User>> {
        Ok(self
            .with_tenant(org, |t| t.users.get(&id.to_string()).cloned())
            .flatten())
    }

    async fn find_user_by_username(
        &self,
        org: &OrgId,
        username: &Username,
    ) -> StoreResult<Option<User>> {
        Ok(self
            .with_tenant(org, |t| {
                t.usernames
                    .get(&username.key())
                    .and_then(|id| t.users.get(&id.to_string()))
                    .cloned()
            })
            .flatten())
    }

    async fn list_users(&self, org: &OrgId, page: &PageRequest) -> StoreResult<Page<User>> {
        Ok(self
            .with_tenant(org, |t| page_of(&t.users, page))
            .unwrap_or_default())
    }

    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let mut tenants = self.write();
        let tenant = tenants
            .get_mut(&token.organization)
            .ok_or(StoreError::NotFound)?;
        if tenant.tokens.contains_key(&token.id) {
            return Err(StoreError::Conflict(vec![Unique::TokenId]));
        }
        tenant.tokens.insert(token.id.clone(), token.clone());
        Ok(())
    }

    async fn get_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<Option<TokenRecord>> {
        Ok(self
            .with_tenant(org, |t| t.tokens.get(id).cloned())
            .flatten())
    }

    async fn delete_token(&self, org: &OrgId, id: &TokenId) -> StoreResult<bool> {
        Ok(self
            .write()
            .get_mut(org)
            .is_some_and(|t| t.tokens.remove(id).is_some()))
    }

    async fn create_notification(&self, notification: &Notification, max: u32) -> StoreResult<()> {
        let mut tenants = self.write();
        let tenant = tenants
            .get_mut(&notification.organization)
            .ok_or(StoreError::NotFound)?;
        let key = notification.id.as_str().to_owned();
        if tenant.notifications.contains_key(&key) {
            return Err(StoreError::Conflict(vec![Unique::NotificationId]));
        }
        if tenant.notifications.len() >= max as usize {
            return Err(StoreError::LimitReached);
        }
        tenant.notifications.insert(key, notification.clone());
        Ok(())
    }

    async fn get_notification(
        &self,
        org: &OrgId,
        id: &NotificationId,
    ) -> StoreResult<Option<Notification>> {
        Ok(self
            .with_tenant(org, |t| t.notifications.get(id.as_str()).cloned())
            .flatten())
    }

    async fn list_notifications(
        &self,
        org: &OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        Ok(self
            .with_tenant(org, |t| page_of(&t.notifications, page))
            .unwrap_or_default())
    }

    async fn update_notification(
        &self,
        notification: &Notification,
        expected_updated_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tenants = self.write();
        let stored = tenants
            .get_mut(&notification.organization)
            .and_then(|t| t.notifications.get_mut(notification.id.as_str()))
            .ok_or(StoreError::NotFound)?;
        if stored.updated_at != expected_updated_at {
            return Err(StoreError::Stale);
        }
        *stored = notification.clone();
        Ok(())
    }

    async fn delete_notification(&self, org: &OrgId, id: &NotificationId) -> StoreResult<bool> {
        let mut tenants = self.write();
        let Some(tenant) = tenants.get_mut(org) else {
            return Ok(false);
        };
        tenant.recipients.remove(id.as_str());
        Ok(tenant.notifications.remove(id.as_str()).is_some())
    }

    async fn get_users(&self, org: &OrgId, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        Ok(self
            .with_tenant(org, |t| {
                ids.iter()
                    .filter_map(|id| t.users.get(&id.to_string()).cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn find_users_by_email(&self, org: &OrgId, emails: &[Email]) -> StoreResult<Vec<User>> {
        Ok(self
            .with_tenant(org, |t| {
                emails
                    .iter()
                    .filter_map(|e| {
                        t.emails
                            .get(e.as_str())
                            .and_then(|id| t.users.get(&id.to_string()))
                            .cloned()
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn get_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        ids: &[Uuid],
    ) -> StoreResult<Vec<Recipient>> {
        Ok(self
            .with_tenant(org, |t| match t.recipients.get(notification.as_str()) {
                Some(map) => ids
                    .iter()
                    .filter_map(|id| map.get(&id.to_string()).cloned())
                    .collect(),
                None => Vec::new(),
            })
            .unwrap_or_default())
    }

    async fn put_recipients(&self, recipients: &[Recipient]) -> StoreResult<()> {
        let mut tenants = self.write();
        for r in recipients {
            // Like BatchWriteItem, unconditional; a recipient of an unknown organization has
            // nowhere to live here and nothing could ever read it.
            if let Some(tenant) = tenants.get_mut(&r.organization) {
                tenant
                    .recipients
                    .entry(r.notification.as_str().to_owned())
                    .or_default()
                    .insert(r.id.to_string(), r.clone());
            }
        }
        Ok(())
    }

    async fn list_recipients(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        page: &PageRequest,
    ) -> StoreResult<Page<Recipient>> {
        Ok(self
            .with_tenant(org, |t| match t.recipients.get(notification.as_str()) {
                Some(map) => page_of(map, page),
                None => Page::default(),
            })
            .unwrap_or_default())
    }

    async fn delete_recipient(
        &self,
        org: &OrgId,
        notification: &NotificationId,
        id: Uuid,
    ) -> StoreResult<bool> {
        Ok(self
            .write()
            .get_mut(org)
            .and_then(|t| t.recipients.get_mut(notification.as_str()))
            .is_some_and(|m| m.remove(&id.to_string()).is_some()))
    }

    async fn get_settings(&self, org: &OrgId) -> StoreResult<Option<Settings>> {
        Ok(self.with_tenant(org, |t| t.settings.clone()))
    }

    async fn update_settings(
        &self,
        org: &OrgId,
        patch: &SettingsPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Settings> {
        let mut tenants = self.write();
        let tenant = tenants.get_mut(org).ok_or(StoreError::NotFound)?;
        if patch.needs_production() && tenant.org.kind != crate::model::OrgKind::Production {
            return Err(StoreError::Refused);
        }
        let s = &mut tenant.settings;
        if let Some(q) = patch.sms_daily_quota {
            s.sms_daily_quota = Some(q);
        }
        if let Some(m) = patch.delivery_mode {
            s.delivery_mode = Some(m);
        }
        if let Some(w) = &patch.whitelist {
            s.whitelist = Some(w.clone());
        }
        if let Some(l) = patch.default_language {
            s.default_language = Some(l);
        }
        s.updated_at = now;
        Ok(s.clone())
    }

    async fn reset_settings(&self, org: &OrgId, now: OffsetDateTime) -> StoreResult<Settings> {
        let mut tenants = self.write();
        let tenant = tenants.get_mut(org).ok_or(StoreError::NotFound)?;
        tenant.settings = Settings {
            kind: tenant.org.kind,
            sms_daily_quota: None,
            delivery_mode: None,
            whitelist: None,
            default_language: None,
            updated_at: now,
            notifier_paused: tenant.settings.notifier_paused,
        };
        Ok(tenant.settings.clone())
    }

    async fn take_sms(&self, org: &OrgId, user: Uuid, day: Date, limit: u32) -> StoreResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let mut sms = self.sms();
        let count = sms.counters.entry((day, org.clone(), user)).or_insert(0);
        if *count < limit {
            *count += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn sms_counters(&self, day: Date) -> StoreResult<Vec<SmsCounter>> {
        Ok(self
            .sms()
            .counters
            .iter()
            .filter(|((d, _, _), _)| *d == day)
            .map(|((d, org, user), count)| SmsCounter {
                organization: org.clone(),
                user_id: *user,
                day: *d,
                count: *count,
            })
            .collect())
    }

    async fn record_sms_usage(&self, usage: &SmsUsage) -> StoreResult<bool> {
        let mut sms = self.sms();
        let key = (usage.organization.clone(), usage.day);
        if sms.usage.contains_key(&key) {
            return Ok(false);
        }
        sms.usage.insert(key, usage.clone());
        Ok(true)
    }

    async fn sms_usage(&self, org: &OrgId, day: Date) -> StoreResult<Option<SmsUsage>> {
        Ok(self.sms().usage.get(&(org.clone(), day)).cloned())
    }

    async fn delete_sms_counters(&self, counters: &[SmsCounter]) -> StoreResult<()> {
        let mut sms = self.sms();
        for c in counters {
            sms.counters
                .remove(&(c.day, c.organization.clone(), c.user_id));
        }
        Ok(())
    }

    async fn set_notifier_paused(&self, org: &OrgId, paused: bool) -> StoreResult<bool> {
        let mut tenants = self.write();
        let tenant = tenants.get_mut(org).ok_or(StoreError::NotFound)?;
        let changed = tenant.settings.notifier_paused != paused;
        tenant.settings.notifier_paused = paused;
        Ok(changed)
    }

    async fn get_preferences(&self, org: &OrgId, user: Uuid) -> StoreResult<Vec<Preference>> {
        Ok(self
            .with_tenant(org, |t| {
                t.preferences
                    .get(&user)
                    .map(|p| p.values().cloned().collect())
            })
            .flatten()
            .unwrap_or_default())
    }

    async fn set_preferences(
        &self,
        org: &OrgId,
        user: Uuid,
        changes: &[(Uuid, bool)],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Preference>> {
        let mut tenants = self.write();
        let tenant = tenants.get_mut(org).ok_or(StoreError::NotFound)?;
        let prefs = tenant.preferences.entry(user).or_default();
        for &(template, disabled) in changes {
            if prefs.get(&template).is_some_and(|p| p.disabled == disabled) {
                continue;
            }
            prefs.insert(
                template,
                Preference {
                    template,
                    disabled,
                    updated_at: now,
                },
            );
        }
        Ok(prefs.values().cloned().collect())
    }

    async fn template_preferences(
        &self,
        org: &OrgId,
        template: Uuid,
        users: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, bool>> {
        Ok(self
            .with_tenant(org, |t| {
                users
                    .iter()
                    .filter_map(|u| {
                        let p = t.preferences.get(u)?.get(&template)?;
                        Some((*u, p.disabled))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn get_delivery(
        &self,
        org: &OrgId,
        created_at: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Option<Delivery>> {
        let key = Delivery::key_of(created_at, id);
        Ok(self
            .with_tenant(org, |t| t.deliveries.get(&key).cloned())
            .flatten())
    }

    async fn create_event(
        &self,
        event: &Event,
        key_expires: OffsetDateTime,
    ) -> StoreResult<EventCreated> {
        let mut tenants = self.write();
        let tenant = tenants
            .get_mut(&event.organization)
            .ok_or(StoreError::NotFound)?;
        if let Some(key) = &event.idempotency_key {
            if let Some((first, until)) = tenant.idempotency.get(key)
                && *until > event.created_at
            {
                {
                    return Ok(match tenant.events.get(first) {
                        Some(first) if first.body_hash == event.body_hash => {
                            EventCreated::Replay(first.clone())
                        }
                        _ => EventCreated::KeyReused,
                    });
                }
            }
            tenant
                .idempotency
                .insert(key.clone(), (event.id, key_expires));
        }
        tenant.events.insert(event.id, event.clone());
        Ok(EventCreated::New)
    }

    async fn get_event(&self, org: &OrgId, id: Uuid) -> StoreResult<Option<Event>> {
        Ok(self
            .with_tenant(org, |t| t.events.get(&id).cloned())
            .flatten())
    }

    async fn delete_event(&self, event: &Event) -> StoreResult<()> {
        if let Some(tenant) = self.write().get_mut(&event.organization) {
            tenant.events.remove(&event.id);
            if let Some(key) = &event.idempotency_key
                && tenant
                    .idempotency
                    .get(key)
                    .is_some_and(|(id, _)| *id == event.id)
            {
                tenant.idempotency.remove(key);
            }
        }
        Ok(())
    }

    async fn put_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<()> {
        let mut tenants = self.write();
        for d in deliveries {
            if let Some(tenant) = tenants.get_mut(&d.organization) {
                tenant.deliveries.insert(d.list_key(), d.clone());
            }
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        org: &OrgId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        let items: Vec<Delivery> = self
            .with_tenant(org, |t| {
                let before = match &page.after {
                    Some(after) => Bound::Excluded(after.clone()),
                    None => Bound::Unbounded,
                };
                t.deliveries
                    .range((Bound::Unbounded, before))
                    .rev()
                    .map(|(_, d)| d)
                    .filter(|d| filter.status.is_none_or(|s| d.status == s))
                    .filter(|d| filter.event.is_none_or(|e| d.event == Some(e)))
                    .take(page.limit + 1)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page::from_overfetch(items, page.limit, Delivery::list_key))
    }

    async fn release_held(&self, delivery: &Delivery) -> StoreResult<bool> {
        use crate::model::DeliveryStatus as S;
        let mut tenants = self.write();
        match Self::delivery_mut(&mut tenants, delivery) {
            Some(d) if d.status == S::Held => {
                d.status = S::Queued;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn claim_delivery(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        use crate::model::DeliveryStatus as S;
        let mut tenants = self.write();
        let tenant = tenants
            .get_mut(&delivery.organization)
            .ok_or(StoreError::NotFound)?;
        let d = tenant
            .deliveries
            .entry(delivery.list_key())
            .or_insert_with(|| Delivery {
                status: S::Queued,
                attempts: 0,
                last_error: None,
                reason: None,
                lease_until: None,
                ..delivery.clone()
            });
        match d.status {
            S::Held => Ok(Claim::Held),
            S::Sent | S::Failed | S::Skipped => Ok(Claim::Settled(d.status)),
            S::Sending if d.lease_until.is_some_and(|l| l >= now) => Ok(Claim::Busy),
            S::Queued | S::Sending => {
                d.status = S::Sending;
                d.lease_until = Some(lease_until);
                d.attempts += 1;
                d.updated_at = now;
                Ok(Claim::Claimed(Box::new(d.clone())))
            }
        }
    }

    async fn settle_delivery(
        &self,
        delivery: &Delivery,
        lease_until: OffsetDateTime,
        outcome: &Outcome,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        use crate::model::DeliveryStatus as S;
        let mut tenants = self.write();
        let Some(d) = Self::delivery_mut(&mut tenants, delivery) else {
            return Ok(false);
        };
        if d.status != S::Sending || d.lease_until != Some(lease_until) {
            return Ok(false);
        }
        d.lease_until = None;
        d.updated_at = now;
        match outcome {
            Outcome::Sent => d.status = S::Sent,
            Outcome::Failed(e) => {
                d.status = S::Failed;
                d.last_error = Some(e.clone());
            }
            Outcome::Retry(e) => {
                d.status = S::Queued;
                d.last_error = Some(e.clone());
            }
            Outcome::Skipped(reason) => {
                d.status = S::Skipped;
                d.reason = Some(reason.clone());
            }
            Outcome::Held => d.status = S::Held,
        }
        Ok(true)
    }
}
