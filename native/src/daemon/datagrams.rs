//! Batched datagram reads for the UDP and Unix datagram listeners.
//!
//! On Linux reads go through `recvmmsg(2)` with `MSG_WAITFORONE`: wait for
//! one datagram, then take up to 32 already queued in the same syscall,
//! each with its sender's address (the client key). At moderate rates
//! most calls still return one or two datagrams, so the thread would sleep
//! and wake per datagram; after a short batch ([`Reader::is_short`]) the
//! UDP reader naps [`NAP`] so the next call takes a batch (not the Unix
//! one: see `uds.rs`). 100 µs of traffic is far below any receive buffer,
//! batches that come back full never nap, and a 10 s bucket does not
//! notice 0.1 ms of latency. Measurements: `benches/results/`.
//!
//! Elsewhere each read is one datagram and there is no nap (it would cap
//! the rate).

use std::time::Duration;

/// How long a reader pauses after a short batch.
pub(crate) const NAP: Duration = Duration::from_micros(100);

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

        /// True when a batch of `n` means light traffic: nap before the
        /// next read.
        pub(crate) fn is_short(n: usize) -> bool {
            n < BATCH / 2
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
        pub(crate) fn is_short(_n: usize) -> bool {
            false
        }
    }
}
