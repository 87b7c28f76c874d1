//! Outbound-target safety: webhook URLs must be absolute `https` (plain `http` only where private
//! targets are allowed), and — unless private targets are allowed — their host must not be, or
//! resolve to, a loopback, private, link-local, shared, unspecified, multicast or cloud-metadata
//! address. Checked at creation ([`crate::ports::net::check_webhook_url`], which resolves the
//! name); the sender checks again after its own DNS resolution.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Whether an address is one a webhook may never reach from a deployment that forbids private
/// targets.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_forbidden_v4(v4),
            None => is_forbidden_v6(v6),
        },
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, AWS/GCP/Azure metadata included
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 shared address space
        || ip == Ipv4Addr::new(100, 100, 100, 200) // Alibaba Cloud metadata
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // 192.0.0.0/24 IETF protocol assignments
        || a >= 240 // reserved
}

/// **Decision:** the prefixes that carry an IPv4 address inside an IPv6 one through a translator
/// or a tunnel (NAT64's `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4's `2002::/16`, Teredo's
/// `2001::/32`) are refused whole, whatever the address inside: a receiver has a plain address
/// of its own, and through these a private IPv4 target could be reached.
fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1);
    nat64
        || first == 0x2002 // 6to4
        || (first == 0x2001 && s[1] == 0) // Teredo
        || ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local (fd00:ec2::254, AWS metadata, included)
        || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || ip.to_ipv4().is_some_and(|v4| ip.segments()[..6] == [0; 6] && is_forbidden_v4(v4)) // ::a.b.c.d
}

pub(crate) const FORBIDDEN: &str =
    "must not point to a loopback, private, link-local or metadata address";

/// A webhook URL as the OpenAPI document states it (ECMA-262): `http://` or `https://`
/// literally, a host (no credentials, no space), then a path, query or fragment with no space.
/// [`check_webhook_url_shape`] refuses everything this refuses.
pub const URL_PATTERN: &str = r"^https?://[^\s/?#@]+([/?#]\S*)?$";

/// Everything [`crate::ports::net::check_webhook_url`] checks without DNS: written as
/// [`URL_PATTERN`] says (no space or control character anywhere, the scheme and `//` as they
/// are, lowercase: the URL parser would forgive all of these), the scheme, no credentials, a
/// host, and (unless private targets are allowed) no forbidden address written as an IP. The
/// sender uses this alone: its HTTP client's resolver applies the rule to names as it connects,
/// so a send resolves a name once. With `allow_private` it checks the syntax only, which the
/// request types do as they read a body.
pub fn check_webhook_url_shape(raw: &str, allow_private: bool) -> Result<Url, String> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let url = Url::parse(raw).map_err(|_| "must be an absolute URL".to_owned())?;
    match url.scheme() {
        "https" | "http" if !raw.starts_with(&format!("{}://", url.scheme())) => {
            return Err("must start with https://".into());
        }
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("must use https".into()),
        _ => return Err("must be an https URL".into()),
    }
    // As written: what the parser would forgive (`https:///host`, `https://@host`) is refused.
    let authority = raw
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    if !url.username().is_empty() || url.password().is_some() || authority.contains('@') {
        return Err("must not carry credentials".into());
    }
    if authority.is_empty() {
        return Err("must have a host".into());
    }
    let literal = match url.host().ok_or_else(|| "must have a host".to_owned())? {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(_) => None,
    };
    if !allow_private && literal.is_some_and(is_forbidden) {
        return Err(FORBIDDEN.into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the server refuses as written, whatever the URL parser would make of it: each one
    /// also breaks [`URL_PATTERN`].
    #[test]
    fn a_url_is_taken_only_as_the_pattern_writes_it() {
        for raw in [
            "http://",
            "https://",
            "https:///hooks.example.com/in",
            "https://@hooks.example.com",
            "https://user:pass@hooks.example.com",
            " https://hooks.example.com",
            "https://hooks.example.com/a b",
            "https://hooks.example.com/\tx",
            "HTTPS://hooks.example.com",
            "https:hooks.example.com",
            "https:\\\\hooks.example.com",
            "ftp://hooks.example.com",
            "/relative",
        ] {
            assert!(check_webhook_url_shape(raw, true).is_err(), "{raw:?}");
        }
        for raw in [
            "https://hooks.example.com",
            "https://hooks.example.com/in?x=1#f",
            "http://127.0.0.1:8080/hook",
            "https://hooks.example.com/@user",
            "https://[::1]:8443/x",
        ] {
            assert!(check_webhook_url_shape(raw, true).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn private_and_metadata_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "fc00::1",
            "64:ff9b::a00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            let parsed: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(is_forbidden(parsed), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
            "2001:db9::1",
            "64:ff9c::1",
        ] {
            let parsed: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(!is_forbidden(parsed), "{ip}");
        }
    }
}
