//! The domain layer: the rules that more than one route (or a route and a worker) share, with no
//! knowledge of HTTP. Handlers parse, authorize, call these, and shape the answer; the workers
//! (fan-out, sender) fail with [`Error`] too, which each host maps to its own answers.

pub mod deliveries;
pub mod events;
pub mod notifications;
pub mod operational;
pub mod organizations;
pub mod recipients;
pub mod settings;
pub mod test_notifications;
pub mod tokens;
pub mod users;

use crate::error::FieldError;
use crate::queue::QueueError;
use crate::store::StoreError;

/// Why a rule of the domain (or a worker) could not be carried out. Nothing it was asked to do
/// is half-done on that account: a refused value wrote nothing, and after a failed store, queue
/// or Slack a retry is safe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Values the client gave break a rule only the domain can check (a webhook URL that
    /// resolves to a private address, a Slack code that Slack refuses, a user that does not
    /// exist), each named by the field it came from.
    #[error("invalid: {0:?}")]
    Invalid(Vec<FieldError>),
    /// What the client asked to create is taken already (an id, a username, an email), each
    /// named by its field.
    #[error("conflict: {0:?}")]
    Conflict(Vec<FieldError>),
    /// What was named does not exist in the organization.
    #[error("not found")]
    NotFound,
    /// An idempotency key was given again with another body within its lifetime.
    #[error("idempotency key reused with another body")]
    KeyReused,
    /// A service the rule depends on (Slack) could not be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}
