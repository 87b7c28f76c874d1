//! Tokens: `hrld_<organization id>_<43 characters of base64url randomness>`. A token is stored
//! only as its SHA-256; its public id is the first 24 hex characters of that hash. Carrying the
//! organization id lets one read on the tenant's own partition find it (the tenant id leads every
//! partition key).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{OrgId, TokenId};

const TOKEN_PREFIX: &str = "hrld_";

/// A freshly issued token: the secret (shown once) and what is stored of it.
#[derive(Debug)]
pub struct IssuedToken {
    pub secret: String,
    pub id: TokenId,
    pub hash: String,
}

pub fn sha256_hex(input: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

impl IssuedToken {
    /// A token issued earlier, from its secret: `None` unless it is a well-formed token of `org`.
    pub fn from_secret(org: &OrgId, secret: &str) -> Option<Self> {
        let presented = parse_presented(secret)?;
        (presented.org == *org).then(|| Self {
            secret: secret.to_owned(),
            id: presented.id,
            hash: presented.hash,
        })
    }
}

/// Issues a new random token for `org`.
pub fn issue_token(org: &OrgId) -> IssuedToken {
    let random: [u8; 32] = rand::random();
    let secret = format!("{TOKEN_PREFIX}{org}_{}", URL_SAFE_NO_PAD.encode(random));
    let hash = sha256_hex(&secret);
    let id = TokenId::of_hash(&hash);
    IssuedToken { secret, id, hash }
}

/// Where a presented token claims to belong, and how to check it.
pub struct Presented {
    pub org: OrgId,
    pub id: TokenId,
    pub hash: String,
}

/// The organization a token belongs to, read from the token itself (`hrld_<org>_…`), or `None`
/// for anything that is not a token's form. It proves nothing: the server checks the token.
pub fn token_organization(raw: &str) -> Option<OrgId> {
    parse_presented(raw).map(|p| p.org)
}

pub fn parse_presented(raw: &str) -> Option<Presented> {
    let rest = raw.strip_prefix(TOKEN_PREFIX)?;
    let (org, secret) = rest.split_once('_')?;
    if secret.len() != 43 {
        return None;
    }
    let org = OrgId::parse(org).ok()?;
    let hash = sha256_hex(raw);
    Some(Presented {
        org,
        id: TokenId::of_hash(&hash),
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_parse_back_to_their_org_and_id() {
        let org = OrgId::parse("acme-corp").unwrap_or_else(|_| unreachable!());
        let issued = issue_token(&org);
        let presented = parse_presented(&issued.secret);
        assert!(presented.is_some());
        let presented = presented.unwrap_or_else(|| unreachable!());
        assert_eq!(presented.org, org);
        assert_eq!(presented.id, issued.id);
        assert_eq!(presented.hash, issued.hash);
        assert_eq!(issued.hash.len(), 64);
    }

    #[test]
    fn sha256_hex_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for raw in [
            "",
            "hrld_",
            "hrld_acme",
            "abc_acme_xyz",
            "hrld_a_b",
            "hrld_acme_short",
        ] {
            assert!(parse_presented(raw).is_none(), "{raw}");
        }
    }
}
