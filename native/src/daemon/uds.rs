//! The Unix datagram listener: one thread, blocking reads, every datagram
//! one packet (no assembler: each packet may carry its own origin). With
//! `dogstatsd_origin_detection` on Linux the sender's credentials come
//! with each datagram and its PID is resolved to a container.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dogstatsd_core::protocol::Transport;

use super::assembler::Assembler;
use super::datagrams::{ReadTimeout, Reader};
use super::packet::{Packet, PacketSender};
use super::socket_file::{self, Cleanup, SocketPathError};
use super::telemetry::Listener;

/// The read timeout with nothing held: how often the stop flag is looked
/// at.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// Binds the datagram socket at `path`.
pub(crate) fn bind(
    path: &Path,
    so_rcvbuf: i64,
    origin_detection: bool,
) -> Result<UnixDatagram, SocketPathError> {
    socket_file::prepare(path)?;
    let io = |source| SocketPathError::Io {
        path: path.to_path_buf(),
        source,
    };
    let socket = UnixDatagram::bind(path).map_err(io)?;
    socket_file::set_mode(path)?;
    match super::rcvbuf::apply(socket2::SockRef::from(&socket), so_rcvbuf) {
        Ok(rcvbuf) => super::rcvbuf::log("uds", rcvbuf),
        Err(e) => tracing::warn!("uds: cannot set SO_RCVBUF: {e}"),
    }
    if origin_detection {
        creds::enable(&socket).map_err(io)?;
    }
    socket.set_read_timeout(Some(READ_TIMEOUT)).map_err(io)?;
    Ok(socket)
}

/// Reads until `stop`, drains what is queued, removes the socket file.
/// With `join` (a flush timeout) datagrams are joined into packets by the
/// UDP assembler: a queue hand-off and a worker wake-up per datagram cost
/// more than the datagram itself.
pub(crate) fn spawn(
    socket: UnixDatagram,
    path: PathBuf,
    sender: PacketSender,
    stop: Arc<AtomicBool>,
    origin_detection: bool,
    join: Option<Duration>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dsd-uds".into())
        .spawn(move || {
            let _cleanup = Cleanup(path);
            run(&socket, &sender, &stop, origin_detection, join);
        })
}

fn run(
    socket: &UnixDatagram,
    sender: &PacketSender,
    stop: &AtomicBool,
    origin_detection: bool,
    join: Option<Duration>,
) {
    let pool = sender.pool().clone();
    let telemetry = Arc::clone(sender.telemetry());
    let size = pool.buffer_size();
    let mut origins = creds::Origins::new(origin_detection);
    let mut asm = join.map(|timeout| Assembler::new(size, timeout, pool.get()));
    // The client is the sender's pid when credentials say it; otherwise
    // peers are indistinguishable (unbound sockets) and share key 0, so
    // they share one worker and keep their order.
    let send = |buf: Vec<u8>, origin: Option<Arc<str>>, client: u64| {
        sender.send(Packet {
            buf,
            transport: Transport::UnixDatagram,
            origin,
            client,
        });
    };
    let mut handover = sender.handover().register();
    let nonblocking = |on: bool| socket.set_nonblocking(on);
    let mut draining = false;
    // Read into one scratch buffer and copy only what arrived: zero-filling
    // a packet-sized buffer per datagram cost more than everything else the
    // listener does (and made every queued packet's pages resident).
    // One spare byte tells a datagram longer than `size` apart.
    let mut scratch = vec![0u8; size + 1];
    // Without origin detection no credentials are needed: read in batches.
    let mut batched = (!origin_detection).then(|| Reader::new(size));
    let mut timeout = ReadTimeout::new(READ_TIMEOUT);
    loop {
        if !draining && stop.load(Ordering::Acquire) {
            draining = true;
            if socket.set_nonblocking(true).is_err() {
                break;
            }
        }
        if !draining && !handover.begin(nonblocking) {
            timeout.arm(asm.iter(), |t| socket.set_read_timeout(Some(t)));
        }
        let mut handle = |datagram: &[u8], truncated: bool, origin: FoundOrigin| {
            if truncated {
                telemetry
                    .listener(Listener::Uds)
                    .truncated
                    .fetch_add(1, Ordering::Relaxed);
            }
            telemetry.received(Listener::Uds, datagram.len());
            sender.capture().offer(
                Transport::UnixDatagram,
                datagram,
                origin.pid,
                origin.container.as_ref(),
            );
            if origin.failed {
                telemetry
                    .origin_detection_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
            match asm.as_mut() {
                Some(a) => {
                    let now = Instant::now();
                    if let Some(p) = a.push(datagram, now, || pool.get()) {
                        send(p, None, 0);
                    }
                    if let Some(p) = a.flush_due(now, false, || pool.get()) {
                        send(p, None, 0);
                    }
                }
                None => {
                    let mut buf = pool.get();
                    buf.extend_from_slice(datagram);
                    send(buf, origin.container, origin.pid.map_or(0, u64::from));
                }
            }
        };
        let read = match batched.as_mut() {
            Some(r) => r.recv(socket, |d, truncated, _| {
                handle(d, truncated, FoundOrigin::default());
            }),
            None => origins.recv(socket, &mut scratch).map(|(n, origin)| {
                handle(&scratch[..n.min(size)], n > size, origin);
                1
            }),
        };
        let empty = matches!(&read, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
        if !draining && handover.read_done(empty) {
            if let Some(p) = asm
                .as_mut()
                .and_then(|a| a.flush_due(Instant::now(), true, || pool.get()))
            {
                send(p, None, 0);
            }
            handover.finish(nonblocking);
            if empty {
                continue;
            }
        }
        match read {
            // No nap here, unlike UDP: a Unix datagram socket queues only
            // `net.unix.max_dgram_qlen` datagrams (10 by default), and
            // clients then block or, like Datadog's, drop: a nap caps the
            // rate a sender gets through.
            Ok(_) => {}
            Err(e) => {
                if let Some(p) = asm
                    .as_mut()
                    .and_then(|a| a.flush_due(Instant::now(), false, || pool.get()))
                {
                    send(p, None, 0);
                }
                match e.kind() {
                    ErrorKind::WouldBlock | ErrorKind::TimedOut if draining => break,
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => {}
                    _ => {
                        telemetry
                            .listener(Listener::Uds)
                            .read_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("uds read error: {e}");
                        if draining {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
    }
    if let Some(p) = asm
        .as_mut()
        .and_then(|a| a.flush_due(Instant::now(), true, || pool.get()))
    {
        send(p, None, 0);
    }
}

/// What origin detection found for one datagram.
#[derive(Debug, Default)]
pub(crate) struct FoundOrigin {
    /// The sender's container.
    pub(crate) container: Option<Arc<str>>,
    /// Resolution was attempted and failed (counted, packet kept).
    pub(crate) failed: bool,
    /// The sender's process id, from its credentials.
    pub(crate) pid: Option<u32>,
}

#[cfg(target_os = "linux")]
mod creds {
    //! `SO_PASSCRED` / `SCM_CREDENTIALS` through nix's safe wrappers.
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd as _;
    use std::os::unix::net::UnixDatagram;
    use std::time::Instant;

    use nix::sys::socket::{
        ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg, setsockopt, sockopt,
    };

    use super::FoundOrigin;
    use crate::daemon::origin::OriginResolver;

    pub(super) fn enable(socket: &UnixDatagram) -> std::io::Result<()> {
        setsockopt(socket, sockopt::PassCred, &true).map_err(std::io::Error::from)
    }

    pub(super) struct Origins {
        resolver: Option<OriginResolver>,
        cmsg: Vec<u8>,
    }

    impl Origins {
        pub(super) fn new(enabled: bool) -> Self {
            Self {
                resolver: enabled.then(OriginResolver::default),
                cmsg: nix::cmsg_space!(UnixCredentials),
            }
        }

        pub(super) fn recv(
            &mut self,
            socket: &UnixDatagram,
            buf: &mut [u8],
        ) -> std::io::Result<(usize, FoundOrigin)> {
            let Some(resolver) = self.resolver.as_mut() else {
                return socket.recv(buf).map(|n| (n, FoundOrigin::default()));
            };
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<()>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut self.cmsg),
                MsgFlags::empty(),
            )
            .map_err(std::io::Error::from)?;
            let mut pid = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmCredentials(cred) = c {
                        pid = Some(cred.pid());
                    }
                }
            }
            let n = msg.bytes;
            let mut found = match pid.map(|p| resolver.resolve(p, Instant::now())) {
                Some(Ok(container)) => FoundOrigin {
                    container,
                    failed: false,
                    pid: None,
                },
                Some(Err(e)) => {
                    tracing::debug!("uds origin detection: {e}");
                    FoundOrigin {
                        container: None,
                        failed: true,
                        pid: None,
                    }
                }
                None => FoundOrigin {
                    container: None,
                    failed: true,
                    pid: None,
                },
            };
            found.pid = pid.and_then(|p| u32::try_from(p).ok());
            Ok((n, found))
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod creds {
    //! Credentials-based origin detection is Linux-only (as in the Agent).
    use std::os::unix::net::UnixDatagram;

    use super::FoundOrigin;

    pub(super) fn enable(_socket: &UnixDatagram) -> std::io::Result<()> {
        tracing::warn!("dogstatsd_origin_detection is only supported on Linux; ignored");
        Ok(())
    }

    pub(super) struct Origins;

    impl Origins {
        pub(super) fn new(_enabled: bool) -> Self {
            Self
        }

        pub(super) fn recv(
            &mut self,
            socket: &UnixDatagram,
            buf: &mut [u8],
        ) -> std::io::Result<(usize, FoundOrigin)> {
            socket.recv(buf).map(|n| (n, FoundOrigin::default()))
        }
    }
}
