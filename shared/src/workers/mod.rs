//! The workers: the jobs that run beside the API — the fan-out ([`fanout`]), the sender
//! ([`sender`]), the SMS quota days ([`quota`]), the dead letters ([`dead_letters`]) and the
//! outbox relay ([`relay`]) — plain async functions over the domain and
//! the ports, run by a Lambda function each or by the local server's loops.

pub mod dead_letters;
pub mod fanout;
pub mod quota;
pub mod relay;
pub mod sender;
