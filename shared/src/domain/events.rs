//! Emitting an event: it is recorded with its idempotency key and its fan-out (its first job, or
//! its targets' deliveries) as one unit ([`crate::ports::intake`]), so accepted means durable,
//! and a failure means nothing happened.

use serde_json::Value;
use uuid::Uuid;

use super::Error;
use super::fanout;
use crate::event_types;
use crate::model::token::sha256_hex;
use crate::model::{Event, EventCreated, Fanout, FanoutStatus};
use crate::model::{EventType, OrgId};
use crate::ports::intake::{EventIntake, FirstFanout};
use crate::ports::store::{EventStore, NotificationStore, SettingsStore};
use crate::telemetry::Metrics;

/// How long an idempotency key holds.
pub const KEY_LIFETIME: time::Duration = time::Duration::hours(24);

/// An event to emit.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub kind: EventType,
    /// An object.
    pub data: Value,
    pub idempotency_key: Option<String>,
}

/// What emitting needs: the intake that records an event with its fan-out, and, where that
/// intake makes deliveries with the event, what it takes to make the targets' (the settings, the
/// notifications) and the metrics its fan-out sizes go to.
#[derive(Clone, Copy)]
pub struct Emitting<'a> {
    pub intake: &'a dyn EventIntake,
    pub settings: &'a dyn SettingsStore,
    pub notifications: &'a dyn NotificationStore,
    pub metrics: &'a Metrics,
}

/// Records `new` in `org` as of `now` and queues its fan-out. A replay (the same key with the
/// same `type` and `data` within [`KEY_LIFETIME`]) returns the first event and queues nothing;
/// the key with another body is [`Error::KeyReused`].
///
/// **Decision:** where the intake writes deliveries in the same unit as the event (the embedded
/// database), the event's deliveries to its Slack and webhook targets (at most one per
/// notification: a hundred) are made here and written with it, and only its recipients are
/// left to a fan-out job: an event with no email or SMS recipient never goes through the
/// fan-out queue. Elsewhere (DynamoDB and SQS) the fan-out function makes them all, so that
/// emitting stays one transaction and one message.
pub async fn emit(
    ports: &Emitting<'_>,
    now: time::OffsetDateTime,
    org: OrgId,
    new: NewEvent,
) -> Result<Event, Error> {
    let canonical = serde_json::json!({"type": new.kind.as_str(), "data": new.data}).to_string();
    let mut event = Event {
        id: Uuid::now_v7(),
        organization: org,
        kind: new.kind,
        data: new.data,
        idempotency_key: new.idempotency_key,
        body_hash: sha256_hex(&canonical),
        created_at: now,
        fanout: Fanout::PENDING,
        fanout_round: 0,
    };
    let first = match ports.intake.makes_deliveries() {
        true => match ports.settings.get_settings(&event.organization).await? {
            Some(settings) => {
                let all = fanout::notifications(ports.notifications, &event.organization).await?;
                let subscribed = fanout::subscribed(&all, &event);
                let deliveries = fanout::target_deliveries(&event, &subscribed, &settings, now);
                let made = deliveries.len() as u64;
                let rest = fanout::people_job(&event, &subscribed, made);
                if rest.is_none() {
                    // Nothing is left to a job: the event is fanned out as it is recorded.
                    event.fanout = Fanout {
                        status: FanoutStatus::Done,
                        deliveries: made,
                    };
                }
                FirstFanout::Made { deliveries, rest }
            }
            None => FirstFanout::Job,
        },
        false => FirstFanout::Job,
    };
    let made = match &first {
        FirstFanout::Made { deliveries, .. } => Some(deliveries.len() as u64),
        FirstFanout::Job => None,
    };
    match ports
        .intake
        .accept(&event, now + KEY_LIFETIME, first)
        .await?
    {
        EventCreated::Replay(first) => Ok(first),
        EventCreated::KeyReused => Err(Error::KeyReused),
        EventCreated::New => {
            if let Some(made) = made {
                ports.metrics.fanout_sizes(now, &[made]);
            }
            Ok(event)
        }
    }
}

/// The fields of its `data` that `event`'s template renders and the event lacks (or has as
/// `null`), sorted: they will render empty.
pub fn missing_fields(event: &Event) -> Vec<String> {
    let empty = serde_json::Map::new();
    event_types::of(event.kind)
        .missing(event.data.as_object().unwrap_or(&empty))
        .map(str::to_owned)
        .collect()
}

/// Fans event `id` out again after its fan-out failed (`fanout/retry`): its fan-out `pending`
/// again and its first job queued, as one unit ([`EventIntake::retry_fanout`]). Deliveries made
/// before it failed are named the same again (their ids are the event's and the target's), so
/// none is sent twice. `NotFound` for an unknown id; `Conflict` naming `fanout.status` unless it
/// is `failed` (or another retry took it first). Returns the event as it is now.
pub async fn retry_fanout(
    events: &dyn EventStore,
    intake: &dyn EventIntake,
    now: time::OffsetDateTime,
    org: &OrgId,
    id: uuid::Uuid,
) -> Result<Event, Error> {
    let mut event = events.get_event(org, id).await?.ok_or(Error::NotFound)?;
    let busy = |status: FanoutStatus| {
        Error::Conflict(vec![crate::domain::FieldError::new(
            "fanout.status",
            format!("the event's fan-out is {status}: only a failed one is retried"),
        )])
    };
    if event.fanout.status != FanoutStatus::Failed {
        return Err(busy(event.fanout.status));
    }
    if !intake.retry_fanout(&event, now).await? {
        return Err(busy(FanoutStatus::Pending));
    }
    event.fanout.status = FanoutStatus::Pending;
    event.fanout_round += 1;
    Ok(event)
}
