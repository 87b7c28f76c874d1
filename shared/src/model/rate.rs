//! A webhook or Slack target's rate limit (`rateLimit`): deliveries per second, 1 to 10,000.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// At most this many deliveries per second go to one target, across every sender.
///
/// The sender spaces them evenly ([`RateLimit::spacing`]): one every `1.025 s / limit`. The
/// 2.5 % margin keeps a few milliseconds of network jitter from putting `limit + 1` deliveries
/// into one second at the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct RateLimit(u32);

impl RateLimit {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 10_000;
    /// What a request's error says.
    pub const MESSAGE: &str = "must be a whole number of deliveries per second from 1 to 10000";
    /// The window that [`RateLimit::spacing`] spreads `limit` deliveries over.
    const WINDOW: Duration = Duration::from_millis(1025);

    pub fn new(per_second: u32) -> Option<Self> {
        (Self::MIN..=Self::MAX)
            .contains(&per_second)
            .then_some(Self(per_second))
    }

    /// Reads a JSON value: an integer from 1 to 10,000 (not `2.5`, not `"fast"`).
    pub fn parse(value: &Value) -> Result<Self, &'static str> {
        super::whole_number(value)
            .and_then(|n| u32::try_from(n).ok())
            .and_then(Self::new)
            .ok_or(Self::MESSAGE)
    }

    pub fn per_second(self) -> u32 {
        self.0
    }

    /// The time between two deliveries' slots.
    pub fn spacing(self) -> Duration {
        Self::WINDOW / self.0
    }
}

impl TryFrom<u32> for RateLimit {
    type Error = &'static str;

    fn try_from(n: u32) -> Result<Self, Self::Error> {
        Self::new(n).ok_or(Self::MESSAGE)
    }
}

impl From<RateLimit> for u32 {
    fn from(r: RateLimit) -> u32 {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rate_limit_reads_whole_numbers_from_1_to_10000_only() {
        assert_eq!(
            RateLimit::parse(&json!(1)).map(RateLimit::per_second),
            Ok(1)
        );
        assert_eq!(
            RateLimit::parse(&json!(10_000)).map(RateLimit::per_second),
            Ok(10_000)
        );
        // A whole number written with a fraction is the same integer (JSON Schema says so).
        assert_eq!(
            RateLimit::parse(&json!(349.0)).map(RateLimit::per_second),
            Ok(349)
        );
        for bad in [
            json!(0),
            json!(10_001),
            json!(2.5),
            json!("fast"),
            json!(-1),
            json!(true),
            json!(4_294_967_297_u64),
            json!(2.000_001),
            json!(-0.5),
            json!(1e300),
        ] {
            assert_eq!(RateLimit::parse(&bad), Err(RateLimit::MESSAGE), "{bad}");
        }
    }

    #[test]
    fn spacing_spreads_the_limit_over_a_second_and_a_margin() {
        let twenty = RateLimit::new(20).map(RateLimit::spacing);
        assert_eq!(twenty, Some(Duration::from_micros(51_250)));
        let most = RateLimit::new(10_000).map(RateLimit::spacing);
        assert_eq!(most, Some(Duration::from_nanos(102_500)));
    }
}
