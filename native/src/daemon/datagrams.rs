//! Batched datagram reads for the UDP and Unix datagram listeners.
//!
//! On Linux reads go through `recvmmsg(2)` with `MSG_WAITFORONE`: wait for
//! one datagram, then take up to 32 already queued in the same syscall,
//! each with its sender's address (the client key). Elsewhere each read
//! is one datagram.
//!
//! Reads block: the thread sleeps in the kernel until a datagram comes or
//! the socket's read timeout passes. [`ReadTimeout`] sets that timeout so
//! the reader wakes by the time the oldest packet an assembler holds is
//! due (`dogstatsd_packet_buffer_flush_timeout`). A short nap ([`NAP`])
//! follows only a batch that shows dense traffic ([`Reader::nap_pays`]:
//! several datagrams queued, yet fewer than half a batch): then the nap
//! gathers a batch for the next call. At everyday rates of packed
//! datagrams a batch is one datagram, and a nap there cost a timer, a
//! wake-up and a syscall for nothing. Measurements: `benches/results/`.

use std::time::{Duration, Instant};

use super::assembler::Assembler;

/// How long the UDP reader pauses after a batch that shows dense traffic.
pub(crate) const NAP: Duration = Duration::from_micros(100);

/// The socket read timeout of a listener that holds assembled packets:
/// short enough to wake by the earliest held packet's deadline, changed
/// (one `setsockopt`) only when that matters. Timeouts are whole powers
/// of two milliseconds at most the time left, so a reader never sleeps
/// past a deadline (beyond the kernel's timer granularity) and re-arms
/// about log2(timeout / 1 ms) times per held packet, not once per read.
#[derive(Debug)]
pub(crate) struct ReadTimeout {
    current: Duration,
    idle: Duration,
}

impl ReadTimeout {
    /// `idle` is the timeout when nothing is held (how often the stop flag
    /// is looked at); the socket starts with it.
    pub(crate) fn new(idle: Duration) -> Self {
        let idle = idle.max(Duration::from_millis(1));
        Self {
            current: idle,
            idle,
        }
    }

    /// Before a blocking read: sets (through `set`) the timeout that wakes
    /// the reader by the time the earliest packet `asms` hold is due.
    pub(crate) fn arm<'a>(
        &mut self,
        asms: impl Iterator<Item = &'a Assembler>,
        set: impl FnOnce(Duration) -> std::io::Result<()>,
    ) {
        let now = Instant::now();
        let left = asms
            .filter_map(Assembler::deadline)
            .min()
            .map(|d| d.saturating_duration_since(now));
        if let Some(t) = self.next(left)
            && let Err(e) = set(t)
        {
            tracing::debug!("cannot set the read timeout: {e}");
        }
    }

    /// The timeout to set before the next read when the earliest held
    /// packet is due in `left` (`None`: nothing held), or `None` when the
    /// one in force will do.
    pub(crate) fn next(&mut self, left: Option<Duration>) -> Option<Duration> {
        let want = left.map_or(self.idle, |l| floor_pow2_ms(l).min(self.idle));
        let overshoots = left.is_some_and(|l| self.current > l.max(Duration::from_millis(1)));
        // Far shorter than needed: wakes for nothing; re-arm longer.
        let wasteful = self.current * 4 <= want;
        if (overshoots || wasteful) && want != self.current {
            self.current = want;
            return Some(want);
        }
        None
    }
}

/// The largest whole power of two milliseconds not above `d`, at least
/// 1 ms (a zero socket timeout means none).
fn floor_pow2_ms(d: Duration) -> Duration {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(1 << (63 - ms.leading_zeros()))
}

/// A datagram socket: UDP or Unix.
pub(crate) trait DatagramSocket {
    /// One datagram into `buf` (truncated to it), with its sender's client
    /// key (0 when the sender has no address, e.g. an unbound Unix socket).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    fn recv_one(&self, buf: &mut [u8]) -> std::io::Result<(usize, u64)>;

    /// The descriptor, for `recvmmsg`.
    #[cfg(target_os = "linux")]
    fn fd(&self) -> std::os::fd::RawFd;
}

impl DatagramSocket for std::net::UdpSocket {
    fn recv_one(&self, buf: &mut [u8]) -> std::io::Result<(usize, u64)> {
        self.recv_from(buf)
            .map(|(n, from)| (n, super::packet::client_of_addr(&from)))
    }

    #[cfg(target_os = "linux")]
    fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self)
    }
}

#[cfg(unix)]
impl DatagramSocket for std::os::unix::net::UnixDatagram {
    fn recv_one(&self, buf: &mut [u8]) -> std::io::Result<(usize, u64)> {
        self.recv(buf).map(|n| (n, 0))
    }

    #[cfg(target_os = "linux")]
    fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self)
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::Reader;

#[cfg(target_os = "linux")]
mod linux {
    use std::io::IoSliceMut;

    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};

    use super::DatagramSocket;

    /// Datagrams per syscall at most.
    pub(crate) const BATCH: usize = 32;

    /// Reusable buffers for one listener.
    pub(crate) struct Reader {
        headers: MultiHeaders<SockaddrStorage>,
        buf: Vec<u8>,
        size: usize,
        lens: Vec<(usize, u64)>,
    }

    impl Reader {
        /// Buffers for datagrams of up to `size` bytes.
        pub(crate) fn new(size: usize) -> Self {
            Self {
                headers: MultiHeaders::preallocate(BATCH, None),
                // One spare byte per datagram tells a truncated one apart.
                buf: vec![0; BATCH * (size + 1)],
                size,
                lens: Vec::with_capacity(BATCH),
            }
        }

        /// Reads at least one datagram (each truncated to the buffer size,
        /// as a plain read truncates) and hands each to `each`, with
        /// whether it was longer and its sender's client key; returns how
        /// many.
        pub(crate) fn recv(
            &mut self,
            socket: &impl DatagramSocket,
            mut each: impl FnMut(&[u8], bool, u64),
        ) -> std::io::Result<usize> {
            self.lens.clear();
            {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
                    .buf
                    .chunks_mut(self.size + 1)
                    .map(|c| [IoSliceMut::new(c)])
                    .collect();
                let got = recvmmsg(
                    socket.fd(),
                    &mut self.headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                )
                .map_err(std::io::Error::from)?;
                self.lens
                    .extend(got.map(|m| (m.bytes, m.address.as_ref().map_or(0, client_key))));
            }
            for (i, &(n, client)) in self.lens.iter().enumerate() {
                let start = i * (self.size + 1);
                each(
                    &self.buf[start..start + n.min(self.size)],
                    n > self.size,
                    client,
                );
            }
            Ok(self.lens.len())
        }

        /// True when a batch of `n` shows traffic dense enough that a nap
        /// before the next read saves wake-ups: more than one datagram
        /// was queued, and the batch did not come back full (full
        /// batches read on at once).
        pub(crate) fn nap_pays(n: usize) -> bool {
            (2..BATCH / 2).contains(&n)
        }
    }

    /// An IP sender's client key; 0 for anything else (Unix peers).
    fn client_key(a: &SockaddrStorage) -> u64 {
        let addr: Option<std::net::SocketAddr> = if let Some(v4) = a.as_sockaddr_in() {
            Some(std::net::SocketAddrV4::from(*v4).into())
        } else {
            a.as_sockaddr_in6()
                .map(|v6| std::net::SocketAddrV6::from(*v6).into())
        };
        addr.map_or(0, |a| crate::daemon::packet::client_of_addr(&a))
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) use other::Reader;

#[cfg(not(target_os = "linux"))]
mod other {
    use super::DatagramSocket;

    /// One datagram per read.
    pub(crate) struct Reader {
        buf: Vec<u8>,
        size: usize,
    }

    impl Reader {
        /// A buffer for datagrams of up to `size` bytes.
        pub(crate) fn new(size: usize) -> Self {
            // One spare byte tells a truncated datagram apart.
            Self {
                buf: vec![0; size + 1],
                size,
            }
        }

        /// Reads one datagram and hands it to `each`, with whether it was
        /// longer than the buffer size and its sender's client key.
        pub(crate) fn recv(
            &mut self,
            socket: &impl DatagramSocket,
            mut each: impl FnMut(&[u8], bool, u64),
        ) -> std::io::Result<usize> {
            let (n, client) = socket.recv_one(&mut self.buf)?;
            each(&self.buf[..n.min(self.size)], n > self.size, client);
            Ok(1)
        }

        /// Never: each read is one datagram, a nap would cap the rate.
        pub(crate) fn nap_pays(_n: usize) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn never_sleeps_past_the_earliest_deadline() {
        let mut t = ReadTimeout::new(100 * MS);
        assert_eq!(t.next(None), None, "idle keeps the idle timeout");
        for left_ms in [100, 99, 70, 64, 63, 40, 17, 5, 2, 1, 0] {
            let left = left_ms * MS;
            t.next(Some(left));
            assert!(
                t.current <= left.max(MS),
                "{left:?}: timeout {:?} would sleep past it",
                t.current
            );
        }
        assert_eq!(t.current, MS);
    }

    #[test]
    fn re_arms_rarely_while_a_packet_is_held() {
        let mut t = ReadTimeout::new(100 * MS);
        // Reads every 0.25 ms while one packet waits its 100 ms.
        let sets = (0..400u64)
            .filter(|i| {
                t.next(Some(100 * MS - Duration::from_micros(i * 250)))
                    .is_some()
            })
            .count();
        assert!(sets <= 8, "{sets} setsockopt calls");
        // Once nothing is held it goes back to the idle timeout.
        assert_eq!(t.next(None), Some(100 * MS));
        assert_eq!(t.next(Some(100 * MS)), None, "100 ms left: 100 ms will do");
        assert_eq!(t.next(Some(90 * MS)), Some(64 * MS));
        assert_eq!(t.next(Some(80 * MS)), None);
    }
}
