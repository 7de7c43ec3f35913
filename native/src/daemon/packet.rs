//! Packets on their way from listeners to workers: pooled buffers and the
//! bounded queues between them, one per worker. A full queue drops the
//! packet and counts it; a listener never waits on a worker.
//!
//! Every packet names its client (a UDP source address, a Unix datagram
//! peer, a stream connection), and all packets of one client go to the
//! same worker's queue: a worker handles its queue in order and hands its
//! samples to each pipeline in order, so a client's samples aggregate in
//! the order it sent them, on any worker count.
//!
//! A flush that must include everything received before it asks the
//! listeners through the [`Handover`] to queue what they hold (the
//! kernel's socket buffer, a half-assembled packet) before the workers
//! are drained.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Who sent it (see [`client_of_addr`]); decides the worker.
    pub client: u64,
}

/// The client key of an IP sender: its address and port.
pub fn client_of_addr(addr: &SocketAddr) -> u64 {
    let ip = match addr {
        SocketAddr::V4(a) => u64::from(a.ip().to_bits()),
        SocketAddr::V6(a) => {
            let b = a.ip().to_bits();
            (b as u64) ^ ((b >> 64) as u64)
        }
    };
    (ip << 16) ^ u64::from(addr.port())
}

/// Which of `lanes` queues serves `client`. The key is mixed first so
/// that neighbouring ports spread.
pub fn lane_of(client: u64, lanes: usize) -> usize {
    let h = client.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    dogstatsd_core::aggregate::shard(h ^ (h >> 29), lanes)
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

/// The listeners' end of the packet queues.
#[derive(Debug, Clone)]
pub struct PacketSender {
    lanes: Arc<[Sender<Packet>]>,
    pool: PacketPool,
    telemetry: Arc<Telemetry>,
    capture: Capture,
    handover: Arc<Handover>,
}

impl PacketSender {
    /// Wraps the queues' sending ends, one per worker.
    pub fn new(lanes: Vec<Sender<Packet>>, pool: PacketPool, telemetry: Arc<Telemetry>) -> Self {
        assert!(!lanes.is_empty(), "at least one packet queue");
        Self {
            lanes: lanes.into(),
            pool,
            telemetry,
            capture: Capture::default(),
            handover: Arc::default(),
        }
    }

    /// Number of queues (workers).
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Where listeners learn that a flush wants what they hold.
    pub fn handover(&self) -> &Arc<Handover> {
        &self.handover
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
        let lane = lane_of(packet.client, self.lanes.len());
        match self.lanes[lane].try_send(packet) {
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

/// Flush requests from the flush side to the listeners: a flush raises
/// the request count, each listener queues what it holds and reports the
/// count it has served.
#[derive(Debug, Default)]
pub struct Handover {
    requested: AtomicU64,
    listeners: Mutex<Vec<Arc<AtomicU64>>>,
}

impl Handover {
    /// A listener joins; it serves requests through the returned handle
    /// until the handle is dropped.
    pub fn register(self: &Arc<Self>) -> ListenerHandover {
        let served = Arc::new(AtomicU64::new(self.requested.load(Ordering::Acquire)));
        if let Ok(mut l) = self.listeners.lock() {
            l.push(Arc::clone(&served));
        }
        ListenerHandover {
            handover: Arc::clone(self),
            served,
            serving: None,
            reads: 0,
        }
    }

    /// Asks every listener to queue what it holds and waits (up to
    /// `wait`) until each has; false on timeout.
    pub fn request(&self, wait: Duration) -> bool {
        let want = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = Instant::now() + wait;
        loop {
            let done = self.listeners.lock().map_or(true, |l| {
                l.iter().all(|s| s.load(Ordering::Acquire) >= want)
            });
            if done {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Reads a listener makes while serving a request before it reports
/// anyway: a sender that never pauses cannot hold a flush back.
const MAX_SERVING_READS: u32 = 256;

/// A listener's side of the [`Handover`]. Per read: [`begin`](Self::begin)
/// before, [`read_done`](Self::read_done) after; when that says so, queue
/// what the listener holds and call [`finish`](Self::finish).
#[derive(Debug)]
pub struct ListenerHandover {
    handover: Arc<Handover>,
    served: Arc<AtomicU64>,
    /// The request being served: the socket reads without blocking until
    /// it is empty.
    serving: Option<u64>,
    reads: u32,
}

impl ListenerHandover {
    /// The request to serve, if one is pending.
    pub fn pending(&self) -> Option<u64> {
        let want = self.handover.requested.load(Ordering::Acquire);
        (want > self.served.load(Ordering::Relaxed)).then_some(want)
    }

    /// Everything received before `request` is queued.
    pub fn served(&self, request: u64) {
        self.served.store(request, Ordering::Release);
    }

    /// Before a read: starts serving a pending request (the socket switched
    /// to non-blocking by `set_nonblocking`). True while serving.
    pub fn begin(&mut self, set_nonblocking: impl FnOnce(bool) -> std::io::Result<()>) -> bool {
        if self.serving.is_none()
            && let Some(req) = self.pending()
            && set_nonblocking(true).is_ok()
        {
            self.serving = Some(req);
            self.reads = 0;
        }
        self.serving.is_some()
    }

    /// After a read (`empty`: the socket had nothing more): true when the
    /// request is to be finished now.
    pub fn read_done(&mut self, empty: bool) -> bool {
        if self.serving.is_none() {
            return false;
        }
        self.reads += 1;
        empty || self.reads >= MAX_SERVING_READS
    }

    /// The listener has queued what it held: blocking reads again, and the
    /// request reported served.
    pub fn finish(&mut self, set_nonblocking: impl FnOnce(bool) -> std::io::Result<()>) {
        if let Some(req) = self.serving.take() {
            if let Err(e) = set_nonblocking(false) {
                tracing::warn!("cannot switch a listener back to blocking reads: {e}");
            }
            self.served(req);
        }
    }
}

impl Drop for ListenerHandover {
    /// A listener that is gone holds nothing.
    fn drop(&mut self) {
        self.served.store(u64::MAX, Ordering::Release);
        if let Ok(mut l) = self.handover.listeners.lock() {
            l.retain(|s| !Arc::ptr_eq(s, &self.served));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let t = Arc::new(Telemetry::default());
        let s = PacketSender::new(vec![tx], PacketPool::new(16, 4), Arc::clone(&t));
        for _ in 0..5 {
            s.send(Packet {
                buf: b"a:1|c".to_vec(),
                transport: Transport::Udp,
                origin: None,
                client: 0,
            });
        }
        assert_eq!(rx.len(), 2);
        assert_eq!(t.queued.load(Ordering::Relaxed), 2);
        assert_eq!(t.dropped_queue_full.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn one_client_one_lane() {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| crossbeam_channel::bounded(64)).unzip();
        let s = PacketSender::new(txs, PacketPool::new(16, 4), Arc::new(Telemetry::default()));
        let clients: Vec<u64> = (0..16u16)
            .map(|p| client_of_addr(&SocketAddr::from(([127, 0, 0, 1], 40000 + p))))
            .collect();
        for round in 0..3u8 {
            for &c in &clients {
                s.send(Packet {
                    buf: vec![round],
                    transport: Transport::Udp,
                    origin: None,
                    client: c,
                });
            }
        }
        // Each lane holds whole clients, each client's packets in order.
        let mut used = 0;
        for rx in &rxs {
            let got: Vec<u8> = rx.try_iter().map(|p| p.buf[0]).collect();
            assert_eq!(got.len() % 3, 0);
            let n = got.len() / 3;
            used += usize::from(n > 0);
            for (i, r) in got.iter().enumerate() {
                assert_eq!(usize::from(*r), i / n);
            }
        }
        assert!(used > 1, "16 clients spread over more than one lane");
    }

    #[test]
    fn handover_waits_for_listeners() {
        let h = Arc::new(Handover::default());
        assert!(
            h.request(Duration::ZERO),
            "no listener: nothing to wait for"
        );
        let l = h.register();
        assert!(l.pending().is_none());
        assert!(!h.request(Duration::from_millis(5)));
        let want = l.pending().unwrap();
        l.served(want);
        let h2 = Arc::clone(&h);
        let t = std::thread::spawn(move || h2.request(Duration::from_secs(5)));
        while l.pending().is_none() {
            std::thread::yield_now();
        }
        l.served(l.pending().unwrap());
        assert!(t.join().unwrap());
        drop(l);
        assert!(h.request(Duration::ZERO));
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
