//! Where flushes go. Today: stdout or a file, in the `aggregate` JSON
//! Lines format. The intake forwarder plugs in here as one more
//! [`FlushSink`] (see [`select`]).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

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

/// Standard output.
pub fn stdout() -> JsonLinesSink<std::io::Stdout> {
    JsonLinesSink::new(std::io::stdout())
}

/// Appends to `path`, creating it (`0640`); a symbolic link, or a
/// directory other users may write to, is refused ([`crate::files`]).
pub fn file(path: &Path) -> Result<JsonLinesSink<File>, SinkError> {
    let file = crate::files::open_write(path, crate::files::Create::Append, 0o640)?;
    Ok(JsonLinesSink::new(file))
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
        None => Box::new(stdout()),
    })
}
