//! The local server's data directory (`HERALD_DATA_DIR`, default `./herald-data`): the embedded
//! database `herald.db` (with its `-wal` and `-shm` files), the lock `herald.lock` that keeps a
//! second server off it, and `credentials.json`, the ready-made organization's id and admin token
//! and the generated operator token, so that a restart prints the same three lines and the
//! tokens stay valid. The directory is created `0700` and the files `0600`: the credentials are
//! secrets, readable by their owner only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::model::OrgId;
use crate::model::token::issue_token;

const LOCK: &str = "herald.lock";
const DATABASE: &str = "herald.db";
const CREDENTIALS: &str = "credentials.json";

/// Why the data directory cannot be used. Each names the directory and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("HERALD_DATA_DIR {}: is a file, not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("HERALD_DATA_DIR {}: cannot create it ({error})", path.display())]
    Create {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("HERALD_DATA_DIR {}: cannot write in it ({error})", path.display())]
    Unwritable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "HERALD_DATA_DIR {}: another herald-local{} is using it; stop it first, or point HERALD_DATA_DIR at another directory",
        path.display(),
        pid.as_ref().map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Busy { path: PathBuf, pid: Option<String> },
    #[error("{}: {problem}", path.display())]
    Credentials { path: PathBuf, problem: String },
}

/// An open data directory: held (locked) for as long as this value lives.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Holds the directory's lock (released by the kernel when the process ends, however).
    _lock: File,
}

/// The ready-made organization and the operator token of a local server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub operator_token: String,
    pub organization_id: OrgId,
    pub admin_token: String,
}

impl Credentials {
    /// New random credentials: an organization id, its admin's token, an operator token.
    pub fn generate() -> Self {
        let organization_id = OrgId::generate();
        let admin_token = issue_token(&organization_id).secret;
        let random: [u8; 32] = rand::random();
        Self {
            operator_token: format!(
                "hrld_operator_{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
            ),
            organization_id,
            admin_token,
        }
    }
}

impl DataDir {
    /// Creates the directory if it is missing and takes its lock; refuses a path that is a
    /// file, a directory it cannot write in, and a directory another server holds.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let path = path.to_path_buf();
        if path.exists() && !path.is_dir() {
            return Err(DataDirError::NotADirectory { path });
        }
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        if let Err(error) = dir.create(&path) {
            return Err(DataDirError::Create { path, error });
        }
        let mut lock = match private_file().read(true).write(true).open(path.join(LOCK)) {
            Ok(file) => file,
            Err(error) => return Err(DataDirError::Unwritable { path, error }),
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = lock.read_to_string(&mut pid);
                let pid = Some(pid.trim().to_owned()).filter(|p| !p.is_empty());
                return Err(DataDirError::Busy { path, pid });
            }
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(DataDirError::Unwritable { path, error });
            }
        }
        // Who holds it, for the message a second server prints.
        let wrote = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(std::process::id().to_string().as_bytes()));
        if let Err(error) = wrote {
            return Err(DataDirError::Unwritable { path, error });
        }
        Ok(Self { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the embedded database lives.
    pub fn database(&self) -> PathBuf {
        self.path.join(DATABASE)
    }

    /// The credentials kept by an earlier start; `None` in a new directory.
    pub fn credentials(&self) -> Result<Option<Credentials>, DataDirError> {
        let path = self.path.join(CREDENTIALS);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(DataDirError::Credentials {
                    path,
                    problem: e.to_string(),
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| DataDirError::Credentials {
                path,
                problem: format!("unreadable ({e}); remove it to start with a new organization"),
            })
    }

    /// Keeps `credentials` (owner-only), replacing the file whole: a crash leaves the old file
    /// or the new one, never half of one.
    pub fn save_credentials(&self, credentials: &Credentials) -> Result<(), DataDirError> {
        let path = self.path.join(CREDENTIALS);
        let partial = self.path.join(format!("{CREDENTIALS}.partial"));
        let failed = |e: std::io::Error| DataDirError::Credentials {
            path: path.clone(),
            problem: e.to_string(),
        };
        let text =
            serde_json::to_vec_pretty(credentials).map_err(|e| DataDirError::Credentials {
                path: path.clone(),
                problem: e.to_string(),
            })?;
        let mut file = private_file()
            .write(true)
            .truncate(true)
            .open(&partial)
            .map_err(failed)?;
        file.write_all(&text).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&partial, &path).map_err(failed)?;
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(failed)
    }
}

/// Options that create a file readable and writable by its owner only.
fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}
