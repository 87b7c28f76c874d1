//! Email and SMS: SES v2 and SNS ([`aws`]), or the local server's outbox ([`outbox`]).

pub mod aws;
pub mod outbox;
