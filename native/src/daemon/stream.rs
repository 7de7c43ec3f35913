//! The Unix stream listener: length-prefixed frames (core's
//! `LengthPrefixedFramer`), one task per connection. An oversized,
//! zero-length or truncated frame closes that connection only.
//!
//! Hostile clients: a length prefix above `dogstatsd_buffer_size` closes
//! the connection before anything of that size is buffered (the framer
//! only ever holds bytes that arrived); a frame must arrive whole within
//! `dogstatsd_stream_frame_timeout` of its first byte, so trickling bytes
//! holds nothing; at most `dogstatsd_stream_max_connections` connections
//! are open at once, and no peer uid (`SO_PEERCRED`) holds more than
//! `dogstatsd_stream_max_uid_share` of them: beyond its share a uid's new
//! connection closes that uid's own connection silent the longest, and at
//! the global limit the connection closed is the one silent the longest
//! of the uid holding the most, so one local user cannot push out
//! another's clients. With `dogstatsd_stream_idle_timeout` a connection
//! that sends nothing for that long is closed. Every close is counted by
//! reason. An idle connection costs one small read buffer and a parked
//! task.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dogstatsd_core::protocol::{FrameError, LengthPrefixedFramer, Transport};
use tokio::io::AsyncReadExt as _;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::packet::{Packet, PacketSender};
use super::socket_file::{self, Cleanup, SocketPathError};
use super::telemetry::{CloseReason, Listener, Telemetry};

/// Largest read per syscall; frames larger than this just take several
/// reads. Kept small: every open connection holds one such buffer.
const READ_CHUNK: usize = 16 * 1024;

/// Binds the stream socket at `path` (call inside the runtime).
pub(crate) fn bind(path: &Path) -> Result<UnixListener, SocketPathError> {
    socket_file::prepare(path)?;
    let io = |source| SocketPathError::Io {
        path: path.to_path_buf(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(io)?;
    socket_file::set_mode(path)?;
    Ok(listener)
}

/// Settings of the stream connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamOptions {
    /// Largest frame (`dogstatsd_buffer_size`).
    pub(crate) max_frame: usize,
    /// Log the start of an oversized frame.
    pub(crate) log_too_big: bool,
    /// Most connections open at once; 0 = no limit.
    pub(crate) max_connections: usize,
    /// Close a connection silent for this long; `None` = never.
    pub(crate) idle_timeout: Option<Duration>,
    /// Most of `max_connections` one peer uid may hold, in (0, 1].
    pub(crate) max_uid_share: f64,
    /// A frame must complete within this long once started.
    pub(crate) frame_timeout: Option<Duration>,
}

/// The open connections, and how many each peer uid holds.
#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Slot>,
    per_uid: HashMap<Option<u32>, usize>,
}

struct Slot {
    /// The peer's uid (`None` when the kernel did not say).
    uid: Option<u32>,
    /// When the connection last received bytes (or was accepted), in
    /// milliseconds since the listener started.
    last: Arc<AtomicU64>,
    /// Closes the connection now.
    close: CancellationToken,
}

impl Registry {
    fn insert(&mut self, slot: Slot) -> u64 {
        let id = self.next;
        self.next += 1;
        *self.per_uid.entry(slot.uid).or_default() += 1;
        self.open.insert(id, slot);
        id
    }

    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.open.remove(&id)?;
        if let Some(n) = self.per_uid.get_mut(&slot.uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&slot.uid);
            }
        }
        Some(slot)
    }

    fn held_by(&self, uid: Option<u32>) -> usize {
        self.per_uid.get(&uid).copied().unwrap_or(0)
    }

    /// The connection of `uid` silent the longest.
    fn stalest_of(&self, uid: Option<u32>) -> Option<u64> {
        self.open
            .iter()
            .filter(|(_, s)| s.uid == uid)
            .min_by_key(|(_, s)| s.last.load(Ordering::Relaxed))
            .map(|(&id, _)| id)
    }

    /// Which connection a newcomer of `uid` closes, and why, if any:
    /// its own uid's stalest beyond its share, else at the limit the
    /// stalest of the uid holding the most (the newcomer's own on a tie).
    fn victim(&self, uid: Option<u32>, opts: &StreamOptions) -> Option<(u64, CloseReason)> {
        if opts.max_connections == 0 {
            return None;
        }
        let share = opts.uid_limit();
        if share < opts.max_connections && self.held_by(uid) >= share {
            return self.stalest_of(uid).map(|id| (id, CloseReason::UidLimit));
        }
        if self.open.len() < opts.max_connections {
            return None;
        }
        let most = self
            .per_uid
            .iter()
            .max_by_key(|&(&u, &n)| (n, u == uid))
            .map(|(&u, _)| u)?;
        self.stalest_of(most)
            .map(|id| (id, CloseReason::MaxConnections))
    }
}

impl StreamOptions {
    /// Most connections one uid may hold (at least one).
    fn uid_limit(&self) -> usize {
        let share = (self.max_connections as f64 * self.max_uid_share).floor() as usize;
        share.clamp(1, self.max_connections.max(1))
    }
}

/// One connection's registry entry; removed when the connection ends.
struct OpenGuard {
    id: u64,
    registry: Arc<Mutex<Registry>>,
    telemetry: Arc<Telemetry>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let removed = self
            .registry
            .lock()
            .map(|mut r| r.remove(self.id).is_some())
            .unwrap_or(false);
        if removed {
            self.telemetry
                .listener(Listener::UdsStream)
                .open_connections
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a connection task needs besides the stream.
struct Conn {
    sender: PacketSender,
    opts: StreamOptions,
    /// The daemon is stopping: read what is buffered, then close.
    cancel: CancellationToken,
    /// Evicted: close now.
    close: CancellationToken,
    last: Arc<AtomicU64>,
    epoch: Instant,
    _open: OpenGuard,
}

/// Accepts connections until `cancel`; connections then read what is
/// already buffered and close. The socket file is removed at the end.
pub(crate) fn spawn(
    listener: UnixListener,
    path: PathBuf,
    sender: PacketSender,
    opts: StreamOptions,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let conns = tracker.clone();
    tracker.spawn(async move {
        let _cleanup = Cleanup(path);
        let registry = Arc::new(Mutex::new(Registry::default()));
        let epoch = Instant::now();
        let accept = |stream: UnixStream| {
            let telemetry = sender.telemetry();
            let counters = telemetry.listener(Listener::UdsStream);
            counters.connections.fetch_add(1, Ordering::Relaxed);
            let uid = stream.peer_cred().ok().map(|c| c.uid());
            let Ok(mut reg) = registry.lock() else {
                return;
            };
            if let Some((victim, reason)) = reg.victim(uid, &opts)
                && let Some(slot) = reg.remove(victim)
            {
                slot.close.cancel();
                counters.open_connections.fetch_sub(1, Ordering::Relaxed);
                telemetry.closed(reason);
                tracing::debug!(
                    "uds stream: closing a connection of uid {:?} ({reason:?}): {} open, {} of them for uid {uid:?} (dogstatsd_stream_max_connections {}, share {})",
                    slot.uid,
                    reg.open.len(),
                    reg.held_by(uid),
                    opts.max_connections,
                    opts.max_uid_share,
                );
            }
            let last = Arc::new(AtomicU64::new(millis(epoch)));
            let close = CancellationToken::new();
            let id = reg.insert(Slot {
                uid,
                last: Arc::clone(&last),
                close: close.clone(),
            });
            drop(reg);
            counters.open_connections.fetch_add(1, Ordering::Relaxed);
            let conn = Conn {
                sender: sender.clone(),
                opts,
                cancel: cancel.clone(),
                close,
                last,
                epoch,
                _open: OpenGuard {
                    id,
                    registry: Arc::clone(&registry),
                    telemetry: Arc::clone(telemetry),
                },
            };
            conns.spawn(connection(stream, conn));
        };
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => accept(stream),
                    Err(e) => {
                        tracing::warn!("uds stream accept: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
        // Stopping: a client that connected and wrote just before the
        // signal may still be in the backlog; its bytes were received too.
        while let Ok(Ok((stream, _))) =
            tokio::time::timeout(Duration::from_millis(1), listener.accept()).await
        {
            accept(stream);
        }
    });
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn connection(mut stream: UnixStream, conn: Conn) {
    let Conn {
        sender,
        opts,
        cancel,
        close,
        last,
        epoch,
        _open,
    } = conn;
    let telemetry = Arc::clone(sender.telemetry());
    // The connection is the client: its frames go to one worker, in order.
    let client = _open.id;
    let mut framer = LengthPrefixedFramer::new(opts.max_frame);
    let mut buf = vec![0u8; READ_CHUNK.min(opts.max_frame.saturating_add(4))];
    let sleep = async |at: Option<tokio::time::Instant>| match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    };
    // When the frame now arriving must be complete.
    let mut frame_deadline: Option<tokio::time::Instant> = None;
    loop {
        let deadline = opts.idle_timeout.map(|t| tokio::time::Instant::now() + t);
        let read = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                // Stopping: take what the peer already sent, then close.
                loop {
                    match stream.try_read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            telemetry.listener(Listener::UdsStream).bytes.fetch_add(n as u64, Ordering::Relaxed);
                            framer.push(&buf[..n]);
                            if frames(&mut framer, &sender, &telemetry, opts, client).is_none() {
                                return;
                            }
                        }
                    }
                }
                telemetry.closed(CloseReason::Stopping);
                return;
            }
            () = close.cancelled() => return, // evicted, counted by the acceptor
            read = stream.read(&mut buf) => read,
            () = sleep(frame_deadline) => {
                telemetry.closed(CloseReason::FrameTimeout);
                tracing::debug!(
                    "uds stream: a frame did not complete within {:?} (dogstatsd_stream_frame_timeout); closing the connection",
                    opts.frame_timeout.unwrap_or_default()
                );
                return;
            }
            () = sleep(deadline) => {
                telemetry.closed(CloseReason::IdleTimeout);
                tracing::debug!("uds stream: idle for {:?}; closing the connection", opts.idle_timeout.unwrap_or_default());
                return;
            }
        };
        match read {
            Ok(0) => {
                if let Err(e) = framer.finish() {
                    telemetry.closed(CloseReason::FrameTruncated);
                    tracing::debug!("uds stream: {e}");
                } else {
                    telemetry.closed(CloseReason::PeerClosed);
                }
                return;
            }
            Ok(n) => {
                last.store(millis(epoch), Ordering::Relaxed);
                telemetry
                    .listener(Listener::UdsStream)
                    .bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                framer.push(&buf[..n]);
                let Some(done) = frames(&mut framer, &sender, &telemetry, opts, client) else {
                    return; // dropping the stream closes the connection
                };
                frame_deadline = match (framer.pending(), frame_deadline) {
                    (0, _) => None,
                    // The same frame, still arriving.
                    (_, Some(d)) if done == 0 => Some(d),
                    // A new frame started.
                    _ => opts.frame_timeout.map(|t| tokio::time::Instant::now() + t),
                };
            }
            Err(e) => {
                telemetry
                    .listener(Listener::UdsStream)
                    .read_errors
                    .fetch_add(1, Ordering::Relaxed);
                telemetry.closed(CloseReason::ReadError);
                tracing::debug!("uds stream read: {e}");
                return;
            }
        }
    }
}

/// Queues every complete frame: how many, `None` when the connection
/// must close.
fn frames(
    framer: &mut LengthPrefixedFramer,
    sender: &PacketSender,
    telemetry: &Telemetry,
    opts: StreamOptions,
    client: u64,
) -> Option<usize> {
    let mut done = 0;
    loop {
        match framer.next_frame() {
            Ok(Some(frame)) => {
                telemetry
                    .listener(Listener::UdsStream)
                    .packets
                    .fetch_add(1, Ordering::Relaxed);
                sender
                    .capture()
                    .offer(Transport::UnixStream, frame, None, None);
                let mut buf = sender.pool().get();
                buf.extend_from_slice(frame);
                sender.send(Packet {
                    buf,
                    transport: Transport::UnixStream,
                    origin: None,
                    client,
                });
                done += 1;
            }
            Ok(None) => return Some(done),
            Err(e) => {
                let reason = match e {
                    FrameError::TooLarge { .. } => CloseReason::FrameTooLarge,
                    FrameError::ZeroLength => CloseReason::FrameZeroLength,
                    _ => CloseReason::FrameTruncated,
                };
                telemetry.closed(reason);
                if opts.log_too_big && reason == CloseReason::FrameTooLarge {
                    tracing::warn!("uds stream: {e}; closing the connection");
                } else {
                    tracing::debug!("uds stream: {e}; closing the connection");
                }
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max: usize, share: f64) -> StreamOptions {
        StreamOptions {
            max_frame: 8192,
            log_too_big: false,
            max_connections: max,
            idle_timeout: None,
            max_uid_share: share,
            frame_timeout: None,
        }
    }

    fn open(r: &mut Registry, uid: u32, last: u64) -> u64 {
        r.insert(Slot {
            uid: Some(uid),
            last: Arc::new(AtomicU64::new(last)),
            close: CancellationToken::new(),
        })
    }

    #[test]
    fn uid_limits() {
        assert_eq!(opts(4096, 0.5).uid_limit(), 2048);
        assert_eq!(opts(3, 0.5).uid_limit(), 1);
        assert_eq!(opts(1, 0.1).uid_limit(), 1);
        assert_eq!(opts(8, 1.0).uid_limit(), 8);
    }

    #[test]
    fn victims_come_from_the_uid_holding_the_most() {
        let o = opts(4, 0.5);
        let mut r = Registry::default();
        let a_old = open(&mut r, 1000, 5);
        open(&mut r, 1000, 9);
        // Beyond its share, a uid closes its own stalest.
        assert_eq!(
            r.victim(Some(1000), &o),
            Some((a_old, CloseReason::UidLimit))
        );
        assert_eq!(r.victim(Some(0), &o), None);
        let b = open(&mut r, 0, 1);
        assert_eq!(r.victim(Some(7), &o), None);
        open(&mut r, 7, 2);
        // At the limit: the uid holding the most, not the stalest overall.
        assert_eq!(
            r.victim(Some(8), &o),
            Some((a_old, CloseReason::MaxConnections))
        );
        r.remove(a_old);
        open(&mut r, 0, 3);
        assert_eq!(r.held_by(Some(0)), 2);
        assert_eq!(
            r.victim(Some(7), &opts(4, 1.0)),
            Some((b, CloseReason::MaxConnections))
        );
        // On a tie, the newcomer's own uid.
        let o = opts(4, 1.0);
        let mut r = Registry::default();
        let x = open(&mut r, 0, 1);
        open(&mut r, 0, 2);
        let y = open(&mut r, 1000, 3);
        open(&mut r, 1000, 4);
        assert_eq!(
            r.victim(Some(1000), &o),
            Some((y, CloseReason::MaxConnections))
        );
        assert_eq!(
            r.victim(Some(0), &o),
            Some((x, CloseReason::MaxConnections))
        );
        assert_eq!(opts(0, 0.5).uid_limit(), 1);
        assert_eq!(r.victim(Some(0), &opts(0, 0.5)), None);
    }
}
