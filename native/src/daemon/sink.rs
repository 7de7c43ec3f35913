//! Where flushes go. Today: stdout or a file, in the `aggregate` JSON
//! Lines format. The intake forwarder plugs in here as one more
//! [`FlushSink`] (see [`select`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dogstatsd_core::flush::Flush;
use dogstatsd_core::output;

use crate::settings::DaemonSettings;

/// Why a flush could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The output file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Writing failed.
    #[error("cannot write the flush: {0}")]
    Write(#[from] std::io::Error),
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

/// Appends to `path`, creating it.
pub fn file(path: &Path) -> Result<JsonLinesSink<File>, SinkError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(JsonLinesSink::new)
        .map_err(|source| SinkError::Open {
            path: path.to_path_buf(),
            source,
        })
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

/// The sink the configuration asks for: `--output FILE`, else stdout.
///
/// FORWARDER SEAM: when `api_key` is set the Agent ships to the intake
/// (`dd_url`, else derived from `site`). The forwarder (branch `intake`,
/// `crate::forwarder`) is to be returned from here as a `FlushSink`; until
/// it is merged the daemon warns and prints instead.
pub fn select(
    settings: &DaemonSettings,
    output: Option<&Path>,
) -> Result<Box<dyn FlushSink>, SinkError> {
    if !settings.api_key.is_empty() {
        tracing::warn!(
            "api_key is set but this build has no intake forwarder yet; writing flushes to {} instead",
            output.map_or_else(|| "stdout".to_string(), |p| p.display().to_string())
        );
    }
    Ok(match output {
        Some(path) => Box::new(file(path)?),
        None => Box::new(stdout()),
    })
}
