//! Packets on their way from listeners to workers: pooled buffers and the
//! bounded queue between them. A full queue drops the packet and counts
//! it; a listener never waits on a worker.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use dogstatsd_core::protocol::Transport;

use super::telemetry::Telemetry;
use crate::capture::Capture;

/// One packet: a datagram, an assembled run of UDP datagrams, or one
/// stream frame.
#[derive(Debug)]
pub struct Packet {
    /// The bytes (a pooled buffer; give it back with [`PacketPool::put`]).
    pub buf: Vec<u8>,
    /// Where it came from.
    pub transport: Transport,
    /// Container of the sender, from Unix socket credentials.
    pub origin: Option<Arc<str>>,
}

/// Reusable packet buffers. Bounded: buffers beyond its capacity are freed.
#[derive(Debug, Clone)]
pub struct PacketPool {
    free_tx: Sender<Vec<u8>>,
    free_rx: Receiver<Vec<u8>>,
    buffer_size: usize,
}

impl PacketPool {
    /// A pool of buffers of `buffer_size` bytes keeping at most `keep`.
    pub fn new(buffer_size: usize, keep: usize) -> Self {
        let (free_tx, free_rx) = crossbeam_channel::bounded(keep.max(1));
        Self {
            free_tx,
            free_rx,
            buffer_size,
        }
    }

    /// An empty buffer with room for one packet.
    pub fn get(&self) -> Vec<u8> {
        self.free_rx
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.buffer_size))
    }

    /// Returns a buffer for reuse.
    pub fn put(&self, mut buf: Vec<u8>) {
        // A stream frame may have grown a buffer; keep only packet-sized ones.
        if buf.capacity() > self.buffer_size * 2 {
            return;
        }
        buf.clear();
        let _ = self.free_tx.try_send(buf);
    }

    /// Packet size in bytes (`dogstatsd_buffer_size`).
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }
}

/// The listeners' end of the packet queue.
#[derive(Debug, Clone)]
pub struct PacketSender {
    tx: Sender<Packet>,
    pool: PacketPool,
    telemetry: Arc<Telemetry>,
    capture: Capture,
}

impl PacketSender {
    /// Wraps the queue's sending end.
    pub fn new(tx: Sender<Packet>, pool: PacketPool, telemetry: Arc<Telemetry>) -> Self {
        Self {
            tx,
            pool,
            telemetry,
            capture: Capture::default(),
        }
    }

    /// Hands what the listeners receive to `capture` (traffic capture).
    pub fn with_capture(mut self, capture: Capture) -> Self {
        self.capture = capture;
        self
    }

    /// The traffic capture hook the listeners offer each packet to.
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Queues a packet; when the queue is full (or closed) the packet is
    /// dropped, counted, and its buffer recycled. Never blocks.
    pub fn send(&self, packet: Packet) {
        match self.tx.try_send(packet) {
            Ok(()) => {
                self.telemetry.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(p) | TrySendError::Disconnected(p)) => {
                self.telemetry
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                self.pool.put(p.buf);
            }
        }
    }

    /// The buffer pool.
    pub fn pool(&self) -> &PacketPool {
        &self.pool
    }

    /// Counters.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let t = Arc::new(Telemetry::default());
        let s = PacketSender::new(tx, PacketPool::new(16, 4), Arc::clone(&t));
        for _ in 0..5 {
            s.send(Packet {
                buf: b"a:1|c".to_vec(),
                transport: Transport::Udp,
                origin: None,
            });
        }
        assert_eq!(rx.len(), 2);
        assert_eq!(t.queued.load(Ordering::Relaxed), 2);
        assert_eq!(t.dropped_queue_full.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn pool_reuses_buffers() {
        let pool = PacketPool::new(16, 1);
        let mut b = pool.get();
        b.extend_from_slice(b"hello");
        let ptr = b.as_ptr();
        pool.put(b);
        let again = pool.get();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr);
    }
}
