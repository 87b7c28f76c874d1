//! Sealing secrets at rest (`crate::ports::keys`): XChaCha20-Poly1305 (a 192-bit random nonce
//! per value, so random nonces never collide in practice) under a 256-bit key, from the
//! `chacha20poly1305` crate. [`MasterKey`] is the local server's key; `kms.rs` holds the AWS
//! one (a KMS data key). Each sealed value names its key's id, so that a deployment can tell
//! a value sealed under another key from a tampered one, and a key can be rotated.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::model::Sealed;
use crate::ports::keys::{KeyError, Keys};

/// Binds every ciphertext to this use: a value sealed for something else does not open here.
const AAD: &[u8] = b"herald sealed secret v1";
const NONCE_LEN: usize = 24;

/// A key's short public id: 12 hex characters of a hash of `material` after `kind`.
pub(crate) fn key_id(kind: &str, material: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"herald key id\0")
        .chain_update(material)
        .finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{kind}{hex}")
}

/// One key, ready to seal and open. What it opened it keeps, by sealed value (a few thousand
/// at most, emptied when full): the sender opens a target's secret for every delivery, and a
/// hash lookup costs less than a decryption (the sealing benchmark: 94 % of plain without it).
/// The plain text is in this process's memory while it is used anyway.
#[derive(Clone)]
pub struct Cipher {
    id: String,
    aead: XChaCha20Poly1305,
    opened: Arc<Mutex<HashMap<String, Arc<str>>>>,
}

/// How many opened secrets a [`Cipher`] keeps.
const OPENED_KEPT: usize = 4096;

impl Cipher {
    /// The key `key` (32 bytes), known by `id`.
    pub fn new(key: &[u8; 32], id: String) -> Self {
        Self {
            id,
            aead: XChaCha20Poly1305::new(key.into()),
            opened: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn seal(&self, plain: &str) -> Result<Sealed, KeyError> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: AAD,
                },
            )
            .map_err(|_| KeyError::Unreadable("a secret too long to seal".into()))?;
        let mut payload = nonce_bytes.to_vec();
        payload.extend(sealed);
        Ok(Sealed::from_parts(
            &self.id,
            &URL_SAFE_NO_PAD.encode(payload),
        ))
    }

    /// Opens a payload sealed under this key.
    fn open_payload(&self, payload: &str) -> Result<String, KeyError> {
        let unreadable = |why: &str| KeyError::Unreadable(format!("{why} (key {})", self.id));
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| unreadable("not base64url"))?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(unreadable("truncated"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| unreadable("truncated"))?;
        let plain = self
            .aead
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .map_err(|_| unreadable("tampered with, or sealed under another key"))?;
        String::from_utf8(plain).map_err(|_| unreadable("not text"))
    }

    /// Opens `sealed`: a plain value as it is; one sealed under another key is unreadable.
    pub fn open(&self, sealed: &Sealed) -> Result<String, KeyError> {
        match sealed.parts() {
            None if sealed.is_sealed() => Err(KeyError::Unreadable("malformed".into())),
            None => Ok(sealed.as_stored().to_owned()),
            Some((id, payload)) if id == self.id => {
                let kept = self
                    .opened
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(sealed.as_stored())
                    .cloned();
                if let Some(plain) = kept {
                    return Ok(plain.to_string());
                }
                let plain = self.open_payload(payload)?;
                let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
                if opened.len() >= OPENED_KEPT {
                    opened.clear();
                }
                opened.insert(sealed.as_stored().to_owned(), Arc::from(plain.as_str()));
                Ok(plain)
            }
            Some((id, _)) => Err(KeyError::Unreadable(format!(
                "sealed under key {id}, and this deployment's is {}",
                self.id
            ))),
        }
    }
}

/// The local server's key: `HERALD_MASTER_KEY` (base64 of 32 bytes) or the file
/// `HERALD_DATA_DIR/master.key` (the same, created `0600` on the first start).
#[derive(Clone)]
pub struct MasterKey(Cipher);

/// The file that holds the local server's master key.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Why the master key cannot be had. Each names where it looked and what to do; never a key.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("HERALD_MASTER_KEY: must be the base64 of 32 bytes (e.g. `openssl rand -base64 32`)")]
    BadVariable,
    #[error("{}: must hold the base64 of 32 bytes; restore the file this database was created with", path.display())]
    BadFile { path: PathBuf },
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{}: missing, and this database's secrets are sealed under master key {key}: restore the file or set HERALD_MASTER_KEY to that key (a new key would make them unreadable)",
        path.display()
    )]
    Missing { path: PathBuf, key: String },
    #[error(
        "the master key {given} ({source_name}) is not the key this database's secrets are sealed under ({expected}): give that key (HERALD_MASTER_KEY or {file}); nothing was changed"
    )]
    Wrong {
        given: String,
        source_name: String,
        expected: String,
        file: String,
    },
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    bytes.try_into().ok()
}

impl MasterKey {
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self(Cipher::new(key, key_id("m", key)))
    }

    /// A new random key (a test's, or a store that is never reopened).
    pub fn random() -> Self {
        Self::from_bytes(&rand::random())
    }

    /// `HERALD_MASTER_KEY` when given, else `dir/master.key`; a missing file is created (`0600`,
    /// a new random key) only when `create` says the database holds no sealed secret yet.
    /// `expected` is the id of the key the database's secrets are sealed under, if any.
    pub fn load(
        variable: Option<&str>,
        dir: &Path,
        expected: Option<&str>,
    ) -> Result<Self, MasterKeyError> {
        let path = dir.join(MASTER_KEY_FILE);
        let (key, source_name) = match variable.filter(|v| !v.is_empty()) {
            Some(text) => (
                decode_key(text).ok_or(MasterKeyError::BadVariable)?,
                "HERALD_MASTER_KEY".to_owned(),
            ),
            None => match std::fs::read_to_string(&path) {
                Ok(text) => (
                    decode_key(&text)
                        .ok_or_else(|| MasterKeyError::BadFile { path: path.clone() })?,
                    path.display().to_string(),
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match expected {
                    Some(key) => {
                        return Err(MasterKeyError::Missing {
                            path,
                            key: key.to_owned(),
                        });
                    }
                    None => (create_key_file(&path)?, path.display().to_string()),
                },
                Err(error) => return Err(MasterKeyError::Io { path, error }),
            },
        };
        let key = Self::from_bytes(&key);
        match expected {
            Some(expected) if expected != key.0.id => Err(MasterKeyError::Wrong {
                given: key.0.id.clone(),
                source_name,
                expected: expected.to_owned(),
                file: path.display().to_string(),
            }),
            _ => Ok(key),
        }
    }

    pub fn cipher(&self) -> &Cipher {
        &self.0
    }
}

/// Writes a new random key to `path`, readable by its owner only, and returns it.
fn create_key_file(path: &Path) -> Result<[u8; 32], MasterKeyError> {
    use std::io::Write;
    let key: [u8; 32] = rand::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let io = |error| MasterKeyError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut file = options.open(path).map_err(io)?;
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    file.write_all(format!("{text}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(key)
}

#[async_trait]
impl Keys for MasterKey {
    async fn seal(&self, plain: &str) -> Result<Sealed, KeyError> {
        self.0.seal(plain)
    }

    async fn open(&self, sealed: &Sealed) -> Result<String, KeyError> {
        self.0.open(sealed)
    }
}

/// The sealing benchmark's baseline (`HERALD_SEAL_SECRETS=false`, honoured by `herald-local`
/// only): new secrets are stored in plain text, as before sealing existed; sealed ones still
/// open with the key it wraps. Never for real data.
pub struct SealingOff<K>(pub K);

#[async_trait]
impl<K: Keys> Keys for SealingOff<K> {
    async fn seal(&self, plain: &str) -> Result<Sealed, KeyError> {
        Ok(Sealed::from_stored(plain))
    }

    async fn open(&self, sealed: &Sealed) -> Result<String, KeyError> {
        self.0.open(sealed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_and_its_text_is_nowhere_in_it() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.0.seal("whsec_abc").unwrap_or_else(|e| panic!("{e}"));
        assert!(sealed.as_stored().starts_with("hrs1:m"));
        assert!(!sealed.as_stored().contains("whsec_abc"));
        assert_eq!(key.0.open(&sealed), Ok("whsec_abc".to_owned()));
        let again = key.0.seal("whsec_abc").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(again, sealed, "a new nonce each time");
    }

    #[test]
    fn tampered_truncated_and_foreign_values_do_not_open() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.0.seal("xoxb-secret").unwrap_or_else(|e| panic!("{e}"));
        let text = sealed.as_stored().to_owned();
        let mut flipped = text.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let tampered = Sealed::from_stored(String::from_utf8(flipped).unwrap_or_default());
        let truncated = Sealed::from_stored(text[..text.len() - 30].to_owned());
        let other = MasterKey::from_bytes(&[8; 32]);
        for bad in [&tampered, &truncated] {
            assert!(
                matches!(key.0.open(bad), Err(KeyError::Unreadable(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            other.0.open(&sealed),
            Err(KeyError::Unreadable(format!(
                "sealed under key {}, and this deployment's is {}",
                key.0.id, other.0.id
            )))
        );
        let plain = Sealed::from_stored("whsec_legacy");
        assert_eq!(key.0.open(&plain), Ok("whsec_legacy".to_owned()));
    }
}
