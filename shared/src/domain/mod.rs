//! The domain layer: the rules that more than one route (or a route and a worker) share, with no
//! knowledge of HTTP. Handlers parse, authorize, call these, and shape the answer; the workers
//! (fan-out, sender) fail with [`Error`] too, which each host maps to its own answers.

pub mod test_notifications;
pub mod users;

use crate::queue::QueueError;
use crate::store::StoreError;

/// Why a rule of the domain (or a worker) could not be carried out: the store or a queue
/// failed. Nothing it was asked to do is half-done on that account; a retry is safe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}
