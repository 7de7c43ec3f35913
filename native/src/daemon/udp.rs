//! The UDP listener: one thread doing blocking reads into the packet
//! assembler, as the Agent does. A datagram longer than
//! `dogstatsd_buffer_size` is truncated by the kernel read.
//!
//! On Linux reads go through `recvmmsg` (up to 32 datagrams a syscall).
//! Measured with the (since replaced) UDP load example, now
//! `benches/src/bin/e2e.rs`, on a loaded 2-core machine: at
//! 100k datagrams/s batches average ~3.5 datagrams and the reader costs
//! the same as with `recv` (~1.6-1.9 µs a datagram, within noise); at
//! 150-200k/s batches grow and the reader thread needed 20-40% less CPU
//! per datagram. It never costs more, so it stays.
//!
//! At moderate rates most `recvmmsg` calls still return one or two
//! datagrams, so the thread sleeps and wakes per datagram. After a short
//! batch the reader naps [`NAP`] (100 µs) so the next call takes a batch:
//! at 100k datagrams/s of one message each this halved the reader's CPU
//! (1.0 → 0.5 CPU-s over 500k datagrams, `/proc/<pid>/task/*/stat`) and
//! adds at most ~0.2 ms of latency to a 10 s bucket.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dogstatsd_core::protocol::Transport;
use socket2::{Domain, Protocol, Socket, Type};

use super::assembler::Assembler;
use super::packet::{Packet, PacketSender};
use super::telemetry::Listener;
use crate::settings::DaemonSettings;

/// Why the UDP listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UdpError {
    /// `bind_host` did not resolve.
    #[error("cannot resolve bind_host {host:?}: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// Socket creation, `SO_RCVBUF` or bind failed.
    #[error("cannot listen on udp {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The address to bind, `None` when UDP is disabled.
pub(crate) fn bind_addr(s: &DaemonSettings) -> Result<Option<SocketAddr>, UdpError> {
    let Some(port) = s.dogstatsd_port.bind_port() else {
        return Ok(None);
    };
    if s.dogstatsd_non_local_traffic {
        return Ok(Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )));
    }
    let resolve_err = |reason: String| UdpError::Resolve {
        host: s.bind_host.clone(),
        reason,
    };
    let addrs: Vec<SocketAddr> = (s.bind_host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| resolve_err(e.to_string()))?
        .collect();
    // `localhost` usually resolves to both; the Agent ends up on IPv4.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .map(Some)
        .ok_or_else(|| resolve_err("no address".into()))
}

/// Binds the UDP socket; `SO_RCVBUF` failure is fatal for this listener.
pub(crate) fn bind(addr: SocketAddr, so_rcvbuf: i64) -> Result<UdpSocket, UdpError> {
    let err = |source| UdpError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    if so_rcvbuf > 0 {
        socket
            .set_recv_buffer_size(usize::try_from(so_rcvbuf).unwrap_or(usize::MAX))
            .map_err(err)?;
    }
    socket.bind(&addr.into()).map_err(err)?;
    Ok(socket.into())
}

/// How long the reader pauses after a short batch.
const NAP: Duration = Duration::from_micros(100);

/// Reads until `stop`, then drains what the kernel still holds, hands over
/// the last packet and returns.
pub(crate) fn spawn(
    socket: UdpSocket,
    sender: PacketSender,
    stop: Arc<AtomicBool>,
    flush_timeout: Duration,
) -> std::io::Result<JoinHandle<()>> {
    // The read timeout is both the assembler's ticker and how often the
    // stop flag is looked at.
    let tick = flush_timeout.clamp(Duration::from_millis(1), Duration::from_millis(100));
    socket.set_read_timeout(Some(tick))?;
    std::thread::Builder::new()
        .name("dsd-udp".into())
        .spawn(move || run(socket, sender, stop, flush_timeout))
}

fn run(socket: UdpSocket, sender: PacketSender, stop: Arc<AtomicBool>, flush_timeout: Duration) {
    let pool = sender.pool().clone();
    let telemetry = Arc::clone(sender.telemetry());
    let size = pool.buffer_size();
    let mut reader = batch::Reader::new(size);
    let mut asm = Assembler::new(size, flush_timeout, pool.get());
    let send = |buf: Vec<u8>| {
        sender.send(Packet {
            buf,
            transport: Transport::Udp,
            origin: None,
        });
    };
    let mut draining = false;
    loop {
        if !draining && stop.load(Ordering::Acquire) {
            draining = true;
            if let Err(e) = socket.set_nonblocking(true) {
                tracing::warn!("udp: cannot switch to non-blocking for the final drain: {e}");
                break;
            }
        }
        let mut now = None;
        let read = reader.recv(&socket, |datagram, truncated| {
            telemetry.received(Listener::Udp, datagram.len());
            if truncated {
                telemetry
                    .listener(Listener::Udp)
                    .truncated
                    .fetch_add(1, Ordering::Relaxed);
            }
            sender.capture().offer(Transport::Udp, datagram, None, None);
            let t = *now.get_or_insert_with(Instant::now);
            if let Some(p) = asm.push(datagram, t, || pool.get()) {
                send(p);
            }
        });
        match read {
            Ok(n) => {
                if n < batch::NAP_BELOW && !draining {
                    // A short batch means traffic is light enough that the
                    // thread would otherwise wake for nearly every
                    // datagram (~2 µs of CPU each). Let a few queue up in
                    // the kernel instead: NAP of traffic is far below any
                    // receive buffer, even the OS default, and batches
                    // that come back full never nap.
                    std::thread::sleep(NAP);
                }
                if let Some(p) =
                    asm.flush_due(now.unwrap_or_else(Instant::now), false, || pool.get())
                {
                    send(p);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if draining {
                    break;
                }
                if let Some(p) = asm.flush_due(Instant::now(), false, || pool.get()) {
                    send(p);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                telemetry
                    .listener(Listener::Udp)
                    .read_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!("udp read error: {e}");
                if draining {
                    break;
                }
                // e.g. ICMP errors surfacing on the socket: keep reading.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    if let Some(p) = asm.flush_due(Instant::now(), true, || pool.get()) {
        send(p);
    }
}

#[cfg(target_os = "linux")]
mod batch {
    //! `recvmmsg(2)` with `MSG_WAITFORONE`: wait for one datagram, then
    //! take up to [`BATCH`] that are already queued in the same syscall.
    use std::io::IoSliceMut;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd as _;

    use nix::sys::socket::{MsgFlags, MultiHeaders, recvmmsg};

    /// Datagrams per syscall at most.
    pub(super) const BATCH: usize = 32;
    /// A batch smaller than this is followed by a nap.
    pub(super) const NAP_BELOW: usize = BATCH / 2;

    pub(super) struct Reader {
        headers: MultiHeaders<()>,
        buf: Vec<u8>,
        size: usize,
        lens: Vec<usize>,
    }

    impl Reader {
        pub(super) fn new(size: usize) -> Self {
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
        /// whether it was longer.
        pub(super) fn recv(
            &mut self,
            socket: &UdpSocket,
            mut each: impl FnMut(&[u8], bool),
        ) -> std::io::Result<usize> {
            self.lens.clear();
            {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
                    .buf
                    .chunks_mut(self.size + 1)
                    .map(|c| [IoSliceMut::new(c)])
                    .collect();
                let got = recvmmsg(
                    socket.as_raw_fd(),
                    &mut self.headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                )
                .map_err(std::io::Error::from)?;
                self.lens.extend(got.map(|m| m.bytes));
            }
            for (i, &n) in self.lens.iter().enumerate() {
                let start = i * (self.size + 1);
                each(&self.buf[start..start + n.min(self.size)], n > self.size);
            }
            Ok(self.lens.len())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod batch {
    //! One datagram per read where `recvmmsg(2)` is not available.
    use std::net::UdpSocket;

    /// Every read is one datagram: napping would cap the rate.
    pub(super) const NAP_BELOW: usize = 0;

    pub(super) struct Reader {
        buf: Vec<u8>,
        size: usize,
    }

    impl Reader {
        pub(super) fn new(size: usize) -> Self {
            // One spare byte tells a truncated datagram apart.
            Self {
                buf: vec![0; size + 1],
                size,
            }
        }

        pub(super) fn recv(
            &mut self,
            socket: &UdpSocket,
            mut each: impl FnMut(&[u8], bool),
        ) -> std::io::Result<usize> {
            let n = socket.recv(&mut self.buf)?;
            each(&self.buf[..n.min(self.size)], n > self.size);
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Port;

    #[test]
    fn bind_addresses() {
        let mut s = DaemonSettings::default();
        assert_eq!(
            bind_addr(&s).unwrap(),
            Some("127.0.0.1:8125".parse().unwrap())
        );
        s.dogstatsd_non_local_traffic = true;
        assert_eq!(
            bind_addr(&s).unwrap(),
            Some("0.0.0.0:8125".parse().unwrap())
        );
        s.dogstatsd_port = Port::Off;
        assert_eq!(bind_addr(&s).unwrap(), None);
        s.dogstatsd_port = Port::Random;
        s.dogstatsd_non_local_traffic = false;
        s.bind_host = "127.0.0.1".into();
        assert_eq!(bind_addr(&s).unwrap(), Some("127.0.0.1:0".parse().unwrap()));
    }
}
