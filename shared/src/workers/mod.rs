//! The workers: the jobs that run beside the API — the fan-out ([`fanout`]), the sender
//! ([`sender`]) and the SMS quota days ([`quota`]) — plain async functions over the domain and
//! the ports, run by a Lambda function each or by the local server's loops.

pub mod dead_letters;
pub mod fanout;
pub mod quota;
pub mod sender;
