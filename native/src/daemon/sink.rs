//! Where flushes go. Today: stdout or a file, in the `aggregate` JSON
//! Lines format. The intake forwarder plugs in here as one more
//! [`FlushSink`] (see [`select`]).
//!
//! Stdout and files are written by a thread of their own behind a bounded
//! queue ([`QueuedSink`]), so a reader that stops reading (a full pipe, a
//! hung NFS mount) never stops the flush thread, aggregation or a stop:
//! what does not fit the queue is dropped and counted, and `/readyz`
//! reports the stall.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use dogstatsd_core::flush::Flush;
use dogstatsd_core::output;

use crate::forwarder::Forwarder;

/// Why a flush could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The output file could not be opened, or was refused (a symbolic
    /// link, a directory others may write to…).
    #[error("cannot open the output file: {0}")]
    Open(#[from] crate::files::FileError),
    /// Writing failed.
    #[error("cannot write the flush: {0}")]
    Write(#[from] std::io::Error),
    /// The forwarder refused the flush (closed, or it could not encode).
    #[error("cannot forward the flush: {0}")]
    Forward(String),
}

/// Takes every flush the daemon produces, on the flush thread.
pub trait FlushSink: Send {
    /// Writes one flush. An error is logged and counted; the daemon keeps
    /// running.
    fn write(&mut self, flush: &Flush) -> Result<(), SinkError>;

    /// The output's health, for `/readyz` and `/metrics`, when it has one.
    fn health(&self) -> Option<Arc<OutputHealth>> {
        None
    }
}

/// Flushes waiting for the output thread; beyond them a flush is dropped.
const OUTPUT_QUEUE: usize = 4;
/// A write taking longer than this makes the daemon not ready.
pub const OUTPUT_STALL: Duration = Duration::from_secs(5);
/// How long a flush waits for its own write before the flush thread goes
/// on: a healthy output has written it by then (so `POST /flush` answers
/// once the records are in the file), a blocked one costs each flush at
/// most this.
const OUTPUT_WAIT: Duration = Duration::from_secs(1);
/// How long a stopping daemon waits for the output thread to write what
/// is queued.
const OUTPUT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the output thread has done, shared with the admin endpoint.
#[derive(Debug)]
pub struct OutputHealth {
    epoch: Instant,
    /// Milliseconds since `epoch` + 1 at which the current write began; 0
    /// when no write is under way.
    busy_since: AtomicU64,
    /// Flushes written.
    pub written_flushes: AtomicU64,
    /// Records (lines) written.
    pub written_records: AtomicU64,
    /// Flushes dropped because the queue was full or the output failed.
    pub dropped_flushes: AtomicU64,
    /// Records in them.
    pub dropped_records: AtomicU64,
}

impl Default for OutputHealth {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
            written_flushes: AtomicU64::new(0),
            written_records: AtomicU64::new(0),
            dropped_flushes: AtomicU64::new(0),
            dropped_records: AtomicU64::new(0),
        }
    }
}

impl OutputHealth {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long the write under way has taken, if one is.
    pub fn stalled_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Duration::from_millis(self.now_ms().saturating_sub(t - 1))),
        }
    }

    /// Why the output keeps the daemon from being ready, if it does.
    pub fn not_ready(&self) -> Option<String> {
        self.stalled_for()
            .filter(|d| *d >= OUTPUT_STALL)
            .map(|d| format!("output blocked for {} s", d.as_secs()))
    }

    fn drop_flush(&self, records: u64) {
        let before = self.dropped_flushes.fetch_add(1, Ordering::Relaxed);
        self.dropped_records.fetch_add(records, Ordering::Relaxed);
        // The first drop and every 100th after it, not every flush.
        if before.is_multiple_of(100) {
            tracing::warn!(
                dropped_flushes = before + 1,
                dropped_records = self.dropped_records.load(Ordering::Relaxed),
                "output blocked: a flush of {records} records was dropped"
            );
        }
    }
}

/// A flush rendered for the output thread: its bytes and line count.
struct Rendered {
    bytes: Vec<u8>,
    records: u64,
    seq: u64,
}

/// Renders each flush on the flush thread and hands the bytes to a
/// writer thread through a bounded queue of [`OUTPUT_QUEUE`] flushes; a
/// flush that finds the queue full is dropped and counted. Dropping the
/// sink (at stop) gives the writer [`OUTPUT_STOP_TIMEOUT`] to finish.
pub struct QueuedSink {
    tx: Option<Sender<Rendered>>,
    /// Sequence numbers of the flushes the thread is done with, in order.
    acks: Receiver<u64>,
    seq: u64,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
    health: Arc<OutputHealth>,
}

impl std::fmt::Debug for QueuedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedSink").finish_non_exhaustive()
    }
}

impl QueuedSink {
    /// Starts the writer thread over `writer`.
    pub fn new<W: Write + Send + 'static>(mut writer: W) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Rendered>(OUTPUT_QUEUE);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let (ack_tx, acks) = crossbeam_channel::unbounded();
        let health = Arc::new(OutputHealth::default());
        let h = Arc::clone(&health);
        let thread = std::thread::Builder::new()
            .name("dsd-output".into())
            .spawn(move || {
                for r in rx {
                    h.busy_since.store(h.now_ms() + 1, Ordering::Relaxed);
                    let res = writer.write_all(&r.bytes).and_then(|()| writer.flush());
                    h.busy_since.store(0, Ordering::Relaxed);
                    let _ = ack_tx.send(r.seq);
                    match res {
                        Ok(()) => {
                            h.written_flushes.fetch_add(1, Ordering::Relaxed);
                            h.written_records.fetch_add(r.records, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::error!("cannot write the flush: {e}");
                            h.drop_flush(r.records);
                        }
                    }
                }
                let _ = done_tx.send(());
            })?;
        Ok(Self {
            tx: Some(tx),
            acks,
            seq: 0,
            done,
            thread: Some(thread),
            health,
        })
    }
}

impl FlushSink for QueuedSink {
    fn write(&mut self, flush: &Flush) -> Result<(), SinkError> {
        let mut bytes = Vec::new();
        output::write_flush(&mut bytes, flush);
        if bytes.is_empty() {
            return Ok(());
        }
        let records = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        self.seq += 1;
        let seq = self.seq;
        match tx.try_send(Rendered {
            bytes,
            records,
            seq,
        }) {
            Ok(()) => {
                let deadline = Instant::now() + OUTPUT_WAIT;
                while let Ok(done) = self.acks.recv_deadline(deadline) {
                    if done >= seq {
                        break;
                    }
                }
            }
            Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) => {
                self.health.drop_flush(r.records);
            }
        }
        Ok(())
    }

    fn health(&self) -> Option<Arc<OutputHealth>> {
        Some(Arc::clone(&self.health))
    }
}

impl Drop for QueuedSink {
    fn drop(&mut self) {
        let queued = self.tx.as_ref().map_or(0, Sender::len);
        drop(self.tx.take());
        match self.done.recv_timeout(OUTPUT_STOP_TIMEOUT) {
            Ok(()) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Err(_) => {
                // The writer is stuck in a write: leave it; the process is
                // about to exit.
                tracing::warn!(
                    queued_flushes = queued,
                    dropped_flushes = self.health.dropped_flushes.load(Ordering::Relaxed),
                    dropped_records = self.health.dropped_records.load(Ordering::Relaxed),
                    "output still blocked after {} s at stop: what it holds is not written",
                    OUTPUT_STOP_TIMEOUT.as_secs()
                );
            }
        }
    }
}

/// Renders each flush in the `aggregate` format into any writer.
#[derive(Debug)]
pub struct JsonLinesSink<W> {
    writer: W,
    buf: Vec<u8>,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// Writes to `writer`, one `write_all` per flush.
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            buf: Vec::new(),
        }
    }
}

impl<W: Write + Send> FlushSink for JsonLinesSink<W> {
    fn write(&mut self, flush: &Flush) -> Result<(), SinkError> {
        self.buf.clear();
        output::write_flush(&mut self.buf, flush);
        if self.buf.is_empty() {
            return Ok(());
        }
        self.writer.write_all(&self.buf)?;
        self.writer.flush()?;
        Ok(())
    }
}

/// Standard output, through the output thread.
pub fn stdout() -> Result<QueuedSink, SinkError> {
    Ok(QueuedSink::new(std::io::stdout())?)
}

/// Appends to `path` through the output thread, creating it (`0640`); a
/// symbolic link, or a directory other users may write to, is refused
/// ([`crate::files`]).
pub fn file(path: &Path) -> Result<QueuedSink, SinkError> {
    let file: File = crate::files::open_write(path, crate::files::Create::Append, 0o640)?;
    Ok(QueuedSink::new(file)?)
}

/// Keeps the rendered lines in memory (tests, embedding programs).
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    lines: Arc<Mutex<Vec<u8>>>,
}

impl MemorySink {
    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl FlushSink for MemorySink {
    fn write(&mut self, flush: &Flush) -> Result<(), SinkError> {
        if let Ok(mut l) = self.lines.lock() {
            output::write_flush(&mut l, flush);
        }
        Ok(())
    }
}

/// Ships each flush to a Datadog-compatible intake through the
/// forwarder (encoding and compression happen on the flush thread; the
/// network on the runtime).
pub struct ForwarderSink {
    forwarder: Arc<Forwarder>,
}

impl std::fmt::Debug for ForwarderSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwarderSink").finish_non_exhaustive()
    }
}

impl FlushSink for ForwarderSink {
    fn write(&mut self, flush: &Flush) -> Result<(), SinkError> {
        if flush.is_empty() {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.forwarder
            .submit(flush, now)
            .map(|_| ())
            .map_err(|e| SinkError::Forward(e.to_string()))
    }
}

/// The sink the configuration asks for: the intake forwarder when
/// `api_key` is set (the Agent's behaviour), else `--output FILE`, else
/// stdout.
pub fn select(
    output: Option<&Path>,
    forwarder: Option<Arc<Forwarder>>,
) -> Result<Box<dyn FlushSink>, SinkError> {
    if let Some(forwarder) = forwarder {
        if output.is_some() {
            tracing::warn!("api_key is set: flushes go to the intake, --output is ignored");
        }
        return Ok(Box::new(ForwarderSink { forwarder }));
    }
    Ok(match output {
        Some(path) => Box::new(file(path)?),
        None => Box::new(stdout()?),
    })
}
