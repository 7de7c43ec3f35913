//! The daemon's own log, set up from the Agent's keys: `log_level` (also
//! `DD_LOG_LEVEL`), `log_to_console`, `log_file` with
//! `log_file_max_size`/`log_file_max_rolls`, `log_format_json` and
//! `log_format_rfc3339`. `RUST_LOG`, when set, still wins over
//! `log_level`, for debugging one module.
//!
//! Text lines carry the Agent's timestamp (`2006-01-02 15:04:05 UTC`, or
//! RFC 3339 with `log_format_rfc3339`); JSON lines are one object each:
//! `{"time","level","message","target","fields"}`.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use dogstatsd_core::config::de;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::Layered;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config_error::LoadError;
use crate::files::{Create, FileError, open_write};
use crate::settings::LogLevel;

/// The Agent's default `log_file_max_size`: 10 MB.
const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;

/// The log keys of `datadog.yaml`. Each doc comment gives the default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct LogSettings {
    /// Also write the log to this file. Default empty (no file).
    #[serde(deserialize_with = "de::string")]
    pub log_file: String,
    /// Roll `log_file` over when it passes this size (`10Mb`, `1GB`, or
    /// bytes). Default 10Mb, as the Agent.
    #[serde(deserialize_with = "size", serialize_with = "show_size")]
    pub log_file_max_size: u64,
    /// Rolled files kept (`FILE.1` … `FILE.N`). Default 1, as the Agent.
    #[serde(deserialize_with = "rolls")]
    pub log_file_max_rolls: u64,
    /// Write the log to stderr. Default true.
    #[serde(deserialize_with = "de::boolean")]
    pub log_to_console: bool,
    /// One JSON object per line instead of text. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub log_format_json: bool,
    /// RFC 3339 timestamps in text lines. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub log_format_rfc3339: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            log_file: String::new(),
            log_file_max_size: DEFAULT_MAX_SIZE,
            log_file_max_rolls: 1,
            log_to_console: true,
            log_format_json: false,
            log_format_rfc3339: false,
        }
    }
}

impl LogSettings {
    /// Every key read here (for `DD_<KEY>` overrides).
    pub fn keys() -> Vec<String> {
        crate::settings_map::keys_of::<Self>()
    }

    /// Reads the log keys from raw settings; the error names the key.
    pub fn from_settings(settings: &Map<String, Value>) -> Result<Self, LoadError> {
        crate::settings_map::read_keys(settings)
    }
}

/// Reads a size as the Agent does: bytes, or a number with `kb`, `mb` or
/// `gb` (any case, `b` optional; powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let value: f64 = num.parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = value * scale;
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    let text = match &v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    parse_size(&text)
        .ok_or_else(|| D::Error::custom(format!("expected a size such as \"10Mb\", got {v}")))
}

fn show_size<S: serde::Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(*n)
}

fn rolls<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = de::int(d)?;
    u64::try_from(n).map_err(|_| D::Error::custom(format!("must not be negative, got {n}")))
}

/// Why the log could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `log_file` is unsafe or cannot be opened.
    #[error("log_file: {0}")]
    File(#[from] FileError),
}

/// The subscriber the output layers sit on: the registry behind the
/// level filter, which a reload can change.
type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;

/// Changes the log level of the running daemon (a configuration reload).
#[derive(Debug, Clone, Default)]
pub struct LogHandle {
    /// None when `RUST_LOG` chose the filter (it wins over `log_level`),
    /// or when another subscriber was installed first.
    filter: Option<reload::Handle<EnvFilter, Registry>>,
}

impl LogHandle {
    /// Applies `level`; false when the level is not ours to change.
    pub fn set_level(&self, level: LogLevel) -> bool {
        self.filter
            .as_ref()
            .is_some_and(|h| h.modify(|f| *f = EnvFilter::new(level.directive())).is_ok())
    }
}

/// Installs the global subscriber. Called once, before anything logs.
pub fn init(level: LogLevel, settings: &LogSettings) -> Result<LogHandle, LogError> {
    let from_env = EnvFilter::try_from_default_env().ok();
    let fixed = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(level.directive()));
    let (filter, handle) = reload::Layer::new(filter);
    let mut layers: Vec<Box<dyn Layer<Filtered> + Send + Sync>> = Vec::new();
    if settings.log_to_console {
        let ansi = !settings.log_format_json && std::io::stderr().is_terminal();
        layers.push(layer(settings, crate::scrub::stderr, ansi));
    }
    if !settings.log_file.is_empty() {
        let writer = RollingFile::open(
            Path::new(&settings.log_file),
            settings.log_file_max_size,
            settings.log_file_max_rolls,
        )?;
        layers.push(layer(settings, writer, false));
    }
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .is_ok();
    Ok(LogHandle {
        filter: (installed && !fixed).then_some(handle),
    })
}

fn layer<W>(settings: &LogSettings, writer: W, ansi: bool) -> Box<dyn Layer<Filtered> + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    if settings.log_format_json {
        base.event_format(JsonLines).boxed()
    } else {
        base.with_timer(AgentTime {
            rfc3339: settings.log_format_rfc3339,
        })
        .boxed()
    }
}

/// The text timestamp: the Agent's `2006-01-02 15:04:05 UTC`, or RFC 3339.
struct AgentTime {
    rfc3339: bool,
}

impl FormatTime for AgentTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = SystemTime::now();
        if self.rfc3339 {
            write!(w, "{}", humantime::format_rfc3339_millis(now))
        } else {
            // 2006-01-02T15:04:05Z → 2006-01-02 15:04:05 UTC
            let s = humantime::format_rfc3339_seconds(now).to_string();
            write!(w, "{} UTC", s.trim_end_matches('Z').replacen('T', " ", 1))
        }
    }
}

/// One JSON object per event.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "time".into(),
            humantime::format_rfc3339_millis(SystemTime::now())
                .to_string()
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("message".into(), fields.message.into());
        line.insert("target".into(), meta.target().into());
        if !fields.fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields.fields));
        }
        writeln!(w, "{}", Value::Object(line))
    }
}

#[derive(Default)]
struct JsonFields {
    message: String,
    fields: Map<String, Value>,
}

impl JsonFields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            match value {
                Value::String(s) => self.message = s,
                other => self.message = other.to_string(),
            }
        } else {
            self.fields.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.put(field, s.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }
}

/// `log_file`, rolled over by size: `FILE` → `FILE.1` → … → `FILE.N`.
/// Opened like every file the daemon writes (`files::open_write`): never
/// through a symbolic link, never in a directory others may write to.
struct RollingFile {
    inner: std::sync::Mutex<Rolling>,
}

struct Rolling {
    path: PathBuf,
    file: std::fs::File,
    written: u64,
    max_size: u64,
    rolls: u64,
}

const LOG_MODE: u32 = 0o640;

impl RollingFile {
    fn open(path: &Path, max_size: u64, rolls: u64) -> Result<Self, FileError> {
        let file = open_write(path, Create::Append, LOG_MODE)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            inner: std::sync::Mutex::new(Rolling {
                path: path.to_path_buf(),
                file,
                written,
                max_size,
                rolls,
            }),
        })
    }
}

impl Rolling {
    fn roll(&mut self) -> std::io::Result<()> {
        let name = |n: u64| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.rolls == 0 {
            // No rolled files kept: start the file over.
            self.file.set_len(0)?;
        } else {
            for n in (1..self.rolls).rev() {
                let from = name(n);
                if from.exists() {
                    std::fs::rename(&from, name(n + 1))?;
                }
            }
            std::fs::rename(&self.path, name(1))?;
            self.file = open_write(&self.path, Create::Append, LOG_MODE)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        self.written = 0;
        Ok(())
    }
}

impl std::io::Write for &RollingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut r = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.written > 0 && r.written + buf.len() as u64 > r.max_size {
            // A failed roll keeps writing to the current file.
            let _ = r.roll();
        }
        // Secrets the configuration holds never reach the file.
        let text = crate::scrub::scrub(&String::from_utf8_lossy(buf));
        std::io::Write::write_all(&mut r.file, text.as_bytes())?;
        r.written += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for RollingFile {
    type Writer = &'w Self;
    fn make_writer(&'w self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn sizes_read_as_the_agent_reads_them() {
        assert_eq!(parse_size("10Mb"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("512kb"), Some(512 * 1024));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1.5mb"), Some(1024 * 1024 * 3 / 2));
        for bad in ["", "ten", "10 parsecs", "0", "-1Mb"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let read = |json: &str| {
            let Value::Object(m) = serde_json::from_str(json).unwrap() else {
                unreachable!()
            };
            LogSettings::from_settings(&m)
        };
        assert_eq!(read("{}").unwrap(), LogSettings::default());
        let s =
            read(r#"{"log_file_max_size":"2kb","log_file_max_rolls":3,"log_format_json":"true"}"#)
                .unwrap();
        assert_eq!(
            (s.log_file_max_size, s.log_file_max_rolls, s.log_format_json),
            (2048, 3, true)
        );
        for (json, key) in [
            (r#"{"log_file_max_size":"big"}"#, "log_file_max_size"),
            (r#"{"log_file_max_rolls":-1}"#, "log_file_max_rolls"),
            (r#"{"log_to_console":"maybe"}"#, "log_to_console"),
        ] {
            let e = read(json).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn the_file_rolls_over_by_size_and_keeps_max_rolls() {
        let dir = std::env::temp_dir().join(format!("dsd-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dogstatsd.log");
        let f = RollingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            let line = format!("{i:02} {}\n", "x".repeat(36)); // 40 bytes
            (&f).write_all(line.as_bytes()).unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let roll = |n| PathBuf::from(format!("{}.{n}", path.display()));
        // 2 lines (80 B) per file; the newest in FILE, older in .1, .2.
        assert!(read(&path).starts_with("08 "), "{}", read(&path));
        assert!(read(&roll(1)).starts_with("06 "));
        assert!(read(&roll(2)).starts_with("04 "));
        assert!(!roll(3).exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
