//! The AWS SDK configuration every process shares, built once at start-up.
//!
//! The SDK's HTTPS client trusts only the root CAs of Amazon Trust Services
//! (`shared/certs/amazon-trust-services.pem`), which certify every AWS service endpoint. That is
//! tighter than the system store, and it is cheap: the SDK otherwise reads and parses the whole
//! system trust store when a client is created, which was most of a function's cold start
//! (BENCHMARKS.md). `HERALD_AWS_SYSTEM_ROOTS=true` uses the system store instead (for a
//! TLS-inspecting proxy, or an emulator served over https with its own certificate). Plain-http
//! endpoints (moto) need neither.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

use crate::config::ConfigError;

const AMAZON_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

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
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await)
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

    #[tokio::test]
    async fn clients_build_on_the_amazon_roots() {
        let config = sdk_config().await;
        assert!(config.is_ok(), "{:?}", config.err());
        let _client = aws_sdk_dynamodb::Client::new(&config.unwrap_or_else(|_| unreachable!()));
    }
}
