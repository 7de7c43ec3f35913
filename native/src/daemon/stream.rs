//! The Unix stream listener: length-prefixed frames (core's
//! `LengthPrefixedFramer`), one task per connection. An oversized,
//! zero-length or truncated frame closes that connection only.
//!
//! Hostile clients: a length prefix above `dogstatsd_buffer_size` closes
//! the connection before anything of that size is buffered (the framer
//! only ever holds bytes that arrived); at most
//! `dogstatsd_stream_max_connections` connections are open at once (at
//! the limit, the one silent the longest is closed to make room); with `dogstatsd_stream_idle_timeout` a
//! connection that sends nothing for that long is closed. Every such
//! close is counted by reason. An idle connection costs one small read
//! buffer and a parked task.

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
}

/// The open connections. When `dogstatsd_stream_max_connections` are
/// open, the one silent the longest is closed to make room, so idle or
/// stalled clients can never lock out new ones.
#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Slot>,
}

struct Slot {
    /// When the connection last received bytes (or was accepted), in
    /// milliseconds since the listener started.
    last: Arc<AtomicU64>,
    /// Closes the connection now.
    close: CancellationToken,
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
            .map(|mut r| r.open.remove(&self.id).is_some())
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
            let Ok(mut reg) = registry.lock() else {
                return;
            };
            if opts.max_connections > 0 && reg.open.len() >= opts.max_connections {
                let oldest = reg
                    .open
                    .iter()
                    .min_by_key(|(_, s)| s.last.load(Ordering::Relaxed))
                    .map(|(&id, _)| id);
                if let Some(slot) = oldest.and_then(|id| reg.open.remove(&id)) {
                    slot.close.cancel();
                    counters.open_connections.fetch_sub(1, Ordering::Relaxed);
                    telemetry.closed(CloseReason::MaxConnections);
                    tracing::debug!(
                        "uds stream: {} connections open (dogstatsd_stream_max_connections); closing the one silent the longest",
                        opts.max_connections
                    );
                }
            }
            let id = reg.next;
            reg.next += 1;
            let last = Arc::new(AtomicU64::new(millis(epoch)));
            let close = CancellationToken::new();
            reg.open.insert(
                id,
                Slot {
                    last: Arc::clone(&last),
                    close: close.clone(),
                },
            );
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
    let idle = async |at: Option<tokio::time::Instant>| match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    };
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
                            if !frames(&mut framer, &sender, &telemetry, opts, client) {
                                return;
                            }
                        }
                    }
                }
                return;
            }
            () = close.cancelled() => return, // evicted, counted by the acceptor
            read = stream.read(&mut buf) => read,
            () = idle(deadline) => {
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
                if !frames(&mut framer, &sender, &telemetry, opts, client) {
                    return; // dropping the stream closes the connection
                }
            }
            Err(e) => {
                telemetry
                    .listener(Listener::UdsStream)
                    .read_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!("uds stream read: {e}");
                return;
            }
        }
    }
}

/// Queues every complete frame; false when the connection must close.
fn frames(
    framer: &mut LengthPrefixedFramer,
    sender: &PacketSender,
    telemetry: &Telemetry,
    opts: StreamOptions,
    client: u64,
) -> bool {
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
            }
            Ok(None) => return true,
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
                return false;
            }
        }
    }
}
