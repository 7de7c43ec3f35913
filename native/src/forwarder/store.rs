//! The disk-backed retry store (`forwarder_storage_max_size_in_bytes`),
//! the file side of [`dogstatsd_core::delivery::retry`]: one file per
//! payload in a per-endpoint directory, which the delivery state decides
//! when to write, read back and delete.
//!
//! * A file is written under a temporary name (created exclusively, mode
//!   0600, never through a symbolic link), synced, then renamed into
//!   place: a crash leaves either the whole file or a temporary one, which
//!   the next start deletes.
//! * Its header names the endpoint, the content encoding, the point count,
//!   the body length and an FNV-1a checksum of the body. A file whose
//!   header or body does not check out is counted and moved to
//!   `corrupt/` beside the store, never sent and never fatal.
//! * The directory is created 0700.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use dogstatsd_core::delivery::retry::{StoreId, StoredEntry};
use dogstatsd_core::payload::Endpoint;

use crate::intake::record::endpoint_of;

const MAGIC: &[u8] = b"DSDSTORE1\n";
const EXT: &str = "dsdp";
const MAX_HEADER: usize = 512;

/// Why a stored file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file system said no.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is not a complete stored payload.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A payload as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayload {
    /// Where it goes.
    pub endpoint: Endpoint,
    /// Its `Content-Encoding`, if any.
    pub encoding: Option<&'static str>,
    /// Points in it.
    pub points: u64,
    /// The (compressed) body.
    pub body: Bytes,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    endpoint: String,
    encoding: Option<String>,
    points: u64,
    len: u64,
    fnv: String,
}

/// FNV-1a, 64 bits: enough to tell a torn or edited file.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn static_encoding(s: &str) -> Option<Option<&'static str>> {
    match s {
        "zstd" => Some(Some("zstd")),
        "deflate" => Some(Some("deflate")),
        "gzip" => Some(Some("gzip")),
        _ => None,
    }
}

/// One endpoint's store directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
}

/// What [`Store::open`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// Usable files.
    pub entries: Vec<StoredEntry>,
    /// Files set aside as corrupt.
    pub corrupt: u64,
    /// Incomplete temporary files deleted.
    pub partial: u64,
}

fn open_options() -> OpenOptions {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut o = OpenOptions::new();
        o.custom_flags(nix::libc::O_NOFOLLOW);
        o
    }
    #[cfg(not(target_os = "linux"))]
    OpenOptions::new()
}

impl Store {
    /// Opens (creating, mode 0700) `dir` and lists what it holds.
    pub fn open(dir: &Path) -> Result<(Self, Found), StoreError> {
        let io_err = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(io_err)?;
        let meta = fs::symlink_metadata(dir).map_err(io_err)?;
        if !meta.is_dir() {
            return Err(io_err(io::Error::other("not a directory")));
        }
        let store = Self {
            dir: dir.to_path_buf(),
        };
        let mut found = Found::default();
        for entry in fs::read_dir(dir).map_err(io_err)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
                found.partial += 1;
                continue;
            }
            let Some(id) = name
                .strip_suffix(&format!(".{EXT}"))
                .and_then(|s| s.parse::<StoreId>().ok())
            else {
                continue;
            };
            match store.read_header(id) {
                Ok((h, _)) => found.entries.push(StoredEntry {
                    id,
                    bytes: h.len as usize,
                    points: h.points,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "forwarder store: unusable file set aside");
                    store.set_aside(id);
                    found.corrupt += 1;
                }
            }
        }
        Ok((store, found))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: StoreId) -> PathBuf {
        self.dir.join(format!("{id:020}.{EXT}"))
    }

    /// Writes payload `id` atomically; returns the file's size.
    pub fn write(&self, id: StoreId, p: &StoredPayload) -> Result<u64, StoreError> {
        let path = self.path(id);
        let tmp = self.dir.join(format!(".{id:020}.tmp"));
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let header = Header {
            endpoint: p.endpoint.path().to_string(),
            encoding: p.encoding.map(String::from),
            points: p.points,
            len: p.body.len() as u64,
            fnv: format!("{:016x}", fnv(&p.body)),
        };
        let mut bytes = MAGIC.to_vec();
        serde_json::to_writer(&mut bytes, &header).map_err(|e| io_err(io::Error::other(e)))?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&p.body);
        let mut opts = open_options();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let written = (|| {
            let mut f = opts.open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        Ok(bytes.len() as u64)
    }

    fn read_header(&self, id: StoreId) -> Result<(Header, Vec<u8>), StoreError> {
        let path = self.path(id);
        let corrupt = |reason: &str| StoreError::Corrupt {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let mut f = open_options()
            .read(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut all = Vec::new();
        // Bounded: a header, and a body no larger than the intake takes.
        (&mut f)
            .take(
                MAX_HEADER as u64
                    + MAGIC.len() as u64
                    + crate::intake::MAX_COMPRESSED_BODY as u64 * 2,
            )
            .read_to_end(&mut all)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        if (all.len() as u64) < size {
            return Err(corrupt("larger than any payload"));
        }
        let rest = all
            .strip_prefix(MAGIC)
            .ok_or_else(|| corrupt("not a stored payload"))?;
        let nl = rest
            .iter()
            .take(MAX_HEADER)
            .position(|b| *b == b'\n')
            .ok_or_else(|| corrupt("no header"))?;
        let header: Header =
            serde_json::from_slice(&rest[..nl]).map_err(|_| corrupt("unreadable header"))?;
        let body = rest[nl + 1..].to_vec();
        if body.len() as u64 != header.len {
            return Err(corrupt("truncated"));
        }
        if format!("{:016x}", fnv(&body)) != header.fnv {
            return Err(corrupt("checksum mismatch"));
        }
        if endpoint_of(&header.endpoint).is_none() {
            return Err(corrupt("unknown endpoint"));
        }
        if let Some(e) = &header.encoding
            && static_encoding(e).is_none()
        {
            return Err(corrupt("unknown encoding"));
        }
        Ok((header, body))
    }

    /// Reads payload `id` back, checked.
    pub fn read(&self, id: StoreId) -> Result<StoredPayload, StoreError> {
        let (h, body) = self.read_header(id)?;
        Ok(StoredPayload {
            endpoint: endpoint_of(&h.endpoint).unwrap_or(Endpoint::SeriesV2),
            encoding: h.encoding.as_deref().and_then(static_encoding).flatten(),
            points: h.points,
            body: Bytes::from(body),
        })
    }

    /// Deletes payload `id` (gone already is fine).
    pub fn remove(&self, id: StoreId) {
        if let Err(e) = fs::remove_file(self.path(id))
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, id, "forwarder store: cannot delete a sent payload's file");
        }
    }

    /// Moves payload `id` to `corrupt/` (deleted if that fails).
    pub fn set_aside(&self, id: StoreId) {
        let aside = self.dir.join("corrupt");
        let moved = fs::create_dir_all(&aside)
            .and_then(|()| fs::rename(self.path(id), aside.join(format!("{id:020}.{EXT}"))));
        if moved.is_err() {
            let _ = fs::remove_file(self.path(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(n: u8) -> StoredPayload {
        StoredPayload {
            endpoint: Endpoint::Sketches,
            encoding: Some("zstd"),
            points: u64::from(n),
            body: Bytes::from(vec![n; 100]),
        }
    }

    #[test]
    fn round_trips_with_0600_files() {
        let dir = tempfile::tempdir().unwrap();
        let (s, found) = Store::open(&dir.path().join("a")).unwrap();
        assert!(found.entries.is_empty());
        s.write(3, &payload(3)).unwrap();
        s.write(1, &payload(1)).unwrap();
        assert_eq!(s.read(3).unwrap(), payload(3));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(s.path(3)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(s.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let (_, found) = Store::open(&dir.path().join("a")).unwrap();
        let mut ids: Vec<_> = found.entries.iter().map(|e| (e.id, e.points)).collect();
        ids.sort();
        assert_eq!(ids, [(1, 1), (3, 3)]);
        s.remove(1);
        s.remove(1);
        assert!(s.read(1).is_err());
    }

    #[test]
    fn corrupt_and_partial_files_are_set_aside_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(dir.path()).unwrap();
        for id in 1..=4 {
            s.write(id, &payload(id as u8)).unwrap();
        }
        // Truncated, flipped, garbage; and a temporary left by a crash.
        let p = s.path(1);
        let len = fs::metadata(&p).unwrap().len();
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let mut bytes = fs::read(s.path(2)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(s.path(2), bytes).unwrap();
        fs::write(s.path(3), b"hello").unwrap();
        fs::write(dir.path().join(".00000000000000000009.tmp"), b"half").unwrap();
        let (_, found) = Store::open(dir.path()).unwrap();
        assert_eq!(found.corrupt, 3);
        assert_eq!(found.partial, 1);
        assert_eq!(found.entries.len(), 1);
        assert_eq!(found.entries[0].id, 4);
        assert_eq!(fs::read_dir(dir.path().join("corrupt")).unwrap().count(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(dir.path()).unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, b"secret").unwrap();
        std::os::unix::fs::symlink(&target, s.path(7)).unwrap();
        assert!(s.read(7).is_err());
        // The temporary name is created exclusively: a planted link fails.
        std::os::unix::fs::symlink(&target, dir.path().join(".00000000000000000008.tmp")).unwrap();
        assert!(s.write(8, &payload(8)).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"secret");
    }
}
