//! The retry schedule of deliveries (`HERALD_RETRY_SCHEDULE`): the delays before each further
//! attempt, as data.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The delays before each further attempt of a delivery: a delivery gets one attempt more than
/// the schedule has steps. Each delay is drawn with full jitter (uniformly between a tenth of its
/// step and the whole step, so a retry never comes at once); a target's `Retry-After` replaces
/// it, capped by the schedule's longest step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// Svix's schedule without its immediate retry: 8 attempts over about 28 hours.
    pub const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,10h";
    /// The longest step: SQS keeps a received message invisible for at most 12 hours.
    pub const MAX_STEP: Duration = Duration::from_secs(12 * 3600);
    /// The most steps: each attempt is one receive of the message, and SQS's `maxReceiveCount`
    /// goes to 1,000.
    pub const MAX_STEPS: usize = 100;

    /// The steps, in order.
    pub fn steps(&self) -> &[Duration] {
        &self.0
    }

    /// How many attempts a delivery gets: the first, and one after each step. The delivery
    /// queue's `maxReceiveCount` is this.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The longest step (what a `Retry-After` is capped by).
    pub fn longest(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }

    /// How long to wait after the `made`-th attempt failed (1 for the first), or `None` when that
    /// was the last one. `retry_after` is the target's own `Retry-After`.
    pub fn delay(&self, made: u32, retry_after: Option<Duration>) -> Option<Duration> {
        self.delay_jittered(made, retry_after, rand::random::<f64>())
    }

    /// [`RetrySchedule::delay`] with the jitter given: `jitter` in `[0, 1)` picks the wait between
    /// a tenth of the step (0) and the whole step (1).
    pub fn delay_jittered(
        &self,
        made: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let step = *self.0.get(usize::try_from(made).ok()?.checked_sub(1)?)?;
        Some(match retry_after {
            Some(after) => after.min(self.longest()),
            None => step.mul_f64(0.1 + 0.9 * jitter.clamp(0.0, 1.0)),
        })
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(
            [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }
}

/// Parses `5s,5m,30m,2h`: comma-separated durations ([`parse_duration`]), each
/// more than zero and at most 12 hours, 1 to 100 of them. The error says what is wrong and where.
impl FromStr for RetrySchedule {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let steps = raw
            .split(',')
            .enumerate()
            .map(|(i, step)| {
                parse_step(step.trim()).map_err(|e| format!("step {} ({:?}): {e}", i + 1, step))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if steps.len() > Self::MAX_STEPS {
            return Err(format!(
                "has {} steps; at most {} are allowed",
                steps.len(),
                Self::MAX_STEPS
            ));
        }
        Ok(Self(steps))
    }
}

/// Parses a duration written as a whole number and a unit: `ms`, `s`, `m`, `h` or `d` (`250ms`,
/// `5m`, `5d`): the form of `HERALD_RETRY_SCHEDULE`'s steps and of `HERALD_DISABLE_AFTER`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let digits = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| "must be a whole number with a unit: ms, s, m, h or d".to_owned())?;
    Ok(match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        "d" => Duration::from_secs(number.saturating_mul(86_400)),
        _ => return Err("the unit must be ms, s, m, h or d".into()),
    })
}

fn parse_step(step: &str) -> Result<Duration, String> {
    let step = parse_duration(step)?;
    if step.is_zero() {
        return Err("must be more than zero".into());
    }
    if step > RetrySchedule::MAX_STEP {
        return Err("must be at most 12h (SQS's longest visibility timeout)".into());
    }
    Ok(step)
}

/// Writes the schedule back in the form it parses from, in the largest whole unit of each step.
impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let ms = step.as_millis();
            match ms {
                _ if ms % 3_600_000 == 0 => write!(f, "{}h", ms / 3_600_000)?,
                _ if ms % 60_000 == 0 => write!(f, "{}m", ms / 60_000)?,
                _ if ms % 1000 == 0 => write!(f, "{}s", ms / 1000)?,
                _ => write!(f, "{ms}ms")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> RetrySchedule {
        raw.parse()
            .unwrap_or_else(|e| panic!("{raw:?} should parse: {e}"))
    }

    #[test]
    fn the_default_is_seven_steps_eight_attempts_over_about_28_hours() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule, parsed(RetrySchedule::DEFAULT));
        assert_eq!(schedule.attempts(), 8);
        assert_eq!(
            schedule.steps().iter().sum::<Duration>(),
            Duration::from_secs(27 * 3600 + 35 * 60 + 5)
        );
        assert_eq!(schedule.longest(), Duration::from_secs(10 * 3600));
        assert_eq!(schedule.to_string(), RetrySchedule::DEFAULT);
    }

    #[test]
    fn every_unit_parses_and_prints_back() {
        let schedule = parsed(" 250ms, 2s ,90s,3m,1h,12h");
        assert_eq!(
            schedule.steps(),
            [250, 2000, 90_000, 180_000, 3_600_000, 43_200_000].map(Duration::from_millis)
        );
        assert_eq!(schedule.to_string(), "250ms,2s,90s,3m,1h,12h");
    }

    #[test]
    fn a_bad_step_is_named_with_its_position() {
        for (raw, error) in [
            (
                "",
                "step 1 (\"\"): must be a whole number with a unit: ms, s, m, h or d",
            ),
            (
                "5s,,5m",
                "step 2 (\"\"): must be a whole number with a unit: ms, s, m, h or d",
            ),
            (
                "5s,5 m",
                "step 2 (\"5 m\"): the unit must be ms, s, m, h or d",
            ),
            ("5", "step 1 (\"5\"): the unit must be ms, s, m, h or d"),
            ("5w", "step 1 (\"5w\"): the unit must be ms, s, m, h or d"),
            (
                "1d",
                "step 1 (\"1d\"): must be at most 12h (SQS's longest visibility timeout)",
            ),
            (
                "-5s",
                "step 1 (\"-5s\"): must be a whole number with a unit: ms, s, m, h or d",
            ),
            (
                "1.5s",
                "step 1 (\"1.5s\"): the unit must be ms, s, m, h or d",
            ),
            ("0s", "step 1 (\"0s\"): must be more than zero"),
            (
                "5s,13h",
                "step 2 (\"13h\"): must be at most 12h (SQS's longest visibility timeout)",
            ),
            (
                "721m",
                "step 1 (\"721m\"): must be at most 12h (SQS's longest visibility timeout)",
            ),
        ] {
            assert_eq!(
                raw.parse::<RetrySchedule>(),
                Err(error.to_owned()),
                "{raw:?}"
            );
        }
        let long = vec!["1s"; 101].join(",");
        assert_eq!(
            long.parse::<RetrySchedule>(),
            Err("has 101 steps; at most 100 are allowed".to_owned())
        );
        assert_eq!(parsed(&vec!["1s"; 100].join(",")).attempts(), 101);
    }

    #[test]
    fn each_delay_is_jittered_within_its_step_and_none_after_the_last() {
        let schedule = parsed("10s,1h");
        for _ in 0..200 {
            let first = schedule.delay(1, None).unwrap_or_default();
            assert!(
                (Duration::from_secs(1)..=Duration::from_secs(10)).contains(&first),
                "{first:?}"
            );
            let second = schedule.delay(2, None).unwrap_or_default();
            assert!(
                (Duration::from_secs(360)..=Duration::from_secs(3600)).contains(&second),
                "{second:?}"
            );
        }
        assert_eq!(schedule.delay(3, None), None, "two steps: three attempts");
        assert_eq!(schedule.delay(0, None), None, "no attempt made yet");
    }

    #[test]
    fn retry_after_replaces_the_step_capped_by_the_longest_one() {
        let schedule = parsed("10s,1h");
        assert_eq!(
            schedule.delay(1, Some(Duration::from_secs(120))),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            schedule.delay(1, Some(Duration::from_secs(86_400))),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(schedule.delay(3, Some(Duration::from_secs(5))), None);
    }
}
