//! The domain layer: the rules that more than one route (or a route and a worker) share, with no
//! knowledge of HTTP. Handlers parse, authorize, call these, and shape the answer; the workers
//! (fan-out, sender) fail with [`Error`] too, which each host maps to its own answers.

pub mod deliveries;
pub mod events;
pub mod fanout;
pub mod limits;
pub mod notifications;
pub mod operational;
pub mod organizations;
pub mod recipients;
pub mod settings;
pub mod test_notifications;
pub mod tokens;
pub mod users;

mod error;

pub use error::{Error, FIELD_ECHO_MAX, FieldError, echo};
