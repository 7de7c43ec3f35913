//! The Windows named-pipe listener (`\\.\pipe\<dogstatsd_pipe_name>`): a
//! byte stream per client, cut into packets at the last `\n` of each read
//! by core's `NewlineFramer`. The pipe keeps Windows' default security
//! descriptor (`dogstatsd_windows_pipe_security_descriptor` is not applied).

use std::sync::atomic::Ordering;

use dogstatsd_core::protocol::{NewlineFramer, Transport};
use tokio::io::AsyncReadExt as _;
use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::packet::{Packet, PacketSender};
use super::telemetry::Listener;

/// The pipe path for a configured name.
pub(crate) fn pipe_path(name: &str) -> String {
    format!(r"\\.\pipe\{name}")
}

fn instance(path: &str, first: bool, buffer: usize) -> std::io::Result<NamedPipeServer> {
    ServerOptions::new()
        .first_pipe_instance(first)
        .in_buffer_size(u32::try_from(buffer).unwrap_or(u32::MAX))
        .create(path)
}

/// Creates the first pipe instance (call inside the runtime).
pub(crate) fn bind(name: &str, buffer: usize) -> std::io::Result<NamedPipeServer> {
    instance(&pipe_path(name), true, buffer)
}

/// Serves clients until `cancel`.
pub(crate) fn spawn(
    first: NamedPipeServer,
    name: String,
    sender: PacketSender,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let clients = tracker.clone();
    tracker.spawn(async move {
        let path = pipe_path(&name);
        let size = sender.pool().buffer_size();
        let mut server = first;
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                connected = server.connect() => {
                    if let Err(e) = connected {
                        tracing::warn!("named pipe connect: {e}");
                        continue;
                    }
                }
            }
            let next = match instance(&path, false, size) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("named pipe: cannot create the next instance: {e}");
                    break;
                }
            };
            let client = std::mem::replace(&mut server, next);
            sender
                .telemetry()
                .listener(Listener::NamedPipe)
                .connections
                .fetch_add(1, Ordering::Relaxed);
            clients.spawn(serve(client, sender.clone(), cancel.clone()));
        }
    });
}

async fn serve(mut pipe: NamedPipeServer, sender: PacketSender, cancel: CancellationToken) {
    let telemetry = std::sync::Arc::clone(sender.telemetry());
    let mut framer = NewlineFramer::new(sender.pool().buffer_size());
    loop {
        let read = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            read = pipe.read(framer.spare()) => read,
        };
        let n = match read {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                telemetry
                    .listener(Listener::NamedPipe)
                    .read_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!("named pipe read: {e}");
                return;
            }
        };
        telemetry.received(Listener::NamedPipe, n);
        let discarded = framer.discarded();
        let Some(packet) = framer.commit(n) else {
            if framer.discarded() > discarded {
                // A message longer than dogstatsd_buffer_size: discarded.
                telemetry
                    .listener(Listener::NamedPipe)
                    .truncated
                    .fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        sender
            .capture()
            .offer(Transport::NamedPipe, packet, None, None);
        let mut buf = sender.pool().get();
        buf.extend_from_slice(packet);
        sender.send(Packet {
            buf,
            transport: Transport::NamedPipe,
            origin: None,
            // Pipe clients share a worker: their order is kept.
            client: 0,
        });
    }
}
