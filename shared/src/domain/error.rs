//! The domain's errors: why a rule could not be carried out ([`Error`]), and the request field a
//! refused value came from ([`FieldError`]). The edge maps them to its answers.

use serde::Serialize;
use utoipa::ToSchema;

use crate::ports::queue::QueueError;
use crate::ports::store::StoreError;

/// One broken field: `{"field": "events.buildCreated", "message": "must be a boolean"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The longest field path an error echoes, in characters: the rest is cut to `…` (a client's
/// 1 MB key does not come back as a 1 MB error).
pub const FIELD_ECHO_MAX: usize = 128;

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: echo(field.into()),
            message: message.into(),
        }
    }
}

/// `text` cut to [`FIELD_ECHO_MAX`] characters, with `…` where it was cut.
pub fn echo(text: String) -> String {
    match text.char_indices().nth(FIELD_ECHO_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

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

impl From<crate::ports::keys::KeyError> for Error {
    /// A secret that could not be sealed: the key service is out of reach (nothing was written).
    fn from(e: crate::ports::keys::KeyError) -> Self {
        Error::Unavailable(e.to_string())
    }
}
