//! Origin detection for Unix datagrams (spec §1.3): the sender's PID (from
//! `SCM_CREDENTIALS`) to its container ID, read from `/proc/<pid>/cgroup`
//! and cached for a minute, "no container" included.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a PID's answer is trusted (the Agent's cache duration).
const TTL: Duration = Duration::from_secs(60);

/// Entries kept at most; the cache is cleared when it fills up.
const MAX_ENTRIES: usize = 16_384;

/// Why a PID could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// The kernel reported PID 0: the sender is in another PID namespace.
    #[error("pid 0 in credentials (is the agent in host PID mode?)")]
    PidZero,
    /// `/proc/<pid>/cgroup` could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The container ID in a `/proc/<pid>/cgroup` file, if any: a 64-hex-digit
/// path segment (Docker, containerd, CRI-O, podman; with or without their
/// `docker-`/`cri-containerd-`/`crio-`/`libpod-` prefixes and `.scope`
/// suffix) or an ECS task ID (`<32 hex>-<digits>`).
pub fn container_id_from_cgroup(content: &str) -> Option<&str> {
    for line in content.lines() {
        // `hierarchy-ID:controllers:path`; the path may itself hold ':'.
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for segment in path.split('/').rev() {
            let s = segment.strip_suffix(".scope").unwrap_or(segment);
            let s = s.rsplit_once('-').map_or(s, |(prefix, rest)| {
                if is_hex(rest, 64) && !prefix.is_empty() {
                    rest
                } else {
                    s
                }
            });
            if is_hex(s, 64) || is_ecs_task(s) {
                return Some(s);
            }
        }
    }
    None
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn is_ecs_task(s: &str) -> bool {
    s.split_once('-').is_some_and(|(id, n)| {
        is_hex(id, 32) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// PID → container ID with a one-minute cache.
#[derive(Debug)]
pub struct OriginResolver {
    proc_root: PathBuf,
    cache: HashMap<i32, (Option<Arc<str>>, Instant)>,
}

impl Default for OriginResolver {
    fn default() -> Self {
        Self::new("/proc")
    }
}

impl OriginResolver {
    /// Reads cgroups under `proc_root` (normally `/proc`).
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
            cache: HashMap::new(),
        }
    }

    /// The container of `pid` at `now` (`None`: not in a container).
    pub fn resolve(&mut self, pid: i32, now: Instant) -> Result<Option<Arc<str>>, OriginError> {
        if pid == 0 {
            return Err(OriginError::PidZero);
        }
        if let Some((id, at)) = self.cache.get(&pid)
            && now.saturating_duration_since(*at) < TTL
        {
            return Ok(id.clone());
        }
        let path = self.proc_root.join(pid.to_string()).join("cgroup");
        let content = std::fs::read_to_string(&path).map_err(|e| OriginError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let id = container_id_from_cgroup(&content).map(Arc::from);
        if self.cache.len() >= MAX_ENTRIES {
            self.cache.clear();
        }
        self.cache.insert(pid, (id.clone(), now));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860";

    #[test]
    fn cgroup_formats() {
        let v1 = format!("12:memory:/docker/{ID}\n11:cpu:/docker/{ID}\n");
        assert_eq!(container_id_from_cgroup(&v1), Some(ID));
        let systemd = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_id_from_cgroup(&systemd), Some(ID));
        let k8s = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{ID}.scope\n"
        );
        assert_eq!(container_id_from_cgroup(&k8s), Some(ID));
        let ecs = "1:name=systemd:/ecs/5a081c13b7fb4bbbb1f8a7e6e3ca1cd8/5a081c13b7fb4bbbb1f8a7e6e3ca1cd8-3571906183\n";
        assert_eq!(
            container_id_from_cgroup(ecs),
            Some("5a081c13b7fb4bbbb1f8a7e6e3ca1cd8-3571906183")
        );
        assert_eq!(
            container_id_from_cgroup("0::/user.slice/session-2.scope\n"),
            None
        );
        assert_eq!(container_id_from_cgroup("garbage\n\n::"), None);
        assert_eq!(container_id_from_cgroup(&ID.to_uppercase()), None);
    }

    #[test]
    fn resolver_reads_and_caches() {
        let root = std::env::temp_dir().join(format!("dsd-origin-{}", std::process::id()));
        let dir = root.join("42");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup"), format!("0::/docker/{ID}\n")).unwrap();
        let mut r = OriginResolver::new(&root);
        let t0 = Instant::now();
        assert_eq!(r.resolve(42, t0).unwrap().as_deref(), Some(ID));
        // Cached: the file changing is not seen within the minute.
        std::fs::write(dir.join("cgroup"), "0::/\n").unwrap();
        assert_eq!(
            r.resolve(42, t0 + Duration::from_secs(30))
                .unwrap()
                .as_deref(),
            Some(ID)
        );
        assert_eq!(r.resolve(42, t0 + Duration::from_secs(61)).unwrap(), None);
        assert_eq!(r.resolve(0, t0), Err(OriginError::PidZero));
        assert!(matches!(r.resolve(43, t0), Err(OriginError::Read { .. })));
        let _ = std::fs::remove_dir_all(&root);
    }
}
