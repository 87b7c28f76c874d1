//! A secret as stored: webhook and operational-webhook signing secrets, Slack bot tokens and
//! incoming-webhook URLs. Sealed, it reads `hrs1:<key id>:<base64url(nonce ‖ ciphertext)>`
//! (XChaCha20-Poly1305 under the deployment's key, `crate::ports::keys::Keys`); a record written
//! before secrets were sealed holds the plain text, which reads as it is until the record is
//! written again (the embedded database seals every such record when it starts).
//!
//! Only `Keys::open` gives the plain text, and only where it is used (signing, posting, an admin's
//! read): a record whose ciphertext was tampered with still lists and reads; the one send that
//! needs it is refused.

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    /// The prefix of a sealed value (version 1 of the format).
    pub const PREFIX: &'static str = "hrs1:";

    /// A value as the store holds it: sealed, or plain (written before sealing existed).
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// A sealed value from its key's id and payload (what `Keys::seal` makes).
    pub fn from_parts(key_id: &str, payload: &str) -> Self {
        Self(format!("{}{key_id}:{payload}", Self::PREFIX))
    }

    /// `(key id, payload)` of a sealed value; `None` for a plain one.
    pub fn parts(&self) -> Option<(&str, &str)> {
        self.0.strip_prefix(Self::PREFIX)?.split_once(':')
    }

    pub fn is_sealed(&self) -> bool {
        self.0.starts_with(Self::PREFIX)
    }

    /// The stored text (for the store's own use: never shown).
    pub fn as_stored(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_sealed() {
            "Sealed(..)"
        } else {
            "Sealed(plain ..)"
        })
    }
}
