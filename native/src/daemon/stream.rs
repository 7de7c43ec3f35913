//! The Unix stream listener: length-prefixed frames (core's
//! `LengthPrefixedFramer`), one task per connection. An oversized,
//! zero-length or truncated frame closes that connection only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dogstatsd_core::protocol::{FrameError, LengthPrefixedFramer, Transport};
use tokio::io::AsyncReadExt as _;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::packet::{Packet, PacketSender};
use super::socket_file::{self, Cleanup, SocketPathError};
use super::telemetry::{CloseReason, Listener, Telemetry};

/// Read size per syscall; frames larger than this just take several reads.
const READ_CHUNK: usize = 64 * 1024;

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
        let accept = |stream| {
            sender
                .telemetry()
                .listener(Listener::UdsStream)
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            conns.spawn(connection(stream, sender.clone(), opts, cancel.clone()));
        };
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => accept(stream),
                    Err(e) => {
                        tracing::warn!("uds stream accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                },
            }
        }
        // Stopping: a client that connected and wrote just before the
        // signal may still be in the backlog; its bytes were received too.
        while let Ok(Ok((stream, _))) =
            tokio::time::timeout(std::time::Duration::from_millis(1), listener.accept()).await
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
) {
    let telemetry = Arc::clone(sender.telemetry());
    let mut framer = LengthPrefixedFramer::new(opts.max_frame);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let read = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                // Stopping: take what the peer already sent, then close.
                loop {
                    match stream.try_read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            telemetry.listener(Listener::UdsStream).bytes.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
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
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                framer.push(&buf[..n]);
                if !frames(&mut framer, &sender, &telemetry, opts) {
                    return; // dropping the stream closes the connection
                }
            }
            Err(e) => {
                telemetry
                    .listener(Listener::UdsStream)
                    .read_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                sender
                    .capture()
                    .offer(Transport::UnixStream, frame, None, None);
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
