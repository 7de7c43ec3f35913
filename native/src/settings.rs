//! The daemon's own settings (listeners, queues, admin port, log level,
//! intake), with the Datadog Agent's `datadog.yaml` key names and defaults
//! (spec §12). Core's settings live in `dogstatsd_core::config::Config`;
//! both are read from the same raw settings map, so one file and one set of
//! `DD_*` variables configure everything.

use std::fmt;
use std::time::Duration;

use dogstatsd_core::config::{Config, de};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::config_error::{LoadError, one_line};
use crate::settings_map::{keys_of, read_keys};

/// A port setting: the Agent reads `0` as "off" and the string
/// `__random__` as "bind an ephemeral port".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Listener disabled.
    Off,
    /// Bind port 0 and log the port the OS picked.
    Random,
    /// This port.
    Fixed(u16),
}

impl Port {
    /// The port to bind, `None` when disabled.
    pub fn bind_port(self) -> Option<u16> {
        match self {
            Self::Off => None,
            Self::Random => Some(0),
            Self::Fixed(p) => Some(p),
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("0"),
            Self::Random => f.write_str(RANDOM_PORT),
            Self::Fixed(p) => write!(f, "{p}"),
        }
    }
}

/// Where the admin token lives unless `dogstatsd_admin_token_file` says.
pub const DEFAULT_ADMIN_TOKEN_FILE: &str = "/run/dogstatsd/admin_token";

/// The literal the Agent accepts for an ephemeral port.
pub const RANDOM_PORT: &str = "__random__";

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Off => s.serialize_u16(0),
            Self::Random => s.serialize_str(RANDOM_PORT),
            Self::Fixed(p) => s.serialize_u16(*p),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if v.as_str().is_some_and(|s| s.trim() == RANDOM_PORT) {
            return Ok(Self::Random);
        }
        let n = de::int(v).map_err(|e| {
            D::Error::custom(format!("{e} (a port number, 0 or \"{RANDOM_PORT}\")"))
        })?;
        match u16::try_from(n) {
            Ok(0) => Ok(Self::Off),
            Ok(p) => Ok(Self::Fixed(p)),
            Err(_) => Err(D::Error::custom(format!("port {n} is outside 0..=65535"))),
        }
    }
}

/// Log verbosity, with the Agent's level names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Debugging detail.
    Debug,
    /// Start-up and listener addresses (default).
    Info,
    /// Problems that do not stop the daemon.
    Warn,
    /// Errors only (`critical` reads as this too).
    Error,
    /// Nothing.
    Off,
}

impl LogLevel {
    /// The `tracing` filter directive.
    pub fn directive(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Off => "off",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" | "critical" => Self::Error,
            "off" => Self::Off,
            _ => return None,
        })
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.directive())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = de::string(d)?;
        Self::parse(&s).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown level {s:?} (trace, debug, info, warn, error, critical, off)"
            ))
        })
    }
}

/// A secret setting (`api_key`). It reads and serializes as a plain
/// string (`check-config` output goes through [`redact`]), but its `Debug`
/// never shows the value, so it cannot leak through `{:?}`, a panic
/// message or a log field.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Secret {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::string(d).map(Self)
    }
}

/// Reads a Go duration (`100ms`, `1.5s`, `2m`, `1h30m`); a bare number is
/// nanoseconds, as Go's `cast.ToDuration` reads it.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(ns) = s.parse::<u64>() {
        return Some(Duration::from_nanos(ns));
    }
    let mut rest = s;
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

mod read {
    //! Per-key readers that reject values the daemon cannot use, so the
    //! error names the key.
    use super::*;

    pub(super) fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let n = de::int(d)?;
        if n <= 0 {
            return Err(D::Error::custom(format!("must be positive, got {n}")));
        }
        Ok(n)
    }

    pub(super) fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let n = de::int(d)?;
        if n < 0 {
            return Err(D::Error::custom(format!("must not be negative, got {n}")));
        }
        Ok(n)
    }

    pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = Value::deserialize(d)?;
        let text = match &v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(D::Error::custom("expected a duration such as \"100ms\"")),
        };
        parse_go_duration(&text).ok_or_else(|| {
            D::Error::custom(format!(
                "expected a duration such as \"100ms\", got {text:?}"
            ))
        })
    }

    /// An IP address, or `localhost`.
    pub(super) fn ip_host<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let s = de::string(d)?;
        let t = s.trim();
        if t.eq_ignore_ascii_case("localhost") || t.parse::<std::net::IpAddr>().is_ok() {
            Ok(t.to_string())
        } else {
            Err(D::Error::custom(format!(
                "expected an IP address such as 127.0.0.1 or 0.0.0.0, got {s:?}"
            )))
        }
    }

    pub(super) fn share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = Value::deserialize(d)?;
        let x = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match x {
            Some(x) if x > 0.0 && x <= 1.0 => Ok(x),
            _ => Err(D::Error::custom(format!(
                "expected a share in (0, 1] such as 0.5, got {v}"
            ))),
        }
    }

    pub(super) fn show_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }
}

/// The daemon's settings. Field names are `datadog.yaml` keys; each doc
/// comment gives the default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct DaemonSettings {
    /// Run the DogStatsD server at all. Default true.
    #[serde(deserialize_with = "de::boolean")]
    pub use_dogstatsd: bool,
    /// UDP port; `0` disables UDP, `"__random__"` binds an ephemeral port.
    /// Default 8125.
    pub dogstatsd_port: Port,
    /// UDP bind host when non-local traffic is off. Default `localhost`.
    #[serde(deserialize_with = "de::string")]
    pub bind_host: String,
    /// Listen on all interfaces instead of `bind_host`. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_non_local_traffic: bool,
    /// Unix datagram socket path; empty disables it. Default empty (the
    /// newest Agents default to `/var/run/datadog/dsd.socket` on Linux; a
    /// daemon run by hand should not create files under `/var/run`).
    #[serde(deserialize_with = "de::string")]
    pub dogstatsd_socket: String,
    /// Unix stream socket path (length-prefixed frames); empty disables
    /// it. Default empty.
    #[serde(deserialize_with = "de::string")]
    pub dogstatsd_stream_socket: String,
    /// Log the first bytes of an oversized stream frame. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_stream_log_too_big: bool,
    /// Most Unix stream connections open at once; at the limit, a new
    /// connection closes the one that has been silent the longest, so
    /// idle or stalled clients never lock out new ones (counted as
    /// `dogstatsd_connections_closed_total{reason="max_connections"}`).
    /// Not an Agent key (the Agent has no limit). Default 4096; 0 = no
    /// limit.
    #[serde(deserialize_with = "read::non_negative")]
    pub dogstatsd_stream_max_connections: i64,
    /// Close a Unix stream connection that sent nothing for this long
    /// (counted as `reason="idle_timeout"`), so idle or stalled clients
    /// cannot hold connection slots forever. Not an Agent key. Default 0s
    /// (off, as in the Agent: clients keep one connection open between
    /// bursts, and closing it costs them the next write).
    #[serde(
        deserialize_with = "read::duration",
        serialize_with = "read::show_duration"
    )]
    pub dogstatsd_stream_idle_timeout: Duration,
    /// Most of `dogstatsd_stream_max_connections` one peer uid
    /// (`SO_PEERCRED`) may hold, as a share in (0, 1]; beyond it a new
    /// connection of that uid closes its own connection silent the
    /// longest (`reason="uid_limit"`). Not an Agent key. Default 0.5.
    #[serde(deserialize_with = "read::share")]
    pub dogstatsd_stream_max_uid_share: f64,
    /// A Unix stream frame must arrive whole within this long once its
    /// first byte came (`reason="frame_timeout"`), so a client trickling
    /// bytes cannot hold a slot. Not an Agent key. Default 10s; 0 = off.
    #[serde(
        deserialize_with = "read::duration",
        serialize_with = "read::show_duration"
    )]
    pub dogstatsd_stream_frame_timeout: Duration,
    /// Windows named pipe name (`\\.\pipe\<name>`); empty disables it.
    /// Default empty.
    #[serde(deserialize_with = "de::string")]
    pub dogstatsd_pipe_name: String,
    /// `SO_RCVBUF` for the sockets; 0 keeps the OS default. Default 0.
    #[serde(deserialize_with = "read::non_negative")]
    pub dogstatsd_so_rcvbuf: i64,
    /// Packets per batch handed to workers. Default 32. Together with
    /// `dogstatsd_queue_size` it bounds the packet queue.
    #[serde(deserialize_with = "read::positive")]
    pub dogstatsd_packet_buffer_size: i64,
    /// How long the UDP assembler holds a partly filled packet. Default
    /// 100ms.
    #[serde(
        deserialize_with = "read::duration",
        serialize_with = "read::show_duration"
    )]
    pub dogstatsd_packet_buffer_flush_timeout: Duration,
    /// Capacity of the packets queue, in batches of
    /// `dogstatsd_packet_buffer_size` packets. Default 1024.
    #[serde(deserialize_with = "read::positive")]
    pub dogstatsd_queue_size: i64,
    /// Resolve the sender of each Unix datagram to a container
    /// (`SO_PASSCRED`). Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_origin_detection: bool,
    /// Fail start-up (exit 1) when no listener could be created, so a
    /// taken port is not a daemon that silently receives nothing. Default
    /// true; false keeps running with only the admin endpoint.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_require_listener: bool,
    /// Loopback port of the admin endpoint (`/metrics`, `/healthz`); `0`
    /// disables it, `"__random__"` binds an ephemeral port. Not an Agent
    /// key. Default 0 (off: nothing listens that the user did not ask
    /// for).
    pub dogstatsd_admin_port: Port,
    /// Address the admin endpoint binds (`0.0.0.0` for Kubernetes probes
    /// and scrapes). The endpoints that change anything need the token
    /// whatever the address. Not an Agent key. Default `127.0.0.1`.
    #[serde(deserialize_with = "read::ip_host")]
    pub dogstatsd_admin_host: String,
    /// The admin endpoint's bearer token file, created (random, `0600`)
    /// at start when missing. Not an Agent key. Default
    /// `/run/dogstatsd/admin_token` (systemd's `RuntimeDirectory`).
    #[serde(deserialize_with = "de::string")]
    pub dogstatsd_admin_token_file: String,
    /// Log level (`trace` … `error`, `critical`, `off`). Default `info`.
    pub log_level: LogLevel,
    /// Intake API key; when set, flushes go to the intake instead of
    /// stdout. Default empty. Its `Debug` never shows it.
    pub api_key: Secret,
    /// Intake URL override. Default empty (derived from `site`).
    #[serde(deserialize_with = "de::string")]
    pub dd_url: String,
    /// Datadog site. Default `datadoghq.com`.
    #[serde(deserialize_with = "de::string")]
    pub site: String,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        Self {
            use_dogstatsd: true,
            dogstatsd_port: Port::Fixed(8125),
            bind_host: "localhost".to_string(),
            dogstatsd_non_local_traffic: false,
            dogstatsd_socket: String::new(),
            dogstatsd_stream_socket: String::new(),
            dogstatsd_stream_log_too_big: false,
            dogstatsd_stream_max_connections: 4096,
            dogstatsd_stream_idle_timeout: Duration::ZERO,
            dogstatsd_stream_max_uid_share: 0.5,
            dogstatsd_stream_frame_timeout: Duration::from_secs(10),
            dogstatsd_pipe_name: String::new(),
            dogstatsd_so_rcvbuf: 0,
            dogstatsd_packet_buffer_size: 32,
            dogstatsd_packet_buffer_flush_timeout: Duration::from_millis(100),
            dogstatsd_queue_size: 1024,
            dogstatsd_origin_detection: false,
            dogstatsd_require_listener: true,
            dogstatsd_admin_port: Port::Off,
            dogstatsd_admin_host: "127.0.0.1".to_string(),
            dogstatsd_admin_token_file: DEFAULT_ADMIN_TOKEN_FILE.to_string(),
            log_level: LogLevel::Info,
            api_key: Secret::default(),
            dd_url: String::new(),
            site: "datadoghq.com".to_string(),
        }
    }
}

/// The Agent's host tags: `tags` (`DD_TAGS`), `extra_tags`
/// (`DD_EXTRA_TAGS`) and `env` (`DD_ENV`, as an `env:` tag). The Agent
/// sends them in host metadata, so the intake shows them on every metric
/// of the host; it adds them to each DogStatsD sample itself only where
/// there is no host (EKS Fargate sidecars). This server sends no host
/// metadata, so it adds them to every sample, as `dogstatsd_tags` are
/// added: otherwise they would be lost without a word.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct HostTags {
    /// Host tags. Default none.
    #[serde(deserialize_with = "de::string_list")]
    pub tags: Vec<String>,
    /// More host tags (added to `tags`, as the Agent does). Default none.
    #[serde(deserialize_with = "de::string_list")]
    pub extra_tags: Vec<String>,
    /// The environment, added as `env:<env>`. Default empty.
    #[serde(deserialize_with = "de::string")]
    pub env: String,
}

impl HostTags {
    /// Every key this struct reads.
    pub fn keys() -> Vec<String> {
        keys_of::<Self>()
    }

    /// The tags to add to every sample, in order.
    pub fn tags(&self) -> impl Iterator<Item = String> + '_ {
        let env = self.env.trim();
        self.tags
            .iter()
            .chain(&self.extra_tags)
            .cloned()
            .chain((!env.is_empty()).then(|| format!("env:{env}")))
    }
}

/// Turns raw settings into core's configuration; the error names the key.
/// The host tags ([`HostTags`]) join `dogstatsd_tags`.
pub fn core_config(settings: &Map<String, Value>) -> Result<Config, LoadError> {
    let mut cfg = core_config_only(settings)?;
    let host: HostTags = read_keys(settings)?;
    for tag in host.tags() {
        if !tag.is_empty() && !cfg.dogstatsd_tags.contains(&tag) {
            cfg.dogstatsd_tags.push(tag);
        }
    }
    Ok(cfg)
}

fn core_config_only(settings: &Map<String, Value>) -> Result<Config, LoadError> {
    // Deserialize key by key first so the message names the culprit.
    for (key, value) in settings {
        let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<Config>(single) {
            return Err(LoadError::Value(format!(
                "{key}: {}",
                one_line(&e.to_string())
            )));
        }
    }
    serde_json::from_value(Value::Object(settings.clone()))
        .map_err(|e| LoadError::Value(one_line(&e.to_string())))
}

impl DaemonSettings {
    /// Every key this struct reads (for `DD_<KEY>` overrides).
    pub fn keys() -> Vec<String> {
        keys_of::<Self>()
    }

    /// Reads the daemon's keys from raw settings; the error names the key.
    pub fn from_settings(settings: &Map<String, Value>) -> Result<Self, LoadError> {
        read_keys(settings)
    }

    /// Capacity of the packet queue in packets.
    pub fn queue_packets(&self) -> usize {
        let n = self
            .dogstatsd_queue_size
            .saturating_mul(self.dogstatsd_packet_buffer_size);
        usize::try_from(n).unwrap_or(usize::MAX).clamp(1, 1 << 20)
    }
}

/// Both halves of the configuration, read from one settings map.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What core needs.
    pub core: Config,
    /// What the shell needs.
    pub daemon: DaemonSettings,
    /// The intake forwarder, when `api_key` is set.
    pub forwarder: Option<crate::forwarder::ForwarderConfig>,
    /// Traffic capture (`dogstatsd_capture_*`).
    pub capture: crate::capture::CaptureSettings,
    /// The daemon's own log (`log_*`).
    pub logging: crate::logging::LogSettings,
    /// `tags`, `extra_tags`, `env` (already part of `core.dogstatsd_tags`).
    pub host_tags: HostTags,
}

impl Settings {
    /// Reads both halves; checks that the packet size is usable.
    pub fn from_settings(settings: &Map<String, Value>) -> Result<Self, LoadError> {
        let core = core_config(settings)?;
        if core.dogstatsd_buffer_size <= 0 || core.dogstatsd_buffer_size > 1 << 26 {
            return Err(LoadError::Value(format!(
                "dogstatsd_buffer_size: must be between 1 and {}, got {}",
                1 << 26,
                core.dogstatsd_buffer_size
            )));
        }
        let daemon = DaemonSettings::from_settings(settings)?;
        let capture = crate::capture::CaptureSettings::from_settings(settings)?;
        let logging = crate::logging::LogSettings::from_settings(settings)?;
        Ok(Self {
            core,
            daemon,
            forwarder: None,
            capture,
            logging,
            host_tags: read_keys(settings)?,
        })
    }

    /// The packet buffer size in bytes.
    pub fn buffer_size(&self) -> usize {
        usize::try_from(self.core.dogstatsd_buffer_size).unwrap_or(8192)
    }

    /// The effective configuration as one JSON object, secrets redacted.
    pub fn redacted_json(&self) -> Value {
        let mut all = Map::new();
        for part in [
            serde_json::to_value(&self.core),
            serde_json::to_value(&self.daemon),
            serde_json::to_value(&self.capture),
            serde_json::to_value(&self.logging),
            serde_json::to_value(&self.host_tags),
        ]
        .into_iter()
        .flatten()
        {
            if let Value::Object(m) = part {
                all.extend(m);
            }
        }
        redact(&mut all);
        Value::Object(all)
    }
}

pub use crate::scrub::is_secret_key;

/// Replaces every non-empty secret value, at any depth, with a marker
/// that keeps the last 5 characters when long enough to be useful (as the
/// Agent's scrubber shows API keys); everything under a secret key (the
/// API keys of `additional_endpoints`) counts, and passwords in URLs
/// (`dd_url`, proxies, endpoint URLs) are masked wherever they are.
pub fn redact(map: &mut Map<String, Value>) {
    for (k, v) in map.iter_mut() {
        redact_value(v, is_secret_key(k));
    }
}

fn redact_value(v: &mut Value, secret: bool) {
    match v {
        Value::Object(m) => {
            let entries = std::mem::take(m);
            for (k, mut v) in entries {
                redact_value(&mut v, secret || is_secret_key(&k));
                m.insert(crate::scrub::mask_url_passwords(&k), v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, secret)),
        Value::String(s) if secret && !s.is_empty() => {
            let n = s.chars().count();
            let tail: String = if n >= 20 {
                s.chars().skip(n - 5).collect()
            } else {
                String::new()
            };
            *s = format!("***************************{tail}");
        }
        Value::String(s) => *s = crate::scrub::mask_url_passwords(s),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Settings, LoadError> {
        let v: Value = serde_json::from_str(json).unwrap();
        Settings::from_settings(v.as_object().unwrap())
    }

    #[test]
    fn defaults() {
        let s = read("{}").unwrap();
        assert_eq!(s.daemon, DaemonSettings::default());
        assert_eq!(s.daemon.dogstatsd_port, Port::Fixed(8125));
        assert_eq!(s.daemon.queue_packets(), 1024 * 32);
        assert_eq!(s.buffer_size(), 8192);
        assert_eq!(s.daemon.dogstatsd_stream_max_connections, 4096);
        assert_eq!(s.daemon.dogstatsd_stream_idle_timeout, Duration::ZERO);
        assert_eq!(s.core.dogstatsd_max_metrics_tags, 0);
        assert_eq!(s.core.dogstatsd_max_tag_length, 4096);
        assert_eq!(s.core.dogstatsd_max_name_length, 1024);
        let s = read(r#"{"dogstatsd_stream_idle_timeout":"2m","dogstatsd_max_tag_length":"200"}"#)
            .unwrap();
        assert_eq!(
            s.daemon.dogstatsd_stream_idle_timeout,
            Duration::from_secs(120)
        );
        assert_eq!(s.core.dogstatsd_max_tag_length, 200);
    }

    #[test]
    fn ports() {
        let p = |j: &str| read(j).map(|s| s.daemon.dogstatsd_port);
        assert_eq!(p(r#"{"dogstatsd_port":0}"#).unwrap(), Port::Off);
        assert_eq!(p(r#"{"dogstatsd_port":"0"}"#).unwrap(), Port::Off);
        assert_eq!(
            p(r#"{"dogstatsd_port":"__random__"}"#).unwrap(),
            Port::Random
        );
        assert_eq!(
            p(r#"{"dogstatsd_port":"9125"}"#).unwrap(),
            Port::Fixed(9125)
        );
        let e = p(r#"{"dogstatsd_port":"eighty"}"#).unwrap_err().to_string();
        assert!(e.contains("dogstatsd_port"), "{e}");
        let e = p(r#"{"dogstatsd_port":70000}"#).unwrap_err().to_string();
        assert!(e.contains("dogstatsd_port") && e.contains("70000"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (json, key) in [
            (r#"{"dogstatsd_queue_size":0}"#, "dogstatsd_queue_size"),
            (r#"{"dogstatsd_so_rcvbuf":-1}"#, "dogstatsd_so_rcvbuf"),
            (
                r#"{"dogstatsd_stream_max_connections":-1}"#,
                "dogstatsd_stream_max_connections",
            ),
            (
                r#"{"dogstatsd_stream_idle_timeout":"a while"}"#,
                "dogstatsd_stream_idle_timeout",
            ),
            (r#"{"log_level":"loud"}"#, "log_level"),
            (
                r#"{"dogstatsd_admin_host":"example.com"}"#,
                "dogstatsd_admin_host",
            ),
            (
                r#"{"dogstatsd_stream_max_uid_share":1.5}"#,
                "dogstatsd_stream_max_uid_share",
            ),
            (
                r#"{"dogstatsd_stream_frame_timeout":"later"}"#,
                "dogstatsd_stream_frame_timeout",
            ),
            (r#"{"dogstatsd_buffer_size":0}"#, "dogstatsd_buffer_size"),
            (
                r#"{"dogstatsd_packet_buffer_flush_timeout":"soon"}"#,
                "dogstatsd_packet_buffer_flush_timeout",
            ),
            (
                r#"{"dogstatsd_origin_detection":"perhaps"}"#,
                "dogstatsd_origin_detection",
            ),
        ] {
            let e = read(json).unwrap_err().to_string();
            assert!(e.contains(key), "{json}: {e}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("1000000"), Some(Duration::from_millis(1)));
        assert_eq!(parse_go_duration("10 parsecs"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn secrets_are_redacted() {
        let s = read(
            r#"{"api_key":"0123456789abcdef0123456789abcdef","dd_url":"http://x","hostname":"h"}"#,
        )
        .unwrap();
        let j = s.redacted_json();
        let key = j["api_key"].as_str().unwrap();
        assert!(!key.contains("0123456789abcdef0123456789a"), "{key}");
        assert!(key.ends_with("bcdef"));
        assert_eq!(j["dd_url"], "http://x");
        assert_eq!(j["dogstatsd_port"], 8125);
        assert_eq!(j["hostname"], "h");
        let debug = format!("{s:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let mut m = serde_json::json!({
            "proxy": {"password": "pw", "https": "http://u:proxypw@p:3128"},
            "additional_endpoints": {"https://u:urlpw@x": ["endpointkey1"]},
            "k": "v"
        });
        redact(m.as_object_mut().unwrap());
        assert_ne!(m["proxy"]["password"], "pw");
        assert_eq!(m["proxy"]["https"], "http://u:********@p:3128");
        let shown = m.to_string();
        for secret in ["urlpw", "endpointkey1", "proxypw"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(m["k"], "v");
    }
}
