//! The kernel receive buffer of the datagram listeners (`SO_RCVBUF`).
//!
//! UDP and Unix datagrams have no flow control: what arrives while the
//! reader is not scheduled waits in this buffer or is dropped by the
//! kernel, uncounted by the daemon. The OS default (212,992 B on Linux)
//! overflows on one client's usual burst on a busy host, so unless
//! `dogstatsd_so_rcvbuf` sets a size the listener raises it to
//! [`DEFAULT_TARGET`]: `SO_RCVBUFFORCE` where the process may (Linux,
//! `CAP_NET_ADMIN`), else `SO_RCVBUF`, which the kernel caps at
//! `net.core.rmem_max`. It never lowers the OS default.

use socket2::SockRef;

/// The size asked for when nothing is configured. The kernel books
/// twice the asked size (for its own overhead) and reports that.
pub(crate) const DEFAULT_TARGET: usize = 4 << 20;

/// Where the effective size came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// `dogstatsd_so_rcvbuf`.
    Configured,
    /// Raised by default with `SO_RCVBUFFORCE` (privileged).
    Forced,
    /// Raised by default with `SO_RCVBUF` (capped at `net.core.rmem_max`).
    Raised,
    /// The OS default, already at least as large, or raising failed.
    OsDefault,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Self::Configured => "dogstatsd_so_rcvbuf",
            Self::Forced => "raised by default, SO_RCVBUFFORCE",
            Self::Raised => "raised by default, capped by net.core.rmem_max",
            Self::OsDefault => "OS default",
        }
    }
}

/// Sets the receive buffer: `configured` bytes when positive (an error is
/// returned as is), else raised as the module says. Returns the effective
/// size the kernel reports and where it came from.
pub(crate) fn apply(socket: SockRef<'_>, configured: i64) -> std::io::Result<(usize, Source)> {
    if configured > 0 {
        socket.set_recv_buffer_size(usize::try_from(configured).unwrap_or(usize::MAX))?;
        return Ok((socket.recv_buffer_size()?, Source::Configured));
    }
    let before = socket.recv_buffer_size()?;
    let source = raise(&socket, before);
    Ok((socket.recv_buffer_size()?, source))
}

fn raise(socket: &SockRef<'_>, before: usize) -> Source {
    // The kernel reports twice what was asked.
    if before >= DEFAULT_TARGET * 2 {
        return Source::OsDefault;
    }
    if force(socket) {
        return Source::Forced;
    }
    // Without privilege the kernel silently caps at rmem_max; a cap below
    // the OS default would lower it, so look first.
    let cap = rmem_max().unwrap_or(DEFAULT_TARGET).min(DEFAULT_TARGET);
    if cap * 2 <= before {
        return Source::OsDefault;
    }
    match socket.set_recv_buffer_size(cap) {
        Ok(()) => Source::Raised,
        Err(e) => {
            tracing::debug!("cannot raise SO_RCVBUF: {e}");
            Source::OsDefault
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn force(socket: &SockRef<'_>) -> bool {
    use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
    // EPERM without CAP_NET_ADMIN: fall back to the capped option.
    let socket: &socket2::Socket = socket;
    setsockopt(socket, RcvBufForce, &DEFAULT_TARGET).is_ok()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn force(_socket: &SockRef<'_>) -> bool {
    false
}

#[cfg(target_os = "linux")]
fn rmem_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn rmem_max() -> Option<usize> {
    None
}

/// The start-up line naming the effective size; tests read it.
pub(crate) fn log(listener: &str, (bytes, source): (usize, Source)) {
    tracing::info!(
        "{listener} receive buffer {bytes} bytes ({})",
        source.describe()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn os_default() -> usize {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        SockRef::from(&s).recv_buffer_size().unwrap()
    }

    #[test]
    fn default_never_lowers_and_raises_where_allowed() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (bytes, source) = apply(SockRef::from(&s), 0).unwrap();
        assert!(bytes >= os_default(), "{bytes} < {}", os_default());
        assert_ne!(source, Source::Configured);
        if matches!(source, Source::Forced) {
            assert!(bytes >= DEFAULT_TARGET * 2, "{bytes}");
        }
        if let (Some(max), Source::Raised) = (rmem_max(), source) {
            assert!(bytes >= max.min(DEFAULT_TARGET), "{bytes} vs {max}");
        }
    }

    #[test]
    fn configured_overrides_the_default() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Smaller than any OS default: the configured value wins even
        // when it lowers the buffer.
        let (bytes, source) = apply(SockRef::from(&s), 8192).unwrap();
        assert_eq!(source, Source::Configured);
        let (default, _) =
            apply(SockRef::from(&UdpSocket::bind("127.0.0.1:0").unwrap()), 0).unwrap();
        assert!(bytes < default, "{bytes} >= {default}");
        #[cfg(target_os = "linux")]
        assert_eq!(bytes, 8192 * 2, "Linux books twice the asked size");
    }
}
