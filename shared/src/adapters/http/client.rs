//! Outbound HTTP: the clients (redirects not followed, no proxy, a timeout, the compiled-in
//! Mozilla roots) and the sender's DNS guard, which applies the SSRF rule
//! ([`crate::model::net::is_forbidden`]) to what a name resolves to as it connects.

use std::io;
use std::net::IpAddr;

use async_trait::async_trait;

use crate::model::net::is_forbidden;
use crate::ports::net::Resolver;

/// The outbound HTTP client settings: redirects are not followed, 15 s timeout.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    outbound(std::time::Duration::from_secs(15)).build()
}

/// Redirects not followed, `timeout`, and TLS trusting the Mozilla root certificates compiled
/// in (`webpki-root-certs`), as browsers do. **Decision:** not the system's trust store: reading
/// it (a bundle and a file per root in `/etc/ssl/certs`) took 3.5 ms of the sender's 5.9 ms
/// cold start (BENCHMARKS.md), and a Lambda function's system store is the same Mozilla list.
/// A receiver behind a private CA is not reachable (it is not, either, from Svix or Slack).
///
/// **Decision:** no proxy, whatever `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY` say: a proxy
/// would see every webhook's signed body and could be pointed at by anything that sets the
/// process's environment; and the SSRF guard resolves the target's own name, which a proxy
/// would resolve again on its side.
fn outbound(timeout: std::time::Duration) -> reqwest::ClientBuilder {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok());
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .tls_certs_only(roots)
}

/// The sender's HTTP client: [`http_client`]'s settings, and DNS through `resolver` with the
/// SSRF rule applied to what it resolves to (unless private targets are allowed), at connect
/// time: a name that resolves to a forbidden address is never connected to, however it resolved
/// when the notification was created.
pub fn delivery_client(
    resolver: std::sync::Arc<dyn Resolver>,
    allow_private: bool,
) -> reqwest::Result<reqwest::Client> {
    delivery_client_with_timeout(resolver, allow_private, std::time::Duration::from_secs(15))
}

/// [`delivery_client`] with another timeout (tests).
pub fn delivery_client_with_timeout(
    resolver: std::sync::Arc<dyn Resolver>,
    allow_private: bool,
    timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    outbound(timeout)
        .dns_resolver(std::sync::Arc::new(GuardedDns {
            resolver,
            allow_private,
        }))
        .build()
}

struct GuardedDns {
    resolver: std::sync::Arc<dyn Resolver>,
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.resolver.clone();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = resolver.resolve(name.as_str(), 0).await?;
            if found.is_empty() {
                return Err("host does not resolve".into());
            }
            if !allow_private && found.iter().any(|ip| is_forbidden(*ip)) {
                return Err(
                    "host resolves to a loopback, private, link-local or metadata address".into(),
                );
            }
            let addrs: reqwest::dns::Addrs = Box::new(
                found
                    .into_iter()
                    .map(|ip| std::net::SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// The system resolver (`getaddrinfo` through tokio).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, port))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}
