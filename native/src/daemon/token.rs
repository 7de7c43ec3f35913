//! The admin endpoint's bearer token: the whole content of the file
//! `dogstatsd_admin_token_file` (a trailing newline ignored). The daemon
//! creates the file at start with 32 random bytes in hex, mode `0600`,
//! when it does not exist; an existing one must be a regular file of the
//! daemon's user that nobody else can read ([`crate::files`]). Commands
//! that call the endpoint read the same file with [`read`].

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq as _;

use crate::files::{self, Create, FileError};

/// Random bytes in a fresh token.
const TOKEN_BYTES: usize = 32;
/// Largest token file read.
const MAX_TOKEN_FILE: u64 = 4096;

/// Why the token could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file was refused or could not be read or created.
    #[error("dogstatsd_admin_token_file: {0}")]
    File(#[from] FileError),
    /// The file is empty (or whitespace).
    #[error("dogstatsd_admin_token_file: {0} is empty")]
    Empty(PathBuf),
    /// The OS gave no randomness.
    #[error("dogstatsd_admin_token_file: cannot draw a random token: {0}")]
    Random(String),
}

/// A token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Vec<u8>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Does `presented` (the bytes after `Bearer `) match, compared in
    /// constant time?
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.len() == presented.len() && bool::from(self.0.ct_eq(presented))
    }

    /// The token text, for a client's `Authorization` header.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Reads the token from `path` (for commands calling the endpoint).
pub fn read(path: &Path) -> Result<Token, TokenError> {
    let bytes = files::read_private(path, MAX_TOKEN_FILE)?;
    let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(TokenError::Empty(path.to_path_buf()));
    }
    Ok(Token(text.to_vec()))
}

/// Reads the token at `path`, creating the file (and its directory,
/// `0700`) with a fresh random token when it does not exist.
pub fn load_or_create(path: &Path) -> Result<Token, TokenError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => return read(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(FileError::Io {
                path: path.to_path_buf(),
                source,
            }
            .into());
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::create_private_dir(dir)?;
    }
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut raw).map_err(|e| TokenError::Random(e.to_string()))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    match files::open_write(path, Create::New, 0o600) {
        Ok(mut f) => {
            f.write_all(format!("{hex}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|source| FileError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            tracing::info!(
                "created the admin token file {} (mode 0600)",
                path.display()
            );
            Ok(Token(hex.into_bytes()))
        }
        // Another process created it first: use theirs, if it is safe.
        Err(FileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn created_once_then_read_back() {
        let d = std::env::temp_dir().join(format!("dsd-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let p = d.join("sub").join("admin_token");
        let t = load_or_create(&p).unwrap();
        assert_eq!(t.as_str().len(), 64);
        assert!(t.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create(&p).unwrap(), t);
        assert!(t.matches(t.as_str().as_bytes()));
        assert!(!t.matches(&t.as_str().as_bytes()[1..]));
        assert!(!t.matches(b""));
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        let other = d.join("other");
        std::fs::write(&other, "abc\n").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read(&other).unwrap().matches(b"abc"));
        std::fs::write(&other, "\n").unwrap();
        assert!(matches!(read(&other), Err(TokenError::Empty(_))));
        let _ = std::fs::remove_dir_all(&d);
    }
}
