//! The ports: what the domain and the workers need from the world, as traits — the store
//! ([`store`]), the queues ([`queue`]), the event intake ([`intake`]) and its outbox ([`outbox`]), the transports
//! ([`transport`]), name resolution ([`net`]) and Slack installs ([`slack`]). The adapters
//! implement them; the edge picks which.

pub mod inbox;
pub mod intake;
pub mod keys;
pub mod limits;
pub mod net;
pub mod outbox;
pub mod page;
pub mod queue;
pub mod slack;
pub mod store;
pub mod transport;
