//! The UDP listener: one thread doing blocking reads into the packet
//! assembler, as the Agent does. A datagram longer than
//! `dogstatsd_buffer_size` is truncated by the kernel read.
//!
//! Reads are batched by [`super::datagrams`] (`recvmmsg` on Linux) and
//! block until a datagram comes or the earliest held packet is due; a
//! short nap follows only batches that show dense traffic.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dogstatsd_core::protocol::Transport;
use socket2::{Domain, Protocol, Socket, Type};

use super::assembler::Assembler;
use super::datagrams::{NAP, ReadTimeout, Reader};
use super::packet::{Packet, PacketSender, lane_of};
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

/// Binds the UDP socket with its receive buffer ([`super::rcvbuf`]); a
/// configured `SO_RCVBUF` that fails is fatal for this listener.
pub(crate) fn bind(addr: SocketAddr, so_rcvbuf: i64) -> Result<UdpSocket, UdpError> {
    let err = |source| UdpError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    let rcvbuf = super::rcvbuf::apply(socket2::SockRef::from(&socket), so_rcvbuf).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    super::rcvbuf::log("udp", rcvbuf);
    Ok(socket.into())
}

/// Reads until `stop`, then drains what the kernel still holds, hands over
/// the last packet and returns.
pub(crate) fn spawn(
    socket: UdpSocket,
    sender: PacketSender,
    stop: Arc<AtomicBool>,
    flush_timeout: Duration,
) -> std::io::Result<JoinHandle<()>> {
    // With nothing held, the read timeout is how often the stop flag is
    // looked at; with packets held, [`ReadTimeout`] shortens it.
    let tick = flush_timeout.clamp(Duration::from_millis(1), Duration::from_millis(100));
    socket.set_read_timeout(Some(tick))?;
    std::thread::Builder::new()
        .name("dsd-udp".into())
        .spawn(move || run(socket, sender, stop, flush_timeout, ReadTimeout::new(tick)))
}

fn run(
    socket: UdpSocket,
    sender: PacketSender,
    stop: Arc<AtomicBool>,
    flush_timeout: Duration,
    mut timeout: ReadTimeout,
) {
    let pool = sender.pool().clone();
    let telemetry = Arc::clone(sender.telemetry());
    let size = pool.buffer_size();
    let mut reader = Reader::new(size);
    // One assembler per worker queue: a packet joins datagrams of clients
    // that share a worker only, so each client's datagrams stay on one
    // worker, in order.
    let mut asms: Vec<(Assembler, u64)> = (0..sender.lanes())
        .map(|_| (Assembler::new(size, flush_timeout, pool.get()), 0))
        .collect();
    let mut handover = sender.handover().register();
    let send = |buf: Vec<u8>, client: u64| {
        sender.send(Packet {
            buf,
            transport: Transport::Udp,
            origin: None,
            client,
        });
    };
    let flush_due = |asms: &mut [(Assembler, u64)], now: Instant, force: bool| {
        for (a, client) in asms.iter_mut() {
            if let Some(p) = a.flush_due(now, force, || pool.get()) {
                send(p, *client);
            }
        }
    };
    let mut draining = false;
    // A flush asked for what the listener holds: read what the kernel
    // holds without blocking, then hand every packet over.
    let nonblocking = |on: bool| socket.set_nonblocking(on);
    loop {
        if !draining && stop.load(Ordering::Acquire) {
            draining = true;
            if let Err(e) = socket.set_nonblocking(true) {
                tracing::warn!("udp: cannot switch to non-blocking for the final drain: {e}");
                break;
            }
        }
        let serving = !draining && handover.begin(nonblocking);
        if !draining && !serving {
            timeout.arm(asms.iter().map(|(a, _)| a), |t| {
                socket.set_read_timeout(Some(t))
            });
        }
        let mut now = None;
        let read = reader.recv(&socket, |datagram, truncated, client| {
            telemetry.received(Listener::Udp, datagram.len());
            if truncated {
                telemetry
                    .listener(Listener::Udp)
                    .truncated
                    .fetch_add(1, Ordering::Relaxed);
            }
            sender.capture().offer(Transport::Udp, datagram, None, None);
            let t = *now.get_or_insert_with(Instant::now);
            let lane = lane_of(client, asms.len());
            let (asm, held_for) = &mut asms[lane];
            if let Some(p) = asm.push(datagram, t, || pool.get()) {
                send(p, *held_for);
            }
            *held_for = client;
        });
        let empty = matches!(&read, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
        if !draining && handover.read_done(empty) {
            flush_due(&mut asms, Instant::now(), true);
            handover.finish(nonblocking);
            if empty {
                continue;
            }
        }
        match read {
            Ok(n) => {
                if Reader::nap_pays(n) && !draining && !serving {
                    std::thread::sleep(NAP);
                }
                flush_due(&mut asms, now.unwrap_or_else(Instant::now), false);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if draining {
                    break;
                }
                flush_due(&mut asms, Instant::now(), false);
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
    flush_due(&mut asms, Instant::now(), true);
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
