//! What a batch of the sender shares, read once: [`Memo`] (one read per key, shared by whoever
//! asks) and the sender's [`BatchReads`].

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use uuid::Uuid;

use super::Sender;
use crate::model::{Event, Notification, OperationalWebhook, Settings};
use crate::model::{NotificationId, OrgId};
use crate::ports::store::StoreResult;

/// One read per key, shared by whoever asks for it: the first caller reads, the others wait for
/// that read (a failed read is not kept: the next caller tries again).
pub(crate) struct Memo<K, V>(Mutex<HashMap<K, Arc<OnceCell<V>>>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    pub(crate) async fn get<E, F>(&self, key: K, read: impl FnOnce() -> F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        let cell = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        cell.get_or_try_init(read).await.cloned()
    }
}

/// What the deliveries of one batch share, read once per batch rather than once per delivery:
/// the organizations' settings (the pause, the SMS quota), the events, the notifications. A
/// batch lives for seconds; the pause is read again before a delivery is held or released.
#[derive(Default)]
pub struct BatchReads {
    settings: Memo<OrgId, Option<Arc<Settings>>>,
    events: Memo<(OrgId, Uuid), Option<Arc<Event>>>,
    notifications: Memo<(OrgId, NotificationId), Option<Arc<Notification>>>,
    operational: Memo<OrgId, Option<Arc<OperationalWebhook>>>,
}

impl BatchReads {
    pub(super) async fn settings(
        &self,
        sender: &Sender<'_>,
        org: &OrgId,
    ) -> StoreResult<Option<Arc<Settings>>> {
        self.settings
            .get(org.clone(), || async {
                Ok(sender.settings.get_settings(org).await?.map(Arc::new))
            })
            .await
    }

    pub(super) async fn event(
        &self,
        sender: &Sender<'_>,
        org: &OrgId,
        id: Uuid,
    ) -> StoreResult<Option<Arc<Event>>> {
        self.events
            .get((org.clone(), id), || async {
                Ok(sender.events.get_event(org, id).await?.map(Arc::new))
            })
            .await
    }

    pub(super) async fn notification(
        &self,
        sender: &Sender<'_>,
        org: &OrgId,
        id: &NotificationId,
    ) -> StoreResult<Option<Arc<Notification>>> {
        self.notifications
            .get((org.clone(), id.clone()), || async {
                Ok(sender
                    .notifications
                    .get_notification(org, id)
                    .await?
                    .map(Arc::new))
            })
            .await
    }

    /// The organization's operational webhook.
    pub(super) async fn operational(
        &self,
        sender: &Sender<'_>,
        org: &OrgId,
    ) -> StoreResult<Option<Arc<OperationalWebhook>>> {
        self.operational
            .get(org.clone(), || async {
                Ok(sender
                    .hooks
                    .get_operational_webhook(org)
                    .await?
                    .map(Arc::new))
            })
            .await
    }
}
