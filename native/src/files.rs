//! Opening the files the daemon writes or trusts (the `--output` file,
//! capture files, the admin token, the forwarder's disk store) so that a
//! hostile local user cannot redirect them:
//!
//! - the last path component is never followed when it is a symbolic
//!   link (`O_NOFOLLOW`), and only regular files are used (an output may
//!   also be a FIFO or a character device);
//! - a parent directory that other users may write to is refused, unless
//!   it is sticky and owned by this user or by root (as `/tmp` is); in
//!   such a directory an existing file must belong to this user, since
//!   anyone could have planted it.
//!
//! On other platforms than Unix the files are opened plainly.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Why a file was refused or could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path is a symbolic link.
    #[error("{0} is a symbolic link; refusing to follow it")]
    Symlink(PathBuf),
    /// The path is a directory, a FIFO, a device…
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    /// Other users may write to the parent directory.
    #[error(
        "{dir} is writable by other users (and not a sticky directory owned by this user or root); refusing to use {path}"
    )]
    UnsafeDir {
        /// The parent directory.
        dir: PathBuf,
        /// The file.
        path: PathBuf,
    },
    /// The file belongs to another user.
    #[error("{path} belongs to uid {owner}, not to this user (uid {me}); refusing to use it")]
    NotOwned {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The daemon's effective uid.
        me: u32,
    },
    /// A private file is readable or writable by others.
    #[error("{path} is accessible to other users (mode {mode:04o}); it must be 0600 or stricter")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file read whole is larger than its limit.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Any other I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// How [`open_write`] creates the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create it when missing, else append to it.
    Append,
    /// Create it; fail when anything exists at the path.
    New,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The daemon's effective uid.
#[cfg(unix)]
pub fn my_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The directory `path` is created in.
#[cfg(unix)]
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Checks the parent directory of `path`; true when it is a shared
/// sticky directory (where an existing file must be ours).
#[cfg(unix)]
fn check_parent(path: &Path) -> Result<bool, FileError> {
    use std::os::unix::fs::MetadataExt as _;
    let dir = parent_of(path);
    let meta = std::fs::metadata(dir).map_err(io(dir))?;
    let mode = meta.mode();
    if mode & 0o022 == 0 {
        return Ok(false);
    }
    let sticky = mode & 0o1000 != 0;
    if sticky && (meta.uid() == my_uid() || meta.uid() == 0) {
        return Ok(true);
    }
    Err(FileError::UnsafeDir {
        dir: dir.to_path_buf(),
        path: path.to_path_buf(),
    })
}

/// Can the daemon write into a file of this type? Regular files, and
/// for [`Create::Append`] the FIFOs and character devices a user may
/// point an output at (`mkfifo`, `/dev/null`).
#[cfg(unix)]
fn writable_type(t: std::fs::FileType, how: Create) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    t.is_file() || (how == Create::Append && (t.is_fifo() || t.is_char_device()))
}

/// Checks a file's metadata: a usable type, ours when `must_own`.
#[cfg(unix)]
fn check_meta(
    path: &Path,
    meta: &std::fs::Metadata,
    how: Create,
    must_own: bool,
) -> Result<(), FileError> {
    use std::os::unix::fs::MetadataExt as _;
    if !writable_type(meta.file_type(), how) {
        return Err(FileError::NotRegular(path.to_path_buf()));
    }
    if must_own && meta.uid() != my_uid() {
        return Err(FileError::NotOwned {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me: my_uid(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn no_follow(opts: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt as _;
    opts.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
}

/// The error of an `open` that refused a symbolic link (`ELOOP`).
#[cfg(unix)]
fn open_error(path: &Path, e: std::io::Error) -> FileError {
    if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
        FileError::Symlink(path.to_path_buf())
    } else {
        io(path)(e)
    }
}

/// Opens `path` for writing without following a symbolic link, creating
/// it with `mode` (Unix permission bits) when missing.
pub fn open_write(path: &Path, how: Create, mode: u32) -> Result<File, FileError> {
    let mut opts = OpenOptions::new();
    match how {
        Create::Append => opts.append(true).create(true),
        Create::New => opts.write(true).create_new(true),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let shared = check_parent(path)?;
        // Checked before opening too: opening a planted FIFO blocks.
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_symlink() {
                return Err(FileError::Symlink(path.to_path_buf()));
            }
            check_meta(path, &meta, how, shared)?;
        }
        opts.mode(mode);
        no_follow(&mut opts);
        let file = opts.open(path).map_err(|e| open_error(path, e))?;
        check_meta(path, &file.metadata().map_err(io(path))?, how, shared)?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        opts.open(path).map_err(io(path))
    }
}

/// Reads a private file whole (a secret): not a symbolic link, a regular
/// file of this user, inaccessible to anyone else, at most `limit` bytes.
pub fn read_private(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    no_follow(&mut opts);
    #[cfg(unix)]
    let file = opts.open(path).map_err(|e| open_error(path, e))?;
    #[cfg(not(unix))]
    let file = opts.open(path).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = file.metadata().map_err(io(path))?;
        check_meta(path, &meta, Create::New, true)?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(FileError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut out = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(io(path))?;
    if out.len() as u64 > limit {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(out)
}

/// Creates `dir` and its missing parents, new ones `0700`.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io(dir))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dsd-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn symlinks_are_never_followed() {
        let d = dir("link");
        let target = d.join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for how in [Create::Append, Create::New] {
            let e = open_write(&link, how, 0o600).unwrap_err();
            assert!(matches!(e, FileError::Symlink(_)), "{how:?}: {e}");
        }
        assert!(matches!(
            read_private(&link, 100),
            Err(FileError::Symlink(_))
        ));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn appends_and_creates_with_the_mode() {
        let d = dir("append");
        let p = d.join("out");
        open_write(&p, Create::Append, 0o600)
            .unwrap()
            .write_all(b"a")
            .unwrap();
        open_write(&p, Create::Append, 0o600)
            .unwrap()
            .write_all(b"b")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "ab");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(open_write(&p, Create::New, 0o600).is_err());
        assert!(matches!(
            open_write(&d, Create::Append, 0o600),
            Err(FileError::NotRegular(_))
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn shared_directories_are_refused_unless_sticky() {
        let d = dir("shared");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let p = d.join("out");
        assert!(matches!(
            open_write(&p, Create::Append, 0o600),
            Err(FileError::UnsafeDir { .. })
        ));
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        open_write(&p, Create::Append, 0o600).unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn private_files_must_be_private() {
        let d = dir("private");
        let p = d.join("token");
        std::fs::write(&p, "secret").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_private(&p, 100),
            Err(FileError::TooOpen { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private(&p, 100).unwrap(), b"secret");
        assert!(matches!(
            read_private(&p, 3),
            Err(FileError::TooLarge { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }
}
