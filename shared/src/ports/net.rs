//! Name resolution (a port: the system's resolver, or the tests' own) and the webhook URL check
//! that uses it.

use std::io;
use std::net::IpAddr;

use async_trait::async_trait;
use url::{Host, Url};

use crate::model::net::{FORBIDDEN, check_webhook_url_shape, is_forbidden};

/// DNS resolution, injected so tests decide what a name resolves to.
#[async_trait]
pub trait Resolver: Send + Sync {
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>>;
}

/// Checks a webhook URL (see the module doc). `Err` carries the message for the 400's `details`.
pub async fn check_webhook_url(
    raw: &str,
    allow_private: bool,
    resolver: &dyn Resolver,
) -> Result<Url, String> {
    let url = check_webhook_url_shape(raw, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    if let Some(Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let found = resolver
            .resolve(name, port)
            .await
            .map_err(|_| "host does not resolve".to_owned())?;
        if found.is_empty() {
            return Err("host does not resolve".into());
        }
        if found.into_iter().any(is_forbidden) {
            return Err(FORBIDDEN.into());
        }
    }
    Ok(url)
}
