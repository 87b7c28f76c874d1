//! The AWS SDK configuration every process shares, built once at start-up.
//!
//! The SDK's HTTPS client trusts only the root CAs of Amazon Trust Services
//! (`shared/certs/amazon-trust-services.pem`), which certify every AWS service endpoint. That is
//! tighter than the system store, and it is cheap: the SDK otherwise reads and parses the whole
//! system trust store when a client is created, which was most of a function's cold start
//! (BENCHMARKS.md). `HERALD_AWS_SYSTEM_ROOTS=true` uses the system store instead (for a
//! TLS-inspecting proxy, or an emulator served over https with its own certificate). Plain-http
//! endpoints (moto) need neither.
//!
//! Every call has time limits ([`timeouts`]), well under a function's own: a dependency that
//! hangs or crawls ends the call in an error (a 503 at the API, a message back on its queue for
//! a worker) instead of the function being killed halfway through what it was doing.

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::SharedCredentialsProvider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

use crate::config::ConfigError;

const AMAZON_ROOTS: &str = include_str!("../../certs/amazon-trust-services.pem");

/// The SDK configuration from the standard AWS variables, with the HTTPS client described above.
pub async fn sdk_config() -> Result<SdkConfig, ConfigError> {
    let system_roots = std::env::var("HERALD_AWS_SYSTEM_ROOTS").is_ok_and(|v| v == "true");
    let trust = if system_roots {
        TrustStore::default()
    } else {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_ROOTS.as_bytes())
    };
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| ConfigError {
            name: "HERALD_AWS_SYSTEM_ROOTS",
            problem: format!("TLS trust store: {e}"),
        })?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let timeouts = timeouts(env("HERALD_AWS_TIMEOUT_MS"))?;
    if let Some(config) = lambda_sdk_config(env, http.clone()) {
        return Ok(config.into_builder().timeout_config(timeouts).build());
    }
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await)
}

/// A call's limit when `HERALD_AWS_TIMEOUT_MS` does not set one: 3 s for the whole call, retries
/// included. DynamoDB and SQS answer in milliseconds; an API function (10 s) makes at most three
/// calls one after another on its longest path (an event: record it, queue its fan-out, and undo
/// the record if the queue failed), 9 s at worst.
pub const DEFAULT_TIMEOUT_MS: u64 = 3_000;

/// The time limits of every AWS call, from `HERALD_AWS_TIMEOUT_MS` (milliseconds, 100 to
/// 600,000; default [`DEFAULT_TIMEOUT_MS`]): the whole call (all its attempts) within that, each
/// attempt within half of it, and a connection within half of it or 1 s, whichever is shorter.
pub fn timeouts(raw: Option<String>) -> Result<TimeoutConfig, ConfigError> {
    let ms = match raw {
        None => DEFAULT_TIMEOUT_MS,
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (100..=600_000).contains(ms))
            .ok_or_else(|| ConfigError {
                name: "HERALD_AWS_TIMEOUT_MS",
                problem: format!("must be milliseconds from 100 to 600000, not {raw:?}"),
            })?,
    };
    let whole = std::time::Duration::from_millis(ms);
    let attempt = whole / 2;
    Ok(TimeoutConfig::builder()
        .operation_timeout(whole)
        .operation_attempt_timeout(attempt)
        .connect_timeout(attempt.min(std::time::Duration::from_secs(1)))
        .build())
}

/// Inside Lambda, the SDK configuration straight from the variables Lambda sets: the region, the
/// function role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), plus `AWS_ENDPOINT_URL` and `AWS_MAX_ATTEMPTS` when given. That is all
/// `aws_config`'s provider chains would find there (there are no profile files, no SSO, no IMDS),
/// and skipping them takes ~0.2 ms off a function's cold start (BENCHMARKS.md). Outside Lambda
/// (the local server, tests), or without those variables, `None`: the full chains run.
fn lambda_sdk_config(
    var: impl Fn(&str) -> Option<String>,
    http: aws_sdk_dynamodb::config::SharedHttpClient,
) -> Option<SdkConfig> {
    var("AWS_LAMBDA_FUNCTION_NAME")?;
    var("AWS_ACCESS_KEY_ID")?;
    let region = var("AWS_REGION")?;
    let attempts = var("AWS_MAX_ATTEMPTS")
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .http_client(http);
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Some(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_trust_store_holds_the_five_amazon_roots() {
        assert_eq!(
            AMAZON_ROOTS.matches("-----BEGIN CERTIFICATE-----").count(),
            5
        );
    }

    fn lambda_vars(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut vars: std::collections::HashMap<String, String> = [
            ("AWS_LAMBDA_FUNCTION_NAME", "create-notification"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_REGION", "eu-west-1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in extra {
            if v.is_empty() {
                vars.remove(*k);
            } else {
                vars.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        move |name| vars.get(name).cloned()
    }

    fn http() -> aws_sdk_dynamodb::config::SharedHttpClient {
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build_https()
    }

    #[test]
    fn every_call_is_limited_to_3_s_and_each_attempt_to_half_unless_told_otherwise() {
        let limits = |raw: Option<&str>| {
            timeouts(raw.map(str::to_owned))
                .map(|t| {
                    (
                        t.operation_timeout(),
                        t.operation_attempt_timeout(),
                        t.connect_timeout(),
                    )
                })
                .map_err(|e| (e.name, e.problem))
        };
        let ms = std::time::Duration::from_millis;
        assert_eq!(
            limits(None),
            Ok((Some(ms(3000)), Some(ms(1500)), Some(ms(1000))))
        );
        assert_eq!(
            limits(Some("800")),
            Ok((Some(ms(800)), Some(ms(400)), Some(ms(400))))
        );
        assert_eq!(
            limits(Some("600000")),
            Ok((Some(ms(600_000)), Some(ms(300_000)), Some(ms(1000))))
        );
        for bad in ["99", "600001", "3s", "-5", ""] {
            assert_eq!(
                limits(Some(bad)),
                Err((
                    "HERALD_AWS_TIMEOUT_MS",
                    format!("must be milliseconds from 100 to 600000, not {bad:?}")
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn inside_lambda_the_config_comes_from_lambdas_variables() {
        let config = lambda_sdk_config(lambda_vars(&[]), http());
        let config = config.unwrap_or_else(|| panic!("Lambda variables give a config"));
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(3));
        assert!(config.credentials_provider().is_some());

        let config = lambda_sdk_config(
            lambda_vars(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
                ("AWS_MAX_ATTEMPTS", "1"),
            ]),
            http(),
        );
        let config = config.unwrap_or_else(|| panic!("config"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(1));
    }

    #[test]
    fn outside_lambda_or_without_its_variables_the_provider_chains_run() {
        for missing in [
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_ACCESS_KEY_ID",
            "AWS_REGION",
        ] {
            assert!(
                lambda_sdk_config(lambda_vars(&[(missing, "")]), http()).is_none(),
                "{missing}"
            );
        }
    }

    #[tokio::test]
    async fn clients_build_on_the_amazon_roots() {
        let config = sdk_config().await;
        assert!(config.is_ok(), "{:?}", config.err());
        let _client = aws_sdk_dynamodb::Client::new(&config.unwrap_or_else(|_| unreachable!()));
    }
}
