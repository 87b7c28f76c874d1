//! The domain layer: the rules that more than one route (or a route and a worker) share, with no
//! knowledge of HTTP. Handlers parse, authorize, call these, and shape the answer; the errors
//! they return are the store's and the queue's, which each host maps to its own answers.

pub mod test_notifications;
pub mod users;
