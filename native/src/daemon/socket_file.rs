//! Unix socket files: a stale socket at the path is replaced, a live one
//! (something answers a connection on it: another daemon) and anything
//! else there are refused, the new socket is made `0722` (anyone may send,
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
    /// A live listener answers on the socket: it is never taken over.
    #[error("{0} is in use: another process is listening on it; refusing to replace it")]
    InUse(PathBuf),
    /// Removing the stale socket, binding or `chmod` failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Is a listener bound at this socket path? A stream or datagram
/// connection succeeds, or the socket is of the other type (`EPROTOTYPE`)
/// when someone listens; a stale file refuses (`ECONNREFUSED`). Any other
/// answer (no permission…) counts as live: when in doubt, keep it.
fn is_live(path: &Path) -> bool {
    use std::io::ErrorKind;
    use std::os::unix::net::{UnixDatagram, UnixStream};
    let stale = |e: &std::io::Error| {
        matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::NotFound)
            || e.raw_os_error() == Some(nix::errno::Errno::EPROTOTYPE as i32)
    };
    let Err(stream) = UnixStream::connect(path) else {
        return true;
    };
    let Err(datagram) = UnixDatagram::unbound().and_then(|s| s.connect(path)) else {
        return true;
    };
    // One type answers EPROTOTYPE and the other is refused only when the
    // listener is gone; a live one answers one of the two connects.
    !(stale(&stream) && stale(&datagram))
}

/// Removes a stale socket at `path`; refuses a live one and any other
/// kind of file.
pub(crate) fn prepare(path: &Path) -> Result<(), SocketPathError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if is_live(path) {
                return Err(SocketPathError::InUse(path.to_path_buf()));
            }
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
        // Live sockets of either type are kept.
        let live = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
        assert!(matches!(prepare(&sock), Err(SocketPathError::InUse(_))));
        drop(live);
        prepare(&sock).unwrap();
        let live = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(matches!(prepare(&sock), Err(SocketPathError::InUse(_))));
        drop(live);
        prepare(&sock).unwrap();
        assert!(!sock.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
