//! Unix socket files: a stale socket at the path is replaced, anything
//! else there is refused, the new socket is made `0722` (anyone may send,
//! only the owner may read), and it is removed when the listener stops.

use std::fs::Permissions;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Why a socket path cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SocketPathError {
    /// Something that is not a socket is in the way.
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    /// Removing the stale socket, binding or `chmod` failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Removes a stale socket at `path`; refuses any other kind of file.
pub(crate) fn prepare(path: &Path) -> Result<(), SocketPathError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|source| SocketPathError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        Ok(_) => Err(SocketPathError::NotASocket(path.to_path_buf())),
        Err(_) => Ok(()),
    }
}

/// Sets the Agent's `0722` mode on a freshly bound socket.
pub(crate) fn set_mode(path: &Path) -> Result<(), SocketPathError> {
    std::fs::set_permissions(path, Permissions::from_mode(0o722)).map_err(|source| {
        SocketPathError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Removes the socket file when dropped.
#[derive(Debug)]
pub(crate) struct Cleanup(pub(crate) PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_socket_replaced_other_files_refused() {
        let dir = std::env::temp_dir().join(format!("dsd-sockfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _ = std::fs::remove_file(&sock);
        prepare(&sock).unwrap(); // nothing there
        let l = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
        drop(l);
        prepare(&sock).unwrap(); // stale socket removed
        assert!(!sock.exists());
        let file = dir.join("plain");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            prepare(&file),
            Err(SocketPathError::NotASocket(_))
        ));
        assert!(file.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
