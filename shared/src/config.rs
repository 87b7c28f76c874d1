//! Typed configuration, read once from the environment at start-up. A missing or invalid
//! value fails start-up with a message naming the variable.

use std::env;

use url::Url;

use crate::model::retry::RetrySchedule;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite database in `HERALD_DATA_DIR` (the local server's default).
    Embedded,
    /// DynamoDB, SQS, SES and SNS through the standard AWS variables.
    Aws,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub backend: Backend,
    /// `TABLE_NAME`: the DynamoDB table (required with the `aws` backend).
    pub table_name: String,
    /// `HERALD_OPERATOR_TOKEN`: the deployment's operator secret for `POST /v1/organizations`.
    pub operator_token: Option<String>,
    /// `HERALD_OPERATOR_TOKEN_PARAMETER`: the SSM parameter holding it instead (Lambda; it wins).
    pub operator_token_parameter: Option<String>,
    /// `HERALD_SLACK_API_URL`, default `https://slack.com/api`; an absolute URL without a trailing
    /// slash.
    pub slack_api_url: String,
    pub slack_client_id: Option<String>,
    pub slack_client_secret: Option<String>,
    /// `HERALD_SLACK_CLIENT_SECRET_PARAMETER`: the SSM parameter holding it instead (it wins).
    pub slack_client_secret_parameter: Option<String>,
    /// `HERALD_EMAIL_FROM`: the SES sender address. Email is a dispatch method only with it (or
    /// on the local server, whose outbox takes every email).
    pub email_from: Option<String>,
    /// `HERALD_SMS_ENABLED=true`: SMS through SNS is a dispatch method (always on the local
    /// server, whose outbox takes every SMS).
    pub sms_enabled: bool,
    /// The local server: email and SMS go to its outbox (`GET /_local/outbox`).
    pub local_outbox: bool,
    /// `HERALD_DELIVERY_QUEUE_URL`: the SQS queue of deliveries (required by the functions that
    /// enqueue, with the `aws` backend).
    pub delivery_queue_url: Option<String>,
    /// `HERALD_FANOUT_QUEUE_URL`: the SQS queue of emitted events (required by the functions that
    /// enqueue fan-outs, with the `aws` backend).
    pub fanout_queue_url: Option<String>,
    /// `HERALD_ALLOW_PRIVATE_TARGETS=true`: allows `http` and private/loopback webhook targets
    /// (local use and tests only).
    pub allow_private_targets: bool,
    /// `HERALD_PORT` of the local server, default 3000.
    pub port: u16,
    /// `HERALD_DATA_DIR` of the local server, default `./herald-data`: its database and the
    /// ready-made organization's credentials.
    pub data_dir: std::path::PathBuf,
    /// `HERALD_RETENTION_DAYS`, default 30: how long events and the delivery log are kept
    /// (SQLite: the scheduled prune; DynamoDB: the items' TTL).
    pub retention: time::Duration,
    /// At most this many notifications per organization.
    pub max_notifications: u32,
    /// `HERALD_METRICS_NAMESPACE`: the CloudWatch namespace of the sender's and the fan-out's
    /// metrics (the template sets `Herald/<stack name>`, so two stacks in one account do not mix).
    pub metrics_namespace: String,
    /// `HERALD_RETRY_SCHEDULE`, default `5s,5m,30m,2h,5h,10h,10h`: the delays before each further
    /// attempt of a delivery. With `HERALD_DELIVERY_ATTEMPTS` (the template passes the delivery
    /// queue's `maxReceiveCount`), start-up checks that the two agree: steps + 1 = attempts.
    pub retry_schedule: RetrySchedule,
    /// `HERALD_DISABLE_AFTER`, default `5d`: a webhook or Slack notification whose deliveries
    /// have all failed for this long (and at least 10 of them) is disabled.
    pub disable_after: std::time::Duration,
    /// `HERALD_RATE_LIMITS`, default `true`: the sender holds each target to its `rateLimit` and
    /// to the `Retry-After` of its 429s. `false` sends without pacing: an operator's switch, and
    /// the baseline of the sender's benchmark.
    pub rate_limits: bool,
    /// `HERALD_RELAY_GRACE`, default `45s` (1 s to 10 min): how long a record marked as needing
    /// a queue message (an event, a delivery queued again) waits before the relay sends its
    /// message itself. Longer than any function's own send can take, so the relay sends only
    /// what was lost; with the relay's schedule each minute, a lost message goes out within
    /// 2 minutes.
    pub relay_grace: std::time::Duration,
    /// `HERALD_KMS_KEY_ID`: the KMS key that seals secrets at rest on AWS (envelope encryption,
    /// a data key kept in the table). Set by the stack on every function that seals or opens one.
    pub kms_key_id: Option<String>,
    /// `HERALD_MASTER_KEY`: the local server's key for secrets at rest (base64 of 32 bytes);
    /// `HERALD_DATA_DIR/master.key` when unset.
    pub master_key: Option<String>,
    /// `HERALD_SEAL_SECRETS`, default `true`. `false` stores new secrets in plain text: the
    /// baseline of the sealing benchmark, honoured by `herald-local` only (it warns at start).
    pub seal_secrets: bool,
    /// `HERALD_ORGANIZATION_LIMITS`, default `true`. `false` accepts events without counting them
    /// against the organizations' `eventsPerSecond`: the baseline of the limit's emit benchmark
    /// (as `HERALD_RATE_LIMITS` is pacing's). Never for real tenants.
    pub organization_limits: bool,
}

impl Default for Config {
    /// The local defaults: embedded backend, private targets allowed.
    fn default() -> Self {
        Self {
            backend: Backend::Embedded,
            table_name: "herald".into(),
            operator_token: None,
            operator_token_parameter: None,
            slack_api_url: DEFAULT_SLACK_API_URL.into(),
            slack_client_id: None,
            slack_client_secret: None,
            slack_client_secret_parameter: None,
            email_from: None,
            sms_enabled: true,
            local_outbox: true,
            delivery_queue_url: None,
            fanout_queue_url: None,
            allow_private_targets: true,
            port: 3000,
            data_dir: DEFAULT_DATA_DIR.into(),
            retention: time::Duration::days(DEFAULT_RETENTION_DAYS),
            max_notifications: 100,
            metrics_namespace: DEFAULT_METRICS_NAMESPACE.into(),
            retry_schedule: RetrySchedule::default(),
            disable_after: DEFAULT_DISABLE_AFTER,
            relay_grace: DEFAULT_RELAY_GRACE,
            rate_limits: true,
            kms_key_id: None,
            master_key: None,
            seal_secrets: true,
            organization_limits: true,
        }
    }
}

const DEFAULT_DATA_DIR: &str = "./herald-data";
const DEFAULT_DISABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(5 * 86_400);
const DEFAULT_RELAY_GRACE: std::time::Duration = std::time::Duration::from_secs(45);
const DEFAULT_RETENTION_DAYS: i64 = 30;
/// Ten years: a longer retention is a mistake, not a policy.
const MAX_RETENTION_DAYS: i64 = 3650;

const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
const DEFAULT_METRICS_NAMESPACE: &str = "Herald";

fn var(name: &'static str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).as_deref() {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ConfigError {
            name,
            problem: format!("must be true or false, not {other:?}"),
        }),
    }
}

impl Config {
    /// Reads the environment. `local` picks the local server's defaults (embedded backend unless
    /// `HERALD_BACKEND=aws`, private targets allowed unless turned off); otherwise (Lambda) the
    /// backend is AWS, `TABLE_NAME` is required and private targets are refused unless allowed.
    pub fn from_env(local: bool) -> Result<Self, ConfigError> {
        let backend = match var("HERALD_BACKEND").as_deref() {
            None if local => Backend::Embedded,
            None => Backend::Aws,
            Some("embedded" | "sqlite") => Backend::Embedded,
            Some("aws") => Backend::Aws,
            Some(other) => {
                return Err(ConfigError {
                    name: "HERALD_BACKEND",
                    problem: format!("must be embedded (SQLite) or aws, not {other:?}"),
                });
            }
        };
        let table_name = match (var("TABLE_NAME"), backend) {
            (Some(t), _) => t,
            (None, Backend::Embedded) => "herald".into(),
            (None, Backend::Aws) if local => "herald".into(),
            (None, Backend::Aws) => {
                return Err(ConfigError {
                    name: "TABLE_NAME",
                    problem: "is required".into(),
                });
            }
        };
        let slack_api_url = match var("HERALD_SLACK_API_URL") {
            None => DEFAULT_SLACK_API_URL.into(),
            Some(raw) => {
                Url::parse(&raw).map_err(|e| ConfigError {
                    name: "HERALD_SLACK_API_URL",
                    problem: e.to_string(),
                })?;
                raw.trim_end_matches('/').to_owned()
            }
        };
        let port = match var("HERALD_PORT") {
            None => 3000,
            Some(raw) => raw.parse().map_err(|_| ConfigError {
                name: "HERALD_PORT",
                problem: "must be a port number".into(),
            })?,
        };
        let retention_days = match var("HERALD_RETENTION_DAYS") {
            None => DEFAULT_RETENTION_DAYS,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
                .ok_or_else(|| ConfigError {
                    name: "HERALD_RETENTION_DAYS",
                    problem: format!(
                        "must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, not {raw:?}"
                    ),
                })?,
        };
        let retry_schedule = retry_schedule(
            var("HERALD_RETRY_SCHEDULE"),
            var("HERALD_DELIVERY_ATTEMPTS"),
        )?;
        let disable_after = disable_after(var("HERALD_DISABLE_AFTER"))?;
        Ok(Self {
            backend,
            table_name,
            operator_token: operator_token(var("HERALD_OPERATOR_TOKEN"))?,
            operator_token_parameter: var("HERALD_OPERATOR_TOKEN_PARAMETER"),
            slack_api_url,
            slack_client_id: var("HERALD_SLACK_CLIENT_ID"),
            slack_client_secret: var("HERALD_SLACK_CLIENT_SECRET"),
            slack_client_secret_parameter: var("HERALD_SLACK_CLIENT_SECRET_PARAMETER"),
            email_from: var("HERALD_EMAIL_FROM"),
            sms_enabled: local || flag("HERALD_SMS_ENABLED", false)?,
            local_outbox: local,
            delivery_queue_url: var("HERALD_DELIVERY_QUEUE_URL"),
            fanout_queue_url: var("HERALD_FANOUT_QUEUE_URL"),
            allow_private_targets: flag("HERALD_ALLOW_PRIVATE_TARGETS", local)?,
            port,
            data_dir: var("HERALD_DATA_DIR")
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into())
                .into(),
            retention: time::Duration::days(retention_days),
            max_notifications: 100,
            metrics_namespace: var("HERALD_METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.into()),
            retry_schedule,
            disable_after,
            rate_limits: flag("HERALD_RATE_LIMITS", true)?,
            relay_grace: relay_grace(var("HERALD_RELAY_GRACE"))?,
            kms_key_id: var("HERALD_KMS_KEY_ID"),
            master_key: var("HERALD_MASTER_KEY"),
            seal_secrets: flag("HERALD_SEAL_SECRETS", true)?,
            organization_limits: flag("HERALD_ORGANIZATION_LIMITS", true)?,
        })
    }
}

/// `HERALD_DISABLE_AFTER`: a duration more than zero ([`crate::model::retry::parse_duration`]),
/// 5 days without it.
fn disable_after(raw: Option<String>) -> Result<std::time::Duration, ConfigError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_DISABLE_AFTER);
    };
    match crate::model::retry::parse_duration(raw.trim()) {
        Ok(d) if d.is_zero() => Err("must be more than zero".to_owned()),
        parsed => parsed,
    }
    .map_err(|problem| ConfigError {
        name: "HERALD_DISABLE_AFTER",
        problem,
    })
}

/// The shortest operator token taken: a guessable one would open `POST /v1/organizations` (and
/// the local server's outbox) to anyone.
pub const MIN_OPERATOR_TOKEN: usize = 32;

/// `HERALD_OPERATOR_TOKEN`, when set: at least [`MIN_OPERATOR_TOKEN`] characters, or start-up
/// stops naming it.
fn operator_token(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    match raw {
        Some(token) if token.chars().count() < MIN_OPERATOR_TOKEN => Err(ConfigError {
            name: "HERALD_OPERATOR_TOKEN",
            problem: format!(
                "must be at least {MIN_OPERATOR_TOKEN} characters (it has {}): a short one can be guessed",
                token.chars().count()
            ),
        }),
        token => Ok(token),
    }
}

/// `HERALD_RELAY_GRACE`: a duration from 1 s to 10 min, 45 s without it.
fn relay_grace(raw: Option<String>) -> Result<std::time::Duration, ConfigError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_RELAY_GRACE);
    };
    let range = std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(600);
    match crate::model::retry::parse_duration(raw.trim()) {
        Ok(d) if !range.contains(&d) => Err(format!("must be from 1s to 10m, not {raw:?}")),
        parsed => parsed,
    }
    .map_err(|problem| ConfigError {
        name: "HERALD_RELAY_GRACE",
        problem,
    })
}

/// The retry schedule from `HERALD_RETRY_SCHEDULE` (the default without it), checked against
/// `HERALD_DELIVERY_ATTEMPTS` when that is given: a queue whose `maxReceiveCount` differs from the
/// schedule's attempts would dead-letter deliveries early, or keep failed ones coming back.
fn retry_schedule(
    raw: Option<String>,
    attempts: Option<String>,
) -> Result<RetrySchedule, ConfigError> {
    let schedule = match raw {
        None => RetrySchedule::default(),
        Some(raw) => raw.parse().map_err(|problem| ConfigError {
            name: "HERALD_RETRY_SCHEDULE",
            problem,
        })?,
    };
    if let Some(attempts) = attempts
        && attempts.trim().parse::<u32>().ok() != Some(schedule.attempts())
    {
        return Err(ConfigError {
            name: "HERALD_DELIVERY_ATTEMPTS",
            problem: format!(
                "is {attempts:?}, but HERALD_RETRY_SCHEDULE ({schedule}) gives {} attempts \
                 (its steps + 1): set the delivery queue's maxReceiveCount (the template's \
                 DeliveryAttempts) to {}",
                schedule.attempts(),
                schedule.attempts()
            ),
        });
    }
    Ok(schedule)
}

impl Config {
    /// The methods this deployment can deliver with (the admin API's `available`), in the API's
    /// order: `email` and `sms` when their senders are configured, `slack` and `webhook` always.
    pub fn dispatch_methods(&self) -> Vec<crate::model::DispatchMethod> {
        use crate::model::DispatchMethod as M;
        let email = self.local_outbox || self.email_from.is_some();
        M::ALL
            .iter()
            .copied()
            .filter(|m| match m {
                M::Email => email,
                M::Sms => self.sms_enabled,
                M::Slack | M::Webhook => true,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn the_retry_schedule_defaults_and_parses() {
        let default = retry_schedule(None, None).map(|s| s.to_string());
        assert_eq!(default.ok().as_deref(), Some(RetrySchedule::DEFAULT));
        let given = retry_schedule(some("1s,2s"), some("3")).map(|s| s.attempts());
        assert_eq!(given.ok(), Some(3));
    }

    #[test]
    fn an_invalid_retry_schedule_names_the_variable() {
        let e = retry_schedule(some("5s,soon"), None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "configuration: HERALD_RETRY_SCHEDULE: step 2 (\"soon\"): must be a whole number \
                 with a unit: ms, s, m, h or d"
            )
        );
    }

    #[test]
    fn disable_after_defaults_to_five_days_and_takes_seconds_for_tests() {
        let days = std::time::Duration::from_secs(5 * 86_400);
        assert_eq!(disable_after(None).ok(), Some(days));
        assert_eq!(
            disable_after(some("3s")).ok(),
            Some(std::time::Duration::from_secs(3))
        );
        for (raw, problem) in [
            ("0s", "must be more than zero"),
            (
                "soon",
                "must be a whole number with a unit: ms, s, m, h or d",
            ),
            ("5 days", "the unit must be ms, s, m, h or d"),
        ] {
            let e = disable_after(some(raw)).err().map(|e| e.to_string());
            assert_eq!(
                e,
                Some(format!("configuration: HERALD_DISABLE_AFTER: {problem}")),
                "{raw}"
            );
        }
    }

    #[test]
    fn an_operator_token_under_32_characters_stops_start_up_naming_it() {
        assert_eq!(operator_token(None).ok(), Some(None));
        let long = "a".repeat(32);
        assert_eq!(operator_token(some(&long)).ok(), Some(Some(long.clone())));
        let e = operator_token(some("short-operator-token"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "configuration: HERALD_OPERATOR_TOKEN: must be at least 32 characters (it has 20): a short one can be guessed"
            )
        );
    }

    #[test]
    fn the_relay_grace_defaults_to_45_seconds_and_stays_within_a_second_and_ten_minutes() {
        let secs = std::time::Duration::from_secs;
        assert_eq!(relay_grace(None).ok(), Some(secs(45)));
        assert_eq!(relay_grace(some("3s")).ok(), Some(secs(3)));
        assert_eq!(relay_grace(some("10m")).ok(), Some(secs(600)));
        for (raw, problem) in [
            ("500ms", "must be from 1s to 10m, not \"500ms\""),
            ("11m", "must be from 1s to 10m, not \"11m\""),
            (
                "later",
                "must be a whole number with a unit: ms, s, m, h or d",
            ),
        ] {
            let e = relay_grace(some(raw)).err().map(|e| e.to_string());
            assert_eq!(
                e,
                Some(format!("configuration: HERALD_RELAY_GRACE: {problem}")),
                "{raw}"
            );
        }
    }

    #[test]
    fn attempts_that_disagree_with_the_schedule_name_both_variables() {
        let e = retry_schedule(None, some("5")).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "configuration: HERALD_DELIVERY_ATTEMPTS: is \"5\", but HERALD_RETRY_SCHEDULE \
                 (5s,5m,30m,2h,5h,10h,10h) gives 8 attempts (its steps + 1): set the delivery \
                 queue's maxReceiveCount (the template's DeliveryAttempts) to 8"
            )
        );
    }
}
