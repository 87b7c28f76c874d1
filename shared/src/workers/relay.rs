//! The relay: sends the queue messages that records marked in the outbox
//! ([`crate::ports::outbox`]) still wait for after a grace period — an event whose function died
//! before its fan-out message was sent, a delivery queued again (resend, recover) or with a test
//! notification's key whose message was lost. Run each minute by the `relay` function, and by
//! the local server on the AWS backend.
//!
//! **Decision:** a sparse index swept each minute rather than DynamoDB Streams. A stream sees
//! every new event at once and cannot tell whether the function's own message went out: the
//! relay would send every message a second time (every event fanned out twice, every
//! delivery's claim read twice). The index holds a record only until its consumer takes it
//! (milliseconds, normally), so the sweep reads almost nothing, and only what was really lost
//! (or is late) is sent again.

use std::time::Duration;

use crate::domain::Error;
use crate::ports::outbox::{Outbox, Relayed};
use crate::ports::queue::{DeliveryMessage, FanoutMessage, Queue};

/// Records read per round of a sweep.
pub const ROUND: usize = 100;
/// Rounds per sweep at most (the index is eventually consistent: a record just marked again may
/// still be listed under its old mark for a moment, and would otherwise be sent again at once).
pub const ROUNDS: usize = 20;
/// How often the relay sweeps: the `relay` function's schedule; the local server sweeps more
/// often (its grace is the same).
pub const EVERY: Duration = Duration::from_secs(60);

/// What the relay works with: the outbox, and the two queues it sends to.
#[derive(Clone, Copy)]
pub struct Relay<'a> {
    pub outbox: &'a dyn Outbox,
    pub fanout: &'a dyn Queue<FanoutMessage>,
    pub deliveries: &'a dyn Queue<DeliveryMessage>,
}

/// Sends the message of every record marked more than `grace` before `now`, marking each again
/// as of `now` first (a sweep that dies after that leaves it to the next one after another
/// grace period). Returns how many messages were sent.
pub async fn sweep(
    relay: &Relay<'_>,
    now: time::OffsetDateTime,
    grace: Duration,
) -> Result<usize, Error> {
    let before = now - grace;
    let mut sent = 0;
    for _ in 0..ROUNDS {
        let stranded = relay.outbox.stranded(before, ROUND).await?;
        let full = stranded.len() == ROUND;
        let marked = relay.outbox.remark(stranded, now).await?;
        let (mut fanout, mut deliveries) = (Vec::new(), Vec::new());
        for s in marked {
            match s.message {
                Relayed::Fanout(m) => fanout.push(m),
                Relayed::Delivery(m) => deliveries.push(m),
            }
        }
        relay.fanout.send(&fanout).await?;
        relay.deliveries.send(&deliveries).await?;
        if fanout.len() + deliveries.len() > 0 {
            tracing::warn!(
                events = fanout.len(),
                deliveries = deliveries.len(),
                "relayed messages that were recorded but not known to be queued"
            );
        }
        sent += fanout.len() + deliveries.len();
        if !full {
            break;
        }
    }
    Ok(sent)
}
