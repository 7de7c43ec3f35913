//! The forwarder's configuration, built from the Agent's `datadog.yaml`
//! keys (`spec/intake.md` §1, §2).

use std::fmt;
use std::time::Duration;

use dogstatsd_core::config::{PayloadSettings, de};
use dogstatsd_core::payload::PayloadLimits;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::backoff::{DEFAULT_BASE, DEFAULT_CAP};
use super::compression::{Compression, CompressionError};

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
];

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
    /// Seed of the backoff jitter; `None` seeds from the clock.
    pub seed: Option<u64>,
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
            .field("seed", &self.seed)
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
            seed: None,
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
        Ok(Self {
            api_key: s.api_key.trim().to_string(),
            url: intake_url(&s.dd_url, &s.site),
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
            agent_version: DEFAULT_AGENT_VERSION.to_string(),
            backoff_base: DEFAULT_BASE,
            backoff_cap: DEFAULT_CAP,
            seed: None,
        })
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
