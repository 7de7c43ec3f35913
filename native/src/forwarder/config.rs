//! The forwarder's configuration, built from the Agent's `datadog.yaml`
//! keys (`spec/intake.md` §1, §2).

use std::fmt;
use std::time::Duration;

use dogstatsd_core::config::{PayloadSettings, de};
use dogstatsd_core::payload::PayloadLimits;
use serde::Deserialize;
use serde_json::{Map, Value};

use std::path::PathBuf;

use super::backoff::{DEFAULT_BASE, DEFAULT_CAP, DEFAULT_FACTOR, DEFAULT_RECOVERY_INTERVAL};
use super::compression::{Compression, CompressionError};
use super::proxy::ProxyConfig;

/// Default `site`.
pub const DEFAULT_SITE: &str = "datadoghq.com";

/// Default `forwarder_timeout`: 20 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Default `forwarder_retry_queue_payloads_max_size`: 15 MiB of
/// (compressed) payloads.
pub const DEFAULT_RETRY_QUEUE_BYTES: usize = 15 * 1024 * 1024;

/// Default `forwarder_max_concurrent_requests`.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 10;

/// The Agent version the forwarder announces (`DD-Agent-Version`,
/// `User-Agent: datadog-agent/<version>`).
pub const DEFAULT_AGENT_VERSION: &str = "7.60.0";

/// The `datadog.yaml` keys [`ForwarderConfig::from_settings`] reads, for
/// a loader that maps `DD_<KEY>` environment variables key by key.
pub const SETTINGS_KEYS: &[&str] = &[
    "api_key",
    "site",
    "dd_url",
    "forwarder_timeout",
    "forwarder_max_concurrent_requests",
    "forwarder_retry_queue_payloads_max_size",
    "serializer_compressor_kind",
    "serializer_zstd_compressor_level",
    "allow_arbitrary_tags",
    "serializer_max_series_points_per_payload",
    "serializer_max_series_payload_size",
    "serializer_max_series_uncompressed_payload_size",
    "serializer_max_payload_size",
    "serializer_max_uncompressed_payload_size",
    "use_v2_api_series",
    // `DD_URL`: the Agent's second spelling of `dd_url` (`DD_DD_URL` wins).
    "url",
    "forwarder_backoff_base",
    "forwarder_backoff_max",
    "forwarder_backoff_factor",
    "forwarder_recovery_interval",
    "forwarder_num_workers",
    "forwarder_stop_timeout",
    "additional_endpoints",
    "skip_ssl_validation",
    "min_tls_version",
    "forwarder_storage_max_size_in_bytes",
    "forwarder_storage_path",
    "run_path",
    "proxy",
    // `DD_PROXY_HTTP`, `DD_PROXY_HTTPS`, `DD_PROXY_NO_PROXY`.
    "proxy_http",
    "proxy_https",
    "proxy_no_proxy",
];

/// Default `forwarder_stop_timeout`: 2 s.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Default `forwarder_num_workers`.
pub const DEFAULT_NUM_WORKERS: usize = 1;

/// Default `run_path` (the Agent's on Linux).
pub const DEFAULT_RUN_PATH: &str = "/opt/datadog-agent/run";

/// The lowest TLS version a connection may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 (the Agent's default `min_tls_version: tlsv1.2`).
    #[default]
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// Reads `min_tls_version` (`tlsv1.0` … `tlsv1.3`, case-insensitive).
    /// The TLS library never speaks below 1.2, so `tlsv1.0` and `tlsv1.1`
    /// give 1.2 (true to "at least"), flagged by the returned `bool`.
    pub fn parse(s: &str) -> Result<(Self, bool), ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "tlsv1.2" => Ok((Self::Tls12, false)),
            "tlsv1.0" | "tlsv1.1" => Ok((Self::Tls12, true)),
            "tlsv1.3" => Ok((Self::Tls13, false)),
            other => Err(ConfigError::Value(format!(
                "min_tls_version: expected tlsv1.0, tlsv1.1, tlsv1.2 or tlsv1.3, got {other:?}"
            ))),
        }
    }
}

/// One more intake every payload is also sent to (`additional_endpoints`).
#[derive(Clone, PartialEq, Eq)]
pub struct ExtraEndpoint {
    /// Base URL.
    pub url: String,
    /// API key.
    pub api_key: String,
}

impl fmt::Debug for ExtraEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtraEndpoint")
            .field("url", &self.url)
            .field("api_key", &redact(&self.api_key))
            .finish()
    }
}

/// Why a forwarder configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value of the wrong kind.
    #[error("invalid forwarder setting: {0}")]
    Value(String),
    /// The compressor kind is unknown.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// The intake URL cannot be used.
    #[error("invalid intake URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Everything the forwarder needs. Build it with
/// [`ForwarderConfig::new`] (tests) or
/// [`ForwarderConfig::from_settings`] (the daemon). Its `Debug` output
/// never shows the API key.
#[derive(Clone)]
pub struct ForwarderConfig {
    /// `api_key`, sent as `DD-API-KEY`.
    pub api_key: String,
    /// The intake's base URL (scheme, host, port; no trailing `/`), from
    /// `dd_url`, else `https://api.<site>`.
    pub url: String,
    /// `forwarder_timeout`: whole-request timeout. Defaults to 20 s.
    pub timeout: Duration,
    /// `serializer_compressor_kind` (+ `serializer_zstd_compressor_level`).
    /// Defaults to zstd level 1.
    pub compression: Compression,
    /// `forwarder_max_concurrent_requests`: requests in flight at once.
    /// Defaults to 10.
    pub max_concurrent_requests: usize,
    /// `forwarder_retry_queue_payloads_max_size`: bytes of compressed
    /// payloads waiting to be sent or retried; the oldest are dropped
    /// beyond it. Defaults to 15 MiB.
    pub retry_queue_max_bytes: usize,
    /// Payload size limits (`serializer_max_*`).
    pub limits: PayloadLimits,
    /// `use_v2_api.series`: protobuf series (default) or v1 JSON.
    pub series_v2: bool,
    /// `allow_arbitrary_tags`: sends `Allow-Arbitrary-Tag-Value: true`.
    pub allow_arbitrary_tags: bool,
    /// The server's hostname (events' `internalHostname`).
    pub hostname: String,
    /// Announced Agent version.
    pub agent_version: String,
    /// Backoff base (100 ms).
    pub backoff_base: Duration,
    /// Backoff cap (10 s).
    pub backoff_cap: Duration,
    /// `forwarder_backoff_factor`: the wait after `n` errors is drawn
    /// from `[t / factor, t)` (2).
    pub backoff_factor: f64,
    /// `forwarder_recovery_interval`: errors forgiven per success (2).
    pub recovery_interval: u32,
    /// Seed of the backoff jitter; `None` seeds from the clock.
    pub seed: Option<u64>,
    /// `forwarder_num_workers`: with `max_concurrent_requests`, bounds
    /// the requests in flight per endpoint (their product). Defaults to 1.
    pub num_workers: usize,
    /// `forwarder_stop_timeout`: how long a stop keeps delivering before
    /// storing or dropping what is left. Defaults to 2 s.
    pub stop_timeout: Duration,
    /// `additional_endpoints`: every payload also goes to each of these,
    /// with its own queue, backoff and counters.
    pub additional_endpoints: Vec<ExtraEndpoint>,
    /// `skip_ssl_validation`: accept any certificate.
    pub skip_ssl_validation: bool,
    /// `min_tls_version`.
    pub min_tls_version: TlsVersion,
    /// `proxy.*` (or `DD_PROXY_*`, else `HTTP(S)_PROXY`/`NO_PROXY`).
    pub proxy: ProxyConfig,
    /// `forwarder_storage_max_size_in_bytes`: 0 (default) keeps no store.
    pub storage_max_bytes: usize,
    /// `forwarder_storage_path`, default `<run_path>/transactions_to_retry`.
    pub storage_path: PathBuf,
}

impl fmt::Debug for ForwarderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwarderConfig")
            .field("api_key", &redact(&self.api_key))
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("retry_queue_max_bytes", &self.retry_queue_max_bytes)
            .field("limits", &self.limits)
            .field("series_v2", &self.series_v2)
            .field("allow_arbitrary_tags", &self.allow_arbitrary_tags)
            .field("hostname", &self.hostname)
            .field("agent_version", &self.agent_version)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_cap", &self.backoff_cap)
            .field("backoff_factor", &self.backoff_factor)
            .field("recovery_interval", &self.recovery_interval)
            .field("seed", &self.seed)
            .field("num_workers", &self.num_workers)
            .field("stop_timeout", &self.stop_timeout)
            .field("additional_endpoints", &self.additional_endpoints)
            .field("skip_ssl_validation", &self.skip_ssl_validation)
            .field("min_tls_version", &self.min_tls_version)
            .field("proxy", &self.proxy)
            .field("storage_max_bytes", &self.storage_max_bytes)
            .field("storage_path", &self.storage_path)
            .finish()
    }
}

/// How an API key is shown: never its value.
fn redact(key: &str) -> &'static str {
    if key.is_empty() { "" } else { "<redacted>" }
}

/// The `datadog.yaml` keys, leniently typed as the Agent reads them.
#[derive(Deserialize)]
#[serde(default)]
struct Settings {
    #[serde(deserialize_with = "de::string")]
    api_key: String,
    #[serde(deserialize_with = "de::string")]
    site: String,
    #[serde(deserialize_with = "de::string")]
    dd_url: String,
    #[serde(deserialize_with = "de::int")]
    forwarder_timeout: i64,
    #[serde(deserialize_with = "de::int")]
    forwarder_max_concurrent_requests: i64,
    #[serde(deserialize_with = "de::int")]
    forwarder_retry_queue_payloads_max_size: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_key: String::new(),
            site: String::new(),
            dd_url: String::new(),
            forwarder_timeout: DEFAULT_TIMEOUT.as_secs() as i64,
            forwarder_max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS as i64,
            forwarder_retry_queue_payloads_max_size: DEFAULT_RETRY_QUEUE_BYTES as i64,
        }
    }
}

/// The intake base URL the Agent's key rules give: `dd_url` when set
/// (`https://` assumed when it has no scheme), else `https://api.<site>`
/// (`site` defaults to `datadoghq.com`); never a trailing `/`.
pub fn intake_url(dd_url: &str, site: &str) -> String {
    let dd_url = dd_url.trim();
    let url = if !dd_url.is_empty() {
        if dd_url.contains("://") {
            dd_url.to_string()
        } else {
            format!("https://{dd_url}")
        }
    } else {
        let site = site.trim().trim_end_matches('/');
        let site = if site.is_empty() { DEFAULT_SITE } else { site };
        format!("https://api.{site}")
    };
    url.trim_end_matches('/').to_string()
}

fn positive(key: &str, v: i64) -> Result<usize, ConfigError> {
    usize::try_from(v)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError::Value(format!("{key}: must be positive, got {v}")))
}

impl ForwarderConfig {
    /// Defaults, sending to `url` with `api_key`.
    pub fn new(url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            url: url.into().trim_end_matches('/').to_string(),
            timeout: DEFAULT_TIMEOUT,
            compression: Compression::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            retry_queue_max_bytes: DEFAULT_RETRY_QUEUE_BYTES,
            limits: PayloadLimits::default(),
            series_v2: true,
            allow_arbitrary_tags: false,
            hostname: String::new(),
            agent_version: DEFAULT_AGENT_VERSION.to_string(),
            backoff_base: DEFAULT_BASE,
            backoff_cap: DEFAULT_CAP,
            backoff_factor: DEFAULT_FACTOR,
            recovery_interval: DEFAULT_RECOVERY_INTERVAL,
            seed: None,
            num_workers: DEFAULT_NUM_WORKERS,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            additional_endpoints: Vec::new(),
            skip_ssl_validation: false,
            min_tls_version: TlsVersion::Tls12,
            proxy: ProxyConfig::default(),
            storage_max_bytes: 0,
            storage_path: PathBuf::from(DEFAULT_RUN_PATH).join("transactions_to_retry"),
        }
    }

    /// From the raw settings map (`datadog.yaml` overlaid with `DD_*`
    /// variables; see [`SETTINGS_KEYS`]) and the server's hostname.
    pub fn from_settings(
        settings: &Map<String, Value>,
        hostname: &str,
    ) -> Result<Self, ConfigError> {
        let mut picked = Map::new();
        for key in SETTINGS_KEYS.iter().copied().chain(["use_v2_api"]) {
            if let Some(v) = settings.get(key) {
                picked.insert(key.to_string(), v.clone());
            }
        }
        let picked = Value::Object(picked);
        // Payload keys: core's reader, shared with the wasm shell.
        let payload =
            PayloadSettings::from_value(&picked).map_err(|e| ConfigError::Value(e.to_string()))?;
        let s: Settings = dogstatsd_core::config::read_settings(&picked)
            .map_err(|e| ConfigError::Value(e.to_string()))?;
        let compression = Compression::from_settings(payload.compressor, payload.zstd_level);
        let dd_url = if s.dd_url.trim().is_empty() {
            match settings.get("url") {
                Some(v) => {
                    de::read_string(v).map_err(|e| ConfigError::Value(format!("url: {e}")))?
                }
                None => String::new(),
            }
        } else {
            s.dd_url.clone()
        };
        let base = Self {
            api_key: s.api_key.trim().to_string(),
            url: intake_url(&dd_url, &s.site),
            timeout: Duration::from_secs(positive("forwarder_timeout", s.forwarder_timeout)? as u64),
            compression,
            max_concurrent_requests: positive(
                "forwarder_max_concurrent_requests",
                s.forwarder_max_concurrent_requests,
            )?,
            retry_queue_max_bytes: positive(
                "forwarder_retry_queue_payloads_max_size",
                s.forwarder_retry_queue_payloads_max_size,
            )?,
            limits: payload.limits,
            series_v2: payload.series_v2,
            allow_arbitrary_tags: payload.allow_arbitrary_tags,
            hostname: hostname.to_string(),
            ..Self::new("", "")
        };
        base.with_forwarder_keys(settings, |name| std::env::var(name).ok())
    }

    /// Reads the forwarder keys beyond the payload settings: backoff,
    /// workers, stop timeout, additional endpoints, TLS, proxy and store.
    /// `env` looks up the standard proxy variables (`HTTP_PROXY`, …).
    pub fn with_forwarder_keys(
        mut self,
        settings: &Map<String, Value>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let err = |key: &str, e: String| ConfigError::Value(format!("{key}: {e}"));
        let int = |key: &str| -> Result<Option<i64>, ConfigError> {
            settings
                .get(key)
                .map(|v| de::read_int(v).map_err(|e| err(key, e)))
                .transpose()
        };
        let secs = |key: &str| -> Result<Option<Duration>, ConfigError> {
            let Some(v) = settings.get(key) else {
                return Ok(None);
            };
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .ok_or_else(|| err(key, format!("expected a number of seconds, got {v}")))?;
            if !(f.is_finite() && f > 0.0 && f < 1e9) {
                return Err(err(
                    key,
                    format!("must be a positive number of seconds, got {f}"),
                ));
            }
            Ok(Some(Duration::from_secs_f64(f)))
        };
        if let Some(d) = secs("forwarder_backoff_base")? {
            self.backoff_base = d;
        }
        if let Some(d) = secs("forwarder_backoff_max")? {
            self.backoff_cap = d;
        }
        if self.backoff_cap < self.backoff_base {
            return Err(ConfigError::Value(format!(
                "forwarder_backoff_max ({:?}) is below forwarder_backoff_base ({:?})",
                self.backoff_cap, self.backoff_base
            )));
        }
        if let Some(v) = settings.get("forwarder_backoff_factor") {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|f| f.is_finite() && *f >= 1.0)
            .ok_or_else(|| {
                err(
                    "forwarder_backoff_factor",
                    format!("expected a number >= 1, got {v}"),
                )
            })?;
            self.backoff_factor = f;
        }
        if let Some(n) = int("forwarder_recovery_interval")? {
            self.recovery_interval = u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                err(
                    "forwarder_recovery_interval",
                    format!("must be positive, got {n}"),
                )
            })?;
        }
        if let Some(n) = int("forwarder_num_workers")? {
            self.num_workers = positive("forwarder_num_workers", n)?;
        }
        if let Some(n) = int("forwarder_stop_timeout")? {
            // The Agent's unit is seconds; 0 stops without waiting.
            self.stop_timeout = Duration::from_secs(u64::try_from(n).map_err(|_| {
                err(
                    "forwarder_stop_timeout",
                    format!("must not be negative, got {n}"),
                )
            })?);
        }
        if let Some(v) = settings.get("skip_ssl_validation") {
            self.skip_ssl_validation =
                de::read_bool(v).map_err(|e| err("skip_ssl_validation", e))?;
        }
        if let Some(v) = settings.get("min_tls_version") {
            let s = de::read_string(v).map_err(|e| err("min_tls_version", e))?;
            let (version, raised) = TlsVersion::parse(&s)?;
            if raised {
                tracing::warn!(
                    "min_tls_version: {s} is below what this build speaks; TLS 1.2 is the minimum used"
                );
            }
            self.min_tls_version = version;
        }
        if let Some(n) = int("forwarder_storage_max_size_in_bytes")? {
            self.storage_max_bytes = usize::try_from(n).map_err(|_| {
                err(
                    "forwarder_storage_max_size_in_bytes",
                    format!("must not be negative, got {n}"),
                )
            })?;
        }
        let run_path = match settings.get("run_path") {
            Some(v) => de::read_string(v).map_err(|e| err("run_path", e))?,
            None => String::new(),
        };
        let run_path = if run_path.trim().is_empty() {
            DEFAULT_RUN_PATH.to_string()
        } else {
            run_path
        };
        let storage_path = match settings.get("forwarder_storage_path") {
            Some(v) => de::read_string(v).map_err(|e| err("forwarder_storage_path", e))?,
            None => String::new(),
        };
        self.storage_path = if storage_path.trim().is_empty() {
            PathBuf::from(run_path).join("transactions_to_retry")
        } else {
            PathBuf::from(storage_path)
        };
        self.additional_endpoints = additional_endpoints(settings.get("additional_endpoints"))?;
        self.proxy = ProxyConfig::from_settings(settings, env)?;
        Ok(self)
    }
}

/// Reads `additional_endpoints: {URL: [api_key, ...]}` (the environment
/// variable carries the same map as JSON). Keys are trimmed; empty ones
/// and duplicates of an (URL, key) pair are skipped.
fn additional_endpoints(v: Option<&Value>) -> Result<Vec<ExtraEndpoint>, ConfigError> {
    let bad = |e: String| ConfigError::Value(format!("additional_endpoints: {e}"));
    let map = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(bad(
                    "expected a JSON map of URL to a list of API keys".to_string()
                ));
            }
        },
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(bad(
                "expected a map of URL to a list of API keys".to_string()
            ));
        }
    };
    let mut out: Vec<ExtraEndpoint> = Vec::new();
    for (url, keys) in map {
        let keys = de::read_string_list(&keys).map_err(|e| bad(format!("{url}: {e}")))?;
        let url = intake_url(&url, "");
        for key in keys {
            let api_key = key.trim().to_string();
            if api_key.is_empty() {
                continue;
            }
            let e = ExtraEndpoint {
                url: url.clone(),
                api_key,
            };
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

impl ForwarderConfig {
    /// Requests in flight at once per endpoint.
    pub fn max_in_flight(&self) -> usize {
        self.num_workers
            .max(1)
            .saturating_mul(self.max_concurrent_requests.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_are_the_agents() {
        let c = ForwarderConfig::from_settings(&Map::new(), "h").unwrap();
        assert_eq!(c.url, "https://api.datadoghq.com");
        assert_eq!(c.timeout, Duration::from_secs(20));
        assert_eq!(c.compression, Compression::Zstd(1));
        assert_eq!(c.retry_queue_max_bytes, 15 * 1024 * 1024);
        assert_eq!(c.limits, PayloadLimits::default());
        assert!(c.series_v2);
        assert_eq!(c.hostname, "h");
    }

    #[test]
    fn keys_are_read_leniently() {
        let c = ForwarderConfig::from_settings(
            &settings(
                r#"{"api_key":" abc ","site":"datadoghq.eu","forwarder_timeout":"5",
                    "serializer_compressor_kind":"zlib","forwarder_max_concurrent_requests":3,
                    "forwarder_retry_queue_payloads_max_size":"1000",
                    "serializer_max_series_points_per_payload":"50",
                    "use_v2_api":{"series":"false"},"allow_arbitrary_tags":"true"}"#,
            ),
            "",
        )
        .unwrap();
        assert_eq!(c.api_key, "abc");
        assert_eq!(c.url, "https://api.datadoghq.eu");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.compression, Compression::Deflate);
        assert_eq!(c.max_concurrent_requests, 3);
        assert_eq!(c.retry_queue_max_bytes, 1000);
        assert_eq!(c.limits.max_series_points_per_payload, 50);
        assert!(!c.series_v2);
        assert!(c.allow_arbitrary_tags);
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = ForwarderConfig::from_settings(&settings(r#"{"forwarder_timeout":"soon"}"#), "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("forwarder_timeout"), "{err}");
        let err = ForwarderConfig::from_settings(&settings(r#"{"forwarder_timeout":0}"#), "")
            .unwrap_err();
        assert!(err.to_string().contains("positive"));
        assert!(
            ForwarderConfig::from_settings(
                &settings(r#"{"serializer_compressor_kind":"lz4"}"#),
                ""
            )
            .is_err()
        );
    }

    #[test]
    fn series_api_follows_the_agents_precedence() {
        // The cases the wasm shell's test reads too (core's one reader):
        // the flat key (DD_USE_V2_API_SERIES) wins over the nested one.
        let cases: Vec<Value> = serde_json::from_str(include_str!(
            "../../../tests/data/series-api-precedence.json"
        ))
        .unwrap();
        for case in cases {
            let Value::Object(map) = &case["settings"] else {
                panic!("{case}");
            };
            let c = ForwarderConfig::from_settings(map, "").unwrap();
            assert_eq!(Value::Bool(c.series_v2), case["series_v2"], "{case}");
        }
        let c = ForwarderConfig::from_settings(
            &settings(
                r#"{"serializer_compressor_kind":"zstd","serializer_zstd_compressor_level":5}"#,
            ),
            "",
        )
        .unwrap();
        assert_eq!(c.compression, Compression::Zstd(5));
        let c = ForwarderConfig::from_settings(
            &settings(r#"{"serializer_compressor_kind":"none"}"#),
            "",
        )
        .unwrap();
        assert_eq!(c.compression, Compression::None);
    }

    #[test]
    fn dd_url_wins_over_site() {
        assert_eq!(
            intake_url("http://127.0.0.1:9/", "x.com"),
            "http://127.0.0.1:9"
        );
        assert_eq!(intake_url("intake.example", ""), "https://intake.example");
        assert_eq!(
            intake_url("", "us5.datadoghq.com"),
            "https://api.us5.datadoghq.com"
        );
        assert_eq!(intake_url(" ", " "), "https://api.datadoghq.com");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = ForwarderConfig::new("http://x", "0123456789abcdef");
        let shown = format!("{c:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!shown.contains("abcdef"));
        assert!(shown.contains("<redacted>"));
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    fn read(json: &str) -> Result<ForwarderConfig, ConfigError> {
        let m: Map<String, Value> = serde_json::from_str(json).unwrap();
        ForwarderConfig::from_settings(&m, "h")
    }

    #[test]
    fn forwarder_keys_default_to_the_agents() {
        let c = read("{}").unwrap();
        assert_eq!(c.backoff_base, Duration::from_secs(2));
        assert_eq!(c.backoff_cap, Duration::from_secs(64));
        assert_eq!(c.backoff_factor, 2.0);
        assert_eq!(c.recovery_interval, 2);
        assert_eq!(c.num_workers, 1);
        assert_eq!(c.stop_timeout, Duration::from_secs(2));
        assert_eq!(c.timeout, Duration::from_secs(20));
        assert!(c.additional_endpoints.is_empty());
        assert!(!c.skip_ssl_validation);
        assert_eq!(c.min_tls_version, TlsVersion::Tls12);
        assert_eq!(c.storage_max_bytes, 0);
        assert_eq!(
            c.storage_path,
            PathBuf::from("/opt/datadog-agent/run/transactions_to_retry")
        );
    }

    #[test]
    fn forwarder_keys_are_read() {
        let c = read(
            r#"{"forwarder_backoff_base":"0.5","forwarder_backoff_max":30,
                "forwarder_backoff_factor":3,"forwarder_recovery_interval":"1",
                "forwarder_num_workers":4,"forwarder_stop_timeout":"7",
                "skip_ssl_validation":"true","min_tls_version":"TLSv1.3",
                "forwarder_storage_max_size_in_bytes":"1000","run_path":"/var/run/dsd",
                "additional_endpoints":"{\"https://a.example\":[\"k1\",\" k2 \",\"\",\"k1\"],\"b.example/\":[\"k3\"]}"}"#,
        )
        .unwrap();
        assert_eq!(c.backoff_base, Duration::from_millis(500));
        assert_eq!(c.backoff_cap, Duration::from_secs(30));
        assert_eq!(c.backoff_factor, 3.0);
        assert_eq!(c.recovery_interval, 1);
        assert_eq!(c.num_workers, 4);
        assert_eq!(c.stop_timeout, Duration::from_secs(7));
        assert!(c.skip_ssl_validation);
        assert_eq!(c.min_tls_version, TlsVersion::Tls13);
        assert_eq!(c.storage_max_bytes, 1000);
        assert_eq!(
            c.storage_path,
            PathBuf::from("/var/run/dsd/transactions_to_retry")
        );
        let mut extra: Vec<(&str, &str)> = c
            .additional_endpoints
            .iter()
            .map(|e| (e.url.as_str(), e.api_key.as_str()))
            .collect();
        extra.sort();
        assert_eq!(
            extra,
            [
                ("https://a.example", "k1"),
                ("https://a.example", "k2"),
                ("https://b.example", "k3")
            ]
        );
        assert!(!format!("{c:?}").contains("k3"));
        let c =
            read(r#"{"forwarder_storage_path":"/tmp/x","additional_endpoints":{"http://c":"k"}}"#)
                .unwrap();
        assert_eq!(c.storage_path, PathBuf::from("/tmp/x"));
        assert_eq!(c.additional_endpoints[0].url, "http://c");
    }

    #[test]
    fn dd_url_has_the_url_alias_and_wins_over_it() {
        assert_eq!(read(r#"{"url":"http://a:1"}"#).unwrap().url, "http://a:1");
        assert_eq!(
            read(r#"{"url":"http://a:1","dd_url":"http://b:2"}"#)
                .unwrap()
                .url,
            "http://b:2"
        );
    }

    #[test]
    fn bad_forwarder_keys_name_the_key() {
        for (json, key) in [
            (
                r#"{"forwarder_backoff_base":"soon"}"#,
                "forwarder_backoff_base",
            ),
            (r#"{"forwarder_backoff_base":0}"#, "forwarder_backoff_base"),
            (
                r#"{"forwarder_backoff_base":10,"forwarder_backoff_max":5}"#,
                "forwarder_backoff_max",
            ),
            (r#"{"forwarder_num_workers":0}"#, "forwarder_num_workers"),
            (r#"{"forwarder_stop_timeout":-1}"#, "forwarder_stop_timeout"),
            (r#"{"min_tls_version":"ssl3"}"#, "min_tls_version"),
            (r#"{"additional_endpoints":"nope"}"#, "additional_endpoints"),
            (
                r#"{"additional_endpoints":{"http://a":{"x":1}}}"#,
                "additional_endpoints",
            ),
            (
                r#"{"forwarder_storage_max_size_in_bytes":-5}"#,
                "forwarder_storage_max_size_in_bytes",
            ),
        ] {
            let e = read(json).unwrap_err().to_string();
            assert!(e.contains(key), "{json}: {e}");
        }
    }
}

#[cfg(test)]
mod in_flight_tests {
    use super::*;

    #[test]
    fn in_flight_is_workers_times_requests() {
        let mut c = ForwarderConfig::new("http://x", "k");
        assert_eq!(c.max_in_flight(), 10);
        c.num_workers = 3;
        c.max_concurrent_requests = 2;
        assert_eq!(c.max_in_flight(), 6);
    }
}
