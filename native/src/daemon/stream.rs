//! The Unix stream listener: length-prefixed frames (core's
//! `LengthPrefixedFramer`), one task per connection. An oversized,
//! zero-length or truncated frame closes that connection only.
//!
//! Hostile clients: a length prefix above `dogstatsd_buffer_size` closes
//! the connection before anything of that size is buffered (the framer
//! only ever holds bytes that arrived); at most
//! `dogstatsd_stream_max_connections` connections are open at once (more
//! are closed on accept); with `dogstatsd_stream_idle_timeout` a
//! connection that sends nothing for that long is closed. Every such
//! close is counted by reason. An idle connection costs one small read
//! buffer and a parked task.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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

/// Counts an open connection until dropped.
struct OpenGuard {
    open: Arc<AtomicUsize>,
    telemetry: Arc<Telemetry>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.telemetry
            .listener(Listener::UdsStream)
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
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
        let open = Arc::new(AtomicUsize::new(0));
        let accept = |stream: UnixStream| {
            let telemetry = sender.telemetry();
            let counters = telemetry.listener(Listener::UdsStream);
            counters.connections.fetch_add(1, Ordering::Relaxed);
            if opts.max_connections > 0 && open.load(Ordering::Relaxed) >= opts.max_connections {
                telemetry.closed(CloseReason::MaxConnections);
                tracing::debug!(
                    "uds stream: {} connections open (dogstatsd_stream_max_connections); closing the new one",
                    opts.max_connections
                );
                drop(stream);
                return;
            }
            open.fetch_add(1, Ordering::Relaxed);
            counters.open_connections.fetch_add(1, Ordering::Relaxed);
            let guard = OpenGuard {
                open: Arc::clone(&open),
                telemetry: Arc::clone(telemetry),
            };
            conns.spawn(connection(stream, sender.clone(), opts, cancel.clone(), guard));
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

async fn connection(
    mut stream: UnixStream,
    sender: PacketSender,
    opts: StreamOptions,
    cancel: CancellationToken,
    _open: OpenGuard,
) {
    let telemetry = Arc::clone(sender.telemetry());
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
                            if !frames(&mut framer, &sender, &telemetry, opts) {
                                return;
                            }
                        }
                    }
                }
                return;
            }
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
                telemetry
                    .listener(Listener::UdsStream)
                    .bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                framer.push(&buf[..n]);
                if !frames(&mut framer, &sender, &telemetry, opts) {
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
) -> bool {
    loop {
        match framer.next_frame() {
            Ok(Some(frame)) => {
                telemetry
                    .listener(Listener::UdsStream)
                    .packets
                    .fetch_add(1, Ordering::Relaxed);
                let mut buf = sender.pool().get();
                buf.extend_from_slice(frame);
                sender.send(Packet {
                    buf,
                    transport: Transport::UnixStream,
                    origin: None,
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
