//! Configuration, with the Datadog Agent's `datadog.yaml` key names.
//!
//! Core never reads YAML or the environment: the shells deserialize these
//! structs from whatever they have (YAML, JSON, `DD_*` variables). Values
//! are read as leniently as the Agent's config library reads them
//! (`"true"`, `"8125"`, a JSON string for a list), and unknown keys are
//! ignored because a real `datadog.yaml` holds the whole Agent's settings.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use serde_json::{Map, Value};

use crate::payload::PayloadLimits;

/// Metric-name prefixes that `statsd_metric_namespace` never applies to
/// (the Agent's `StandardStatsdPrefixes`).
pub const DEFAULT_NAMESPACE_BLOCKLIST: &[&str] = &[
    "datadog.agent",
    "datadog.dogstatsd",
    "datadog.process",
    "datadog.trace_agent",
    "datadog.tracer",
    "activemq",
    "activemq_58",
    "airflow",
    "cassandra",
    "confluent",
    "hazelcast",
    "hive",
    "ignite",
    "jboss",
    "jvm",
    "kafka",
    "presto",
    "sidekiq",
    "solr",
    "tomcat",
    "runtime",
];

/// Everything core needs to know. Field names are the Agent's keys; each
/// field's default is the Agent's. Deserialized with serde, each value
/// through the Agent's lenient readers ([`de`]); a key given under two
/// names (an alias) is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Host for metrics without a `host:` tag. Default empty; the native
    /// shell fills in the machine's hostname.
    #[serde(deserialize_with = "de::string")]
    pub hostname: String,
    /// Read `|T` and ship timestamped metrics unaggregated. Default true.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_no_aggregation_pipeline: bool,
    /// Read the client origin fields `c:`, `e:`, `card:`. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_origin_detection_client: bool,
    /// Prefix for every metric name (a `.` is appended when missing).
    #[serde(deserialize_with = "de::string")]
    pub statsd_metric_namespace: String,
    /// Names starting with one of these never get the namespace (also
    /// read as `statsd_metric_namespace_blocklist`).
    #[serde(
        alias = "statsd_metric_namespace_blocklist",
        deserialize_with = "de::string_list"
    )]
    pub statsd_metric_namespace_blacklist: Vec<String>,
    /// Metric names dropped after enrichment (the filter list; newer
    /// Agents call it `metric_filterlist`). Default none.
    #[serde(alias = "metric_filterlist", deserialize_with = "de::string_list")]
    pub statsd_metric_blocklist: Vec<String>,
    /// Match the filter list as name prefixes instead of exact names
    /// (also read as `metric_filterlist_match_prefix`).
    #[serde(
        alias = "metric_filterlist_match_prefix",
        deserialize_with = "de::boolean"
    )]
    pub statsd_metric_blocklist_match_prefix: bool,
    /// Tags added to every metric, event and service check.
    #[serde(deserialize_with = "de::string_list")]
    pub dogstatsd_tags: Vec<String>,
    /// Transports whose messages must end with `\n` (`udp`, `uds`,
    /// `named_pipe`). Default none.
    #[serde(deserialize_with = "de::string_list")]
    pub dogstatsd_eol_required: Vec<String>,
    /// Mapper profiles (§8 of the spec), also as a JSON string. Default
    /// none.
    #[serde(deserialize_with = "MapperProfileConfig::list")]
    pub dogstatsd_mapper_profiles: Vec<MapperProfileConfig>,
    /// Mapper LRU size. Default 1000; must be positive.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_mapper_cache_size: i64,
    /// Histogram aggregates. Default `max, median, avg, count`.
    #[serde(deserialize_with = "de::string_list")]
    pub histogram_aggregates: Vec<String>,
    /// Histogram percentiles as strings in [0, 1]. Default `0.95`.
    #[serde(deserialize_with = "de::string_list")]
    pub histogram_percentiles: Vec<String>,
    /// Also send every histogram/timing sample as a distribution.
    #[serde(deserialize_with = "de::boolean")]
    pub histogram_copy_to_distribution: bool,
    /// Name prefix of those copies.
    #[serde(deserialize_with = "de::string")]
    pub histogram_copy_to_distribution_prefix: String,
    /// Counter zero-fill duration in seconds. Default 300.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_expiry_seconds: i64,
    /// Routes of recent name/tag strings each worker remembers, so a
    /// repeated message skips mapping, enrichment and tag hashing (this
    /// project's key; ~250 B each for 130-byte messages, twice that under
    /// a context limit). Default 16384; 0 turns it off.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_route_cache_size: i64,
    /// Idle context eviction in seconds. Default 20.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_context_expiry_seconds: i64,
    /// Most live contexts across all pipelines; a sample of a new context
    /// beyond it is dropped and counted, known contexts keep aggregating
    /// (a bound on memory under a cardinality explosion; this project's
    /// key). Default 0: no limit, as the Agent.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_context_limit: i64,
    /// Read buffer, packet size and maximum stream frame. Default 8192.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_buffer_size: i64,
    /// A metric message with more tags than this (its own `#` tags,
    /// before enrichment adds any) is dropped and counted. The Agent's
    /// key and default: 0 = no limit (a message is already bounded by
    /// `dogstatsd_buffer_size`: at most 4096 tags in 8192 bytes).
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_max_metrics_tags: i64,
    /// A metric message with a tag longer than this many bytes is
    /// dropped and counted. This project's key. Default 4096 (the intake
    /// keeps 200 characters of a tag; longer ones are broken clients or
    /// hostile input); 0 = no limit.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_max_tag_length: i64,
    /// A metric message whose name (as received) is longer than this many
    /// bytes is dropped and counted. This project's key. Default 1024
    /// (the intake accepts 200 characters); 0 = no limit.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_max_name_length: i64,
    /// The final flush at stop takes open buckets too (the Agent's
    /// meaning). Default true here, unlike the Agent's false: a stop then
    /// loses nothing that was received.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_flush_incomplete_buckets: bool,
    /// Forced worker count; 0 = derived from the CPU count.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_workers_count: i64,
    /// Time-sampler pipelines. Default 1.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_pipeline_count: i64,
    /// Derive workers and pipelines from the CPU count. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_pipeline_autoadjust: bool,
    /// `max_throughput` (default) or `per_origin`.
    #[serde(deserialize_with = "de::string")]
    pub dogstatsd_pipeline_autoadjust_strategy: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            dogstatsd_no_aggregation_pipeline: true,
            dogstatsd_origin_detection_client: false,
            statsd_metric_namespace: String::new(),
            statsd_metric_namespace_blacklist: DEFAULT_NAMESPACE_BLOCKLIST
                .iter()
                .map(|s| s.to_string())
                .collect(),
            statsd_metric_blocklist: Vec::new(),
            statsd_metric_blocklist_match_prefix: false,
            dogstatsd_tags: Vec::new(),
            dogstatsd_eol_required: Vec::new(),
            dogstatsd_mapper_profiles: Vec::new(),
            dogstatsd_mapper_cache_size: 1000,
            histogram_aggregates: ["max", "median", "avg", "count"].map(String::from).to_vec(),
            histogram_percentiles: vec!["0.95".to_string()],
            histogram_copy_to_distribution: false,
            histogram_copy_to_distribution_prefix: String::new(),
            dogstatsd_expiry_seconds: 300,
            dogstatsd_route_cache_size: 16384,
            dogstatsd_context_expiry_seconds: 20,
            dogstatsd_context_limit: 0,
            dogstatsd_buffer_size: 8192,
            dogstatsd_max_metrics_tags: 0,
            dogstatsd_max_tag_length: 4096,
            dogstatsd_max_name_length: 1024,
            dogstatsd_flush_incomplete_buckets: true,
            dogstatsd_workers_count: 0,
            dogstatsd_pipeline_count: 1,
            dogstatsd_pipeline_autoadjust: false,
            dogstatsd_pipeline_autoadjust_strategy: "max_throughput".to_string(),
        }
    }
}

/// Why a configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigReadError {
    /// The text is not JSON (serde_json's message, with the position).
    #[error("{0}")]
    Syntax(String),
    /// The top level is not a map of settings.
    #[error("expected a map of settings, got {0}")]
    NotAMap(&'static str),
    /// The settings do not fit together (e.g. one key under two names).
    #[error("{0}")]
    Invalid(String),
    /// A key has a value the Agent would not accept.
    #[error("{key}: {message}")]
    Value {
        /// The key as written.
        key: String,
        /// What is wrong with its value.
        message: String,
    },
}

impl Config {
    /// Reads a configuration from JSON (the wasm shell's and the tests'
    /// format; YAML is the native shell's business).
    pub fn from_json(json: &str) -> Result<Self, ConfigReadError> {
        let v: Value =
            serde_json::from_str(json).map_err(|e| ConfigReadError::Syntax(e.to_string()))?;
        Self::from_value(&v)
    }

    /// Reads a configuration from a map of settings. Unknown keys are
    /// ignored; missing keys keep their defaults.
    pub fn from_value(v: &Value) -> Result<Self, ConfigReadError> {
        read_settings(v)
    }
}

/// Deserializes `T` from a map of settings; the error names the key whose
/// value is wrong.
pub fn read_settings<T: DeserializeOwned>(v: &Value) -> Result<T, ConfigReadError> {
    let Value::Object(map) = v else {
        return Err(ConfigReadError::NotAMap(de::describe(v)));
    };
    T::deserialize(v).map_err(|whole| {
        // Read key by key to name the culprit; what only fails together
        // (one key under two names) keeps serde's message.
        map.iter()
            .find_map(|(key, value)| {
                let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
                T::deserialize(&single)
                    .err()
                    .map(|e| ConfigReadError::Value {
                        key: key.clone(),
                        message: e.to_string(),
                    })
            })
            .unwrap_or_else(|| ConfigReadError::Invalid(whole.to_string()))
    })
}

/// One `dogstatsd_mapper_profiles` entry. Missing fields read as empty so
/// validation can name what is missing, as the Agent does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MapperProfileConfig {
    /// Profile name (required).
    pub name: String,
    /// Names this profile applies to (`*` = all; required).
    pub prefix: String,
    /// Mappings tried in order.
    pub mappings: Vec<MappingConfig>,
}

impl MapperProfileConfig {
    /// Reads `dogstatsd_mapper_profiles`: a list of profiles, also given
    /// as a JSON string (how the Agent reads
    /// `DD_DOGSTATSD_MAPPER_PROFILES`); `null` and a blank string are no
    /// profiles. For `#[serde(deserialize_with)]`.
    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Self>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::String(s) if s.trim().is_empty() => Ok(Vec::new()),
            Value::String(s) => serde_json::from_str(&s).map_err(D::Error::custom),
            v @ Value::Array(_) => Vec::deserialize(v).map_err(D::Error::custom),
            v => Err(D::Error::custom(de::expected(
                "a list of mapper profiles",
                &v,
            ))),
        }
    }
}

/// One mapping of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MappingConfig {
    /// The pattern (required).
    #[serde(rename = "match")]
    pub pattern: String,
    /// `wildcard` (default when empty) or `regex`.
    pub match_type: String,
    /// Name template (required).
    pub name: String,
    /// Tag key to value template.
    pub tags: BTreeMap<String, String>,
}

impl MappingConfig {
    /// A mapping from its parts (`match_type` empty means wildcard).
    pub fn new(pattern: &str, match_type: &str, name: &str, tags: &[(&str, &str)]) -> Self {
        let mut m = Self {
            pattern: pattern.to_owned(),
            match_type: match_type.to_owned(),
            name: name.to_owned(),
            tags: BTreeMap::new(),
        };
        for &(k, v) in tags {
            m.tags.insert(k.to_owned(), v.to_owned());
        }
        m
    }
}

/// `serializer_compressor_kind`: how payload bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressorKind {
    /// `zstd` (the Agent's default, also for an empty value).
    #[default]
    Zstd,
    /// `zlib` (or `deflate`): `Content-Encoding: deflate`.
    Zlib,
    /// `gzip`.
    Gzip,
    /// `none`: bodies go uncompressed.
    None,
}

impl CompressorKind {
    /// Reads a kind, case-insensitively.
    pub fn parse(kind: &str) -> Result<Self, String> {
        match kind.trim().to_ascii_lowercase().as_str() {
            "" | "zstd" => Ok(Self::Zstd),
            "zlib" | "deflate" => Ok(Self::Zlib),
            "gzip" => Ok(Self::Gzip),
            "none" => Ok(Self::None),
            _ => Err(format!(
                "unknown serializer_compressor_kind \"{kind}\" (expected zstd, zlib, gzip or none)"
            )),
        }
    }
}

/// The payload settings both shells read: size limits, the series API
/// version, arbitrary tag values and the compressor. One reader, so the
/// daemon's forwarder and the wasm module agree on every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSettings {
    /// `serializer_max_*`: each must be positive.
    pub limits: PayloadLimits,
    /// Series as v2 protobuf (default) or v1 JSON: `use_v2_api_series`
    /// (how `DD_USE_V2_API_SERIES` arrives) wins over `use_v2_api.series`
    /// (the file's nested key), as the Agent's environment wins over its
    /// file; default true.
    pub series_v2: bool,
    /// `allow_arbitrary_tags`: send `Allow-Arbitrary-Tag-Value: true`.
    pub allow_arbitrary_tags: bool,
    /// `serializer_compressor_kind`, default zstd.
    pub compressor: CompressorKind,
    /// `serializer_zstd_compressor_level`, default 1.
    pub zstd_level: i32,
}

impl Default for PayloadSettings {
    fn default() -> Self {
        Self {
            limits: PayloadLimits::default(),
            series_v2: true,
            allow_arbitrary_tags: false,
            compressor: CompressorKind::Zstd,
            zstd_level: 1,
        }
    }
}

/// The keys of [`PayloadSettings`] as they appear in a settings map.
#[derive(Deserialize)]
#[serde(default)]
struct RawPayloadSettings {
    #[serde(deserialize_with = "de::int")]
    serializer_max_series_points_per_payload: i64,
    #[serde(deserialize_with = "de::int")]
    serializer_max_series_uncompressed_payload_size: i64,
    #[serde(deserialize_with = "de::int")]
    serializer_max_series_payload_size: i64,
    #[serde(deserialize_with = "de::int")]
    serializer_max_uncompressed_payload_size: i64,
    #[serde(deserialize_with = "de::int")]
    serializer_max_payload_size: i64,
    #[serde(deserialize_with = "de::opt_boolean")]
    use_v2_api_series: Option<bool>,
    use_v2_api: Option<RawV2Api>,
    #[serde(deserialize_with = "de::boolean")]
    allow_arbitrary_tags: bool,
    #[serde(deserialize_with = "de::string")]
    serializer_compressor_kind: String,
    #[serde(deserialize_with = "de::int")]
    serializer_zstd_compressor_level: i64,
}

impl Default for RawPayloadSettings {
    fn default() -> Self {
        let d = PayloadSettings::default();
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        Self {
            serializer_max_series_points_per_payload: n(d.limits.max_series_points_per_payload),
            serializer_max_series_uncompressed_payload_size: n(d
                .limits
                .max_series_uncompressed_payload_size),
            serializer_max_series_payload_size: n(d.limits.max_series_payload_size),
            serializer_max_uncompressed_payload_size: n(d.limits.max_uncompressed_payload_size),
            serializer_max_payload_size: n(d.limits.max_payload_size),
            use_v2_api_series: None,
            use_v2_api: None,
            allow_arbitrary_tags: d.allow_arbitrary_tags,
            serializer_compressor_kind: String::new(),
            serializer_zstd_compressor_level: i64::from(d.zstd_level),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawV2Api {
    #[serde(deserialize_with = "de::opt_boolean")]
    series: Option<bool>,
}

impl PayloadSettings {
    /// The keys read, for a loader that maps `DD_<KEY>` variables key by
    /// key (`use_v2_api` is the nested map holding `series`).
    pub const KEYS: &'static [&'static str] = &[
        "serializer_max_series_points_per_payload",
        "serializer_max_series_uncompressed_payload_size",
        "serializer_max_series_payload_size",
        "serializer_max_uncompressed_payload_size",
        "serializer_max_payload_size",
        "use_v2_api_series",
        "use_v2_api",
        "allow_arbitrary_tags",
        "serializer_compressor_kind",
        "serializer_zstd_compressor_level",
    ];

    /// Reads the payload keys from a map of settings (other keys are
    /// ignored); the error names the key.
    pub fn from_value(v: &Value) -> Result<Self, ConfigReadError> {
        let raw: RawPayloadSettings = read_settings(v)?;
        let invalid = |key: &str, message: String| ConfigReadError::Value {
            key: key.to_string(),
            message,
        };
        let positive = |key: &str, n: i64| {
            usize::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(key, format!("must be positive, got {n}")))
        };
        let limits = PayloadLimits {
            max_series_points_per_payload: positive(
                "serializer_max_series_points_per_payload",
                raw.serializer_max_series_points_per_payload,
            )?,
            max_series_uncompressed_payload_size: positive(
                "serializer_max_series_uncompressed_payload_size",
                raw.serializer_max_series_uncompressed_payload_size,
            )?,
            max_series_payload_size: positive(
                "serializer_max_series_payload_size",
                raw.serializer_max_series_payload_size,
            )?,
            max_uncompressed_payload_size: positive(
                "serializer_max_uncompressed_payload_size",
                raw.serializer_max_uncompressed_payload_size,
            )?,
            max_payload_size: positive(
                "serializer_max_payload_size",
                raw.serializer_max_payload_size,
            )?,
        };
        let nested = raw.use_v2_api.and_then(|u| u.series);
        let compressor = CompressorKind::parse(&raw.serializer_compressor_kind)
            .map_err(|e| invalid("serializer_compressor_kind", e))?;
        let zstd_level = i32::try_from(raw.serializer_zstd_compressor_level).map_err(|_| {
            invalid(
                "serializer_zstd_compressor_level",
                format!("out of range: {}", raw.serializer_zstd_compressor_level),
            )
        })?;
        Ok(Self {
            limits,
            series_v2: raw.use_v2_api_series.or(nested).unwrap_or(true),
            allow_arbitrary_tags: raw.allow_arbitrary_tags,
            compressor,
            zstd_level,
        })
    }
}

/// Lenient readers matching how the Agent's config library casts values.
/// The `read_*` functions take a [`Value`]; the others are the same
/// readers in the shape `#[serde(deserialize_with)]` wants.
pub mod de {
    use super::*;

    /// What kind of value `v` is, for messages.
    pub(crate) fn describe(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "a map",
        }
    }

    /// `expected {what}, got {describe(v)}`.
    pub(crate) fn expected(what: &str, v: &Value) -> String {
        format!("expected {what}, got {}", describe(v))
    }

    /// A boolean, also from `"true"`/`"false"`/`"1"`/`"0"` and numbers.
    pub fn read_bool(v: &Value) -> Result<bool, String> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "t" | "yes" | "y" | "on" => Ok(true),
                "false" | "0" | "f" | "no" | "n" | "off" | "" => Ok(false),
                _ => Err(format!("expected a boolean, got \"{s}\"")),
            },
            v => Err(expected("a boolean", v)),
        }
    }

    /// An integer, also from a numeric string.
    pub fn read_int(v: &Value) -> Result<i64, String> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| format!("expected an integer, got {n}")),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("expected an integer, got \"{s}\"")),
            v => Err(expected("an integer", v)),
        }
    }

    /// A string, also from a number or boolean; null reads as empty.
    pub fn read_string(v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            v => Err(expected("a string", v)),
        }
    }

    /// A list of strings; a single string is a JSON list when it starts
    /// with `[`, else space-separated (as `DD_DOGSTATSD_TAGS` is read).
    pub fn read_string_list(v: &Value) -> Result<Vec<String>, String> {
        let item = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            v => Err(format!(
                "expected a list of strings, got {} in it",
                describe(v)
            )),
        };
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items.iter().map(item).collect(),
            Value::String(s) if s.trim_start().starts_with('[') => {
                match serde_json::from_str(s).map_err(|e| e.to_string())? {
                    Value::Array(items) => items.iter().map(item).collect(),
                    v => Err(expected("a list of strings", &v)),
                }
            }
            Value::String(s) => Ok(s.split_whitespace().map(String::from).collect()),
            v => Err(expected("a list of strings", v)),
        }
    }

    fn with<'de, D: Deserializer<'de>, T>(
        d: D,
        read: fn(&Value) -> Result<T, String>,
    ) -> Result<T, D::Error> {
        read(&Value::deserialize(d)?).map_err(D::Error::custom)
    }

    /// [`read_bool`] for `#[serde(deserialize_with)]`.
    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        with(d, read_bool)
    }

    /// [`read_bool`] for an optional key, `#[serde(deserialize_with)]`.
    pub fn opt_boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        with(d, read_bool).map(Some)
    }

    /// [`read_int`] for `#[serde(deserialize_with)]`.
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        with(d, read_int)
    }

    /// [`read_string`] for `#[serde(deserialize_with)]`.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        with(d, read_string)
    }

    /// [`read_string_list`] for `#[serde(deserialize_with)]`.
    pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        with(d, read_string_list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field listed (no `..Default`, so a new field will not compile
    /// until it is added here) and different from its default: a key the
    /// hand-written reader forgets comes back as the default and fails.
    #[test]
    fn every_key_is_read_back() {
        let c = Config {
            hostname: "h".into(),
            dogstatsd_no_aggregation_pipeline: false,
            dogstatsd_origin_detection_client: true,
            statsd_metric_namespace: "ns".into(),
            statsd_metric_namespace_blacklist: vec!["a".into()],
            statsd_metric_blocklist: vec!["b".into()],
            statsd_metric_blocklist_match_prefix: true,
            dogstatsd_tags: vec!["t:1".into()],
            dogstatsd_eol_required: vec!["udp".into()],
            dogstatsd_mapper_profiles: vec![MapperProfileConfig {
                name: "p".into(),
                prefix: "p.".into(),
                mappings: vec![MappingConfig::new("p.*", "", "x", &[("k", "$1")])],
            }],
            dogstatsd_mapper_cache_size: 7,
            histogram_aggregates: vec!["max".into()],
            histogram_percentiles: vec!["0.5".into()],
            histogram_copy_to_distribution: true,
            histogram_copy_to_distribution_prefix: "d.".into(),
            dogstatsd_expiry_seconds: 11,
            dogstatsd_route_cache_size: 12,
            dogstatsd_context_expiry_seconds: 13,
            dogstatsd_context_limit: 14,
            dogstatsd_buffer_size: 15,
            dogstatsd_max_metrics_tags: 16,
            dogstatsd_max_tag_length: 17,
            dogstatsd_max_name_length: 18,
            dogstatsd_flush_incomplete_buckets: false,
            dogstatsd_workers_count: 19,
            dogstatsd_pipeline_count: 20,
            dogstatsd_pipeline_autoadjust: true,
            dogstatsd_pipeline_autoadjust_strategy: "per_origin".into(),
        };
        let json = serde_json::to_string(&c).unwrap();
        let back = Config::from_json(&json).unwrap();
        assert_eq!(back, c);
        let d = Config::default();
        let differs = serde_json::to_value(&c).unwrap();
        let defaults = serde_json::to_value(&d).unwrap();
        for (k, v) in differs.as_object().unwrap() {
            assert_ne!(
                Some(v),
                defaults.get(k),
                "{k} equals its default in this test"
            );
        }
    }

    #[test]
    fn defaults_are_the_agents() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c, Config::default());
        assert!(c.dogstatsd_no_aggregation_pipeline);
        assert_eq!(c.dogstatsd_mapper_cache_size, 1000);
        assert_eq!(c.histogram_aggregates, ["max", "median", "avg", "count"]);
    }

    #[test]
    fn lenient_values_and_unknown_keys() {
        let c = Config::from_json(
            r#"{"dogstatsd_no_aggregation_pipeline":"false","dogstatsd_mapper_cache_size":"12",
                "dogstatsd_tags":"a:b c:d","histogram_percentiles":[0.5,"0.99"],"api_key":"x",
                "dogstatsd_mapper_profiles":"[{\"name\":\"p\",\"prefix\":\"a.\",\"mappings\":[{\"match\":\"a.*\",\"name\":\"b\"}]}]"}"#,
        )
        .unwrap();
        assert!(!c.dogstatsd_no_aggregation_pipeline);
        assert_eq!(c.dogstatsd_mapper_cache_size, 12);
        assert_eq!(c.dogstatsd_tags, ["a:b", "c:d"]);
        assert_eq!(c.histogram_percentiles, ["0.5", "0.99"]);
        assert_eq!(c.dogstatsd_mapper_profiles[0].mappings[0].pattern, "a.*");
    }

    #[test]
    fn aliases_profiles_and_what_is_rejected() {
        let c = Config::from_json(
            r#"{"metric_filterlist":["a"],"statsd_metric_namespace_blocklist":"x y",
                "dogstatsd_mapper_profiles":[{"name":"p","prefix":"a.","mappings":[
                    {"match":"a.*","match_type":"wildcard","name":"b","tags":{"k":"$1"}}]}]}"#,
        )
        .unwrap();
        assert_eq!(c.statsd_metric_blocklist, ["a"]);
        assert_eq!(c.statsd_metric_namespace_blacklist, ["x", "y"]);
        let m = &c.dogstatsd_mapper_profiles[0].mappings[0];
        assert_eq!(
            *m,
            MappingConfig::new("a.*", "wildcard", "b", &[("k", "$1")])
        );
        // The same as the derived reader did: a key given under two
        // names, a mapper field of the wrong type, a non-map.
        for bad in [
            r#"{"metric_filterlist":[],"statsd_metric_blocklist":[]}"#,
            r#"{"dogstatsd_mapper_profiles":[{"name":5}]}"#,
            r#"{"dogstatsd_mapper_profiles":{"name":"p"}}"#,
            r#"{"dogstatsd_mapper_profiles":[{"mappings":[{"tags":{"k":1}}]}]}"#,
            "[]",
            "null",
        ] {
            assert!(Config::from_json(bad).is_err(), "{bad}");
        }
        let e = Config::from_json(r#"{"dogstatsd_tags":{}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dogstatsd_tags: expected a list of strings, got a map"
        );
        // Deserialize (the native shell's path) reads the same way.
        let v: Value = serde_json::from_str(r#"{"metric_filterlist":"a b"}"#).unwrap();
        let d: Config = serde_json::from_value(v).unwrap();
        assert_eq!(d.statsd_metric_blocklist, ["a", "b"]);
    }

    #[test]
    fn bad_values_name_the_problem() {
        let e = Config::from_json(r#"{"dogstatsd_no_aggregation_pipeline":"maybe"}"#).unwrap_err();
        assert!(e.to_string().contains("expected a boolean"), "{e}");
        assert!(Config::from_json(r#"{"dogstatsd_mapper_cache_size":"x"}"#).is_err());
    }

    #[test]
    fn payload_settings_take_the_agents_precedence() {
        let read = |json: &str| PayloadSettings::from_value(&serde_json::from_str(json).unwrap());
        assert_eq!(read("{}").unwrap(), PayloadSettings::default());
        // The flat spelling is how DD_USE_V2_API_SERIES arrives: the
        // environment wins over the file's nested key, either way round.
        // Both shells' tests read the same cases.
        let cases: Vec<Value> =
            serde_json::from_str(include_str!("../../tests/data/series-api-precedence.json"))
                .unwrap();
        for case in cases {
            let s = PayloadSettings::from_value(&case["settings"]).unwrap();
            assert_eq!(Value::Bool(s.series_v2), case["series_v2"], "{case}");
        }
        let s = read(
            r#"{"serializer_compressor_kind":"ZLIB","serializer_zstd_compressor_level":"3",
                "allow_arbitrary_tags":"yes","serializer_max_payload_size":"1000"}"#,
        )
        .unwrap();
        assert_eq!(s.compressor, CompressorKind::Zlib);
        assert_eq!(s.zstd_level, 3);
        assert!(s.allow_arbitrary_tags);
        assert_eq!(s.limits.max_payload_size, 1000);
        for (bad, key) in [
            (
                r#"{"serializer_max_payload_size":0}"#,
                "serializer_max_payload_size",
            ),
            (
                r#"{"serializer_compressor_kind":"lz4"}"#,
                "serializer_compressor_kind",
            ),
            (r#"{"use_v2_api_series":"maybe"}"#, "use_v2_api_series"),
            (r#"{"use_v2_api":{"series":"maybe"}}"#, "use_v2_api"),
            (
                r#"{"serializer_zstd_compressor_level":1e10}"#,
                "serializer_zstd_compressor_level",
            ),
        ] {
            match read(bad) {
                Err(ConfigReadError::Value { key: k, .. }) => assert_eq!(k, key, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
